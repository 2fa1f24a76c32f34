// Package web serves Twofold's pages (SPEC §3 "Web pages"): login with the
// second step, first-run setup, security settings and the operator's pages.
// Pages are rendered on the server from embedded html/template files, work
// without JavaScript, and call the same core methods as the JSON API.
//
// Safety (issue 5): the session cookie holds the core session token and is
// HttpOnly, SameSite=Lax and Secure over TLS; every POST carries a CSRF token
// (a keyed hash of a per-browser cookie) and passes the cross-origin check
// it shares with the API (httpapi.CrossSite);
// every page is sent with a strict Content-Security-Policy, X-Frame-Options
// DENY, Referrer-Policy same-origin and Cache-Control no-store (only a
// static file is cacheable), and over https with Strict-Transport-Security.
package web

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"maps"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/httpapi"
)

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options are the collaborators of the pages.
type Options struct {
	Service *core.Service
	// Hasher keys the CSRF tokens. Instances that share a database share the
	// master key file, hence the hash key, so a form rendered by one instance
	// posts to any other.
	Hasher *credhash.Hasher
	Logger *slog.Logger
	// SecureCookies marks cookies Secure even on plain-HTTP requests, for a
	// server behind a TLS-terminating proxy (base URL https://…).
	SecureCookies bool
}

// Server serves the pages.
type Server struct {
	svc    *core.Service
	hasher *credhash.Hasher
	log    *slog.Logger
	secure bool
	pages  map[string]*template.Template
	static http.Handler
	// versions holds, for each file of static/, a short hash of its
	// content, put into the pages' links to it (staticURL) so that a page
	// of a new release never runs with a script or stylesheet of an older
	// one that a browser kept.
	versions map[string]string
	// mux is the mux Register added the pages to, through which a failed
	// button of the "confirm it's you" fields shows its page (buttonFailed).
	mux *http.ServeMux
}

// New parses the templates and returns the pages' server.
func New(o Options) (*Server, error) {
	if o.Service == nil || o.Hasher == nil {
		return nil, errors.New("web: Service and Hasher are required")
	}
	s := &Server{svc: o.Service, hasher: o.Hasher, log: o.Logger, secure: o.SecureCookies}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	var err error
	if s.versions, err = staticVersions(); err != nil {
		return nil, err
	}
	if s.pages, err = parsePages(s.funcs()); err != nil {
		return nil, err
	}
	sub, err := fs.Sub(staticFS, "static")
	if err != nil {
		return nil, err
	}
	s.static = http.StripPrefix("/static/", http.FileServerFS(sub))
	return s, nil
}

