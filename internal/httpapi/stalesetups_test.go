package httpapi_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// pendingLabels returns the labels of the caller's unfinished setups.
func pendingLabels(t *testing.T, c *testenv.Client) []string {
	t.Helper()
	var out []string
	for _, f := range c.Do(t, "GET", "/v1/me/factors", nil).JSON["factors"].([]any) {
		if m := f.(map[string]any); m["status"] == "pending" {
			out = append(out, m["label"].(string))
		}
	}
	return out
}

// TestStaleSetupsMakeRoom: setups left unfinished, by requests cut short
// or pages closed, do not block new ones for ever. Once one is
// core.PendingSetupTTL old, or its session has ended, it no longer counts
// towards the five an account may have unfinished, nor keeps its name, and
// the next setup removes it, on the record.
func TestStaleSetupsMakeRoom(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "olga")
		c := login(t, s, "olga")
		id := c.Do(t, "GET", "/v1/me", nil).String("id")
		for i := range 5 {
			startEnrol(t, c, map[string]any{"type": "totp", "label": fmt.Sprintf("left %d", i)})
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"}), 409, "conflict")
		s.Clock.Add(core.PendingSetupTTL - time.Second)
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"}), 409, "conflict")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "left 0"}), 409, "conflict")

		s.Clock.Add(time.Second)
		phone := startEnrol(t, c, map[string]any{"type": "totp", "label": "left 0"}) // the name is free again
		if got := pendingLabels(t, c); strings.Join(got, ",") != "left 0" {
			t.Errorf("setups after a new one: got %q, want only the new one", got)
		}
		if d := eventWith(t, s, id, "factor.removed"); !strings.Contains(d, "expired") {
			t.Errorf("factor.removed detail %q, want it to say the setup expired", d)
		}
		// The new setup is the one its app confirms.
		if r := c.Do(t, "POST", "/v1/me/factors/"+phone.id+"/confirm", map[string]string{"code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("confirm the new setup: got %d %s", r.Status, r.Body)
		}
	})
}

// TestEndedSessionsSetupsMakeRoom: a setup whose session has signed out
// can never be finished: at once it keeps no name and no place.
func TestEndedSessionsSetupsMakeRoom(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "pia")
		c, other := login(t, s, "pia"), login(t, s, "pia")
		for i := range 4 {
			startEnrol(t, c, map[string]any{"type": "totp", "label": fmt.Sprintf("mine %d", i)})
		}
		startEnrol(t, other, map[string]any{"type": "totp", "label": "tablet"})
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "tablet"}), 409, "conflict")
		if r := other.Do(t, "POST", "/v1/logout", nil); r.Status/100 != 2 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		startEnrol(t, c, map[string]any{"type": "totp", "label": "tablet"})
		got := pendingLabels(t, c)
		if len(got) != 5 || strings.Count(strings.Join(got, ","), "tablet") != 1 {
			t.Errorf("setups: got %q, want the four of this session and its new tablet", got)
		}
		// The session's own setups still count while it lives.
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"}), 409, "conflict")
	})
}
