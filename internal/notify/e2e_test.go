package notify_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestServerNotifies runs a real server with --smtp-addr pointing at a real
// SMTP listener that requires AUTH: confirming a factor over HTTP, and then
// logging in with a recovery code, each put a message in the account
// holder's mailbox.
func TestServerNotifies(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		mailbox := testenv.NewSMTPServer(t, testenv.SMTPAuth("twofold", "mail password"))
		s := testenv.NewServer(t, dsn, mailbox.Option("Twofold <twofold@example.com>"))
		const password = "correct horse battery"
		if _, err := s.Service.CreateAccount(t.Context(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: password}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		c := testenv.NewClient(s.URL())
		r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": password})
		if r.Status != 200 {
			t.Fatalf("login: got %d %s", r.Status, r.Body)
		}
		c.Token = r.String("token")
		r = c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		id := r.JSON["factor"].(map[string]any)["id"].(string)
		code := testenv.TOTP(t, r.String("secret"), s.Clock.Now())
		r = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code})
		if r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		recovery := r.JSON["recovery_codes"].([]any)[0].(string)

		got := mailbox.Wait(t, 1, time.Minute)[0]
		msg, subject, body := parse(t, got)
		if strings.Join(got.To, ",") != "alice@example.com" || got.User != "twofold" || got.From != "twofold@example.com" {
			t.Errorf("envelope: got RCPT TO %q as %q from %q, want alice@example.com as twofold from twofold@example.com", got.To, got.User, got.From)
		}
		if msg.Header.Get("From") != `"Twofold" <twofold@example.com>` || msg.Header.Get("Auto-Submitted") != "auto-generated" {
			t.Errorf("headers: got From %q, Auto-Submitted %q", msg.Header.Get("From"), msg.Header.Get("Auto-Submitted"))
		}
		if !strings.HasPrefix(subject, "Twofold: ") || !strings.Contains(body, `"phone"`) {
			t.Errorf("factor confirmed: got subject %q, body %q; want the issuer and the factor's label", subject, body)
		}
		if strings.Contains(body, code) || strings.Contains(body, recovery) {
			t.Error("the message carries a code")
		}

		r = c.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": password})
		if r.String("status") != "second_factor_required" {
			t.Fatalf("login: got %d %s, want second_factor_required", r.Status, r.Body)
		}
		r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "recovery_code", "code": recovery})
		if r.Status != 200 {
			t.Fatalf("verify with a recovery code: got %d %s", r.Status, r.Body)
		}
		_, subject, body = parse(t, mailbox.Wait(t, 2, time.Minute)[1])
		if !strings.Contains(subject, "recovery code") || !strings.Contains(body, "9 recovery codes left") {
			t.Errorf("recovery code used: got subject %q, body %q; want the count left", subject, body)
		}
	})
}

// TestRecoveryCodesRunningLow: each login with a recovery code tells the
// owner how many are left, and from three left on warns them to make a new
// set (SPEC §1 story 4), and so does the answer to the second step; GET
// /v1/me shows the same count.
func TestRecoveryCodesRunningLow(t *testing.T) {
	mailbox := testenv.NewSMTPServer(t)
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), mailbox.Option("Twofold <twofold@example.com>"))
	const password = "correct horse battery"
	if _, err := s.Service.CreateAccount(t.Context(), core.NewAccount{Username: "ivy", Email: "ivy@example.com", Password: password}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClient(s.URL())
	c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password}).String("token")
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
	id := r.JSON["factor"].(map[string]any)["id"].(string)
	r = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": testenv.TOTP(t, r.String("secret"), s.Clock.Now())})
	if r.Status != 200 {
		t.Fatalf("confirm: got %d %s", r.Status, r.Body)
	}
	codes := r.JSON["recovery_codes"].([]any)
	mailbox.Wait(t, 1, time.Minute) // the confirmation's message

	for i := range 7 {
		r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password})
		r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "recovery_code", "code": codes[i].(string)})
		if r.Status != 200 {
			t.Fatalf("recovery code %d: got %d %s", i+1, r.Status, r.Body)
		}
		left := len(codes) - i - 1
		// The answer shows the count, and warns from 3 left on.
		if got := r.JSON["recovery_codes_remaining"]; got != float64(left) {
			t.Errorf("after %d used: the answer says %v left, want %d", i+1, got, left)
		}
		if warned := strings.Contains(r.String("warning"), "generate a new set"); warned != (left <= 3) {
			t.Errorf("with %d left: the answer warned %v, want %v (%s)", left, warned, left <= 3, r.Body)
		}
		_, _, body := parse(t, mailbox.Wait(t, i+2, time.Minute)[i+1])
		// "You have 9 recovery codes left.", from 3 on "Only 3 recovery codes are left: …".
		if !strings.Contains(body, fmt.Sprintf("%d recovery codes left", left)) && !strings.Contains(body, fmt.Sprintf("Only %d recovery codes are left", left)) {
			t.Errorf("after %d used: message %q lacks the count left", i+1, body)
		}
		if warned := strings.Contains(body, "generate a new set"); warned != (left <= 3) {
			t.Errorf("with %d left: warned %v, want %v (%q)", left, warned, left <= 3, body)
		}
	}
	c.Token = ""
	r = c.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password})
	r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "recovery_code", "code": codes[9].(string)})
	c.Token = r.String("token")
	me := c.Do(t, "GET", "/v1/me", nil)
	if got := me.JSON["two_factor"].(map[string]any)["recovery_codes_remaining"]; got != float64(2) {
		t.Errorf("GET /v1/me: %v recovery codes remaining, want 2", got)
	}
}
