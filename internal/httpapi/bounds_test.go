package httpapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// mailedAll waits until the outbox is empty, every mail queued so far sent
// (the worker deletes a mail once the mail server took it), and returns the
// subjects the mailbox received.
func mailedAll(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for {
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails still in the outbox after a minute", len(out))
		}
		time.Sleep(10 * time.Millisecond)
	}
	var subjects []string
	for _, m := range mb.Messages() {
		subject, _ := mailText(t, m)
		subjects = append(subjects, subject)
	}
	return subjects
}

// countSubjects counts the subjects that contain part.
func countSubjects(subjects []string, part string) int {
	n := 0
	for _, s := range subjects {
		if strings.Contains(s, part) {
			n++
		}
	}
	return n
}

// toggleOff turns two-factor login off and on again: a notice each time,
// by the elevated client c.
func toggleOff(t *testing.T, c *testenv.Client) {
	t.Helper()
	for _, required := range []bool{false, true} {
		if r := c.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": required}); r.Status != 200 {
			t.Fatalf("two-factor required %v: got %d %s", required, r.Status, r.Body)
		}
	}
}

// TestNoticeBound: one account is mailed at most core.NoticeBurst security
// notices at once; the first past the bound is replaced by one mail that
// says more changes were made and points to the security log, the others
// are not mailed; mails the holder asks for (a password-reset link, a
// code) still go; and once the bound has refilled, notices go again.
func TestNoticeBound(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "nora")
		c := login(t, s, "nora")
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"}) // a notice: a new authenticator
		elevate(t, s, c, f)
		sent := mailedAll(t, s, mb)
		if len(sent) != 1 {
			t.Fatalf("mails after enrolment: got %q, want the one notice of a new authenticator", sent)
		}
		for range core.NoticeBurst + 3 {
			toggleOff(t, c)
		}
		sent = mailedAll(t, s, mb)
		if got, want := countSubjects(sent, "two-factor login was turned off"), core.NoticeBurst-1; got != want {
			t.Errorf("notices of two-factor turned off: got %d, want %d (the bound, less the enrolment's)", got, want)
		}
		if got := countSubjects(sent, "more security changes"); got != 1 {
			t.Fatalf("mails about more changes: got %d, want 1 (all: %q)", got, sent)
		}
		if len(sent) != core.NoticeBurst+1 {
			t.Errorf("mails: got %d %q, want %d", len(sent), sent, core.NoticeBurst+1)
		}
		_, body := mailText(t, mb.Messages()[len(sent)-1])
		for _, want := range []string{"/settings/security/events", "two-factor login was turned off", "If this was not you"} {
			if !strings.Contains(body, want) {
				t.Errorf("the mail about more changes does not say %q:\n%s", want, body)
			}
		}

		// Mails asked for are no notices: a password-reset link and an
		// email factor's code go, past the bound.
		if r := askReset(t, s, "nora"); r.Status != 202 {
			t.Fatalf("ask for a reset: got %d %s", r.Status, r.Body)
		}
		resetMail(t, s, mb, len(sent)+1)
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"}); r.Status != 201 {
			t.Fatalf("enrol an email factor: got %d %s", r.Status, r.Body)
		}
		codeMail(t, mb, len(sent)+2)
		toggleOff(t, c)
		if after := mailedAll(t, s, mb); len(after) != len(sent)+2 {
			t.Errorf("mails after the reset link and the code: got %q, want no further notice", after[len(sent):])
		}

		// An hour on, the bound has refilled.
		s.Clock.Add(time.Hour)
		elevate(t, s, c, f)
		toggleOff(t, c)
		after := mailedAll(t, s, mb)
		if got := countSubjects(after[len(sent)+2:], "two-factor login was turned off"); got != 1 || len(after) != len(sent)+3 {
			t.Errorf("an hour later: got %q, want one notice of two-factor turned off", after[len(sent)+2:])
		}
	})
}

