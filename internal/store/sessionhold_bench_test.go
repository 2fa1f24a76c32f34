package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// BenchmarkHoldSession measures the check every write of a session makes
// in its transaction (HoldSession), with the transaction around it: the
// account's row and the session's, read and held. The transaction is
// committed ("commit"), or rolled back ("rollback"), which leaves out the
// flush of the row locks' record on PostgreSQL that a write's commit pays
// anyway: what is left is the hold's statements and the transaction's
// begin and end.
func BenchmarkHoldSession(b *testing.B) {
	for name, dsn := range testenv.DSNs(b) {
		b.Run(name, func(b *testing.B) {
			s := open(b, dsn(b))
			ctx := b.Context()
			now := time.Now().UTC()
			a := twofold.Account{ID: "acct-alice", Username: "alice", Email: "alice@example.com", PasswordHash: "$argon2id$v=19$alice", CreatedAt: now}
			if err := s.CreateAccount(ctx, a); err != nil {
				b.Fatal(err)
			}
			if err := s.CreateSession(ctx, twofold.Session{ID: "sess-1", AccountID: a.ID, TokenHash: []byte("h1"), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
				b.Fatal(err)
			}
			for _, end := range []struct {
				name string
				err  error
			}{{"commit", nil}, {"rollback", errRolledBack}} {
				b.Run(end.name, func(b *testing.B) {
					for b.Loop() {
						err := s.InTx(ctx, func(ctx context.Context) error {
							if _, _, err := s.HoldSession(ctx, a.ID, "sess-1", now); err != nil {
								return err
							}
							return end.err
						})
						if !errors.Is(err, end.err) {
							b.Fatal(err)
						}
					}
				})
			}
		})
	}
}

// errRolledBack rolls back a benchmark's transaction.
var errRolledBack = errors.New("rolled back")
