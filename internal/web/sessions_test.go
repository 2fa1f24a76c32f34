package web_test

import (
	"net/url"
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

// TestEndSessionTwice: the form that signs another browser out, sent a
// second time (two tabs, a double click), leaves the holder on the list,
// told that the session was no longer signed in, and changes nothing; so
// does a form naming a session the account never had. Only the first
// sending mails the notice.
func TestEndSessionTwice(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	ts := testenv.NewServer(t, dsn)
	account(t, ts, "alice", false, false)
	account(t, ts, "bob", false, false)
	c, other, bob := newClient(t, ts.URL()), newClient(t, ts.URL()), newClient(t, ts.URL())
	for _, b := range []*client{c, other} {
		if r := b.signIn("alice"); r.url.Path != "/settings/security" {
			t.Fatalf("sign-in: at %s", r.url)
		}
	}
	if r := bob.signIn("bob"); r.url.Path != "/settings/security" {
		t.Fatalf("bob's sign-in: at %s", r.url)
	}
	theirs, bobs := sessionID(t, other), sessionID(t, bob)
	path := "/settings/security/sessions/" + theirs + "/end"
	if r := c.post(path, url.Values{}); r.url.String() != ts.URL()+"/settings/security/sessions?m=session_ended" {
		t.Fatalf("the first sending: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	snaps := testenv.OpenSnapshots(t, dsn)
	before := snaps.Take(t)
	for _, id := range []string{theirs, bobs, "s" + strings.Repeat("0", 25)} {
		r := c.post("/settings/security/sessions/"+id+"/end", url.Values{})
		if r.status != 200 || r.url.Path != "/settings/security/sessions" || r.url.Query().Get("m") != "session_gone" {
			t.Fatalf("ending %s again: at %s (%d): %s", id, r.url, r.status, pageError(r.body))
		}
		if !strings.Contains(r.body, "no longer signed in") {
			t.Errorf("ending %s again: the page does not say the session was no longer signed in", id)
		}
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("ending %s again changed the database:\n%s", id, d)
		}
	}
	if r := bob.get("/settings/security"); r.url.Path != "/settings/security" {
		t.Errorf("bob's browser after alice named its session: at %s", r.url)
	}
}

// sessionID is the id of the session c holds: its token's part before the
// dot.
func sessionID(t *testing.T, c *client) string {
	t.Helper()
	id, _, ok := strings.Cut(sessionCookie(t, c), ".")
	if !ok {
		t.Fatal("the session cookie holds no id")
	}
	return id
}
