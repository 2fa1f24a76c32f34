package web

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// Cookie names. Each holds an opaque random value; none is readable by scripts.
const (
	sessionCookie = "twofold_session" // the core session token
	loginCookie   = "twofold_login"   // a login transaction waiting for its second step
	passkeyCookie = "twofold_passkey" // a sign-in with a passkey begun, waiting for the key's answer
	setupCookie   = "twofold_setup"   // the first-run setup token, off the address bar
	browserCookie = "twofold_csrf"    // per-browser value the CSRF tokens are bound to
	pushCookie    = "twofold_push"    // the number of a push sent to confirm it's the holder, bound to the session
)

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when the request
// came over TLS (or the server is configured as https). Cookies last for the
// browser session; the server enforces the real lifetime of what they name
// (sessions, logins), by its own clock.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name, value, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name, path string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secure || r.TLS != nil})
}

func cookieValue(r *http.Request, name string) string {
	c, err := r.Cookie(name)
	if err != nil {
		return ""
	}
	return c.Value
}

// session returns the caller behind the session cookie; ok is false when
// there is no cookie or its session is not valid. err is set only when the
// session could not be checked at all (the database failed): that says
// nothing about the session, whose cookie must then be kept.
func (s *Server) session(r *http.Request) (a core.Auth, ok bool, err error) {
	token := cookieValue(r, sessionCookie)
	if token == "" {
		return core.Auth{}, false, nil
	}
	a, err = s.svc.Authenticate(r.Context(), token)
	switch {
	case err == nil:
		return a, true, nil
	case twofold.ErrorCode(err) == twofold.CodeInternal:
		// Not a verdict on the session: the database did not answer.
		return core.Auth{}, false, err
	}
	return core.Auth{}, false, nil
}

// browserID returns the per-browser CSRF binding, setting the cookie (and
// adding it to r, for this request's forms) when the browser has none yet.
func (s *Server) browserID(w http.ResponseWriter, r *http.Request) string {
	if v := cookieValue(r, browserCookie); len(v) >= 32 && len(v) <= 64 {
		return v
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, browserCookie, v, "/")
	others := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range others {
		if c.Name != browserCookie {
			r.AddCookie(c)
		}
	}
	r.AddCookie(&http.Cookie{Name: browserCookie, Value: v})
	return v
}

// csrfToken is the form token for a browser: a keyed hash of its cookie, so
// that the token cannot be made without the server's key. It is not bound to
// the session: someone who can plant a cookie in the victim's browser (a
// sibling subdomain) can plant one whose token they fetched for themselves.
// What stops a forged form from there is guard's cross-origin check, which
// refuses a state-changing request that the browser marks as coming from
// another origin, same site or not.
func (s *Server) csrfToken(browser string) string {
	return base64.RawURLEncoding.EncodeToString(s.hasher.Sum("csrf", browser))
}

// formToken returns the CSRF token for forms on the page answering r.
func (s *Server) formToken(r *http.Request) string {
	return s.csrfToken(cookieValue(r, browserCookie))
}

// pushNumberValue is the push cookie's value for number: the number with a
// keyed hash binding it to the browser's session, so that only the page that
// sent the push can show it. A number never comes from the address: a link
// could then show a page of this site asking to type an attacker's number
// on the owner's device, approving the attacker's sign-in.
func (s *Server) pushNumberValue(r *http.Request, number string) string {
	return number + "." + base64.RawURLEncoding.EncodeToString(s.hasher.Sum("push-number", cookieValue(r, sessionCookie)+"|"+number))
}

// pushNumber returns the number of the push this session sent to confirm
// it's the holder, or "" when there is none or the cookie was not made for
// this session.
func (s *Server) pushNumber(r *http.Request) string {
	v := cookieValue(r, pushCookie)
	n, _, ok := strings.Cut(v, ".")
	if !ok || twoDigits(n) == "" || subtle.ConstantTimeCompare([]byte(v), []byte(s.pushNumberValue(r, n))) != 1 {
		return ""
	}
	return n
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
