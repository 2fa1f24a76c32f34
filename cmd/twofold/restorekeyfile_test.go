package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRestoreKeyFileMismatch: restore refuses, before it writes anything,
// a backup whose data keys the --key-file opens none of (another
// installation's key file, or none at all), saying so; the database, its
// directory and the backup are as they were. With the right key file the
// same backup restores.
func TestRestoreKeyFileMismatch(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	path := strings.TrimPrefix(dsn, "sqlite:")
	sc := newRestoreScene(t, dsn)
	backup := filepath.Join(t.TempDir(), "copy.db")
	if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", dsn, "--key-file", sc.keyFile, backup); err != nil {
		t.Fatal(err)
	}
	maxID := sc.afterBackup(t)
	other := otherKeyFile(t)
	// A copy a killed restore left: a refused restore does not even
	// remove it.
	stale := filepath.Join(filepath.Dir(path), ".twofold-restore-left")
	if err := os.WriteFile(stale, []byte("left"), 0o600); err != nil {
		t.Fatal(err)
	}
	db, bk := readAll(t, path), readAll(t, backup)
	for _, tt := range []struct{ name, keyFile, says string }{
		{"another installation's", other, "another installation's key file"},
		{"none", filepath.Join(t.TempDir(), "none.key"), "it does not exist"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, "restore", "--db", dsn, "--key-file", tt.keyFile, backup)
			if !errors.Is(err, keyring.ErrForeignKeyFile) || exitCode(err) != 1 {
				t.Fatalf("got %v, want a foreign key file, exit status 1", err)
			}
			for _, want := range []string{"the key file " + tt.keyFile + " does not match the backup", tt.says, "nothing changed", "as it was when the backup was made"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q lacks %q", err, want)
				}
			}
			if !bytes.Equal(readAll(t, path), db) || !bytes.Equal(readAll(t, backup), bk) {
				t.Error("the database or the backup changed")
			}
			if names, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*")); len(names) != 2 {
				t.Errorf("the database's directory holds %v, want the database and the stale copy alone", names)
			}
			if tm.stdout.String() != "" {
				t.Errorf("stdout %q, want nothing", tm.stdout)
			}
		})
	}
	if err := newTestMain(t, time.Now(), "").run(t, "restore", "--db", dsn, "--key-file", sc.keyFile, backup); err != nil {
		t.Fatal(err)
	}
	sc.checkRestored(t, dsn, maxID)
}

// TestRestorePostgresKeyFileMismatch: on PostgreSQL, restore refuses the
// fix-ups, changing nothing (no migration, no event), when --key-file opens
// none of the restored database's data keys.
func TestRestorePostgresKeyFileMismatch(t *testing.T) {
	sc, restored, maxID := pgRestoredScene(t)
	other := otherKeyFile(t)
	err := newTestMain(t, time.Now(), "").run(t, "restore", "--db", restored, "--key-file", other)
	if !errors.Is(err, keyring.ErrForeignKeyFile) || exitCode(err) != 1 ||
		!strings.Contains(err.Error(), "does not match the restored database") || !strings.Contains(err.Error(), "nothing changed") {
		t.Fatalf("got %v, want a foreign key file, nothing changed", err)
	}
	st, err := store.Open(context.Background(), restored)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := st.Events(context.Background(), "", 0, 1)
	st.Close()
	if err != nil || len(evs) != 1 || evs[0].Type == "database.restored" {
		t.Fatalf("the newest event after the refusal: %+v, %v; want one from before the restore", evs, err)
	}
	if err := newTestMain(t, time.Now(), "").run(t, "restore", "--db", restored, "--key-file", sc.keyFile); err != nil {
		t.Fatal(err)
	}
	sc.checkRestored(t, restored, maxID)
}

// otherKeyFile returns a key file of another installation.
func otherKeyFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "other.key")
	if _, _, err := keyring.LoadOrCreateFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func readAll(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
