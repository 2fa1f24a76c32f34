// Package testenv is test support only: databases for tests (a SQLite file in a
// temporary folder, or a fresh PostgreSQL database), and a real server on
// 127.0.0.1:0.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers "pgx"
)

// PostgresEnv names the variable holding the PostgreSQL server URL for tests,
// for example postgres://postgres@127.0.0.1:5432/test?sslmode=disable.
const PostgresEnv = "TWOFOLD_TEST_POSTGRES"

// SQLiteDSN returns the DSN of a new SQLite file in a temporary folder.
func SQLiteDSN(tb testing.TB) string {
	tb.Helper()
	return "sqlite:" + filepath.Join(tb.TempDir(), "twofold.db")
}

// PostgresDSN creates a fresh database on the server named by TWOFOLD_TEST_POSTGRES,
// drops it when the test ends, and returns its DSN. Without the variable the
// test is skipped, except under CI (CI set), where that is a failure. The
// database is encoded in UTF8, as Twofold requires, even on a server whose
// default is another encoding (SQL_ASCII, for a cluster made in the C
// locale); its locale is the server's.
func PostgresDSN(tb testing.TB) string {
	tb.Helper()
	return postgresDSN(tb, " ENCODING 'UTF8' TEMPLATE template0")
}

// PostgresCollatedDSN is PostgresDSN for a database whose text sorts by
// the rules of the ICU locale (en-US, say) rather than the server's
// default, as a database created by an operator in another locale would:
// for tests of the order of answers.
func PostgresCollatedDSN(tb testing.TB, icuLocale string) string {
	tb.Helper()
	return postgresDSN(tb, " TEMPLATE template0 LOCALE_PROVIDER icu ICU_LOCALE '"+strings.ReplaceAll(icuLocale, "'", "")+"'")
}

// PostgresEncodedDSN is PostgresDSN for a database in encoding (SQL_ASCII,
// LATIN1, …) rather than the server's default, with the C locale, which
// goes with every encoding: for tests of what is refused such a database.
func PostgresEncodedDSN(tb testing.TB, encoding string) string {
	tb.Helper()
	return postgresDSN(tb, " ENCODING '"+strings.ReplaceAll(encoding, "'", "")+"' LOCALE 'C' TEMPLATE template0")
}

// postgresDSN is PostgresDSN, creating the database with options.
func postgresDSN(tb testing.TB, options string) string {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CI") != "" {
			tb.Fatalf("%s is not set under CI: the PostgreSQL half of the suite must run", PostgresEnv)
		}
		tb.Skipf("%s not set; PostgreSQL tests skipped", PostgresEnv)
	}
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatal(err)
	}
	defer admin.Close()
	b := make([]byte, 6)
	rand.Read(b)
	name := "twofold_test_" + hex.EncodeToString(b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name+options); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err != nil {
			tb.Error(err)
			return
		}
		defer a.Close()
		if _, err := a.Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)"); err != nil {
			tb.Errorf("drop test database: %v", err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatal(err)
	}
	u.Path = "/" + name
	return u.String()
}

// DSNs returns one fresh database of each dialect, by name, for suites that
// run against both.
func DSNs(tb testing.TB) map[string]func(testing.TB) string {
	tb.Helper()
	return map[string]func(testing.TB) string{"sqlite": SQLiteDSN, "postgres": PostgresDSN}
}

// CutPostgres makes the test database dsn (from PostgresDSN) refuse new
// connections and ends the open ones, as if the database had gone away;
// the returned function, also run when the test ends, lets connections in
// again.
func CutPostgres(tb testing.TB, dsn string) (restore func()) {
	tb.Helper()
	admin, name := adminOf(tb, dsn)
	var once sync.Once
	restore = func() {
		once.Do(func() {
			if _, err := admin.Exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS true"); err != nil {
				tb.Error(err)
			}
			admin.Close()
		})
	}
	tb.Cleanup(restore)
	if _, err := admin.Exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS false"); err != nil {
		tb.Fatal(err)
	}
	// End its connections and wait them out, as TerminatePostgres does, so
	// that the store's next statement finds the database refusing new ones.
	TerminatePostgres(tb, dsn)
	return restore
}

// adminOf opens the PostgreSQL server named by TWOFOLD_TEST_POSTGRES, to
// act on the test database dsn (from PostgresDSN) from outside it, and
// returns it with that database's name. The caller closes it.
func adminOf(tb testing.TB, dsn string) (admin *sql.DB, name string) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	admin, err = sql.Open("pgx", os.Getenv(PostgresEnv))
	if err != nil {
		tb.Fatal(err)
	}
	return admin, strings.TrimPrefix(u.Path, "/")
}

// openDSN opens the database dsn (a Twofold DSN, "sqlite:PATH" or
// "postgres://…") with database/sql, outside any store. A SQLite file is
// opened to wait for a lock as the store's own connections do, so that a
// write beside a running server's waits for its writer's transaction.
func openDSN(tb testing.TB, dsn string) *sql.DB {
	tb.Helper()
	driver, name := "pgx", dsn
	if !isPostgres(dsn) {
		name = strings.TrimPrefix(dsn, "sqlite:")
		sep := "?"
		if strings.Contains(name, "?") {
			sep = "&"
		}
		// Foreign keys on, as every release's store has them: a test's
		// write must not leave rows no release could.
		driver, name = "sqlite", name+sep+"_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)"
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		tb.Fatal(err)
	}
	return db
}

