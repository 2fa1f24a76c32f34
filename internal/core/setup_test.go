package core_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOneSetupLinkAtATime: of two starts on one database without accounts
// (two instances, or a restart), only the one that makes the first-run
// setup token gets it; the other is told until when that link works, with
// no secret of its own. Once that link is outdated, the next start makes a
// new one; once an account exists, none. On SQLite and PostgreSQL.
func TestOneSetupLinkAtATime(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC))
			first := newService(t, db.Store, db, clock.Now, nil)
			second := newService(t, db.Store, db, clock.Now, nil)
			made := clock.Now()
			token, until, err := first.NewSetupToken(ctx)
			if err != nil || token == "" || !until.IsZero() {
				t.Fatalf("first start: token %q, pending until %v, %v; want a token", token, until, err)
			}
			clock.Add(time.Minute)
			again, until, err := second.NewSetupToken(ctx)
			if err != nil || again != "" || !until.Equal(made.Add(core.SetupTTL)) {
				t.Fatalf("second start: token %q, pending until %v, %v; want none, pending until %v", again, until, err, made.Add(core.SetupTTL))
			}
			if err := second.CheckSetupToken(ctx, token); err != nil {
				t.Errorf("the first start's link on the second: %v", err)
			}

			clock.Add(core.SetupTTL)
			fresh, until, err := second.NewSetupToken(ctx)
			if err != nil || fresh == "" || !until.IsZero() {
				t.Fatalf("a start a day later: token %q, pending until %v, %v; want a new token", fresh, until, err)
			}
			if _, err := second.CompleteSetup(ctx, fresh, core.NewAccount{Username: "root", Password: testPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if token, until, err := first.NewSetupToken(ctx); err != nil || token != "" || !until.IsZero() {
				t.Errorf("a start once an account exists: token %q, pending until %v, %v; want neither", token, until, err)
			}
		})
	}
}
