package store_test

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// wantUnavailable fails unless err is the unavailable error a database out
// of reach is, whose message tells the client nothing of the driver's and
// which keeps the driver's words (want) as its cause, for the log.
func wantUnavailable(t *testing.T, what string, err error, want string) {
	t.Helper()
	var te *twofold.Error
	if !errors.As(err, &te) || te.Code != twofold.CodeUnavailable || te.RetryAfter <= 0 {
		t.Fatalf("%s: got %v (%s), want an unavailable error with a wait", what, err, twofold.ErrorCode(err))
	}
	if msg := twofold.ErrorMessage(err); msg != "the database is not reachable; try again shortly" {
		t.Errorf("%s: the client is told %q", what, msg)
	}
	if !twofold.Fault(err) || !strings.Contains(err.Error(), want) {
		t.Errorf("%s: the log would say %q, want the driver's %q", what, err, want)
	}
}

// TestSQLiteFullIsUnavailable: a SQLite file that cannot grow (a full
// disk, here the writer's max_page_count) or cannot be written answers a
// write with an unavailable error, not an internal one; reads go on.
func TestSQLiteFullIsUnavailable(t *testing.T) {
	t.Parallel()
	s := open(t, testenv.SQLiteDSN(t))
	ctx := t.Context()
	if _, err := s.TakeSlot(ctx, "first", 0, time.Now(), time.Now()); err != nil {
		t.Fatal(err)
	}
	var pages int
	if err := s.QueryRowForTest(ctx, `PRAGMA page_count`, &pages); err != nil {
		t.Fatal(err)
	}
	if err := s.OnWriterForTest(ctx, fmt.Sprintf(`PRAGMA max_page_count = %d`, pages)); err != nil {
		t.Fatal(err)
	}
	var err error
	for i := 0; i < 100000 && err == nil; i++ {
		_, err = s.TakeSlot(ctx, fmt.Sprintf("key-%d-%s", i, strings.Repeat("x", 200)), 0, time.Now(), time.Now())
	}
	wantUnavailable(t, "a write to a full file", err, "(13)")
	if _, err := s.AccountByID(ctx, "nobody"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("a read of a full file: got %v, want not found", err)
	}

	if err := s.OnWriterForTest(ctx, `PRAGMA query_only = 1`); err != nil {
		t.Fatal(err)
	}
	_, err = s.TakeSlot(ctx, "read-only", 0, time.Now(), time.Now())
	wantUnavailable(t, "a write to a read-only file", err, "(8)")
}

// TestPostgresRestartIsSurvived: when PostgreSQL ends every connection, as
// a restart does, the next statements run on fresh connections and
// succeed: each pooled connection the server ended is left before a
// statement is sent on it.
func TestPostgresRestartIsSurvived(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	ctx := t.Context()
	for round := range 3 {
		// Several connections in the pool, each used twice; then ended,
		// and taken again once idle past the ping time (TerminatePostgres
		// waits it out), as after a real restart.
		for range 2 {
			var wg sync.WaitGroup
			for i := range 8 {
				wg.Go(func() {
					if _, _, err := s.Throttle(ctx, fmt.Sprintf("warm-%d-%d", round, i)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
		}
		testenv.TerminatePostgres(t, dsn)
		if _, err := s.TakeSlot(ctx, "after", round, time.Now(), time.Now()); err != nil {
			t.Fatalf("round %d: a write after the connections were ended: %v", round, err)
		}
		if _, err := s.AccountByID(ctx, "nobody"); twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatalf("round %d: a read after the connections were ended: got %v, want not found", round, err)
		}
		testenv.TerminatePostgres(t, dsn)
		if err := s.InTx(ctx, func(ctx context.Context) error {
			_, err := s.TakeSlot(ctx, "in-tx", round, time.Now(), time.Now())
			return err
		}); err != nil {
			t.Fatalf("round %d: a transaction after the connections were ended: %v", round, err)
		}
	}
}

// TestPostgresEndedInUseIsUnavailable: a connection PostgreSQL ends after
// it was checked and before its statement (a restart in between) fails
// that statement with an unavailable error, never an internal one.
func TestPostgresEndedInUseIsUnavailable(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	ctx := t.Context()
	c, err := s.ConnForTest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.ExecContext(ctx, `SELECT 1`); err != nil {
		t.Fatal(err)
	}
	testenv.TerminatePostgres(t, dsn)
	_, err = c.ExecContext(ctx, `SELECT 1`)
	wantUnavailable(t, "a statement on a connection ended while held", err, "57P01")
	if _, err := s.AccountByID(ctx, "nobody"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("a read on the pool afterwards: got %v, want not found", err)
	}
}

// TestPostgresGoneIsUnavailable: a PostgreSQL database that refuses
// connections answers every statement with an unavailable error, and
// the statements work again once it takes them.
func TestPostgresGoneIsUnavailable(t *testing.T) {
	t.Parallel()
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	restore := testenv.CutPostgres(t, dsn)
	_, err := s.TakeSlot(ctx, "gone", 0, time.Now(), time.Now())
	wantUnavailable(t, "a write", err, "not currently accepting connections")
	_, err = s.AccountByID(ctx, "nobody")
	wantUnavailable(t, "a read", err, "not currently accepting connections")
	restore()
	if _, err := s.TakeSlot(ctx, "back", 0, time.Now(), time.Now()); err != nil {
		t.Errorf("a write with the database back: %v", err)
	}
}

// TestPostgresMisconfiguredIsNotUnavailable: a DSN naming a database or a
// role the server does not have is refused at Open with the server's own
// words, not as a database out of reach to try again shortly: waiting
// mends neither.
func TestPostgresMisconfiguredIsNotUnavailable(t *testing.T) {
	t.Parallel()
	u, err := url.Parse(testenv.PostgresDSN(t))
	if err != nil {
		t.Fatal(err)
	}
	for what, change := range map[string]func(*url.URL){
		"no such database": func(u *url.URL) { u.Path = "/twofold_no_such_database" },
		"no such role":     func(u *url.URL) { u.User = url.User("twofold_no_such_role") },
	} {
		v := *u
		change(&v)
		s, err := store.Open(t.Context(), v.String())
		if err == nil {
			s.Close()
			t.Fatalf("%s: Open succeeded", what)
		}
		if twofold.ErrorCode(err) == twofold.CodeUnavailable || strings.Contains(err.Error(), "try again") || !strings.Contains(err.Error(), "does not exist") {
			t.Errorf("%s: %v, want the server's refusal, not a wait", what, err)
		}
	}
}
