package httpapi_test

import (
	"bytes"
	"context"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// codeMail waits until the mailbox holds n messages and returns the code in
// the newest one whose subject says it carries a code, with its body.
func codeMail(t *testing.T, mb *testenv.SMTPServer, n int) (code, body string) {
	t.Helper()
	msgs := mb.Wait(t, n, time.Minute)
	for i := len(msgs) - 1; i >= 0; i-- {
		if subject, b := mailText(t, msgs[i]); strings.Contains(subject, "your code") {
			if c := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(b); c != "" {
				return c, b
			}
		}
	}
	t.Fatalf("no code mail among %d messages", len(msgs))
	return "", ""
}

// withEmailFactor adds the user name on s, whose mail goes to mb (empty
// until then), signs in, and adds an email factor confirmed with the code
// mailed to the account's address. It returns the session, the factor's
// id, the answer to the confirmation and the count of messages mailed by
// then: the code and the notice of a new authenticator.
func withEmailFactor(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer, name string) (c *testenv.Client, id string, confirmed testenv.Response, mailed int) {
	t.Helper()
	addUser(t, s, name)
	c = login(t, s, name)
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
	if r.Status != 201 {
		t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
	}
	id = r.JSON["factor"].(map[string]any)["id"].(string)
	code, _ := codeMail(t, mb, 1)
	if confirmed = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code}); confirmed.Status != 200 {
		t.Fatalf("confirm: got %d %s", confirmed.Status, confirmed.Body)
	}
	return c, id, confirmed, len(mb.Wait(t, 2, time.Minute))
}

// TestEmailCodeStory: an email factor is confirmed, passes the second step
// and elevates with codes sent over SMTP through the outbox, which never
// holds a code in the clear.
func TestEmailCodeStory(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "eve")
		c := login(t, s, "eve")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
		if r.Status != 201 || r.String("code_sent_to") != "e•••@example.com" {
			t.Fatalf("enrol email: got %d %s, want 201 sent to e•••@example.com", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		code, body := codeMail(t, mb, 1)
		if !strings.Contains(body, "to add this authenticator") {
			t.Errorf("confirmation mail does not say what the code is for:\n%s", body)
		}
		if msgs := mb.Messages(); len(msgs[0].To) != 1 || msgs[0].To[0] != "eve@example.com" {
			t.Errorf("code mail went to %v, want eve@example.com", msgs[0].To)
		}
		if out, err := s.Store.Outbox(context.Background()); err != nil {
			t.Fatal(err)
		} else {
			for _, m := range out {
				if strings.Contains(m.Body, code) || m.BodyKeyID == "" && strings.Contains(m.Subject, "your code") {
					t.Errorf("the outbox holds a code mail in the clear: %+v", m)
				}
			}
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": otherCode(code)}), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		n := len(mb.Wait(t, 2, time.Minute)) // and the notice of a new authenticator

		loginID, lr := startLogin(t, s, "eve")
		if m := lr.JSON["methods"].([]any)[0].(map[string]any); m["method"] != "email" || m["destination"] != "e•••@example.com" {
			t.Errorf("methods %v, want the email factor, masked", lr.JSON["methods"])
		}
		if r := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id}); r.Status != 202 {
			t.Fatalf("challenge: got %d %s", r.Status, r.Body)
		}
		code, body = codeMail(t, mb, n+1)
		if !strings.Contains(body, "to sign in") {
			t.Errorf("login mail does not say what the code is for:\n%s", body)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "sms", "code": code}), 401, "invalid-code")
		v := verify(t, s, loginID, map[string]string{"method": "email", "factor_id": id, "code": code})
		if v.Status != 200 {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		if r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "email", "factor_id": id}); r.Status != 202 {
			t.Fatalf("elevate challenge: got %d %s", r.Status, r.Body)
		}
		code, _ = codeMail(t, mb, n+2)
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "email", "code": code}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		// A second address that masks like the first gets a numbered name,
		// not a conflict over a name eve never chose.
		r = c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email", "email": "ed@example.com"})
		if r.Status != 201 || r.JSON["factor"].(map[string]any)["label"] != "e•••@example.com (2)" {
			t.Errorf("second email factor without a name: got %d %s, want 201 named e•••@example.com (2)", r.Status, r.Body)
		}
		// Its address is not proven yet: the code mail does not say whose
		// account it is being added to.
		if _, body := mailTo(t, mb, n+3, "ed@example.com"); regexp.MustCompile(`\beve\b`).MatchString(body) {
			t.Errorf("the code mail to an unproven address names the account:\n%s", body)
		}
		if s.DBPath == "" {
			return
		}
		var db []byte
		for _, suffix := range []string{"", "-wal"} {
			b, err := os.ReadFile(s.DBPath + suffix)
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			db = append(db, b...)
		}
		if strings.Trim(code, "234567") != "" && bytes.Contains(db, []byte(code)) {
			t.Errorf("the database file holds a code that was mailed")
		}
	})
}

