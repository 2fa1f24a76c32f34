package store_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// benchSecondSteps provisions n accounts, each with an active TOTP factor and
// one login waiting for its second step.
func benchSecondSteps(b *testing.B, s *store.Store, n int) (accounts, factors, logins []string) {
	b.Helper()
	ctx := b.Context()
	now := time.Now().UTC()
	if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "bench-key", MasterID: "m", Wrapped: []byte("w"), Created: now}); err != nil {
		b.Fatal(err)
	}
	var as []twofold.Account
	var fs []twofold.Factor
	var ls []twofold.Login
	for i := range n {
		a := twofold.Account{ID: fmt.Sprintf("a%07d", i), Username: fmt.Sprintf("u%07d", i), PasswordHash: "x", CreatedAt: now}
		f := twofold.Factor{ID: fmt.Sprintf("f%07d", i), AccountID: a.ID, Type: twofold.FactorTOTP, Label: "phone", Status: twofold.FactorActive,
			SecretKeyID: "bench-key", SealedSecret: []byte("sealed"), Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, LastStep: 10, CreatedAt: now}
		l := twofold.Login{ID: fmt.Sprintf("l%07d", i), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
		as, fs, ls = append(as, a), append(fs, f), append(ls, l)
		accounts, factors, logins = append(accounts, a.ID), append(factors, f.ID), append(logins, l.ID)
	}
	if err := s.InsertFixtures(ctx, as, fs); err != nil {
		b.Fatal(err)
	}
	if err := s.InsertLogins(ctx, ls); err != nil {
		b.Fatal(err)
	}
	if err := s.Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	return accounts, factors, logins
}

// BenchmarkSecondStep measures a TOTP login's second step on each store, from
// 16 goroutines: the read alone, and DecideSecondStep, the read, a verdict and
// the write of a completion (each on its own account and login).
func BenchmarkSecondStep(b *testing.B) {
	for name, dsn := range testenv.DSNs(b) {
		b.Run(name+"/read", func(b *testing.B) {
			s := open(b, dsn(b))
			_, _, logins := benchSecondSteps(b, s, 1000)
			var next atomic.Int64
			b.SetParallelism(8) // 16 goroutines on 2 CPUs, as the load tool's clients
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) % int64(len(logins))
					if _, err := s.SecondStep(b.Context(), logins[i], twofold.StepKeys{Prefix: "2fa:", Suffix: ":codes", FactorInfix: ":factor:"}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
		b.Run(name+"/decide", func(b *testing.B) {
			s := open(b, dsn(b))
			accounts, factors, logins := benchSecondSteps(b, s, b.N)
			now := time.Now().UTC()
			var next atomic.Int64
			b.SetParallelism(8)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					i := next.Add(1) - 1
					id := fmt.Sprintf("s%07d", i)
					out, err := s.DecideSecondStep(b.Context(), logins[i], twofold.StepKeys{Prefix: "2fa:", Suffix: ":codes", FactorInfix: ":factor:"}, func(st twofold.SecondStep, found bool) twofold.Verdict {
						if !found || len(st.Factors) != 1 {
							return twofold.Verdict{}
						}
						return twofold.Verdict{Complete: &twofold.Completion{
							LoginID: logins[i], FactorID: factors[i], Step: st.Factors[0].LastStep + 1, Seen: st.Failures, Now: now,
							Session: twofold.Session{ID: id, AccountID: accounts[i], TokenHash: []byte(id), CreatedAt: now, ExpiresAt: now.Add(time.Hour)},
							Event:   twofold.AuditEvent{AccountID: accounts[i], Type: "login.succeeded", At: now},
						}}
					})
					if err != nil || out != twofold.Completed {
						b.Errorf("second step %d: %d, %v", i, out, err)
						return
					}
				}
			})
		})
	}
}
