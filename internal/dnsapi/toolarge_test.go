package dnsapi_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// The bounds of a DNS API body (README "DNS API"): a zone-file or form
// body takes up to 256 KiB, a JSON one 64 KiB, as on /v1.
const (
	maxTextBody = 256 << 10
	maxJSONBody = 64 << 10
)

// fill returns body followed by pad repeated up to n bytes: white space
// (JSON), blank lines (a zone file) or empty pairs (a form), which read as
// nothing, so that a body of the bound and one over it differ by one byte
// that means nothing.
func fill(t *testing.T, body, pad string, n int) string {
	t.Helper()
	if len(body) > n {
		t.Fatalf("body of %d bytes, longer than %d", len(body), n)
	}
	return body + strings.Repeat(pad, n-len(body))
}

// TestBodyTooLarge: a body one byte over its bound is 413 too-large
// (problem+json), whatever its kind and method, and the record set is
// left as it was; the same body at the bound is taken.
func TestBodyTooLarge(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, base, set := acmeZone(t, s)
		form := "application/x-www-form-urlencoded"
		tests := []struct {
			name, method, path, ct, body, pad string
			bound                             int
			fields                            map[string]float64
		}{
			{"POST form", "POST", set, form, "data=t3&ttl=", "0", maxTextBody - 3, map[string]float64{"records_added": 1}},
			{"PUT form", "PUT", set, form, "data=t1&data=t2&data=t3&ttl=", "0", maxTextBody - 3, map[string]float64{"records_added": 0, "records_removed": 0}},
			{"POST text/dns", "POST", base, "text/dns", "_acme-challenge 300 TXT t4\n", "\n", maxTextBody, map[string]float64{"records_added": 1}},
			{"PUT text/dns", "PUT", set, "text/dns", "_acme-challenge 300 TXT t1\n_acme-challenge 300 TXT t2\n", "\n", maxTextBody, map[string]float64{"records_removed": 2}},
			{"POST JSON", "POST", base, "application/json", oneRecord, " ", maxJSONBody, map[string]float64{"records_added": 1}},
			// A DELETE reads its body (a form naming the data) before it
			// looks at it: blank, the query's data is taken.
			{"DELETE", "DELETE", set + "?data=t1", form, "", "\n", maxTextBody, map[string]float64{"records_removed": 1}},
		}
		body := func(i, n int) string {
			b := fill(t, tests[i].body, tests[i].pad, n)
			if strings.HasSuffix(tests[i].body, "ttl=") {
				b += "300" // a TTL of 300 with leading zeros
			}
			return b
		}
		for i, tt := range tests {
			a := call(t, s, auth, tt.method, tt.path, tt.ct, body(i, tt.bound+1))
			if a.status != http.StatusRequestEntityTooLarge || a.problem() != "too-large" || a.header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s over the bound: got %d %q, want 413 too-large problem+json", tt.name, a.status, a.problem())
			}
		}
		acmeUnchanged(t, s, auth)
		for i, tt := range tests {
			want(t, tt.name+" at the bound", call(t, s, auth, tt.method, tt.path, tt.ct, body(i, tt.bound)), http.StatusOK, tt.fields)
		}
	})
}
