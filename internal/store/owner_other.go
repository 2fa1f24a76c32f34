//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "io/fs"

// fileOwner names the owner of the file fi describes, which this system
// does not say.
func fileOwner(fs.FileInfo) string { return "another user" }

// processUser names the user this process runs as.
func processUser() string { return "this user" }
