package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSignInCodeMailVoidedWithItsLogin: a sign-in code mailed to an email
// factor while the mail server was down is not sent once a suspension or a
// change of password voided the login it was for: the login is gone, and
// so is its code, so the outbox drops the mail unsent.
func TestSignInCodeMailVoidedWithItsLogin(t *testing.T) {
	for _, how := range []string{"suspension", "password change"} {
		t.Run(strings.ReplaceAll(how, " ", "-"), func(t *testing.T) {
			eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
				ctx := context.Background()
				if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "carol", Password: password, Operator: true}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				opc := login(t, s, "carol")
				opPhone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
				if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": opPhone.paperKey}); r.Status != 200 {
					t.Fatalf("elevate: got %d %s", r.Status, r.Body)
				}
				addUser(t, s, "erin")
				c := login(t, s, "erin")
				r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
				if r.Status != 201 {
					t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
				}
				id := r.JSON["factor"].(map[string]any)["id"].(string)
				code, _ := codeMail(t, mb, 1)
				r = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code})
				if r.Status != 200 {
					t.Fatalf("confirm: got %d %s", r.Status, r.Body)
				}
				paperKey := r.String("paper_key")
				s.Service.Wait()
				outboxEmptied(t, s)
				before := len(mb.Messages())

				mb.FailNext(1000) // the mail server is down
				loginID, _ := startLogin(t, s, "erin")
				if r := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": id}); r.Status != 202 {
					t.Fatalf("challenge: got %d %s", r.Status, r.Body)
				}
				outboxFailed(t, s)
				a, err := s.Store.AccountByUsername(ctx, "erin")
				if err != nil {
					t.Fatal(err)
				}
				if how == "suspension" {
					if r := opc.Do(t, "POST", "/v1/admin/users/"+a.ID+"/suspend", nil); r.Status != 200 {
						t.Fatalf("suspend: got %d %s", r.Status, r.Body)
					}
				} else {
					s.Clock.Add(time.Second)
					if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": paperKey}); r.Status != 200 {
						t.Fatalf("elevate: got %d %s", r.Status, r.Body)
					}
					if r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": "a wholly different passphrase"}); r.Status != 200 {
						t.Fatalf("change password: got %d %s", r.Status, r.Body)
					}
				}
				s.Service.Wait()
				mb.FailNext(0) // back up
				outboxEmptied(t, s)
				got := subjects(t, mb)[before:]
				for _, subject := range got {
					if strings.Contains(subject, "your code") {
						t.Errorf("a sign-in code the %s voided was mailed: %q (all: %q)", how, subject, got)
					}
				}
				if len(got) == 0 {
					t.Errorf("mails sent: none; want the notice of the %s", how)
				}
			})
		})
	}
}
