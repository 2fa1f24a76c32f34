package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
)

// TestClientAddr: behind a trusted proxy the client's address is the
// rightmost untrusted hop of X-Forwarded-For, with or without a port; a hop
// that is no address keeps the proxy's address and is logged once.
func TestClientAddr(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, peer, xff, want string
	}{
		{"no proxy", "198.51.100.1:5000", "203.0.113.5", "198.51.100.1:5000"},
		{"address", "10.0.0.2:5000", "203.0.113.5", "203.0.113.5:0"},
		{"address and port", "10.0.0.2:5000", "203.0.113.5:4444", "203.0.113.5:0"},
		{"IPv6 and port", "10.0.0.2:5000", "[2001:db8::1]:4444", "[2001:db8::1]:0"},
		{"IPv6 in brackets", "10.0.0.2:5000", "[2001:db8::1]", "[2001:db8::1]:0"},
		{"IPv6", "10.0.0.2:5000", "2001:db8::1", "[2001:db8::1]:0"},
		{"rightmost untrusted", "10.0.0.2:5000", "192.0.2.9, 203.0.113.5:1, 10.0.0.7:80", "203.0.113.5:0"},
		{"all trusted", "10.0.0.2:5000", "10.1.1.1, 10.0.0.7", "10.1.1.1:0"},
		{"not an address", "10.0.0.2:5000", "unknown", "10.0.0.2:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := ClientAddr(trusted, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			r.Header.Set("X-Forwarded-For", tt.xff)
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Errorf("RemoteAddr: got %q, want %q", got, tt.want)
			}
		})
	}

	var log bytes.Buffer
	h := ClientAddr(trusted, slog.New(slog.NewTextHandler(&log, nil)), http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	for range 3 {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = "10.0.0.2:5000"
		r.Header.Set("X-Forwarded-For", "obfuscated-client")
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	if n := strings.Count(log.String(), "not an address"); n != 1 {
		t.Errorf("warnings about a hop that is no address: got %d, want 1:\n%s", n, log.String())
	}
}