// Routes lists every page route as "METHOD /path", in one place.
func (s *Server) Routes() map[string]http.HandlerFunc {
	return map[string]http.HandlerFunc{
		"GET /{$}":                    s.home,
		"GET /static/":                s.serveStatic,
		"GET /login":                  s.loginPage,
		"POST /login":                 s.login,
		"GET /login/verify":           s.verifyPage,
		"POST /login/verify":          s.verify,
		"POST /login/verify/send":     s.sendLoginCode,
		"POST /login/verify/push":     s.sendLoginPush,
		"POST /login/verify/webauthn": s.loginKeyOptions,
		"POST /login/passkey":         s.passkeyLogin,
		"POST /login/passkey/options": s.passkeyOptions,
		"GET /login/passkey":          redirectTo("/login").ServeHTTP,
		"POST /logout":                s.logout,

		"GET /password-reset":         s.resetAskPage,
		"POST /password-reset":        s.resetAsk,
		"GET /password-reset/{token}": s.resetLink,
		"GET /new-password":           s.resetPage,
		"POST /new-password":          s.reset,
		"POST /new-password/send":     s.resetSend,
		"POST /logout/everywhere":     s.authed(s.logoutEverywhere),
		"GET /setup/{token}":          s.setupLink,
		"GET /setup":                  s.setupPage,
		"POST /setup":                 s.setup,
		"GET /settings":               redirectTo("/settings/security").ServeHTTP,
		"GET /settings/{$}":           redirectTo("/settings/security").ServeHTTP,
		"GET /settings/security":      s.authed(s.security),

		"GET /settings/security/totp":                    s.authed(s.addAnotherPage),
		"POST /settings/security/totp":                   s.authed(s.enrol),
		"GET /settings/security/token":                   s.authed(s.claimPage),
		"POST /settings/security/token":                  s.authed(s.claim),
		"GET /settings/security/totp/{id}":               s.authed(s.enrolPage),
		"POST /settings/security/totp/{id}":              s.authed(s.enrolElevate),
		"GET /settings/security/totp/{id}/qr.png":        s.authed(s.enrolQR),
		"POST /settings/security/totp/{id}/confirm":      s.authed(s.confirm),
		"GET /settings/security/sent":                    s.authed(s.addSentPage),
		"POST /settings/security/sent":                   s.authed(s.addSent),
		"GET /settings/security/sent/{id}":               s.authed(s.sentPage),
		"POST /settings/security/sent/{id}/confirm":      s.authed(s.confirmSent),
		"POST /settings/security/sent/{id}/resend":       s.authed(s.resendSent),
		"GET /settings/security/push":                    s.authed(s.addPushPage),
		"POST /settings/security/push":                   s.authed(s.addPush),
		"GET /settings/security/push/{id}/renew":         s.authed(s.renewPushPage),
		"POST /settings/security/push/{id}/renew":        s.authed(s.renewPush),
		"POST /settings/security/webauthn":               s.authed(s.addKey),
		"GET /settings/security/webauthn":                s.authed(s.addKeyPage),
		"GET /settings/security/webauthn/{id}":           s.authed(s.keyPage),
		"POST /settings/security/webauthn/{id}":          s.authed(s.confirmKey),
		"POST /settings/security/webauthn/{id}/register": s.authed(s.registerKey),
		"POST /settings/security/factors/{id}/rename":    s.authed(s.rename),
		"GET /settings/security/factors/{id}/remove":     s.authed(s.removePage),
		"POST /settings/security/factors/{id}/remove":    s.authed(s.remove),
		"GET /settings/security/factors/{id}/resync":     s.authed(s.resyncPage),
		"POST /settings/security/factors/{id}/resync":    s.authed(s.resync),
		"GET /settings/security/recovery-codes":          s.authed(s.regeneratePage),
		"POST /settings/security/recovery-codes":         s.authed(s.regenerate),
		"POST /settings/security/recovery-codes.txt":     s.authed(s.downloadCodes),
		"POST /settings/security/recovery-codes/print":   s.authed(s.printCodes),
		"POST /settings/security/paper-key.txt":          s.authed(s.downloadPaperKey),
		"POST /settings/security/paper-key/print":        s.authed(s.printPaperKey),
		"GET /settings/security/two-factor":              s.authed(s.twoFactorPage),
		"POST /settings/security/two-factor":             s.authed(s.twoFactor),
		"GET /settings/security/events":                  s.authed(s.events),
		"GET /settings/security/password":                s.authed(s.passwordPage),
		"POST /settings/security/password":               s.authed(s.changePassword),
		"GET /settings/security/sessions":                s.authed(s.sessionsPage),
		"POST /settings/security/sessions/{id}/end":      s.authed(s.endSession),
		"GET /settings/security/email":                   s.authed(s.emailPage),
		"POST /settings/security/email":                  s.authed(s.changeEmail),
		"POST /settings/security/email/confirm":          s.authed(s.confirmEmail),
		"POST /settings/security/elevate/send":           s.authed(s.sendElevationCode),
		"POST /settings/security/elevate/push":           s.authed(s.sendElevationPush),
		"POST /settings/security/elevate/ssh":            s.authed(s.sshElevationChallenge),
		"POST /settings/security/elevate/webauthn":       s.elevationKeyOptions,
		"GET /settings/security/elevate/challenge.txt":   s.authed(s.sshElevationChallengeFile),
		"GET /settings/security/close":                   s.authed(s.closePage),
		"POST /settings/security/close":                  s.authed(s.closeAccount),
		"GET /settings/security/api-keys":                s.authed(s.apiKeysPage),
		"POST /settings/security/api-keys":               s.authed(s.createAPIKey),
		"POST /settings/security/api-keys/{id}/revoke":   s.authed(s.revokeAPIKey),

		"GET /settings/dns":                                   s.authed(s.dnsZonesPage),
		"GET /settings/dns/{zone}":                            s.authed(s.dnsZonePage),
		"POST /settings/dns/{zone}/records":                   s.authed(s.addDNSRecord),
		"POST /settings/dns/{zone}/delete":                    s.authed(s.deleteDNSRecord),
		"GET /settings/teams":                                 s.authed(s.teamsPage),
		"POST /settings/teams":                                s.authed(s.createTeam),
		"GET /settings/teams/{id}":                            s.authed(s.teamPage),
		"POST /settings/teams/{id}":                           s.authed(s.updateTeam),
		"GET /settings/teams/{id}/delete":                     s.authed(s.deleteTeamPage),
		"POST /settings/teams/{id}/delete":                    s.authed(s.deleteTeam),
		"POST /settings/teams/{id}/elevate":                   s.authed(s.elevateForTeam),
		"POST /settings/teams/{id}/invitations":               s.authed(s.inviteTeamMember),
		"POST /settings/teams/{id}/invitations/{inv}/revoke":  s.authed(s.revokeTeamInvitation),
		"POST /settings/invitations/{inv}/accept":             s.authed(s.acceptInvitation),
		"POST /settings/invitations/{inv}/decline":            s.authed(s.declineInvitation),
		"POST /settings/teams/{id}/members/{username}/role":   s.authed(s.setTeamRole),
		"POST /settings/teams/{id}/members/{username}/remove": s.authed(s.removeTeamMember),
		"POST /settings/teams/{id}/zones":                     s.authed(s.shareZone),
		"POST /settings/teams/{id}/zones/{zone}/unshare":      s.authed(s.unshareZone),

		"GET /admin":                              s.operator(redirectTo("/admin/users").authed),
		"GET /admin/{$}":                          s.operator(redirectTo("/admin/users").authed),
		"GET /admin/users":                        s.operator(s.adminUsers),
		"POST /admin/users":                       s.operator(s.adminCreateUser),
		"GET /admin/users/{id}":                   s.operator(s.adminUser),
		"POST /admin/users/{id}/unlock":           s.operator(s.adminUnlock),
		"GET /admin/teams":                        s.operator(s.adminTeams),
		"GET /admin/events":                       s.operator(s.adminEvents),
		"GET /admin/teams/{id}":                   s.operator(s.adminTeam),
		"GET /admin/tokens":                       s.operator(s.adminTokens),
		"POST /admin/tokens":                      s.operator(s.adminImportTokens),
		"GET /admin/webhooks":                     s.operator(s.adminWebhooks),
		"POST /admin/webhooks":                    s.operator(s.adminCreateWebhook),
		"GET /admin/webhooks/{id}/rotate-secret":  s.operator(s.adminWebhookPage(rotateWebhookChange)),
		"POST /admin/webhooks/{id}/rotate-secret": s.operator(s.adminRotateWebhook),
		"GET /admin/webhooks/{id}/delete":         s.operator(s.adminWebhookPage(deleteWebhookChange)),
		"POST /admin/webhooks/{id}/delete":        s.operator(s.adminDeleteWebhook),
		"GET /admin/webhooks/{id}/enable":         s.operator(s.adminWebhookPage(enableWebhookChange)),
		"POST /admin/webhooks/{id}/enable":        s.operator(s.adminEnableWebhook),

		"GET /admin/users/{id}/reset-two-factor":         s.operator(s.adminResetPage),
		"POST /admin/users/{id}/reset-two-factor":        s.operator(s.adminReset),
		"GET /admin/users/{id}/reset-two-factor/cancel":  s.operator(s.adminCancelResetPage),
		"POST /admin/users/{id}/reset-two-factor/cancel": s.operator(s.adminCancelReset),
		"GET /admin/users/{id}/logout":                   s.operator(s.adminSignOutPage),
		"GET /admin/users/{id}/email":                    s.operator(s.adminEmailPage),
		"POST /admin/users/{id}/email":                   s.operator(s.adminEmail),
		"GET /admin/users/{id}/api-keys/{key}/revoke":    s.operator(s.adminRevokeKeyPage),
		"POST /admin/users/{id}/api-keys/{key}/revoke":   s.operator(s.adminRevokeKey),
		"POST /admin/users/{id}/logout":                  s.operator(s.adminSignOut),
		"GET /admin/users/{id}/suspend":                  s.operator(s.adminSuspendPage),
		"POST /admin/users/{id}/suspend":                 s.operator(s.adminSuspend),
		"GET /admin/users/{id}/unsuspend":                s.operator(s.adminUnsuspendPage),
		"POST /admin/users/{id}/unsuspend":               s.operator(s.adminUnsuspend),
		"GET /admin/users/{id}/delete":                   s.operator(s.adminDeletePage),
		"POST /admin/users/{id}/delete":                  s.operator(s.adminDelete),
		"GET /settings/security/reset/cancel":            s.authed(s.cancelResetPage),
		"POST /settings/security/reset/cancel":           s.authed(s.cancelReset),

		"POST /login/verify/ssh":                          s.sshLoginChallenge,
		"GET /login/verify/challenge.txt":                 s.sshLoginChallengeFile,
		"GET /settings/security/ssh-keys":                 s.authed(s.sshKeysPage),
		"POST /settings/security/ssh-keys":                s.authed(s.addSSHKey),
		"GET /settings/security/ssh-keys/{id}":            s.authed(s.sshKeyPage),
		"POST /settings/security/ssh-keys/{id}":           s.authed(s.confirmSSHKey),
		"POST /settings/security/ssh-keys/{id}/challenge": s.authed(s.newSSHKeyChallenge),
		"GET /settings/security/ssh-keys/{id}/remove":     s.authed(s.removeSSHKeyPage),
		"POST /settings/security/ssh-keys/{id}/remove":    s.authed(s.removeSSHKey),
	}
}

