package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// BenchmarkEndOtherSessions measures what a sign-in on the recovery path
// adds, among the live sessions of 10,000 accounts (5 each): in its
// transaction, moving the account's epoch on (EndOtherSessions, "end");
// after the commit, counting the sessions that ended (SessionsOfEpoch,
// "count"), which reads every live session, as sessions have no index by
// account (migration 0010).
func BenchmarkEndOtherSessions(b *testing.B) {
	const accounts, perAccount = 10000, 5
	for name, dsn := range testenv.DSNs(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b, dsn(b))
			ctx := b.Context()
			now := time.Now().UTC()
			_, _, _ = benchSecondSteps(b, s, accounts)
			sess := func(account string, i int) twofold.Session {
				id := fmt.Sprintf("s-%s-%d", account, i)
				return twofold.Session{ID: id, AccountID: account, TokenHash: []byte(id), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
			}
			err := s.InTx(ctx, func(ctx context.Context) error {
				for a := range accounts {
					for i := range perAccount {
						if err := s.CreateSession(ctx, sess(fmt.Sprintf("a%07d", a), i)); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Analyze(ctx); err != nil {
				b.Fatal(err)
			}
			const who = "a0000000"
			epoch := int64(0)
			b.Run("end", func(b *testing.B) { // in the sign-in's transaction
				for n := 0; b.Loop(); n++ {
					b.StopTimer()
					keep := sess(who, 1000+n)
					keep.Epoch = epoch
					if err := s.CreateSession(ctx, keep); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
					err := s.InTx(ctx, func(ctx context.Context) error {
						ok, err := s.EndOtherSessions(ctx, who, epoch, keep.ID)
						if err == nil && !ok {
							err = fmt.Errorf("epoch %d moved on", epoch)
						}
						return err
					})
					if err != nil {
						b.Fatal(err)
					}
					epoch++
				}
			})
			b.Run("count", func(b *testing.B) { // after the commit, holding no write
				for b.Loop() {
					if n, err := s.SessionsOfEpoch(ctx, who, 0, now); err != nil || n != perAccount {
						b.Fatalf("SessionsOfEpoch: %d, %v, want %d", n, err, perAccount)
					}
				}
			})
		})
	}
}
