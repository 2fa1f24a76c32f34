package core_test

import (
	"bytes"
	"database/sql"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// writer returns the store's pool that writes, for a test that sets rows as
// an older version left them.
func writer(db testDB) *sql.DB {
	ps := db.Pools()
	if w, ok := ps["writer"]; ok {
		return w
	}
	return ps["pool"]
}

// TestTokenDigestBackfill: a hardware token claimed before migration 0048
// has no secret digest; the digest is computed from the secret of the
// factor claiming made of it, by any number of instances at once with one
// write, and by an import itself, so that its seed under a new serial is
// refused while the factor is in use (README "Hardware tokens").
func TestTokenDigestBackfill(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			svc := newService(t, st, st, time.Now, nil)
			secret := []byte("a fob secret of 20 b")
			seed := func(serial string, secret []byte) []otp.Seed {
				return []otp.Seed{{Serial: serial, Type: otp.TypeHOTP, Secret: secret, Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}}
			}
			if _, err := svc.ImportTokens(ctx, seed("YK-1", secret), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			a := signedIn(t, svc, "ada")
			if _, err := svc.ClaimToken(ctx, a, "YK-1", otp.HOTP(secret, 0, otp.SHA1, 6), "fob", core.Meta{}); err != nil {
				t.Fatalf("ClaimToken: %v", err)
			}
			// As claimed before migration 0048.
			forget := func() {
				t.Helper()
				if _, err := writer(st).ExecContext(ctx, `UPDATE hardware_tokens SET secret_digest = NULL`); err != nil {
					t.Fatal(err)
				}
			}
			forget()

			// Two instances starting at once: one writes the digest.
			other := newService(t, st, st, time.Now, nil)
			var wg sync.WaitGroup
			var written [2]int
			var errs [2]error
			for i, s := range []*core.Service{svc, other} {
				wg.Go(func() { written[i], errs[i] = s.BackfillTokenDigests(ctx) })
			}
			wg.Wait()
			if errs[0] != nil || errs[1] != nil || written[0]+written[1] != 1 {
				t.Fatalf("BackfillTokenDigests on two instances at once: wrote %v, errors %v; want one write, no error", written, errs)
			}
			if n, err := svc.BackfillTokenDigests(ctx); err != nil || n != 0 {
				t.Errorf("BackfillTokenDigests again: got %d, %v; want 0", n, err)
			}
			if _, err := svc.ImportTokens(ctx, seed("YK-2", secret), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("the seed of a claimed token after the backfill, under a new serial: got %v, want a conflict", err)
			}

			// Without a start-up's backfill, the import computes it first.
			forget()
			if _, err := svc.ImportTokens(ctx, seed("YK-3", secret), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("the seed of a pre-0048 claimed token under a new serial: got %v, want a conflict", err)
			}
			padded := append(bytes.Clone(secret), 0)
			if _, err := svc.ImportTokens(ctx, seed("YK-4", padded), core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("the same seed with a zero byte added: got %v, want a conflict", err)
			}
			if ts, err := svc.HardwareTokens(ctx, false); err != nil || len(ts) != 1 {
				t.Errorf("tokens after the refused imports: got %d, %v; want YK-1 alone", len(ts), err)
			}
		})
	}
}
