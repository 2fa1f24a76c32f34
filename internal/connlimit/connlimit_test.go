package connlimit

import (
	"bytes"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
)

// TestKey: a source is the peer's address, an IPv6 one per /64 (an
// IPv4-mapped one as IPv4); a peer in Exempt is not capped.
func TestKey(t *testing.T) {
	l := &Listener{Exempt: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/24"), netip.MustParsePrefix("2001:db8:ffff::/48")}}
	tests := []struct {
		addr   string
		key    string
		capped bool
	}{
		{"192.0.2.1:5000", "192.0.2.1", true},
		{"[::ffff:192.0.2.1]:5000", "192.0.2.1", true},
		{"[2001:db8:0:1::1]:5000", "2001:db8:0:1::/64", true},
		{"[2001:db8:0:1:ffff::9]:6000", "2001:db8:0:1::/64", true},
		{"[2001:db8:0:2::1]:5000", "2001:db8:0:2::/64", true},
		{"10.0.0.7:5000", "", false},
		{"[2001:db8:ffff:3::1]:5000", "", false},
	}
	for _, tt := range tests {
		key, capped := l.key(net.TCPAddrFromAddrPort(netip.MustParseAddrPort(tt.addr)))
		if key != tt.key || capped != tt.capped {
			t.Errorf("key(%s) = %q, %v; want %q, %v", tt.addr, key, capped, tt.key, tt.capped)
		}
	}
}

// TestRefusalsLoggedOnce: refusals are all counted, but logged at most
// once a minute for a source.
func TestRefusalsLoggedOnce(t *testing.T) {
	var buf bytes.Buffer
	l := &Listener{Max: 1, Logger: slog.New(slog.NewTextHandler(&buf, nil)), Name: "http"}
	if !l.take("192.0.2.1") {
		t.Fatal("the first connection was refused")
	}
	for range 5 {
		if l.take("192.0.2.1") {
			t.Fatal("a connection over the cap was taken")
		}
	}
	if !l.take("192.0.2.2") {
		t.Error("another source was refused")
	}
	if n := l.Refused(); n != 5 {
		t.Errorf("Refused() = %d, want 5", n)
	}
	if n := strings.Count(buf.String(), "closed a connection"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, buf.String())
	}
	l.release("192.0.2.1")
	if !l.take("192.0.2.1") {
		t.Error("a connection after one was closed was refused")
	}
}

// failing is a listener whose first fails Accepts fail with EMFILE.
type failing struct {
	net.Listener
	fails int
	conn  net.Conn
}

func (f *failing) Accept() (net.Conn, error) {
	if f.fails > 0 {
		f.fails--
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return f.conn, nil
}

// TestOutOfFileDescriptors: an accept that fails for want of a file
// descriptor is retried after a wait, not returned (the DNS server would
// retry it at once, in a loop), and logged once.
func TestOutOfFileDescriptors(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	var buf bytes.Buffer
	l := &Listener{Listener: &failing{fails: 3, conn: a}, Logger: slog.New(slog.NewTextHandler(&buf, nil))}
	c, err := l.Accept()
	if err != nil || c != a {
		t.Fatalf("Accept: got %v, %v; want the connection after the failures", c, err)
	}
	if n := strings.Count(buf.String(), "no file descriptor left"); n != 1 {
		t.Errorf("%d log lines, want 1:\n%s", n, buf.String())
	}
}
