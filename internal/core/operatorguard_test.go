package core_test

import (
	"context"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOperatorMadeMeanwhileIsNotSuspendedOrDeleted: an account made an
// operator (from the command line) after another operator's suspension or
// deletion of it looked and before its transaction is neither suspended
// nor deleted: the rule is checked again under the row's lock, 403 as at
// the first look, nothing written, on either store.
func TestOperatorMadeMeanwhileIsNotSuspendedOrDeleted(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			m := newMeddled(t, dsn(t), meddling, false)
			db, ms, clock, svc := m.db, m.store, m.clock, m.svc
			op := withTOTP(t, svc, clock, signedInAs(t, svc, core.NewAccount{Username: "olga", Email: "olga@example.com", Operator: true}))
			op.Session.ElevatedUntil = clock.Now().Add(time.Hour)
			ctx = core.WithCaller(ctx, op)

			for _, tt := range []struct {
				name  string
				write func(ctx context.Context, id string) error
			}{
				{"suspend", func(ctx context.Context, id string) error {
					_, _, err := svc.SetSuspended(ctx, op, id, true, core.Meta{})
					return err
				}},
				{"delete", func(ctx context.Context, id string) error {
					return svc.DeleteAccountFor(ctx, op, id, core.Meta{})
				}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					target := signedIn(t, svc, "target"+tt.name)
					ms.arm(func(ctx context.Context) error {
						_, err := db.SetOperator(ctx, target.Account.ID, true)
						return err
					})
					if err := tt.write(ctx, target.Account.ID); twofold.ErrorCode(err) != twofold.CodeForbidden {
						t.Fatalf("%s of an account made an operator meanwhile: %v, want forbidden", tt.name, err)
					}
					a, err := db.AccountByID(ctx, target.Account.ID)
					if err != nil {
						t.Fatalf("the account after a refused %s: %v", tt.name, err)
					}
					if !a.Operator || a.Suspended {
						t.Errorf("the account after a refused %s: operator %v, suspended %v; want an operator, not suspended", tt.name, a.Operator, a.Suspended)
					}
				})
			}
		})
	}
}
