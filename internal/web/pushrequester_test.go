package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// pushAccount makes an account whose one factor is a push device, and
// returns the device and the recovery codes its enrolment gave.
func pushAccount(t *testing.T, ts *testenv.Server, username string) (*pushdevice.Client, string, []string) {
	t.Helper()
	ctx := context.Background()
	account(t, ts, username, false, false)
	a := sessionOf(t, ts, username, "")
	e, err := ts.Service.EnrolPush(ctx, a, "Laptop", ts.URL(), core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	st, en, err := pushdevice.Enrol(ctx, http.DefaultClient, e.URI)
	if err != nil || len(en.RecoveryCodes) == 0 {
		t.Fatalf("device enrol: %+v %v", en, err)
	}
	return &pushdevice.Client{State: st, HTTP: http.DefaultClient, Now: ts.Clock.Now}, e.Factor.ID, en.RecoveryCodes
}

// approveOnly has the device approve its one waiting request with number.
func approveOnly(t *testing.T, d *pushdevice.Client, number string) {
	t.Helper()
	ctx := context.Background()
	cs, err := d.Challenges(ctx, time.Second)
	if err != nil || len(cs) != 1 {
		t.Fatalf("device sees %+v (%v)", cs, err)
	}
	if st, err := d.Approve(ctx, cs[0].ID, number); err != nil || st != "approved" {
		t.Fatalf("approve: %q, %v", st, err)
	}
}

// apiPost POSTs body to the JSON API at base, as a bearer of token when
// set, and returns the status.
func apiPost(t *testing.T, base, path, token, body string) int {
	t.Helper()
	req, err := http.NewRequest("POST", base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return newClient(t, base).do(req).status
}

var elevateNumber = regexp.MustCompile(`id="elevate-number">([0-9]{2})<`)

// TestPushApprovalBelongsToItsRequester: a push approval is used only by
// the browser that asked for the push. A copy of the session cookie
// (taken before confirming: the copy ElevateRenewing signs out) that asks
// POST /v1/me/elevate {"method":"push"} while the owner's push waits and
// once the owner approved it is refused as if no push had been sent, and
// is never elevated; the owner's "I approved it" then confirms. Likewise
// the login id of a sign-in (which the API carries in URLs) finishes no
// sign-in with the owner's approval; the browser that sent the push does.
// On SQLite and PostgreSQL.
func TestPushApprovalBelongsToItsRequester(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			base := "http://" + ts.Addr()
			ctx := context.Background()

			t.Run("elevation", func(t *testing.T) {
				d, factorID, codes := pushAccount(t, ts, "pam")
				c := newClient(t, base)
				c.signIn("pam")
				if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0]}}); r.url.Path != "/settings/security" {
					t.Fatalf("signing in with a recovery code: at %s: %s", r.url, pageError(r.body))
				}
				ts.Clock.Add(11 * time.Minute)
				copied := jarCookie(t, c, "twofold_session")

				r := c.post("/settings/security/elevate/push", url.Values{"elevate_method": {"push"}, "elevate_factor": {factorID},
					"return": {"/settings/security/two-factor?method=push"}})
				m := elevateNumber.FindStringSubmatch(r.body)
				if m == nil {
					t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
				}
				for _, body := range []string{`{"method":"push"}`, `{"method":"push","push_secret":"abcdefghijklmnopqrstuvwxyz234567"}`} {
					if st := apiPost(t, base, "/v1/me/elevate", copied, body); st != http.StatusUnauthorized {
						t.Errorf("the copy asking %s while the push waits: %d, want 401 (as if none was sent)", body, st)
					}
				}
				approveOnly(t, d, m[1])
				for _, body := range []string{`{"method":"push"}`, `{"method":"push","push_secret":""}`, `{"method":"push","push_secret":"abcdefghijklmnopqrstuvwxyz234567"}`} {
					if st := apiPost(t, base, "/v1/me/elevate", copied, body); st != http.StatusUnauthorized {
						t.Errorf("the copy asking %s once approved: %d, want 401", body, st)
					}
					if a, err := ts.Service.Authenticate(ctx, copied); err == nil && a.Elevated(ts.Clock.Now()) {
						t.Fatalf("the copy of the cookie was elevated by the owner's approval (%s)", body)
					}
				}
				r = c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"push"},
					"elevate_factor": {factorID}, "elevate_push": {"1"}})
				if r.url.Path != "/settings/security" || r.url.RawQuery != "m=required_off" {
					t.Fatalf("the owner's \"I approved it\": at %s: %s", r.url, pageError(r.body))
				}
				if _, err := ts.Service.Authenticate(ctx, copied); err == nil {
					t.Errorf("the copy still works after the owner confirmed")
				}
			})

			t.Run("login", func(t *testing.T) {
				d, factorID, _ := pushAccount(t, ts, "pat")
				c := newClient(t, base)
				c.signIn("pat")
				loginID := loginIDOf(t, c, base)
				r := c.post("/login/verify/push", url.Values{"factor_id": {factorID}})
				m := regexp.MustCompile(`id="push-number">([0-9]{2})<`).FindStringSubmatch(r.body)
				if m == nil {
					t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
				}
				approveOnly(t, d, m[1])
				for _, body := range []string{`{"method":"push"}`, `{"method":"push","push_secret":"abcdefghijklmnopqrstuvwxyz234567"}`} {
					if st := apiPost(t, base, "/v1/login/"+loginID+"/verify", "", body); st != http.StatusUnauthorized {
						t.Errorf("the login id alone, %s, once approved: %d, want 401", body, st)
					}
				}
				r = c.post("/login/verify", url.Values{"method": {"push"}, "number": {m[1]}, "label": {"Laptop"}})
				if r.url.Path != "/settings/security" {
					t.Fatalf("the owner's \"I approved it\": at %s: %s", r.url, pageError(r.body))
				}
				if jarCookie(t, c, "twofold_session") == "" {
					t.Fatal("signed in with no session cookie")
				}
			})
		})
	}
}

