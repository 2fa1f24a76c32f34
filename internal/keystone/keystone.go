// Package keystone serves the subset of OpenStack's Identity API v3 that
// lets OpenStack clients (gophercloud, the openstack CLI) sign in to
// Twofold with two factors (SPEC §3): tokens from password and TOTP, with
// multi-factor rules and auth receipts; TOTP credentials; application
// credentials with access rules, which are Twofold API keys with permits.
//
// Every rule is core's: a Keystone token is a Twofold session (or an API
// key's token), a receipt is a login waiting for its second step, and a
// user is an account in the one domain "default".
package keystone

import (
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// The one domain every account is in.
const (
	DomainID   = "default"
	DomainName = "Default"
)

// Header names of the Identity API.
const (
	headerAuthToken    = "X-Auth-Token"
	headerSubjectToken = "X-Subject-Token"
	headerReceipt      = "Openstack-Auth-Receipt"
)

// Server is the Identity API subset.
type Server struct {
	svc  *core.Service
	log  *slog.Logger
	base string // the server's public URL; "" to take it from each request
}

// New returns the Identity API; base is the server's public URL, or "" to
// use the scheme and host of each request in the catalog.
func New(svc *core.Service, log *slog.Logger, base string) *Server {
	return &Server{svc: svc, log: log, base: strings.TrimSuffix(base, "/")}
}

// Routes lists the routes as "METHOD /path".
func (s *Server) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /v3":                                                 s.version,
		"GET /v3/{$}":                                             s.version,
		"POST /v3/auth/tokens":                                    s.createToken,
		"GET /v3/auth/tokens":                                     s.authed(s.checkToken),
		"HEAD /v3/auth/tokens":                                    s.authed(s.checkToken),
		"DELETE /v3/auth/tokens":                                  s.authed(s.revokeToken),
		"GET /v3/domains":                                         s.authed(s.listDomains),
		"GET /v3/domains/{domain_id}":                             s.authed(s.getDomain),
		"GET /v3/users":                                           s.authed(s.listUsers),
		"GET /v3/users/{user_id}":                                 s.authed(s.getUser),
		"PATCH /v3/users/{user_id}":                               s.authed(s.patchUser),
		"POST /v3/credentials":                                    s.authed(s.createCredential),
		"GET /v3/credentials":                                     s.authed(s.listCredentials),
		"GET /v3/credentials/{id}":                                s.authed(s.getCredential),
		"DELETE /v3/credentials/{id}":                             s.authed(s.deleteCredential),
		"POST /v3/users/{user_id}/application_credentials":        s.authed(s.createAppCred),
		"GET /v3/users/{user_id}/application_credentials":         s.authed(s.listAppCreds),
		"GET /v3/users/{user_id}/application_credentials/{id}":    s.authed(s.getAppCred),
		"DELETE /v3/users/{user_id}/application_credentials/{id}": s.authed(s.deleteAppCred),
	}
}

// Register adds the routes to mux; under /v3/ an unknown path is a 404 and
// a known one asked with another method a 405, in the Identity API's error
// form.
func (s *Server) Register(mux *http.ServeMux) {
	routes := s.Routes()
	for pattern, h := range routes {
		if method, _, _ := strings.Cut(pattern, " "); method != http.MethodPost && method != http.MethodPatch {
			h = s.noBody(h)
		}
		mux.HandleFunc(pattern, s.queryOnce(h))
	}
	for path, allowed := range httpapi.Allowed(routes) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Allow", allowed)
			s.writeError(w, r, http.StatusMethodNotAllowed, r.Method+" is not allowed here; use "+allowed)
		})
	}
	mux.HandleFunc("/v3/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, http.StatusNotFound, "Twofold serves only a subset of the Identity API v3, without this path")
	})
}

// noBody refuses, in the Identity API's error form and before h acts, a
// request with a body (see httpapi.UnwantedBody): its GET, HEAD and DELETE
// routes take none.
func (s *Server) noBody(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if httpapi.UnwantedBody(r) {
			s.writeError(w, r, http.StatusBadRequest, httpapi.NoBodyMessage(r))
			return
		}
		h(w, r)
	}
}

// queryOnce refuses, in the Identity API's error form and before h acts, a
// request whose query names a parameter twice or is malformed (see
// httpapi.QueryOnce): none of the Identity API's parameters repeats, and a
// proxy or log that reads the last of ?allow_expired=1&allow_expired=0
// must never see another request than Twofold, which would read the first.
// Parameters Twofold does not read pass, as unknown body fields do.
func (s *Server) queryOnce(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := httpapi.QueryOnce(r); err != nil {
			s.fail(w, r, err)
			return
		}
		h(w, r)
	}
}

