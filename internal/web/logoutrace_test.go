package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestLogoutWithRenewedCookie: a sign-out sent with the cookie a browser
// had before another of its requests renewed it (confirming it's the
// holder gives the session a new cookie token) still ends the session,
// whichever the server saw first, and clears the cookie: the browser is
// not left signed in with the session it asked to end. A sign-out with a
// cookie that ends no session (not the session's token, nor the one
// before it) clears no cookie: the browser may hold a newer one of a
// session still signed in, which clearing would hide without ending it;
// nor does a page asked for with the cookie from before the renewal, once
// the renewal is core.LostRenewalWindow old. On SQLite and PostgreSQL.
func TestLogoutWithRenewedCookie(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			base := "http://" + ts.Addr()
			c := newClient(t, base)
			secret := account(t, ts, "alice", false, true)
			c.signInWithCode(ts, "alice", secret)
			ts.Clock.Add(11 * time.Minute)
			stale := jarCookie(t, c, "twofold_session")
			r := c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"totp"},
				"elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
			fresh := jarCookie(t, c, "twofold_session")
			if r.url.RawQuery != "m=required_off" || fresh == "" || fresh == stale {
				t.Fatalf("confirming it's her did not renew the cookie: at %s: %s", r.url, pageError(r.body))
			}
			browser := jarCookie(t, c, "twofold_csrf")

			// logout posts /logout as the browser's other tab would, with
			// session as its session cookie, and returns the answer
			// without following its redirect.
			logout := func(session string) *http.Response {
				t.Helper()
				req, err := http.NewRequest("POST", base+"/logout", strings.NewReader(url.Values{"csrf": {c.csrf}}.Encode()))
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.AddCookie(&http.Cookie{Name: "twofold_csrf", Value: browser})
				req.AddCookie(&http.Cookie{Name: "twofold_session", Value: session})
				hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				res, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				return res
			}
			clears := func(res *http.Response) bool {
				for _, k := range res.Cookies() {
					if k.Name == "twofold_session" && (k.MaxAge < 0 || k.Value == "") {
						return true
					}
				}
				return false
			}
			id, _, _ := strings.Cut(stale, ".")

			// A page asked for with the old cookie goes to sign in, as the
			// old token opens nothing, but leaves the renewed cookie be
			// (once the renewal is core.LostRenewalWindow old: before, the
			// browser most likely dropped its answer, TestRenewalAnswerLost).
			ts.Clock.Add(core.LostRenewalWindow)
			if r := withCookie(t, base, "/settings/security", "twofold_session", stale); r.status != http.StatusSeeOther ||
				!strings.HasPrefix(r.header.Get("Location"), "/login") || clears(&http.Response{Header: r.header}) {
				t.Errorf("a page with the cookie before the renewal: %d to %q, cookie cleared %v; want 303 to /login, not cleared",
					r.status, r.header.Get("Location"), clears(&http.Response{Header: r.header}))
			}

			// A cookie that is not the session's token ends nothing.
			res := logout(id + ".not-its-token")
			if clears(res) {
				t.Errorf("a sign-out that ended no session cleared the cookie (to %s)", res.Header.Get("Location"))
			}
			if _, err := ts.Service.Authenticate(context.Background(), fresh); err != nil {
				t.Fatalf("a sign-out with a cookie of no session ended the session: %v", err)
			}

			// The cookie from before the renewal ends the session.
			res = logout(stale)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?m=logged_out" || !clears(res) {
				t.Errorf("a sign-out with the cookie before the renewal: %d to %q, cookie cleared %v; want 303 to /login?m=logged_out, cleared",
					res.StatusCode, res.Header.Get("Location"), clears(res))
			}
			if a, err := ts.Service.Authenticate(context.Background(), fresh); err == nil {
				t.Errorf("the session asked to end still works with its renewed cookie (session %s)", a.Session.ID)
			}
		})
	}
}