// loginIDOf returns the id of the sign-in waiting for its second step in
// c's browser, as the JSON API names it (without the cookie's MAC).
func loginIDOf(t *testing.T, c *client, base string) string {
	t.Helper()
	u, err := url.Parse(base + "/login")
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == "twofold_login" {
			return cookieLoginID(t, k.Value)
		}
	}
	t.Fatal("no login cookie after the password")
	return ""
}

// TestPushStaysWithTheBrowser: a push a browser sent for its sign-in, or to
// confirm it's the holder, is not replaced by one asked for with the login
// id alone or a copy of the session cookie (409): the device keeps showing
// the browser's request. The browser's own "Send a push" again replaces
// it. A push someone else sent first is refused to the browser with a
// page saying to deny it on the device, after which the browser's goes
// out. On SQLite and PostgreSQL.
func TestPushStaysWithTheBrowser(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			base := "http://" + ts.Addr()
			ctx := context.Background()
			loginNumber := regexp.MustCompile(`id="push-number">([0-9]{2})<`)
			d, factorID, _ := pushAccount(t, ts, "pia")
			waitingID := func() string {
				t.Helper()
				cs, err := d.Challenges(ctx, 0)
				if err != nil || len(cs) != 1 {
					t.Fatalf("device sees %+v (%v), want one request", cs, err)
				}
				return cs[0].ID
			}

			c := newClient(t, base)
			c.signIn("pia")
			loginID := loginIDOf(t, c, base)
			sendPush := func(c *client) (string, reply) {
				t.Helper()
				r := c.post("/login/verify/push", url.Values{"factor_id": {factorID}})
				if m := loginNumber.FindStringSubmatch(r.body); m != nil {
					return m[1], r
				}
				return "", r
			}
			if n, r := sendPush(c); n == "" {
				t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
			}
			first := waitingID()
			if st := apiPost(t, base, "/v1/login/"+loginID+"/challenge", "", `{"method":"push"}`); st != http.StatusConflict {
				t.Fatalf("a push asked for with the login id alone: %d, want 409", st)
			}
			if got := waitingID(); got != first {
				t.Fatalf("device shows %s, want the browser's %s", got, first)
			}
			n, r := sendPush(c) // the browser's own, again
			if n == "" {
				t.Fatalf("sending the push again: at %s, no number: %s", r.url, pageError(r.body))
			}
			if got := waitingID(); got == first {
				t.Fatal("the browser's push sent again did not replace its first")
			}
			approveOnly(t, d, n)
			if r := c.post("/login/verify", url.Values{"method": {"push"}, "number": {n}, "label": {"Laptop"}}); r.url.Path != "/settings/security" {
				t.Fatalf("\"I approved it\": at %s: %s", r.url, pageError(r.body))
			}

			// Someone else's push first: the page says what to do.
			c2 := newClient(t, base)
			c2.signIn("pia")
			if st := apiPost(t, base, "/v1/login/"+loginIDOf(t, c2, base)+"/challenge", "", `{"method":"push"}`); st != http.StatusAccepted {
				t.Fatalf("the stranger's push: %d, want 202", st)
			}
			stranger := waitingID()
			if n, r := sendPush(c2); n != "" || r.status != http.StatusConflict || !strings.Contains(pageError(r.body), "deny it there") {
				t.Fatalf("the browser's push while another waits: %d, number %q, page says %q", r.status, n, pageError(r.body))
			}
			if _, err := d.Deny(ctx, stranger); err != nil {
				t.Fatal(err)
			}
			// The denial ends push for that sign-in, for the stranger and
			// the browser alike: the page says to start a new one.
			if n, r := sendPush(c2); n != "" || r.status != http.StatusConflict || !strings.Contains(pageError(r.body), "Start a new sign-in") {
				t.Fatalf("the browser's push after the denial: %d, number %q, page says %q", r.status, n, pageError(r.body))
			}
			c2 = newClient(t, base)
			c2.signIn("pia")
			n, r = sendPush(c2)
			if n == "" {
				t.Fatalf("sending a push on a new sign-in after the denial: at %s: %s", r.url, pageError(r.body))
			}
			approveOnly(t, d, n)
			if r := c2.post("/login/verify", url.Values{"method": {"push"}, "number": {n}, "label": {"Laptop"}}); r.url.Path != "/settings/security" {
				t.Fatalf("\"I approved it\": at %s: %s", r.url, pageError(r.body))
			}

			// Confirming it's you: a copy of the cookie does not replace
			// the browser's push; the browser's own does.
			ts.Clock.Add(11 * time.Minute)
			copied := jarCookie(t, c, "twofold_session")
			elevate := func() string {
				t.Helper()
				r := c.post("/settings/security/elevate/push", url.Values{"elevate_method": {"push"}, "elevate_factor": {factorID},
					"return": {"/settings/security/two-factor?method=push"}})
				m := elevateNumber.FindStringSubmatch(r.body)
				if m == nil {
					t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
				}
				return m[1]
			}
			elevate()
			first = waitingID()
			if st := apiPost(t, base, "/v1/me/elevate/challenge", copied, `{"method":"push"}`); st != http.StatusConflict {
				t.Fatalf("a push asked for by the copy of the cookie: %d, want 409", st)
			}
			if got := waitingID(); got != first {
				t.Fatalf("device shows %s, want the browser's %s", got, first)
			}
			n = elevate()
			if got := waitingID(); got == first {
				t.Fatal("the browser's push sent again did not replace its first")
			}
			approveOnly(t, d, n)
			r = c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"push"},
				"elevate_factor": {factorID}, "elevate_push": {"1"}})
			if r.url.Path != "/settings/security" || r.url.RawQuery != "m=required_off" {
				t.Fatalf("the owner's \"I approved it\": at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}