// TestEventBound: of one type on one account, core.EventBurst events are
// recorded at once; the first past the bound is replaced by one
// audit.suppressed note in the account's log, the others are not
// recorded; and the bound refills by one each core.EventEvery.
func TestEventBound(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "otto")
		c := login(t, s, "otto")
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		elevate(t, s, c, f)
		for range core.EventBurst + 5 {
			toggleOff(t, c)
		}
		events := func(types string) []any {
			t.Helper()
			r := c.Do(t, "GET", "/v1/me/events?limit=200&type="+types, nil)
			if r.Status != 200 {
				t.Fatalf("events: got %d %s", r.Status, r.Body)
			}
			return r.JSON["events"].([]any)
		}
		if got := len(events("two_factor.not_required")); got != core.EventBurst {
			t.Errorf("two_factor.not_required events: got %d, want %d", got, core.EventBurst)
		}
		notes := events("audit.suppressed")
		if len(notes) != 2 {
			t.Fatalf("audit.suppressed notes: got %d %v, want 2 (one for each type toggled)", len(notes), notes)
		}
		for _, n := range notes {
			d := n.(map[string]any)["detail"].(string)
			if !strings.Contains(d, "two_factor.not_required") && !strings.Contains(d, "two_factor.required") {
				t.Errorf("note %q names neither type toggled", d)
			}
		}
		s.Clock.Add(core.EventEvery)
		toggleOff(t, c)
		if got := len(events("two_factor.not_required")); got != core.EventBurst+1 {
			t.Errorf("two_factor.not_required events after %s: got %d, want %d", core.EventEvery, got, core.EventBurst+1)
		}
		if got := len(events("audit.suppressed")); got != 2 {
			t.Errorf("audit.suppressed notes after the refill: got %d, want still 2", got)
		}
	})
}

// TestNoticeBoundConcurrent: notices asked for at once, on two instances
// over one PostgreSQL database (on SQLite, one instance), pass the bound
// exactly: core.NoticeBurst notices and one mail about more changes, the
// bound being one statement in the database per notice.
func TestNoticeBoundConcurrent(t *testing.T) {
	for name, dsnOf := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			dsn := dsnOf(t)
			s := testenv.NewServer(t, dsn, mb.Option("Twofold <twofold@example.com>"))
			other := s
			if name == "postgres" {
				other = testenv.NewServer(t, dsn, mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.KeyFile = s.Config.KeyFile })
			}
			addUser(t, s, "pia")
			c := login(t, s, "pia")
			for range core.NoticeBurst + 3 {
				login(t, s, "pia")
			}
			r := c.Do(t, "GET", "/v1/me/sessions", nil)
			if r.Status != 200 {
				t.Fatalf("sessions: got %d %s", r.Status, r.Body)
			}
			var ids []string
			for _, x := range r.JSON["sessions"].([]any) {
				if m := x.(map[string]any); m["current"] != true {
					ids = append(ids, m["id"].(string))
				}
			}
			if len(ids) <= core.NoticeBurst {
				t.Fatalf("other sessions: got %d, want more than %d", len(ids), core.NoticeBurst)
			}
			errs := make(chan string, len(ids))
			for i, id := range ids {
				go func() {
					via := testenv.NewClient([]string{s.URL(), other.URL()}[i%2])
					via.Token = c.Token
					if r := via.Do(t, "DELETE", "/v1/me/sessions/"+id, nil); r.Status != 204 && r.Status != 200 {
						errs <- fmt.Sprintf("sign out %s: got %d %s", id, r.Status, r.Body)
						return
					}
					errs <- ""
				}()
			}
			for range ids {
				if e := <-errs; e != "" {
					t.Error(e)
				}
			}
			sent := mailedAll(t, s, mb)
			if got := countSubjects(sent, "a session of your account was signed out"); got != core.NoticeBurst {
				t.Errorf("notices of a session signed out: got %d, want %d", got, core.NoticeBurst)
			}
			if got := countSubjects(sent, "more security changes"); got != 1 {
				t.Errorf("mails about more changes: got %d, want 1", got)
			}
			if len(sent) != core.NoticeBurst+1 {
				t.Errorf("mails: got %d %q, want %d", len(sent), sent, core.NoticeBurst+1)
			}
		})
	}
}
