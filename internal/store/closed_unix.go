//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package store

import (
	"net"
	"syscall"
)

// closedByServer reports whether the idle connection c has something from
// the server waiting unread, or has been closed by it: between statements
// PostgreSQL sends nothing unless it ends the connection (a FATAL message,
// then the close). It peeks at the socket without waiting or consuming
// (the socket is non-blocking, as Go makes every one), so a live
// connection costs one system call. A connection it cannot look at (not a
// socket) is taken as open.
func closedByServer(c net.Conn) bool {
	for {
		u, ok := c.(interface{ NetConn() net.Conn }) // TLS: look at the socket beneath
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	closed := false
	var buf [1]byte
	err = raw.Read(func(fd uintptr) bool {
		_, _, rerr := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK)
		// No error: a byte waits (the FATAL message) or the server closed
		// it (0 bytes); EAGAIN: nothing waits, the connection is open; any
		// other error (a reset): it is broken.
		closed = rerr == nil || rerr != syscall.EAGAIN && rerr != syscall.EWOULDBLOCK && rerr != syscall.EINTR
		return true
	})
	return err == nil && closed
}
