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

			c := newClient(t, ts.URL())
			r := c.signIn("uma")
			if body := html.UnescapeString(r.body); r.url.Path != "/login/verify" || !strings.Contains(body, `id="unavailable-`+id+`"`) {
				t.Fatalf("sign-in at %s does not list the phone as unusable:\n%s", r.url, body)
			}
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {conf.RecoveryCodes[0]}}); r.url.Path != "/settings/security" {
				t.Fatalf("sign-in with a recovery code: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			r = c.get("/settings/security")
			if body := html.UnescapeString(r.body); r.status != 200 || !strings.Contains(body, phoneLabel) ||
				!strings.Contains(body, "factor-unavailable") || !strings.Contains(body, "damaged") {
				t.Errorf("the security page (%d) does not show the phone marked unusable:\n%s", r.status, body)
			}
			if r := c.get("/settings/security/events"); r.status != 200 {
				t.Errorf("the events page: got %d: %s", r.status, pageError(r.body))
			}
		})
	}
}