// Register adds the page routes to mux, each behind the pages' safety layer.
// A page's path asked with another method answers 405 with Allow, and any
// other path the site's own 404 page; the paths under /v1/ are the API's,
// which answers with problems of its own.
func (s *Server) Register(mux *http.ServeMux) {
	s.mux = mux
	routes := s.Routes()
	for pattern, h := range routes {
		mux.Handle(pattern, s.guard(pattern, h))
	}
	for path, allowed := range httpapi.Allowed(routes) {
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) {
			s.headers(w, r)
			w.Header().Set("Allow", allowed)
			s.renderError(w, r, s.visitor(r), http.StatusMethodNotAllowed, "This page cannot be used that way. Go back and try again.")
		})
	}
	mux.HandleFunc("/", s.notFound)
}

// notFound answers a path that is no page with the site's error page.
func (s *Server) notFound(w http.ResponseWriter, r *http.Request) {
	s.headers(w, r)
	s.renderError(w, r, s.visitor(r), http.StatusNotFound, "There is no page at this address. Check it, or start again from the link below.")
}

// visitor returns the signed-in account of r for a page that needs none,
// or nil: its menu then matches the visitor's other pages.
func (s *Server) visitor(r *http.Request) *core.Auth {
	if a, ok, _ := s.session(r); ok {
		return &a
	}
	return nil
}

