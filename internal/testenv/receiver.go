package testenv

import (
	"net"
	"testing"
)

// Receiver listens on loopback until the test ends and hands each
// connection to serve, in a goroutine of its own: a webhook receiver (or
// any peer) that fails in a way of its own. It returns the listener's
// address.
func Receiver(tb testing.TB, serve func(c *net.TCPConn)) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serve(c.(*net.TCPConn))
		}
	}()
	return ln.Addr().String()
}
