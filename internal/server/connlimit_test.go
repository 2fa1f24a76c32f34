package server_test

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestConnectionsPerAddress: one source address holds at most
// --max-conns-per-address connections open; one more is closed at once
// while the first ones go on working, a new one is taken once some are
// closed, another address is not affected, and a trusted proxy, through
// which every client comes, is not capped. The same holds for DNS over TCP
// (--dns-addr). On both stores.
func TestConnectionsPerAddress(t *testing.T) {
	const max = 4
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			s := testenv.NewServer(t, newDSN(t), func(c *config.Config) {
				c.MaxConnsPerAddress = max
				c.TrustedProxies = []string{"127.0.0.3/32"}
				c.DNSAddr = "127.0.0.1:0"
			})
			t.Run("http", func(t *testing.T) {
				checkCap(t, s.Addr(), max, httpWorks)
				metrics := dialFrom(t, "127.0.0.3", s.Addr())
				if err := httpWorks(metrics); err != nil {
					t.Fatal(err)
				}
				body := get(t, metrics, "/metrics")
				if !strings.Contains(body, `twofold_connections_refused_total{listener="http"} `) ||
					strings.Contains(body, `twofold_connections_refused_total{listener="http"} 0`+"\n") {
					t.Errorf("/metrics does not count the refused connections:\n%s", grepLines(body, "twofold_connections_refused_total"))
				}
			})
			t.Run("dns", func(t *testing.T) {
				checkCap(t, s.DNSAddr(), max, dnsWorks)
			})
		})
	}
}

// checkCap checks the cap of max connections a source on the listener at
// addr, works telling whether a connection is served.
func checkCap(t *testing.T, addr string, max int, works func(net.Conn) error) {
	t.Helper()
	var conns []net.Conn
	for i := range max {
		c := dialFrom(t, "127.0.0.1", addr)
		if err := works(c); err != nil {
			t.Fatalf("connection %d of %d from one address: %v", i+1, max, err)
		}
		conns = append(conns, c)
	}
	over := dialFrom(t, "127.0.0.1", addr)
	if err := works(over); err == nil {
		t.Fatalf("connection %d from one address was served; want it closed at once (cap %d)", max+1, max)
	}
	for i, c := range conns {
		if err := works(c); err != nil {
			t.Errorf("connection %d within the cap, after one over it: %v", i+1, err)
		}
	}
	// Another address, and a trusted proxy (over the cap), are served.
	for i := range max {
		if err := works(dialFrom(t, "127.0.0.2", addr)); err != nil {
			t.Errorf("connection %d from another address while the first is at the cap: %v", i+1, err)
		}
	}
	for i := range max + 2 {
		if err := works(dialFrom(t, "127.0.0.3", addr)); err != nil {
			t.Errorf("connection %d from the trusted proxy: %v", i+1, err)
		}
	}
	// Closing two makes room for new ones, once the server has seen them
	// closed.
	conns[0].Close()
	conns[1].Close()
	deadline := time.Now().Add(time.Minute)
	for {
		c := dialFrom(t, "127.0.0.1", addr)
		err := works(c)
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after closing two connections, a new one from the address: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dialFrom connects to addr from the loopback address from (Linux answers
// on all of 127.0.0.0/8).
func dialFrom(t *testing.T, from, addr string) net.Conn {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(from)}}
	c, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatalf("dial %s from %s: %v", addr, from, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// httpWorks asks c for /v1/time and reads the answer.
func httpWorks(c net.Conn) error {
	c.SetDeadline(time.Now().Add(time.Minute)) // a bound, not a measure: a closed connection fails at once
	if _, err := io.WriteString(c, "GET /v1/time HTTP/1.1\r\nHost: twofold\r\n\r\n"); err != nil {
		return err
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v1/time: status %d", resp.StatusCode)
	}
	return nil
}

// get returns the body of path asked for on c.
func get(t *testing.T, c net.Conn, path string) string {
	t.Helper()
	c.SetDeadline(time.Now().Add(time.Minute))
	if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: twofold\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func grepLines(s, substr string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, substr) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// dnsWorks sends c a query over TCP and reads its answer (any answer).
func dnsWorks(c net.Conn) error {
	c.SetDeadline(time.Now().Add(time.Minute))
	m := new(dns.Msg)
	m.SetQuestion("example.test.", dns.TypeSOA)
	b, err := m.Pack()
	if err != nil {
		return err
	}
	if _, err := c.Write(binary.BigEndian.AppendUint16(nil, uint16(len(b)))); err != nil {
		return err
	}
	if _, err := c.Write(b); err != nil {
		return err
	}
	var n [2]byte
	if _, err := io.ReadFull(c, n[:]); err != nil {
		return err
	}
	answer := make([]byte, binary.BigEndian.Uint16(n[:]))
	if _, err := io.ReadFull(c, answer); err != nil {
		return err
	}
	var r dns.Msg
	return r.Unpack(answer)
}