// headers sets the safety headers of every page and error page.
func (s *Server) headers(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Frame-Options", "DENY")
	// same-origin, not no-referrer: no-referrer makes browsers send
	// "Origin: null" with the site's own forms, which the cross-origin
	// check (guard) refuses whenever the browser sends no Sec-Fetch-Site
	// (plain http at an address or name not loopback, older browsers).
	// Other sites still get no Referer, and their forms a foreign Origin.
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Cross-Origin-Opener-Policy", "same-origin")
	// Every answer, an error page under /static/ too, shows the visitor's
	// menu and a CSRF token: none may be kept by a cache. serveStatic
	// makes a file it serves cacheable.
	hd.Set("Cache-Control", "no-store")
	if s.secureCookies(r) { // https (RFC 6797): browsers come back over https only
		hd.Set("Strict-Transport-Security", "max-age=31536000")
	}
}

// maxForm bounds the body of a form.
const maxForm = 64 << 10

// listFields names, for each route (a pattern of Routes), the form
// fields designed as lists, which its form may send more than once. Every
// other field, and every query parameter of every page, sent twice is
// refused (guard), as the JSON API refuses a repeated query parameter
// (httpapi.Query) and /v1/token a repeated form field: the pages would
// otherwise read the first value, and whatever stands before them (a
// proxy, a log, a filter) might read the last. The page forms
// (templates/*.html) have no checkbox groups or multiple selects: their
// only lists are
//   - "code" on the forms that download or print the recovery codes just
//     made (codes.html: a hidden "code" for each code; postedCodes), and
//   - "keep" on any form with the "confirm it's you" fields (layout.html
//     "elevation": a hidden "keep" naming each field its buttons carry
//     along; elevationReturn), which many forms hold, so it is allowed on
//     every POST (listField).
//
// The admin audit log's "type" is one field of comma-separated types, not
// a list (unlike ?type= of GET /v1/events).
var listFields = map[string][]string{
	"POST /settings/security/recovery-codes.txt":   {"code"},
	"POST /settings/security/recovery-codes/print": {"code"},
}

