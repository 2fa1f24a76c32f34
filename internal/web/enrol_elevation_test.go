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
	secret := account(t, ts, "alice", false, true)
	owner := newClient(t, ts.URL())
	owner.signInWithCode(ts, "alice", secret)
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
