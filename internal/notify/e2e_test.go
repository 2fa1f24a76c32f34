package notify_test

import (
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

		got := mailbox.Wait(t, 1, 10*time.Second)[0]
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
		_, subject, body = parse(t, mailbox.Wait(t, 2, 10*time.Second)[1])
		if !strings.Contains(subject, "recovery code") || !strings.Contains(body, "9 recovery codes left") {
			t.Errorf("recovery code used: got subject %q, body %q; want the count left", subject, body)
		}
	})
}
