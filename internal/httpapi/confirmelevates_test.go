package httpapi_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestConfirmingFactorElevates: confirming a factor with a code from it is
// a fresh second-factor check (SPEC §3.1), so the session that confirmed it
// is elevated in the same transaction and the answer says until when: the
// next sensitive change (a new API key, removing a factor) asks for no code
// within the elevation period, and does after it. Another session of the
// same account, which proved nothing, is not elevated by it.
func TestConfirmingFactorElevates(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ida")
		c, other := login(t, s, "ida"), login(t, s, "ida")
		e := startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
		confirmed := s.Clock.Now()
		r := c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", map[string]string{"code": testenv.TOTP(t, e.secret, confirmed)})
		if r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		until, err := time.Parse(time.RFC3339, r.String("elevated_until"))
		if err != nil || !until.Equal(confirmed.Add(10*time.Minute)) {
			t.Errorf("confirm: elevated_until %q, want 10 minutes from the confirmation (%v)", r.String("elevated_until"), confirmed.Add(10*time.Minute))
		}

		// The other session proved nothing.
		wantProblem(t, other.Do(t, "POST", "/v1/me/api-keys", keyRequest("other", nil, "account * read")), 403, "elevation-required")
		if me := other.Do(t, "GET", "/v1/me", nil); me.JSON["elevated"] != false {
			t.Errorf("the other session's /v1/me: %s, want elevated false", me.Body)
		}
		if me := c.Do(t, "GET", "/v1/me", nil); me.JSON["elevated"] != true {
			t.Errorf("the confirming session's /v1/me: %s, want elevated true", me.Body)
		}

		// Within the period, the confirming session needs no code.
		s.Clock.Add(9 * time.Minute)
		makeKey(t, c, "script", nil, "account * read")
		spare := startEnrol(t, c, map[string]any{"type": "totp", "label": "spare"})
		s.Clock.Add(30 * time.Second)
		if r := c.Do(t, "POST", "/v1/me/factors/"+spare.id+"/confirm", map[string]string{"code": testenv.TOTP(t, spare.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("confirm the second factor within the period: got %d %s", r.Status, r.Body)
		}
		// Confirming the second one elevated the session anew.
		s.Clock.Add(9 * time.Minute)
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+spare.id, nil); r.Status != 204 {
			t.Fatalf("remove a factor within the period: got %d %s", r.Status, r.Body)
		}

		// After it, a code again.
		lapseElevation(s)
		wantProblem(t, c.Do(t, "POST", "/v1/me/api-keys", keyRequest("late", nil, "account * read")), 403, "elevation-required")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me/factors/"+e.id, nil), 403, "elevation-required")
	})
}
