//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package keyring

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"

	"github.com/twofold/twofold/internal/atomicfile"
)

// lockFile takes an exclusive lock on the file at path (creating it), so that
// two rotations of one key file never run at once. The kernel drops the lock
// when the process dies, so a crash never leaves it stuck.
//
// The lock file is given the owner, group and mode of like, the key file,
// when it can be (root can): a lock file that root made for itself when it
// rotated would otherwise keep the service's user, which owns the key file,
// from ever rotating it again. A lock file that cannot be opened for
// writing is opened for reading (flock(2) takes either), so that one made
// by another user before (a lock file of an older release, root's own)
// still serves.
//
// The lock file is never opened through a symbolic link, and must be a
// regular file: its directory is often the service's own, and a link
// planted there as the lock file would have root, rotating, give the file
// it leads to (any file of the system) to the service's user.
func lockFile(path string, like fs.FileInfo) (unlock func(), err error) {
	perm := fs.FileMode(0o600)
	if like != nil {
		perm = like.Mode().Perm() &^ 0o111
	}
	f, err := atomicfile.OpenNoFollow(path, os.O_RDWR|os.O_CREATE, perm)
	if errors.Is(err, fs.ErrPermission) {
		f, err = atomicfile.OpenNoFollow(path, os.O_RDONLY, 0)
	}
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		return nil, fmt.Errorf("lock %s: not a regular file: remove it and try again", path)
	}
	if like != nil {
		// At best: a user who may not give the file away keeps it.
		if err := atomicfile.KeepOwner(f, like); err == nil {
			_ = f.Chmod(perm)
		}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("another key rotation holds %s", path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
