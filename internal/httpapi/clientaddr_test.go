package httpapi

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestClientAddr: behind a trusted proxy the client's address is the
// rightmost untrusted hop of X-Forwarded-For, with or without a port; a hop
// that is no address, or none, keeps the proxy's address.
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
		{"IPv6 with a zone", "10.0.0.2:5000", "fe80::1%eth0", "10.0.0.2:5000"},
		{"IPv6 with a zone and port", "10.0.0.2:5000", "[fe80::1%25eth0]:4444", "10.0.0.2:5000"},
		{"no header", "10.0.0.2:5000", "", "10.0.0.2:5000"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got string
			h := ClientAddr(trusted, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.peer
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want {
				t.Errorf("RemoteAddr: got %q, want %q", got, tt.want)
			}
		})
	}

}

// TestForwardedProto: what a proxy says of the request (X-Forwarded-Proto,
// X-Forwarded-Host, X-Forwarded-Port) reaches the handlers only from a
// trusted proxy (its Forwarded, next to those, is ignored:
// TestClientAddrForwarded); from any other peer, or with no proxy
// trusted, it is removed, so
// that a client cannot choose the scheme or host of a push enrolment URI
// (PublicURL), or anything else read from them.
func TestForwardedProto(t *testing.T) {
	for _, tt := range []struct {
		name    string
		trusted []netip.Prefix
		peer    string
		want    string // X-Forwarded-Proto as the handler sees it
		url     string // PublicURL without a base URL
	}{
		{"no proxy trusted", nil, "127.0.0.1:5000", "", "http://twofold.test"},
		{"not the proxy", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "198.51.100.1:5000", "", "http://twofold.test"},
		{"the proxy", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "10.0.0.2:5000", "https", "https://forwarded.example:8443"},
		{"the proxy without X-Forwarded-For", []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}, "10.0.0.2:5000", "https", "https://forwarded.example:8443"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, gotURL, forwarded := "unset", "", "unset"
			h := ClientAddr(tt.trusted, slog.New(slog.DiscardHandler), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				got, gotURL = r.Header.Get("X-Forwarded-Proto"), PublicURL("", r)
				forwarded = r.Header.Get("Forwarded") + r.Header.Get("X-Forwarded-Port")
			}))
			r := httptest.NewRequest("GET", "/", nil)
			r.Host = "twofold.test"
			r.RemoteAddr = tt.peer
			r.Header.Set("X-Forwarded-Proto", "https")
			r.Header.Set("X-Forwarded-Host", "forwarded.example:8443")
			r.Header.Set("X-Forwarded-Port", "8443")
			r.Header.Set("Forwarded", "proto=https")
			if tt.name != "the proxy without X-Forwarded-For" {
				r.Header.Set("X-Forwarded-For", "203.0.113.5")
			}
			h.ServeHTTP(httptest.NewRecorder(), r)
			if got != tt.want || gotURL != tt.url {
				t.Errorf("X-Forwarded-Proto: got %q, public URL %q, want %q and %q", got, gotURL, tt.want, tt.url)
			}
			if trusted := tt.want != ""; forwarded == "" == trusted {
				t.Errorf("Forwarded and X-Forwarded-Port: got %q, want them kept only from the proxy", forwarded)
			}
		})
	}
}

// TestPublicURL: the base URL when set; else the scheme and host a trusted
// proxy forwards (the last of a list), when well formed, over the
// request's own.
func TestPublicURL(t *testing.T) {
	for _, tt := range []struct {
		base, proto, host string
		want              string
	}{
		{"https://twofold.example", "http", "forwarded.example", "https://twofold.example"},
		{"", "", "", "http://twofold.test"},
		{"", "HTTPS", "forwarded.example", "https://forwarded.example"},
		{"", "https, http", "a.example, forwarded.example", "http://forwarded.example"},
		{"", "ftp", "[2001:db8::1]:8443", "http://[2001:db8::1]:8443"},
		{"", "https", "evil.example/path", "https://twofold.test"},
		{"", "https", "user@evil.example", "https://twofold.test"},
		{"", "https", "evil.example:port", "https://twofold.test"},
		{"", "https", "evil.example?x", "https://twofold.test"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = "twofold.test"
		if tt.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tt.proto)
		}
		if tt.host != "" {
			r.Header.Set("X-Forwarded-Host", tt.host)
		}
		if got := PublicURL(tt.base, r); got != tt.want {
			t.Errorf("PublicURL(%q) with X-Forwarded-Proto %q, X-Forwarded-Host %q: got %q, want %q", tt.base, tt.proto, tt.host, got, tt.want)
		}
	}
}

// TestClientAddrWarning: a trusted proxy's request without X-Forwarded-For
// (a balancer's health check) keeps the proxy's address and logs nothing,
// so it cannot use up the warning; a hop that is no address is logged, at
// most once a minute, so that a proxy misconfigured later is still seen.
func TestClientAddrWarning(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	var log bytes.Buffer
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	var got string
	h := clientAddr(trusted, slog.New(slog.NewTextHandler(&log, nil)), func() time.Time { return now },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.RemoteAddr }))
	send := func(xff ...string) {
		r := httptest.NewRequest("GET", "/readyz", nil)
		r.RemoteAddr = "10.0.0.2:5000"
		for _, v := range xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		h.ServeHTTP(httptest.NewRecorder(), r)
	}
	for _, step := range []struct {
		name      string
		advance   time.Duration
		xff       []string
		wantLines int // warnings logged so far
	}{
		{"health check without the header", 0, nil, 0},
		{"an empty header", 0, []string{" "}, 0},
		{"health check again", time.Hour, nil, 0},
		{"a hop that is no address", 0, []string{"unknown"}, 1},
		{"again at once", 0, []string{"unknown"}, 1},
		{"within the minute", 59 * time.Second, []string{"obfuscated-client"}, 1},
		{"a minute after the warning", time.Second, []string{"unknown"}, 2},
		{"a good hop", 0, []string{"203.0.113.5"}, 2},
	} {
		now = now.Add(step.advance)
		send(step.xff...)
		if n := strings.Count(log.String(), "not an address"); n != step.wantLines {
			t.Errorf("%s: got %d warnings, want %d:\n%s", step.name, n, step.wantLines, log.String())
		}
		want := "10.0.0.2:5000"
		if step.name == "a good hop" {
			want = "203.0.113.5:0"
		}
		if got != want {
			t.Errorf("%s: RemoteAddr got %q, want %q", step.name, got, want)
		}
	}
	if strings.Contains(log.String(), `hop=""`) {
		t.Errorf("a request without a hop was logged:\n%s", log.String())
	}
}
