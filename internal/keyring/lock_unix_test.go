//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package keyring

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// lockHelperEnv names, in a child process run as another user by
// TestRotateLockFileShared, the key file whose lock it takes.
const lockHelperEnv = "TWOFOLD_TEST_LOCK_KEY_FILE"

// TestLockHelper is the child process of TestRotateLockFileShared: it
// takes the lock beside the key file $TWOFOLD_TEST_LOCK_KEY_FILE, as a
// rotation does, and fails if it cannot.
func TestLockHelper(t *testing.T) {
	path := os.Getenv(lockHelperEnv)
	if path == "" {
		return // not a child: nothing to do
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	unlock, err := lockFile(path+".lock", fi)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
}

// TestRotateLockFileShared: once root has rotated a key file the
// service's user owns (or shares through its group), that user can still
// take the lock to rotate it again: the lock file gets the key file's
// owner, group and mode, one left by root before is mended, and one
// it may only read serves too.
func TestRotateLockFileShared(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("run as root under CI: the test gives the key file to another user")
		}
		t.Skip("needs root, to give the key file to another user")
	}
	// The child runs as nobody: a copy of this binary, and the key file,
	// where nobody reaches them.
	dir, err := os.MkdirTemp("", "twofold-lock-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "keyring.test")
	copyExecutable(t, bin)

	const nobody = 65534
	for name, tc := range map[string]struct {
		uid, gid int
		mode     os.FileMode
		oldLock  bool // a lock file root made before, as an older release did
	}{
		"owned by the service":         {uid: nobody, gid: nobody, mode: 0o600},
		"an old lock file of root's":   {uid: nobody, gid: nobody, mode: 0o600, oldLock: true},
		"shared through its group":     {uid: 0, gid: nobody, mode: 0o640},
		"group, an old lock of root's": {uid: 0, gid: nobody, mode: 0o640, oldLock: true},
	} {
		t.Run(name, func(t *testing.T) {
			x := newFixture(t, 1)
			sub, err := os.MkdirTemp(dir, "key-")
			if err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(sub, 0o755); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(sub, "twofold.key")
			if err := os.Rename(x.path, path); err != nil {
				t.Fatal(err)
			}
			x.path = path
			if err := os.Chown(path, tc.uid, tc.gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(path, tc.mode); err != nil {
				t.Fatal(err)
			}
			if tc.oldLock {
				if err := os.WriteFile(path+".lock", nil, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			rotate(t, x, RotateOptions{})
			if mode, uid, gid := ownerOf(t, path+".lock"); uid != tc.uid || gid != tc.gid || mode != tc.mode {
				t.Errorf("the lock file after root's rotation: mode %04o, owner %d:%d; want %04o, %d:%d", mode, uid, gid, tc.mode, tc.uid, tc.gid)
			}
			cmd := exec.Command(bin, "-test.run=^TestLockHelper$", "-test.count=1")
			cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("the service's user (nobody) takes the lock after root's rotation: %v\n%s", err, out)
			}
		})
	}
}

// copyExecutable copies this test binary to dst, executable by anyone.
func copyExecutable(t *testing.T, dst string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	in, err := os.Open(self)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestRotateRefusesLinkedLockFile: a symbolic link planted as the lock
// file, in a directory the service's user may write, is refused: root's
// rotation neither gives the file it leads to (any file of the system) to
// the key file's owner, nor changes its mode, nor creates a file where a
// dangling one leads, and the key file is left as it was.
func TestRotateRefusesLinkedLockFile(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("run as root under CI: the test gives the key file to another user")
		}
		t.Skip("needs root, to give the key file to another user")
	}
	const nobody = 65534
	for _, dangling := range []bool{false, true} {
		t.Run(map[bool]string{false: "to a file", true: "dangling"}[dangling], func(t *testing.T) {
			x := newFixture(t, 1)
			if err := os.Chown(x.path, nobody, nobody); err != nil {
				t.Fatal(err)
			}
			victim := filepath.Join(t.TempDir(), "passwd")
			if !dangling {
				if err := os.WriteFile(victim, []byte("root:x:0:0\n"), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := os.Symlink(victim, x.path+".lock"); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(x.path)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Rotate(t.Context(), x.path, x.st, RotateOptions{})
			if err == nil || !strings.Contains(err.Error(), "symbolic link") {
				t.Fatalf("Rotate: %v, want a refusal naming the link", err)
			}
			if after, _ := os.ReadFile(x.path); !bytes.Equal(before, after) {
				t.Error("the key file changed")
			}
			if dangling {
				if _, err := os.Lstat(victim); err == nil {
					t.Error("a file was created where the link leads")
				}
				return
			}
			if mode, uid, gid := ownerOf(t, victim); uid != 0 || gid != 0 || mode != 0o644 {
				t.Errorf("the file the link leads to: mode %04o, owner %d:%d; want 0644, 0:0", mode, uid, gid)
			}
		})
	}
}
