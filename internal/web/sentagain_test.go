package web_test

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// jarFor returns the cookies c would send to path now: what a browser
// holds before it sends a form, to send it again with after the first
// answer is dropped.
func jarFor(t *testing.T, c *client, path string) []*http.Cookie {
	t.Helper()
	u, err := url.Parse(c.base + path)
	if err != nil {
		t.Fatal(err)
	}
	return c.http.Jar.Cookies(u)
}

// resend posts form to path with cookies only (the jar from before the
// first sending, whose answer the browser dropped), without following a
// redirect, and returns the answer.
func resend(t *testing.T, c *client, path string, form url.Values, cookies []*http.Cookie) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("POST", c.base+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, k := range cookies {
		req.AddCookie(k)
	}
	hc := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
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

// TestFormSentTwiceRenewalLost: without JavaScript, a form that makes
// something sent twice from a session that is not elevated (its "confirm
// it's you" code renews the session's cookie) gets the answer to the
// second sending only, with the cookie from before. The session is ended
// as for any lost renewal, but the page also says what the first sending
// did, which was in the dropped answer: the API key it created (by name
// and id, to revoke and create again), the recovery codes it replaced, the
// authenticator whose setup it started, the authenticator it removed (the
// account's only one, where the page said no more than "sign in again").
// A copy of the old cookie without
// the form's one-time token learns nothing of it. On SQLite and
// PostgreSQL.
func TestFormSentTwiceRenewalLost(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)

			// signedIn returns a client signed in more than 10 minutes ago:
			// its session needs a code to confirm it's alice.
			signedIn := func() *client {
				t.Helper()
				ts.Clock.Add(30 * time.Second) // a code of its own
				c := newClient(t, ts.URL())
				c.signInWithCode(ts, "alice", secret)
				ts.Clock.Add(11 * time.Minute)
				return c
			}
			// twice sends form to path, then again with the cookies from
			// before, and checks the second answer is the lost-renewal
			// page saying what the first did (want), or nothing (want "").
			twice := func(c *client, path string, form url.Values, first func(reply), want ...string) string {
				t.Helper()
				form.Set("elevate_method", "totp")
				form.Set("elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()))
				form.Set("csrf", c.csrf)
				before := jarFor(t, c, path)
				first(c.post(path, maps.Clone(form)))
				res, body := resend(t, c, path, form, before)
				if res.StatusCode != http.StatusUnauthorized || !strings.Contains(body, "Sign in again") {
					t.Fatalf("%s sent again with the cookie from before: %d to %q, want 401: %s", path, res.StatusCode, res.Header.Get("Location"), pageError(body))
				}
				for _, w := range want {
					if !strings.Contains(body, `id="sent-before"`) || !strings.Contains(body, w) {
						t.Errorf("%s sent again: the page does not say %q: %s", path, w, body)
					}
				}
				if len(want) == 0 && strings.Contains(body, `id="sent-before"`) {
					t.Errorf("%s sent again: the page tells of a first sending it was not sent with: %s", path, body)
				}
				return body
			}

			// New recovery codes: the first answer held them.
			c := signedIn()
			const codes = "/settings/security/recovery-codes"
			twice(c, codes, url.Values{"once": {onceOf(t, c.get(codes).body, codes)}}, func(r reply) {
				if r.status != http.StatusOK || !strings.Contains(r.body, `id="recovery-codes"`) {
					t.Fatalf("new recovery codes: %d: %s", r.status, pageError(r.body))
				}
			}, "replaced your recovery codes", "generate new recovery codes")

			// An API key: the first answer held its secret.
			c = signedIn()
			const keys = "/settings/security/api-keys"
			var id string
			body := twice(c, keys, url.Values{"name": {"certbot"}, "permits": {"account * read"}, "expiry": {"30d"}, "once": {onceOf(t, c.get(keys).body, keys)}}, func(r reply) {
				m := keyIDShown.FindStringSubmatch(r.body)
				if r.status != http.StatusOK || m == nil {
					t.Fatalf("a new API key: %d: %s", r.status, pageError(r.body))
				}
				id = m[1]
			}, "created the API key “certbot”", "revoke the key")
			if !strings.Contains(body, "(id "+id+")") {
				t.Errorf("the API key form sent again: the page does not give the key's id %s: %s", id, body)
			}

			// Another authenticator: the first sending started its setup.
			c = signedIn()
			const add = "/settings/security/totp"
			twice(c, add, url.Values{"label": {"tablet"}, "type": {"totp"}, "once": {onceOf(t, c.get(add+"?label=tablet").body, add)}}, func(r reply) {
				if !strings.HasPrefix(r.url.Path, add+"/") {
					t.Fatalf("another authenticator: at %s: %s", r.url, pageError(r.body))
				}
			}, "setting up the authenticator “tablet”")

			// The same without the form's token (a copy of the cookie on
			// another page): the session ends, and nothing is told.
			c = signedIn()
			twice(c, codes, url.Values{}, func(r reply) {
				if r.status != http.StatusOK || !strings.Contains(r.body, `id="recovery-codes"`) {
					t.Fatalf("new recovery codes without a form token: %d: %s", r.status, pageError(r.body))
				}
			})

			// Removing the only authenticator (last: alice has none
			// after it): the page says it was removed, by name.
			c = signedIn()
			id = regexp.MustCompile(`/settings/security/factors/([a-z0-9]+)/remove`).FindStringSubmatch(c.get("/settings/security").body)[1]
			remove := "/settings/security/factors/" + id + "/remove"
			twice(c, remove, postForms(c.get(remove).body)[remove], func(r reply) {
				if r.url.RawQuery != "m=factor_removed" {
					t.Fatalf("removing the authenticator: at %s (%d): %s", r.url, r.status, pageError(r.body))
				}
			}, "removed the authenticator “Phone”", "no longer on your account", "two-factor is now off")
		})
	}
}

