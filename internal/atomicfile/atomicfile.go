// Package atomicfile helps replace a file the way those who share it expect:
// a new file is written beside the one it replaces and renamed over it, so
// that a reader sees the old file or the new one, never a mix. The callers
// (the key file's rotation, a database's restore) write and rename; this
// package finds the file to replace (through a symbolic link) and gives the
// new file the old one's owner and group.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Target returns the file a replacement of path must replace: path itself,
// or, when path is a symbolic link, the file it leads to. Renaming over a
// link would replace the link, not the file that others (another name, a
// shared volume) read. A path where nothing is yet is returned as it is; a
// link that leads nowhere is an error.
func Target(path string) (string, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return path, nil
	}
	if err != nil {
		return "", err
	}
	if fi.Mode()&fs.ModeSymlink == 0 {
		return path, nil
	}
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return "", fmt.Errorf("%s is a symbolic link that leads nowhere: %w", path, err)
	}
	return target, nil
}

// KeepOwner gives the file at path the owner and group of old, the file it
// is to replace, when they differ from its own, so that a file shared with
// a service through its owner or group stays readable by that service
// after a replacement made by another user (root). It returns an error when
// it cannot: giving a file away needs root, and giving it a group needs
// membership of that group. Where files have no owner, it does nothing.
func KeepOwner(path string, old fs.FileInfo) error {
	return keepOwner(path, old)
}

// SyncDir makes what was created, renamed or linked in directory dir
// durable: after a crash the directory lists it. Callers for which that is
// only best effort may ignore the error.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
