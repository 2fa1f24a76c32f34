package httpapi

import (
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"testing"
)

// FuzzClientAddr sends any X-Forwarded-For, -Proto, -Host and Forwarded
// headers, from a trusted proxy and from anyone else, and checks what the
// counters and links built on them rely on: the request's address is
// always one address without a zone (a zone would make one client many
// keys of a bucket or throttle), the proxy's own or a hop's; from
// an untrusted peer none of the headers reach the handler and the address
// stays the peer's; and the public URL is always a URL of scheme and host
// alone.
func FuzzClientAddr(f *testing.F) {
	for _, s := range [][4]string{
		{"203.0.113.5, 10.0.0.2", "", "https", "example.com"},
		{"[2001:db8::1]:4444", "", "", ""},
		{"", `for=192.0.2.60;proto=http;by=203.0.113.43, for="[2001:db8:cafe::17]:4711"`, "", ""},
		{"", "for=unknown;host=example.com:8443", "", ""},
		{"fe80::1%eth0", "", "", ""},
		{"::ffff:203.0.113.9", "", "HTTPS", "a.example:1"},
		{"", `for="_hidden", for=10.0.0.3`, "", "x/y"},
	} {
		f.Add(s[0], s[1], s[2], s[3])
	}
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}
	f.Fuzz(func(t *testing.T, xff, forwarded, proto, host string) {
		for _, peer := range []string{"10.0.0.1:1234", "[fd00::1]:1234", "192.0.2.1:1234"} {
			var got *http.Request
			h := ClientAddr(trusted, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
			r := httptest.NewRequest(http.MethodGet, "http://twofold.test/v1/time", nil)
			r.RemoteAddr = peer
			for name, v := range map[string]string{"X-Forwarded-For": xff, "Forwarded": forwarded, "X-Forwarded-Proto": proto, "X-Forwarded-Host": host} {
				if v != "" {
					r.Header.Set(name, v)
				}
			}
			h.ServeHTTP(httptest.NewRecorder(), r)

			a, port, err := net.SplitHostPort(got.RemoteAddr)
			addr, perr := netip.ParseAddr(a)
			if err != nil || perr != nil || addr.Zone() != "" || addr.Is4In6() {
				t.Fatalf("from %s with X-Forwarded-For %q, Forwarded %q: the request's address is %q, want one address without a zone", peer, xff, forwarded, got.RemoteAddr)
			}
			if got.RemoteAddr != peer && port != "0" {
				t.Fatalf("from %s with X-Forwarded-For %q, Forwarded %q: the request's address is %q, want a hop's with port 0", peer, xff, forwarded, got.RemoteAddr)
			}
			if peer == "192.0.2.1:1234" {
				if got.RemoteAddr != peer {
					t.Fatalf("an untrusted peer's X-Forwarded-For %q, Forwarded %q moved its address to %q", xff, forwarded, got.RemoteAddr)
				}
				for name := range got.Header {
					if strings.HasPrefix(name, "X-Forwarded-") || name == "Forwarded" {
						t.Fatalf("an untrusted peer's header %s reached the handler", name)
					}
				}
			}
			pub := PublicURL("", got)
			u, err := url.Parse(pub)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Path != "" || u.RawQuery != "" || u.User != nil || u.Fragment != "" {
				t.Fatalf("from %s with X-Forwarded-Proto %q, -Host %q, Forwarded %q: public URL %q is not a scheme and a host alone", peer, proto, host, forwarded, pub)
			}
		}
	})
}
