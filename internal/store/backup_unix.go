//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// holdBackup locks f, a backup's copy just created, until it is closed, so
// that another backup in the directory does not take it for one left by a
// backup killed (removeStaleBackups). It fails when the copy was removed
// before it was locked.
func holdBackup(f *os.File) error {
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	held, err := f.Stat()
	if err != nil {
		return err
	}
	if now, err := os.Stat(f.Name()); err != nil || !os.SameFile(held, now) {
		return fmt.Errorf("%s was removed as it was made: try again", f.Name())
	}
	return nil
}

// removeIfFree removes the copy at name, and its -journal, unless a running
// backup holds it, and reports whether it did.
func removeIfFree(name string) (bool, error) {
	f, err := os.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); errors.Is(err, syscall.EWOULDBLOCK) {
		return false, nil // a backup running alongside
	} else if err != nil {
		return false, err
	}
	for _, suffix := range []string{"-journal", ""} {
		if err := os.Remove(name + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, nil
}
