package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserChangePassword changes the password in Chromium on an account
// with two-factor on: the page asks for a code once the elevation has lapsed,
// says so when the current password is wrong, and after the change the
// browser stays signed in while another browser's session has ended and the
// new password signs in.
func TestBrowserChangePassword(t *testing.T) {
	const newPassword = "a different long passphrase"
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, other := signedIn(t, ts, "alice", false)
	ts.Clock.Add(30 * time.Second)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "alice", secret)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses

	p.click("#change-password")
	p.wantPath("/settings/security/password")
	if !p.exists("#elevate_code") {
		t.Fatal("the password page asks for no code once the elevation has lapsed")
	}
	// The browser applies autofocus when it next renders the page, which a
	// loaded machine may put off a little after the load: ask until then.
	if got := p.focused("current_password"); got != "current_password" {
		t.Errorf("focus on %q, want current_password", got)
	}
	p.fill("#current_password", "not my password")
	p.fill("#new_password", newPassword)
	p.fill("#new_password2", newPassword)
	p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "button#change-password")
	if got := p.text("#error"); got != "Your current password is wrong." {
		t.Errorf("wrong current password: page says %q", got)
	}
	// The code elevated the session: the second try needs none.
	if p.exists("#elevate_code") {
		t.Error("the page asks for a code again right after one was accepted")
	}
	p.screenshot("password")
	p.fill("#current_password", testPassword)
	p.fill("#new_password", newPassword)
	p.fill("#new_password2", newPassword)
	p.click("button#change-password")
	p.wantPath("/settings/security?m=password_changed")
	if got := p.text(".flash.ok"); !strings.Contains(got, "Every other session was signed out") {
		t.Errorf("notice after the change: %q", got)
	}
	if got := p.text("#status h2"); got != "Two-factor is on" {
		t.Errorf("after the change the browser shows %q, want the security page", got)
	}

	if r := other.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("another browser's session after the change: at %s, want /login", r.url)
	}
	c := newClient(t, ts.URL())
	if r := c.signIn("alice"); r.status != http.StatusUnauthorized {
		t.Errorf("the old password: status %d at %s", r.status, r.url)
	}
	r := c.post("/login", url.Values{"username": {"alice"}, "password": {newPassword}})
	if r.url.Path != "/login/verify" {
		t.Errorf("the new password: at %s: %s", r.url, pageError(r.body))
	}
}

// TestChangePasswordPageRefuses: two different new passwords, a short one,
// and a change without a code on an unelevated session change nothing.
func TestChangePasswordPageRefuses(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, c := signedIn(t, ts, "alice", false)
	form := func(current, next, again string) url.Values {
		return url.Values{"current_password": {current}, "new_password": {next}, "new_password2": {again}}
	}
	r := c.post("/settings/security/password", form(testPassword, "one long passphrase", "another long passphrase"))
	if r.status != http.StatusBadRequest || pageError(r.body) != "The two new passwords differ. Type the same password twice." {
		t.Errorf("different new passwords: status %d, %q", r.status, pageError(r.body))
	}
	r = c.post("/settings/security/password", form(testPassword, "short", "short"))
	if r.status != http.StatusBadRequest || pageError(r.body) != "New password must be 8 to 256 characters." {
		t.Errorf("a short new password: status %d, %q", r.status, pageError(r.body))
	}
	ts.Clock.Add(11 * time.Minute)
	r = c.post("/settings/security/password", form(testPassword, "one long passphrase", "one long passphrase"))
	if r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("without a code: status %d, %q", r.status, pageError(r.body))
	}
	// Still the old password, and this session still works.
	if r := c.get("/settings/security"); r.url.Path != "/settings/security" {
		t.Fatalf("the session after refused changes: at %s", r.url)
	}
	if r := newClient(t, ts.URL()).signIn("alice"); r.url.Path != "/login/verify" {
		t.Errorf("the old password after refused changes: at %s", r.url)
	}
}

// TestSignOutEverywherePage: the security page's button ends this browser's
// session and every other one.
func TestSignOutEverywherePage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)
	c, other := newClient(t, ts.URL()), newClient(t, ts.URL())
	c.signInWithCode(ts, "alice", secret)
	ts.Clock.Add(30 * time.Second)
	other.signInWithCode(ts, "alice", secret)
	if r := c.get("/settings/security"); !strings.Contains(r.body, `id="logout-everywhere"`) {
		t.Fatal("no sign-out-everywhere button on the security page")
	}
	r := c.post("/logout/everywhere", url.Values{})
	if r.url.Path != "/login" || !strings.Contains(r.body, "You are signed out everywhere") {
		t.Fatalf("after signing out everywhere: at %s", r.url)
	}
	for name, b := range map[string]*client{"this browser": c, "another browser": other} {
		if r := b.get("/settings/security"); r.url.Path != "/login" {
			t.Errorf("%s after signing out everywhere: at %s, want /login", name, r.url)
		}
	}
}
