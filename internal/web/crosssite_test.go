package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestEveryFormRefusesForgery walks every POST route of the pages, the
// sign-in, first-run setup, password-reset and sign-out forms among them,
// as a signed-in operator and as a visitor not signed in, and sends each a
// forged form: without the CSRF token, with another browser's, and with
// this browser's own token but from another site (Sec-Fetch-Site
// cross-site or same-site, or an Origin that is not the server's). Each is
// refused with 403 before its handler runs; a route added later is walked
// too. Nothing was done: the forms would have signed in, created an
// account and signed the operator out.
func TestEveryFormRefusesForgery(t *testing.T) {
	ts, _, op := operatorFixture(t)
	nina := userID(t, ts, "nina")
	other := newClient(t, ts.URL())
	other.get("/login")
	values := strings.NewReplacer("{id}", nina, "{zone}", "example.com", "{inv}", "x", "{username}", "nina", "{token}", "x", "{key}", "x")
	n := 0
	for pattern := range pageRoutes(t, ts) {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodPost {
			continue
		}
		n++
		path = values.Replace(path)
		for _, who := range []struct {
			name string
			c    *client
		}{{"signed in", op}, {"signed out", newClient(t, ts.URL())}} {
			who.c.get("/login") // its own CSRF token
			form := func(csrf string) url.Values {
				return url.Values{"csrf": {csrf}, "username": {"mallory"}, "password": {testPassword}, "password2": {testPassword}}
			}
			for _, tc := range []struct {
				name   string
				form   url.Values
				header http.Header
				says   string
			}{
				{"no token", form(""), nil, "did not come from this site"},
				{"another browser's token", form(other.csrf), nil, "did not come from this site"},
				{"cross-site", form(who.c.csrf), http.Header{"Sec-Fetch-Site": {"cross-site"}, "Origin": {"https://evil.example"}}, "another site"},
				{"same-site", form(who.c.csrf), http.Header{"Sec-Fetch-Site": {"same-site"}, "Origin": {"https://www.example.com"}}, "another site"},
				{"another Origin", form(who.c.csrf), http.Header{"Origin": {"http://evil.example"}}, "another site"},
				{"a null Origin", form(who.c.csrf), http.Header{"Origin": {"null"}}, "another site"},
			} {
				r := who.c.postRaw(path, tc.form, tc.header)
				if r.status != http.StatusForbidden || !strings.Contains(r.body, tc.says) {
					t.Errorf("%s %s (%s, %s): status %d, %q; want 403 saying it %s", method, path, who.name, tc.name, r.status, pageError(r.body), tc.says)
				}
			}
		}
	}
	if n < 75 {
		t.Errorf("walked %d POST routes, want at least 75", n)
	}
	if r := op.get("/settings/security"); r.status != http.StatusOK || r.url.Path != "/settings/security" {
		t.Errorf("the operator after the forged forms: at %s, status %d; want still signed in", r.url, r.status)
	}
	if _, err := ts.Store.AccountByUsername(t.Context(), "mallory"); err == nil {
		t.Error("a forged form made an account")
	}
	if a, err := ts.Store.AccountByUsername(t.Context(), "nina"); err != nil || a.Suspended {
		t.Errorf("nina after the forged forms: %+v, %v; want her account, not suspended", a, err)
	}
}