// Words that the Identity API's flags take (oslo's bool_from_string).
var (
	trueWords  = []string{"1", "t", "true", "on", "y", "yes"}
	falseWords = []string{"0", "f", "false", "off", "n", "no"}
)

// checkFlags refuses, naming it, a ?nocatalog (a token without its
// catalog, which Keystone reads by its presence alone) whose value is not
// empty or true: ?nocatalog=false would mean the catalog to one reader and
// none to Keystone. With allowExpired (validation) it refuses an
// ?allow_expired that is not true or false; Twofold keeps no expired
// token, so allow_expired=true finds none either.
func checkFlags(r *http.Request, allowExpired bool) error {
	q := r.URL.Query()
	if v := strings.ToLower(q.Get("allow_expired")); allowExpired && q.Has("allow_expired") && !slices.Contains(trueWords, v) && !slices.Contains(falseWords, v) {
		return twofold.Errorf(twofold.CodeInvalid, "query parameter %q must be true or false", "allow_expired")
	}
	if v := strings.ToLower(q.Get("nocatalog")); v != "" && !slices.Contains(trueWords, v) {
		return twofold.Errorf(twofold.CodeInvalid, "query parameter %q leaves the catalog out: give it without a value (?nocatalog), or leave it out for the catalog", "nocatalog")
	}
	return nil
}

// baseURL is the server's public URL for the catalog and links, as the
// API builds it (httpapi.PublicURL).
func (s *Server) baseURL(r *http.Request) string { return httpapi.PublicURL(s.base, r) }

func (s *Server) version(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"version": map[string]any{
		"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
		"links":       []map[string]string{{"rel": "self", "href": s.baseURL(r) + "/v3/"}},
		"media-types": []map[string]string{{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}},
	}})
}

// errorBody is the Identity API's error form.
type errorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Title   string `json:"title"`
	} `json:"error"`
}

// writeError answers the error; a 401 says where to authenticate
// (WWW-Authenticate), by the server's public URL as Keystone does.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, msg string) {
	writeErrorAt(w, s.baseURL(r)+"/v3", status, msg)
}

// title is the title of an error answer with status: the HTTP status
// text, as Keystone's errors mostly take it, save where Keystone words it
// otherwise (keystone.exception.RequestTooLarge, for a body too large).
func title(status int) string {
	if status == http.StatusRequestEntityTooLarge {
		return "Request is too large."
	}
	return http.StatusText(status)
}

// challenge is the WWW-Authenticate of a 401 whose Identity API is at uri.
func challenge(uri string) string { return `Keystone uri="` + uri + `"` }

func writeErrorAt(w http.ResponseWriter, uri string, status int, msg string) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Title = status, msg, title(status)
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", challenge(uri))
	}
	writeJSON(w, status, b)
}

// fail writes err in the Identity API's form, with its status from the one
// table; internal errors are logged and shown only as "internal error", and
// other faults (twofold.Fault) are logged too.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	code := twofold.ErrorCode(err)
	if httpapi.ClientGone(r, err) {
		s.log.DebugContext(r.Context(), "client closed identity request", "request_id", httpapi.RequestID(r.Context()), "path", r.Pattern, "err", err)
		s.writeError(w, r, httpapi.StatusClientClosedRequest, "client closed request")
		return
	}
	if twofold.Fault(err) {
		s.log.ErrorContext(r.Context(), "identity request failed", "request_id", httpapi.RequestID(r.Context()), "path", r.Pattern, "err", err)
	}
	var te *twofold.Error
	if errors.As(err, &te) && te.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(te.RetryAfter.Seconds()))))
	}
	msg := twofold.ErrorMessage(err)
	if code == twofold.CodeElevationRequired {
		msg = errElevation
	}
	s.writeError(w, r, httpapi.Status(code), msg)
}

// errElevation is the message of a change refused for want of a fresh
// second factor, said as an Identity API client can act on it: core's
// "elevate the session" names a step of /v1 that no OpenStack client
// knows. A token of the password and totp methods is elevated, as a
// second step on /v1 is, for some minutes after its code.
const errElevation = "This change needs a fresh second factor: ask for a new token with the password and totp methods (with the openstack CLI, the v3multifactor auth type) and make the change with it within a few minutes, or elevate this token with POST /v1/me/elevate."

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// maxBody bounds request bodies.
const maxBody = 64 << 10

