package web_test

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRenewalAnswerLost: a browser without JavaScript that sends a
// confirmation form twice quickly gets the answer to the second sending
// only: the first confirmed it's the holder and renewed the session's
// cookie, in an answer the browser dropped, and the second comes with the
// cookie from before. That cookie is never taken back (a copy of it must
// not keep the session), but rather than a bare sign-in page, the answer is
// a page saying what happened and that for safety the session is signed
// out; the session, whose new cookie nobody holds, is ended, with an audit
// event, and the cookie is cleared. A copy of the old cookie shown within
// core.LostRenewalWindow ends the session the same way; as a bearer token
// it is refused (401) and ends nothing; a second request with it, once
// the session is ended, only goes to sign in. On SQLite and PostgreSQL.
func TestRenewalAnswerLost(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			base := "http://" + ts.Addr()
			secret := account(t, ts, "alice", false, true)
			ctx := context.Background()

			// confirm signs c in, lets the elevation lapse, confirms on
			// the two-factor page, and returns the form it sent and the
			// session cookie before and after.
			confirm := func(c *client) (form url.Values, stale, fresh string) {
				t.Helper()
				ts.Clock.Add(30 * time.Second) // a code of its own, never one used before
				c.signInWithCode(ts, "alice", secret)
				ts.Clock.Add(11 * time.Minute)
				stale = jarCookie(t, c, "twofold_session")
				form = url.Values{"required": {"false"}, "elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "csrf": {c.csrf}}
				r := c.post("/settings/security/two-factor", form)
				fresh = jarCookie(t, c, "twofold_session")
				if r.url.RawQuery != "m=required_off" || fresh == "" || fresh == stale {
					t.Fatalf("confirming it's her did not renew the cookie: at %s: %s", r.url, pageError(r.body))
				}
				if _, err := ts.Service.SetTwoFactorRequired(ctx, mustAuth(t, ts, fresh), true, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				return form, stale, fresh
			}
			// send sends a request as the browser with session as its
			// cookie, and returns the answer without following a redirect.
			send := func(c *client, method, path string, form url.Values, session string) (*http.Response, string) {
				t.Helper()
				var body *strings.Reader
				if form != nil {
					body = strings.NewReader(form.Encode())
				} else {
					body = strings.NewReader("")
				}
				req, err := http.NewRequest(method, base+path, body)
				if err != nil {
					t.Fatal(err)
				}
				if form != nil {
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				req.AddCookie(&http.Cookie{Name: "twofold_csrf", Value: jarCookie(t, c, "twofold_csrf")})
				req.AddCookie(&http.Cookie{Name: "twofold_session", Value: session})
				hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
				res, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				b, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				return res, string(b)
			}
			clears := func(res *http.Response) bool {
				for _, k := range res.Cookies() {
					if k.Name == "twofold_session" && (k.MaxAge < 0 || k.Value == "") {
						return true
					}
				}
				return false
			}
			lostEvents := func() int {
				t.Helper()
				a, err := ts.Store.AccountByUsername(ctx, "alice")
				if err != nil {
					t.Fatal(err)
				}
				evs, err := ts.Store.Events(ctx, a.ID, 0, 200)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range evs {
					if e.Type == "session.ended_renewal_lost" {
						n++
					}
				}
				return n
			}
			wantLostPage := func(what string, res *http.Response, body string) {
				t.Helper()
				if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Location") != "" || !clears(res) ||
					!strings.Contains(body, "Sign in again") || !strings.Contains(body, "You confirmed it&#39;s you a moment ago") {
					t.Errorf("%s: %d to %q, cookie cleared %v: %s; want 401, the page saying why, the cookie cleared",
						what, res.StatusCode, res.Header.Get("Location"), clears(res), pageError(body))
				}
			}

			// The same form sent again with the cookie from before.
			c := newClient(t, base)
			form, stale, fresh := confirm(c)
			req, err := http.NewRequest("GET", base+"/v1/me", nil)
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+stale)
			if r := newClient(t, base).do(req); r.status != http.StatusUnauthorized {
				t.Errorf("the old token as a bearer token: status %d, want 401", r.status)
			}
			if _, err := ts.Service.Authenticate(ctx, fresh); err != nil {
				t.Fatalf("the old token as a bearer token ended the session: %v", err)
			}
			res, body := send(c, "POST", "/settings/security/two-factor", form, stale)
			wantLostPage("the form sent again", res, body)
			if _, err := ts.Service.Authenticate(ctx, fresh); err == nil {
				t.Error("the session whose answer was lost still works with the new cookie")
			}
			if n := lostEvents(); n != 1 {
				t.Errorf("session.ended_renewal_lost events: %d, want 1", n)
			}
			res, body = send(c, "POST", "/settings/security/two-factor", form, stale)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") {
				t.Errorf("the form a third time: %d to %q, want 303 to sign in: %s", res.StatusCode, res.Header.Get("Location"), pageError(body))
			}

			// A copy of the old cookie, within the window, on a page.
			c = newClient(t, base)
			_, stale, fresh = confirm(c)
			ts.Clock.Add(core.LostRenewalWindow - time.Second)
			res, body = send(newClient(t, base), "GET", "/settings/security", nil, stale)
			wantLostPage("a copy of the old cookie", res, body)
			if _, err := ts.Service.Authenticate(ctx, fresh); err == nil {
				t.Error("the session still works after a copy of its old cookie came back")
			}
			if n := lostEvents(); n != 2 {
				t.Errorf("session.ended_renewal_lost events: %d, want 2", n)
			}

			// Later, the old cookie only goes to sign in, ending nothing.
			c = newClient(t, base)
			form, stale, fresh = confirm(c)
			ts.Clock.Add(core.LostRenewalWindow)
			res, body = send(c, "POST", "/settings/security/two-factor", form, stale)
			if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/login") || clears(res) {
				t.Errorf("the old cookie after the window: %d to %q, cleared %v; want 303 to sign in, not cleared: %s",
					res.StatusCode, res.Header.Get("Location"), clears(res), pageError(body))
			}
			if _, err := ts.Service.Authenticate(ctx, fresh); err != nil {
				t.Errorf("the old cookie after the window ended the session: %v", err)
			}
			if n := lostEvents(); n != 2 {
				t.Errorf("session.ended_renewal_lost events: %d, want 2", n)
			}
		})
	}
}

// sessionOf signs username in and returns the session: with the password
// alone when secret is empty, else with the password and a code of the
// authenticator app whose secret it is.
func sessionOf(t *testing.T, ts *testenv.Server, username, secret string) core.Auth {
	t.Helper()
	ctx := context.Background()
	res, err := ts.Service.Login(ctx, username, testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	token := res.Token
	if secret != "" {
		v, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodTOTP, Code: testenv.TOTP(t, secret, ts.Clock.Now())}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		token = v.Token
	}
	return mustAuth(t, ts, token)
}

// confirmPhone enrols the phone e164, texted through g, as a confirmed
// factor of a's account labelled phoneLabel, and returns the confirmation:
// the factor, and the recovery codes when it is the account's first.
func confirmPhone(t *testing.T, ts *testenv.Server, g *testenv.SMSGateway, a core.Auth, e164 string) core.Confirmation {
	t.Helper()
	ctx := context.Background()
	e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorSMS, Phone: e164, Label: phoneLabel}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	conf, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, g.LastCode(t, e164), core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return conf
}

// phoneLabel is the label of the phones confirmPhone adds.
const phoneLabel = "work mobile"

// mustAuth returns the caller behind a session token.
func mustAuth(t *testing.T, ts *testenv.Server, token string) core.Auth {
	t.Helper()
	a, err := ts.Service.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
