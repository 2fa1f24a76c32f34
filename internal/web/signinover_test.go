package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestSignInOverAnotherSession: signing in on a browser already signed in
// ends the session its cookie named, whichever way the new sign-in
// succeeds (a password alone, the second step, a passkey), as
// another account or the same: the old cookie
// then opens nothing, instead of staying valid for hours, gone from the
// browser and out of reach of "Sign out". A sign-in that fails, or waits
// for its second step, leaves the browser's session alone. On SQLite and
// PostgreSQL.
func TestSignInOverAnotherSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			base := "http://" + ts.Addr()
			account(t, ts, "alice", false, false)
			account(t, ts, "bob", false, false)
			carolSecret := account(t, ts, "carol", false, true)
			account(t, ts, "kim", false, false)
			key, _ := enrolPasskey(t, ts, "kim")

			// signedIn fails unless the session token opens the pages.
			signedIn := func(who, token string) bool {
				t.Helper()
				r := withCookie(t, base, "/settings/security", "twofold_session", token)
				switch {
				case r.status == http.StatusOK:
					return true
				case r.status == http.StatusSeeOther && strings.HasPrefix(r.header.Get("Location"), "/login"):
					return false
				}
				t.Fatalf("%s's cookie: status %d to %q", who, r.status, r.header.Get("Location"))
				return false
			}
			c := newClient(t, base)
			c.signIn("alice")
			alice := jarCookie(t, c, "twofold_session")
			if alice == "" || !signedIn("alice", alice) {
				t.Fatal("alice is not signed in")
			}

			// A wrong password, and a sign-in waiting for its second step,
			// leave alice's session be.
			if r := c.post("/login", url.Values{"username": {"bob"}, "password": {"not bob's"}}); r.status != http.StatusUnauthorized {
				t.Fatalf("wrong password: status %d", r.status)
			}
			if r := c.signIn("carol"); r.url.Path != "/login/verify" {
				t.Fatalf("carol's password: at %s: %s", r.url, pageError(r.body))
			}
			if jarCookie(t, c, "twofold_session") != alice || !signedIn("alice", alice) {
				t.Fatal("a sign-in that did not succeed ended alice's session")
			}

			steps := []struct {
				who    string
				signIn func()
			}{
				{"carol, with the second step", func() {
					if r := c.totp(ts, carolSecret); r.url.Path != "/settings/security" {
						t.Fatalf("carol's second step: at %s: %s", r.url, pageError(r.body))
					}
				}},
				{"bob, with a password", func() {
					if r := c.signIn("bob"); r.url.Path != "/settings/security" {
						t.Fatalf("bob's sign-in: at %s: %s", r.url, pageError(r.body))
					}
				}},
				{"kim, with a passkey", func() {
					o := c.post("/login/passkey/options", url.Values{})
					if o.status != http.StatusOK {
						t.Fatalf("passkey options: %d %s", o.status, o.body)
					}
					if r := c.post("/login/passkey", url.Values{"credential": {string(key.Get(t, []byte(o.body)))}}); r.url.Path != "/settings/security" {
						t.Fatalf("kim's passkey: at %s: %s", r.url, pageError(r.body))
					}
				}},
				{"alice again, with a password", func() {
					if r := c.signIn("alice"); r.url.Path != "/settings/security" {
						t.Fatalf("alice's sign-in: at %s: %s", r.url, pageError(r.body))
					}
				}},
				{"alice over her own session", func() {
					if r := c.signIn("alice"); r.url.Path != "/settings/security" {
						t.Fatalf("alice's sign-in: at %s: %s", r.url, pageError(r.body))
					}
				}},
			}
			old := alice
			for _, st := range steps {
				st.signIn()
				now := jarCookie(t, c, "twofold_session")
				if now == "" || now == old || !signedIn(st.who, now) {
					t.Fatalf("%s: not signed in with a new cookie", st.who)
				}
				if signedIn("the one before "+st.who, old) {
					t.Errorf("signing in %s left the session before it alive", st.who)
				}
				old = now
			}
		})
	}
}
