package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/store/storetest"
	"github.com/twofold/twofold/internal/testenv"
)

// open opens dsn and closes the store when tb ends.
func open(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	s, err := store.Open(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("Open: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return s
}

func TestSQLite(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(tb testing.TB) *store.Store { return open(tb, testenv.SQLiteDSN(tb)) })
}

func TestPostgres(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(tb testing.TB) *store.Store { return open(tb, testenv.PostgresDSN(tb)) })
}

// TestDialect checks that a DSN picks its engine and that the store answers.
func TestDialect(t *testing.T) {
	t.Parallel()
	want := map[string]store.Dialect{"sqlite": store.SQLite, "postgres": store.Postgres, "bare path": store.SQLite}
	dsns := testenv.DSNs(t)
	dsns["bare path"] = func(tb testing.TB) string { return filepath.Join(tb.TempDir(), "bare.db") }
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, dsn(t))
			if got := s.Dialect(); got != want[name] {
				t.Errorf("Dialect: got %q, want %q", got, want[name])
			}
			if err := s.Ping(t.Context()); err != nil {
				t.Errorf("Ping: %v", err)
			}
		})
	}
}

// TestSchemasMatch checks that both dialects' migrations end with the same
// tables and columns (STYLE.md "Storage").
func TestSchemasMatch(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	lite, err := open(t, testenv.SQLiteDSN(t)).Columns(ctx)
	if err != nil {
		t.Fatalf("Columns of SQLite: %v", err)
	}
	if len(lite) == 0 || len(lite["accounts"]) == 0 {
		t.Fatalf("Columns of SQLite: got %v, want the accounts table and more", lite)
	}
	pg, err := open(t, testenv.PostgresDSN(t)).Columns(ctx)
	if err != nil {
		t.Fatalf("Columns of PostgreSQL: %v", err)
	}
	if diff := cmp.Diff(lite, pg); diff != "" {
		t.Errorf("schemas differ (-sqlite +postgres):\n%s", diff)
	}
}

// TestMigrateTwice opens the same database twice, in turn and side by side:
// the second open applies nothing and sees the first one's data.
func TestMigrateTwice(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := dsn(t)
			ctx := t.Context()
			first, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("first Open: %v", err)
			}
			a := twofold.Account{ID: "acct-1", Username: "alice", PasswordHash: "x"}
			if err := first.CreateAccount(ctx, a); err != nil {
				t.Fatalf("CreateAccount: %v", err)
			}
			want, err := first.Columns(ctx)
			if err != nil {
				t.Fatalf("Columns: %v", err)
			}
			side := open(t, dsn) // while the first is still open
			if err := first.Close(); err != nil {
				t.Fatalf("Close: %v", err)
			}
			again := open(t, dsn)
			for i, s := range []*store.Store{side, again} {
				got, err := s.AccountByUsername(ctx, "alice")
				if err != nil {
					t.Fatalf("open %d: AccountByUsername: %v", i+2, err)
				}
				if diff := cmp.Diff(a, got); diff != "" {
					t.Errorf("open %d: account (-want +got):\n%s", i+2, diff)
				}
				cols, err := s.Columns(ctx)
				if err != nil {
					t.Fatalf("open %d: Columns: %v", i+2, err)
				}
				if diff := cmp.Diff(want, cols); diff != "" {
					t.Errorf("open %d: schema changed (-first +again):\n%s", i+2, diff)
				}
				if n, err := s.CountAccounts(ctx); err != nil || n != 1 {
					t.Errorf("open %d: CountAccounts: got %d, %v, want 1, nil", i+2, n, err)
				}
			}
		})
	}
}

// TestOpenConcurrently starts several stores on one new database at once, as
// several instances would: migrations are applied once and every open succeeds.
func TestOpenConcurrently(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := dsn(t)
			errs := make(chan error, 4)
			for range cap(errs) {
				go func() {
					s, err := store.Open(context.Background(), dsn)
					if err == nil {
						err = s.Close()
					}
					errs <- err
				}()
			}
			for range cap(errs) {
				if err := <-errs; err != nil {
					t.Errorf("Open: %v", err)
				}
			}
		})
	}
}

