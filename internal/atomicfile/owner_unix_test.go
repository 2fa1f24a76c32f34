//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestKeepOwner: the new file gets the owner and group of the one it
// replaces (as root, another user's: CI runs as root).
func TestKeepOwner(t *testing.T) {
	dir := t.TempDir()
	old, repl := filepath.Join(dir, "old"), filepath.Join(dir, "new")
	for _, p := range []string{old, repl} {
		if err := os.WriteFile(p, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	uid, gid := os.Geteuid(), os.Getegid()
	if uid == 0 {
		uid, gid = 65534, 65534
	} else if os.Getenv("CI") != "" {
		t.Fatal("run as root under CI: the test gives a file to another user")
	}
	if err := os.Chown(old, uid, gid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(old)
	if err != nil {
		t.Fatal(err)
	}
	if err := KeepOwner(repl, fi); err != nil {
		t.Fatal(err)
	}
	if got, want := ownerOf(t, repl), ownerOf(t, old); got != want {
		t.Fatalf("new file owned by %s, want %s", got, want)
	}
}

func ownerOf(t *testing.T, path string) string {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fmt.Sprintf("%d:%d", st.Uid, st.Gid)
}
