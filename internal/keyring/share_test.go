package keyring

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/twofold/twofold"
)

// sharedOwner returns the owner and group a test gives a shared key file:
// as root (as CI runs), another user's (nobody, 65534) and group, which only
// root can give; otherwise this process's own.
func sharedOwner(t *testing.T) (uid, gid int) {
	t.Helper()
	if os.Geteuid() == 0 {
		return 65534, 65534
	}
	if os.Getenv("CI") != "" {
		t.Fatal("run as root under CI: the test gives the key file to another user")
	}
	return os.Geteuid(), os.Getegid()
}

func ownerOf(t *testing.T, path string) (mode fs.FileMode, uid, gid int) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return fi.Mode().Perm(), int(st.Uid), int(st.Gid)
}

// TestRotateKeepsModeAndOwner: a key file shared with the service through
// its group (mode 0640) or owned by the service's user keeps its mode, owner
// and group when root rotates it, so that the service still reads it.
func TestRotateKeepsModeAndOwner(t *testing.T) {
	x := newFixture(t, 2)
	uid, gid := sharedOwner(t)
	if err := os.Chown(x.path, uid, gid); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(x.path, 0o640); err != nil {
		t.Fatal(err)
	}
	res := rotate(t, x, RotateOptions{})
	if !res.AddedMaster || res.MastersRetired != 1 {
		t.Fatalf("Rotate: got %+v, want a master key added and one retired", res)
	}
	x.checkFinal(t)
	mode, gotUID, gotGID := ownerOf(t, x.path)
	if mode != 0o640 || gotUID != uid || gotGID != gid {
		t.Fatalf("after the rotation: mode %04o, owner %d:%d; want 0640, %d:%d", mode, gotUID, gotGID, uid, gid)
	}
	// A file Twofold creates is still its own, 0600.
	path := filepath.Join(t.TempDir(), "new.key")
	if _, _, err := LoadOrCreateFile(path); err != nil {
		t.Fatal(err)
	}
	if mode, _, _ := ownerOf(t, path); mode != 0o600 {
		t.Fatalf("new key file: mode %04o, want 0600", mode)
	}
}

// TestRotateRefusesWhenOwnerCannotBeKept: when the key file's owner and
// group cannot be given to the new file (a user who may not give a file
// away), Rotate refuses before it changes anything: the key file, the data
// keys and the sealed values are as they were, and no file is left beside
// the key file. Also when it would finish an interrupted rotation, whose
// first change is to the database.
func TestRotateRefusesWhenOwnerCannotBeKept(t *testing.T) {
	t.Run("new", func(t *testing.T) { refuseOwner(t, newFixture(t, 2)) })
	t.Run("interrupted", func(t *testing.T) {
		x := newFixture(t, 2)
		if _, err := Rotate(t.Context(), x.path, x.st, RotateOptions{After: crashAt(StepMasterReady, 1)}); !errors.Is(err, errCrash) {
			t.Fatalf("Rotate: got %v, want the simulated crash", err)
		}
		refuseOwner(t, x)
	})
}

func refuseOwner(t *testing.T, x *fixture) {
	errNotPermitted := errors.New("operation not permitted")
	keepOwner = func(*os.File, fs.FileInfo) error { return errNotPermitted }
	t.Cleanup(func() { keepOwner = keepOwnerOf })
	before, _ := os.ReadFile(x.path)
	keysBefore, _ := x.st.DataKeys(t.Context())
	valuesBefore, _ := x.st.SealedValues(t.Context())
	_, err := Rotate(t.Context(), x.path, x.st, RotateOptions{})
	if !errors.Is(err, errNotPermitted) {
		t.Fatalf("Rotate: got %v, want the refusal", err)
	}
	if after, _ := os.ReadFile(x.path); !bytes.Equal(before, after) {
		t.Fatal("the key file changed")
	}
	if keys, _ := x.st.DataKeys(t.Context()); !slices.Equal(keyIDs(keys), keyIDs(keysBefore)) {
		t.Fatalf("data keys %v, want %v as they were", keyIDs(keys), keyIDs(keysBefore))
	}
	byRow := func(values []Sealed) []Sealed {
		return slices.SortedFunc(slices.Values(values), func(a, b Sealed) int { return strings.Compare(a.Row, b.Row) })
	}
	if values, _ := x.st.SealedValues(t.Context()); !slices.EqualFunc(byRow(values), byRow(valuesBefore), func(a, b Sealed) bool {
		return a.Row == b.Row && a.KeyID == b.KeyID && bytes.Equal(a.Ciphertext, b.Ciphertext)
	}) {
		t.Fatal("the sealed values changed")
	}
	entries, _ := os.ReadDir(filepath.Dir(x.path))
	for _, e := range entries {
		if name := e.Name(); name != "twofold.key" && name != "twofold.key.lock" {
			t.Errorf("Rotate left %s beside the key file", name)
		}
	}
	x.checkOnDisk(t, "after the refusal")
	x.checkServer(t, "after the refusal")
	keepOwner = keepOwnerOf
	rotate(t, x, RotateOptions{})
	x.checkFinal(t)
}

// keepOwnerOf is keepOwner as the package sets it.
var keepOwnerOf = keepOwner

// linkTo makes a symbolic link in a directory of its own to the key file at
// target, by a relative path as an operator would, and returns it.
func linkTo(t *testing.T, target string) string {
	t.Helper()
	dir := t.TempDir()
	rel, err := filepath.Rel(dir, target)
	if err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "twofold.key")
	if err := os.Symlink(rel, link); err != nil {
		t.Fatal(err)
	}
	return link
}

