package web

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// cookieName is the plain name of one of the pages' cookies. Each holds an
// opaque random value; none is readable by scripts.
type cookieName string

// The pages' cookies.
const (
	sessionCookie   cookieName = "twofold_session"    // the core session token
	loginCookie     cookieName = "twofold_login"      // a login transaction waiting for its second step, with its MAC (loginCookieValue)
	passkeyCookie   cookieName = "twofold_passkey"    // a sign-in with a passkey begun, waiting for the key's answer, with its MAC
	setupCookie     cookieName = "twofold_setup"      // the first-run setup token, off the address bar
	browserCookie   cookieName = "twofold_csrf"       // per-browser value the CSRF tokens are bound to
	pushCookie      cookieName = "twofold_push"       // the number and secret of a push sent to confirm it's the holder, bound to the session
	loginPushCookie cookieName = "twofold_login_push" // the secret of a push sent for the second step of a login
	loginCodeCookie cookieName = "twofold_login_code" // the code_secret of codes texted or mailed for the second step of a login
	codeCookie      cookieName = "twofold_code"       // the code_secret of codes sent to confirm it's the holder, bound to the session
	resetCookie     cookieName = "twofold_reset"      // a password-reset link's token, off the address bar
	// recoveryCookie holds how many recovery codes were left after one
	// confirmed it's the holder, until the next page shows it (render).
	recoveryCookie cookieName = "twofold_recovery"
)

// path is the Path the cookie is set with: only the pages that use it get
// it back.
func (n cookieName) path() string {
	switch n {
	case loginCookie, passkeyCookie, loginPushCookie, loginCodeCookie:
		return "/login"
	case setupCookie:
		return "/setup"
	case resetCookie:
		return "/new-password"
	}
	return "/"
}

// secureCookies reports whether the cookies of the answer to r are
// Secure: when the request came over TLS, or the server is configured as
// https (behind a TLS-terminating proxy).
func (s *Server) secureCookies(r *http.Request) bool { return s.secure || r.TLS != nil }

// wireName is the name cookie n goes by in the answer to r and in the
// requests that follow. With Secure cookies it has a prefix that browsers
// enforce: "__Host-" for a cookie of the whole site (Path=/), which a
// browser then takes only Secure, from this host, with Path=/ and no
// Domain, so that neither a sibling subdomain nor a plain-http answer (an
// attacker on the network) can plant one, such as a session of the
// attacker's own account; "__Secure-" for a cookie of narrower Path, which
// a browser takes only Secure, from https. On plain http (development on
// 127.0.0.1) the names are plain. A cookie is read only by the name of the
// mode it was set in: a plain-named one planted beside a prefixed one is
// never looked at.
func (s *Server) wireName(r *http.Request, n cookieName) string {
	switch {
	case !s.secureCookies(r):
		return string(n)
	case n.path() == "/":
		return "__Host-" + string(n)
	}
	return "__Secure-" + string(n)
}

// setCookie sets an HttpOnly, SameSite=Lax cookie, Secure when the request
// came over TLS (or the server is configured as https), under its wireName.
// path must be the cookie's own (cookieName.path), which its prefix
// follows. Cookies last for the browser session; the server enforces the
// real lifetime of what they name (sessions, logins), by its own clock.
func (s *Server) setCookie(w http.ResponseWriter, r *http.Request, name cookieName, value, path string) {
	http.SetCookie(w, &http.Cookie{Name: s.wireName(r, name), Value: value, Path: path, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r)})
}

func (s *Server) clearCookie(w http.ResponseWriter, r *http.Request, name cookieName, path string) {
	http.SetCookie(w, &http.Cookie{Name: s.wireName(r, name), Value: "", Path: path, MaxAge: -1, HttpOnly: true, SameSite: http.SameSiteLaxMode, Secure: s.secureCookies(r)})
}

// cookieValue returns the value of cookie name in r, by its wireName, or "".
func (s *Server) cookieValue(r *http.Request, name cookieName) string {
	c, err := r.Cookie(s.wireName(r, name))
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
	token := s.cookieValue(r, sessionCookie)
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
	if v := s.cookieValue(r, browserCookie); len(v) >= 32 && len(v) <= 64 {
		return v
	}
	b := make([]byte, 32)
	rand.Read(b)
	v := base64.RawURLEncoding.EncodeToString(b)
	s.setCookie(w, r, browserCookie, v, "/")
	s.replaceRequestCookie(r, browserCookie, v)
	return v
}

// replaceRequestCookie makes r carry value as cookie name, in place of
// any it came with, for the rest of the request answering r that reads it.
func (s *Server) replaceRequestCookie(r *http.Request, name cookieName, value string) {
	wire := s.wireName(r, name)
	others := r.Cookies()
	r.Header.Del("Cookie")
	for _, c := range others {
		if c.Name != wire {
			r.AddCookie(c)
		}
	}
	r.AddCookie(&http.Cookie{Name: wire, Value: value})
}

