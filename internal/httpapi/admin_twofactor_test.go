package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestOperatorSeesTeamTwoFactorPolicy: the operator API says what login
// does (SPEC §3.1 two_factor.required: login asks for the second step) for
// a member of a team that requires two-factor who turned it off for
// themselves: required, by which teams, and the account's own setting
// apart, with GET /v1/me's field names; the user list agrees. On SQLite
// and PostgreSQL.
func TestOperatorSeesTeamTwoFactorPolicy(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, op, dave := f.s, f.opc, f.user
		elevateWith(t, dave, f.phone.codes[0])
		if r := dave.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != http.StatusOK {
			t.Fatalf("dave turns login 2FA off: got %d %s", r.Status, r.Body)
		}
		team := makeTeam(t, dave, "Acme")
		if r := dave.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": true}); r.Status != http.StatusOK {
			t.Fatalf("require two-factor of the team: got %d %s", r.Status, r.Body)
		}

		// What the holder sees, and what login does.
		me := dave.Do(t, "GET", "/v1/me", nil)
		wantDocumented(t, "GET", "/v1/me", me)
		tf := me.JSON["two_factor"].(map[string]any)
		if tf["required"] != true || tf["required_by_user"] != false || !cmp.Equal(tf["required_by_teams"], []any{"Acme"}) {
			t.Fatalf("GET /v1/me two_factor: %v, want required by Acme, not by the user", tf)
		}
		startLogin(t, s, "dave")

		r := op.Do(t, "GET", "/v1/admin/users/"+f.userID, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("inspect: got %d %s", r.Status, r.Body)
		}
		wantDocumented(t, "GET", "/v1/admin/users/{id}", r)
		user := r.JSON["user"].(map[string]any)
		if user["two_factor_required"] != true || user["two_factor_required_by_user"] != false {
			t.Errorf("user: two_factor_required %v, two_factor_required_by_user %v: want true (login asks) and false (the account's own)",
				user["two_factor_required"], user["two_factor_required_by_user"])
		}
		want := map[string]any{"enabled": true, "required": true, "required_by_user": false, "required_by_teams": []any{"Acme"}, "recovery_codes_remaining": float64(9)}
		if diff := cmp.Diff(want, r.JSON["two_factor"]); diff != "" {
			t.Errorf("two_factor (-want +got):\n%s", diff)
		}

		r = op.Do(t, "GET", "/v1/admin/users?q=dave", nil)
		wantDocumented(t, "GET", "/v1/admin/users", r)
		if users := objects(t, r, "users"); len(users) != 1 || users[0]["two_factor_required"] != true || users[0]["two_factor_required_by_user"] != false {
			t.Errorf("list: got %s, want dave required, not by himself", r.Body)
		}
		// The operator's own account: required by itself, no team.
		r = op.Do(t, "GET", "/v1/admin/users?q=carol", nil)
		if users := objects(t, r, "users"); len(users) != 1 || users[0]["two_factor_required"] != true || users[0]["two_factor_required_by_user"] != true {
			t.Errorf("list: got %s, want carol required by herself", r.Body)
		}
	})
}
