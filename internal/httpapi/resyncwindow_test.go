package httpapi_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestResyncWindowSymmetric: a resync keeps the step of the pair's second
// code, and that step may lie 40 steps (the resync window) either side of
// now, no further: the drift stored is within ±40 both ways, as a login's.
func TestResyncWindowSymmetric(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "carol")
		c := login(t, s, "carol")
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(time.Hour) // the steps 40 behind come after the one confirming the factor
		resync := func(first int) testenv.Response {
			t.Helper()
			at := s.Clock.Now().Add(time.Duration(first) * 30 * time.Second)
			return c.Do(t, "POST", "/v1/me/factors/"+f.id+"/resync", map[string]string{
				"code": testenv.TOTP(t, f.secret, at), "next_code": testenv.TOTP(t, f.secret, at.Add(30*time.Second))})
		}
		// The pair (+40, +41): its second code is 41 steps ahead.
		wantProblem(t, resync(40), 401, "invalid-code")
		// The pair (−41, −40): its second code is 40 steps behind.
		if r := resync(-41); r.Status != 200 {
			t.Fatalf("resync 40 steps behind: got %d %s, want 200", r.Status, r.Body)
		}
		// The pair (+39, +40): 40 steps ahead, drift 40.
		if r := resync(39); r.Status != 200 {
			t.Fatalf("resync 40 steps ahead: got %d %s, want 200", r.Status, r.Body)
		}
		// Drift 40 was stored: a code 41 steps ahead, one past the step
		// the resync took, signs in (the window is ±1 around the drift).
		loginID, _ := startLogin(t, s, "carol")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now().Add(41*30*time.Second))}); r.Status != 200 {
			t.Fatalf("a code 41 steps ahead after a resync to drift 40: got %d %s, want 200", r.Status, r.Body)
		}
	})
}
