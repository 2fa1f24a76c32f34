package core_test

import (
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestLaterFactorNeedsElevationInItsTransaction: on an account with no
// factor yet, a session without a second-factor check (a thief's, with the
// password) confirming its own setup while the owner confirms hers (after
// the thief's request read "no factor", before its transaction) adds no
// factor and elevates nothing: the owner's is the first, and a later
// factor needs an elevated session, asked again once the account's row is
// held. On SQLite and PostgreSQL.
func TestLaterFactorNeedsElevationInItsTransaction(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db, clock, _, _ := mailingService(t, dsn(t), nil)
			j := &joinWhileRead{testDB: db}
			svc := newServiceOpts(t, j, db, core.Options{Config: cheapConfig(), Now: clock.Now})
			owner := signedIn(t, svc, "ann")
			thief := signInAgain(t, svc, "ann")
			mine, err := svc.EnrolFactor(ctx, owner, core.NewFactor{Type: "totp", Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			theirs, err := svc.EnrolFactor(ctx, thief, core.NewFactor{Type: "totp", Label: "evil"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			j.join = func() {
				if _, err := svc.ConfirmFactor(ctx, owner, mine.Factor.ID, testenv.TOTP(t, mine.Secret, clock.Now()), core.Meta{}); err != nil {
					t.Errorf("the owner confirms hers: %v", err)
				}
			}
			j.armed.Store(true)
			_, err = svc.ConfirmFactor(ctx, thief, theirs.Factor.ID, testenv.TOTP(t, theirs.Secret, clock.Now()), core.Meta{})
			if j.armed.Load() {
				t.Fatal("no transaction began after the thief's check (the premise)")
			}
			if twofold.ErrorCode(err) != twofold.CodeElevationRequired {
				t.Errorf("the thief's confirmation: %v, want elevation-required", err)
			}
			fs, err := db.Store.Factors(ctx, owner.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fs {
				if want := map[string]twofold.FactorStatus{mine.Factor.ID: twofold.FactorActive, theirs.Factor.ID: twofold.FactorPending}[f.ID]; f.Status != want {
					t.Errorf("factor %s (%s) is %s, want %s", f.ID, f.Label, f.Status, want)
				}
			}
			if sess, err := db.Store.Session(ctx, thief.Session.ID, clock.Now()); err != nil || sess.ElevatedUntil.After(clock.Now()) {
				t.Errorf("the thief's session: elevated until %v (%v), want not elevated", sess.ElevatedUntil, err)
			}
		})
	}
}
