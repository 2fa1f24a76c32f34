package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestExpiredSessionUsername: a form sent from a page whose session ran
// out lands on the login page that says so with the username filled in,
// from the session the browser's own cookie names, which that page then
// clears. A browser with no such cookie, and one whose session was ended on
// purpose (signed out everywhere) before it ran out, get the page with no
// name. Real HTTP with cookies, on SQLite and PostgreSQL.
func TestExpiredSessionUsername(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			_, kim := signedIn(t, ts, "kim", false)
			_, lee := signedIn(t, ts, "lee", false)
			held := func(c *client) *http.Cookie {
				t.Helper()
				for _, k := range jarFor(t, c, "/") {
					if k.Name == "twofold_session" {
						return k
					}
				}
				return nil
			}
			// Lee signs out everywhere; the browser keeps the old cookie.
			old := held(lee)
			if r := lee.post("/logout/everywhere", url.Values{}); r.url.Query().Get("m") != "logged_out_everywhere" {
				t.Fatalf("sign out everywhere: at %s", r.url)
			}
			u, _ := url.Parse(ts.URL())
			lee.http.Jar.SetCookies(u, []*http.Cookie{old})

			// The sessions run out, a minute ago: within the sweep's margin
			// (core.SweepMargin), so the server's sweep, every 100 ms here,
			// has not deleted them yet.
			ts.Clock.Add(12*time.Hour + time.Minute)
			sent := func(c *client) reply {
				t.Helper()
				r := c.post("/settings/security/totp", url.Values{"label": {"New phone"}})
				if r.url.Path != "/login" || r.url.Query().Get("m") != "expired_session" || !strings.Contains(r.body, "Your session has ended") {
					t.Fatalf("a form sent after the session ran out: at %s (%d)", r.url, r.status)
				}
				return r
			}
			if r := sent(kim); !strings.Contains(r.body, `value="kim"`) {
				t.Errorf("the login page after kim's session ran out does not fill in kim:\n%s", r.body)
			}
			if k := held(kim); k != nil {
				t.Errorf("the expired session's cookie is still held: %v", k)
			}
			if r := kim.get("/login?m=expired_session"); strings.Contains(r.body, `value="kim"`) {
				t.Error("the login page fills in kim again once the cookie is cleared")
			}
			if r := sent(lee); strings.Contains(r.body, `value="lee"`) {
				t.Error("the login page fills in lee, whose session was signed out everywhere")
			}
			if r := newClient(t, ts.URL()).get("/login?m=expired_session"); strings.Contains(r.body, `value="kim"`) || strings.Contains(r.body, `value="lee"`) {
				t.Error("a browser with no session cookie gets a username filled in")
			}
		})
	}
}
