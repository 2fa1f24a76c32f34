package dnsapi_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// detail returns the detail of a problem answer ("" when it has none).
func (a answer) detail() string {
	d, _ := a.json["detail"].(string)
	return d
}

// TestMalformedQuery: a query that is not form-encoded (a bad %-escape, a
// semicolon) is a 400 invalid problem, its detail telling which, on every
// route and before authentication, rather than its pairs being skipped: Go
// drops "data=t1;x" whole, and a DELETE would have taken the whole set.
// The detail quotes none of the long input.
func TestMalformedQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, base, set := acmeZone(t, s)
		long := strings.Repeat("L", 300)
		for _, tt := range []struct{ who, auth, method, path, ct, body string }{
			{"owner", auth, "DELETE", set, "", ""},
			{"owner", auth, "DELETE", base, "", ""},
			{"owner", auth, "GET", set, "", ""},
			{"owner", auth, "GET", "/dns/v2/zones", "", ""},
			{"owner", auth, "POST", base, "application/json", oneRecord},
			{"owner", auth, "PUT", base + "/www/A", "application/json", oneRecord},
			{"anonymous", "", "DELETE", set, "", ""},
			{"a bad token", "Bearer nonsense", "GET", "/dns/v2/zones", "", ""},
		} {
			details := testenv.Details{}
			for _, q := range []struct{ query, cause string }{
				{"data=t1;" + long, "a semicolon"},
				{"data=%zz" + long, "a bad %-escape"},
				{"data=t1&x=%" + long, "a bad %-escape"},
			} {
				a := call(t, s, tt.auth, tt.method, tt.path+"?"+q.query, tt.ct, tt.body)
				if a.status != 400 || a.problem() != "invalid" || a.detail() == "" || strings.Contains(a.body, long[:20]) {
					t.Errorf("%s %s?%.12s… (%s): got %d %.300s, want 400 invalid with a detail, without the query", tt.method, tt.path, q.query, tt.who, a.status, a.body)
				}
				details.Add(t, tt.method+" "+tt.path+" ("+tt.who+")", q.cause, a.detail())
			}
		}
		acmeUnchanged(t, s, auth)
	})
}

// TestMalformedForm: a POST or PUT form body that cannot be read is a 400
// invalid problem whose detail tells why (not form-encoded, not UTF-8),
// rather than one message for all, and writes nothing. (One over the bound
// is 413 too-large: see TestBodyTooLarge.)
func TestMalformedForm(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, _, set := acmeZone(t, s)
		form := "application/x-www-form-urlencoded"
		for _, method := range []string{"POST", "PUT"} {
			details := testenv.Details{}
			for _, tt := range []struct{ name, body, cause string }{
				{"a bad %-escape", "data=%zz", "not form-encoded"},
				{"a semicolon", "data=t3;ttl=60", "not form-encoded"},
				{"not UTF-8", "data=%ff", "not UTF-8"},
			} {
				a := call(t, s, auth, method, set, form, tt.body)
				if a.status != 400 || a.problem() != "invalid" || a.detail() == "" {
					t.Errorf("%s a form body %s: got %d %.300s, want 400 invalid with a detail", method, tt.name, a.status, a.body)
				}
				details.Add(t, method+" a form body", tt.cause, a.detail())
			}
		}
		acmeUnchanged(t, s, auth)
	})
}
