package core_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// acceptingCodeMail takes every code mail and sends nothing.
type acceptingCodeMail struct{}

func (acceptingCodeMail) EnqueueCode(context.Context, string, string, string, twofold.MailedCode, time.Time) error {
	return nil
}

// TestEnrolmentSendLimitPerAccount: an account that keeps adding and
// removing a stranger's phone number or address, or asking for its
// confirmation code again, uses up only its own allowance for it: the
// owner still adds it. Many accounts together still meet the number's
// bound across accounts, against SMS pumping. On SQLite and PostgreSQL.
func TestEnrolmentSendLimitPerAccount(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 3, 9, 0, 0, 0, time.UTC)
			cfg := cheapConfig()
			cfg.MailSent = true
			svc := newServiceOpts(t, db, db, core.Options{Config: cfg, Now: func() time.Time { return now }, Texts: &countingTexts{}, CodeMail: acceptingCodeMail{}})
			limits := core.DefaultSendLimits()
			for _, tc := range []struct {
				name string
				new  core.NewFactor
			}{
				{"sms", core.NewFactor{Type: twofold.FactorSMS, Phone: "+44 7400 123456"}},
				{"email", core.NewFactor{Type: twofold.FactorEmail, Email: "shared@example.org"}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					user := func(n string) string { return tc.name + n }
					// bob adds and removes the number until his own
					// allowance for it is spent.
					bob := signedIn(t, svc, user("bob"))
					for i := range limits.PerDestination.Burst {
						e, err := svc.EnrolFactor(ctx, bob, tc.new, core.Meta{})
						if err != nil {
							t.Fatalf("bob's enrolment %d: %v", i, err)
						}
						if err := svc.DeleteFactor(ctx, bob, e.Factor.ID, core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
					if _, err := svc.EnrolFactor(ctx, bob, tc.new, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeThrottled {
						t.Fatalf("bob past his allowance for the number: got %v, want throttled", err)
					}
					// alice, the owner, adds it and has its code sent again.
					alice := signedIn(t, svc, user("alice"))
					e, err := svc.EnrolFactor(ctx, alice, tc.new, core.Meta{})
					if err != nil {
						t.Fatalf("the owner adds the number another account spent its allowance on: %v, want it added", err)
					}
					if _, err := svc.ResendConfirmation(ctx, alice, e.Factor.ID, "", core.Meta{}); err != nil {
						t.Fatalf("the owner's confirmation code sent again: %v", err)
					}
					// Accounts together: bob's 5 and alice's 2 so far;
					// more accounts, each within its own allowance, until
					// the number's bound across accounts is met.
					sent := limits.PerDestination.Burst + 2
					for i := 0; sent < limits.Enrolments.Burst; i++ {
						a := signedIn(t, svc, user(fmt.Sprintf("other%d", i)))
						e, err := svc.EnrolFactor(ctx, a, tc.new, core.Meta{})
						if err != nil {
							t.Fatalf("account %d adds the number with %d codes sent to it: %v", i, sent, err)
						}
						sent++
						for j := 1; j < limits.PerDestination.Burst && sent < limits.Enrolments.Burst; j++ {
							if _, err := svc.ResendConfirmation(ctx, a, e.Factor.ID, "", core.Meta{}); err != nil {
								t.Fatalf("account %d's code %d with %d codes sent to the number: %v", i, j, sent, err)
							}
							sent++
						}
					}
					late := signedIn(t, svc, user("late"))
					_, err = svc.EnrolFactor(ctx, late, tc.new, core.Meta{})
					if twofold.ErrorCode(err) != twofold.CodeThrottled {
						t.Fatalf("an account adding the number after %d codes to it from many accounts: got %v, want throttled", sent, err)
					}
					if _, err := svc.ResendConfirmation(ctx, alice, e.Factor.ID, "", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeThrottled {
						t.Fatalf("the owner's code again after the number's bound: got %v, want throttled", err)
					}
				})
			}
		})
	}
}
