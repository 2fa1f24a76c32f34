package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestWebhookStopsWithItsKey: a webhook made with an operator's API key
// answers to that key. Once the key, or the key it was made from, is
// revoked or expires (the answer to a leaked control-panel key), nothing
// more is delivered: the webhook is disabled, on the record, with the
// error class key-revoked or key-expired, also when another instance on
// the same database is the one delivering. The webhook shows the key that
// made it; an operator's elevated session turns it on again and answers
// for it from then on, nothing skipped.
func TestWebhookStopsWithItsKey(t *testing.T) {
	panel := []string{"admin webhooks read,write", "admin events read"}
	for _, tc := range []struct {
		name  string
		class string
		// maker returns the key that makes the webhook, as a client, and
		// its id; cut ends it (revokes it, or lets it expire).
		maker func(t *testing.T, f resetFixture) (*testenv.Client, string, func())
	}{
		{"revoked", "key-revoked", func(t *testing.T, f resetFixture) (*testenv.Client, string, func()) {
			k := makeKey(t, f.opc, "panel", nil, panel...)
			return keyClient(f.s, k.id, k.secret), k.id, func() {
				if r := f.opc.Do(t, "DELETE", "/v1/me/api-keys/"+k.id, nil); r.Status != 204 {
					t.Fatalf("revoke: got %d %s", r.Status, r.Body)
				}
			}
		}},
		{"maker revoked", "key-revoked", func(t *testing.T, f resetFixture) (*testenv.Client, string, func()) {
			root := makeKey(t, f.opc, "panel root", nil, append([]string{"keys * read,write"}, panel...)...)
			k := makeKey(t, keyClient(f.s, root.id, root.secret), "panel", nil, panel...)
			return keyClient(f.s, k.id, k.secret), k.id, func() {
				if r := f.opc.Do(t, "DELETE", "/v1/me/api-keys/"+root.id, nil); r.Status != 204 {
					t.Fatalf("revoke: got %d %s", r.Status, r.Body)
				}
			}
		}},
		{"expired", "key-expired", func(t *testing.T, f resetFixture) (*testenv.Client, string, func()) {
			expiry := f.s.Clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
			k := makeKey(t, f.opc, "panel", map[string]any{"expires_at": expiry}, panel...)
			return keyClient(f.s, k.id, k.secret), k.id, func() {}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDSN(t, func(t *testing.T, dsn string) {
				f := newResetFixture(t, dsn, allowLoopbackWebhooks)
				// A second instance on the same database delivers after
				// the key ends: what stops it is in the database.
				b := testenv.NewServer(t, dsn, allowLoopbackWebhooks, func(c *config.Config) { c.KeyFile = f.s.Config.KeyFile })
				kc, keyID, cut := tc.maker(t, f)
				rc := newReceiver(t)
				id := addWebhook(t, kc, rc.srv.URL, "test.*")
				r := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
				if got := r.JSON["webhook"].(map[string]any)["created_by_key"]; got != keyID {
					t.Fatalf("created_by_key %v, want %s", got, keyID)
				}
				if r := f.opc.Do(t, "GET", "/v1/admin/webhooks", nil); r.JSON["webhooks"].([]any)[0].(map[string]any)["created_by_key"] != keyID {
					t.Errorf("list: %s; want created_by_key %s", r.Body, keyID)
				}
				addEvents(t, f.s, "test.a", 1, 1)
				deliverUntil(t, f.s, true, "the first event", func() bool { return len(rc.events()) == 1 })

				cut()
				if tc.class == "key-revoked" {
					// Disabled by the revocation itself, before any round.
					wh := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil).JSON["webhook"].(map[string]any)
					if wh["enabled"] != false || wh["disabled_reason"] != tc.class || wh["status"].(map[string]any)["last_error"] != nil {
						t.Errorf("once its key was revoked: enabled %v, disabled_reason %v, last_error %v; want false, %s, none", wh["enabled"], wh["disabled_reason"], wh["status"].(map[string]any)["last_error"], tc.class)
					}
				}
				if tc.class == "key-expired" {
					f.s.Clock.Add(2 * time.Minute)
					b.Clock.Add(2 * time.Minute)
				}
				addEvents(t, f.s, "test.b", 1, 1)
				for range 3 {
					deliver(t, b, true)
				}
				if n := len(rc.events()); n != 1 {
					t.Fatalf("the receiver got %d events after its key ended, want 1", n)
				}
				wh := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil).JSON["webhook"].(map[string]any)
				if wh["enabled"] != false || wh["disabled_reason"] != tc.class || wh["status"].(map[string]any)["last_error"] != nil {
					t.Fatalf("after its key ended: enabled %v, disabled_reason %v, last_error %v; want false, %s, none", wh["enabled"], wh["disabled_reason"], wh["status"].(map[string]any)["last_error"], tc.class)
				}
				if n := countEvents(t, f.s, f.op.Account.ID, "webhook.disabled"); n != 1 {
					t.Errorf("got %d webhook.disabled events, want 1", n)
				}

				// The operator's session turns it on and answers for it.
				r = f.opc.Do(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil)
				if r.Status != 200 {
					t.Fatalf("enable: got %d %s", r.Status, r.Body)
				}
				if wh := r.JSON["webhook"].(map[string]any); wh["created_by_key"] != nil || wh["enabled"] != true {
					t.Errorf("enabled by a session: %s; want created_by_key null", r.Body)
				}
				deliverUntil(t, b, true, "the second event", func() bool { return len(rc.events()) == 2 })
				if got := rc.events()[1]["type"]; got != "test.b" {
					t.Errorf("second event %v, want test.b", got)
				}
			})
		})
	}
}

