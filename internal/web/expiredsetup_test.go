package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestExpiredSetupShownExpired: a setup left unfinished for an hour no
// longer holds its name nor its place among the unfinished setups, so the
// security page no longer calls it "not finished" but expired, saying the
// next authenticator removes it, with Cancel; cancelling it works, and
// starting another setup removes it from the page. On SQLite and
// PostgreSQL.
func TestExpiredSetupShownExpired(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "bo", false, false)
			c := newClient(t, ts.URL())
			c.signIn("bo")
			start := func(label string) string {
				t.Helper()
				r := c.post("/settings/security/totp", url.Values{"label": {label}})
				if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") {
					t.Fatalf("setup of %s: at %s (%d): %s", label, r.url, r.status, pageError(r.body))
				}
				return strings.TrimPrefix(r.url.Path, "/settings/security/totp/")
			}
			first, second := start("Left behind"), start("Kept")
			remove := "/settings/security/factors/" + first + "/remove"

			r := c.get("/settings/security")
			if strings.Contains(r.body, `id="expired-`) || strings.Count(r.body, "is not finished") != 2 {
				t.Errorf("fresh setups: want both not finished, neither expired")
			}
			ts.Clock.Add(core.PendingSetupTTL - time.Second)
			if r := c.get("/settings/security"); strings.Contains(r.body, `id="expired-`) {
				t.Errorf("a second before the hour: a setup is shown expired")
			}
			ts.Clock.Add(time.Second)
			r = c.get("/settings/security")
			for _, id := range []string{first, second} {
				if !strings.Contains(r.body, `id="expired-`+id+`"`) || !strings.Contains(r.body, `href="/settings/security/factors/`+id+`/remove"`) {
					t.Errorf("an hour on: setup %s is not shown expired, with a cancel", id)
				}
			}
			if strings.Contains(r.body, "is not finished") {
				t.Errorf("an hour on: a stale setup is still shown as not finished")
			}
			if r := c.post(remove, url.Values{}); r.url.RawQuery != "m=setup_cancelled" || strings.Contains(outsideEvents(r.body), "Left behind") {
				t.Errorf("cancelling the expired setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			third := start("New phone")
			r = c.get("/settings/security")
			if strings.Contains(r.body, `id="pending-`+second+`"`) || strings.Contains(r.body, ">Kept<") {
				t.Errorf("the expired setup is still listed after another began")
			}
			if !strings.Contains(r.body, `id="pending-`+third+`"`) || strings.Contains(r.body, `id="expired-`+third+`"`) || strings.Count(r.body, "is not finished") != 1 {
				t.Errorf("the new setup is not listed as not finished")
			}
		})
	}
}
