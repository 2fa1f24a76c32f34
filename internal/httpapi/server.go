// Package httpapi serves the /v1 JSON API (SPEC §3.1). Handlers decode, make
// one core call and encode; every failure goes through one problem writer.
package httpapi

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// Pinger checks the database for /readyz.
type Pinger interface {
	Ping(ctx context.Context) error
}

// Server is the JSON API.
type Server struct {
	svc *core.Service
	db  Pinger
	log *slog.Logger
}

// New returns the API server.
func New(svc *core.Service, db Pinger, log *slog.Logger) *Server {
	return &Server{svc: svc, db: db, log: log}
}

// Routes lists every API route as "METHOD /path"; the OpenAPI test checks the
// documented paths against it.
func (s *Server) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /healthz": s.healthz,
		"GET /readyz":  s.readyz,
		"GET /v1/time": s.time,

		"POST /v1/login":                      s.login,
		"POST /v1/login/passkey":              s.beginPasskeyLogin,
		"POST /v1/login/passkey/finish":       s.finishPasskeyLogin,
		"POST /v1/login/{login_id}/verify":    s.verifyLogin,
		"POST /v1/login/{login_id}/challenge": s.challengeLogin,
		"POST /v1/me/elevate/challenge":       s.authed(s.challengeElevation),
		"POST /v1/me/factors/{id}/challenge":  s.authed(s.resendConfirmation),
		"POST /v1/logout":                     s.authed(s.logout),
		"POST /v1/logout/everywhere":          s.authed(s.logoutEverywhere),
		"GET /v1/me/sessions":                 s.authed(s.listSessions),
		"DELETE /v1/me/sessions/{id}":         s.authed(s.endSession),
		"GET /v1/me":                          s.Caller(s.me),
		"DELETE /v1/me":                       s.authed(s.deleteMe),
		"GET /v1/me/events":                   s.Caller(s.events),
		"GET /v1/me/api-keys":                 s.Caller(s.listAPIKeys),
		"POST /v1/me/api-keys":                s.Caller(s.createAPIKey),
		"DELETE /v1/me/api-keys/{id}":         s.Caller(s.revokeAPIKey),
		"POST /v1/token":                      s.token,
		"POST /v1/password-reset":             s.requestPasswordReset,
		"POST /v1/password-reset/check":       s.checkPasswordReset,
		"POST /v1/password-reset/challenge":   s.challengePasswordReset,
		"POST /v1/password-reset/complete":    s.completePasswordReset,
		"POST /v1/me/elevate":                 s.authed(s.elevate),
		"POST /v1/me/recovery-codes":          s.authed(s.regenerateRecoveryCodes),
		"PUT /v1/me/two-factor":               s.authed(s.setTwoFactor),
		"DELETE /v1/me/two-factor/reset":      s.authed(s.cancelReset),
		"PUT /v1/me/password":                 s.authed(s.changePassword),
		"PUT /v1/me/email":                    s.authed(s.startEmailChange),
		"POST /v1/me/email/confirm":           s.authed(s.confirmEmailChange),
		"GET /v1/me/factors":                  s.authed(s.listFactors),
		"POST /v1/me/factors":                 s.authed(s.enrolFactor),
		"GET /v1/me/factors/{id}":             s.authed(s.getFactor),
		"PATCH /v1/me/factors/{id}":           s.authed(s.renameFactor),
		"DELETE /v1/me/factors/{id}":          s.authed(s.deleteFactor),
		"POST /v1/me/factors/{id}/confirm":    s.authed(s.confirmFactor),
		"POST /v1/me/factors/{id}/resync":     s.authed(s.resyncFactor),
		"GET /v1/me/factors/{id}/qr.png":      s.authed(s.factorQR),
		"GET /v1/openapi.yaml":                s.openapi,

		"POST /v1/me/factors/{id}/enrolment": s.authed(s.renewPushEnrolment),
		"POST /v1/push/enrol":                s.enrolPushDevice,
		"GET /v1/push/challenges":            s.device(s.pushChallenges),
		"POST /v1/push/challenges/{id}":      s.device(s.answerPush),

		"GET /v1/teams":                                          s.authed(s.listTeams),
		"POST /v1/teams":                                         s.authed(s.createTeam),
		"GET /v1/teams/{team_id}":                                s.authed(s.getTeam),
		"PATCH /v1/teams/{team_id}":                              s.authed(s.updateTeam),
		"DELETE /v1/teams/{team_id}":                             s.authed(s.deleteTeam),
		"POST /v1/teams/{team_id}/invitations":                   s.authed(s.inviteTeamMember),
		"GET /v1/teams/{team_id}/invitations":                    s.authed(s.listTeamInvitations),
		"DELETE /v1/teams/{team_id}/invitations/{invitation_id}": s.authed(s.revokeTeamInvitation),
		"GET /v1/me/invitations":                                 s.authed(s.myInvitations),
		"POST /v1/me/invitations/{invitation_id}/accept":         s.authed(s.acceptInvitation),
		"DELETE /v1/me/invitations/{invitation_id}":              s.authed(s.declineInvitation),
		"PATCH /v1/teams/{team_id}/members/{username}":           s.authed(s.setTeamRole),
		"DELETE /v1/teams/{team_id}/members/{username}":          s.authed(s.removeTeamMember),
		"PUT /v1/teams/{team_id}/zones/{zone}":                   s.authed(s.shareZone),
		"DELETE /v1/teams/{team_id}/zones/{zone}":                s.authed(s.unshareZone),
		"GET /v1/me/ssh-keys":                                    s.authed(s.listSSHKeys),
		"POST /v1/me/ssh-keys":                                   s.authed(s.addSSHKey),
		"DELETE /v1/me/ssh-keys/{id}":                            s.authed(s.removeSSHKey),
		"POST /v1/me/ssh-keys/{id}/challenge":                    s.authed(s.sshKeyChallenge),
		"POST /v1/me/ssh-keys/{id}/confirm":                      s.authed(s.confirmSSHKey),

		// The operator API: an operator's session, or an API key with
		// admin permits (core checks which).
		"GET /v1/admin/users":                           s.Caller(s.adminUsers),
		"POST /v1/admin/users":                          s.Caller(s.adminCreateUser),
		"PATCH /v1/admin/users/{id}":                    s.Caller(s.adminUpdateUser),
		"DELETE /v1/admin/users/{id}":                   s.Caller(s.adminDeleteUser),
		"GET /v1/admin/users/{id}":                      s.Caller(s.adminUser),
		"POST /v1/admin/users/{id}/unlock":              s.Caller(s.adminUnlock),
		"GET /v1/admin/users/{id}/sessions":             s.Caller(s.adminSessions),
		"GET /v1/admin/users/{id}/api-keys":             s.Caller(s.adminAPIKeys),
		"DELETE /v1/admin/users/{id}/api-keys/{key_id}": s.Caller(s.adminRevokeAPIKey),
		"POST /v1/admin/users/{id}/logout":              s.Caller(s.adminSignOut),
		"POST /v1/admin/users/{id}/suspend":             s.Caller(s.adminSuspend),
		"POST /v1/admin/users/{id}/unsuspend":           s.Caller(s.adminUnsuspend),
		"POST /v1/admin/users/{id}/two-factor-reset":    s.Caller(s.adminReset),
		"DELETE /v1/admin/users/{id}/two-factor-reset":  s.Caller(s.adminCancelReset),
		"GET /v1/admin/resets":                          s.Caller(s.adminResets),
		"GET /v1/admin/teams":                           s.Caller(s.adminTeams),
		"GET /v1/admin/teams/{id}":                      s.Caller(s.adminTeam),
		"GET /v1/admin/events":                          s.Caller(s.adminEvents),
		"GET /v1/admin/webhooks":                        s.Caller(s.adminWebhooks),
		"POST /v1/admin/webhooks":                       s.Caller(s.adminCreateWebhook),
		"GET /v1/admin/webhooks/{id}":                   s.Caller(s.adminWebhook),
		"DELETE /v1/admin/webhooks/{id}":                s.Caller(s.adminDeleteWebhook),
		"POST /v1/admin/webhooks/{id}/rotate-secret":    s.Caller(s.adminRotateWebhookSecret),
		"POST /v1/admin/webhooks/{id}/enable":           s.Caller(s.adminEnableWebhook),
	}
}

