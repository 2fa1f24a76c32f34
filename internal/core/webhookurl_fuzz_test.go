package core

import (
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// FuzzCheckWebhookURL: a URL a webhook takes (checkWebhookURL) reads back
// as itself when given again, and is one a delivery can only send where
// the check meant: https (http only where allowed), a host and no user or
// fragment, a port from 1 to 65535, a host of text without hidden
// characters, no hidden character in the path or query, and a host written as an address only where a webhook may
// reach (WebhookAddrAllowed). Anything else is refused as invalid.
func FuzzCheckWebhookURL(f *testing.F) {
	for _, u := range []string{"https://example.com/hook", "http://example.com:8080/h?x=1", "https://[2a00:1450:4001:80b::200e]:443/",
		"https://[::ffff:127.0.0.1]/", "https://[fe80::1%25eth0]/", "https://127.1/", "https://2130706433/", "https://user@example.com/",
		"https://example.com/hook#x", "https://example.com/%E2%80%AE", "https://exa%41mple.com/", " https://example.com/ "} {
		f.Add(u, false, false)
		f.Add(u, true, true)
	}
	f.Fuzz(func(t *testing.T, raw string, allowHTTP, allowPrivate bool) {
		s := &Service{cfg: Config{WebhookAllowHTTP: allowHTTP, WebhookAllowPrivate: allowPrivate}}
		got, err := s.checkWebhookURL(raw)
		if err != nil {
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("checkWebhookURL(%q): %v, want an invalid error", raw, err)
			}
			return
		}
		if again, err := s.checkWebhookURL(got); err != nil || again != got {
			t.Fatalf("%q taken as %q, which is taken as %q, %v", raw, got, again, err)
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("%q taken as %q, which does not parse: %v", raw, got, err)
		}
		if u.Scheme != "https" && (u.Scheme != "http" || !allowHTTP) || u.Host == "" || u.Hostname() == "" || u.User != nil || u.Fragment != "" || u.Opaque != "" {
			t.Fatalf("%q taken as %q: scheme %q, host %q, user %v, fragment %q", raw, got, u.Scheme, u.Host, u.User, u.Fragment)
		}
		if p := u.Port(); p != "" {
			if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
				t.Fatalf("%q taken as %q, with port %q", raw, got, p)
			}
		}
		if h := u.Hostname(); !utf8.ValidString(h) || strings.IndexFunc(h, hiddenRune) >= 0 {
			t.Fatalf("%q taken as %q, with host %q", raw, got, h)
		}
		query, err := url.QueryUnescape(u.RawQuery)
		if err != nil {
			t.Fatalf("%q taken as %q, whose query has a %% that escapes nothing", raw, got)
		}
		for _, part := range []string{u.Path, query} {
			if strings.IndexFunc(strings.ToValidUTF8(part, ""), hiddenRune) >= 0 {
				t.Fatalf("%q taken as %q, with a hidden character in %q", raw, got, part)
			}
		}
		if a, err := netip.ParseAddr(u.Hostname()); err == nil && !WebhookAddrAllowed(a, allowPrivate) {
			t.Fatalf("%q taken as %q, at %s, which a webhook may not reach", raw, got, a)
		}
	})
}
