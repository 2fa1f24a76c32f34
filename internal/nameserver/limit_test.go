package nameserver

import (
	"net"
	"testing"
	"time"
)

func TestAllowLimitsEachSource(t *testing.T) {
	s := &Server{}
	now := time.Unix(1_900_000_000, 0)
	a := &net.UDPAddr{IP: net.ParseIP("192.0.2.1"), Port: 5000}
	for i := range QueriesPerSecond {
		if !s.allow(a, now) {
			t.Fatalf("query %d of the second refused", i+1)
		}
	}
	if s.allow(a, now) {
		t.Error("a query over the rate was allowed")
	}
	if !s.allow(&net.TCPAddr{IP: net.ParseIP("192.0.2.2")}, now) {
		t.Error("another source was refused")
	}
	if !s.allow(a, now.Add(time.Second)) {
		t.Error("the next second was refused")
	}
	// One IPv6 /56 is one source.
	v6 := func(ip string) net.Addr { return &net.UDPAddr{IP: net.ParseIP(ip)} }
	for range QueriesPerSecond {
		s.allow(v6("2001:db8:0:1::1"), now.Add(2*time.Second))
	}
	if s.allow(v6("2001:db8:0:2::9"), now.Add(2*time.Second)) {
		t.Error("another address of the same /56 was allowed over the rate")
	}
	if !s.allow(v6("2001:db8:1::1"), now.Add(2*time.Second)) {
		t.Error("another /56 was refused")
	}
}