// Register adds the API routes to mux, and under /v1/ answers an unknown
// path with a 404 problem and a known path with another method with a 405
// problem that lists the methods in Allow.
func (s *Server) Register(mux *http.ServeMux) {
	routes := s.Routes()
	bodies := takesBody()
	var base string // --base-url; none for a server without a service, as tests of the routes alone make
	if s.svc != nil {
		base = s.svc.BaseURL()
	}
	for pattern, h := range routes {
		if !bodies[pattern] {
			h = noBody(h)
		}
		mux.HandleFunc(pattern, NotCrossSite(base, s.log, ParsableQuery(s.log, h)))
	}
	for path, allowed := range Allowed(routes) {
		mux.Handle(path, MethodNotAllowed(allowed))
	}
	mux.HandleFunc("/v1/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, s.log, twofold.Errorf(twofold.CodeNotFound, "no such API path"))
	})
}

// takesBody returns the routes of Routes that read a request body (a JSON
// object, or the form of POST /v1/token). Every other route takes none and
// refuses one (see noBody); the OpenAPI test checks this list against the
// requestBody of each operation.
func takesBody() map[string]bool {
	return map[string]bool{
		"POST /v1/login":                               true,
		"POST /v1/login/passkey/finish":                true,
		"POST /v1/login/{login_id}/verify":             true,
		"POST /v1/login/{login_id}/challenge":          true,
		"POST /v1/me/elevate/challenge":                true,
		"POST /v1/me/factors/{id}/challenge":           true, // optional: a pending passkey's password
		"DELETE /v1/me":                                true,
		"POST /v1/me/api-keys":                         true,
		"POST /v1/token":                               true,
		"POST /v1/password-reset":                      true,
		"POST /v1/password-reset/check":                true,
		"POST /v1/password-reset/challenge":            true,
		"POST /v1/password-reset/complete":             true,
		"POST /v1/me/elevate":                          true,
		"PUT /v1/me/two-factor":                        true,
		"PUT /v1/me/password":                          true,
		"PUT /v1/me/email":                             true,
		"POST /v1/me/email/confirm":                    true,
		"POST /v1/me/factors":                          true,
		"PATCH /v1/me/factors/{id}":                    true,
		"POST /v1/me/factors/{id}/confirm":             true,
		"POST /v1/me/factors/{id}/resync":              true,
		"POST /v1/push/enrol":                          true,
		"POST /v1/push/challenges/{id}":                true,
		"POST /v1/teams":                               true,
		"PATCH /v1/teams/{team_id}":                    true,
		"POST /v1/teams/{team_id}/invitations":         true,
		"PATCH /v1/teams/{team_id}/members/{username}": true,
		"POST /v1/me/ssh-keys":                         true,
		"POST /v1/me/ssh-keys/{id}/confirm":            true,
		"POST /v1/admin/users":                         true,
		"PATCH /v1/admin/users/{id}":                   true,
		"POST /v1/admin/webhooks":                      true,
	}
}

