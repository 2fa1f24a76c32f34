//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

func keepOwner(f *os.File, old fs.FileInfo) error {
	want, ok := old.Sys().(*syscall.Stat_t)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if have, ok := fi.Sys().(*syscall.Stat_t); ok && have.Uid == want.Uid && have.Gid == want.Gid {
		return nil
	}
	if err := f.Chown(int(want.Uid), int(want.Gid)); err != nil {
		return fmt.Errorf("give %s the owner and group (uid %d, gid %d) of the file it replaces: %w", f.Name(), want.Uid, want.Gid, err)
	}
	return nil
}

const noFollow = syscall.O_NOFOLLOW

// isLoop reports whether err is what opening a symbolic link with
// O_NOFOLLOW gives.
func isLoop(err error) bool { return errors.Is(err, syscall.ELOOP) }
