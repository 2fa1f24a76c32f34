package store_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.db")
	s, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []string{path, path + "-wal"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: got mode %o, want 600", filepath.Base(f), got)
		}
	}
}

func TestSQLiteOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, dsn string
		ok        bool
	}{
		{"normal", "sqlite:" + filepath.Join(dir, "a.db") + "?synchronous=normal", true},
		{"full", "sqlite:" + filepath.Join(dir, "b.db") + "?synchronous=FULL", true},
		{"bad value", "sqlite:" + filepath.Join(dir, "c.db") + "?synchronous=off", false},
		{"unknown option", "sqlite:" + filepath.Join(dir, "d.db") + "?cache=shared", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.dsn)
			if (err == nil) != tc.ok {
				t.Fatalf("got error %v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				s.Close()
			}
		})
	}
}

// TestSQLiteOddPaths: a database file whose path holds characters that a
// SQLite URI reads otherwise ("#" a fragment, "?" parameters, "%41" an
// escape, "//" an authority) is opened, created owner-only and backed up
// at that path, not at another one.
func TestSQLiteOddPaths(t *testing.T) {
	for _, tc := range []struct{ name, file, copy string }{
		{"hash", "we#ird.db", "copy#1.db"},
		{"percent escape", "100%41.db", "copy%41.db"},
		{"percent", "50%.db", "copy%.db"},
		{"question mark", "we?ird.db", "copy?.db"},
		{"question mark and option", "we?ird.db?synchronous=NORMAL", "copy.db"},
		{"double slash", "//slash.db", "copy.db"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dir, out := t.TempDir(), t.TempDir()
			dsn := "sqlite:" + dir + "/" + tc.file
			if name, ok := strings.CutPrefix(tc.file, "//"); ok {
				dsn = "sqlite:/" + dir + "/" + name // "//tmp/…"
			}
			file, _, _ := strings.Cut(strings.TrimPrefix(tc.file, "//"), "?synchronous")
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if err := s.AddEvent(ctx, twofold.AuditEvent{Type: "test.event", At: time.Unix(1, 0)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if names, want := testenv.DirNames(t, dir), []string{file}; !slices.Equal(names, want) {
				t.Fatalf("files in the folder: got %q, want %q", names, want)
			}
			if st, err := os.Stat(filepath.Join(dir, file)); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("the database file: %v, %v; want mode 0600", st, err)
			}
			if missing, err := store.Missing(ctx, dsn); err != nil || missing {
				t.Errorf("Missing: got %v, %v; want false", missing, err)
			}
			dest := filepath.Join(out, tc.copy)
			if _, _, err := store.Backup(ctx, dsn, dest); err != nil {
				t.Fatalf("Backup: %v", err)
			}
			if entries, _ := os.ReadDir(out); len(entries) != 1 || entries[0].Name() != tc.copy {
				t.Fatalf("files beside the copy: got %v, want %s alone", entries, tc.copy)
			}
			c, err := store.Open(ctx, "sqlite:"+dest)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			evs, err := c.Events(ctx, "", 0, 10)
			if err != nil || len(evs) != 1 || evs[0].Type != "test.event" {
				t.Errorf("events in the copy: got %v, %v; want the one written", evs, err)
			}
		})
	}
}

// TestSQLiteDeletionLeavesNoCopy: what a deletion removes (here a closed
// account's email address) is not left readable in the free space of the
// database file's pages: the writer runs with secure_delete, so the bytes
// are zeroed when their page is written.
func TestSQLiteDeletionLeavesNoCopy(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.db")
	ctx := t.Context()
	s, err := store.Open(ctx, "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	const marker = "closed-holder-marker@example.com"
	for _, name := range []string{"alice", "bob"} {
		a := twofold.Account{ID: "acct-" + name, Username: name, Email: name + "-kept@example.com", PasswordHash: "h", CreatedAt: time.Unix(1_800_000_000, 0)}
		if name == "alice" {
			a.Email = marker
		}
		if err := s.CreateAccount(ctx, a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.DeleteAccount(ctx, "acct-alice", time.Unix(1_800_000_100, 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // the last connection checkpoints the WAL into the file
		t.Fatal(err)
	}
	for _, f := range []string{path, path + "-wal"} {
		b, err := os.ReadFile(f)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), marker); n > 0 {
			t.Errorf("%s holds the closed account's address %d times", filepath.Base(f), n)
		}
		if f == path && !strings.Contains(string(b), "bob-kept@example.com") {
			t.Errorf("%s lost the address of the account kept: the check reads the wrong file", filepath.Base(f))
		}
	}
}