// noBody refuses, with a 400 invalid problem and before h acts, a request
// with a body (see UnwantedBody), for a route that takes none.
func noBody(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if UnwantedBody(r) {
			writeProblem(w, Problem{Type: ProblemTypeBase + string(twofold.CodeInvalid), Title: http.StatusText(http.StatusBadRequest),
				Status: http.StatusBadRequest, Detail: NoBodyMessage(r)})
			return
		}
		h(w, r)
	}
}

// UnwantedBody reports whether r, to a route that takes no body, carries
// one all the same, which the route must refuse before it acts: a body
// sent there is a mistake (the wrong path, or options that would be
// passed over in silence), not a request to act on. An empty JSON object
// ({}), which some clients send with every POST, counts as no body. It
// reads at most 65 bytes of the body.
func UnwantedBody(r *http.Request) bool {
	if r.ContentLength == 0 || r.Body == nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 65))
	trimmed := bytes.Trim(body, " \t\r\n")
	return err != nil || len(body) > 64 || len(trimmed) > 0 && !emptyObject(trimmed)
}

// NoBodyMessage says why UnwantedBody(r) refused r.
func NoBodyMessage(r *http.Request) string {
	return r.Pattern + " takes no request body: send none"
}

// NoBody is the wrapper of /v1's routes that take no body, for the other
// JSON APIs (the DNS API): h answers only a request without one.
func NoBody(h http.HandlerFunc) http.HandlerFunc { return noBody(h) }

// emptyObject reports whether b is a JSON object without members.
func emptyObject(b []byte) bool {
	return len(b) >= 2 && b[0] == '{' && b[len(b)-1] == '}' && len(bytes.Trim(b[1:len(b)-1], " \t\r\n")) == 0
}

