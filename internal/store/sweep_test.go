package store_test

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
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
			if err := s.DeleteExpired(ctx, t0, ""); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			if n, err := s.DeleteExpiredAPIKeys(ctx, t0); err != nil || n != expired {
				t.Fatalf("DeleteExpiredAPIKeys: got %d, %v, want %d", n, err, expired)
			}
			for _, table := range []string{"logins", "sessions", "api_keys"} {
				// 20 rows in batches of 7: 7, 7, 6; on SQLite the walk of the
				// sessions' key reads a fourth range, of the live ones.
				want := "[7 7 6]"
				if table == "sessions" && name == "sqlite" {
					want = "[7 7 6 0]"
				}
				if got := fmt.Sprint(batches[table]); got != want {
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

// TestSweepBacklogs checks that each sweep deletes a backlog of rows
// larger than a batch, all of it, in statements of at most a batch each,
// and keeps the rows among them it must keep: live sessions between the
// expired ones in the order of their key (on SQLite the sweep walks that
// key, up to the bound it is given), counters still counting failures of a
// kept kind, rate buckets and counters touched lately, addresses replaced
// lately, nonces in date.
func TestSweepBacklogs(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	const batch, backlog = 7, 20
	old := t0.Add(-48 * time.Hour)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			deleted := map[string][]int64{}
			s.SetSweepBatchForTest(batch, func(table string, n int64) {
				if n > batch {
					t.Errorf("a batch of the sweep of %s deleted %d rows, want at most %d", table, n, batch)
				}
				deleted[table] = append(deleted[table], n)
			})
			var liveSessions, keptThrottles, keptBuckets []string
			err := s.InTx(ctx, func(ctx context.Context) error {
				if err := s.CreateAccount(ctx, twofold.Account{ID: "acct", Username: "acct", PasswordHash: "x", CreatedAt: old}); err != nil {
					return err
				}
				if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "key-1", MasterID: "m", Wrapped: []byte("wrapped"), Created: old}); err != nil {
					return err
				}
				f := twofold.Factor{ID: "push", AccountID: "acct", Type: twofold.FactorPush, Label: "push", Status: twofold.FactorPending,
					SecretKeyID: "key-1", SealedSecret: []byte("sealed"), CreatedAt: old}
				if err := s.CreateFactor(ctx, f); err != nil {
					return err
				}
				// Every fourth row of each is live, between expired ones:
				// backlog expired rows and backlog/3 live ones.
				for i := range backlog + backlog/3 {
					live := i%4 == 3
					id := fmt.Sprintf("%02d", i)
					end, at := t0.Add(-time.Minute), old
					if live {
						end, at = t0.Add(time.Hour), t0
					}
					if err := s.CreateSession(ctx, twofold.Session{ID: "s" + id, AccountID: "acct", TokenHash: []byte(id), CreatedAt: old, ExpiresAt: end}); err != nil {
						return err
					}
					if _, err := s.TakeSlot(ctx, "x:"+id, 0, at, at); err != nil {
						return err
					}
					if _, err := s.TakeToken(ctx, "b:"+id, 10, 1, at); err != nil {
						return err
					}
					if _, err := s.TakePushNonce(ctx, "push", id, end); err != nil {
						return err
					}
					if err := s.KeepReplacedEmail(ctx, "acct", id+"@example.com", at); err != nil {
						return err
					}
					if live {
						liveSessions, keptThrottles, keptBuckets = append(liveSessions, "s"+id), append(keptThrottles, "x:"+id), append(keptBuckets, "b:"+id)
					}
				}
				// Counters of a kept kind that still count failures stay
				// however old; live sessions after the walk's bound stay.
				for _, k := range []string{"k:1", "k:2"} {
					if _, err := s.TakeSlot(ctx, k, 0, old, old); err != nil {
						return err
					}
					keptThrottles = append(keptThrottles, k)
				}
				for _, id := range []string{"t1", "t2"} {
					if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: "acct", TokenHash: []byte(id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
						return err
					}
					liveSessions = append(liveSessions, id)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteExpired(ctx, t0, "t"); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			if err := s.DeleteStaleThrottles(ctx, t0.Add(-24*time.Hour), []string{"k:%"}); err != nil {
				t.Fatalf("DeleteStaleThrottles: %v", err)
			}
			if err := s.DeleteExpiredPush(ctx, t0, t0); err != nil {
				t.Fatalf("DeleteExpiredPush: %v", err)
			}
			if n, err := s.PurgeReplacedEmails(ctx, t0.Add(-24*time.Hour)); err != nil || n != backlog {
				t.Fatalf("PurgeReplacedEmails: got %d, %v, want %d", n, err, backlog)
			}
			for _, table := range []string{"sessions", "throttles", "rate_buckets", "push_nonces", "replaced_emails"} {
				var sum int64
				for _, n := range deleted[table] {
					sum += n
				}
				if sum != backlog || len(deleted[table]) < (backlog+batch-1)/batch {
					t.Errorf("batches of the sweep of %s: got %v, want %d rows in batches of at most %d", table, deleted[table], backlog, batch)
				}
			}
			var got []string
			for i := range backlog + backlog/3 + 2 {
				id := fmt.Sprintf("s%02d", i)
				if i >= backlog+backlog/3 {
					id = fmt.Sprintf("t%d", i-backlog-backlog/3+1)
				}
				if _, err := s.Session(ctx, id, old); err == nil {
					got = append(got, id)
				} else if twofold.ErrorCode(err) != twofold.CodeNotFound {
					t.Fatal(err)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(liveSessions) {
				t.Errorf("sessions after the sweep: got %v, want %v", got, liveSessions)
			}
			slices.Sort(keptThrottles)
			if got, err := s.ThrottleKeys(ctx, ""); err != nil || fmt.Sprint(got) != fmt.Sprint(keptThrottles) {
				t.Errorf("counters after the sweep: got %v, %v, want %v", got, err, keptThrottles)
			}
			got = nil
			for i := range backlog + backlog/3 {
				key := fmt.Sprintf("b:%02d", i)
				if _, _, found, err := s.Bucket(ctx, key); err != nil {
					t.Fatal(err)
				} else if found {
					got = append(got, key)
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(keptBuckets) {
				t.Errorf("rate buckets after the sweep: got %v, want %v", got, keptBuckets)
			}
			if emails, err := s.ReplacedEmails(ctx, "acct", old); err != nil || len(emails) != backlog/3 {
				t.Errorf("replaced addresses after the sweep: got %v, %v, want %d", emails, err, backlog/3)
			}
		})
	}
}

// TestSweepPlans checks that each batch of the sweep reads no whole
// table: a sweep by an index of expiries finds its rows by it and deletes
// them by their row key; a sweep that walks a table's key (sessions on
// SQLite, whose index of expiries migration 0090 dropped; counters and
// rate buckets, which have none) reads a range of that key and nothing
// else, the table's own B-tree on SQLite (the primary key of a table
// without rowid, or the rowid).
func TestSweepPlans(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	indexes := map[string]string{"replaced_emails": "replaced_emails_at"}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			plans, err := s.SweepPlansForTest(ctx, t0)
			if err != nil {
				t.Fatal(err)
			}
			walked := []string{"throttles", "rate_buckets"}
			indexed := []string{"logins", "api_tokens", "sent_codes", "webauthn_ceremonies", "passkey_logins", "ssh_challenges",
				"password_resets", "email_changes", "form_uses", "api_keys", "push_nonces", "push_challenges", "replaced_emails"}
			if name == "sqlite" {
				walked = append(walked, "sessions")
			} else {
				indexed = append(indexed, "sessions")
			}
			if want := len(indexed) + 4*len(walked); len(plans) != want {
				t.Errorf("got %d plans, want %d", len(plans), want)
			}
			for _, table := range indexed {
				plan, ok := plans[table]
				index := cmp.Or(indexes[table], table+"_expires")
				if !ok || !strings.Contains(plan, index) {
					t.Errorf("plan of the sweep of %s: got\n%s\nwant a read by %s", table, plan, index)
				}
				if strings.Contains(plan, "SCAN "+table) || strings.Contains(plan, "Seq Scan") {
					t.Errorf("plan of the sweep of %s: got\n%s\nwant no scan of the table", table, plan)
				}
			}
			for _, table := range walked {
				key := "SEARCH " + table + " USING PRIMARY KEY ("
				switch {
				case name == "postgres":
					key = " using " + table + "_pkey on " + table
				case table == "rate_buckets":
					key = "SEARCH rate_buckets USING INTEGER PRIMARY KEY (rowid>"
				}
				for _, stmt := range []string{"first range", "range", "first delete", "delete"} {
					plan, ok := plans[table+" walk "+stmt]
					if !ok || !strings.Contains(plan, key) {
						t.Errorf("plan of the %s of the walk of %s: got\n%s\nwant %q in it", stmt, table, plan, key)
					}
					if strings.Contains(plan, "SCAN "+table) || strings.Contains(plan, "Seq Scan") ||
						strings.Contains(plan, table+" USING INDEX") || strings.Contains(plan, table+" USING COVERING INDEX") {
						t.Errorf("plan of the %s of the walk of %s: got\n%s\nwant no scan and no other index", stmt, table, plan)
					}
				}
			}
		})
	}
}

// TestSweepForgetsStoppedInstances: the heartbeat of an instance not seen
// for a day (stopped without ending it) is removed by the sweep, by the
// database's clock whatever the sweep's before says, and not by a beat of
// another instance; one seen within the day stays, and so does a fresh
// one. On both stores.
func TestSweepForgetsStoppedInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			s := open(t, d)
			ctx := t.Context()
			for _, id := range []string{"stopped", "yesterday", "running"} {
				if err := s.Beat(ctx, store.Instance{ID: id, Host: "web-" + id, PID: 4242}); err != nil {
					t.Fatal(err)
				}
			}
			back := `UPDATE instances SET last_seen = last_seen - $1 WHERE id = $2`
			testenv.Exec(t, d, back, []any{(24*time.Hour + time.Minute).Microseconds(), "stopped"}, []any{(24*time.Hour - time.Minute).Microseconds(), "yesterday"})
			kept := func(when string, want map[string]bool) {
				t.Helper()
				for id, w := range want {
					var n int
					if err := s.QueryRowForTest(ctx, `SELECT COUNT(*) FROM instances WHERE id = '`+id+`'`, &n); err != nil {
						t.Fatal(err)
					}
					if got := n == 1; got != w {
						t.Errorf("%s: heartbeat of %s kept: got %v, want %v", when, id, got, w)
					}
				}
			}
			if err := s.Beat(ctx, store.Instance{ID: "running", Host: "web-running", PID: 4242}); err != nil {
				t.Fatal(err)
			}
			kept("after a beat", map[string]bool{"stopped": true, "yesterday": true, "running": true})
			// The sweep's before (the service's clock) is long past: the
			// heartbeats go by the database's clock alone.
			if err := s.DeleteExpired(ctx, time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), ""); err != nil {
				t.Fatalf("DeleteExpired: %v", err)
			}
			kept("after the sweep", map[string]bool{"stopped": false, "yesterday": true, "running": true})
		})
	}
}
