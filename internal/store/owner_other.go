//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "io/fs"

// keepOwner does nothing where files have no owner and group to keep.
func keepOwner(string, fs.FileInfo) {}
