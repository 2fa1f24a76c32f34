package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestCrossSiteBehindProxy: the API's cross-site check compares a
// browser's Origin (sent without Sec-Fetch-Site) with the public origin
// (PublicURL), not with the raw Host: behind a trusted proxy that rewrites
// Host, the origin it forwards in X-Forwarded-Proto and -Host or in
// Forwarded passes; a client that is no trusted proxy cannot forge its way
// in with the same headers (they are removed); with a base URL its origin
// alone passes, whatever a proxy forwards. The connection's own Host is
// 127.0.0.1:port throughout, as a proxy that rewrites Host makes it. On
// SQLite and PostgreSQL.
func TestCrossSiteBehindProxy(t *testing.T) {
	const public = testenv.ProxyOrigin
	xfh, fwd := testenv.ProxyHeaders()
	with := testenv.WithOrigin
	trusted, untrusted := []string{"127.0.0.0/8"}, []string{"192.0.2.0/24"}
	for _, tc := range []struct {
		name    string
		base    string
		proxies []string
		header  http.Header
		want    int
	}{
		{"trusted proxy, X-Forwarded-Host", "", trusted, with(xfh, public), 200},
		{"trusted proxy, Forwarded", "", trusted, with(fwd, public), 200},
		{"trusted proxy, Forwarded over several lines", "", trusted, with(http.Header{"Forwarded": {`for=198.51.100.2`, `for=127.0.0.1;proto=https;host="public.example"`}}, public), 200},
		{"trusted proxy, another site's Origin", "", trusted, with(xfh, "https://evil.example"), 403},
		{"trusted proxy, http Origin for https", "", trusted, with(fwd, "http://public.example"), 403},
		{"trusted proxy, the raw Host's Origin", "", trusted, with(fwd, "http://HOST"), 403},
		{"trusted proxy, malformed Forwarded", "", trusted, with(http.Header{"Forwarded": {`for=203.0.113.7;proto = https;host=public.example`}}, public), 403},
		{"untrusted client, X-Forwarded-Host", "", untrusted, with(xfh, public), 403},
		{"untrusted client, Forwarded", "", untrusted, with(fwd, public), 403},
		{"no proxy trusted, Forwarded", "", nil, with(fwd, public), 403},
		{"untrusted client, the raw Host's Origin", "", untrusted, with(fwd, "http://HOST"), 200},
		{"base URL", "https://twofold.example", nil, http.Header{"Origin": {"https://twofold.example"}}, 200},
		{"base URL, another Origin", "https://twofold.example", nil, http.Header{"Origin": {"https://other.example"}}, 403},
		{"base URL, the raw Host's Origin", "https://twofold.example", nil, http.Header{"Origin": {"http://HOST"}}, 403},
		{"base URL, a trusted proxy forwarding another host", "https://twofold.example", trusted, with(xfh, public), 403},
		{"base URL, behind a trusted proxy", "https://twofold.example", trusted, with(fwd, "https://twofold.example"), 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			opt := func(c *config.Config) { c.BaseURL, c.TrustedProxies = tc.base, tc.proxies }
			eachStoreWith(t, []testenv.ServerOption{opt}, func(t *testing.T, s *testenv.Server) {
				addUser(t, s, "mia")
				c := testenv.NewClient("http://" + s.Addr()) // s.URL() may be the base URL, which nothing resolves
				c.Header = tc.header.Clone()
				if c.Header.Get("Origin") == "http://HOST" {
					c.Header.Set("Origin", "http://"+s.Addr())
				}
				r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "mia", "password": password})
				if r.Status != tc.want || tc.want == 403 && r.Problem() != "forbidden" {
					t.Errorf("a sign-in with %v: got %d %s, want %d", c.Header, r.Status, r.Body, tc.want)
				}
			})
		})
	}
}

// TestForwardedSource: the audit log's source address of a sign-in through
// a trusted proxy is the client's address the proxy gives in Forwarded's
// for= (RFC 7239), IPv4 or a quoted "[IPv6]:port", walking right to left
// past trusted hops as X-Forwarded-For is walked; an unknown or obfuscated
// node, or a malformed header, leaves the proxy's address (and a
// malformed header is no 500); a proxy that sends X-Forwarded-For too is
// taken at its X-Forwarded-For. On SQLite and PostgreSQL.
func TestForwardedSource(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "mia")
		for _, tc := range []struct {
			name   string
			header http.Header
			want   string
		}{
			{"IPv4", http.Header{"Forwarded": {"for=192.0.2.60;proto=http;by=203.0.113.43"}}, "192.0.2.60"},
			{"quoted IPv6 with a port", http.Header{"Forwarded": {`For="[2001:db8:cafe::17]:4711"`}}, "2001:db8:cafe::17"},
			{"past a trusted hop", http.Header{"Forwarded": {"for=198.51.100.9, for=198.51.100.17, for=127.0.0.1"}}, "198.51.100.17"},
			{"several lines", http.Header{"Forwarded": {"for=198.51.100.9", "for=198.51.100.18;proto=https"}}, "198.51.100.18"},
			{"unknown", http.Header{"Forwarded": {"for=198.51.100.9, for=unknown"}}, "127.0.0.1"},
			{"obfuscated", http.Header{"Forwarded": {`for=198.51.100.9, for="_hidden:_port"`}}, "127.0.0.1"},
			{"malformed", http.Header{"Forwarded": {`for=198.51.100.19, for="[2001:db8::1]`}}, "127.0.0.1"},
			{"X-Forwarded-For wins", http.Header{"Forwarded": {"for=198.51.100.20"}, "X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5"},
		} {
			c := testenv.NewClient(s.URL())
			c.Header = tc.header
			c.Header.Set("User-Agent", "forwarded "+tc.name)
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "mia", "password": password})
			if r.Status != 200 {
				t.Fatalf("%s: the sign-in got %d %s", tc.name, r.Status, r.Body)
			}
			c.Header, c.Token = http.Header{}, r.String("token")
			found := ""
			for _, e := range ownEvents(t, c) {
				if e["type"] == "login.succeeded" && e["user_agent"] == "forwarded "+tc.name {
					found, _ = e["source"].(string)
				}
			}
			if found != tc.want {
				t.Errorf("%s: the sign-in's source is %q, want %q", tc.name, found, tc.want)
			}
		}
	})
}
