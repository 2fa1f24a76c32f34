package store_test

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOpenRefusesForeignDatabase: a database holding another application's
// tables and no record of Twofold's migrations is refused, on both stores,
// and left as it was: no Twofold table, no schema_migrations, and a SQLite
// file keeps its journal mode and file mode. So is one where an earlier
// release left an empty schema_migrations beside the other tables. A new,
// empty database is migrated (the other tests), and a Twofold database
// opens again.
func TestOpenRefusesForeignDatabase(t *testing.T) {
	ctx := context.Background()
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tc := range []struct {
				name  string
				setup []string
			}{
				{"another application's", []string{`CREATE TABLE sessions (id INTEGER PRIMARY KEY, data TEXT)`, `CREATE TABLE users (id INTEGER)`}},
				{"with an empty schema_migrations", []string{`CREATE TABLE sessions (id INTEGER PRIMARY KEY, data TEXT)`, `CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					dsn := newDSN(t)
					db := rawDB(t, dsn)
					for _, q := range tc.setup {
						if _, err := db.Exec(q); err != nil {
							t.Fatal(err)
						}
					}
					path := strings.TrimPrefix(dsn, "sqlite:")
					var before os.FileInfo
					if !store.IsPostgres(dsn) {
						before, _ = os.Stat(path)
					}
					tables := tableNames(t, db, dsn)
					st, err := store.Open(ctx, dsn)
					if err == nil {
						st.Close()
						t.Fatal("Open: got a store, want the database refused")
					}
					if !errors.As(err, new(*store.ForeignError)) || !strings.Contains(err.Error(), `"sessions"`) {
						t.Errorf("Open: got %v, want a ForeignError naming the table sessions", err)
					}
					if got := tableNames(t, db, dsn); strings.Join(got, " ") != strings.Join(tables, " ") {
						t.Errorf("tables after the refusal: got %v, want %v as before", got, tables)
					}
					if store.IsPostgres(dsn) {
						return
					}
					var mode string
					if err := db.QueryRow(`PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "delete" {
						t.Errorf("journal mode after the refusal: got %q (%v), want delete, as before", mode, err)
					}
					after, _ := os.Stat(path)
					if after.Mode() != before.Mode() {
						t.Errorf("file mode after the refusal: got %v, want %v", after.Mode(), before.Mode())
					}
					for _, suffix := range []string{"-wal", "-shm"} {
						if _, err := os.Stat(path + suffix); err == nil {
							t.Errorf("%s%s made", path, suffix)
						}
					}
				})
			}
			t.Run("Twofold's", func(t *testing.T) {
				dsn := newDSN(t)
				for range 2 {
					st, err := store.Open(ctx, dsn)
					if err != nil {
						t.Fatal(err)
					}
					st.Close()
				}
			})
		})
	}
}

// rawDB opens dsn outside any store, closed at the test's end.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	driver, name := "pgx", dsn
	if !store.IsPostgres(dsn) {
		driver, name = "sqlite", strings.TrimPrefix(dsn, "sqlite:")
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// tableNames lists the tables of the database db reaches, by name.
func tableNames(t *testing.T, db *sql.DB, dsn string) []string {
	t.Helper()
	q := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	if store.IsPostgres(dsn) {
		q = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() ORDER BY tablename`
	}
	rows, err := db.Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	return names
}
