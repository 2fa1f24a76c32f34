package dnsapi_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedQuery: a query that is not form-encoded (a bad %-escape, a
// semicolon) is a 400 invalid problem saying which, on every route and
// before authentication, rather than its pairs being skipped: Go drops
// "data=t1;x" whole, and a DELETE would have taken the whole set. The
// detail quotes none of the long input.
func TestMalformedQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, base, set := acmeZone(t, s)
		long := strings.Repeat("L", 300)
		for _, q := range []struct{ query, says string }{
			{"data=t1;" + long, "semicolon"},
			{"data=%zz" + long, `\"%zz\" is not a %-escape`},
			{"data=t1&x=%" + long, "%-escape"},
		} {
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
				a := call(t, s, tt.auth, tt.method, tt.path+"?"+q.query, tt.ct, tt.body)
				if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, q.says) || strings.Contains(a.body, long[:20]) {
					t.Errorf("%s %s?%.12s… (%s): got %d %.300s, want 400 invalid saying %s, without the query", tt.method, tt.path, q.query, tt.who, a.status, a.body, q.says)
				}
			}
		}
		acmeUnchanged(t, s, auth)
	})
}

// TestMalformedForm: a POST or PUT form body that cannot be read is a 400
// invalid problem saying why (not form-encoded, not UTF-8), rather than
// one message for all, and writes nothing. (One over the bound is 413
// too-large: see TestBodyTooLarge.)
func TestMalformedForm(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, _, set := acmeZone(t, s)
		form := "application/x-www-form-urlencoded"
		for _, tt := range []struct{ name, body, says string }{
			{"a bad %-escape", "data=%zz", "%-escape"},
			{"a semicolon", "data=t3;ttl=60", "semicolon"},
			{"not UTF-8", "data=%ff", "UTF-8"},
		} {
			for _, method := range []string{"POST", "PUT"} {
				a := call(t, s, auth, method, set, form, tt.body)
				if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, tt.says) {
					t.Errorf("%s a form body %s: got %d %.300s, want 400 invalid saying %s", method, tt.name, a.status, a.body, tt.says)
				}
			}
		}
		acmeUnchanged(t, s, auth)
	})
}
