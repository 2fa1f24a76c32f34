package cluster_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// TestWebhookAcrossInstances runs two `twofold serve` processes on one
// database, each with its own delivery to webhooks, while both record
// sign-ins at once: the one receiver gets every event once, signed, and
// nothing twice (README "Webhooks").
func TestWebhookAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, dsn(t), 2, "--webhook-allow-http", "--webhook-allow-private")
			a, b := c.nodes[0], c.nodes[1]

			// An operator, signed in with a code: elevated.
			op := c.enrol(t, a, "olga", 1)
			c.run(t, "", append([]string{"user", "operator", "olga"}, c.store()...)...)
			r := verify(t, b, startLogin(t, b, "olga"), map[string]string{"method": "totp", "code": b.code(t, op.factors[0].secret)})
			want(t, "operator signs in", r, 200, "")
			opc := b.client()
			opc.Token = r.String("token")

			type delivery struct {
				ts, sig string
				body    []byte
				ids     []int64
			}
			var (
				mu      sync.Mutex
				got     []delivery
				changed = make(chan struct{}, 1)
			)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				body, _ := io.ReadAll(r.Body)
				var d struct {
					Events []struct {
						ID int64 `json:"id"`
					} `json:"events"`
				}
				if err := json.Unmarshal(body, &d); err != nil {
					t.Errorf("receiver: %v: %s", err, body)
				}
				dl := delivery{ts: r.Header.Get(webhook.HeaderTimestamp), sig: r.Header.Get(webhook.HeaderSignature), body: body}
				for _, e := range d.Events {
					dl.ids = append(dl.ids, e.ID)
				}
				mu.Lock()
				got = append(got, dl)
				mu.Unlock()
				select {
				case changed <- struct{}{}:
				default:
				}
				w.WriteHeader(http.StatusNoContent)
			}))
			defer srv.Close()
			r = opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": srv.URL + "/hook", "events": []string{"login.*"}})
			want(t, "add a webhook", r, 201, "")
			secret := r.String("secret")

			// Sign-ins on both instances at once, of six people (one
			// person's attempts take turns, see core.Login).
			var wg sync.WaitGroup
			for i, name := range []string{"pat", "quin", "rory", "sam", "tess", "uma"} {
				c.addUser(t, name)
				n := c.nodes[i%2]
				wg.Go(func() {
					for range 8 {
						r := n.client().Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
						if r.Status != 200 {
							t.Errorf("login of %s on %s: got %d %s", name, n.name, r.Status, r.Body)
						}
					}
				})
			}
			wg.Wait()

			// What the audit log holds of them: the sign-in events after
			// the webhook's creation.
			r = opc.Do(t, "GET", "/v1/admin/events?after=0&limit=200", nil)
			all, _ := r.JSON["events"].([]any)
			wantIDs, after := map[int64]bool{}, false
			for _, v := range all {
				e := v.(map[string]any)
				after = after || e["type"] == "webhook.created"
				if after && strings.HasPrefix(e["type"].(string), "login.") {
					wantIDs[int64(e["id"].(float64))] = true
				}
			}
			if len(wantIDs) < 48 {
				t.Fatalf("the audit log holds %d sign-in events after the webhook's creation, want at least 48: %s", len(wantIDs), r.Body)
			}
			deliveredIDs := func() []int64 {
				mu.Lock()
				defer mu.Unlock()
				var out []int64
				for _, d := range got {
					out = append(out, d.ids...)
				}
				return out
			}
			deadline := time.After(time.Minute)
			for len(deliveredIDs()) < len(wantIDs) {
				select {
				case <-changed:
				case <-deadline:
					t.Fatalf("delivered %d of %d events", len(deliveredIDs()), len(wantIDs))
				}
			}
			ids := deliveredIDs()
			seen := map[int64]bool{}
			for _, id := range ids {
				if seen[id] || !wantIDs[id] {
					t.Fatalf("event %d delivered twice, or not a sign-in after the webhook was added: %v", id, ids)
				}
				seen[id] = true
			}
			mu.Lock()
			defer mu.Unlock()
			for _, d := range got {
				if !webhook.Verify([]byte(secret), d.ts, d.sig, d.body, time.Now(), 5*time.Minute) {
					t.Errorf("a delivery's signature does not verify: %s", d.body)
				}
			}
		})
	}
}