// TestEmailCodeDroppedWhenExpired: a code mail that could not be sent
// before its code expired is dropped, not sent late.
func TestEmailCodeDroppedWhenExpired(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	addUser(t, s, "fay")
	c := login(t, s, "fay")
	mb.FailNext(1)
	if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email", "email": "fay@example.org"}); r.Status != 201 {
		t.Fatalf("enrol: got %d %s", r.Status, r.Body)
	}
	// Polling for events (the refused delivery, the worker's next round),
	// never waiting for a time step: the test clock moves.
	deadline := time.Now().Add(time.Minute)
	for mb.Deliveries() < 1 {
		if time.Now().After(deadline) {
			t.Fatal("the code mail was never tried")
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Clock.Add(11 * time.Minute) // past the code's expiry and the retry's due time
	for {
		out, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the expired code mail is still queued: %+v", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(mb.Messages()); n != 0 {
		t.Errorf("an expired code mail was sent: %d messages", n)
	}
}

// TestEmailCodesNeedMail: on a server that sends no mail (no SMTP server)
// an email factor cannot be added: its confirmation code would reach
// nobody, and the factor would wait for ever. Nothing is stored.
func TestEmailCodesNeedMail(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "eve")
		c := login(t, s, "eve")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"}), 503, "unavailable")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email", "email": "x@example.com"}), 503, "unavailable")
		if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 200 || len(r.JSON["factors"].([]any)) != 0 {
			t.Errorf("after refused enrolments: got %d %s, want no factors", r.Status, r.Body)
		}
	})
}

// TestEmailUnqueuedResendKeepsCode: a new code whose mail cannot be queued
// (the database refuses the outbox row) leaves the code mailed before
// working.
func TestEmailUnqueuedResendKeepsCode(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		_, id, _, n := withEmailFactor(t, s, mb, "uli")
		loginID, _ := startLogin(t, s, "uli")
		ch := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id})
		if ch.Status != 202 {
			t.Fatalf("challenge: got %d %s", ch.Status, ch.Body)
		}
		first, _ := codeMail(t, mb, n+1)

		// The outbox refuses rows, as a full disk or a broken table would.
		db := s.Store.Pools()["pool"]
		if s.Store.Dialect() == store.SQLite {
			db = s.Store.Pools()["writer"]
		}
		refuse := []string{`CREATE TRIGGER outbox_refuses BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox refuses'); END`}
		allow := []string{`DROP TRIGGER outbox_refuses`}
		if s.Store.Dialect() == store.Postgres {
			refuse = []string{`CREATE FUNCTION outbox_refuses() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'outbox refuses'; END $$`,
				`CREATE TRIGGER outbox_refuses BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_refuses()`}
			allow = []string{`DROP TRIGGER outbox_refuses ON outbox`}
		}
		for _, q := range refuse {
			if _, err := db.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id, "code_secret": ch.String("code_secret")}), 500, "internal")
		for _, q := range allow {
			if _, err := db.ExecContext(t.Context(), q); err != nil {
				t.Fatal(err)
			}
		}
		if v := verify(t, s, loginID, map[string]string{"method": "email", "factor_id": id, "code": first}); v.Status != 200 {
			t.Fatalf("the code mailed before the unqueued one: got %d %s, want 200", v.Status, v.Body)
		}
	})
}
