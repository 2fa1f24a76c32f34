package web_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// resettingReceiver listens on loopback and resets every connection (a
// close with SO_LINGER 0, a TCP RST) once it has read a little of the
// request; it returns the listener's address.
func resettingReceiver(t *testing.T) string {
	t.Helper()
	return testenv.Receiver(t, func(c *net.TCPConn) {
		c.Read(make([]byte, 1))
		c.SetLinger(0)
		c.Close()
	})
}

// deliverUntil runs rounds of webhook deliveries until webhook id is as
// cond wants, and returns it; it fails the test after a minute.
func deliverUntil(t *testing.T, ts *testenv.Server, what string, cond func(twofold.Webhook) bool, id string) twofold.Webhook {
	t.Helper()
	ctx := context.Background()
	deadline := time.Now().Add(time.Minute)
	for {
		if err := ts.Service.DeliverWebhooks(ctx, webhook.NewSender(true), "test"); err != nil {
			t.Fatal(err)
		}
		w, err := ts.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(w) {
			return w
		}
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %s did not happen", what)
		}
		time.Sleep(5 * time.Millisecond) // a pause between rounds, not a time step
	}
}

// TestAdminWebhookDisabledKeepsCause: a webhook whose receiver resets the
// connection fails with class reset; once it is disabled because its
// operator is no operator any more, the API shows the reason beside
// last_error reset, kept; so does one disabled for failing too long. The
// webhook.disabled events name both, and the operators' page says both in
// words. On SQLite and PostgreSQL.
func TestAdminWebhookDisabledKeepsCause(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t), func(c *config.Config) { c.WebhookAllowHTTP, c.WebhookAllowPrivate = true, true })
			ctx := context.Background()
			oliviaSecret := account(t, ts, "olivia", true, true)
			oscarSecret := account(t, ts, "oscar", true, true)
			r := apiSession(t, ts, "olivia", oliviaSecret).Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "http://" + resettingReceiver(t) + "/hook"})
			if r.Status != 201 {
				t.Fatalf("add webhook: %d %s", r.Status, r.Body)
			}
			id := r.JSON["webhook"].(map[string]any)["id"].(string)
			// Its own webhook.created is waiting: a round tries it (on
			// PostgreSQL once the transactions before it have ended).
			w := deliverUntil(t, ts, "a failure", func(w twofold.Webhook) bool { return w.Status.LastError != "" }, id)
			if w.Status.LastError != "reset" {
				t.Fatalf("last error %q, want reset", w.Status.LastError)
			}
			if _, err := ts.Service.SetOperatorByName(ctx, "olivia", false, core.Meta{}); err != nil {
				t.Fatal(err)
			}

			oscar := apiSession(t, ts, "oscar", oscarSecret)
			wh := oscar.Do(t, "GET", "/v1/admin/webhooks/"+id, nil).JSON["webhook"].(map[string]any)
			if st := wh["status"].(map[string]any); wh["enabled"] != false || wh["disabled_reason"] != twofold.WebhookDisabledNotOperator || st["last_error"] != "reset" {
				t.Errorf("the disabled webhook: enabled %v, disabled_reason %v, last_error %v; want false, owner-not-operator, reset", wh["enabled"], wh["disabled_reason"], st["last_error"])
			}
			olivia, err := ts.Store.AccountByUsername(ctx, "olivia")
			if err != nil {
				t.Fatal(err)
			}
			evs, err := ts.Store.Events(ctx, olivia.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var detail string
			for _, e := range evs {
				if e.Type == "webhook.disabled" {
					detail = e.Detail
				}
			}
			if !strings.Contains(detail, twofold.WebhookDisabledNotOperator) || !strings.Contains(detail, "last error reset") {
				t.Errorf("webhook.disabled detail %q: want the reason and the last error, reset", detail)
			}

			// Oscar's webhook to the same receiver fails, then fails on
			// for three days: disabled as failing, its last error kept.
			r = oscar.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "http://" + resettingReceiver(t) + "/oscar"})
			if r.Status != 201 {
				t.Fatalf("add oscar's webhook: %d %s", r.Status, r.Body)
			}
			id2 := r.JSON["webhook"].(map[string]any)["id"].(string)
			deliverUntil(t, ts, "a failure of oscar's webhook", func(w twofold.Webhook) bool { return w.Status.LastError != "" }, id2)
			ts.Clock.Add(core.DefaultWebhookDisableAfter + time.Minute)
			deliverUntil(t, ts, "oscar's webhook disabled", func(w twofold.Webhook) bool { return !w.DisabledAt.IsZero() }, id2)
			oscar = apiSession(t, ts, "oscar", oscarSecret) // a session three days younger
			wh = oscar.Do(t, "GET", "/v1/admin/webhooks/"+id2, nil).JSON["webhook"].(map[string]any)
			if st := wh["status"].(map[string]any); wh["disabled_reason"] != twofold.WebhookDisabledFailing || st["last_error"] != "reset" || st["failures"] != float64(2) {
				t.Errorf("oscar's webhook disabled after failing: disabled_reason %v, last_error %v, failures %v; want failing, reset, 2", wh["disabled_reason"], st["last_error"], st["failures"])
			}
			oscarAccount, err := ts.Store.AccountByUsername(ctx, "oscar")
			if err != nil {
				t.Fatal(err)
			}
			if evs, err = ts.Store.Events(ctx, oscarAccount.ID, 0, 100); err != nil {
				t.Fatal(err)
			}
			detail = ""
			for _, e := range evs {
				if e.Type == "webhook.disabled" {
					detail = e.Detail
				}
			}
			if !strings.Contains(detail, twofold.WebhookDisabledFailing) || !strings.Contains(detail, "last error reset") {
				t.Errorf("oscar's webhook.disabled detail %q: want failing and the last error, reset", detail)
			}

			ts.Clock.Add(time.Minute) // a code of another step than the API session's
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "oscar", oscarSecret)
			page := c.get("/admin/webhooks")
			if page.status != 200 {
				t.Fatalf("/admin/webhooks: %d", page.status)
			}
			for _, want := range []string{
				`id="disabled-reason-` + id + `">the operator who answers for it is no operator any more</span>`,
				`<code id="last-error-` + id + `">reset</code>, the receiver reset the connection`,
				`id="disabled-reason-` + id2 + `">its deliveries failed for too long</span>`,
				`<code id="last-error-` + id2 + `">reset</code>, the receiver reset the connection`,
			} {
				if !strings.Contains(page.body, want) {
					t.Errorf("the page does not say %s", want)
				}
			}
		})
	}
}
