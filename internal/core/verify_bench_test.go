package core_test

import (
	"encoding/base32"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// BenchmarkVerifyLoginTOTP is the second step of a login with a right TOTP
// code and no factor named (POST /v1/login/{id}/verify without its HTTP),
// one after another on each store: what the load tool's verify phase asks
// of the service and the store, per verification. Each verification is of a
// login of its own, with the clock a step later than the one before. The
// SQLite file runs with synchronous=NORMAL, so that ns/op is the work
// rather than the disk's sync (the load tool measures that with FULL). The
// "+bucket" runs take each verification's token from the source address's
// bucket, as a server does by default (the load tool turns it off: all its
// clients come from one address); its burst never runs out here.
func BenchmarkVerifyLoginTOTP(b *testing.B) {
	sqlite := func(tb testing.TB) string {
		return "sqlite:" + filepath.Join(tb.TempDir(), "twofold.db") + "?synchronous=NORMAL"
	}
	for _, run := range []struct {
		name   string
		dsn    func(testing.TB) string
		bucket bool
	}{
		{"sqlite", sqlite, false}, {"postgres", testenv.PostgresDSN, false},
		{"sqlite+bucket", sqlite, true}, {"postgres+bucket", testenv.PostgresDSN, true},
	} {
		name, dsn := run.name, run.dsn
		b.Run(name, func(b *testing.B) {
			ctx := b.Context()
			st, err := store.Open(ctx, dsn(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			kf, _, err := keyring.LoadOrCreateFile(filepath.Join(b.TempDir(), "twofold.key"))
			if err != nil {
				b.Fatal(err)
			}
			keys, err := keyring.Open(ctx, kf, st)
			if err != nil {
				b.Fatal(err)
			}
			hasher, err := credhash.NewHasher(kf.HashKey)
			if err != nil {
				b.Fatal(err)
			}
			clock := testenv.NewClock(time.Date(2026, 12, 2, 12, 0, 10, 0, time.UTC))
			cfg := cheapConfig()
			cfg.LoginRate = 0 // as the load tool runs its servers
			if run.bucket {
				cfg.LoginRate, cfg.LoginBurst = 1, 1<<30
			}
			svc, err := core.New(core.Options{Config: cfg, Store: st, Keys: keys, Hasher: hasher, Now: clock.Now})
			if err != nil {
				b.Fatal(err)
			}

			// One account with one confirmed TOTP factor.
			if _, err := svc.CreateAccount(ctx, core.NewAccount{Username: "bea", Password: testPassword}, core.Meta{}); err != nil {
				b.Fatal(err)
			}
			res, err := svc.Login(ctx, "bea", testPassword, core.Meta{})
			if err != nil {
				b.Fatal(err)
			}
			auth, err := svc.Authenticate(ctx, res.Token)
			if err != nil {
				b.Fatal(err)
			}
			e, err := svc.EnrolFactor(ctx, auth, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				b.Fatal(err)
			}
			secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.TrimRight(e.Secret, "="))
			if err != nil {
				b.Fatal(err)
			}
			code := func() string { return otp.HOTP(secret, uint64(clock.Now().Unix()/30), otp.SHA1, 6) }
			if _, err := svc.ConfirmFactor(ctx, auth, e.Factor.ID, code(), core.Meta{}); err != nil {
				b.Fatal(err)
			}

			// A login for each verification, each lasting the whole run.
			n := b.N
			ids := make([]string, n)
			logins := make([]twofold.Login, n)
			start := clock.Now()
			for i := range n {
				ids[i] = fmt.Sprintf("bench-login-%08d", i)
				logins[i] = twofold.Login{ID: core.LoginKey(hasher, ids[i]), AccountID: auth.Account.ID,
					CreatedAt: start, ExpiresAt: start.Add(time.Duration(n+2) * time.Minute)}
			}
			if err := st.InsertLogins(ctx, logins); err != nil {
				b.Fatal(err)
			}
			m := core.Meta{Source: "192.0.2.1", UserAgent: "bench"}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range n {
				clock.Add(30 * time.Second)
				v, err := svc.VerifyLogin(ctx, ids[i], core.SecondFactor{Method: twofold.MethodTOTP, Code: code()}, m)
				if err != nil || v.Token == "" {
					b.Fatalf("verification %d: %+v, %v", i, v, err)
				}
			}
		})
	}
}