// TestRotateThroughSymlink: a rotation given a symbolic link to the key file
// (a shared volume) rotates the file it leads to, which servers read, and
// leaves the link as it was; the lock is taken beside that file, and so is
// every file written.
func TestRotateThroughSymlink(t *testing.T) {
	x := newFixture(t, 3)
	link := linkTo(t, x.path)
	before, _ := os.Readlink(link)
	res, err := Rotate(t.Context(), link, x.st, RotateOptions{})
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	fi, err := os.Lstat(link)
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link is now %v, %v; want it still a symbolic link", fi.Mode(), err)
	}
	if after, _ := os.Readlink(link); after != before {
		t.Fatalf("the link leads to %s, want %s as before", after, before)
	}
	master, _ := x.checkFinal(t) // the file the link leads to, and a server reading it
	if master != res.Master {
		t.Fatalf("the key file's primary is %s, want the rotation's %s", master, res.Master)
	}
	if _, err := os.Stat(x.path + ".lock"); err != nil {
		t.Errorf("no lock file beside the key file: %v", err)
	}
	entries, _ := os.ReadDir(filepath.Dir(link))
	for _, e := range entries {
		if e.Name() != "twofold.key" {
			t.Errorf("Rotate wrote %s beside the link", e.Name())
		}
	}
}

// TestRotateLockedThroughSymlink: a rotation through a link and one through
// the file it leads to take the same lock, so they do not run at once.
func TestRotateLockedThroughSymlink(t *testing.T) {
	x := newFixture(t, 1)
	link := linkTo(t, x.path)
	unlock, err := lockFile(x.path+".lock", nil)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(x.path)
	if _, err := Rotate(t.Context(), link, x.st, RotateOptions{}); err == nil {
		t.Fatal("Rotate through a link under another's lock of its file: got nil error, want one")
	}
	if after, _ := os.ReadFile(x.path); !bytes.Equal(before, after) {
		t.Fatal("the key file changed under another's lock")
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link is now %v, %v; want it still a symbolic link", fi.Mode(), err)
	}
	unlock()
	if _, err := Rotate(t.Context(), link, x.st, RotateOptions{}); err != nil {
		t.Fatal(err)
	}
	x.checkFinal(t)
}

// TestSaveThroughSymlink: Save through a link writes the file it leads to,
// keeping its mode.
func TestSaveThroughSymlink(t *testing.T) {
	x := newFixture(t, 0)
	if err := os.Chmod(x.path, 0o640); err != nil {
		t.Fatal(err)
	}
	link := linkTo(t, x.path)
	f, err := LoadFile(link)
	if err != nil {
		t.Fatal(err)
	}
	m := f.AddMaster(f.Masters[0].Created)
	if err := f.Save(link); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Fatalf("the link is now %v, %v; want it still a symbolic link", fi.Mode(), err)
	}
	g, err := LoadFile(x.path)
	if err != nil || g.Primary != m.ID {
		t.Fatalf("the file the link leads to: primary %v, %v; want %s", g, err, m.ID)
	}
	if mode, _, _ := ownerOf(t, x.path); mode != 0o640 {
		t.Fatalf("mode %04o, want 0640 kept", mode)
	}
	if f.Path() != link {
		t.Fatalf("Path() = %s, want the path it was saved to, %s", f.Path(), link)
	}
}

// TestOpenKeyUnavailable: a running server that meets a value it cannot
// open because of the key file (gone or unreadable, or lacking the master
// key of a rotation made with another copy of it) answers "unavailable",
// with a message that names no key, file or path; the cause stays in the
// error's chain for the log. Once the file is mended it opens again.
func TestOpenKeyUnavailable(t *testing.T) {
	check := func(t *testing.T, err error) {
		t.Helper()
		if twofold.ErrorCode(err) != twofold.CodeUnavailable || !errors.Is(err, ErrKeyUnavailable) {
			t.Fatalf("Open: got %v (code %s), want unavailable", err, twofold.ErrorCode(err))
		}
		msg := twofold.ErrorMessage(err)
		for _, leak := range []string{"twofold.key", "/", "data key", "master"} {
			if strings.Contains(msg, leak) {
				t.Fatalf("the message %q shows %q", msg, leak)
			}
		}
	}
	t.Run("key file unreadable", func(t *testing.T) {
		x := newFixture(t, 1)
		rotate(t, x, RotateOptions{})
		mended, _ := os.ReadFile(x.path)
		// Gone, as unreadable as a file can be even to root.
		if err := os.Remove(x.path); err != nil {
			t.Fatal(err)
		}
		values, _ := x.st.SealedValues(t.Context())
		_, err := x.server.Open(t.Context(), values[0].KeyID, values[0].Ciphertext, values[0].AAD())
		check(t, err)
		if err := os.WriteFile(x.path, mended, 0o600); err != nil {
			t.Fatal(err)
		}
		x.checkServer(t, "after the key file is back")
	})
	t.Run("rotated through another copy", func(t *testing.T) {
		x := newFixture(t, 1)
		copyPath := filepath.Join(t.TempDir(), "copy.key")
		b, _ := os.ReadFile(x.path)
		if err := os.WriteFile(copyPath, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := Rotate(t.Context(), copyPath, x.st, RotateOptions{}); err != nil {
			t.Fatal(err)
		}
		values, _ := x.st.SealedValues(t.Context())
		_, err := x.server.Open(t.Context(), values[0].KeyID, values[0].Ciphertext, values[0].AAD())
		check(t, err)
		_, _, err = x.server.Seal([]byte("s"), AAD("factors", "secret", "new"))
		check(t, err)
		b, _ = os.ReadFile(copyPath)
		if err := os.WriteFile(x.path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		x.checkServer(t, "after the key file is mended")
	})
}
