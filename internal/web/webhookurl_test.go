package web_test

import (
	"bytes"
	"context"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestAdminWebhookURLUnavailable: a webhook whose stored URL no longer
// decrypts (bit rot, a bad restore, tampering) is listed on the operators'
// page as unavailable, saying why, beside the others, rather than failing
// the page; its confirmation pages name it by id, and it can be deleted.
func TestAdminWebhookURLUnavailable(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			_, op := signedIn(t, ts, "opal", true)
			ctx := context.Background()
			// The bad URL's query holds a value no page could hold by chance
			// ("b4d" alone turned up in random ids and tokens).
			const secret = "b4d~query~value"
			for _, u := range []string{"https://panel.example.com/bad?token=" + secret, "https://panel.example.com/good"} {
				if r := op.post("/admin/webhooks", url.Values{"url": {u}}); r.status != 200 {
					t.Fatalf("add %s: status %d: %s", u, r.status, pageError(r.body))
				}
			}
			ws, err := ts.Store.Webhooks(ctx)
			if err != nil || len(ws) != 2 {
				t.Fatalf("stored: %d, %v", len(ws), err)
			}
			bad := ws[0].ID
			values, err := ts.Store.SealedValues(ctx)
			if err != nil {
				t.Fatal(err)
			}
			flipped := false
			for _, v := range values {
				if v.Table == "webhooks" && v.Column == "url" {
					u, err := ts.Keys.Open(ctx, v.KeyID, v.Ciphertext, v.AAD())
					if err != nil || !strings.Contains(string(u), "/bad") {
						continue
					}
					bad = v.Row
					changed := bytes.Clone(v.Ciphertext)
					changed[len(changed)-1] ^= 1
					if ok, err := ts.Store.Reseal(ctx, v, v.KeyID, changed); !ok || err != nil {
						t.Fatalf("changing the ciphertext: %v, %v", ok, err)
					}
					flipped = true
				}
			}
			if !flipped {
				t.Fatal("no sealed URL of the webhook to change")
			}

			r := op.get("/admin/webhooks")
			switch {
			case r.status != 200:
				t.Fatalf("the page with a URL that does not decrypt: status %d: %s", r.status, pageError(r.body))
			case !strings.Contains(r.body, `id="url-unavailable-`+bad+`"`) || !strings.Contains(r.body, "https://panel.example.com/good"):
				t.Fatalf("the page does not list the webhook as unavailable beside the other:\n%s", r.body)
			case strings.Contains(r.body, secret):
				t.Fatalf("the page shows the URL that does not decrypt:\n%s", r.body)
			}
			if r := op.get("/admin/webhooks/" + bad + "/delete"); r.status != 200 || !strings.Contains(r.body, "the webhook "+bad) {
				t.Errorf("its delete confirmation: status %d: %s", r.status, pageError(r.body))
			}
			if r := op.post("/admin/webhooks/"+bad+"/delete", url.Values{}); r.status != 200 && r.status != 303 {
				t.Errorf("delete it: status %d: %s", r.status, pageError(r.body))
			}
			if ws, err := ts.Store.Webhooks(ctx); err != nil || len(ws) != 1 || ws[0].ID == bad {
				t.Errorf("after deleting it: %d webhooks, %v; want the other alone", len(ws), err)
			}
		})
	}
}
