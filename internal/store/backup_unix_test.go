//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store_test

import (
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBackupRemovesStaleCopies: a backup killed hard leaves its copy (a
// whole database: password hashes, sealed secrets) and its -journal in
// the destination's directory; the next backup there removes them and
// says so, but leaves the copy of a backup running alongside, which holds
// a lock on it.
func TestBackupRemovesStaleCopies(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	open(t, dsn) // creates and migrates it
	dir := t.TempDir()
	stale := filepath.Join(dir, ".twofold-backup-123")
	for _, name := range []string{stale, stale + "-journal", filepath.Join(dir, ".twofold-backup-456-journal")} {
		if err := os.WriteFile(name, []byte("password hashes"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	running := filepath.Join(dir, ".twofold-backup-789")
	f, err := os.OpenFile(running, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}

	_, removed, err := store.Backup(t.Context(), dsn, filepath.Join(dir, "copy.db"))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{stale, stale + "-journal", filepath.Join(dir, ".twofold-backup-456-journal")}
	for _, name := range want {
		if _, err := os.Lstat(name); !os.IsNotExist(err) {
			t.Errorf("%s, left by a backup killed: still there (%v)", name, err)
		}
	}
	slices.Sort(removed)
	slices.Sort(want)
	if !slices.Equal(removed, want) {
		t.Errorf("removed %v, want %v", removed, want)
	}
	if _, err := os.Lstat(running); err != nil {
		t.Errorf("the copy of a backup running alongside: %v; want it left", err)
	}
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if !slices.Equal(names, []string{".twofold-backup-789", "copy.db"}) {
		t.Errorf("left in the directory: %v; want the running backup's copy and the new backup", names)
	}
}
