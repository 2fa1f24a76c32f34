package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestFormOriginBehindProxy: the pages' cross-site guard, as the API's
// (httpapi.CrossSite), compares the Origin of a browser that sends no
// Sec-Fetch-Site with the public origin, not with the raw Host: behind a
// trusted proxy that rewrites Host, the sign-in form from the origin it
// forwards (X-Forwarded-Proto and -Host, or Forwarded) signs in; a client
// that is no trusted proxy sending the same headers is refused, as is
// another origin; with a base URL, its origin alone signs in. The
// connection's own Host is 127.0.0.1:port throughout. On SQLite and
// PostgreSQL.
func TestFormOriginBehindProxy(t *testing.T) {
	const public = testenv.ProxyOrigin
	xfh, fwd := testenv.ProxyHeaders()
	with := testenv.WithOrigin
	trusted, untrusted := []string{"127.0.0.0/8"}, []string{"192.0.2.0/24"}
	const base = "http://twofold.example" // plain http, so that the test's jar sends its cookies back
	for _, tc := range []struct {
		name    string
		base    string
		proxies []string
		header  http.Header
		signsIn bool
	}{
		{"trusted proxy, X-Forwarded-Host", "", trusted, with(xfh, public), true},
		{"trusted proxy, Forwarded", "", trusted, with(fwd, public), true},
		{"trusted proxy, another site's Origin", "", trusted, with(fwd, "https://evil.example"), false},
		{"trusted proxy, http Origin for https", "", trusted, with(xfh, "http://public.example"), false},
		{"trusted proxy, malformed Forwarded", "", trusted, with(http.Header{"Forwarded": {`for=203.0.113.7;proto=https;host=public.example,`, `host=`}}, public), false},
		{"untrusted client, X-Forwarded-Host", "", untrusted, with(xfh, public), false},
		{"untrusted client, Forwarded", "", untrusted, with(fwd, public), false},
		{"no proxy trusted, Forwarded", "", nil, with(fwd, public), false},
		{"base URL", base, nil, http.Header{"Origin": {base}}, true},
		{"base URL, another Origin", base, nil, http.Header{"Origin": {"http://other.example"}}, false},
		{"base URL, the raw Host's Origin", base, nil, http.Header{"Origin": {"http://HOST"}}, false},
		{"base URL, a trusted proxy forwarding another host", base, trusted, with(fwd, public), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, dsn := range testenv.DSNs(t) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ts := testenv.NewServer(t, dsn(t), func(c *config.Config) { c.BaseURL, c.TrustedProxies = tc.base, tc.proxies })
					account(t, ts, "bob", false, false)
					c := newClient(t, "http://"+ts.Addr()) // ts.URL() may be the base URL, which nothing resolves
					c.get("/login")
					h := tc.header.Clone()
					if h.Get("Origin") == "http://HOST" {
						h.Set("Origin", "http://"+ts.Addr())
					}
					r := c.postRaw("/login", url.Values{"username": {"bob"}, "password": {testPassword}, "csrf": {c.csrf}}, h)
					switch {
					case tc.signsIn && r.url.Path != "/settings/security":
						t.Errorf("the sign-in with %v: at %s (%d): %s; want signed in", h, r.url, r.status, pageError(r.body))
					case !tc.signsIn && (r.status != http.StatusForbidden || !strings.Contains(r.body, "another site")):
						t.Errorf("the sign-in with %v: at %s (%d): %s; want 403 from another site", h, r.url, r.status, pageError(r.body))
					}
				})
			}
		})
	}
}
