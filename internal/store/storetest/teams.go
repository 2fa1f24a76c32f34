package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func testTeamRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	team := twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}
	if err := s.CreateTeam(ctx, team, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", b.ID, twofold.RoleOps, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", b.ID, twofold.RoleAdmin, t0); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("adding a member twice: got %v, want a conflict", err)
	}
	if err := s.AddTeamMember(ctx, "t2", b.ID, twofold.RoleAdmin, t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("adding to no team: got %v, want not-found", err)
	}
	ms, err := s.Memberships(ctx, b.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twofold.Membership{{Team: team, Role: twofold.RoleOps}}, ms); diff != "" {
		t.Errorf("memberships (-want +got):\n%s", diff)
	}
	team.RequireTwoFactor, team.Name = true, "Acme Ltd"
	if err := s.UpdateTeam(ctx, team); err != nil {
		t.Fatal(err)
	}
	if got, err := s.TeamsRequiringTwoFactor(ctx, b.ID); err != nil || len(got) != 1 || got[0] != "Acme Ltd" {
		t.Fatalf("teams requiring two-factor: got %v, %v", got, err)
	}
	members, err := s.TeamMembers(ctx, "t1")
	if err != nil {
		t.Fatal(err)
	}
	if len(members) != 2 || members[0].Username != "alice" || members[0].Role != twofold.RoleOwner || members[1].TwoFactor {
		t.Fatalf("members: got %+v", members)
	}
	// The last owner stays.
	if _, err := s.SetTeamRole(ctx, "t1", a.ID, twofold.RoleAdmin); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("demote the last owner: got %v, want a conflict", err)
	}
	if _, err := s.RemoveTeamMember(ctx, "t1", a.ID); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("remove the last owner: got %v, want a conflict", err)
	}
	if role, err := s.RemoveTeamMember(ctx, "t1", b.ID); err != nil || role != twofold.RoleOps {
		t.Fatalf("remove bob: got %v, %v", role, err)
	}
	if _, err := s.RemoveTeamMember(ctx, "t1", b.ID); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("remove bob again: got %v, want not-found", err)
	}
	// A zone shared with the team stays with its owner when the team goes.
	newZone(t, s, a.ID, "example.com")
	if err := s.SetZoneTeam(ctx, "example.com", "t1"); err != nil {
		t.Fatal(err)
	}
	if zs, err := s.TeamZones(ctx, "t1"); err != nil || len(zs) != 1 || zs[0].TeamID != "t1" {
		t.Fatalf("team zones: got %+v, %v", zs, err)
	}
	if err := s.DeleteTeam(ctx, "t1"); err != nil {
		t.Fatal(err)
	}
	z, err := s.Zone(ctx, "example.com")
	if err != nil || z.TeamID != "" || z.AccountID != a.ID {
		t.Fatalf("zone after its team: got %+v, %v", z, err)
	}
	if ms, err := s.Memberships(ctx, a.ID); err != nil || len(ms) != 0 {
		t.Fatalf("memberships after delete: got %v, %v", ms, err)
	}
	if err := s.DeleteTeam(ctx, "t1"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("delete again: got %v, want not-found", err)
	}
}

// testRaceTeamOwners: two owners stepping down at once leave one, round
// after round.
func testRaceTeamOwners(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", b.ID, twofold.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	owners := []string{a.ID, b.ID}
	for round := range 10 {
		wins := race(t, func(i int) (bool, error) {
			_, err := s.SetTeamRole(ctx, "t1", owners[i%2], twofold.RoleAdmin)
			if twofold.ErrorCode(err) == twofold.CodeConflict {
				return false, nil
			}
			return err == nil, err
		})
		members, err := s.TeamMembers(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, m := range members {
			if m.Role == twofold.RoleOwner {
				n++
			}
		}
		if n != 1 || wins == 0 {
			t.Fatalf("round %d: got %d owners left after %d demotions, want 1", round, n, wins)
		}
		for _, id := range owners {
			if _, err := s.SetTeamRole(ctx, "t1", id, twofold.RoleOwner); err != nil {
				t.Fatal(err)
			}
		}
	}
}
