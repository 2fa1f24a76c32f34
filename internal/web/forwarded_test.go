package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestPushEnrolmentPageForwarded: the push enrolment link on the pages
// names the server as the API's does (httpapi.PublicURL): a client that
// is no --trusted-proxy gets the address it connected to, whatever it
// writes in X-Forwarded-Proto, X-Forwarded-Host or Forwarded; a trusted
// proxy's forwarded scheme and host are taken. On SQLite and PostgreSQL.
func TestPushEnrolmentPageForwarded(t *testing.T) {
	for _, tc := range []struct {
		name    string
		proxies []string
		want    func(ts *testenv.Server) string
	}{
		{"a client", nil, func(ts *testenv.Server) string { return "http://" + ts.Addr() }},
		{"a trusted proxy", []string{"127.0.0.0/8"}, func(*testenv.Server) string { return "https://forwarded.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, dsn := range testenv.DSNs(t) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					ts := testenv.NewServer(t, dsn(t), func(c *config.Config) { c.TrustedProxies = tc.proxies })
					account(t, ts, "bob", false, false)
					c := newClient(t, ts.URL())
					if r := c.signIn("bob"); r.url.Path != "/settings/security" {
						t.Fatalf("sign-in: at %s", r.url)
					}
					page := c.get("/settings/security").body
					form := url.Values{"label": {"Laptop"}, "csrf": {c.csrf}, "once": {onceOf(t, page, "/settings/security/push")}}
					r := c.postRaw("/settings/security/push", form, http.Header{
						"X-Forwarded-Proto": {"https"}, "X-Forwarded-Host": {"forwarded.example"},
						"X-Forwarded-For": {"203.0.113.9"}, "Forwarded": {"host=forwarded.example;proto=https"},
					})
					want := "server=" + url.QueryEscape(tc.want(ts)) + "&amp;"
					if r.status != http.StatusOK || !strings.Contains(r.body, want) {
						uri, _, _ := strings.Cut(r.body[strings.Index(r.body, `id="enrol-uri"`)+1:], "</pre>")
						t.Errorf("the enrolment page (%d) does not name the server as %q: %s", r.status, want, uri)
					}
				})
			}
		})
	}
}
