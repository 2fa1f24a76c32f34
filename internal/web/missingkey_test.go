package web_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSecurityPageAppWithMissingKey: an app whose secret is sealed under a
// data key this instance cannot read (a key file behind a rotation) is
// shown on the sign-in's second step as unusable, and on the security page
// by its name, marked unusable with the reason; a recovery code signs in.
// Over plain HTTP, on SQLite and PostgreSQL.
func TestSecurityPageAppWithMissingKey(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "ulf", false, false)
			res, err := ts.Service.Login(ctx, "ulf", testPassword, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := ts.Service.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "old phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			conf, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := ts.Store.DataKeys(ctx)
			if err != nil || len(keys) == 0 {
				t.Fatalf("data keys: %v %v", keys, err)
			}
			gone := keyring.WrappedKey{ID: "dgone", MasterID: "mgone", Wrapped: keys[0].Wrapped, Created: keys[0].Created}
			if err := ts.Store.AddDataKey(ctx, gone); err != nil {
				t.Fatal(err)
			}
			db := ts.Store.Pools()["writer"]
			if db == nil {
				db = ts.Store.Pools()["pool"]
			}
			if _, err := db.ExecContext(ctx, `UPDATE factors SET secret_key_id = $1 WHERE id = $2`, gone.ID, e.Factor.ID); err != nil {
				t.Fatal(err)
			}

			c := signInPastUnusable(t, ts, "ulf", "the app", e.Factor.ID, conf.RecoveryCodes[0])
			wantMarkedUnusable(t, c, "the app", "old phone", "cannot read")
		})
	}
}
