package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestHoldAPIKeyHoldsRevocation: on PostgreSQL, a key held by HoldAPIKey
// in a transaction (a write by the key) is revoked only once that
// transaction ends, also when the revocation is of the key that made it,
// and its account is suspended, made no longer an operator or deleted
// only then: what the key wrote lands before any of them is answered.
// After a revocation, the key is not found.
func TestHoldAPIKeyHoldsRevocation(t *testing.T) {
	for _, tt := range []struct {
		name    string
		end     func(ctx context.Context, s *store.Store, a twofold.Account) (bool, error)
		revoked bool
	}{
		{"revoke its maker", func(ctx context.Context, s *store.Store, a twofold.Account) (bool, error) {
			return s.DeleteAPIKey(ctx, a.ID, "maker")
		}, true},
		{"suspend its account", func(ctx context.Context, s *store.Store, a twofold.Account) (bool, error) {
			return s.SetSuspended(ctx, a.ID, true)
		}, false},
		{"demote its owner", func(ctx context.Context, s *store.Store, a twofold.Account) (bool, error) {
			return s.SetOperator(ctx, a.ID, false)
		}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			ctx := t.Context()
			s, db, a := postgresWithAlice(t, t0)
			if _, err := s.SetOperator(ctx, a.ID, true); err != nil {
				t.Fatal(err)
			}
			for _, k := range []twofold.APIKey{
				{ID: "maker", AccountID: a.ID, Name: "maker", SecretHash: []byte("h1"), CreatedAt: t0},
				{ID: "made", AccountID: a.ID, ParentID: "maker", Name: "made", SecretHash: []byte("h2"), CreatedAt: t0},
			} {
				k.Permits = []twofold.Permit{{Service: "dns", Resource: "example.com", Actions: []string{"write"}}}
				if err := s.CreateAPIKey(ctx, k); err != nil {
					t.Fatal(err)
				}
			}

			held := make(chan struct{})
			release := make(chan struct{})
			writeDone := make(chan error, 1)
			go func() {
				writeDone <- s.InTx(ctx, func(ctx context.Context) error {
					k, acc, err := s.HoldAPIKey(ctx, a.ID, "made", false)
					if err != nil || k.ParentID != "maker" || acc.ID != a.ID || !acc.Operator || acc.Suspended {
						t.Errorf("HoldAPIKey: got %+v, %+v, %v", k, acc, err)
					}
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			endDone := make(chan bool, 1)
			go func() {
				ok, err := tt.end(ctx, s, a)
				if err != nil {
					t.Errorf("%s: %v", tt.name, err)
				}
				endDone <- ok
			}()
			// The end waits for the lock (or, were the key not held, ends).
			testenv.AwaitLockWaiters(t, db, 1, endDone)
			close(release)
			if err := <-writeDone; err != nil {
				t.Fatal(err)
			}
			if !<-endDone {
				t.Fatalf("%s: got false, want it done", tt.name)
			}
			err := s.InTx(ctx, func(ctx context.Context) error {
				_, _, err := s.HoldAPIKey(ctx, a.ID, "made", false)
				return err
			})
			if got := twofold.ErrorCode(err); tt.revoked && got != twofold.CodeNotFound || !tt.revoked && err != nil {
				t.Errorf("HoldAPIKey after %s: got %v, want %v", tt.name, err, map[bool]string{true: "not-found", false: "the key"}[tt.revoked])
			}
		})
	}
}

// TestHoldAPIKeyLocksAccountFirst: on PostgreSQL, HoldAPIKey holds the
// account's row before the key's, the order a revocation takes them in:
// while it waits for the key's row, which another transaction holds, the
// account's is held already. For a write that will lock the account
// (accountWrite), it holds the row so that no other key's write holds it
// shared meanwhile; otherwise it does not keep them out, and the writes of
// an account's keys run side by side.
func TestHoldAPIKeyLocksAccountFirst(t *testing.T) {
	for _, accountWrite := range []bool{false, true} {
		t.Run(fmt.Sprintf("accountWrite=%v", accountWrite), func(t *testing.T) {
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			ctx := t.Context()
			s, db, a := postgresWithAlice(t, t0)
			if err := s.CreateAPIKey(ctx, twofold.APIKey{ID: "k", AccountID: a.ID, Name: "k", SecretHash: []byte("h"), CreatedAt: t0,
				Permits: []twofold.Permit{{Service: "keys", Resource: "*", Actions: []string{"write"}}}}); err != nil {
				t.Fatal(err)
			}
			keyHolder, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer keyHolder.Rollback()
			if _, err := keyHolder.ExecContext(ctx, `SELECT 1 FROM api_keys WHERE id = 'k' FOR UPDATE`); err != nil {
				t.Fatal(err)
			}
			holdDone := make(chan error, 1)
			go func() {
				holdDone <- s.InTx(ctx, func(ctx context.Context) error {
					_, _, err := s.HoldAPIKey(ctx, a.ID, "k", accountWrite)
					return err
				})
			}()
			testenv.AwaitLockWaiters(t, db, 1, holdDone)

			_, err = db.ExecContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR NO KEY UPDATE NOWAIT`, a.ID)
			if !lockNotAvailable(err) {
				t.Errorf("account locked for update while HoldAPIKey waits for the key: got %v, want it refused (55P03)", err)
			}
			_, err = db.ExecContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR SHARE NOWAIT`, a.ID)
			if got := lockNotAvailable(err); got != accountWrite || err != nil && !got {
				t.Errorf("account held shared while HoldAPIKey(accountWrite %v) waits: got %v, want refused %v", accountWrite, err, accountWrite)
			}
			if err := keyHolder.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := <-holdDone; err != nil {
				t.Fatalf("HoldAPIKey: %v", err)
			}
		})
	}
}

// lockNotAvailable reports whether err is PostgreSQL's refusal of a lock
// asked for with NOWAIT.
func lockNotAvailable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "55P03"
}

// postgresWithAlice opens a store on a fresh PostgreSQL database holding
// the account alice, made at t0, and a second connection to the database
// from which a test holds rows or watches who waits for a lock.
func postgresWithAlice(t *testing.T, t0 time.Time) (*store.Store, *sql.DB, twofold.Account) {
	t.Helper()
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	a := twofold.Account{ID: "acct-alice", Username: "alice", Email: "alice@example.com", PasswordHash: "$argon2id$v=19$alice", CreatedAt: t0}
	if err := s.CreateAccount(t.Context(), a); err != nil {
		t.Fatal(err)
	}
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return s, db, a
}