// Allowed maps each path of routes, keyed by "METHOD /path" patterns, to
// the methods it answers, sorted and comma-separated for an Allow header; a
// GET pattern answers HEAD too. Every server of routes registers, for each
// path, an answer to the other methods with it.
func Allowed[H any](routes map[string]H) map[string]string {
	byPath := map[string][]string{}
	for pattern := range routes {
		method, path, _ := strings.Cut(pattern, " ")
		byPath[path] = append(byPath[path], method)
		if method == http.MethodGet {
			byPath[path] = append(byPath[path], http.MethodHead)
		}
	}
	out := make(map[string]string, len(byPath))
	for path, methods := range byPath {
		slices.Sort(methods)
		out[path] = strings.Join(slices.Compact(methods), ", ")
	}
	return out
}

// MethodNotAllowed answers every request with a 405 problem naming the
// allowed methods in Allow: the answer for a known path asked with another
// method (Go's mux would otherwise leave it to a catch-all pattern).
func MethodNotAllowed(allowed string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Allow", allowed)
		writeProblem(w, Problem{Type: ProblemTypeBase + "method-not-allowed", Title: http.StatusText(http.StatusMethodNotAllowed),
			Status: http.StatusMethodNotAllowed, Detail: r.Method + " is not allowed here; use " + allowed})
	})
}

type authedHandler func(w http.ResponseWriter, r *http.Request, a core.Auth)

// authed authenticates the request by its Bearer session token: a person,
// the request's caller (core.WithCaller), as for Caller.
// An API key is refused, whatever its permits: keys never manage two-factor
// settings, passwords or sessions (SPEC §1 story 6).
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if AmbiguousCredentials(r) {
			writeError(w, r, s.log, ErrAmbiguousCredentials())
			return
		}
		token, ok := bearer(r)
		if _, _, basic := r.BasicAuth(); basic || ok && (core.IsAPIToken(token) || strings.Contains(token, ":")) {
			writeError(w, r, s.log, twofold.Errorf(twofold.CodeForbidden, "an API key cannot do this: sign in as a person and send the session token"))
			return
		}
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="twofold"`)
			writeError(w, r, s.log, twofold.Errorf(twofold.CodeUnauthorized, "send a session token as Authorization: Bearer …"))
			return
		}
		a, err := s.authenticate(r, token)
		if err != nil {
			if twofold.ErrorCode(err) == twofold.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="twofold", error="invalid_token"`)
			}
			writeError(w, r, s.log, err)
			return
		}
		h(w, r.WithContext(core.WithCaller(r.Context(), a)), a)
	}
}

// Handler is a handler for an authenticated caller.
type Handler func(w http.ResponseWriter, r *http.Request, a core.Auth)

// Caller authenticates the request by a person's session token or by an
// API key, marks the request's context with it (core.WithCaller: every
// transaction of the request checks it again), and passes the caller to
// h, which must check what the caller
// may do (core.Auth.Allows); handlers that manage two-factor settings use
// authed, which takes sessions only (SPEC §1 story 6). An API key is taken
// as HTTP Basic too, but a 401 offers Bearer alone (challenge).
func (s *Server) Caller(h Handler) http.HandlerFunc { return s.callerOffering(false, h) }

// BasicCaller is Caller for the DNS API, whose 401 offers HTTP Basic
// beside Bearer: its clients (lego, certbot hooks, curl) send a key as
// HTTP Basic.
func (s *Server) BasicCaller(h Handler) http.HandlerFunc { return s.callerOffering(true, h) }

// challenge is the WWW-Authenticate of a 401 to r: Bearer, with
// error="invalid_token" when r sent a Bearer token (RFC 6750 §3.1), and
// Basic beside it when basic. /v1 takes a key as HTTP Basic, sent at once
// (curl -u, curl -n), but does not offer it: a browser that opened a /v1
// address would show its login dialog for a Basic challenge, and keep
// what was typed there to send by itself.
func challenge(r *http.Request, basic bool) string {
	c := `Bearer realm="twofold"`
	if scheme, _, _ := strings.Cut(r.Header.Get("Authorization"), " "); strings.EqualFold(scheme, "Bearer") {
		c += `, error="invalid_token"`
	}
	if basic {
		c += `, Basic realm="twofold"`
	}
	return c
}

