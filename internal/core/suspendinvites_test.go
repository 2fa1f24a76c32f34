package core_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSuspensionWithdrawsInvitations: whoever took over a team admin's
// session invites an account of their own; the operator suspends the
// admin's account; the invitation is gone, so it can no longer be
// accepted. Another manager's invitation stays. On SQLite and PostgreSQL.
func TestSuspensionWithdrawsInvitations(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newTeamFixture(t, dsn(t), "cat:admin")
			f.users["cat"] = withFactor(t, f.svc, f.users["cat"])
			for _, u := range []string{"eve", "dan"} {
				f.users[u] = signedIn(t, f.svc, u)
			}
			taken, err := f.svc.InviteTeamMember(ctx, f.users["cat"], f.teamID, "eve", "admin", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			kept, err := f.svc.InviteTeamMember(ctx, f.users["ada"], f.teamID, "dan", "ops", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}

			op := withTOTP(t, f.svc, f.clock, signedInAs(t, f.svc, core.NewAccount{Username: "olga", Email: "olga@example.com", Operator: true}))
			op.Session.ElevatedUntil = f.clock.Now().Add(time.Hour)
			if _, changed, err := f.svc.SetSuspended(core.WithCaller(ctx, op), op, f.users["cat"].Account.ID, true, core.Meta{}); err != nil || !changed {
				t.Fatalf("SetSuspended: %v, %v", changed, err)
			}

			if _, err := f.svc.AcceptTeamInvitation(ctx, f.users["eve"], taken.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("accepting the suspended admin's invitation: got %v, want not found", err)
			}
			if _, err := f.svc.AcceptTeamInvitation(ctx, f.users["dan"], kept.ID, core.Meta{}); err != nil {
				t.Errorf("accepting the owner's invitation: %v", err)
			}
			want := map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin, "dan": twofold.RoleOps}
			if got := f.roles(t); !mapsEqual(got, want) {
				t.Errorf("members after: got %v, want %v", got, want)
			}
		})
	}
}
