package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPasskeySignInPages drives the login page's "Sign in with a passkey"
// over plain HTTP, as webauthn.js would, with a software passkey: the page
// has the form (and password sign-in needs no script); the ceremony begins
// only on a POST with the CSRF token, not on a GET; without a credential
// (no JavaScript) the page says so; a passkey's answer signs in; one not
// registered here is told as such, with its id for the script to tell the
// browser; one registered but refused is not. On SQLite and PostgreSQL.
func TestPasskeySignInPages(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			key, _ := enrolPasskey(t, ts, "kim")

			c := newClient(t, ts.URL())
			page := c.get("/login")
			if !strings.Contains(page.body, `action="/login/passkey"`) || !strings.Contains(page.body, `data-webauthn-from="/login/passkey/options"`) {
				t.Fatalf("the login page has no passkey form:\n%s", page.body)
			}
			if r := c.get("/login/passkey"); r.url.Path != "/login" || hasCookie(c, ts, "twofold_passkey") {
				t.Fatalf("GET /login/passkey: at %s, passkey cookie %v; want the login page and nothing begun", r.url.Path, hasCookie(c, ts, "twofold_passkey"))
			}
			if r := c.postRaw("/login/passkey/options", url.Values{}, nil); r.status != http.StatusForbidden || hasCookie(c, ts, "twofold_passkey") {
				t.Fatalf("options without the CSRF token: %d, cookie %v; want 403 and nothing begun", r.status, hasCookie(c, ts, "twofold_passkey"))
			}
			if r := c.post("/login/passkey", url.Values{}); r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "needs JavaScript") {
				t.Fatalf("no credential: %d %q", r.status, pageError(r.body))
			}

			options := func() []byte {
				t.Helper()
				r := c.post("/login/passkey/options", url.Values{})
				if r.status != 200 || !strings.Contains(r.header.Get("Content-Type"), "json") || !hasCookie(c, ts, "twofold_passkey") {
					t.Fatalf("options: %d %s", r.status, r.body)
				}
				return []byte(r.body)
			}
			stranger := testenv.NewPasskey(t, key.Origin)
			stranger.UserHandle = key.UserHandle
			// A credential not registered here is told as such, and the
			// page asks the browser to forget it (the id it sent); one
			// that is registered but refused is not.
			r2 := c.post("/login/passkey", url.Values{"credential": {string(stranger.Get(t, options()))}})
			if r2.status != http.StatusUnauthorized || !strings.Contains(pageError(r2.body), "not registered here") ||
				!strings.Contains(r2.body, `data-webauthn-unknown="`+base64.RawURLEncoding.EncodeToString(stranger.CredentialID)+`"`) {
				t.Fatalf("a stranger's passkey: %d %q", r2.status, pageError(r2.body))
			}
			key.UV = false
			r2 = c.post("/login/passkey", url.Values{"credential": {string(key.Get(t, options()))}})
			if r2.status != http.StatusUnauthorized || !strings.Contains(pageError(r2.body), "passkey was not accepted") || strings.Contains(r2.body, "data-webauthn-unknown") {
				t.Fatalf("kim's passkey without user verification: %d %q", r2.status, pageError(r2.body))
			}
			key.UV = true
			answer := string(key.Get(t, options()))
			if r := c.post("/login/passkey", url.Values{"credential": {answer}, "next": {"/settings/security/api-keys"}}); r.url.Path != "/settings/security/api-keys" {
				t.Fatalf("signed in with the passkey: at %s, %q", r.url.Path, pageError(r.body))
			}
			if hasCookie(c, ts, "twofold_passkey") {
				t.Error("the passkey sign-in's cookie outlived it")
			}
			// The same form sent again (the browser's "Confirm form
			// resubmission" on reloading the answer's page), its sign-in
			// used and its cookie gone: the page says the sign-in is over,
			// not that JavaScript is off, since the key answered.
			if r := c.post("/login/passkey", url.Values{"credential": {answer}}); r.status != http.StatusGone || strings.Contains(pageError(r.body), "JavaScript") || !strings.Contains(pageError(r.body), "expired") {
				t.Fatalf("the passkey's answer sent again: %d %q; want 410 and the sign-in expired", r.status, pageError(r.body))
			}
			// Password sign-in, without any script, still works.
			other := newClient(t, ts.URL())
			if r := other.signIn("kim"); r.url.Path != "/login/verify" {
				t.Fatalf("password sign-in: at %s", r.url.Path)
			}
		})
	}
}

// hasCookie reports whether c holds cookie name for ts's login pages.
func hasCookie(c *client, ts *testenv.Server, name string) bool {
	u, _ := url.Parse(ts.URL() + "/login/passkey")
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == name && k.Value != "" {
			return true
		}
	}
	return false
}

// TestAddPasskeyAfterConfirming: on an account with two-factor on, "Add a
// passkey" asks to confirm it's you first, and the passkey choice goes
// through that page: the registration that follows is a passkey's (a
// resident key and user verification required), and so is the one that
// "Finish setup" begins again. On SQLite and PostgreSQL.
func TestAddPasskeyAfterConfirming(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret, c := signedIn(t, ts, "tess", false)
			ts.Clock.Add(11 * time.Minute) // the sign-in's elevation lapses
			r := c.post("/settings/security/webauthn", url.Values{"label": {"Laptop"}, "passkey": {"1"}})
			if !strings.Contains(r.body, `name="passkey" value="1"`) || !strings.Contains(r.body, `name="elevate_code"`) || !strings.Contains(r.body, `name="current_password"`) {
				t.Fatalf("adding a passkey with two-factor on: no confirmation carrying the choice:\n%s", r.body)
			}
			ts.Clock.Add(30 * time.Second)
			r = c.post("/settings/security/webauthn", url.Values{"label": {"Laptop"}, "passkey": {"1"}, "current_password": {"not it"},
				"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
			if r.status != http.StatusForbidden || !strings.Contains(r.body, "Your password is wrong") {
				t.Fatalf("a wrong password: status %d:\n%s", r.status, pageError(r.body))
			}
			// The code elevated the session: the right password alone now.
			r = c.post("/settings/security/webauthn", url.Values{"label": {"Laptop"}, "passkey": {"1"}, "current_password": {testPassword}})
			wantPasskeyRegistration := func(r reply) {
				t.Helper()
				if !strings.Contains(r.body, "Add your passkey") || !strings.Contains(r.body, `residentKey&#34;:&#34;required`) ||
					!strings.Contains(r.body, `userVerification&#34;:&#34;required`) {
					t.Fatalf("not a passkey's registration:\n%s", r.body)
				}
			}
			wantPasskeyRegistration(r)
			m := regexp.MustCompile(`action="/settings/security/webauthn/([a-z0-9]+)"`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("no pending key's form:\n%s", r.body)
			}
			// Begun again, a passkey's setup takes the password again.
			if r := c.post("/settings/security/webauthn/"+m[1]+"/register", url.Values{}); !strings.Contains(r.body, `name="current_password"`) {
				t.Fatalf("Finish setup of a passkey without the password:\n%s", pageError(r.body))
			}
			wantPasskeyRegistration(c.post("/settings/security/webauthn/"+m[1]+"/register", url.Values{"current_password": {testPassword}}))
		})
	}
}
