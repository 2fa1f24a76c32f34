package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserAdminWebhooks adds, lists, re-keys and deletes a webhook on
// the operators' page in a browser: the secret is shown once, a refused
// URL says why and keeps the form, and a user who is not an operator is
// refused.
func TestBrowserAdminWebhooks(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t), func(c *config.Config) { c.WebhookAllowHTTP = false })
			opSecret := account(t, ts, "olivia", true, true)
			account(t, ts, "pete", false, false)

			p := newPage(t, ts.URL())
			if name == "sqlite" {
				p.shots = artifactsDir(t)
			}
			p.signIn("olivia", testPassword)
			p.fillAndSubmit("#code", testenv.TOTP(t, opSecret, ts.Clock.Now()), "button[type=submit]")
			p.wantPath("/settings/security")
			p.click(`nav a[href="/admin/webhooks"]`)
			p.wantPath("/admin/webhooks")
			if got := p.attr(`nav a[href="/admin/webhooks"]`, "aria-current"); got != "page" {
				t.Errorf("menu entry of the page: aria-current %q", got)
			}

			// http is refused; the form comes back filled in.
			p.fill("#url", "http://panel.example.com/hook")
			p.fill("#events", "login.*, account.suspended")
			if st := p.click("#add-webhook"); st != http.StatusBadRequest {
				t.Errorf("an http URL: status %d, want 400", st)
			}
			if got := p.attr("#events", "value"); got != "login.*, account.suspended" {
				t.Errorf("events kept: %q", got)
			}
			p.fill("#url", "https://panel.example.com/hook")
			p.fill("#description", "the panel")
			p.click("#add-webhook")
			secret := p.text("#webhook-secret")
			if !strings.HasPrefix(secret, "whsec_") {
				t.Fatalf("secret shown: %q", secret)
			}
			ws, err := ts.Store.Webhooks(context.Background())
			if err != nil || len(ws) != 1 || strings.Join(ws[0].Events, ",") != "login.*,account.suspended" || ws[0].Description != "the panel" {
				t.Fatalf("stored: %+v, %v", ws, err)
			}
			id := ws[0].ID
			if got := p.text("#webhook-" + id + " code"); got != "https://panel.example.com/hook" {
				t.Errorf("listed URL: %q", got)
			}
			p.screenshot("admin-webhooks")
			p.open("/admin/webhooks")
			if p.exists("#webhook-secret") || strings.Contains(p.text("main"), secret) {
				t.Error("the secret is shown again")
			}

			p.do(chromedp.Click(chromedp.CSS("#webhook-" + id + " summary"))) // opens the details: no page
			p.click("#rotate-" + id)
			if again := p.text("#webhook-secret"); !strings.HasPrefix(again, "whsec_") || again == secret {
				t.Errorf("new secret: %q", again)
			}
			p.do(chromedp.Click(chromedp.CSS("#webhook-" + id + " summary"))) // opens the details: no page
			p.click("#delete-" + id)
			p.wantPath("/admin/webhooks")
			if p.exists("#webhook-" + id) {
				t.Error("the deleted webhook is still listed")
			}
			if ws, _ := ts.Store.Webhooks(context.Background()); len(ws) != 0 {
				t.Errorf("after delete: %d webhooks stored", len(ws))
			}

			user := newClient(t, ts.URL())
			user.signIn("pete")
			if r := user.get("/admin/webhooks"); r.status != http.StatusForbidden {
				t.Errorf("a user who is not an operator: status %d", r.status)
			}
			if r := user.post("/admin/webhooks", url.Values{"url": {"https://evil.example/hook"}}); r.status != http.StatusForbidden {
				t.Errorf("a user who is not an operator adds: status %d", r.status)
			}
		})
	}
}