// decode reads a JSON object body into v under the rules of /v1 (see
// httpapi.UnmarshalBody: names match exactly and once each), except that
// unknown fields are skipped, as Identity API clients send fields Twofold
// has no use for. A body over maxBody is a too-large error (413, as
// Keystone's RequestTooLarge is). A body sent as another media type than
// JSON is invalid, as Keystone refuses one (400) rather than read it as
// JSON; a Content-Type left out is taken for JSON, as Keystone takes it.
func decode(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := httpapi.ReadBody(w, r, maxBody)
	if err != nil {
		return err
	}
	if len(body) > 0 && !jsonContent(r.Header) {
		return twofold.Errorf(twofold.CodeInvalid, "send the request body as JSON, with Content-Type: application/json")
	}
	return httpapi.UnmarshalBody(body, v, httpapi.SkipUnknownFields)
}

// jsonContent reports whether h's Content-Type says JSON: application/json
// or another application/…+json type (RFC 6839 §3.1), with any parameters,
// or none given (left out or empty). Two Content-Type fields are not JSON:
// which one holds would be a guess.
func jsonContent(h http.Header) bool {
	cts := h.Values("Content-Type")
	switch {
	case len(cts) == 0:
		return true
	case len(cts) > 1:
		return false
	case strings.TrimSpace(cts[0]) == "":
		return true
	}
	mt, _, err := mime.ParseMediaType(cts[0])
	return err == nil && (mt == "application/json" || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+json"))
}

// Malformed answers a request whose path or query is not text (see
// httpapi.WellFormed) in the Identity API's error form.
func Malformed(w http.ResponseWriter, r *http.Request) {
	writeErrorAt(w, "/v3", http.StatusBadRequest, httpapi.MalformedMessage)
}

type handler func(w http.ResponseWriter, r *http.Request, a core.Auth, tok token)

// token is what the caller's X-Auth-Token is, for answers that show it.
type token struct {
	value   string
	expires time.Time
	methods []string
}

// authed authenticates the caller by X-Auth-Token: a session token from a
// password (and TOTP) sign-in, or a token of an application credential.
func (s *Server) authed(h handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if httpapi.AmbiguousCredentials(r) { // 400 in the Identity API's form
			s.fail(w, r, httpapi.ErrAmbiguousCredentials())
			return
		}
		v := r.Header.Get(headerAuthToken)
		a, tok, err := s.tokenAuth(r, v)
		if err != nil {
			s.fail(w, r, err)
			return
		}
		// Every transaction of the request checks the caller again.
		h(w, r.WithContext(core.WithCaller(r.Context(), a)), a, tok)
	}
}

// tokenAuth returns the caller behind a token.
func (s *Server) tokenAuth(r *http.Request, v string) (core.Auth, token, error) {
	if v == "" {
		return core.Auth{}, token{}, twofold.Errorf(twofold.CodeUnauthorized, "send a token as X-Auth-Token")
	}
	if !httpapi.Text(v) { // no token: refused as an unknown one is, unlooked-up
		return core.Auth{}, token{}, twofold.Errorf(twofold.CodeUnauthorized, "the token is invalid, expired or revoked")
	}
	if core.IsAPIToken(v) {
		a, exp, err := s.svc.AuthenticateAPITokenUntil(r.Context(), v, httpapi.Meta(r))
		return a, token{value: v, expires: exp, methods: []string{"application_credential"}}, err
	}
	a, err := s.svc.Authenticate(r.Context(), v)
	methods := []string{"password"}
	if !a.Session.ElevatedUntil.IsZero() {
		methods = append(methods, "totp")
	}
	return a, token{value: v, expires: a.Session.ExpiresAt, methods: methods}, err
}

// user is a Keystone user: an account in the default domain.
type user struct {
	ID                string            `json:"id"`
	Name              string            `json:"name"`
	Domain            map[string]string `json:"domain"`
	PasswordExpiresAt *string           `json:"password_expires_at"`
}

func userOf(a twofold.Account) user {
	return user{ID: a.ID, Name: a.Username, Domain: map[string]string{"id": DomainID, "name": DomainName}}
}

// sameUser refuses a path naming another user than the caller.
func sameUser(a core.Auth, id string) error {
	if id != a.Account.ID {
		return twofold.Errorf(twofold.CodeForbidden, "a user may only manage their own credentials")
	}
	return nil
}