// isPostgres reports whether dsn names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// Exec runs query on the Twofold database dsn outside any store, as an
// older release writing to it would, once for each of args (once with no
// arguments when there are none), all in one transaction.
func Exec(tb testing.TB, dsn, query string, args ...[]any) {
	tb.Helper()
	db := openDSN(tb, dsn)
	defer db.Close()
	tx, err := db.Begin()
	if err != nil {
		tb.Fatal(err)
	}
	defer tx.Rollback()
	if len(args) == 0 {
		args = [][]any{nil}
	}
	for _, a := range args {
		if _, err := tx.Exec(query, a...); err != nil {
			tb.Fatalf("%s: %v", query, err)
		}
	}
	if err := tx.Commit(); err != nil {
		tb.Fatal(err)
	}
}

// AddMigration records migration version as applied to the Twofold
// database dsn, as a newer release migrating it would.
func AddMigration(tb testing.TB, dsn string, version int) {
	tb.Helper()
	db := openDSN(tb, dsn)
	defer db.Close()
	if _, err := db.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES ($1, 0)`, version); err != nil {
		tb.Fatalf("add migration %d: %v", version, err)
	}
}

// Migrations returns the migrations applied to the Twofold database dsn,
// oldest first.
func Migrations(tb testing.TB, dsn string) []int {
	tb.Helper()
	db := openDSN(tb, dsn)
	defer db.Close()
	rows, err := db.Query(`SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		tb.Fatalf("read migrations: %v", err)
	}
	defer rows.Close()
	var vs []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			tb.Fatal(err)
		}
		vs = append(vs, v)
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	return vs
}

// RemoveMigration forgets that migration version was applied to the
// Twofold database dsn, undoing AddMigration.
func RemoveMigration(tb testing.TB, dsn string, version int) {
	tb.Helper()
	db := openDSN(tb, dsn)
	defer db.Close()
	if _, err := db.Exec(`DELETE FROM schema_migrations WHERE version = $1`, version); err != nil {
		tb.Fatalf("remove migration %d: %v", version, err)
	}
}

// TerminatePostgres ends every open connection to the test database dsn
// (from PostgresDSN), as a restart of PostgreSQL does, and returns once
// the server has ended them all (within a minute); new connections are
// let in as before.
func TerminatePostgres(tb testing.TB, dsn string) {
	tb.Helper()
	admin, name := adminOf(tb, dsn)
	defer admin.Close()
	if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		tb.Fatal(err)
	}
	awaitEnded(tb, admin, name, "they were terminated", "")
	// Past the idle time after which the store pings a pooled connection
	// before reuse (100 ms, store's pingAfterIdle), as after a real
	// restart: the connections it held are checked.
	time.Sleep(250 * time.Millisecond)
}

// awaitEnded returns once admin sees no connection to the database name
// that matches cond (SQL on pg_stat_activity's columns, with args from $2;
// "" for all), failing the test after a minute; after says what ended
// them.
func awaitEnded(tb testing.TB, admin *sql.DB, name, after, cond string, args ...any) {
	tb.Helper()
	q := "SELECT count(*) FROM pg_stat_activity WHERE datname = $1"
	if cond != "" {
		q += " AND " + cond
	}
	deadline := time.Now().Add(time.Minute)
	for {
		var n int
		if err := admin.QueryRow(q, append([]any{name}, args...)...).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n == 0 {
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d connections to %s still open a minute after %s", n, name, after)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// PostgresProxy returns dsn (from PostgresDSN) reached through a TCP proxy
// on loopback, and cut, which ends every connection made through it and
// refuses new ones there, the database taking others (dsn itself) as
// before: a store opened on the proxied DSN is left holding no connection,
// and unable to make one, for as long as the test likes. cut returns once
// PostgreSQL has ended the backends of those connections (within a
// minute).
func PostgresProxy(tb testing.TB, dsn string) (proxied string, cut func()) {
	tb.Helper()
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	upstream := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		mu     sync.Mutex
		conns  []net.Conn
		closed bool
		ports  []int // the proxy's own ports towards PostgreSQL
		wg     sync.WaitGroup
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", upstream)
			if err != nil {
				c.Close()
				continue
			}
			mu.Lock()
			if closed {
				mu.Unlock()
				c.Close()
				up.Close()
				continue
			}
			conns = append(conns, c, up)
			ports = append(ports, up.LocalAddr().(*net.TCPAddr).Port)
			mu.Unlock()
			wg.Go(func() { io.Copy(up, c); up.Close() })
			wg.Go(func() { io.Copy(c, up); c.Close() })
		}
	})
	var once sync.Once
	stop := func() {
		once.Do(func() {
			ln.Close()
			mu.Lock()
			closed = true
			for _, c := range conns {
				c.Close()
			}
			mu.Unlock()
			wg.Wait()
		})
	}
	tb.Cleanup(stop)
	p := *u
	p.Host = ln.Addr().String()
	return p.String(), func() {
		tb.Helper()
		stop()
		admin, name := adminOf(tb, dsn)
		defer admin.Close()
		awaitEnded(tb, admin, name, "the proxy they came through was cut", "client_port = ANY($2)", ports)
	}
}

// ScanAny scans the current row of rows, whose columns are cols, into a
// value per column as the driver gives it (nil, int64, string, []byte…).
func ScanAny(tb testing.TB, rows *sql.Rows, cols []string) []any {
	tb.Helper()
	vals := make([]any, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	if err := rows.Scan(ptrs...); err != nil {
		tb.Fatal(err)
	}
	return vals
}

// DeleteTeams deletes the teams ids from the Twofold database dsn; their
// members and invitations go with them and their zones are no longer
// shared, by the schema's foreign keys, which Exec keeps on for SQLite as
// the store does.
func DeleteTeams(tb testing.TB, dsn string, ids ...string) {
	tb.Helper()
	if len(ids) > 0 {
		Exec(tb, dsn, `DELETE FROM teams WHERE id IN ('`+strings.Join(ids, `', '`)+`')`)
	}
}
