package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// futureMigration is a migration no binary of this one's embeds: the
// databases below were migrated by a newer release.
const futureMigration = 9000

// wantSchemaError fails the test unless err, a command's, is a
// *store.SchemaError for futureMigration, with exit status 1.
func wantSchemaError(t *testing.T, what string, err error) {
	t.Helper()
	var se *store.SchemaError
	if !errors.As(err, &se) || se.Database != futureMigration || se.Binary >= futureMigration || exitCode(err) != 1 {
		t.Errorf("%s on a database at migration %d: got %v (exit status %d), want a SchemaError and exit status 1", what, futureMigration, err, exitCode(err))
	}
}

// newDatabase makes a Twofold database holding alice, and its key file.
func newDatabase(t *testing.T, dsn string) (key string) {
	t.Helper()
	key = filepath.Join(t.TempDir(), "twofold.key")
	if err := newTestMain(t, time.Now(), "a long passphrase x\n").run(t, "user", "add", "alice", "--create", "--db", dsn, "--key-file", key); err != nil {
		t.Fatal(err)
	}
	return key
}

// TestNewerSchemaRefused: every command that opens the database refuses
// one a newer release migrated (a migration this binary does not embed),
// exits 1 and changes nothing: serve does not start, and no
// administration command, backup or bench runs; on both stores.
func TestNewerSchemaRefused(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			key := newDatabase(t, dsn)
			st := openForTest(t, dsn)
			events := countEvents(t, st)
			testenv.AddMigration(t, dsn, futureMigration)
			migrations := testenv.Migrations(t, dsn)
			keyBytes, err := os.ReadFile(key)
			if err != nil {
				t.Fatal(err)
			}

			flags := []string{"--db", dsn, "--key-file", key}
			with := func(args ...string) []string { return append(args, flags...) }
			dest := filepath.Join(t.TempDir(), "copy.db")
			commands := [][]string{
				with("user", "add", "bob"),
				with("user", "operator", "alice"),
				with("user", "reset-two-factor", "alice", "--now"),
				with("tokens", "list"),
				with("keys", "rotate"),
				with("dns", "zones"),
				with("bench", "--accounts", "1", "--force", "--phases", "baseline", "--requests", "1", "--concurrency", "1"),
			}
			if dialect == "sqlite" {
				commands = append(commands, []string{"backup", "--db", dsn, "--key-file", key, dest})
			}
			for _, args := range commands {
				tm := newTestMain(t, time.Now(), "another long passphrase\n")
				wantSchemaError(t, args[0]+" "+args[1], tm.run(t, args...))
			}
			if _, err := os.Lstat(dest); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("backup wrote %s: %v", dest, err)
			}

			// serve refuses to start: it must return, not listen.
			tm := newTestMain(t, time.Now(), "")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tm.Run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0"}, flags...)) }()
			for served := false; !served; {
				select {
				case err := <-done:
					wantSchemaError(t, "serve", err)
					served = true
				case <-time.After(10 * time.Millisecond):
					if listeningRE.MatchString(tm.stdout.String()) {
						cancel()
						t.Errorf("serve started on a database at migration %d", futureMigration)
						<-done
						served = true
					}
				}
			}
			tm.Close()

			if got := testenv.Migrations(t, dsn); !slices.Equal(got, migrations) {
				t.Errorf("migrations: got %v, want %v as they were", got, migrations)
			}
			if got := countEvents(t, st); got != events {
				t.Errorf("audit events: got %d, want %d as they were", got, events)
			}
			if got, err := os.ReadFile(key); err != nil || string(got) != string(keyBytes) {
				t.Errorf("the key file changed: %v", err)
			}
		})
	}
}

// TestRestoreRefusesNewerSchema: a backup of a database a newer release
// migrated is refused by restore with exit status 1, nothing changed: on
// SQLite the database restore would replace stays, nothing moved aside
// and no copy left; on PostgreSQL the database pg_restore restored into
// gets no fix-ups (its sessions stay, no restore on the record).
func TestRestoreRefusesNewerSchema(t *testing.T) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		target := filepath.Join(dir, "twofold.db")
		st := openForTest(t, "sqlite:"+target)
		events := countEvents(t, st)
		st.Close()
		before, err := os.ReadFile(target)
		if err != nil {
			t.Fatal(err)
		}
		future := filepath.Join(t.TempDir(), "future.db")
		newDatabase(t, "sqlite:"+future)
		testenv.AddMigration(t, "sqlite:"+future, futureMigration)

		tm := newTestMain(t, time.Now(), "")
		wantSchemaError(t, "restore", tm.run(t, "restore", "--db", "sqlite:"+target, future))
		if tm.stdout.String() != "" {
			t.Errorf("restore printed %q, want nothing", tm.stdout.String())
		}
		if after, err := os.ReadFile(target); err != nil || string(after) != string(before) {
			t.Errorf("the database changed: %v", err)
		}
		if left, _ := filepath.Glob(filepath.Join(dir, "*")); len(left) != 1 {
			t.Errorf("files beside the database: %v, want only it", left)
		}
		st = openForTest(t, "sqlite:"+target)
		if got := countEvents(t, st); got != events {
			t.Errorf("audit events: got %d, want %d as they were", got, events)
		}
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		for _, tool := range []string{"pg_dump", "pg_restore"} {
			if _, err := exec.LookPath(tool); err != nil {
				t.Fatalf("%s is required (apt-get install postgresql-client): %v", tool, err)
			}
		}
		dsn := testenv.PostgresDSN(t)
		sc := newRestoreScene(t, dsn)
		sc.s.Close()
		testenv.AddMigration(t, dsn, futureMigration)
		dump := filepath.Join(t.TempDir(), "twofold.dump")
		if out, err := exec.Command("pg_dump", "--format=custom", "--file", dump, "--dbname", dsn).CombinedOutput(); err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, out)
		}
		restored := testenv.PostgresDSN(t)
		if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, dump).CombinedOutput(); err != nil {
			t.Fatalf("pg_restore: %v\n%s", err, out)
		}
		migrations := testenv.Migrations(t, restored)

		tm := newTestMain(t, time.Now(), "")
		wantSchemaError(t, "restore", tm.run(t, "restore", "--db", restored, "--key-file", sc.keyFile))
		if tm.stdout.String() != "" {
			t.Errorf("restore printed %q, want nothing", tm.stdout.String())
		}
		if got := testenv.Migrations(t, restored); !slices.Equal(got, migrations) {
			t.Errorf("migrations: got %v, want %v as they were", got, migrations)
		}
		// Remove the newer release's mark to look inside: no fix-ups ran.
		testenv.RemoveMigration(t, restored, futureMigration)
		r := testenv.NewServer(t, restored, keysWithKeyFile(sc.keyFile))
		evs, err := r.Store.Events(context.Background(), "", 0, 1)
		if err != nil || len(evs) != 1 || evs[0].Type == "database.restored" {
			t.Errorf("newest event %+v, %v; want one from before, no restore", evs, err)
		}
		c := testenv.NewClient(r.URL())
		c.Token = sc.kept.Token
		if resp := c.Do(t, "GET", "/v1/me", nil); resp.Status != 200 {
			t.Errorf("a session of the dump: got %d %s, want 200 (not ended: no fix-ups ran)", resp.Status, resp.Body)
		}
	})
}

// openForTest opens the database dsn, closed when the test ends.
func openForTest(t *testing.T, dsn string) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// countEvents returns how many audit events st holds.
func countEvents(t *testing.T, st *store.Store) int {
	t.Helper()
	evs, err := st.Events(context.Background(), "", 0, 100000)
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}
