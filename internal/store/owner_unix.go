//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"io/fs"
	"os"
	"syscall"
)

// keepOwner gives the file at path the owner and group of fi, when this
// process may (as root), at best: a database that root restores for a
// server running as another user stays that user's.
func keepOwner(path string, fi fs.FileInfo) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || os.Geteuid() != 0 {
		return
	}
	os.Chown(path, int(st.Uid), int(st.Gid))
}