// csrfToken is the form token for a browser: a keyed hash of its cookie, so
// that the token cannot be made without the server's key. It is not bound to
// the session: someone who can plant a cookie in the victim's browser can
// plant one whose token they fetched for themselves. With Secure cookies
// the cookie's name has the __Host- prefix, which no sibling subdomain or
// plain-http answer can set (wireName); on plain http, and in any case,
// guard's cross-origin check also refuses a state-changing request that
// the browser marks as coming from another origin, same site or not.
func (s *Server) csrfToken(browser string) string {
	return base64.RawURLEncoding.EncodeToString(s.hasher.Sum("csrf", browser))
}

// formToken returns the CSRF token for forms on the page answering r.
func (s *Server) formToken(r *http.Request) string {
	return s.csrfToken(s.cookieValue(r, browserCookie))
}

// pushCookieValue is the push cookie's value for a push sent to confirm
// it's the holder: its number and its secret (core.PushSent.Secret, which
// "I approved it" gives back: only this browser uses the approval), with a
// keyed hash binding them to the browser's session, so that only the page
// that sent the push can show the number. A number never comes from the
// address: a link could then show a page of this site asking to type an
// attacker's number on the owner's device, approving the attacker's
// sign-in.
func (s *Server) pushCookieValue(r *http.Request, number, secret string) string {
	return number + "." + secret + "." + base64.RawURLEncoding.EncodeToString(s.hasher.Sum("push-number", s.cookieValue(r, sessionCookie)+"|"+number+"|"+secret))
}

// pushSent returns the number and secret of the push this session sent to
// confirm it's the holder, or "" when there is none or the cookie was not
// made for this session.
func (s *Server) pushSent(r *http.Request) (number, secret string) {
	v := s.cookieValue(r, pushCookie)
	n, rest, ok := strings.Cut(v, ".")
	sec, _, ok2 := strings.Cut(rest, ".")
	if !ok || !ok2 || twoDigits(n) == "" || sec == "" || subtle.ConstantTimeCompare([]byte(v), []byte(s.pushCookieValue(r, n, sec))) != 1 {
		return "", ""
	}
	return n, sec
}

// codeCookieValue is the code cookie's value for codes sent to confirm
// it's the holder: their secret (core.Challenge.Secret, which sends the
// factor another code while one lives), with a keyed hash binding it to the
// browser's session, as the push cookie's.
func (s *Server) codeCookieValue(r *http.Request, secret string) string {
	return secret + "." + base64.RawURLEncoding.EncodeToString(s.hasher.Sum("code-secret", s.cookieValue(r, sessionCookie)+"|"+secret))
}

// codeSent returns the secret of the codes this session asked for to
// confirm it's the holder, or "" when there is none or the cookie was not
// made for this session.
func (s *Server) codeSent(r *http.Request) string {
	v := s.cookieValue(r, codeCookie)
	sec, _, ok := strings.Cut(v, ".")
	if !ok || sec == "" || subtle.ConstantTimeCompare([]byte(v), []byte(s.codeCookieValue(r, sec))) != 1 {
		return ""
	}
	return sec
}

// loginCookieValue is the value of cookie name (loginCookie or
// passkeyCookie) for the login loginID: the id, a dot, and a MAC of the
// cookie's name and the id under the key file's hash key (HMAC-SHA256,
// credhash.Hasher), which every instance sharing the key file computes
// alike and key rotation keeps. A login id is no secret of the browser: the
// JSON API hands it to its client and carries it in URLs (SPEC §3.1), where
// proxies log it. Only a value this server made for the login in answer
// to its own sign-in form carries the MAC, so that a login id alone, or
// one taken from the API, acts on no sign-in through the pages: it neither
// shows the second step, sends codes or pushes, begins challenges, signs
// in, nor ends the session of a login sent twice (verifyExpired).
func (s *Server) loginCookieValue(name cookieName, loginID string) string {
	return loginID + "." + base64.RawURLEncoding.EncodeToString(s.loginMAC(name, loginID))
}

// loginMAC is the MAC of loginCookieValue.
func (s *Server) loginMAC(name cookieName, loginID string) []byte {
	return s.hasher.Sum("web-login-cookie", string(name)+"|"+loginID)
}

// setLoginCookie sets cookie name (loginCookie or passkeyCookie) to the
// login loginID, with its MAC (loginCookieValue).
func (s *Server) setLoginCookie(w http.ResponseWriter, r *http.Request, name cookieName, loginID string) {
	s.setCookie(w, r, name, s.loginCookieValue(name, loginID), "/login")
}

// cookieLogin returns the login id that cookie name (loginCookie or
// passkeyCookie) of r holds, or "" when there is none, or its MAC is
// missing or not this server's for it (compared in constant time): then
// there is no login to go on with, and the pages say to sign in again.
func (s *Server) cookieLogin(r *http.Request, name cookieName) string {
	v := s.cookieValue(r, name)
	i := strings.LastIndexByte(v, '.')
	if i <= 0 {
		return ""
	}
	mac, err := base64.RawURLEncoding.DecodeString(v[i+1:])
	if err != nil || !hmac.Equal(mac, s.loginMAC(name, v[:i])) {
		return ""
	}
	return v[:i]
}

func urlQueryEscape(s string) string { return url.QueryEscape(s) }
