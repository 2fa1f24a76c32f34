// Package testenv is test support only: databases for tests (a SQLite file in a
// temporary folder, or a fresh PostgreSQL database), and a real server on
// 127.0.0.1:0.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
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
// test is skipped, except under CI (CI set), where that is a failure.
func PostgresDSN(tb testing.TB) string {
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
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
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
	u, err := url.Parse(dsn)
	if err != nil {
		tb.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", os.Getenv(PostgresEnv))
	if err != nil {
		tb.Fatal(err)
	}
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
	if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
		tb.Fatal(err)
	}
	return restore
}