// listField reports whether name is a list field of route's form (see
// listFields).
func listField(route, name string) bool {
	return name == "keep" && strings.HasPrefix(route, http.MethodPost+" ") || slices.Contains(listFields[route], name)
}

// repeated returns the first name of v, in sorted order, given more than
// once and not a list field of route, or "" when there is none.
func repeated(route string, v url.Values) string {
	for _, name := range slices.Sorted(maps.Keys(v)) {
		if len(v[name]) > 1 && !listField(route, name) {
			return name
		}
	}
	return ""
}

// guard sets the safety headers of every page and checks every request of
// route: a query with no parameter given twice, and for a POST: same
// origin (Sec-Fetch-Site/Origin), a bounded body, no field given twice
// unless it is a list (listFields) and a valid CSRF token. A refused
// request reaches no handler: nothing is stored and no code is checked.
func (s *Server) guard(route string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.headers(w, r)
		if strings.HasPrefix(r.URL.Path, "/static/") {
			h.ServeHTTP(w, r)
			return
		}
		browser := s.browserID(w, r)
		if httpapi.CrossSite(s.svc.BaseURL(), r) {
			s.renderError(w, r, nil, http.StatusForbidden, "This form was sent from another site, so it was refused. Go back, reload the page and try again.")
			return
		}
		if r.URL.RawQuery != "" {
			if name := repeated(route, r.URL.Query()); name != "" {
				s.renderError(w, r, nil, http.StatusBadRequest, "This address gives “"+core.CleanText(name, 32)+"” more than once, so it was refused. Check the link and give it once.")
				return
			}
		}
		if r.Method == http.MethodPost {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			err := r.ParseForm()
			var tooLarge *http.MaxBytesError
			switch {
			case errors.As(err, &tooLarge):
				// The way back fits who sent it: to the security page when
				// the session cookie is valid, else to sign in.
				var signedIn *core.Auth
				if a, ok, err := s.session(r); err != nil {
					s.log.ErrorContext(r.Context(), "session of a form too large", "err", err)
				} else if ok {
					signedIn = &a
				}
				s.renderError(w, r, signedIn, http.StatusRequestEntityTooLarge, fmt.Sprintf("The form is larger than %d KiB, so it was refused and nothing was changed. Go back, shorten what you pasted and try again.", maxForm>>10))
				return
			case err != nil:
				s.renderError(w, r, nil, http.StatusBadRequest, "The form could not be read. Go back and try again.")
				return
			case !httpapi.TextValues(r.PostForm):
				s.renderError(w, r, nil, http.StatusBadRequest, "The form holds something that is not text (not UTF-8, or a NUL character), so it was refused and nothing was changed. Go back and type or paste it again.")
				return
			}
			if name := repeated(route, r.PostForm); name != "" {
				s.renderError(w, r, nil, http.StatusBadRequest, "The form sent the field “"+core.CleanText(name, 32)+"” more than once, so it was refused and nothing was changed. Go back, reload the page and try again.")
				return
			}
			if !credhash.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.csrfToken(browser))) {
				s.renderError(w, r, nil, http.StatusForbidden, "This form has expired or did not come from this site. Go back, reload the page and try again.")
				return
			}
		}
		h.ServeHTTP(w, r)
	})
}

// Malformed answers a request whose path or query is not text (see
// httpapi.WellFormed) with a plain 400 page.
func (s *Server) Malformed(w http.ResponseWriter, r *http.Request) {
	s.headers(w, r)
	s.renderError(w, r, nil, http.StatusBadRequest, "This address is not valid: it holds bytes that are not text. Check the link and try again.")
}

// serveStatic serves a file of the site's own static/, the only answer a
// cache may keep; anything else under /static/ is the site's 404 page,
// which shows the visitor's menu and is never stored (headers).
func (s *Server) serveStatic(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/static/")
	if !fs.ValidPath(name) || strings.HasSuffix(r.URL.Path, "/") {
		s.notFound(w, r) // no folder listings
		return
	}
	if fi, err := fs.Stat(staticFS, "static/"+name); err != nil || fi.IsDir() {
		s.notFound(w, r)
		return
	}
	if v := r.URL.Query()["v"]; len(v) == 1 && v[0] == s.versions[name] {
		// The link of this release's pages: its content never changes.
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=3600")
	}
	s.static.ServeHTTP(w, r)
}

