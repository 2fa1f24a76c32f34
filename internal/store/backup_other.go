//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import (
	"errors"
	"io/fs"
	"os"
	"time"
)

// holdBackup does nothing where flock(2) is not available:
// removeStaleBackups goes by age there.
func holdBackup(*os.File) error { return nil }

// staleBackupAge is how old a backup's copy must be, where it cannot be
// locked, before another backup takes it for one left by a backup killed.
const staleBackupAge = 24 * time.Hour

// removeIfFree removes the copy at name, and its -journal, when it was last
// written more than staleBackupAge ago, and reports whether it did.
func removeIfFree(name string) (bool, error) {
	fi, err := os.Stat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	if time.Since(fi.ModTime()) < staleBackupAge {
		return false, nil
	}
	for _, suffix := range []string{"-journal", ""} {
		if err := os.Remove(name + suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return false, err
		}
	}
	return true, nil
}
