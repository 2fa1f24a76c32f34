package web_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserSessions: in Chromium, a holder sees the account's sessions,
// this browser's marked, and signs out another browser's; that browser is
// then signed out. Signing out this browser's own session from the list
// ends it as a sign-out does.
func TestBrowserSessions(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	other := newClient(t, ts.URL())
	if r := other.signIn("alice"); r.url.Path != "/settings/security" {
		t.Fatalf("the other browser's sign-in: at %s", r.url)
	}

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("alice", testPassword)
	p.wantPath("/settings/security")
	p.click("#list-sessions")
	p.wantPath("/settings/security/sessions")
	if n := len(p.texts("#session-list li.factor")); n != 2 {
		t.Fatalf("sessions listed: %d, want 2", n)
	}
	if !p.exists("#this-session") {
		t.Fatal("this browser's session is not marked")
	}
	p.screenshot("sessions")
	mine := eval[string](p, `document.querySelector("#this-session").closest("li").id`)
	theirs := eval[string](p, `[...document.querySelectorAll("#session-list li.factor")].map(li => li.id).find(id => id !== `+jsString(mine)+`)`)
	// Each session's button says, to a screen reader, which session it
	// signs out: the list's buttons and the header's are not all "Sign out".
	if got := p.attr("#"+mine+" button", "aria-label"); got != "Sign out this browser" {
		t.Errorf("this browser's button is named %q, want \"Sign out this browser\"", got)
	}
	if got := p.attr("#"+theirs+" button", "aria-label"); !strings.HasPrefix(got, "Sign out ") || !strings.Contains(got, " on 127.0.0.1") || !strings.Contains(got, p.text("#"+theirs+" .factor-label")) {
		t.Errorf("the other browser's button is named %q, want it to name its browser and address", got)
	}
	p.click("#" + theirs + " button")
	p.wantPath("/settings/security/sessions?m=session_ended")
	if got := p.text(".flash.ok"); !strings.Contains(got, "signed out") {
		t.Errorf("notice: %q", got)
	}
	if n := len(p.texts("#session-list li.factor")); n != 1 {
		t.Errorf("sessions listed after signing one out: %d, want 1", n)
	}
	if r := other.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("the other browser after its session was signed out: at %s", r.url)
	}
	p.click("#" + mine + " button")
	p.wantPath("/login?m=logged_out")
	if r := p.open("/settings/security"); r != 200 || !strings.HasPrefix(p.path(), "/login") {
		t.Errorf("this browser after signing its own session out: at %s", p.path())
	}
}
