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

// expiredSetups returns, by label, whether each of the caller's unfinished
// setups is listed as expired, by GET /v1/me/factors and GET /v1/me
// alike.
func expiredSetups(t *testing.T, c *testenv.Client) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, path := range []string{"/v1/me/factors", "/v1/me"} {
		for _, f := range c.Do(t, "GET", path, nil).JSON["factors"].([]any) {
			m := f.(map[string]any)
			if m["status"] != "pending" {
				if _, ok := m["expired"]; ok {
					t.Errorf("%s: active factor %v has an expired field", path, m["label"])
				}
				continue
			}
			expired, ok := m["expired"]
			if ok && expired != true {
				t.Errorf("%s: %v is expired %v, want the field left out or true", path, m["label"], expired)
			}
			if prev, seen := out[m["label"].(string)]; seen && prev != ok {
				t.Errorf("%s says %v is expired %v, the other list %v", path, m["label"], ok, prev)
			}
			out[m["label"].(string)] = ok
		}
	}
	return out
}

// TestStaleSetupsListedExpired: a stale setup (core.PendingSetupTTL, or
// of an ended session) is listed as expired, so that a client does not
// show it as one still holding its name and place, until the next setup
// removes it; a fresh one is not.
func TestStaleSetupsListedExpired(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ines")
		c, other := login(t, s, "ines"), login(t, s, "ines")
		startEnrol(t, c, map[string]any{"type": "totp", "label": "old"})
		startEnrol(t, other, map[string]any{"type": "totp", "label": "tablet"})
		if got := expiredSetups(t, c); got["old"] || got["tablet"] || len(got) != 2 {
			t.Errorf("fresh setups: got %v, want two, neither expired", got)
		}
		if r := other.Do(t, "POST", "/v1/logout", nil); r.Status/100 != 2 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		if got := expiredSetups(t, c); got["old"] || !got["tablet"] {
			t.Errorf("after the tablet's session signed out: got %v, want only the tablet expired", got)
		}
		s.Clock.Add(core.PendingSetupTTL)
		startEnrol(t, c, map[string]any{"type": "totp", "label": "late"})
		s.Clock.Add(time.Minute)
		if got := expiredSetups(t, c); len(got) != 1 || got["late"] {
			t.Errorf("after a new setup: got %v, want only the new one, not expired", got)
		}
		s.Clock.Add(core.PendingSetupTTL)
		if got := expiredSetups(t, c); !got["late"] {
			t.Errorf("an hour on: got %v, want the setup expired", got)
		}
	})
}
