package testenv

import (
	"database/sql"
	"testing"
	"time"
)

// AwaitLockWaiters returns once at least n connections to db's PostgreSQL
// database wait for a lock (pg_stat_activity), as a transaction a test
// holds in the middle makes others wait: the signal that they have met,
// where a sleep would only guess. Should done deliver first, the test
// fails: what should have waited did not. A nil done is never read.
func AwaitLockWaiters[T any](tb testing.TB, db *sql.DB, n int, done <-chan T) {
	tb.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		var waiting int
		if err := db.QueryRowContext(tb.Context(), `SELECT COUNT(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
			tb.Fatal(err)
		}
		if waiting >= n {
			return
		}
		select {
		case v := <-done:
			tb.Fatalf("ended without waiting for a lock (%d of %d waiting): %v", waiting, n, v)
		case <-tick.C:
		}
	}
}

// OpenDB opens the database dsn with database/sql, outside any store, for
// a test that holds rows from a second connection or watches who waits
// (AwaitLockWaiters); it is closed when the test ends.
func OpenDB(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	db := openDSN(tb, dsn)
	tb.Cleanup(func() { db.Close() })
	return db
}
