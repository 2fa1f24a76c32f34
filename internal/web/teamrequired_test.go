package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestTeamPolicyOffersNoTurningOff: a member of a team that requires
// two-factor cannot turn it off nor remove their only authenticator (core
// refuses both), so the pages offer neither: the security page says the
// team keeps it on instead of "Turn off", and the pages that would turn it
// off or remove the last authenticator say why, with no button and no
// "confirm it's you" fields, so that no code is typed for a change that can
// only be refused.
func TestTeamPolicyOffersNoTurningOff(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			secret := account(t, ts, "alice", false, true)
			ts.Clock.Add(30 * time.Second)
			api := apiSession(t, ts, "alice", secret)
			r := api.Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme hosting"})
			if r.Status != 201 {
				t.Fatalf("make team: %d %s", r.Status, r.Body)
			}
			id := r.JSON["team"].(map[string]any)["id"].(string)
			if r := api.Do(t, "PATCH", "/v1/teams/"+id, map[string]any{"require_two_factor": true}); r.Status/100 != 2 {
				t.Fatalf("require two-factor: %d %s", r.Status, r.Body)
			}
			a, err := ts.Store.AccountByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			fs, err := ts.Store.Factors(ctx, a.ID)
			if err != nil || len(fs) != 1 {
				t.Fatalf("alice's factors: %v %v, want one", fs, err)
			}

			ts.Clock.Add(30 * time.Second)
			alice := newClient(t, ts.URL())
			alice.signInWithCode(ts, "alice", secret)
			ts.Clock.Add(11 * time.Minute) // the sign-in's elevation lapses

			r2 := alice.get("/settings/security")
			if strings.Contains(r2.body, `id="required-off"`) || !strings.Contains(r2.body, `id="required-by-team"`) || !strings.Contains(r2.body, "Acme hosting") {
				t.Errorf("security page: %d, want the team's reason and no Turn off", r2.status)
			}
			for _, path := range []string{"/settings/security/two-factor", "/settings/security/factors/" + fs[0].ID + "/remove"} {
				r := alice.get(path)
				if r.status != 200 || strings.Contains(r.body, `id="confirm"`) || strings.Contains(r.body, `name="elevate_method"`) || !strings.Contains(r.body, "Acme hosting") {
					t.Errorf("%s: %d, want the team's reason with no button and no code asked: %s", path, r.status, pageError(r.body))
				}
			}
			// What the pages no longer offer is still refused, and nothing changes.
			r3 := alice.post("/settings/security/two-factor", url.Values{"required": {"false"}})
			if r3.status != 403 {
				t.Errorf("turning it off anyway: %d, want 403", r3.status)
			}
			if a, err := ts.Store.AccountByUsername(ctx, "alice"); err != nil || !a.TwoFactorRequired {
				t.Errorf("alice's own setting after the refusal: %v %v, want still on", a.TwoFactorRequired, err)
			}
		})
	}
}
