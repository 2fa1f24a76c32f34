package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// setupKey returns the key the setup page of an authenticator shows, its
// groups joined, or "" when it shows none.
func setupKey(body string) string {
	m := regexp.MustCompile(`(?s)<p class="secret" id="secret">(.*?)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	var key strings.Builder
	for _, g := range regexp.MustCompile(`<span>([A-Z2-7]+)</span>`).FindAllStringSubmatch(m[1], -1) {
		key.WriteString(g[1])
	}
	return key.String()
}

// TestPendingKeyNeedsElevation: the setup page of an authenticator being
// added, and its QR code, show the key only to a session that may add an
// authenticator (SPEC §3.1). With two-factor not required, a session signed
// in with the password only gets the "confirm it's you" fields instead: else
// it could read the key of the owner's new authenticator and, once the owner
// confirmed it, make codes and elevate with them. The owner's session, its
// elevation lapsed, confirms it's them on the page and sees the key again.
func TestPendingKeyNeedsElevation(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, owner := signedIn(t, ts, "alice", false)
	if r := owner.post("/settings/security/two-factor", url.Values{"required": {"false"}}); r.url.RawQuery != "m=required_off" {
		t.Fatalf("turning two-factor off: at %s: %s", r.url, pageError(r.body))
	}
	r := owner.post("/settings/security/totp", url.Values{"label": {"Laptop"}})
	setup := r.url.Path
	key := setupKey(r.body)
	if !strings.HasPrefix(setup, "/settings/security/totp/") || key == "" {
		t.Fatalf("starting a setup: at %s (%d), no key shown: %s", r.url, r.status, pageError(r.body))
	}

	attacker := newClient(t, ts.URL())
	if r := attacker.signIn("alice"); r.url.Path != "/settings/security" {
		t.Fatalf("password-only sign-in: at %s", r.url)
	}
	noKey := func(who string, r reply) {
		t.Helper()
		if setupKey(r.body) != "" || strings.Contains(r.body, key[:8]) || strings.Contains(r.body, "otpauth:") || strings.Contains(r.body, `id="qr"`) {
			t.Errorf("%s: the page shows the key, its URI or its QR code", who)
		}
		if !strings.Contains(r.body, `name="elevate_code"`) {
			t.Errorf("%s: the page asks for no code", who)
		}
	}
	r = attacker.get(setup)
	if r.status != http.StatusOK {
		t.Errorf("password-only session on the setup page: status %d", r.status)
	}
	noKey("password-only session", r)
	// The links to the other ways of confirming lead to the same page.
	alt := regexp.MustCompile(`href="(`+regexp.QuoteMeta(setup)+`\?method=[a-z_]+[^"]*)"`).FindAllStringSubmatch(r.body, -1)
	if len(alt) == 0 {
		t.Error("the page offers no other way to confirm")
	}
	for _, m := range alt {
		noKey("GET "+m[1], attacker.get(html.UnescapeString(m[1])))
	}
	if r := attacker.get(setup + "/qr.png"); r.status != http.StatusForbidden || r.header.Get("Content-Type") == "image/png" {
		t.Errorf("password-only session fetching the QR code: status %d, %s; want 403", r.status, r.header.Get("Content-Type"))
	}
	r = attacker.post(setup, url.Values{"elevate_method": {"totp"}, "elevate_code": {otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	if r.status != http.StatusUnauthorized || pageError(r.body) != "That code was not accepted. Check it and try again." {
		t.Errorf("confirming with a wrong code: status %d, %q", r.status, pageError(r.body))
	}
	noKey("after a wrong code", r)
	r = attacker.post(setup+"/confirm", url.Values{"code": {testenv.TOTP(t, key, ts.Clock.Now())}})
	if r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("password-only session confirming the setup: status %d, %q", r.status, pageError(r.body))
	}
	noKey("after confirming without a code", r)

	// The owner, once the elevation lapsed, confirms it's them and sees the
	// key again; then the new authenticator is confirmed with its code.
	ts.Clock.Add(11 * time.Minute)
	noKey("owner's session, elevation lapsed", owner.get(setup))
	r = owner.post(setup, url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if r.url.Path != setup || setupKey(r.body) != key {
		t.Fatalf("confirming it's the owner: at %s (%d), key shown %q, want %q: %s", r.url, r.status, setupKey(r.body), key, pageError(r.body))
	}
	if r := owner.get(setup + "/qr.png"); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
		t.Errorf("owner's elevated session fetching the QR code: status %d, %s", r.status, r.header.Get("Content-Type"))
	}
	r = owner.post(setup+"/confirm", url.Values{"code": {testenv.TOTP(t, key, ts.Clock.Now())}})
	if r.url.RawQuery != "m=factor_added" {
		t.Errorf("confirming the new authenticator: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
}

// TestPendingKeyOfAnotherSession: on an account without an active factor,
// where no session can be elevated, the setup page of an authenticator
// being added, its QR code and its confirmation are for the session that
// started the setup. Another session signed in with the password alone is
// sent to the security page, which says why and offers no button to finish
// or cancel it (cancelling it is refused too); its QR code is 404. A
// session elevated by a code from another authenticator does not see the
// key either. Once the owner's session signs out, another may cancel the
// setup it left. On SQLite and PostgreSQL.
func TestPendingKeyOfAnotherSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "amy", false, false)
			owner := newClient(t, ts.URL())
			if r := owner.signIn("amy"); r.url.Path != "/settings/security" {
				t.Fatalf("owner's sign-in: at %s", r.url)
			}
			start := func(c *client, label string) (string, string) {
				t.Helper()
				r := c.post("/settings/security/totp", url.Values{"label": {label}})
				if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") || setupKey(r.body) == "" {
					t.Fatalf("starting the setup of %s: at %s (%d), no key shown: %s", label, r.url, r.status, pageError(r.body))
				}
				return r.url.Path, setupKey(r.body)
			}
			phone, phoneKey := start(owner, "Phone")
			tablet, tabletKey := start(owner, "Tablet")

			other := newClient(t, ts.URL())
			if r := other.signIn("amy"); r.url.Path != "/settings/security" {
				t.Fatalf("another password-only sign-in: at %s", r.url)
			}
			noKey := func(who string, r reply, keys ...string) {
				t.Helper()
				for _, k := range keys {
					if strings.Contains(r.body, k[:8]) {
						t.Errorf("%s: the page shows the key", who)
					}
				}
				if setupKey(r.body) != "" || strings.Contains(r.body, "otpauth:") || strings.Contains(r.body, `id="qr"`) {
					t.Errorf("%s: the page shows a key, its URI or its QR code", who)
				}
			}
			id := strings.TrimPrefix(phone, "/settings/security/totp/")
			r := other.get(phone)
			if r.url.Path != "/settings/security" || r.url.RawQuery != "m=enrol_elsewhere" {
				t.Errorf("another session on the setup page: at %s (%d), want the security page saying why", r.url, r.status)
			}
			noKey("another session on the setup page", r, phoneKey, tabletKey)
			if !strings.Contains(r.body, "started in another session") || !strings.Contains(r.body, `id="elsewhere-`+id+`"`) {
				t.Errorf("another session on the setup page: the security page does not say why")
			}
			if strings.Contains(r.body, `href="/settings/security/factors/`+id+`/remove"`) {
				t.Errorf("another session on the security page: it offers to cancel the owner's setup")
			}
			if r := other.post("/settings/security/factors/"+id+"/remove", url.Values{}); r.url.RawQuery != "m=enrol_elsewhere" {
				t.Errorf("another session cancelling the setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if r := other.get(phone + "/qr.png"); r.status != http.StatusNotFound || r.header.Get("Content-Type") == "image/png" {
				t.Errorf("another session fetching the QR code: status %d, %s; want 404", r.status, r.header.Get("Content-Type"))
			}
			r = other.post(phone+"/confirm", url.Values{"code": {testenv.TOTP(t, phoneKey, ts.Clock.Now())}})
			if r.url.RawQuery != "m=enrol_elsewhere" {
				t.Errorf("another session confirming the setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			noKey("another session confirming the setup", r, phoneKey, tabletKey)
			// It may start a setup of its own.
			start(other, "Laptop")

			// The owner's session still sees the key and confirms it.
			if r := owner.get(phone); setupKey(r.body) != phoneKey {
				t.Errorf("owner's session on the setup page: key %q, want %q", setupKey(r.body), phoneKey)
			}
			if r := owner.get(phone + "/qr.png"); r.status != http.StatusOK || r.header.Get("Content-Type") != "image/png" {
				t.Errorf("owner's session fetching the QR code: status %d, %s", r.status, r.header.Get("Content-Type"))
			}
			if r := owner.post(phone+"/confirm", url.Values{"code": {testenv.TOTP(t, phoneKey, ts.Clock.Now())}}); r.status != http.StatusOK || !strings.Contains(r.body, "recovery") {
				t.Fatalf("owner confirming: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}

			// Nor does a session elevated by the phone's code see the
			// tablet's key: the setup is the owner's session's.
			ts.Clock.Add(30 * time.Second)
			elevated := newClient(t, ts.URL())
			elevated.signInWithCode(ts, "amy", phoneKey)
			if r := elevated.get(tablet); setupKey(r.body) != "" || r.url.RawQuery != "m=enrol_elsewhere" {
				t.Errorf("elevated session on the setup page: at %s, key shown %v", r.url, setupKey(r.body) != "")
			}
			if r := elevated.get(tablet + "/qr.png"); r.status != http.StatusNotFound || r.header.Get("Content-Type") == "image/png" {
				t.Errorf("elevated session fetching the QR code: status %d, %s; want 404", r.status, r.header.Get("Content-Type"))
			}

			// Signed out, the owner's session leaves the setup to be
			// cancelled elsewhere.
			owner.post("/logout", url.Values{})
			tabletID := strings.TrimPrefix(tablet, "/settings/security/totp/")
			if r := elevated.get("/settings/security"); !strings.Contains(r.body, `href="/settings/security/factors/`+tabletID+`/remove"`) {
				t.Errorf("the setup of a session that signed out: the security page offers no cancel")
			}
			if r := elevated.post("/settings/security/factors/"+tabletID+"/remove", url.Values{}); r.url.RawQuery != "m=setup_cancelled" {
				t.Errorf("cancelling the setup of a session that signed out: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}
