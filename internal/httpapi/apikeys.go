package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

type permitJSON struct {
	Service  string   `json:"service"`
	Resource string   `json:"resource"`
	Actions  []string `json:"actions"`
}

type apiKeyJSON struct {
	ID         string       `json:"id"`
	Name       string       `json:"name"`
	Permits    []permitJSON `json:"permits"`
	CreatedAt  time.Time    `json:"created_at"`
	ExpiresAt  *time.Time   `json:"expires_at,omitempty"`
	LastUsedAt *time.Time   `json:"last_used_at,omitempty"`
	ParentID   string       `json:"parent_id,omitempty"`
	// SecondFactor reports whether the key was made with a second factor,
	// which teams requiring two-factor ask of it.
	SecondFactor bool `json:"second_factor"`
}

func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

func toAPIKeyJSON(k twofold.APIKey) apiKeyJSON {
	ps := make([]permitJSON, len(k.Permits))
	for i, p := range k.Permits {
		ps[i] = permitJSON(p)
	}
	return apiKeyJSON{ID: k.ID, Name: k.Name, Permits: ps, CreatedAt: k.CreatedAt, ExpiresAt: timeOrNil(k.ExpiresAt),
		LastUsedAt: timeOrNil(k.LastUsedAt), ParentID: k.ParentID, SecondFactor: k.SecondFactor}
}

func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request, a core.Auth) {
	keys, err := s.svc.APIKeys(r.Context(), a)
	s.writeAPIKeys(w, r, keys, err)
}

// adminAPIKeys lists an account's API keys, for an operator.
func (s *Server) adminAPIKeys(w http.ResponseWriter, r *http.Request, a core.Auth) {
	keys, err := s.svc.APIKeysOf(r.Context(), a, r.PathValue("id"))
	s.writeAPIKeys(w, r, keys, err)
}

// adminRevokeAPIKey revokes one of an account's API keys, for an operator.
func (s *Server) adminRevokeAPIKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RevokeAPIKeyFor(r.Context(), a, r.PathValue("id"), r.PathValue("key_id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// writeAPIKeys answers with keys, or err.
func (s *Server) writeAPIKeys(w http.ResponseWriter, r *http.Request, keys []twofold.APIKey, err error) {
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]apiKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toAPIKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"api_keys": out})
}

func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Name      string       `json:"name"`
		Permits   []permitJSON `json:"permits"`
		ExpiresAt *time.Time   `json:"expires_at"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	n := core.NewAPIKey{Name: req.Name, ExpiresAt: req.ExpiresAt}
	for _, p := range req.Permits {
		n.Permits = append(n.Permits, twofold.Permit(p))
	}
	k, secret, err := s.svc.CreateAPIKey(r.Context(), a, n, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"api_key": toAPIKeyJSON(k), "secret": secret})
}

func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RevokeAPIKey(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// oauthError is an error answer of the token endpoint (RFC 6749 §5.2),
// which OAuth clients read instead of a problem.
type oauthError struct {
	Error       string `json:"error"`
	Description string `json:"error_description,omitempty"`
}

// token exchanges an API key for a Bearer token: OAuth 2.0 client
// credentials (RFC 6749 §4.4), the key's id and secret as HTTP Basic or as
// client_id and client_secret in the form.
func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxBody)
	if !strings.HasPrefix(r.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send grant_type=client_credentials as application/x-www-form-urlencoded"})
		return
	}
	var tooLarge *http.MaxBytesError
	switch err := r.ParseForm(); {
	case errors.As(err, &tooLarge):
		// 413 in OAuth's form, as every answer here is: RFC 6749 names no
		// error code for it, and invalid_request is what it is.
		writeJSON(w, Status(twofold.CodeTooLarge), oauthError{"invalid_request", twofold.ErrorMessage(TooLarge(maxBody))})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send grant_type=client_credentials as application/x-www-form-urlencoded"})
		return
	}
	if !TextValues(r.PostForm) {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "the form's values must be UTF-8 text without NUL bytes"})
		return
	}
	for name, vs := range r.PostForm {
		if len(vs) > 1 {
			// RFC 6749 §3.2: parameters "MUST NOT be included more than
			// once"; taking the first would let a proxy and Twofold read
			// different requests.
			writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "the form has " + strconv.Quote(name) + " more than once"})
			return
		}
	}
	if AmbiguousCredentials(r) {
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", twofold.ErrorMessage(ErrAmbiguousCredentials())})
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeJSON(w, http.StatusBadRequest, oauthError{"unsupported_grant_type", "only grant_type=client_credentials is supported"})
		return
	}
	id, secret, ok := r.BasicAuth()
	if ok && (r.PostForm.Has("client_id") || r.PostForm.Has("client_secret")) {
		// RFC 6749 §2.3.1: a client uses one way of authenticating per
		// request. Answered before either is checked, so that a wrong
		// secret in the form is never quietly passed over.
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", "send the key's id and secret either as HTTP Basic or as client_id and client_secret in the form, not both"})
		return
	}
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	var token string
	var expires time.Time
	var err error
	if Text(id) && Text(secret) {
		token, expires, err = s.svc.IssueAPIToken(r.Context(), id, secret, Meta(r))
	} else {
		err = errBadKey() // no key's id or secret, from HTTP Basic
	}
	switch code := twofold.ErrorCode(err); {
	case err == nil:
	case code == twofold.CodeUnauthorized:
		w.Header().Set("WWW-Authenticate", `Basic realm="twofold"`)
		writeJSON(w, http.StatusUnauthorized, oauthError{"invalid_client", twofold.ErrorMessage(err)})
		return
	default:
		s.oauthFail(w, r, err)
		return
	}
	w.Header().Set("Pragma", "no-cache")
	writeJSON(w, http.StatusOK, map[string]any{"access_token": token, "token_type": "bearer",
		"expires_in": int(expires.Sub(s.svc.Now()).Round(time.Second) / time.Second)})
}

// oauthFail answers a failure of the token endpoint other than a bad key
// in OAuth's form (RFC 6749 §5.2), with the status and Retry-After a
// problem would have. RFC 6749 names no error for the token endpoint that
// says "later": a key past its rate (429) and storage out of reach (503)
// are "temporarily_unavailable", the code §4.1.2.1 gives the authorization
// endpoint for that; any other failure is "server_error" (500), logged as
// writeError logs it.
func (s *Server) oauthFail(w http.ResponseWriter, r *http.Request, err error) {
	code := twofold.ErrorCode(err)
	switch code {
	case twofold.CodeThrottled, twofold.CodeUnavailable:
		if twofold.Fault(err) {
			s.log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
		}
		var te *twofold.Error
		if errors.As(err, &te) && te.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(te.RetryAfter.Seconds()))))
		}
		writeJSON(w, Status(code), oauthError{"temporarily_unavailable", twofold.ErrorMessage(err)})
	case twofold.CodeInvalid:
		writeJSON(w, http.StatusBadRequest, oauthError{"invalid_request", twofold.ErrorMessage(err)})
	default:
		if ClientGone(r, err) {
			writeError(w, r, s.log, err) // nobody reads it: logged and counted as 499
			return
		}
		s.log.ErrorContext(r.Context(), "request failed", "request_id", RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
		writeJSON(w, http.StatusInternalServerError, oauthError{"server_error", "internal error"})
	}
}
