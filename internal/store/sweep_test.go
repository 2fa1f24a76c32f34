package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSweepInBatches checks that one sweep deletes a backlog of expired
// rows larger than a batch, all of it, as several statements of at most a
// batch each (so that SQLite's writer is free between them), and keeps
// what has not expired: keys without expiry among them.
func TestSweepInBatches(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const batch, expired, live = 7, 20, 3
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			batches := map[string][]int64{}
			s.SetSweepBatchForTest(batch, func(table string, n int64) {
				if n > batch {
					t.Errorf("a batch of the sweep of %s deleted %d rows, want at most %d", table, n, batch)
				}
				batches[table] = append(batches[table], n)
			})
			err := s.InTx(ctx, func(ctx context.Context) error {
				if err := s.CreateAccount(ctx, twofold.Account{ID: "acct", Username: "acct", PasswordHash: "x", CreatedAt: t0}); err != nil {
					return err
				}
				for i := range expired + live {
					end := t0.Add(-time.Minute)
					if i >= expired {
						end = t0.Add(time.Hour)
					}
					id := fmt.Sprintf("%02d", i)
					if err := s.CreateLogin(ctx, twofold.Login{ID: "l" + id, AccountID: "acct", CreatedAt: t0.Add(-time.Hour), ExpiresAt: end}); err != nil {
						return err
					}
					if err := s.CreateSession(ctx, twofold.Session{ID: "s" + id, AccountID: "acct", TokenHash: []byte("s" + id), CreatedAt: t0.Add(-time.Hour), ExpiresAt: end}); err != nil {
						return err
					}
					if err := s.CreateAPIKey(ctx, twofold.APIKey{ID: "k" + id, AccountID: "acct", Name: id, SecretHash: []byte(id), CreatedAt: t0.Add(-time.Hour), ExpiresAt: end}); err != nil {
						return err
					}
				}
				return s.CreateAPIKey(ctx, twofold.APIKey{ID: "forever", AccountID: "acct", Name: "forever", SecretHash: []byte("forever"), CreatedAt: t0.Add(-time.Hour)})
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteExpired(ctx, t0); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			if n, err := s.DeleteExpiredAPIKeys(ctx, t0); err != nil || n != expired {
				t.Fatalf("DeleteExpiredAPIKeys: got %d, %v, want %d", n, err, expired)
			}
			for _, table := range []string{"logins", "sessions", "api_keys"} {
				// 20 rows in batches of 7: 7, 7, 6.
				if got, want := fmt.Sprint(batches[table]), "[7 7 6]"; got != want {
					t.Errorf("batches of the sweep of %s: got %s, want %s", table, got, want)
				}
			}
			for i := range expired + live {
				id := fmt.Sprintf("%02d", i)
				_, err := s.Login(ctx, "l"+id)
				if gone := twofold.ErrorCode(err) == twofold.CodeNotFound; gone != (i < expired) {
					t.Errorf("login %s after the sweep: %v", id, err)
				}
				_, err = s.APIKey(ctx, "k"+id)
				if gone := twofold.ErrorCode(err) == twofold.CodeNotFound; gone != (i < expired) {
					t.Errorf("API key %s after the sweep: %v", id, err)
				}
			}
			if _, err := s.APIKey(ctx, "forever"); err != nil {
				t.Errorf("key without expiry after the sweep: %v", err)
			}
			keys, err := s.APIKeys(ctx, "acct")
			if err != nil || len(keys) != live+1 {
				t.Errorf("APIKeys after the sweep: got %d keys, %v, want %d", len(keys), err, live+1)
			}
		})
	}
}

// TestSweepPlans checks that each batch of the sweep finds its rows by the
// table's index of expiries and deletes them by their row key: no batch
// reads a whole table.
func TestSweepPlans(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			plans, err := s.SweepPlansForTest(ctx, t0)
			if err != nil {
				t.Fatal(err)
			}
			if len(plans) != 11 {
				t.Errorf("got plans of %d tables, want 11", len(plans))
			}
			for table, plan := range plans {
				index := table + "_expires"
				if !strings.Contains(plan, index) {
					t.Errorf("plan of the sweep of %s: got\n%s\nwant a read by %s", table, plan, index)
				}
				if strings.Contains(plan, "SCAN "+table) || strings.Contains(plan, "Seq Scan") {
					t.Errorf("plan of the sweep of %s: got\n%s\nwant no scan of the table", table, plan)
				}
			}
		})
	}
}
