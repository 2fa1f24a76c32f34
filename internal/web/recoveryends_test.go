package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestRecoverySignsOtherBrowsersOut: a second step passed on the sign-in
// page with a recovery code or the paper key (SPEC §1 story 4) signs every
// other browser of the account out at once: their next page goes to the
// sign-in page, while the browser that recovered stays signed in. A
// sign-in with the app's code signs no other browser out. On SQLite and
// PostgreSQL.
func TestRecoverySignsOtherBrowsersOut(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "rhea", false, false)
			k := enrolPhone(t, ts, "rhea")
			signedIn := func(what string, c *client) {
				t.Helper()
				if r := c.get("/settings/security"); r.status != 200 || r.url.Path != "/settings/security" {
					t.Fatalf("%s: at %s (%d), want the security settings", what, r.url, r.status)
				}
			}
			signedOut := func(what string, c *client) {
				t.Helper()
				if r := c.get("/settings/security"); r.url.Path != "/login" {
					t.Fatalf("%s: at %s (%d), want the sign-in page", what, r.url, r.status)
				}
			}
			recover := func(method, code string) *client {
				t.Helper()
				c := newClient(t, ts.URL())
				c.signIn("rhea")
				r := c.post("/login/verify", url.Values{"method": {method}, "code": {code}})
				if r.url.Path != "/settings/security" {
					t.Fatalf("sign-in with %s: at %s: %s", method, r.url, pageError(r.body))
				}
				if method == "recovery_code" && !strings.Contains(r.body, "Every other session of your account was signed out") {
					t.Errorf("sign-in with a recovery code: the page does not say the other sessions were signed out")
				}
				return c
			}

			laptop := newClient(t, ts.URL())
			laptop.signInWithCode(ts, "rhea", k.secret)
			ts.Clock.Add(30 * time.Second)
			phone := newClient(t, ts.URL())
			phone.signInWithCode(ts, "rhea", k.secret)
			signedIn("the first browser after a sign-in with the app's code", laptop)

			desk := recover("recovery_code", k.codes[0])
			signedOut("the first browser after a recovery code", laptop)
			signedOut("the second browser after a recovery code", phone)
			signedIn("the browser that used the recovery code", desk)

			ts.Clock.Add(30 * time.Second)
			tablet := newClient(t, ts.URL())
			tablet.signInWithCode(ts, "rhea", k.secret)
			signedIn("the recovering browser after a sign-in with the app's code", desk)

			home := recover("paper_key", k.paperKey)
			signedOut("the recovering browser after the paper key", desk)
			signedOut("the app's browser after the paper key", tablet)
			signedIn("the browser that used the paper key", home)
		})
	}
}
