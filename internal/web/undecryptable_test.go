package web_test

import (
	"html"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestSecurityPageUndecryptablePhone: a phone whose stored number no longer
// decrypts (bit rot, a bad restore, tampering) does not fail the pages that
// list the account's factors: the security page shows it by its name,
// marked unusable with the reason, and the events page opens; the second
// step lists it as unusable, and a recovery code signs in. On SQLite and
// PostgreSQL.
func TestSecurityPageUndecryptablePhone(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			account(t, ts, "uma", false, false)
			conf := confirmPhone(t, ts, g, sessionOf(t, ts, "uma", ""), "+447400123456")
			id := conf.Factor.ID
			ts.MakeUndecryptable(t, id)

			c := signInPastUnusable(t, ts, "uma", "the phone", id, conf.RecoveryCodes[0])
			wantMarkedUnusable(t, c, "the phone", phoneLabel, "damaged")
			if r := c.get("/settings/security/events"); r.status != 200 {
				t.Errorf("the events page: got %d: %s", r.status, pageError(r.body))
			}
		})
	}
}

// signInPastUnusable signs username in on a new client, whose second step
// must list the factor id (what names it) as unusable, with the recovery
// code, and returns the client, signed in.
func signInPastUnusable(t *testing.T, ts *testenv.Server, username, what, id, recovery string) *client {
	t.Helper()
	c := newClient(t, ts.URL())
	r := c.signIn(username)
	if body := html.UnescapeString(r.body); r.url.Path != "/login/verify" || !strings.Contains(body, `id="unavailable-`+id+`"`) {
		t.Fatalf("sign-in at %s does not list %s as unusable:\n%s", r.url, what, body)
	}
	if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {recovery}}); r.url.Path != "/settings/security" {
		t.Fatalf("sign-in with a recovery code: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	return c
}

// wantMarkedUnusable fails unless the security page c gets shows the
// factor labelled label (what names it) marked unusable, saying reason.
func wantMarkedUnusable(t *testing.T, c *client, what, label, reason string) {
	t.Helper()
	r := c.get("/settings/security")
	if body := html.UnescapeString(r.body); r.status != 200 || !strings.Contains(body, label) ||
		!strings.Contains(body, "factor-unavailable") || !strings.Contains(body, reason) {
		t.Errorf("the security page (%d) does not show %s marked unusable:\n%s", r.status, what, body)
	}
}
