//go:build linux

package store_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/twofold/twofold/internal/store"
)

// readOnlyDirEnv names, for the child of TestReadOnlyDirectory, the
// directory whose database it opens.
const readOnlyDirEnv = "TWOFOLD_TEST_READONLY_DIR"

// TestReadOnlyDirectory: a SQLite database whose file is writable but
// whose directory is not cannot be put in WAL mode (SQLite makes the -wal
// and -shm files beside it); the error says the directory must be
// writable, not only SQLite's "unable to open database file". Root may
// write to any directory, so as root the open runs in a child process as
// the user nobody.
func TestReadOnlyDirectory(t *testing.T) {
	dir, path := databaseIn(t)
	for _, suffix := range []string{"-wal", "-shm"} {
		if _, err := os.Stat(path + suffix); err == nil {
			t.Fatalf("%s%s is left after Close: the open would not need to make it", path, suffix)
		}
	}
	if err := os.Chmod(dir, 0o555); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Chmod(dir, 0o755) })

	var got string
	if os.Geteuid() != 0 {
		_, err := store.Open(context.Background(), "sqlite:"+path)
		got = fmt.Sprint(err)
	} else {
		got = openAsNobody(t, dir, path)
	}
	if !strings.Contains(got, "the directory "+dir+" must be writable") {
		t.Errorf("open with the directory read-only: got %q, want it to say the directory must be writable", got)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("the directory holds %d entries, want the database alone", len(entries))
	}

	// A writable directory gets no such hint, whatever else fails.
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("not a database, but long enough to be read as one's header......................................................."), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Open(context.Background(), "sqlite:"+path); err == nil || strings.Contains(err.Error(), "must be writable") {
		t.Errorf("open of a file that is no database: got %v, want an error without the hint", err)
	}
}

// databaseIn makes a SQLite database twofold.db in a new directory and
// closes it, returning the directory and the file's path.
func databaseIn(t *testing.T) (dir, path string) {
	t.Helper()
	dir = t.TempDir()
	path = filepath.Join(dir, "twofold.db")
	st, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	return dir, path
}

// openAsNobody opens the database at path in a copy of this test binary
// run as the user nobody (65534), which owns the file but not dir, and
// returns what the open said.
func openAsNobody(t *testing.T, dir, path string) string {
	t.Helper()
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	return openInAsNobody(t, dir)
}

// openInAsNobody opens the database twofold.db in dir in a copy of this
// test binary run as the user nobody (65534), and returns what the open
// said.
func openInAsNobody(t *testing.T, dir string) string {
	t.Helper()
	// nobody must reach dir, and run a copy of the binary.
	for d := filepath.Dir(dir); d != "/" && strings.HasPrefix(d, os.TempDir()+"/"); d = filepath.Dir(d) {
		if err := os.Chmod(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	binDir := t.TempDir()
	os.Chmod(binDir, 0o755)
	os.Chmod(filepath.Dir(binDir), 0o755)
	bin := filepath.Join(binDir, "store.test")
	copyFile(t, self, bin)
	cmd := exec.Command(bin, "-test.run=^TestReadOnlyDirectoryChild$", "-test.count=1")
	cmd.Env = []string{readOnlyDirEnv + "=" + dir, "PATH=/usr/bin:/bin", "HOME=/"}
	cmd.Dir = "/"
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("the child: %v\n%s", err, out)
	}
	return string(out)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	src, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dst, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(dst, src); err != nil {
		t.Fatal(err)
	}
	if err := dst.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestReadOnlyDirectoryChild is TestReadOnlyDirectory's child: it opens the
// database in the directory readOnlyDirEnv names and prints the error. It
// does nothing in an ordinary run.
func TestReadOnlyDirectoryChild(t *testing.T) {
	dir := os.Getenv(readOnlyDirEnv)
	if dir == "" {
		return
	}
	_, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "twofold.db"))
	fmt.Printf("open: %v\n", err)
}

// TestMissingDirectory: a SQLite --db in a directory that does not exist
// fails with an error that says so, not that the directory must be
// writable, and makes no directory.
func TestMissingDirectory(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "no-such-dir")
	_, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "twofold.db"))
	if err == nil {
		t.Fatal("open in a directory that does not exist: got no error")
	}
	if got := err.Error(); !strings.Contains(got, "the directory "+dir+" does not exist") || strings.Contains(got, "writable") {
		t.Errorf("open in a directory that does not exist: got %q, want it to say the directory does not exist", got)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Errorf("%s was made", dir)
	}
}

// TestFileOfAnotherUser: a SQLite file this process may not read and
// write (root made it, mode 0600, and the server runs as another user),
// in a directory it may write to, fails with an error naming the file, its
// owner and mode, and the process's user, not only SQLite's "unable to
// open database file".
func TestFileOfAnotherUser(t *testing.T) {
	dir, path := databaseIn(t)
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	var got, owner string
	if os.Geteuid() != 0 {
		if err := os.Chmod(path, 0o200); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(path, 0o600) })
		_, err := store.Open(context.Background(), "sqlite:"+path)
		got, owner = fmt.Sprint(err), fmt.Sprintf("uid %d", os.Geteuid())
	} else {
		got, owner = openInAsNobody(t, dir), "root (uid 0) with mode 0600"
	}
	for _, want := range []string{path, owner, "chown"} {
		if !strings.Contains(got, want) {
			t.Errorf("open of another user's file: got %q, want it to say %q", got, want)
		}
	}
	if strings.Contains(got, "must be writable") {
		t.Errorf("open of another user's file: got %q, which blames the directory", got)
	}
}

// TestReadableFileOfAnotherUser: a SQLite file this process may read but
// not write (root's, of mode 0644, in a directory the server may write
// to), or may write but not make private (root's, of mode 0666), fails
// with an error naming the file, its owner and mode, and the process's
// user, not SQLite's "attempt to write a readonly database" nor chmod's
// "operation not permitted" alone.
func TestReadableFileOfAnotherUser(t *testing.T) {
	for _, mode := range []os.FileMode{0o644, 0o666} {
		dir, path := databaseIn(t)
		if err := os.Chmod(dir, 0o777); err != nil {
			t.Fatal(err)
		}
		var got, owner string
		if os.Geteuid() != 0 {
			if mode == 0o666 {
				continue // only another user's file refuses the chmod; CI runs as root
			}
			// The process's own file, read-only for it: the same refusal.
			if err := os.Chmod(path, 0o444); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { os.Chmod(path, 0o600) })
			_, err := store.Open(context.Background(), "sqlite:"+path)
			got, owner = fmt.Sprint(err), "with mode 0444"
		} else {
			if err := os.Chmod(path, mode); err != nil {
				t.Fatal(err)
			}
			got, owner = openInAsNobody(t, dir), fmt.Sprintf("root (uid 0) with mode %04o", mode)
		}
		for _, want := range []string{path, owner, "running as", "chown"} {
			if !strings.Contains(got, want) {
				t.Errorf("open of another user's file of mode %04o: got %q, want it to say %q", mode, got, want)
			}
		}
	}
}