// TestWebhookBySessionHasNoKey: a webhook an operator's session made shows
// created_by_key null, and deliveries do not depend on any key.
func TestWebhookBySessionHasNoKey(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		rc := newReceiver(t)
		id := addWebhook(t, f.opc, rc.srv.URL, "test.*")
		r := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
		wh := r.JSON["webhook"].(map[string]any)
		if v, ok := wh["created_by_key"]; !ok || v != nil {
			t.Errorf("created_by_key %v (present %v), want null", v, ok)
		}
		addEvents(t, f.s, "test.a", 1, 1)
		deliverUntil(t, f.s, true, "the event", func() bool { return len(rc.events()) == 1 })
	})
}

// TestWebhookKeyExpirySwept: the sweep disables a webhook whose key has
// expired without waiting for a delivery (one waiting out a back-off
// shows it too); turned on again with another key, that key answers for
// it.
func TestWebhookKeyExpirySwept(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		panel := []string{"admin webhooks read,write", "admin events read"}
		expiry := f.s.Clock.Now().Add(time.Minute).UTC().Format(time.RFC3339)
		k := makeKey(t, f.opc, "panel", map[string]any{"expires_at": expiry}, panel...)
		id := addWebhook(t, keyClient(f.s, k.id, k.secret), "https://panel.example.com/hook", "test.*")
		f.s.Clock.Add(2 * time.Minute)
		if err := f.s.Service.Sweep(context.Background()); err != nil {
			t.Fatal(err)
		}
		wh := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil).JSON["webhook"].(map[string]any)
		if wh["enabled"] != false || wh["disabled_reason"] != "key-expired" || wh["created_by_key"] != k.id {
			t.Fatalf("after the sweep: %v; want disabled, key-expired, created_by_key %s", wh, k.id)
		}
		if d := eventWith(t, f.s, f.op.Account.ID, "webhook.disabled"); !strings.Contains(d, k.id) || !strings.Contains(d, "expired") {
			t.Errorf("webhook.disabled detail %q: want the key named and its expiry", d)
		}
		other := makeKey(t, f.opc, "panel 2", nil, panel...)
		r := keyClient(f.s, other.id, other.secret).Do(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil)
		if r.Status != 200 || r.JSON["webhook"].(map[string]any)["created_by_key"] != other.id {
			t.Fatalf("enable with another key: got %d %s; want 200, created_by_key %s", r.Status, r.Body, other.id)
		}
	})
}