// staticVersions hashes every file of static/ (see Server.versions).
func staticVersions() (map[string]string, error) {
	versions := map[string]string{}
	err := fs.WalkDir(staticFS, "static", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(staticFS, path)
		if err != nil {
			return err
		}
		sum := sha256.Sum256(b)
		versions[strings.TrimPrefix(path, "static/")] = hex.EncodeToString(sum[:6])
		return nil
	})
	return versions, err
}

// staticURL is the link to a file of static/ with its version, for the
// templates ({{static "webauthn.js"}}); a name that is not there fails the
// page rather than linking to a 404.
func (s *Server) staticURL(name string) (string, error) {
	v, ok := s.versions[name]
	if !ok {
		return "", fmt.Errorf("web: no static file %q", name)
	}
	return "/static/" + name + "?v=" + v, nil
}

// redirectTo answers with a redirect to path.
type redirectTo string

func (p redirectTo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	http.Redirect(w, r, string(p), http.StatusSeeOther)
}

// authed is the redirect as an authedHandler, for pages behind a check.
func (p redirectTo) authed(w http.ResponseWriter, r *http.Request, _ core.Auth) { p.ServeHTTP(w, r) }

// home sends a visitor to their settings, or to the login page.
func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	if _, ok, _ := s.session(r); ok {
		http.Redirect(w, r, "/settings/security", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/login", http.StatusSeeOther)
}

type authedHandler func(w http.ResponseWriter, r *http.Request, a core.Auth)

// authed runs h for a caller with a valid session cookie, as the caller of
// the request (core.WithCaller: every write it makes checks again that the
// session still stands); others are sent to the login page, which brings
// them back afterwards.
func (s *Server) authed(h authedHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a, ok, err := s.session(r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if !ok {
			// A cookie renewed by another request of the browser since
			// this one was sent is not cleared: the browser holds the
			// renewed one by now, of a session still signed in. But just
			// after the renewal, the browser most likely dropped its
			// answer (a form sent twice): the session is ended and the
			// page says why (core.EndLostRenewal).
			// A form with a one-time token (once.go) sent before is told
			// of: what its first sending made was in the dropped answer.
			lost, err := s.svc.EndLostRenewal(r.Context(), s.cookieValue(r, sessionCookie), r.PostForm.Get(onceField), httpapi.Meta(r))
			if err != nil {
				s.fail(w, r, nil, err)
				return
			}
			if lost.Ended {
				s.clearCookie(w, r, sessionCookie, "/")
				s.renderRenewalLost(w, r, lost)
				return
			}
			target := "/login?m=signin"
			if r.Method == http.MethodGet {
				target += "&next=" + urlQueryEscape(r.URL.RequestURI())
			} else {
				target = "/login?m=expired_session"
			}
			// A form sent from a page of a session that ran out leaves the
			// cookie for the login page, which fills in the username from
			// it and clears it (expiredSessionName).
			if !lost.Renewed && target != "/login?m=expired_session" {
				s.clearCookie(w, r, sessionCookie, "/")
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		s.unsealQuery(r, a)
		// Every transaction of the request checks the session again.
		h(w, r.WithContext(core.WithCaller(r.Context(), a)), a)
	}
}

// renderRenewalLost answers a request sent with the cookie from just
// before the session's renewal, after that session was ended for it
// (core.EndLostRenewal): most likely a form sent twice, whose first
// sending confirmed it's the holder and whose answer, with the new cookie,
// the browser dropped. When the request was that form, the page also says
// what its first sending did (sentBefore).
func (s *Server) renderRenewalLost(w http.ResponseWriter, r *http.Request, lost core.LostRenewal) {
	s.render(w, r, http.StatusUnauthorized, "error", Page{Title: "Signed out for safety", Body: errorBody{
		Status: http.StatusUnauthorized, Heading: "Sign in again",
		Message: "You confirmed it's you a moment ago, but this browser sent the form again before the answer came, " +
			"and dropped that answer, which held your session's new cookie. For your safety that session is now " +
			"signed out: sign in again. (If you did not just confirm it's you, sign in and check your recent activity.)",
		Sent: sentBefore(r, lost),
	}})
}

// sentBefore says what the first sending of the form r sent again did,
// whose answer the browser dropped (renderRenewalLost), or "" when r is no
// form sent before. The names are the form's own fields, which the first
// sending sent alike.
func sentBefore(r *http.Request, lost core.LostRenewal) string {
	if lost.Form == "" {
		return ""
	}
	if lost.Made == "" {
		return "The first sending of the form had not finished when this one arrived: once signed in, check your security settings (or your API keys) before you send it again."
	}
	f := r.PostForm
	if purpose, _, _ := strings.Cut(lost.Form, " "); purpose == onceRemove { // bound to the factor (once.go)
		what := "the authenticator"
		if label := f.Get("label"); label != "" {
			what += " “" + label + "”"
		}
		return "The first sending removed " + what + ": it is no longer on your account, and nothing else was changed. If it was your only " +
			"authenticator, two-factor is now off, and your recovery codes and paper key no longer work: once signed in, add an authenticator again if you did not mean that."
	}
	switch lost.Form {
	case onceAPIKey:
		return "The first sending created the API key “" + f.Get("name") + "” (id " + lost.Made + "). Its secret was shown only in the " +
			"answer your browser dropped, and cannot be shown again: once signed in, revoke the key on your API keys page and create it again."
	case onceCodes:
		return "The first sending replaced your recovery codes: the codes you had before no longer work, and the new ones were shown only " +
			"in the answer your browser dropped. Sign in with your authenticator (or your paper key) and generate new recovery codes on your security settings."
	case onceTeam:
		return "The first sending created the team “" + f.Get("name") + "”: once signed in, you find it on your teams page."
	case onceEnrol, onceSent, oncePush, onceKey:
		return "The first sending started setting up the authenticator “" + f.Get("label") + "”. Once signed in, your security settings " +
			"list it as not finished: cancel it there and add it again."
	}
	return "The first sending of the form went through. Once signed in, check your security settings for what it did."
}

// operator runs h for operators only; anyone else gets 403.
func (s *Server) operator(h authedHandler) http.HandlerFunc {
	return s.authed(func(w http.ResponseWriter, r *http.Request, a core.Auth) {
		if !a.Account.Operator {
			s.renderError(w, r, &a, http.StatusForbidden, "These pages are for operators only.")
			return
		}
		h(w, r, a)
	})
}

// fail renders err as an error page.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, a *core.Auth, err error) {
	s.renderError(w, r, a, s.status(w, r, err), message(err))
}

// status returns err's HTTP status, logs faults (twofold.Fault) with their cause and
// sets Retry-After when the error carries a wait.
func (s *Server) status(w http.ResponseWriter, r *http.Request, err error) int {
	code := twofold.ErrorCode(err)
	if httpapi.ClientGone(r, err) {
		s.log.DebugContext(r.Context(), "client closed page request", "request_id", httpapi.RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
		return httpapi.StatusClientClosedRequest
	}
	if twofold.Fault(err) {
		s.log.ErrorContext(r.Context(), "page failed", "request_id", httpapi.RequestID(r.Context()), "method", r.Method, "path", r.Pattern, "err", err)
	}
	if d := retryAfter(err); d > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(d.Seconds()))))
	}
	return httpapi.Status(code)
}

