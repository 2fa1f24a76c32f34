package web_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// keyAccount creates username with a security key (its first factor,
// through the core) for pages at ts's localhost origin, and returns the
// key and the recovery codes it brought.
func keyAccount(t *testing.T, ts *testenv.Server, username string) (*testenv.SecurityKey, []string) {
	t.Helper()
	ctx := context.Background()
	account(t, ts, username, false, false)
	res, err := ts.Service.Login(ctx, username, testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.Service.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorWebAuthn, Label: "YubiKey"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ts.Addr())
	k := testenv.NewSecurityKey(t, "http://localhost:"+port)
	c, err := ts.Service.ConfirmSecurityKey(ctx, a, e.Factor.ID, k.Create(t, e.Options), core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return k, c.RecoveryCodes
}

const elevateKeyPath = "/settings/security/elevate/webauthn"

// TestElevationKeyOptions: the "confirm it's you" fields' security key
// gets its assertion options from POST /settings/security/elevate/webauthn,
// which answers them as JSON only to a signed-in session with the form's
// CSRF token from the site itself; the pages asking for a key begin no
// ceremony, so opening one (as a link from another site would) leaves the
// options had before good, and the key's answer to them elevates. On
// SQLite and PostgreSQL.
func TestElevationKeyOptions(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k, codes := keyAccount(t, ts, "kim")

			// Without a session: 401 with an error, no options.
			anon := newClient(t, ts.URL())
			r := anon.post(elevateKeyPath, url.Values{})
			if r.status != http.StatusUnauthorized || strings.Contains(r.body, "publicKey") || !strings.Contains(r.header.Get("Content-Type"), "json") {
				t.Fatalf("without a session: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
			var refusal struct{ Error string }
			if err := json.Unmarshal([]byte(r.body), &refusal); err != nil || refusal.Error == "" {
				t.Fatalf("without a session: body %s (%v), want an error", r.body, err)
			}

			c := newClient(t, ts.URL())
			c.signIn("kim")
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0]}}); r.url.Path != "/settings/security" {
				t.Fatalf("signing in with a recovery code: at %s: %s", r.url, pageError(r.body))
			}
			ts.Clock.Add(11 * time.Minute) // the sign-in's elevation lapses

			options := keyOptionsByPost(t, c, elevateKeyPath, "session")
			if !k.Allowed(t, options) {
				t.Fatalf("the options do not allow the account's key: %s", options)
			}

			// A page asking for the key, opened after the options were
			// had, begins nothing in their place.
			page := c.get("/settings/security/password?method=webauthn")
			if page.status != http.StatusOK || !strings.Contains(page.body, `data-webauthn-from="`+elevateKeyPath+`"`) {
				t.Fatalf("the password page asks for no key: %d %s", page.status, pageError(page.body))
			}
			if strings.Contains(page.body, "challenge") {
				t.Fatalf("the password page holds a challenge: %s", page.body)
			}
			// Sent without the key's answer (no JavaScript): refused, and
			// the page says the browser sent no key, not "with a code".
			r = c.post("/settings/security/password", url.Values{
				"current_password": {testPassword}, "new_password": {"a new horse battery"}, "new_password2": {"a new horse battery"},
				"elevate_method": {"webauthn"},
			})
			if r.status != http.StatusForbidden || r.url.Path != "/settings/security/password" || !strings.Contains(pageError(r.body), "sent no key") {
				t.Fatalf("the password form sent with no key: %d at %s: %q", r.status, r.url, pageError(r.body))
			}
			r = c.post("/settings/security/password", url.Values{
				"current_password": {testPassword}, "new_password": {"a new horse battery"}, "new_password2": {"a new horse battery"},
				"elevate_method": {"webauthn"}, "elevate_credential": {string(k.Get(t, options))},
			})
			if r.url.Path != "/settings/security" || r.url.Query().Get("m") != "password_changed" {
				t.Fatalf("changing the password with the key's answer: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}

const loginKeyPath = "/login/verify/webauthn"

// TestLoginKeyOptions: the second step's security key gets its assertion
// options from POST /login/verify/webauthn, answered only to the browser
// holding the login, with the form's CSRF token, from the site itself.
// Showing the second step begins no ceremony, so a link from another site
// to it (a top-level GET carries the SameSite=Lax login cookie) leaves the
// options had before good, and the key's answer to them signs in. On
// SQLite and PostgreSQL.
func TestLoginKeyOptions(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k, _ := keyAccount(t, ts, "kim")

			// Without a login: 410 with an error, no options.
			anon := newClient(t, ts.URL())
			r := anon.post(loginKeyPath, url.Values{})
			if r.status != http.StatusGone || strings.Contains(r.body, "publicKey") || !strings.Contains(r.header.Get("Content-Type"), "json") {
				t.Fatalf("without a login: %d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}

			c := newClient(t, ts.URL())
			page := c.signIn("kim")
			if page.url.Path != "/login/verify" || !strings.Contains(page.body, `data-webauthn-from="`+loginKeyPath+`"`) {
				t.Fatalf("the second step asks for no key: at %s: %s", page.url, pageError(page.body))
			}
			if strings.Contains(page.body, "challenge") {
				t.Fatalf("the second step holds a challenge: %s", page.body)
			}

			// "Use my security key" sent without the key's answer (no
			// JavaScript): the page says the browser sent no key, not the
			// API's words, and the second step is still there.
			if r := c.post("/login/verify", url.Values{"method": {"webauthn"}}); r.status != http.StatusBadRequest || r.url.Path != "/login/verify" ||
				!strings.Contains(pageError(r.body), "sent no key") || strings.Contains(pageError(r.body), "PublicKeyCredential") {
				t.Fatalf("the second step sent with no key: %d at %s: %q", r.status, r.url, pageError(r.body))
			}

			options := keyOptionsByPost(t, c, loginKeyPath, "login")
			if !k.Allowed(t, options) {
				t.Fatalf("the options do not allow the account's key: %s", options)
			}

			// A link from another site to the second step, asking for the
			// key, while the key is being touched.
			cross := c.do(func() *http.Request {
				req, err := http.NewRequest("GET", ts.URL()+"/login/verify?method=webauthn", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Sec-Fetch-Site", "cross-site")
				return req
			}())
			if cross.status != http.StatusOK || !strings.Contains(cross.body, "data-webauthn-from") {
				t.Fatalf("the second step opened from another site: %d %s", cross.status, pageError(cross.body))
			}
			r = c.post("/login/verify", url.Values{"method": {"webauthn"}, "credential": {string(k.Get(t, options))}})
			if r.url.Path != "/settings/security" {
				t.Fatalf("signing in with the key's answer: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}

// keyOptionsByPost checks that a security key's options come from path
// only by a POST of the page's session with its CSRF token (never without
// one, with a wrong one, from another site, or by GET), and returns them.
func keyOptionsByPost(t *testing.T, c *client, path, who string) []byte {
	t.Helper()
	for name, try := range map[string]func() reply{
		"no csrf":    func() reply { return c.postRaw(path, url.Values{}, nil) },
		"wrong csrf": func() reply { return c.postRaw(path, url.Values{"csrf": {"x" + c.csrf}}, nil) },
		"other site": func() reply {
			return c.postRaw(path, url.Values{"csrf": {c.csrf}}, http.Header{"Origin": {"https://evil.example"}, "Sec-Fetch-Site": {"cross-site"}})
		},
		"get": func() reply { return c.get(path) },
	} {
		r := try()
		want := http.StatusForbidden
		if name == "get" {
			want = http.StatusMethodNotAllowed
		}
		if r.status != want || strings.Contains(r.body, "publicKey") {
			t.Errorf("%s: status %d, want %d; body %.200s", name, r.status, want, r.body)
		}
	}
	r := c.post(path, url.Values{})
	if r.status != http.StatusOK || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") {
		t.Fatalf("with the %s and its CSRF token: %d %s %s", who, r.status, r.header.Get("Content-Type"), r.body)
	}
	return []byte(r.body)
}
