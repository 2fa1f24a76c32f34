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
	res, err := ts.Service.Login(ctx, username, testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.Service.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
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
				u, err := url.Parse(base + "/login")
				if err != nil {
					t.Fatal(err)
				}
				var loginID string
				for _, k := range c.http.Jar.Cookies(u) {
					if k.Name == "twofold_login" {
						loginID = k.Value
					}
				}
				if loginID == "" {
					t.Fatal("no login cookie after the password")
				}
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