func retryAfter(err error) time.Duration {
	var te *twofold.Error
	if errors.As(err, &te) && (te.Code == twofold.CodeThrottled || te.Code == twofold.CodeUnavailable) {
		return te.RetryAfter
	}
	return 0
}

// noKeySent is what the second step and "confirm it's you" say when their
// form came with no security key's answer: webauthn.js did not run.
const noKeySent = "Your browser sent no key: a security key needs JavaScript. Turn it on, or use another way below."

// confirmFirst is what a page says when its change needs "confirm it's you"
// and the form brought no answer.
const confirmFirst = "Confirm it's you with a code first."

// keyNotSent reports whether r's form chose a security key in its "confirm
// it's you" fields but brought no answer of the key: webauthn.js did not
// run, and the page says so (render) rather than asking for a code.
func keyNotSent(r *http.Request) bool {
	return r.Method == http.MethodPost && twofold.Method(r.PostForm.Get("elevate_method")) == twofold.MethodWebAuthn &&
		r.PostForm.Get("elevate_credential") == ""
}

// keyRefused marks the invalid-code answer to a proof that is no code, or
// not a one-time code, in the second step of a sign-in or a "confirm it's
// you" form: a security key's answer, an SSH key's signature, a recovery
// code, the paper key. Its page names what was sent and what to check, not
// "that code". It says no more than the one answer whatever the cause (a
// wrong key or signature, a used code or challenge, an expired one): the
// words depend only on the method the holder chose.
type keyRefused struct {
	error
	method twofold.Method
}