// TestSQLitePragmas checks STYLE.md "Storage": a SQLite file in WAL mode with
// foreign keys on and a busy timeout, on every pooled connection.
func TestSQLitePragmas(t *testing.T) {
	t.Parallel()
	s := open(t, testenv.SQLiteDSN(t))
	tests := []struct {
		pragma string
		want   string
	}{
		{"journal_mode", "wal"},
		{"foreign_keys", "1"},
		{"busy_timeout", "10000"},
		{"synchronous", "2"}, // FULL
	}
	for _, tt := range tests {
		t.Run(tt.pragma, func(t *testing.T) {
			got, err := s.Pragma(t.Context(), tt.pragma)
			if err != nil {
				t.Fatalf("Pragma(%q): %v", tt.pragma, err)
			}
			if got != tt.want {
				t.Errorf("PRAGMA %s: got %q, want %q", tt.pragma, got, tt.want)
			}
		})
	}
	t.Run("Invalid", func(t *testing.T) {
		for _, name := range []string{"", "journal_mode; DROP TABLE accounts", "foreign_keys=0", "user_version(1)"} {
			if _, err := s.Pragma(t.Context(), name); err == nil {
				t.Errorf("Pragma(%q): got no error, want one", name)
			}
		}
	})
	t.Run("ForeignKeysEnforced", func(t *testing.T) {
		f := twofold.Factor{ID: "f-orphan", AccountID: "acct-nobody", Type: twofold.FactorTOTP, Status: twofold.FactorPending, SealedSecret: []byte{1}}
		if err := s.CreateFactor(t.Context(), f); err == nil {
			t.Errorf("CreateFactor of an unknown account: got no error, want a foreign key failure")
		}
	})
}

func TestPragmaPostgres(t *testing.T) {
	t.Parallel()
	s := open(t, testenv.PostgresDSN(t))
	if _, err := s.Pragma(t.Context(), "foreign_keys"); err == nil {
		t.Errorf("Pragma on PostgreSQL: got no error, want one")
	}
}

// TestPingAfterPostgresDroppedConnections: once PostgreSQL has ended the
// pool's connections (a restart, pg_terminate_backend) and takes new ones
// again, Ping answers: the dead connections it meets first leave the pool
// rather than fail the readiness check (/readyz) of a database that is back.
func TestPingAfterPostgresDroppedConnections(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	ctx := context.Background()
	// Fill the pool with idle connections, all just used: eight
	// transactions at once, each holding its own until all are open; twice,
	// so that each connection has been taken from the pool again lately (the
	// driver checks a connection taken from the pool only when it has been
	// idle for more than a second).
	for range 2 {
		const n = 8
		var wg, inside sync.WaitGroup
		inside.Add(n)
		release := make(chan struct{})
		for range n {
			wg.Go(func() {
				if err := s.InTx(ctx, func(ctx context.Context) error {
					_, _, err := s.Throttle(ctx, "warm")
					inside.Done()
					<-release
					return err
				}); err != nil {
					t.Error(err)
				}
			})
		}
		inside.Wait()
		close(release)
		wg.Wait()
	}
	testenv.CutPostgres(t, dsn)() // end every connection, then allow new ones
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping with the database back: %v", err)
	}
}

// TestTextPostgresRefuses: text that PostgreSQL refuses in a parameter (not
// UTF-8, or with a NUL byte) is an invalid error there, not an internal one,
// whether a statement reads a row, reads rows or writes; SQLite takes it.
func TestTextPostgresRefuses(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := open(t, dsn(t))
			ctx := t.Context()
			for _, text := range []string{"a\x00b", "\xff", "a\xc3"} {
				_, err1 := s.AccountByID(ctx, text)
				_, err2 := s.Accounts(ctx, text, "", 10)
				_, err3 := s.TakeToken(ctx, text, 1, 1, time.Now())
				for i, err := range []error{err1, err2, err3} {
					code := twofold.ErrorCode(err)
					if s.Dialect() == store.Postgres && code != twofold.CodeInvalid || err != nil && code == twofold.CodeInternal {
						t.Errorf("statement %d with %q: got %v (%s), want on PostgreSQL an invalid error and never an internal one", i+1, text, err, code)
					}
				}
			}
		})
	}
}

// TestCreateAccountCaseRace: accounts whose names differ only in case,
// created at the same moment, make one account; the other is a conflict
// (on PostgreSQL, under READ COMMITTED, both passed the check of names
// before migration 0047's index).
func TestCreateAccountCaseRace(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			for i := range 30 {
				var wg sync.WaitGroup
				errs := make([]error, 2)
				for j, name := range []string{fmt.Sprintf("alice%d", i), fmt.Sprintf("ALICE%d", i)} {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[j] = s.CreateAccount(ctx, twofold.Account{ID: fmt.Sprintf("acct-%d-%d", i, j), Username: name, PasswordHash: "x"})
					}()
				}
				wg.Wait()
				made := 0
				for _, err := range errs {
					switch {
					case err == nil:
						made++
					case twofold.ErrorCode(err) != twofold.CodeConflict:
						t.Fatalf("round %d: got %v, want a conflict or success", i, err)
					}
				}
				if made != 1 {
					t.Fatalf("round %d: %d accounts made of alice%d and ALICE%d, want 1", i, made, i, i)
				}
			}
		})
	}
}
