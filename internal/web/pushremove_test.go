package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// TestPushRemovePage: the page that removes a push device speaks of the
// sign-in requests it stops getting, not of codes (a push device shows
// none), and says the account's app keeps working. On SQLite and
// PostgreSQL.
func TestPushRemovePage(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "pia", false, true)
			e, err := ts.Service.EnrolPush(ctx, sessionOf(t, ts, "pia", secret), "Laptop", ts.URL(), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := pushdevice.Enrol(ctx, http.DefaultClient, e.URI); err != nil {
				t.Fatal(err)
			}
			ts.Clock.Add(30 * time.Second) // the code that signed in above is spent
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "pia", secret)

			rm := c.get("/settings/security/factors/" + e.Factor.ID + "/remove")
			body := mainOf(rm.body)
			if rm.status != http.StatusOK || strings.Contains(body, "Codes from") || !strings.Contains(body, "sign-in requests") ||
				!strings.Contains(body, "other authenticators keep working") {
				t.Errorf("removing the push device: %d, the page says:\n%s", rm.status, body)
			}
		})
	}
}