func (e keyRefused) Unwrap() error { return e.error }

// refusedTexts are what a page says when a proof of each method other than
// a one-time code was not accepted.
var refusedTexts = map[twofold.Method]string{
	twofold.MethodWebAuthn: "Your security key was not accepted. Try again, or use another way.",
	twofold.MethodSSHKey: "That signature was not accepted. Sign the challenge shown here with the SSH key you registered, " +
		"by the command shown, and paste all of challenge.txt.sig. Or use another way.",
	twofold.MethodRecoveryCode: "That recovery code was not accepted. Check it and try again: each code works once.",
	twofold.MethodPaperKey:     "That paper key was not accepted. Check it and try again.",
}

// refusedKey returns err marked as keyRefused when it is the invalid-code
// answer to a proof of method that refusedTexts names, else err.
func refusedKey(err error, method twofold.Method) error {
	if refusedTexts[method] != "" && twofold.ErrorCode(err) == twofold.CodeInvalidCode {
		return keyRefused{err, method}
	}
	return err
}

// message is what a page says about err: clear, and never more revealing
// than the core's client-safe message (STYLE.md "Errors").
func message(err error) string {
	if k := (keyRefused{}); errors.As(err, &k) {
		return refusedTexts[k.method]
	}
	switch twofold.ErrorCode(err) {
	case twofold.CodeInvalidCredentials:
		return "Wrong username or password."
	case twofold.CodeInvalidCode:
		return "That code was not accepted. Check it and try again."
	case twofold.CodeThrottled:
		// The core's message when it says more than how long to wait: at
		// the hard cap no wait helps, and it names the ways in left.
		if m := twofold.ErrorMessage(err); m != "" && !core.OnlyWait(err) {
			return sentence(m)
		}
		if d := retryAfter(err); d > 0 {
			return "Too many attempts. Wait " + waitText(d) + " and try again."
		}
		return "Too many attempts. Wait a little and try again."
	case twofold.CodeLoginExpired:
		return "This sign-in has expired. Start again."
	case twofold.CodeElevationRequired:
		return confirmFirst
	case twofold.CodeInternal:
		return "Something went wrong on our side. Try again in a moment."
	}
	return sentence(twofold.ErrorMessage(err))
}

// waitText says how long d is, rounded up, in words.
func waitText(d time.Duration) string {
	secs := int(math.Ceil(d.Seconds()))
	switch {
	case secs <= 1:
		return "a second"
	case secs < 60:
		return fmt.Sprintf("%d seconds", secs)
	case secs < 3600:
		m := (secs + 59) / 60
		if m == 1 {
			return "a minute"
		}
		return fmt.Sprintf("%d minutes", m)
	default:
		h := (secs + 3599) / 3600
		if h == 1 {
			return "an hour"
		}
		return fmt.Sprintf("%d hours", h)
	}
}

// sentence capitalises s and ends it with a full stop.
func sentence(s string) string {
	if s == "" {
		return s
	}
	s = strings.ToUpper(s[:1]) + s[1:]
	if !strings.HasSuffix(s, ".") {
		s += "."
	}
	return s
}

// safeNext returns next when it is a path on this site, else "".
func safeNext(next string) string { return safePath(next, 512) }

// safePath returns next when it is a path on this site of at most max
// bytes, else "".
func safePath(next string, max int) string {
	if !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || len(next) > max ||
		strings.HasPrefix(next, "/login") || strings.HasPrefix(next, "/logout") {
		return ""
	}
	// Visible ASCII only, and no backslash: browsers drop tabs and line
	// breaks from a Location and read \ as /, so "/\t/evil.example" or
	// "/\\evil.example" would lead to another site.
	for i := 0; i < len(next); i++ {
		if c := next[i]; c <= ' ' || c >= 0x7f || c == '\\' {
			return ""
		}
	}
	// Nor a bad %-escape ("/%0X"): no page of this site links to one,
	// and readers of a Location differ on what it is.
	if _, err := url.Parse(next); err != nil {
		return ""
	}
	return next
}
