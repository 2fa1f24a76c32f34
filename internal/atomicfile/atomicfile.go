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

// KeepOwner gives the open file f the owner and group of old, the file it
// is to replace, when they differ from its own, so that a file shared with
// a service through its owner or group stays readable by that service
// after a replacement made by another user (root). It returns an error when
// it cannot: giving a file away needs root, and giving it a group needs
// membership of that group. Where files have no owner, it does nothing.
//
// It acts on the open file, never on a name: in a directory that the
// service's user may write, a name looked up again could meanwhile be a
// symbolic link to any file of the system, which root would then give
// away.
func KeepOwner(f *os.File, old fs.FileInfo) error {
	return keepOwner(f, old)
}

// OpenNoFollow opens the file at path with flag (os.O_RDWR, os.O_CREATE,
// …) and perm as os.OpenFile does, but never through a symbolic link:
// when path is one, it fails (where the system can tell; elsewhere it
// follows it). A file root creates or gives away in a directory that
// another user may write must be opened so.
func OpenNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	f, err := os.OpenFile(path, flag|noFollow, perm)
	if err != nil && isLoop(err) {
		return nil, fmt.Errorf("%s is a symbolic link, which is refused here: remove it and try again", path)
	}
	return f, err
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
