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

// TestCrossSiteRefused: every /v1 route that changes something refuses a
// request that a browser says another site's page sent (Sec-Fetch-Site
// cross-site or same-site, or else an Origin that is not the server's),
// with 403 forbidden, before it authenticates or reads anything: an API
// key given as HTTP Basic is kept and sent by the browser like a cookie,
// and POST /v1/token reads a form. A route added later is walked too. The
// session the refused requests carried still works, and the same request
// from the server's own origin, or from a client without an Origin, is
// served.
func TestCrossSiteRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "mia")
		c := login(t, s, "mia")
		anon := testenv.NewClient(s.URL())
		param := regexp.MustCompile(`\{[^}]+\}`)
		headers := map[string]http.Header{
			"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}},
			"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://api.example.com"}},
			"another Origin":            {"Origin": {"http://evil.example"}},
			"a null Origin":             {"Origin": {"null"}},
		}
		n := 0
		for pattern := range httpapi.New(nil, nil, slog.New(slog.DiscardHandler)).Routes() {
			method, path, _ := strings.Cut(pattern, " ")
			if method == http.MethodGet || method == http.MethodHead {
				continue
			}
			n++
			path = param.ReplaceAllString(path, "x")
			for name, h := range headers {
				for who, cl := range map[string]*testenv.Client{"signed in": c, "anonymous": anon} {
					cl.Header = h
					r := cl.Do(t, method, path, map[string]string{"username": "mia", "password": password})
					if r.Status != http.StatusForbidden || r.Problem() != "forbidden" || !strings.Contains(r.String("detail"), "another site") {
						t.Errorf("%s %s (%s, %s): got %d %.300s, want 403 forbidden saying it came from another site", method, path, who, name, r.Status, r.Body)
					}
				}
			}
		}
		if n < 60 {
			t.Errorf("walked %d routes that change something, want at least 60", n)
		}
		// POST /v1/logout and DELETE /v1/me were among them: the session is
		// still there.
		c.Header = http.Header{}
		if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the session after the refusals: got %d %s", r.Status, r.Body)
		}
		own := "http://" + s.Addr()
		for name, h := range map[string]http.Header{
			"the server's own origin":            {"Sec-Fetch-Site": {"same-origin"}, "Origin": {own}},
			"its Origin, without Fetch Metadata": {"Origin": {own}},
			"typed into the address bar":         {"Sec-Fetch-Site": {"none"}},
		} {
			anon.Header = h
			if r := anon.Do(t, "POST", "/v1/login", map[string]string{"username": "mia", "password": password}); r.Status != 200 {
				t.Errorf("a sign-in from %s: got %d %s, want 200", name, r.Status, r.Body)
			}
		}
	})
}

// TestNoCORS: the APIs answer no CORS, so that another site's script can
// neither read an answer nor send a request a browser preflights (JSON,
// Authorization, X-Auth-Token): a preflight (OPTIONS) and a request that
// gives another Origin get no Access-Control-* header, on /v1, the DNS API
// and the Identity API.
func TestNoCORS(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "mia")
	c := login(t, s, "mia")
	c.Header = http.Header{"Origin": {"https://evil.example"}, "Access-Control-Request-Method": {"PUT"}, "Access-Control-Request-Headers": {"authorization, content-type"}}
	for _, path := range []string{"/v1/me", "/v1/me/password", "/v1/login", "/dns/v2/zones", "/v3/auth/tokens", "/healthz"} {
		for _, method := range []string{http.MethodOptions, http.MethodGet} {
			r := c.Do(t, method, path, nil)
			for k := range r.Header {
				if strings.HasPrefix(k, "Access-Control-") {
					t.Errorf("%s %s with another Origin: %s: %s", method, path, k, r.Header.Get(k))
				}
			}
		}
	}
}