func (s *Server) callerOffering(basic bool, h Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, err := s.caller(r)
		if err != nil {
			if twofold.ErrorCode(err) == twofold.CodeUnauthorized {
				w.Header().Set("WWW-Authenticate", challenge(r, basic))
			}
			writeError(w, r, s.log, err)
			return
		}
		// Every transaction of the request checks the caller again.
		r = r.WithContext(core.WithCaller(r.Context(), a))
		if a.Key == nil {
			h(w, r, a)
			return
		}
		// A key refused by its permits: its owner reads that in the audit
		// log, unless the core recorded the refusal already (the DNS API
		// says which record).
		refused := new(forbidden)
		ctx, recorded := core.WatchKeyRefusals(context.WithValue(r.Context(), forbiddenKey{}, refused))
		r = r.WithContext(ctx)
		h(w, r, a)
		if refused.seen && !recorded() {
			route := r.Pattern
			if route == "" {
				route = r.Method + " " + r.URL.Path
			}
			s.svc.RefuseKeyPermits(ctx, a, route, refused.why, Meta(r))
		}
	}
}

// forbidden notes, for a request made with an API key (Caller), the
// forbidden answer writeError gave it.
type forbidden struct {
	seen bool
	why  string
}

// forbiddenKey holds a request's *forbidden in its context.
type forbiddenKey struct{}

// caller authenticates r: an API key as HTTP Basic (id and secret) or as
// Bearer "id:secret", a token of an API key (POST /v1/token) as Bearer, or
// a person's session token as Bearer.
func (s *Server) caller(r *http.Request) (core.Auth, error) {
	if AmbiguousCredentials(r) {
		return core.Auth{}, ErrAmbiguousCredentials()
	}
	if id, secret, ok := r.BasicAuth(); ok {
		if !Text(id) || !Text(secret) {
			return core.Auth{}, errBadKey()
		}
		return s.svc.AuthenticateAPIKey(r.Context(), id, secret, Meta(r))
	}
	token, ok := bearer(r)
	switch {
	case !ok:
		return core.Auth{}, twofold.Errorf(twofold.CodeUnauthorized, "send a session token or an API key's token as Authorization: Bearer …, or an API key as HTTP Basic")
	case (core.IsAPIToken(token) || strings.Contains(token, ":")) && !Text(token):
		return core.Auth{}, errBadKey()
	case core.IsAPIToken(token):
		return s.svc.AuthenticateAPIToken(r.Context(), token, Meta(r))
	case strings.Contains(token, ":"):
		id, secret, _ := strings.Cut(token, ":")
		return s.svc.AuthenticateAPIKey(r.Context(), id, secret, Meta(r))
	}
	return s.authenticate(r, token)
}

// authenticate returns the person whose session token is token.
func (s *Server) authenticate(r *http.Request, token string) (core.Auth, error) {
	if !Text(token) {
		return core.Auth{}, errBadSession()
	}
	return s.svc.Authenticate(r.Context(), token)
}

// errBadSession and errBadKey answer a credential that cannot be one,
// being no text (see Text), as core answers an unknown one, without
// looking it up.
func errBadSession() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "session is invalid or has expired")
}

func errBadKey() error {
	return twofold.Errorf(twofold.CodeUnauthorized, "the API key or token is invalid, expired or revoked")
}

// AmbiguousCredentials reports whether r carries more than one credential:
// more than one Authorization header field, more than one X-Auth-Token, or
// an Authorization beside an X-Auth-Token. Which one would count is then a
// guess (HTTP Basic used to win silently over an X-Auth-Token), so the
// request is refused before either is looked at.
func AmbiguousCredentials(r *http.Request) bool {
	auth, xauth := len(r.Header.Values("Authorization")), len(r.Header.Values("X-Auth-Token"))
	return auth+xauth > 1
}

// ErrAmbiguousCredentials is the invalid error that refuses a request
// AmbiguousCredentials reports.
func ErrAmbiguousCredentials() error {
	return twofold.Errorf(twofold.CodeInvalid, "send one credential: one Authorization header (Bearer or HTTP Basic) or one X-Auth-Token, not both")
}

// bearer returns the request's Bearer token, or else its X-Auth-Token, as
// OpenStack clients send the tokens of the Identity API (internal/keystone).
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	if h == "" {
		t := strings.TrimSpace(r.Header.Get("X-Auth-Token"))
		return t, t != ""
	}
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

// Meta returns the request's source address and user agent for the audit log.
func Meta(r *http.Request) core.Meta {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return core.Meta{Source: host, UserAgent: core.CleanText(r.UserAgent(), 256)}
}
