package web_test

import (
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/keyring"
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
			p.signInWithCode(ts, "olivia", opSecret)
			p.openFromMenu("/admin/webhooks")

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
			if !p.exists("#previous-secret-" + id) {
				t.Error("after a new secret, the page does not say until when the previous one signs")
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

			// Once the sign-in's elevation has lapsed, adding asks for a code,
			// and deleting goes through a confirmation page that does.
			ts.Clock.Add(11 * time.Minute)
			p.open("/admin/webhooks")
			p.fill("#url", "https://panel.example.com/later")
			p.fill("#elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()))
			p.click("#add-webhook")
			if got := p.text("#webhook-secret"); !strings.HasPrefix(got, "whsec_") {
				t.Fatalf("secret shown after confirming with a code: %q", got)
			}
			ws, err = ts.Store.Webhooks(context.Background())
			if err != nil || len(ws) != 1 {
				t.Fatalf("stored: %+v, %v", ws, err)
			}
			ts.Clock.Add(11 * time.Minute)
			p.open("/admin/webhooks")
			p.do(chromedp.Click(chromedp.CSS("#webhook-" + ws[0].ID + " summary")))
			p.click("#delete-" + ws[0].ID)
			p.wantPath("/admin/webhooks/" + ws[0].ID + "/delete")
			p.fill("#elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()))
			p.click("#confirm")
			p.wantPath("/admin/webhooks")
			if ws, _ := ts.Store.Webhooks(context.Background()); len(ws) != 0 {
				t.Errorf("after delete with a code: %d webhooks stored", len(ws))
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

// TestAdminWebhooksReconfirm: once the operator's sign-in elevation has
// lapsed, the webhooks page asks for a code: adding, a new secret,
// deleting and enabling without one are refused (403, the code field
// offered, nothing changed), and with a TOTP code they are made, a new
// secret shown once.
func TestAdminWebhooksReconfirm(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			opSecret, op := signedIn(t, ts, "opal", true)
			ctx := context.Background()
			stored := func() map[string]twofold.Webhook {
				t.Helper()
				ws, err := ts.Store.Webhooks(ctx)
				if err != nil {
					t.Fatal(err)
				}
				out := map[string]twofold.Webhook{}
				for _, w := range ws {
					// Stored sealed: opened as core opens it.
					u, err := ts.Keys.Open(ctx, w.URLKeyID, w.SealedURL, keyring.AAD("webhooks", "url", w.ID))
					if err != nil {
						t.Fatalf("open the URL of %s: %v", w.ID, err)
					}
					w.URL = string(u)
					out[w.URL] = w
				}
				return out
			}
			withCode := func(f url.Values) url.Values {
				f.Set("elevate_method", "totp")
				f.Set("elevate_code", testenv.TOTP(t, opSecret, ts.Clock.Now()))
				return f
			}
			const codeField = `name="elevate_code"`

			// Fresh from the sign-in: no code asked, the buttons act.
			if r := op.get("/admin/webhooks"); strings.Contains(r.body, codeField) {
				t.Error("the page asks for a code although the sign-in is fresh")
			}
			if r := op.post("/admin/webhooks", url.Values{"url": {"https://panel.example.com/a"}}); r.status != 200 || !strings.Contains(r.body, `id="webhook-secret"`) {
				t.Fatalf("add while elevated: status %d: %s", r.status, pageError(r.body))
			}
			a := stored()["https://panel.example.com/a"]

			// Lapsed: the page asks; adding without a code is refused, with one made.
			ts.Clock.Add(11 * time.Minute)
			r := op.get("/admin/webhooks")
			if !strings.Contains(r.body, codeField) {
				t.Error("the page asks for no code once the elevation lapsed")
			}
			if !strings.Contains(r.body, `href="/admin/webhooks/`+a.ID+`/rotate-secret"`) || strings.Contains(r.body, `action="/admin/webhooks/`+a.ID+`/rotate-secret"`) {
				t.Error("a new secret does not lead to a confirmation page")
			}
			add := url.Values{"url": {"https://panel.example.com/b"}, "events": {"login.*"}}
			r = op.post("/admin/webhooks", add)
			if r.status != http.StatusForbidden || !strings.Contains(r.body, codeField) || !strings.Contains(r.body, `value="login.*"`) {
				t.Errorf("add without a code: status %d, code field or form lost: %s", r.status, pageError(r.body))
			}
			if _, ok := stored()["https://panel.example.com/b"]; ok {
				t.Fatal("a webhook was added without a code")
			}
			r = op.post("/admin/webhooks", withCode(add))
			if r.status != 200 || !strings.Contains(r.body, `id="webhook-secret"`) || strings.Contains(r.body, codeField) {
				t.Fatalf("add with a code: status %d: %s", r.status, pageError(r.body))
			}
			if _, ok := stored()["https://panel.example.com/b"]; !ok {
				t.Fatal("the webhook added with a code is not stored")
			}

			// A new secret: on its confirmation page, with a code.
			ts.Clock.Add(11 * time.Minute)
			rotate := "/admin/webhooks/" + a.ID + "/rotate-secret"
			if r := op.get(rotate); r.status != 200 || !strings.Contains(r.body, `id="confirm"`) || !strings.Contains(r.body, codeField) {
				t.Errorf("the confirmation of a new secret: status %d: %s", r.status, pageError(r.body))
			}
			if r := op.post(rotate, url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, codeField) {
				t.Errorf("new secret without a code: status %d", r.status)
			}
			if got := stored()[a.URL]; !slices.Equal(got.SealedSecret, a.SealedSecret) {
				t.Fatal("the secret changed without a code")
			}
			r = op.post(rotate, withCode(url.Values{}))
			if r.status != 200 || !strings.Contains(r.body, `id="webhook-secret"`) {
				t.Fatalf("new secret with a code: status %d: %s", r.status, pageError(r.body))
			}
			if got := stored()[a.URL]; slices.Equal(got.SealedSecret, a.SealedSecret) {
				t.Error("the secret did not change")
			}

			// Enabling a disabled webhook, with a code.
			now := ts.Clock.Now()
			if ok, err := ts.Store.ClaimWebhook(ctx, a.ID, "test", now, now.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("claim: %v %v", ok, err)
			}
			if ok, err := ts.Store.FailWebhook(ctx, a.ID, "test", now, now.Add(time.Minute), "timeout", true); err != nil || !ok {
				t.Fatalf("disable: %v %v", ok, err)
			}
			ts.Clock.Add(11 * time.Minute)
			enable := "/admin/webhooks/" + a.ID + "/enable"
			if r := op.get("/admin/webhooks"); !strings.Contains(r.body, `href="`+enable+`"`) {
				t.Error("the disabled webhook offers no way to enable it")
			}
			if r := op.post(enable, url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, codeField) {
				t.Errorf("enable without a code: status %d", r.status)
			}
			if stored()[a.URL].DisabledAt.IsZero() {
				t.Fatal("enabled without a code")
			}
			if r := op.post(enable, withCode(url.Values{})); r.url.Query().Get("m") != "webhook_enabled" {
				t.Fatalf("enable with a code: at %s, status %d: %s", r.url, r.status, pageError(r.body))
			}
			if !stored()[a.URL].DisabledAt.IsZero() {
				t.Error("still disabled")
			}

			// Deleting, with a code; an unknown webhook is a 404.
			ts.Clock.Add(11 * time.Minute)
			del := "/admin/webhooks/" + a.ID + "/delete"
			if r := op.post(del, url.Values{}); r.status != http.StatusForbidden || !strings.Contains(r.body, codeField) {
				t.Errorf("delete without a code: status %d", r.status)
			}
			if _, ok := stored()[a.URL]; !ok {
				t.Fatal("deleted without a code")
			}
			if r := op.get("/admin/webhooks/nope/delete"); r.status != http.StatusNotFound {
				t.Errorf("the confirmation for no webhook: status %d, want 404", r.status)
			}
			if r := op.post(del, withCode(url.Values{})); r.url.Query().Get("m") != "webhook_deleted" {
				t.Fatalf("delete with a code: at %s, status %d: %s", r.url, r.status, pageError(r.body))
			}
			if _, ok := stored()[a.URL]; ok {
				t.Error("not deleted")
			}
			// Deleting it again (the form sent twice), or deleting no
			// webhook: the list says it is not there.
			for _, path := range []string{del, "/admin/webhooks/nope/delete"} {
				if r := op.post(path, withCode(url.Values{})); r.status != http.StatusOK || r.url.Query().Get("m") != "webhook_gone" {
					t.Errorf("%s once deleted: at %s (%d), want the list saying it is not there", path, r.url, r.status)
				}
			}
		})
	}
}

// TestAdminWebhookFormSentTwice: the form that adds a webhook sent twice
// with the same one-time token (a double click, or a reload of the page
// showing the secret) adds one endpoint, not a second one whose secret
// nobody saw. The second answer names the endpoint the first added, shows
// no secret, and leads to a new secret for it; a code given to confirm
// it's you is not checked again. Sent once more after the endpoint was
// deleted, the form comes back filled in. On SQLite and PostgreSQL.
func TestAdminWebhookFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			opSecret, op := signedIn(t, ts, "opal", true)
			const path = "/admin/webhooks"
			count := func() int {
				t.Helper()
				ws, err := ts.Store.Webhooks(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				return len(ws)
			}

			form := url.Values{"url": {"https://panel.example.com/hook"}, "events": {"login.*"}, "once": {onceOf(t, op.get(path).body, path)}}
			first := op.post(path, maps.Clone(form))
			if first.status != http.StatusOK || !strings.Contains(first.body, `id="webhook-secret"`) {
				t.Fatalf("first sending: %d, no secret shown: %s", first.status, pageError(first.body))
			}
			ws, err := ts.Store.Webhooks(context.Background())
			if err != nil || len(ws) != 1 {
				t.Fatalf("after the first sending: %d webhooks, %v", len(ws), err)
			}
			id := ws[0].ID
			again := op.post(path, maps.Clone(form))
			if again.status != http.StatusOK || strings.Contains(again.body, `id="webhook-secret"`) {
				t.Fatalf("second sending: %d, a secret shown: %s", again.status, pageError(again.body))
			}
			if !strings.Contains(again.body, `id="again-webhook-id">`+id+`<`) || !strings.Contains(again.body, `href="/admin/webhooks/`+id+`/rotate-secret"`) {
				t.Errorf("second sending: the page does not name the webhook the first added, nor lead to a new secret: %s", again.body)
			}
			if n := count(); n != 1 {
				t.Fatalf("webhooks after the form was sent twice: got %d, want 1", n)
			}

			// With a code to confirm it's you: the second sending checks
			// no code again, and adds nothing.
			ts.Clock.Add(11 * time.Minute)
			form = url.Values{"url": {"https://panel.example.com/other"}, "once": {onceOf(t, op.get(path).body, path)},
				"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}}
			if r := op.post(path, maps.Clone(form)); !strings.Contains(r.body, `id="webhook-secret"`) {
				t.Fatalf("first sending with a code: %d %s", r.status, pageError(r.body))
			}
			if r := op.post(path, maps.Clone(form)); r.status != http.StatusOK || !strings.Contains(r.body, `id="again-webhook-id">`) {
				t.Errorf("second sending with the same code: %d %s", r.status, pageError(r.body))
			}
			if n := count(); n != 2 {
				t.Fatalf("webhooks: got %d, want 2", n)
			}

			// Added, deleted since (the session is elevated by the code
			// above), then the form sent once more: it comes back filled in
			// as it was sent, and adds nothing.
			form = url.Values{"url": {"https://panel.example.com/gone"}, "description": {"gone soon"}, "once": {onceOf(t, op.get(path).body, path)}}
			if r := op.post(path, maps.Clone(form)); !strings.Contains(r.body, `id="webhook-secret"`) {
				t.Fatalf("adding the third: %d %s", r.status, pageError(r.body))
			}
			var gone string
			ws, _ = ts.Store.Webhooks(context.Background())
			for _, w := range ws {
				if w.Description == "gone soon" {
					gone = w.ID
				}
			}
			if r := op.post(path+"/"+gone+"/delete", url.Values{}); r.url.Query().Get("m") != "webhook_deleted" {
				t.Fatalf("delete: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			r := op.post(path, maps.Clone(form))
			if r.status != http.StatusOK || !strings.Contains(r.body, "deleted since") || !strings.Contains(r.body, `value="gone soon"`) || strings.Contains(r.body, `id="webhook-secret"`) {
				t.Errorf("the form sent again after its webhook was deleted: %d %s", r.status, pageError(r.body))
			}
			if n := count(); n != 2 {
				t.Errorf("webhooks at the end: got %d, want 2", n)
			}
		})
	}
}

// TestAdminWebhookSecretFormSentTwice: a "New secret" form sent twice with
// the same one-time token (a reload of the page showing the new secret, a
// double click) makes one secret. A second one would make the unseen first
// the previous secret and stop the receiver's own from signing at once,
// while the page says it signs on for 24 hours. The second answer says the
// secret was made and shows none; a new page's form makes another. The
// form of the list (elevated) and of the confirmation page alike. On
// SQLite and PostgreSQL.
func TestAdminWebhookSecretFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			_, op := signedIn(t, ts, "opal", true)
			const path = "/admin/webhooks"
			if r := op.post(path, url.Values{"url": {"https://panel.example.com/hook"}, "once": {onceOf(t, op.get(path).body, path)}}); !strings.Contains(r.body, `id="webhook-secret"`) {
				t.Fatalf("add: %d %s", r.status, pageError(r.body))
			}
			stored := func() twofold.Webhook {
				t.Helper()
				ws, err := ts.Store.Webhooks(context.Background())
				if err != nil || len(ws) != 1 {
					t.Fatalf("webhooks: %d, %v", len(ws), err)
				}
				return ws[0]
			}
			original := stored()
			rotate := path + "/" + original.ID + "/rotate-secret"

			for _, from := range []string{path, rotate} { // the list's form, the confirmation page's
				before := stored()
				form := url.Values{"once": {onceOf(t, op.get(from).body, rotate)}}
				first := op.post(rotate, maps.Clone(form))
				if first.status != http.StatusOK || !strings.Contains(first.body, `id="webhook-secret"`) {
					t.Fatalf("from %s, first sending: %d %s", from, first.status, pageError(first.body))
				}
				made := stored()
				again := op.post(rotate, maps.Clone(form))
				if again.status != http.StatusOK || strings.Contains(again.body, `id="webhook-secret"`) || !strings.Contains(again.body, `id="secret-again-id">`+original.ID+`<`) {
					t.Errorf("from %s, second sending: %d, a secret shown or the first not told of: %s", from, again.status, pageError(again.body))
				}
				after := stored()
				if slices.Equal(made.SealedSecret, before.SealedSecret) {
					t.Fatalf("from %s: the first sending made no new secret", from)
				}
				if !slices.Equal(after.SealedSecret, made.SealedSecret) || !slices.Equal(after.PreviousSealedSecret, made.PreviousSealedSecret) {
					t.Errorf("from %s: the second sending made another secret: the receiver's own no longer signs", from)
				}
			}
		})
	}
}

