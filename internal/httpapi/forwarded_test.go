package httpapi

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// TestParseForwarded: the Forwarded header of RFC 7239 §4 is read strictly,
// its examples (§4, §6, §7.1) among the headers taken; anything off the
// grammar is an error, whatever else the header holds.
func TestParseForwarded(t *testing.T) {
	for _, tc := range []struct {
		name  string
		lines []string
		want  string // each element as for|proto|host, space-separated
	}{
		{"RFC 7239 §4", []string{`for="_gazonk"`}, "_gazonk||"},
		{"RFC 7239 §4 IPv6", []string{`For="[2001:db8:cafe::17]:4711"`}, "2001:db8:cafe::17||"},
		{"RFC 7239 §4 pairs", []string{`for=192.0.2.60;proto=http;by=203.0.113.43`}, "192.0.2.60|http|"},
		{"RFC 7239 §4 list", []string{`for=192.0.2.43, for=198.51.100.17`}, "192.0.2.43|| 198.51.100.17||"},
		{"RFC 7239 §7.1", []string{`for=192.0.2.43,for="[2001:db8:cafe::17]",for=unknown`}, "192.0.2.43|| 2001:db8:cafe::17|| unknown||"},
		{"several lines", []string{`for=192.0.2.43`, `for=198.51.100.17;host="a.example:8443";proto=HTTPS`}, "192.0.2.43|| 198.51.100.17|https|a.example:8443"},
		{"empty elements", []string{` , for=192.0.2.43 ,, `}, "192.0.2.43||"},
		{"empty pairs", []string{`;for=192.0.2.43;;proto=https;`}, "192.0.2.43|https|"},
		{"no for", []string{`proto=https;host=a.example`}, "|https|a.example"},
		{"quoted pair", []string{`for="\1\9\2.0.2.43";ext="a\"b,c"`}, "192.0.2.43||"},
		{"unknown parameter", []string{`for=192.0.2.43;secret=_x`}, "192.0.2.43||"},
		{"an obfuscated port", []string{`for="192.0.2.43:_p1"`}, "192.0.2.43||"},
		{"unknown with a port", []string{`for="unknown:80"`}, "unknown:80||"},
		{"nothing", []string{``}, ""},
		{"a space after ;", []string{`for=192.0.2.43; proto=https`}, "192.0.2.43|https|"},
		{"spaces around ;", []string{`for=192.0.2.43 ; proto=https ;host=a.example`}, "192.0.2.43|https|a.example"},
		{"tabs around ;", []string{"for=192.0.2.43\t;\tproto=https"}, "192.0.2.43|https|"},
		{"spaces after a quoted string", []string{`for="[2001:db8::1]:80" ; proto=https`}, "2001:db8::1|https|"},
		{"white space around , and ; in a list", []string{"\tfor=192.0.2.43 ; proto=http ,\tfor=198.51.100.17; host=a.example\t"}, "192.0.2.43|http| 198.51.100.17||a.example"},
		{"empty pairs between spaces", []string{` ; for=192.0.2.43 ; ; proto=https ; `}, "192.0.2.43|https|"},
	} {
		elems, err := parseForwarded(tc.lines)
		var got []string
		for _, e := range elems {
			node := e.node
			if e.addr.IsValid() {
				node = e.addr.String()
			}
			got = append(got, node+"|"+e.proto+"|"+e.host)
		}
		if err != nil || strings.Join(got, " ") != tc.want {
			t.Errorf("%s: parseForwarded(%q) = %q, %v; want %q", tc.name, tc.lines, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ name, line string }{
		{"a space before =", `for =192.0.2.43`},
		{"a space after =", `for= 192.0.2.43`},
		{"a space around = after ;", `proto=https; for =192.0.2.43`},
		{"a tab after = after ;", "proto=https;\tfor=\t192.0.2.43"},
		{"a space for ;", `for=192.0.2.43 proto=https`},
		{"a space inside a token", `for=192.0.2.43 x;proto=https`},
		{"a space in a token value", `proto=ht tp;for=192.0.2.43`},
		{"a carriage return around ;", "for=192.0.2.43\r;proto=https"},
		{"a vertical tab around ;", "for=192.0.2.43;\vproto=https"},
		{"a non-breaking space around ;", "for=192.0.2.43;\u00a0proto=https"},
		{"unquoted IPv6", `for=[2001:db8::1]`},
		{"IPv6 without brackets", `for="2001:db8::1"`},
		{"IPv4 in brackets", `for="[192.0.2.43]"`},
		{"IPv6 with a zone", `for="[fe80::1%eth0]"`},
		{"unquoted port", `for=192.0.2.43:80`},
		{"a long port", `for="192.0.2.43:123456"`},
		{"an empty port", `for="192.0.2.43:"`},
		{"a name", `for=client.example`},
		{"a bare underscore", `for=_`},
		{"an unclosed quote", `for="192.0.2.43`},
		{"for twice", `for=192.0.2.43;for=198.51.100.17`},
		{"for twice in other case", `for=192.0.2.43;FOR=198.51.100.17`},
		{"no value", `for=;proto=https`},
		{"no name", `=192.0.2.43`},
		{"no equals", `for`},
		{"a bad proto", `proto="ht tp"`},
		{"a proto not a scheme", `proto=1http`},
		{"a host with a path", `host="a.example/x"`},
		{"a host with user information", `host="u@a.example"`},
		{"a control character", "for=\"192.0.2.43\x01\""},
		{"a non-ASCII byte", "for=\"192.0.2.43\xff\""},
		{"junk after a value", `for="192.0.2.43"x`},
		{"a bad escape", "for=\"\\\x01\""},
	} {
		if elems, err := parseForwarded([]string{tc.line}); !errors.Is(err, errForwarded) {
			t.Errorf("%s: parseForwarded(%q) = %+v, %v; want a malformed header", tc.name, tc.line, elems, err)
		} else if strings.Contains(err.Error(), "192.0.2.43") {
			t.Errorf("%s: the error %q tells the header's content", tc.name, err)
		}
	}
	if elems, err := parseForwarded([]string{`for="192.0.2.43`, `proto=http"`}); !errors.Is(err, errForwarded) {
		t.Errorf("a quoted string over two lines: got %+v, %v; want a malformed header", elems, err)
	}
}

// TestClientAddrForwarded: from a trusted proxy, Forwarded is read as the
// X-Forwarded-For, -Proto and -Host it stands for (the same walk, the same
// last value), unless the request has any X-Forwarded-* header; a
// malformed one is dropped and logged at most once a minute; either way
// no handler sees the header.
func TestClientAddrForwarded(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	var log bytes.Buffer
	now := time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC)
	var addr, url, seen string
	h := clientAddr(trusted, slog.New(slog.NewTextHandler(&log, nil)), func() time.Time { return now },
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			addr, url, seen = r.RemoteAddr, PublicURL("", r), r.Header.Get("Forwarded")
		}))
	for _, tc := range []struct {
		name      string
		header    http.Header
		addr, url string
		warnings  int // malformed headers logged so far
	}{
		{"for, proto and host", http.Header{"Forwarded": {`for=203.0.113.5;proto=https;host=public.example`}}, "203.0.113.5:0", "https://public.example", 0},
		{"past trusted hops, the last proto and host", http.Header{"Forwarded": {`for=192.0.2.9;proto=http;host=a.example, for="[2001:db8::5]:80", for=10.0.0.7;proto=https;host="public.example:8443"`}}, "[2001:db8::5]:0", "https://public.example:8443", 0},
		{"all trusted", http.Header{"Forwarded": {`for=10.1.1.1, for=10.0.0.7`}}, "10.1.1.1:0", "http://twofold.test", 0},
		{"the last element without proto", http.Header{"Forwarded": {`for=192.0.2.9;proto=https, for=10.0.0.7`}}, "192.0.2.9:0", "http://twofold.test", 0},
		{"an element without for", http.Header{"Forwarded": {`for=192.0.2.9, proto=https`}}, "10.0.0.2:5000", "https://twofold.test", 0},
		{"none with for", http.Header{"Forwarded": {`proto=https;host=public.example`}}, "10.0.0.2:5000", "https://public.example", 0},
		{"spaces around ; as proxies write them", http.Header{"Forwarded": {`for=203.0.113.5; proto=https; host=public.example`}}, "203.0.113.5:0", "https://public.example", 0},
		{"X-Forwarded-For wins", http.Header{"Forwarded": {`for=192.0.2.9;host=evil.example`}, "X-Forwarded-For": {"203.0.113.5"}}, "203.0.113.5:0", "http://twofold.test", 0},
		{"X-Forwarded-Port wins too", http.Header{"Forwarded": {`for=192.0.2.9;host=evil.example`}, "X-Forwarded-Port": {"443"}}, "10.0.0.2:5000", "http://twofold.test", 0},
		{"malformed", http.Header{"Forwarded": {`for=192.0.2.9;host=evil.example;`, `for=192.0.2.10 ; proto =https`}}, "10.0.0.2:5000", "http://twofold.test", 1},
		{"malformed again at once", http.Header{"Forwarded": {`for=192.0.2.9,,for`}}, "10.0.0.2:5000", "http://twofold.test", 1},
		{"malformed a minute later", http.Header{"Forwarded": {`for=192.0.2.9 for`}}, "10.0.0.2:5000", "http://twofold.test", 2},
	} {
		if tc.name == "malformed a minute later" {
			now = now.Add(badHopEvery)
		}
		r := httptest.NewRequest("POST", "/v1/login", nil)
		r.Host, r.RemoteAddr, r.Header = "twofold.test", "10.0.0.2:5000", tc.header
		h.ServeHTTP(httptest.NewRecorder(), r)
		if addr != tc.addr || url != tc.url || seen != "" {
			t.Errorf("%s: got address %q, public URL %q, Forwarded %q; want %q, %q and none", tc.name, addr, url, seen, tc.addr, tc.url)
		}
		if n := strings.Count(log.String(), "Forwarded header that is malformed"); n != tc.warnings {
			t.Errorf("%s: %d warnings of a malformed header, want %d:\n%s", tc.name, n, tc.warnings, log.String())
		}
	}
	if strings.Contains(log.String(), "192.0.2.10") || strings.Contains(log.String(), "evil.example") {
		t.Errorf("the warning tells the header's content:\n%s", log.String())
	}
}

