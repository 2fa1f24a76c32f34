package httpapi_test

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// outboxFailed waits until every mail in the outbox has been tried and
// refused at least once, so that it waits for its retry.
func outboxFailed(t *testing.T, s *testenv.Server) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		tried := len(out) > 0
		for _, m := range out {
			tried = tried && m.Attempts > 0 && m.LastError != ""
		}
		if tried {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox's mails were not all tried: %+v", out)
		}
	}
}

// outboxEmptied moves the clock past every retry and waits until the
// outbox is empty: each mail was sent or dropped.
func outboxEmptied(t *testing.T, s *testenv.Server) {
	t.Helper()
	s.Clock.Add(time.Minute)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(10 * time.Millisecond) {
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			return
		}
		// A mail that failed more than twice while the mail server was
		// down waits longer than the minute above (notify.Backoff): move
		// the clock on to the first mail due.
		due := out[0].DueAt
		for _, m := range out[1:] {
			if m.DueAt.Before(due) {
				due = m.DueAt
			}
		}
		if wait := due.Sub(s.Clock.Now()); wait > 0 {
			s.Clock.Add(wait)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d mails still queued", len(out))
		}
	}
}

// subjects returns the subjects of the mails the mailbox holds.
func subjects(t *testing.T, mb *testenv.SMTPServer) []string {
	t.Helper()
	var out []string
	for _, m := range mb.Messages() {
		subject, _ := mailText(t, m)
		out = append(out, subject)
	}
	return out
}

// TestVoidedMailsNotSentAfterClosure: a code or link mail that could not be
// sent before the account was closed is dropped, not sent after: neither
// the code to confirm a new address nor the dead password-reset link goes
// out; the notice of the closure does.
func TestVoidedMailsNotSentAfterClosure(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "alice")
		c := login(t, s, "alice")
		mb.FailNext(1000) // the mail server is down
		if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "alice@new.example", "password": password}); r.Status != 202 {
			t.Fatalf("change address: got %d %s", r.Status, r.Body)
		}
		if r := askReset(t, s, "alice"); r.Status != 202 {
			t.Fatalf("ask for a reset: got %d %s", r.Status, r.Body)
		}
		s.Service.Wait()
		outboxFailed(t, s)
		if r := c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}); r.Status != 204 {
			t.Fatalf("close the account: got %d %s", r.Status, r.Body)
		}
		s.Service.Wait()
		mb.FailNext(0) // back up
		outboxEmptied(t, s)
		got := subjects(t, mb)
		closed := false
		for _, subject := range got {
			if strings.Contains(subject, "confirm your new email address") || strings.Contains(subject, "reset your password") {
				t.Errorf("a mail whose code or link the closure voided was sent: %q", subject)
			}
			closed = closed || strings.Contains(subject, "your account was closed")
		}
		if !closed {
			t.Errorf("mails sent: %q; want the notice of the closure", got)
		}
	})
}

// TestReplacedCodeMailNotSent: of two codes mailed to a new email factor
// while the mail server was down, only the newer one, the one that works,
// is sent; and once it is used, a code mail still waiting is dropped too.
func TestReplacedCodeMailNotSent(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "bea")
		c := login(t, s, "bea")
		mb.FailNext(1000)
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email", "email": "bea@factor.example"})
		if r.Status != 201 {
			t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		outboxFailed(t, s)
		if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/challenge", nil); r.Status != 202 {
			t.Fatalf("send another code: got %d %s", r.Status, r.Body)
		}
		outboxFailed(t, s)
		mb.FailNext(0)
		outboxEmptied(t, s)
		if got := subjects(t, mb); len(got) != 1 {
			t.Fatalf("mails sent: %q; want the newer code only", got)
		}
		code, _ := codeMail(t, mb, 1)
		if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm with the code sent: got %d %s", r.Status, r.Body)
		}
	})
}

// TestCodeMailRecipientSealed: the outbox holds the address of an email
// factor a code goes to only sealed, as the factor's row does; the mail
// still reaches it.
func TestCodeMailRecipientSealed(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "cy")
		c := login(t, s, "cy")
		const addr = "cy.private@factor.example"
		mb.FailNext(1000)
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email", "email": addr}); r.Status != 201 {
			t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
		}
		outboxFailed(t, s)
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range out {
			if strings.Contains(m.To, "cy.private") || strings.Contains(m.LastError, "cy.private") {
				t.Errorf("the outbox holds the factor's address in the clear: mail %d to %q, last error %q", m.ID, m.To, m.LastError)
			}
			if m.BodyKeyID != "" && (m.ToKeyID == "" || len(m.SealedTo) == 0) {
				t.Errorf("code mail %d has no sealed recipient", m.ID)
			}
		}
		if s.DBPath != "" {
			var db []byte
			for _, suffix := range []string{"", "-wal"} {
				b, err := os.ReadFile(s.DBPath + suffix)
				if err != nil && !os.IsNotExist(err) {
					t.Fatal(err)
				}
				db = append(db, b...)
			}
			if bytes.Contains(db, []byte("cy.private")) {
				t.Errorf("the database file holds the email factor's address in the clear")
			}
		}
		mb.FailNext(0)
		outboxEmptied(t, s)
		if msgs := mb.Messages(); len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != addr {
			t.Errorf("code mail: got %d messages; want one, to %s", len(msgs), addr)
		}
	})
}

// TestResetMailNotSentAfterSuspension: an operator's suspension voids a
// waiting password-reset link, and its mail, which the mail server was
// down for, is not sent after it; the notice of the suspension is.
func TestResetMailNotSentAfterSuspension(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, mb := f.s, f.mailbox
		s.Service.Wait()
		outboxEmptied(t, s) // the fixture's notices
		before := len(mb.Messages())
		mb.FailNext(1000)
		if r := askReset(t, s, "dave"); r.Status != 202 {
			t.Fatalf("ask for a reset: got %d %s", r.Status, r.Body)
		}
		s.Service.Wait()
		outboxFailed(t, s)
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		s.Service.Wait()
		mb.FailNext(0)
		outboxEmptied(t, s)
		got := subjects(t, mb)[before:]
		suspended := false
		for _, subject := range got {
			if strings.Contains(subject, "reset your password") {
				t.Errorf("the mail of a link the suspension voided was sent: %q", subject)
			}
			suspended = suspended || strings.Contains(subject, "your account was suspended")
		}
		if !suspended {
			t.Errorf("mails sent: %q; want the notice of the suspension", got)
		}
	})
}
