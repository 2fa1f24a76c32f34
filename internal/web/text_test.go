package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedText: a form value, path or query that is not UTF-8 or
// holds a NUL byte is refused with a 400 page before anything looks it up
// (PostgreSQL refuses such text), on both stores.
func TestMalformedText(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "alice", false, false)
			c := newClient(t, ts.URL())
			for _, tc := range []struct {
				name string
				r    func() reply
			}{
				{"username with NUL", func() reply {
					return c.post("/login", url.Values{"username": {"al\x00ice"}, "password": {testPassword}})
				}},
				{"username not UTF-8", func() reply {
					return c.post("/login", url.Values{"username": {"al\xffice"}, "password": {testPassword}})
				}},
				{"reset link with NUL", func() reply { return c.get("/password-reset/a%00b.c") }},
				{"reset link not UTF-8", func() reply { return c.get("/password-reset/%ff.c") }},
				{"query with NUL", func() reply { return c.get("/login?next=%00") }},
			} {
				r := tc.r()
				if r.status != http.StatusBadRequest || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
					t.Errorf("%s: got %d %q, want a 400 page", tc.name, r.status, r.header.Get("Content-Type"))
				}
			}
			if r := c.signIn("alice"); r.status != http.StatusOK {
				t.Errorf("then signing in: got %d: %s", r.status, pageError(r.body))
			}
		})
	}
}