// TestCrossSiteOrigin: without Sec-Fetch-Site, an Origin passes only when
// it is the public origin (PublicURL) in scheme, host and port, case and a
// default port aside; an https Origin passes for an http public origin of
// the same host and port, not the other way round.
func TestCrossSiteOrigin(t *testing.T) {
	for _, tc := range []struct {
		base, host, proto, origin string
		cross                     bool
	}{
		{"", "twofold.test", "", "http://twofold.test", false},
		{"", "twofold.test", "", "HTTP://Twofold.Test:80", false},
		{"", "twofold.test:8080", "", "http://twofold.test:8080", false},
		{"", "twofold.test:8080", "", "http://twofold.test", true},
		{"", "twofold.test", "", "https://twofold.test", false},
		{"", "twofold.test", "https", "http://twofold.test", true},
		{"", "twofold.test", "https", "https://twofold.test:443", false},
		{"", "twofold.test", "", "http://twofold.test.evil.example", true},
		{"", "twofold.test", "", "http://twofold.test/path", true},
		{"", "twofold.test", "", "http://user@twofold.test", true},
		{"", "twofold.test", "", "null", true},
		{"", "[2001:db8::1]:8080", "", "http://[2001:DB8::1]:8080", false},
		{"https://Login.Example/", "twofold.test", "", "https://login.example", false},
		{"https://login.example", "login.example", "", "http://login.example", true},
	} {
		r := httptest.NewRequest("POST", "/v1/login", nil)
		r.Host = tc.host
		r.Header.Set("Origin", tc.origin)
		if tc.proto != "" {
			r.Header.Set("X-Forwarded-Proto", tc.proto)
		}
		if got := CrossSite(tc.base, r); got != tc.cross {
			t.Errorf("base %q, Host %q, X-Forwarded-Proto %q, Origin %q: CrossSite %v, want %v", tc.base, tc.host, tc.proto, tc.origin, got, tc.cross)
		}
	}
	r := httptest.NewRequest("POST", "/v1/login", nil)
	r.Host = "twofold.test"
	r.Header["Origin"] = []string{"http://twofold.test", "http://evil.example"}
	if !CrossSite("", r) {
		t.Error("two Origin headers passed")
	}
}
