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
// adds, among the live sessions of 10,000 accounts (5 each, each with the
// event that made it): in its transaction, moving the account's epoch on
// (EndOtherSessions, "end"); counting the sessions that ended, which the
// sign-in does in the same transaction (SessionsOfEpoch, "count", here
// alone); and listing the account's sessions as
// "Where you are signed in" does (LiveSessions, "list"). The last two read
// the account's sessions by the index of sessions by account (migration
// 0082), not every live session.
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
						se := sess(fmt.Sprintf("a%07d", a), i)
						if err := s.CreateSession(ctx, se); err != nil {
							return err
						}
						if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: se.AccountID, Type: "login.succeeded", At: now, SessionID: se.ID}); err != nil {
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
			b.Run("count", func(b *testing.B) {
				for b.Loop() {
					if n, err := s.SessionsOfEpoch(ctx, who, 0, now); err != nil || n != perAccount {
						b.Fatalf("SessionsOfEpoch: %d, %v, want %d", n, err, perAccount)
					}
				}
			})
			b.Run("list", func(b *testing.B) {
				for b.Loop() {
					if l, err := s.LiveSessions(ctx, who, 0, now, 50); err != nil || len(l) != perAccount {
						b.Fatalf("LiveSessions: %d, %v, want %d", len(l), err, perAccount)
					}
				}
			})
		})
	}
}
