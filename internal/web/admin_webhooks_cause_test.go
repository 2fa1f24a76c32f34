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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Read(make([]byte, 1))
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	return ln.Addr().String()
}

// TestAdminWebhookDisabledKeepsCause: a webhook whose receiver resets the
// connection fails with class reset; once it is disabled because its
// operator is no operator any more, the API shows the reason beside
// last_error reset, kept; the webhook.disabled event names both, and the
// operators' page says both in words. On SQLite and PostgreSQL.
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
			// Its own webhook.created is waiting: the first round tries it
			// (on PostgreSQL once the transactions before it have ended).
			deadline := time.Now().Add(time.Minute)
			for {
				if err := ts.Service.DeliverWebhooks(ctx, webhook.NewSender(true), "test"); err != nil {
					t.Fatal(err)
				}
				w, err := ts.Store.Webhook(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if w.Status.LastError != "" {
					if w.Status.LastError != "reset" {
						t.Fatalf("last error %q, want reset", w.Status.LastError)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no delivery was tried")
				}
				time.Sleep(5 * time.Millisecond) // a pause between rounds, not a time step
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
			} {
				if !strings.Contains(page.body, want) {
					t.Errorf("the page does not say %s", want)
				}
			}
		})
	}
}
