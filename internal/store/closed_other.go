//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package store

import "net"

// closedByServer reports whether the idle connection c was closed by the
// server; here it cannot look, and takes it as open.
func closedByServer(net.Conn) bool { return false }
