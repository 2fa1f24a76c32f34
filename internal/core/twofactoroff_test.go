package core_test

import (
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestTwoFactorOffTurnedOnMeanwhile: a session not elevated, whose account
// was read with two-factor login off, cannot turn it off once it was turned
// on meanwhile (by confirming a factor in another request): turning it off
// while it is on needs a fresh second factor, whatever the caller read.
// From an elevated session it goes off, once: asked again, nothing changes,
// nothing more is audited, and the holder is told once.
func TestTwoFactorOffTurnedOnMeanwhile(t *testing.T) {
	const off = turnedOffMail
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, mails, svc := mailedService(t, dsn(t))
			plain := signedIn(t, svc, "bob")
			elevated := withFactor(t, svc, plain) // turns it on
			if plain.Account.TwoFactorRequired {
				t.Fatal("fixture: the password-only session read two-factor login on")
			}
			required := func() bool {
				a, err := st.Store.AccountByID(ctx, plain.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				return a.TwoFactorRequired
			}
			if !required() {
				t.Fatal("fixture: confirming the factor did not turn two-factor login on")
			}
			changed, err := svc.SetTwoFactorRequired(ctx, plain, false, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeElevationRequired || changed || !required() {
				t.Fatalf("off from the session not elevated: changed %v, %v, still on %v; want %s and on", changed, err, required(), twofold.CodeElevationRequired)
			}
			if mails.has("bob@example.com", off) {
				t.Fatal("bob was told two-factor login went off, and it did not")
			}
			for i, want := range []bool{true, false} {
				changed, err := svc.SetTwoFactorRequired(ctx, elevated, false, core.Meta{})
				if err != nil || changed != want || required() {
					t.Fatalf("off from the elevated session, %d: changed %v, %v, still on %v; want changed %v and off", i+1, changed, err, required(), want)
				}
			}
			if n := eventCount(t, st, plain.Account.ID, "two_factor.not_required"); n != 1 {
				t.Errorf("two_factor.not_required events: %d, want 1", n)
			}
			if n := mails.count("bob@example.com: " + off); n != 1 {
				t.Errorf("bob was told %d times that two-factor login went off, want once; mails: %q", n, mails.sent)
			}
		})
	}
}
