package httpapi_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestEventsNameKeys walks what a user did: after the first authenticator
// and an elevation, a key
// that its permits refuse (403) is in the owner's events, naming the key
// and the call, once however often the script repeats it; the key's use
// and the removed authenticator's event name which one (subject). On SQLite
// and PostgreSQL.
func TestEventsNameKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		c := login(t, s, "alice")
		e := startEnrol(t, c, map[string]any{"type": "totp", "label": "Work phone"})
		r := c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", map[string]string{"code": testenv.TOTP(t, e.secret, s.Clock.Now())})
		if r.Status != 200 {
			t.Fatalf("confirming the first factor: %d %s, want 200", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": r.String("paper_key")}); r.Status != 200 {
			t.Fatalf("elevating with the paper key: %d %s, want 200", r.Status, r.Body)
		}
		k := makeKey(t, c, "deploy", nil, "account * read")
		kc := keyClient(s, k.id, k.secret)
		if r := kc.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the key reads the profile: %d %s", r.Status, r.Body)
		}
		for range 3 {
			if r := kc.Do(t, "POST", "/v1/me/api-keys", keyRequest("more", nil, "account * read")); r.Status != 403 {
				t.Fatalf("the key makes a key: %d %s, want 403", r.Status, r.Body)
			}
		}
		// A second factor, so that removing the first leaves two-factor on.
		second := enrol(t, s, c, map[string]any{"type": "totp", "label": "Spare"})
		_ = second
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+e.id, nil); r.Status != 204 {
			t.Fatalf("removing the first factor: %d %s", r.Status, r.Body)
		}

		var refused, used, removed []map[string]any
		for _, ev := range ownEvents(t, c) {
			switch ev["type"] {
			case "api_key.refused":
				refused = append(refused, ev)
			case "api_key.used":
				used = append(used, ev)
			case "factor.removed":
				removed = append(removed, ev)
			}
			if d, _ := ev["detail"].(string); strings.Contains(d, k.secret) {
				t.Errorf("%s holds the key's secret", ev["type"])
			}
		}
		if len(refused) != 1 {
			t.Fatalf("%d api_key.refused events for 3 refused calls, want 1: %v", len(refused), refused)
		}
		sub, _ := refused[0]["subject"].(map[string]any)
		if sub["name"] != "deploy" || sub["id"] != k.id || !strings.HasPrefix(sub["cause"].(string), "not permitted to POST /v1/me/api-keys") {
			t.Errorf("the refusal's subject %v, detail %v", sub, refused[0]["detail"])
		}
		if len(used) != 1 {
			t.Fatalf("%d api_key.used events, want 1", len(used))
		}
		if sub, _ := used[0]["subject"].(map[string]any); sub["name"] != "deploy" || sub["kind"] != "api_key" {
			t.Errorf("api_key.used subject %v", sub)
		}
		if len(removed) != 1 {
			t.Fatalf("%d factor.removed events, want 1", len(removed))
		}
		if sub, _ := removed[0]["subject"].(map[string]any); sub["name"] != "Work phone" || sub["kind"] != "totp" {
			t.Errorf("factor.removed subject %v, detail %v", sub, removed[0]["detail"])
		}
	})
}