// TestWebhookRefusalSaysWhich: a refused webhook's URL or events are told
// on the page in a sentence that names what is wrong ("The URL must be
// https"), not as a field name put in upper case ("Url: must be https"),
// and nothing is added.
func TestWebhookRefusalSaysWhich(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), func(c *config.Config) { c.WebhookAllowHTTP = false })
	_, op := signedIn(t, ts, "opal", true)
	for _, c := range []struct{ url, events, want string }{
		{"http://panel.example.com/a", "", "The URL must be https (this server does not allow http webhooks)."},
		{"panel.example.com/a", "", "The URL must be absolute, such as https://panel.example.com/twofold-events."},
		{"https://panel.example.com:0/a", "", "The URL's port must be a number from 1 to 65535."},
		{"https://panel.example.com/a", "login.*, frob", `The event "frob" is no event type Twofold writes, nor a prefix of one (such as login.*); see the audit event types in the API description.`},
		{"https://panel.example.com/a", "login.", "Each of the events is an event type such as login.password_failed, or a prefix such as login.*."},
	} {
		r := op.post("/admin/webhooks", url.Values{"url": {c.url}, "events": {c.events}})
		if got := pageError(r.body); r.status != http.StatusBadRequest || got != c.want {
			t.Errorf("url %q, events %q: %d %q; want 400 %q", c.url, c.events, r.status, got, c.want)
		}
	}
	if ws, err := ts.Store.Webhooks(context.Background()); err != nil || len(ws) != 0 {
		t.Fatalf("refused webhooks stored: %v, %v", ws, err)
	}
}
