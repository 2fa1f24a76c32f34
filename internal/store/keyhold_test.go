package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestHoldAPIKeyHoldsRevocation: on PostgreSQL, a key held by HoldAPIKey
// in a transaction (a DNS write by the key) is revoked only once that
// transaction ends, also when the revocation is of the key that made it:
// what the key wrote lands before its revocation is answered. After it,
// the key is not found.
func TestHoldAPIKeyHoldsRevocation(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := t.Context()
	s, db, a := postgresWithAlice(t, t0)
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
			k, _, err := s.HoldAPIKey(ctx, a.ID, "made")
			if err != nil || k.ParentID != "maker" {
				t.Errorf("HoldAPIKey: got %+v, %v", k, err)
			}
			close(held)
			<-release
			return nil
		})
	}()
	<-held
	revokeDone := make(chan bool, 1)
	go func() {
		ok, err := s.DeleteAPIKey(ctx, a.ID, "maker")
		if err != nil {
			t.Errorf("DeleteAPIKey: %v", err)
		}
		revokeDone <- ok
	}()
	// The revocation waits for the lock (or, were the key not held, ends).
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for waiting := 0; waiting == 0; {
		select {
		case <-revokeDone:
			t.Fatal("the revocation did not wait for the transaction that holds the key")
		case <-tick.C:
			if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(release)
	if err := <-writeDone; err != nil {
		t.Fatal(err)
	}
	if !<-revokeDone {
		t.Fatal("DeleteAPIKey: got false, want the maker deleted")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		_, _, err := s.HoldAPIKey(ctx, a.ID, "made")
		return err
	})
	if twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("HoldAPIKey after the revocation: got %v, want not-found", err)
	}
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
