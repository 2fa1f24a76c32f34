package httpapi_test

import (
	"log/slog"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedQuery: a query that is not form-encoded (a bad %-escape, a
// semicolon) is a 400 invalid problem saying which on every /v1 route,
// those that take no query parameters too, before anything is done
// (authentication included), rather than its pairs being skipped; the
// detail quotes none of the long input.
func TestMalformedQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "mia")
		anon := testenv.NewClient(s.URL())
		long := strings.Repeat("L", 300)
		param := regexp.MustCompile(`\{[^}]+\}`)
		for pattern := range httpapi.New(nil, nil, slog.New(slog.DiscardHandler)).Routes() {
			method, path, _ := strings.Cut(pattern, " ")
			path = param.ReplaceAllString(path, "x")
			for _, q := range []struct{ query, says string }{
				{"limit=1;" + long, "semicolon"},
				{"after=%zz" + long, `"%zz" is not a %-escape`},
				{"a=1&b=%" + long, "%-escape"},
			} {
				for who, cl := range map[string]*testenv.Client{"signed in": c, "anonymous": anon} {
					r := cl.Do(t, method, path+"?"+q.query, nil)
					wantDetail(t, who+" "+pattern+"?"+q.query[:12], r, q.says)
					if strings.Contains(string(r.Body), long[:20]) {
						t.Errorf("%s %s: the answer quotes the query: %.200s", who, pattern, r.Body)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("%s %s: Content-Type %q, want application/problem+json", who, pattern, ct)
					}
				}
			}
		}
		// Nothing was done: the factor a DELETE named is there, and the
		// session works.
		wantDetail(t, "delete a factor", c.Do(t, "DELETE", "/v1/me/factors/"+f.id+"?force=1;x", nil), "semicolon")
		if r := c.Do(t, "GET", "/v1/me/factors/"+f.id, nil); r.Status != 200 {
			t.Errorf("the factor after the refusal: got %d %s, want 200", r.Status, r.Body)
		}
		// Well-formed parameters a route does not read still pass on the
		// routes that take none.
		if r := c.Do(t, "GET", "/v1/me?x=1", nil); r.Status != 200 {
			t.Errorf("GET /v1/me?x=1: got %d %s, want 200", r.Status, r.Body)
		}
	})
}
