package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// nthMailTo waits for the nth message to address whose subject contains
// subject, and returns its body; it fails the test when none comes.
func nthMailTo(t *testing.T, mb *testenv.SMTPServer, address, subject string, nth int) string {
	t.Helper()
	for n := 1; ; n++ {
		seen := 0
		for _, m := range mb.Wait(t, n, time.Minute) {
			if s, body := mailText(t, m); slices.Contains(m.To, address) && strings.Contains(s, subject) {
				if seen++; seen == nth {
					return body
				}
			}
		}
	}
}

// TestResetToldToAddressOperatorReplaced: "I lost my phone and my mailbox,
// my new address is …". An operator changes the address, then asks for a
// reset of two-factor: the address replaced hears of the reset (asked for,
// cancelled, carried out) with how to stop it, so that whoever talked the
// operator into both must still get past the real holder; the operator's
// answer says the address was changed recently. The address is kept for
// ReplacedEmailKeep, then goes.
func TestResetToldToAddressOperatorReplaced(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, ctx := f.s, context.Background()
		const old, evil = "dave@example.com", "dave@evil.example"
		if r := f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": evil}); r.Status != 200 {
			t.Fatalf("change of address: got %d %s", r.Status, r.Body)
		}
		if body := nthMailTo(t, f.mailbox, old, "your email address was changed", 1); !strings.Contains(body, "reset of two-factor") {
			t.Errorf("the notice of the change to the old address does not say resets are still told there:\n%s", body)
		}
		changed := s.Clock.Now()

		s.Clock.Add(time.Minute)
		r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil)
		if r.Status != 200 || r.String("email_changed_by_operator_at") != changed.UTC().Format(time.RFC3339) || r.JSON["former_addresses_told"] != float64(1) || r.String("warning") == "" {
			t.Fatalf("reset: got %d %s, want it to say the address was changed by an operator at %s", r.Status, r.Body, changed.UTC().Format(time.RFC3339))
		}
		nthMailTo(t, f.mailbox, evil, "a reset of your two-factor was requested", 1)
		body := nthMailTo(t, f.mailbox, old, "a reset of your two-factor was requested", 1)
		for _, want := range []string{"until an operator changed it to d•••@evil.example", "withdraws the reset", "cancel it on your security page", "set your address back"} {
			if !strings.Contains(body, want) {
				t.Errorf("the notice of the reset to the replaced address lacks %q:\n%s", want, body)
			}
		}
		if r := f.opc.Do(t, "DELETE", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 204 {
			t.Fatalf("cancel: got %d %s", r.Status, r.Body)
		}
		nthMailTo(t, f.mailbox, old, "the reset of your two-factor was cancelled", 1)

		// Asked for again, and carried out when due: told both times.
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 200 {
			t.Fatalf("reset again: got %d %s", r.Status, r.Body)
		}
		nthMailTo(t, f.mailbox, old, "a reset of your two-factor was requested", 2)
		s.Clock.Add(time.Hour)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if body := nthMailTo(t, f.mailbox, old, "two-factor on your account was reset", 1); !strings.Contains(body, "password-reset links") {
			t.Errorf("the notice of the reset carried out, to the replaced address:\n%s", body)
		}

		// Past the keep the address goes.
		s.Clock.Add(31 * 24 * time.Hour)
		if err := s.Service.Sweep(ctx); err != nil {
			t.Fatal(err)
		}
		if rs, err := s.Store.ReplacedEmails(ctx, f.userID, time.Time{}); err != nil || len(rs) != 0 {
			t.Errorf("replaced addresses past the keep: got %v, %v; want none", rs, err)
		}
	})
}

// TestSuspensionToldToAddressOperatorReplaced: a suspension cancels the
// reset of two-factor that waits; the address an operator replaced, which
// was told of the reset, hears that the suspension cancelled it, as the
// account's address does, and not to sign in (nobody can while it lasts).
func TestSuspensionToldToAddressOperatorReplaced(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		const old, evil = "dave@example.com", "dave@evil.example"
		if r := f.opc.Do(t, "PATCH", "/v1/admin/users/"+f.userID, map[string]string{"email": evil}); r.Status != 200 {
			t.Fatalf("change of address: got %d %s", r.Status, r.Body)
		}
		s.Clock.Add(time.Minute)
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/two-factor-reset", nil); r.Status != 200 {
			t.Fatalf("reset: got %d %s", r.Status, r.Body)
		}
		nthMailTo(t, f.mailbox, old, "a reset of your two-factor was requested", 1)
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		if body := nthMailTo(t, f.mailbox, evil, "your account was suspended", 1); !strings.Contains(body, "reset of your two-factor") {
			t.Errorf("the account's address is not told of the reset cancelled:\n%s", body)
		}
		body := nthMailTo(t, f.mailbox, old, "the reset of your two-factor was cancelled", 1)
		for _, want := range []string{"until an operator changed it to d•••@evil.example", "suspended the account", "set your address back"} {
			if !strings.Contains(body, want) {
				t.Errorf("the notice of the cancelled reset to the replaced address lacks %q:\n%s", want, body)
			}
		}
		if strings.Contains(body, "sign in,") {
			t.Errorf("the notice tells the replaced address to sign in to a suspended account:\n%s", body)
		}
	})
}
