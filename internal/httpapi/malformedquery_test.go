package httpapi_test

import (
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedQuery: a query that is not form-encoded (a bad %-escape, a
// semicolon) is a 400 invalid problem on every /v1 route, those that take
// no query parameters too, before anything is done (authentication
// included), rather than its pairs being skipped; its detail tells a
// semicolon from a bad %-escape (the two never share one) and quotes none
// of the long input. The problem is about no one parameter, so it names
// none (no pointer, parameter or in), and the details are compared with
// each other, not with a sentence.
func TestMalformedQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "mia")
		anon := testenv.NewClient(s.URL())
		long := strings.Repeat("L", 300)
		param := regexp.MustCompile(`\{[^}]+\}`)
		for pattern := range httpapi.New(nil, nil, slog.New(slog.DiscardHandler)).Routes() {
			method, path, _ := strings.Cut(pattern, " ")
			path = param.ReplaceAllString(path, "x")
			for who, cl := range map[string]*testenv.Client{"signed in": c, "anonymous": anon} {
				details := testenv.Details{}
				for _, q := range []struct{ query, cause string }{
					{"limit=1;" + long, "semicolon"},
					{"after=%zz" + long, "bad %-escape"},
					{"a=1&b=%" + long, "bad %-escape"},
				} {
					r := cl.Do(t, method, path+"?"+q.query, nil)
					if r.Status != http.StatusBadRequest || r.Problem() != "invalid" || r.String("detail") == "" {
						t.Errorf("%s %s?%.12s…: got %d %.300s, want 400 invalid with a detail", who, pattern, q.query, r.Status, r.Body)
					}
					wantMembers(t, who+" "+pattern, r, "", "", "") // about the query, no one parameter
					if strings.Contains(string(r.Body), long[:20]) {
						t.Errorf("%s %s: the answer quotes the query: %.200s", who, pattern, r.Body)
					}
					if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
						t.Errorf("%s %s: Content-Type %q, want application/problem+json", who, pattern, ct)
					}
					details.Add(t, who+" "+pattern, q.cause, r.String("detail"))
				}
			}
		}
		// Nothing was done: the factor a DELETE named is there, and the
		// session works.
		wantProblem(t, c.Do(t, "DELETE", "/v1/me/factors/"+f.id+"?force=1;x", nil), http.StatusBadRequest, "invalid")
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
