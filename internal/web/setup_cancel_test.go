package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestCancelAnotherSessionsSetup: a thief holding a session of the account
// starts adding an app. The owner's security page lists it as started in
// another session, without its key and without the button that finishes
// it, and offers to cancel it. Cancelling asks the owner to confirm it's
// them (a session that has not is refused, and the setup is left as it
// was); with a code from the owner's phone the setup is cancelled while the
// thief's session is still signed in. On SQLite and PostgreSQL.
func TestCancelAnotherSessionsSetup(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			phoneKey := account(t, ts, "amy", false, true)
			thief := newClient(t, ts.URL())
			thief.signInWithCode(ts, "amy", phoneKey) // a session taken while elevated
			r := thief.post("/settings/security/totp", url.Values{"label": {"Evil"}})
			if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") || setupKey(r.body) == "" {
				t.Fatalf("the thief's setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			setup, evilKey := r.url.Path, setupKey(r.body)
			id := strings.TrimPrefix(setup, "/settings/security/totp/")
			remove := "/settings/security/factors/" + id + "/remove"

			ts.Clock.Add(30 * time.Second)
			owner := newClient(t, ts.URL())
			owner.signInWithCode(ts, "amy", phoneKey)
			ts.Clock.Add(11 * time.Minute) // the owner's elevation has lapsed

			r = owner.get("/settings/security")
			if !strings.Contains(r.body, `id="elsewhere-`+id+`"`) || !strings.Contains(r.body, `href="`+remove+`"`) {
				t.Errorf("the owner's security page: the thief's setup is not shown as another session's with a cancel")
			}
			if strings.Contains(r.body, evilKey[:8]) || strings.Contains(r.body, `href="`+setup+`"`) {
				t.Errorf("the owner's security page shows the thief's key or a way to finish the setup")
			}
			if r := owner.get(remove); !strings.Contains(r.body, "started in another session") || !strings.Contains(r.body, `name="elevate_code"`) {
				t.Errorf("the cancel page: at %s (%d), want it to say whose the setup is and ask to confirm it's you", r.url, r.status)
			}
			// Without confirming it's them: refused, the setup kept.
			if r := owner.post(remove, url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, `name="elevate_code"`) {
				t.Errorf("cancelling without confirming it's you: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if r := owner.get("/settings/security"); !strings.Contains(r.body, `id="elsewhere-`+id+`"`) {
				t.Fatalf("the setup is gone after a refused cancel")
			}
			ts.Clock.Add(30 * time.Second)
			r = owner.post(remove, url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, phoneKey, ts.Clock.Now())}})
			if r.url.RawQuery != "m=setup_cancelled" {
				t.Fatalf("cancelling, confirming it's you: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if strings.Contains(r.body, `id="elsewhere-`+id+`"`) || strings.Contains(outsideEvents(r.body), "Evil") {
				t.Errorf("the security page still lists the thief's setup")
			}
			// The thief's session is still signed in; its setup is gone.
			if r := thief.get(setup); r.url.Path != "/settings/security" || r.url.RawQuery != "m=enrol_gone" {
				t.Errorf("the thief on its setup page: at %s (%d), want the security page saying it is gone", r.url, r.status)
			}
		})
	}
}

// TestSetupOfEndedSession: a setup whose session has signed out can no
// longer be finished by anyone, so the security page of another session
// says so and offers only to cancel it (no "Finish setup" that would fail);
// cancelling it needs no code. On SQLite and PostgreSQL.
func TestSetupOfEndedSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "bo", false, false)
			laptop := newClient(t, ts.URL())
			laptop.signIn("bo")
			r := laptop.post("/settings/security/totp", url.Values{"label": {"Left behind"}})
			if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") {
				t.Fatalf("the setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			setup := r.url.Path
			id := strings.TrimPrefix(setup, "/settings/security/totp/")
			remove := "/settings/security/factors/" + id + "/remove"
			laptop.post("/logout", url.Values{})

			tablet := newClient(t, ts.URL())
			tablet.signIn("bo")
			r = tablet.get("/settings/security")
			if !strings.Contains(r.body, `id="ended-`+id+`"`) || !strings.Contains(r.body, `href="`+remove+`"`) {
				t.Errorf("the security page does not say the setup's session has ended, with a cancel")
			}
			if strings.Contains(r.body, `href="`+setup+`"`) {
				t.Errorf("the security page offers to finish a setup whose session has ended")
			}
			r = tablet.post(remove, url.Values{})
			if r.url.RawQuery != "m=setup_cancelled" || strings.Contains(outsideEvents(r.body), "Left behind") {
				t.Errorf("cancelling the setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}

// TestCancelSetupConfirmedMeanwhile: "Cancel setup" on a setup's page
// (another tab) after the setup was confirmed removes nothing: the
// authenticator is active, and the browser is on its remove page, asked
// to confirm it there (409). The cancel of a setup still pending cancels
// it, and the same form sent again (a double click without JavaScript)
// leads to the security page saying it is no longer on the account. On
// SQLite and PostgreSQL.
func TestCancelSetupConfirmedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			phoneKey := account(t, ts, "amy", false, true)
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "amy", phoneKey) // elevated
			r := c.post("/settings/security/totp", url.Values{"label": {"Laptop"}})
			secret, confirm := setupKey(r.body), r.url.Path+"/confirm"
			if secret == "" {
				t.Fatalf("setup: at %s: %s", r.url, pageError(r.body))
			}
			id := strings.TrimPrefix(r.url.Path, "/settings/security/totp/")
			remove := "/settings/security/factors/" + id + "/remove"
			cancel := formFields(t, r.body, remove) // the other tab's form
			if cancel.Get("pending") != "1" || cancel.Get("once") == "" {
				t.Fatalf("the cancel form sends %v: want it to say the setup is pending, with a one-time token", cancel)
			}
			ts.Clock.Add(30 * time.Second)
			if r := c.post(confirm, url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "once": {onceOf(t, r.body, confirm)}}); !strings.Contains(r.body, `id="recovery-codes"`) && r.url.Path != "/settings/security" {
				t.Fatalf("confirm: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			r = c.post(remove, cancel)
			if r.status != http.StatusConflict || !strings.Contains(r.body, "was confirmed meanwhile") || r.url.Path != remove {
				t.Fatalf("cancel after the confirmation: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if n := strings.Count(c.get("/settings/security").body, `class="factor-label"`); n != 2 {
				t.Fatalf("authenticators after the cancel of a confirmed setup: %d, want 2 (the phone and the laptop)", n)
			}
			// Its remove page removes it, with the same one-time token.
			r = c.post(remove, formFields(t, r.body, remove))
			if r.url.RawQuery != "m=factor_removed" {
				t.Fatalf("remove from its page: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}

			// A setup still pending: cancelled, then told it is gone.
			r = c.post("/settings/security/totp", url.Values{"label": {"Tablet"}})
			id = strings.TrimPrefix(r.url.Path, "/settings/security/totp/")
			remove = "/settings/security/factors/" + id + "/remove"
			cancel = formFields(t, r.body, remove)
			if r := c.post(remove, cancel); r.url.RawQuery != "m=setup_cancelled" {
				t.Fatalf("cancel: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if r := c.post(remove, cancel); r.url.RawQuery != "m=factor_gone" {
				t.Fatalf("cancel sent again: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}
