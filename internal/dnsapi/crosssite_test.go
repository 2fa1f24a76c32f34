package dnsapi_test

import (
	"encoding/base64"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/dnsapi"
	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
)

// crossSite are the headers with which a browser sends another site's
// form or script: Fetch Metadata where it sends it (https and loopback),
// else only an Origin that is not the server's ("null" from a sandboxed
// frame or a no-referrer page).
var crossSite = map[string][]string{
	"Sec-Fetch-Site cross-site": {"Sec-Fetch-Site", "cross-site", "Origin", "https://evil.example"},
	"Sec-Fetch-Site same-site":  {"Sec-Fetch-Site", "same-site", "Origin", "https://dns.example.com"},
	"another Origin":            {"Origin", "http://evil.example"},
	"a null Origin":             {"Origin", "null"},
}

// TestCrossSiteForm: an API key given as HTTP Basic is a credential a
// browser keeps and sends by itself, once its holder used it there; and
// the DNS API reads form bodies, which any site's page can post. A
// request a browser says another site sent is refused (403 forbidden),
// on every route that changes something, before the key is even looked
// at: no record is added, replaced or removed. The same form from the
// server's own origin, and from a client that sends no such header, does
// what it asks.
func TestCrossSiteForm(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		bearer, base, set := acmeZone(t, s)
		a, err := s.Service.Authenticate(t.Context(), strings.TrimPrefix(bearer, "Bearer "))
		if err != nil {
			t.Fatal(err)
		}
		key, secret, err := s.Service.CreateAPIKey(t.Context(), a, core.NewAPIKey{Name: "records",
			Permits: []twofold.Permit{{Service: "dns", Resource: "example.com", Actions: []string{"read", "write"}}}}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(key.ID+":"+secret))
		form := "application/x-www-form-urlencoded"
		param := regexp.MustCompile(`\{[^}]+\}`)
		n := 0
		for pattern := range dnsapi.New(nil, httpapi.New(nil, nil, slog.New(slog.DiscardHandler)), slog.New(slog.DiscardHandler)).Routes() {
			method, path, _ := strings.Cut(pattern, " ")
			if method == http.MethodGet || method == http.MethodHead {
				continue
			}
			n++
			path = strings.Replace(param.ReplaceAllString(path, "x"), "/zones/x", "/zones/example.com", 1)
			for name, h := range crossSite {
				for _, auth := range []string{basic, bearer} {
					r := call(t, s, auth, method, path, form, "data=203.0.113.66&ttl=300", h...)
					if r.status != http.StatusForbidden || r.problem() != "forbidden" || !strings.Contains(r.body, "another site") {
						t.Errorf("%s %s (%s): got %d %.300s, want 403 forbidden saying it came from another site", method, path, name, r.status, r.body)
					}
				}
			}
		}
		if n < 3 {
			t.Errorf("walked %d routes that change records, want POST, PUT and DELETE", n)
		}
		acmeUnchanged(t, s, bearer)

		// The server's own origin, and a client that sends no Origin.
		own := "http://" + s.Addr()
		want(t, "a form of the server's own origin", call(t, s, basic, "POST", set, form, "data=t3", "Sec-Fetch-Site", "same-origin", "Origin", own), 200, map[string]float64{"records_added": 1})
		want(t, "a form with the server's Origin, without Fetch Metadata", call(t, s, basic, "POST", set, form, "data=t4", "Origin", own), 200, map[string]float64{"records_added": 1})
		want(t, "a client that sends no Origin", call(t, s, basic, "DELETE", base+"/www/A", "", ""), 200, map[string]float64{"records_removed": 1})
	})
}