// TestVerifySentTwice: without JavaScript, the second step sent twice
// (a double click) with the cookies from before the first sending, whose
// answer, the session's cookie, the browser dropped, ends the session the
// first sending made, which no browser holds, and says the code went
// through and to sign in again, not that the sign-in expired; with a
// recovery code, that the code was used and how many are left. The same
// form sent later than core.LostRenewalWindow after the sign-in, or with
// a login that never succeeded, still says the sign-in expired, ending
// nothing. On SQLite and PostgreSQL.
func TestVerifySentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "alice")
			const verify = "/login/verify"

			// twice signs in with form at the second step, then sends
			// the form again with the cookies from before; it returns the
			// second answer and the session cookie the first one set.
			twice := func(form url.Values, wait time.Duration) (*http.Response, string, string) {
				t.Helper()
				c := newClient(t, ts.URL())
				c.signIn("alice")
				before := jarFor(t, c, verify)
				form.Set("csrf", c.csrf)
				if r := c.post(verify, maps.Clone(form)); r.url.Path != "/settings/security" {
					t.Fatalf("the second step: at %s: %s", r.url, pageError(r.body))
				}
				session := jarCookie(t, c, "twofold_session")
				ts.Clock.Add(wait)
				res, body := resend(t, c, verify, form, before)
				return res, body, session
			}

			res, body, session := twice(url.Values{"method": {"recovery_code"}, "code": {k.codes[0]}}, 0)
			if res.StatusCode != http.StatusOK || res.Header.Get("Location") != "" || !strings.Contains(body, "Your code went through") ||
				!strings.Contains(body, "That recovery code was used: 9 left.") {
				t.Errorf("a recovery code sent twice: %d to %q, want the sign-in page saying it went through and 9 codes left: %s",
					res.StatusCode, res.Header.Get("Location"), body)
			}
			if _, err := ts.Service.Authenticate(context.Background(), session); err == nil {
				t.Error("the session the first sending made, which no browser holds, still works")
			}

			ts.Clock.Add(30 * time.Second) // a code of its own
			res, body, session = twice(url.Values{"method": {"totp"}, "code": {testenv.TOTP(t, k.secret, ts.Clock.Now())}}, 0)
			if res.StatusCode != http.StatusOK || !strings.Contains(body, "Your code went through") || strings.Contains(body, "recovery code was used") {
				t.Errorf("a code sent twice: %d to %q: %s", res.StatusCode, res.Header.Get("Location"), pageError(body))
			}
			if _, err := ts.Service.Authenticate(context.Background(), session); err == nil {
				t.Error("the session the first sending made with a code still works")
			}

			// Later, the sign-in is over and nothing is ended.
			ts.Clock.Add(30 * time.Second)
			res, _, session = twice(url.Values{"method": {"totp"}, "code": {testenv.TOTP(t, k.secret, ts.Clock.Now())}}, core.LostRenewalWindow)
			if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/login?m=expired" {
				t.Errorf("a code sent again after the window: %d to %q, want 303 to /login?m=expired", res.StatusCode, res.Header.Get("Location"))
			}
			if _, err := ts.Service.Authenticate(context.Background(), session); err != nil {
				t.Errorf("a code sent again after the window ended the session: %v", err)
			}
		})
	}
}
