//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
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
	f, err := OpenNoFollow(repl, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := KeepOwner(f, fi); err != nil {
		t.Fatal(err)
	}
	if got, want := ownerOf(t, repl), ownerOf(t, old); got != want {
		t.Fatalf("new file owned by %s, want %s", got, want)
	}
}

// TestOpenNoFollow: a symbolic link is never opened, whether it leads to
// a file or nowhere (where it would create one), and nothing is created
// or changed where it leads.
func TestOpenNoFollow(t *testing.T) {
	dir := t.TempDir()
	target, link, dangling := filepath.Join(dir, "target"), filepath.Join(dir, "link"), filepath.Join(dir, "dangling")
	if err := os.WriteFile(target, []byte("kept"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "made"), dangling); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{link, dangling} {
		f, err := OpenNoFollow(p, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o600)
		if err == nil {
			f.Close()
			t.Errorf("%s opened", p)
		} else if !strings.Contains(err.Error(), "symbolic link") {
			t.Errorf("%s: %v, want it to say why", p, err)
		}
	}
	if b, err := os.ReadFile(target); err != nil || string(b) != "kept" {
		t.Errorf("the link's target reads %q, %v", b, err)
	}
	if _, err := os.Lstat(filepath.Join(dir, "made")); err == nil {
		t.Error("a file was created where the dangling link leads")
	}
	f, err := OpenNoFollow(filepath.Join(dir, "new"), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	f.Close()
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
