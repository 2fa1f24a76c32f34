package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestAdminNeedsDatabase: an administration command given a --db where no
// Twofold database is (a mistyped SQLite path; a PostgreSQL database
// without Twofold's tables) fails and makes neither a database (nor
// tables) nor a master key file, rather than reporting success against an
// empty new one; `user add --create` makes them, as serve does at its
// first start.
func TestAdminNeedsDatabase(t *testing.T) {
	seeds := filepath.Join(t.TempDir(), "seeds.csv")
	writeFile(t, seeds, "FOB-1,3132333435363738393031323334353637383930\n")
	tests := []struct {
		name  string
		args  []string // before --db and --key-file
		stdin string
	}{
		{"user add", []string{"user", "add", "alice"}, "a long passphrase x\n"},
		{"user reset-two-factor", []string{"user", "reset-two-factor", "alice"}, ""},
		{"user operator", []string{"user", "operator", "alice"}, ""},
		{"dns add-zone", []string{"dns", "add-zone", "example.com", "--owner", "alice"}, ""},
		{"dns remove-zone", []string{"dns", "remove-zone", "example.com"}, ""},
		{"dns zones", []string{"dns", "zones"}, ""},
		{"tokens import", []string{"tokens", "import", seeds}, ""},
		{"tokens list", []string{"tokens", "list"}, ""},
		{"keys rotate", []string{"keys", "rotate"}, ""},
	}
	// Where no database is: a mistyped SQLite path, or a PostgreSQL
	// database without Twofold's tables (made by CREATE DATABASE, pg_restore
	// not run into it).
	dbs := map[string]func(t *testing.T, dir string) (dsn string, missing func() bool){
		"sqlite": func(t *testing.T, dir string) (string, func() bool) {
			db := filepath.Join(dir, "twofodl.db")
			return "sqlite:" + db, func() bool { _, err := os.Stat(db); return err != nil }
		},
		"postgres": func(t *testing.T, dir string) (string, func() bool) {
			dsn := testenv.PostgresDSN(t)
			return dsn, func() bool {
				missing, err := store.Missing(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				return missing
			}
		},
	}
	for dialect, newDB := range dbs {
		for _, tt := range tests {
			t.Run(dialect+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				dsn, missing := newDB(t, dir)
				key := filepath.Join(dir, "twofold.key")
				tm := newTestMain(t, time.Now(), tt.stdin)
				err := tm.run(t, append(tt.args, "--db", dsn, "--key-file", key)...)
				if err == nil || exitCode(err) != 1 {
					t.Errorf("got %v (stdout %q), want an error with exit code 1", err, tm.stdout.String())
				}
				if err != nil && !strings.Contains(err.Error(), strings.TrimPrefix(dsn, "sqlite:")) {
					t.Errorf("the error does not name the database it did not find: %v", err)
				}
				if tm.stdout.String() != "" {
					t.Errorf("got stdout %q, want none", tm.stdout.String())
				}
				if !missing() {
					t.Errorf("the database was created")
				}
				if _, err := os.Stat(key); err == nil {
					t.Errorf("%s was created", key)
				}
			})
		}
	}

	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect+"/user add --create", func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			key := filepath.Join(t.TempDir(), "twofold.key")
			flags := []string{"--db", dsn, "--key-file", key}
			tm := newTestMain(t, time.Now(), "a long passphrase x\n")
			if err := tm.run(t, append([]string{"user", "add", "alice", "--create"}, flags...)...); err != nil {
				t.Fatalf("user add --create: %v (stderr %q)", err, tm.stderr.String())
			}
			if missing, err := store.Missing(context.Background(), dsn); err != nil || missing {
				t.Errorf("user add --create: Missing got %v, %v; want the database made", missing, err)
			}
			if _, err := os.Stat(key); err != nil {
				t.Errorf("user add --create: %v", err)
			}
			tm = newTestMain(t, time.Now(), "")
			if err := tm.run(t, append([]string{"user", "operator", "alice"}, flags...)...); err != nil || !strings.Contains(tm.stdout.String(), "alice is an operator") {
				t.Errorf("user operator on the database made: %v, stdout %q", err, tm.stdout.String())
			}
		})
	}
}

// TestRefusedStartLeavesNothing: serve refused for a setting (an empty
// password blocklist, an unknown SMS country) makes neither the database
// nor the master key file that a first start would make.
func TestRefusedStartLeavesNothing(t *testing.T) {
	for name, bad := range map[string]func(dir string) []string{
		"empty blocklist": func(dir string) []string {
			list := filepath.Join(dir, "empty.txt")
			writeFile(t, list, "\n\n")
			return []string{"--password-blocklist", list}
		},
		"unknown sms country": func(string) []string { return []string{"--sms-countries", "ZZ"} },
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			db, key := filepath.Join(dir, "twofold.db"), filepath.Join(dir, "twofold.key")
			tm := newTestMain(t, time.Now(), "")
			args := append([]string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + db, "--key-file", key}, bad(dir)...)
			if err := tm.run(t, args...); err == nil {
				t.Fatal("serve started")
			}
			for _, p := range []string{db, key} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was made by a refused start", p)
				}
			}
		})
	}
}
