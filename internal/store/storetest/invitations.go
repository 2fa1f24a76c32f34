package storetest

import (
	"errors"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// invitation returns an invitation of team t1 to username by inviter,
// made at t0 and waiting a day.
func invitation(id, username, accountID, inviter string, role twofold.Role) twofold.TeamInvitation {
	return twofold.TeamInvitation{ID: id, TeamID: "t1", Username: username, AccountID: accountID, Role: role,
		InvitedBy: inviter, CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
}

func testInvitationRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", RequireTwoFactor: true, CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	v := invitation("i1", "Bob", b.ID, a.ID, twofold.RoleOps)
	if err := s.CreateTeamInvitation(ctx, v, "bob", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	// One pending invitation per name, whatever its case.
	if err := s.CreateTeamInvitation(ctx, invitation("i2", "bob", b.ID, a.ID, twofold.RoleAdmin), "bob", 3, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("a second invitation of bob: got %v, want a conflict", err)
	}
	// A name nobody has is stored without an account.
	if err := s.CreateTeamInvitation(ctx, invitation("i3", "nobody", "", a.ID, twofold.RoleOps), "nobody", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeamInvitation(ctx, invitation("i4", "carol", "", a.ID, twofold.RoleOps), "carol", 2, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("more than the team's limit: got %v, want a conflict", err)
	}
	gone := invitation("i5", "dave", "", a.ID, twofold.RoleOps)
	gone.TeamID = "t9"
	if err := s.CreateTeamInvitation(ctx, gone, "dave", 3, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("an invitation to no team: got %v, want not-found", err)
	}

	v.TeamName, v.RequireTwoFactor, v.InvitedByName = "Acme", true, "alice"
	got, err := s.TeamInvitation(ctx, "i1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(v, got); diff != "" {
		t.Errorf("invitation (-want +got):\n%s", diff)
	}
	list, err := s.TeamInvitations(ctx, "t1", t0)
	if err != nil || len(list) != 2 || list[0].ID != "i1" || list[1].ID != "i3" || list[1].AccountID != "" {
		t.Fatalf("team's invitations: got %+v, %v; want i1 and i3", list, err)
	}
	mine, err := s.InvitationsFor(ctx, b.ID, t0)
	if err != nil || len(mine) != 1 || mine[0].ID != "i1" {
		t.Fatalf("bob's invitations: got %+v, %v; want i1", mine, err)
	}
	if err := s.DeleteTeamInvitation(ctx, "i3", twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeamInvitation(ctx, "i3", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("deleting twice: got %v, want not-found", err)
	}
	// Lapsed, it is neither listed nor usable, and no longer blocks a new
	// invitation of the same name.
	later := t0.Add(25 * time.Hour)
	if list, err := s.InvitationsFor(ctx, b.ID, later); err != nil || len(list) != 0 {
		t.Fatalf("bob's invitations a day later: got %+v, %v; want none", list, err)
	}
	if _, err := s.AcceptTeamInvitation(ctx, "i1", b.ID, later, twofold.TeamMember{}, false, 100, 1000); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("accepting a lapsed invitation: got %v, want not-found", err)
	}
	again := invitation("i6", "bob", b.ID, a.ID, twofold.RoleReadOnly)
	again.CreatedAt, again.ExpiresAt = later, later.Add(24*time.Hour)
	if err := s.CreateTeamInvitation(ctx, again, "bob", 3, twofold.TeamMember{}); err != nil {
		t.Fatalf("inviting bob again after the first lapsed: %v", err)
	}
	// An invitation whose inviter the team's policy would keep out is not
	// used while the team requires two-factor: stale, nothing written.
	if _, err := s.AcceptTeamInvitation(ctx, "i6", b.ID, later, twofold.TeamMember{}, true, 100, 1000); !errors.Is(err, twofold.ErrStale) {
		t.Fatalf("accepting unless the team requires two-factor, which it does: got %v, want stale", err)
	}
	if _, err := s.TeamInvitation(ctx, "i6"); err != nil {
		t.Fatalf("the invitation after a stale acceptance: %v", err)
	}
	if ms, _ := s.Memberships(ctx, b.ID); len(ms) != 0 {
		t.Fatalf("bob's memberships after a stale acceptance: got %+v, want none", ms)
	}
	// Only its invitee accepts it, once.
	if _, err := s.AcceptTeamInvitation(ctx, "i6", a.ID, later, twofold.TeamMember{}, false, 100, 1000); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("alice accepting bob's invitation: got %v, want not-found", err)
	}
	acc, err := s.AcceptTeamInvitation(ctx, "i6", b.ID, later, twofold.TeamMember{}, false, 100, 1000)
	if err != nil || acc.TeamID != "t1" || acc.Role != twofold.RoleReadOnly {
		t.Fatalf("bob accepts: got %+v, %v", acc, err)
	}
	ms, err := s.Memberships(ctx, b.ID)
	if err != nil || len(ms) != 1 || ms[0].Role != twofold.RoleReadOnly {
		t.Fatalf("bob's memberships: got %+v, %v", ms, err)
	}
	if _, err := s.AcceptTeamInvitation(ctx, "i6", b.ID, later, twofold.TeamMember{}, false, 100, 1000); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("accepting twice: got %v, want not-found", err)
	}
	// A member invited again and accepting is a conflict, and the
	// invitation is used all the same.
	third := invitation("i7", "bob", b.ID, a.ID, twofold.RoleAdmin)
	third.CreatedAt, third.ExpiresAt = later, later.Add(time.Hour)
	if err := s.CreateTeamInvitation(ctx, third, "bob", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptTeamInvitation(ctx, "i7", b.ID, later, twofold.TeamMember{}, false, 100, 1000); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("a member accepting: got %v, want a conflict", err)
	}
	if _, err := s.TeamInvitation(ctx, "i7"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("the member's invitation after: got %v, want it gone", err)
	}
	if ms, _ := s.Memberships(ctx, b.ID); len(ms) != 1 || ms[0].Role != twofold.RoleReadOnly {
		t.Fatalf("bob's role after a second acceptance: got %+v, want read-only still", ms)
	}
	// Deleting the team deletes its invitations.
	if err := s.CreateTeamInvitation(ctx, invitation("i8", "zed", "", a.ID, twofold.RoleOps), "zed", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DeleteTeam(ctx, "t1", twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TeamInvitation(ctx, "i8"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("an invitation of a deleted team: got %v, want it gone", err)
	}
}

// testRaceInvitationAccept: an invitation accepted at once from several
// places is used exactly once.
func testRaceInvitationAccept(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	for round := range 5 {
		if _, _, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: b.ID}, twofold.TeamMember{}); err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatal(err)
		}
		id := "i" + string(rune('0'+round))
		if err := s.CreateTeamInvitation(ctx, invitation(id, "bob", b.ID, a.ID, twofold.RoleOps), "bob", 10, twofold.TeamMember{}); err != nil {
			t.Fatal(err)
		}
		wins := race(t, func(int) (bool, error) {
			_, err := s.AcceptTeamInvitation(ctx, id, b.ID, t0, twofold.TeamMember{}, false, 100, 1000)
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				return false, nil
			}
			return err == nil, err
		})
		if wins != 1 {
			t.Fatalf("round %d: %d acceptances won, want exactly 1", round, wins)
		}
	}
}

// testInvitationUnlessRequired: an acceptance made unless the team requires
// two-factor is used while it does not.
func testInvitationUnlessRequired(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeamInvitation(ctx, invitation("i1", "bob", b.ID, a.ID, twofold.RoleOps), "bob", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptTeamInvitation(ctx, "i1", b.ID, t0, twofold.TeamMember{}, true, 100, 1000); err != nil {
		t.Fatalf("accepting unless the team requires two-factor, which it does not: %v", err)
	}
	if ms, err := s.Memberships(ctx, b.ID); err != nil || len(ms) != 1 {
		t.Fatalf("bob's memberships: got %+v, %v; want the team", ms, err)
	}
}
