package storetest

import (
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func testTeamRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	team := twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}
	if err := s.CreateTeam(ctx, team, a.ID, 100); err != nil {
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
	// Each field changes alone; the other stays as it is.
	on, name := true, "Acme Ltd"
	before, after, err := s.UpdateTeam(ctx, "t1", nil, &on, twofold.TeamMember{AccountID: a.ID, Role: twofold.RoleOwner})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twofold.Team{team, {ID: "t1", Name: "Acme", RequireTwoFactor: true, CreatedAt: t0}}, []twofold.Team{before, after}); diff != "" {
		t.Errorf("policy change: before and after (-want +got):\n%s", diff)
	}
	team.RequireTwoFactor, team.Name = true, name
	if _, after, err = s.UpdateTeam(ctx, "t1", &name, nil, twofold.TeamMember{}); err != nil || after != team {
		t.Fatalf("rename: got %+v, %v; want %+v", after, err, team)
	}
	if _, _, err := s.UpdateTeam(ctx, "t9", &name, nil, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("update no team: got %v, want not-found", err)
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
	if _, err := s.SetTeamRole(ctx, "t1", twofold.TeamMember{AccountID: a.ID}, twofold.RoleAdmin, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("demote the last owner: got %v, want a conflict", err)
	}
	if _, _, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: a.ID}, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("remove the last owner: got %v, want a conflict", err)
	}
	if role, _, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: b.ID}, twofold.TeamMember{}); err != nil || role != twofold.RoleOps {
		t.Fatalf("remove bob: got %v, %v", role, err)
	}
	if _, _, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: b.ID}, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("remove bob again: got %v, want not-found", err)
	}
	// A zone shared with the team stays with its owner when the team goes.
	newZone(t, s, a.ID, "example.com")
	if changed, err := s.SetZoneTeam(ctx, "example.com", "t1", twofold.TeamMember{}); err != nil || !changed {
		t.Fatalf("share example.com: changed %v, %v", changed, err)
	}
	if changed, err := s.SetZoneTeam(ctx, "example.com", "t1", twofold.TeamMember{}); err != nil || changed {
		t.Fatalf("share example.com again: changed %v, %v; want nothing changed", changed, err)
	}
	if zs, err := s.TeamZones(ctx, "t1"); err != nil || len(zs) != 1 || zs[0].TeamID != "t1" {
		t.Fatalf("team zones: got %+v, %v", zs, err)
	}
	if gone, err := s.DeleteTeam(ctx, "t1", twofold.TeamMember{}); err != nil || !slices.Equal(gone, []string{a.ID}) {
		t.Fatalf("delete: members %v, %v; want alice's account, its one member", gone, err)
	}
	z, err := s.Zone(ctx, "example.com")
	if err != nil || z.TeamID != "" || z.AccountID != a.ID {
		t.Fatalf("zone after its team: got %+v, %v", z, err)
	}
	if ms, err := s.Memberships(ctx, a.ID); err != nil || len(ms) != 0 {
		t.Fatalf("memberships after delete: got %v, %v", ms, err)
	}
	if _, err := s.DeleteTeam(ctx, "t1", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("delete again: got %v, want not-found", err)
	}
}

// testTeamChangesDecidedOnRoles: a change of a team decided on roles read
// before is written only while they hold; otherwise it is a conflict
// wrapping ErrStale, and nothing of it is written.
func testTeamChangesDecidedOnRoles(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b, c, d := newAccount(t, s, "alice"), newAccount(t, s, "bob"), newAccount(t, s, "carol"), newAccount(t, s, "dave")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	for _, m := range []struct {
		id   string
		role twofold.Role
	}{{b.ID, twofold.RoleAdmin}, {c.ID, twofold.RoleOwner}} {
		if err := s.AddTeamMember(ctx, "t1", m.id, m.role, t0); err != nil {
			t.Fatal(err)
		}
	}
	owner := func(id string) twofold.TeamMember { return twofold.TeamMember{AccountID: id, Role: twofold.RoleOwner} }
	admin := func(id string) twofold.TeamMember { return twofold.TeamMember{AccountID: id, Role: twofold.RoleAdmin} }
	if err := s.CreateTeamInvitation(ctx, invitation("i1", "dave", d.ID, b.ID, twofold.RoleOps), "dave", 3, twofold.TeamMember{}); err != nil {
		t.Fatal(err)
	}
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t2", Name: "Dave's", CreatedAt: t0}, d.ID, 100); err != nil {
		t.Fatal(err)
	}
	newZone(t, s, b.ID, "bob.net")
	newZone(t, s, a.ID, "alice.com")
	if _, err := s.SetZoneTeam(ctx, "alice.com", "t1", owner(a.ID)); err != nil {
		t.Fatal(err)
	}
	on, name := true, "Renamed"
	stale := []struct {
		name   string
		change func() error
	}{
		// carol is an owner, not the admin bob read her as.
		{"role of a member read as another", func() error {
			_, err := s.SetTeamRole(ctx, "t1", admin(c.ID), twofold.RoleReadOnly, admin(b.ID))
			return err
		}},
		{"removal of a member read as another", func() error {
			_, _, err := s.RemoveTeamMember(ctx, "t1", admin(c.ID), admin(b.ID))
			return err
		}},
		// bob is an admin, not the owner he was read as.
		{"role given by a member read as another", func() error {
			_, err := s.SetTeamRole(ctx, "t1", owner(c.ID), twofold.RoleReadOnly, owner(b.ID))
			return err
		}},
		{"removal by a member read as another", func() error {
			_, _, err := s.RemoveTeamMember(ctx, "t1", owner(c.ID), owner(b.ID))
			return err
		}},
		{"settings changed by a member read as an owner", func() error {
			_, _, err := s.UpdateTeam(ctx, "t1", &name, &on, owner(b.ID))
			return err
		}},
		{"invitation by a member read as another", func() error {
			_, err := s.AcceptTeamInvitation(ctx, "i1", d.ID, t0, owner(b.ID), false, 100, 1000)
			return err
		}},
		{"invitation made by a member read as another", func() error {
			return s.CreateTeamInvitation(ctx, invitation("i2", "erin", "", b.ID, twofold.RoleOps), "erin", 3, owner(b.ID))
		}},
		{"invitation revoked by a member read as another", func() error {
			return s.DeleteTeamInvitation(ctx, "i1", owner(b.ID))
		}},
		{"zone shared by a member read as another", func() error {
			_, err := s.SetZoneTeam(ctx, "bob.net", "t1", owner(b.ID))
			return err
		}},
		{"zone unshared by a member read as another", func() error {
			return s.UnshareZone(ctx, "alice.com", "t1", owner(b.ID))
		}},
		{"deletion by a member read as an owner", func() error {
			_, err := s.DeleteTeam(ctx, "t1", owner(b.ID))
			return err
		}},
		// The limits read as holding no longer do: the team has three
		// members, dave belongs to one team, alice to one.
		{"invitation accepted into a team at its limit", func() error {
			_, err := s.AcceptTeamInvitation(ctx, "i1", d.ID, t0, admin(b.ID), false, 100, 3)
			return err
		}},
		{"invitation accepted by an account at its limit", func() error {
			_, err := s.AcceptTeamInvitation(ctx, "i1", d.ID, t0, admin(b.ID), false, 1, 1000)
			return err
		}},
		{"team created by an account at its limit", func() error {
			return s.CreateTeam(ctx, twofold.Team{ID: "t3", Name: "More", CreatedAt: t0}, a.ID, 1)
		}},
		// dave is not a member at all.
		{"role given by no member", func() error {
			_, err := s.SetTeamRole(ctx, "t1", owner(c.ID), twofold.RoleReadOnly, owner(d.ID))
			return err
		}},
	}
	for _, tt := range stale {
		if err := tt.change(); !errors.Is(err, twofold.ErrStale) || twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Errorf("%s: got %v, want a conflict wrapping ErrStale", tt.name, err)
		}
	}
	want := []twofold.TeamMember{admin(b.ID), owner(c.ID), owner(a.ID)}
	check := func(when string) {
		t.Helper()
		members, err := s.TeamMembers(ctx, "t1")
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]twofold.Role{}
		for _, m := range members {
			got[m.AccountID] = m.Role
		}
		if len(got) != len(want) {
			t.Errorf("%s: got members %v, want %d", when, got, len(want))
		}
		for _, m := range want {
			if got[m.AccountID] != m.Role {
				t.Errorf("%s: member %s is %q, want %s", when, m.AccountID, got[m.AccountID], m.Role)
			}
		}
	}
	check("after the stale changes")
	if tm, err := s.Team(ctx, "t1"); err != nil || tm.Name != "Acme" || tm.RequireTwoFactor {
		t.Errorf("team after a stale change of its settings: got %+v, %v", tm, err)
	}
	if _, err := s.TeamInvitation(ctx, "i1"); err != nil {
		t.Errorf("invitation after a stale acceptance and revocation: %v, want it still there", err)
	}
	if _, err := s.TeamInvitation(ctx, "i2"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("invitation made stale: got %v, want not-found", err)
	}
	if z, err := s.Zone(ctx, "bob.net"); err != nil || z.TeamID != "" {
		t.Errorf("zone after a stale share: got %+v, %v, want it unshared", z, err)
	}
	if z, err := s.Zone(ctx, "alice.com"); err != nil || z.TeamID != "t1" {
		t.Errorf("zone after a stale unsharing: got %+v, %v, want it shared still", z, err)
	}
	if _, err := s.Team(ctx, "t3"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("team created past the limit: got %v, want not-found", err)
	}
	if ms, err := s.Memberships(ctx, a.ID); err != nil || len(ms) != 1 {
		t.Errorf("alice's teams after a stale creation: got %+v, %v, want one", ms, err)
	}
	// As read, the same changes are made.
	if err := s.CreateTeamInvitation(ctx, invitation("i2", "erin", "", b.ID, twofold.RoleOps), "erin", 3, admin(b.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteTeamInvitation(ctx, "i2", admin(b.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetZoneTeam(ctx, "bob.net", "t1", admin(b.ID)); err != nil {
		t.Fatal(err)
	}
	if err := s.UnshareZone(ctx, "alice.com", "t1", admin(b.ID)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcceptTeamInvitation(ctx, "i1", d.ID, t0, admin(b.ID), false, 2, 4); err != nil {
		t.Fatal(err)
	}
	if before, err := s.SetTeamRole(ctx, "t1", twofold.TeamMember{AccountID: d.ID, Role: twofold.RoleOps}, twofold.RoleReadOnly, admin(b.ID)); err != nil || before != twofold.RoleOps {
		t.Fatalf("role change as read: got %v, %v", before, err)
	}
	if _, _, err := s.RemoveTeamMember(ctx, "t1", owner(c.ID), owner(a.ID)); err != nil {
		t.Fatal(err)
	}
	want = []twofold.TeamMember{admin(b.ID), {AccountID: d.ID, Role: twofold.RoleReadOnly}, owner(a.ID)}
	check("after the changes as read")
	// A member gone is not found, as before.
	if _, err := s.SetTeamRole(ctx, "t1", owner(c.ID), twofold.RoleOps, owner(a.ID)); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("role of a member gone: got %v, want not-found", err)
	}
	if _, err := s.DeleteTeam(ctx, "t1", owner(a.ID)); err != nil {
		t.Fatalf("deletion as read: %v", err)
	}
}

// testRaceTeamOwners: two owners stepping down at once leave one, round
// after round.
func testRaceTeamOwners(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", b.ID, twofold.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	owners := []string{a.ID, b.ID}
	for round := range 10 {
		wins := race(t, func(i int) (bool, error) {
			_, err := s.SetTeamRole(ctx, "t1", twofold.TeamMember{AccountID: owners[i%2]}, twofold.RoleAdmin, twofold.TeamMember{})
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
			if _, err := s.SetTeamRole(ctx, "t1", twofold.TeamMember{AccountID: id}, twofold.RoleOwner, twofold.TeamMember{}); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testTeamSummaries: the operator's list of teams, searched by name
// ignoring case (LIKE wildcards taken literally), with each team's counts
// and owners, cut at the limit.
func testTeamSummaries(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b, c := newAccount(t, s, "alice"), newAccount(t, s, "bob"), newAccount(t, s, "carol")
	activeFactor(t, s, a.ID, "fa", 1, "a")
	newFactor(t, s, b.ID, "fb") // pending: bob has no active factor
	if got, err := s.TeamSummaries(ctx, "", "", "", 10); err != nil || len(got) != 0 {
		t.Fatalf("no teams: got %+v, %v", got, err)
	}
	for _, tm := range []twofold.Team{
		{ID: "t1", Name: "Acme hosting", RequireTwoFactor: true, CreatedAt: t0},
		{ID: "t2", Name: "Night_crew", CreatedAt: t0},
		{ID: "t3", Name: "Nightly builds", CreatedAt: t0},
	} {
		if err := s.CreateTeam(ctx, tm, a.ID, 100); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range []struct {
		team, account string
		role          twofold.Role
	}{{"t1", b.ID, twofold.RoleOwner}, {"t1", c.ID, twofold.RoleOps}, {"t2", b.ID, twofold.RoleReadOnly}} {
		if err := s.AddTeamMember(ctx, m.team, m.account, m.role, t0); err != nil {
			t.Fatal(err)
		}
	}
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "example.org")
	for _, z := range []string{"example.com", "example.org"} {
		if _, err := s.SetZoneTeam(ctx, z, "t1", twofold.TeamMember{}); err != nil {
			t.Fatal(err)
		}
	}

	got, err := s.TeamSummaries(ctx, "ACME", "", "", 10)
	if err != nil {
		t.Fatal(err)
	}
	owner := func(acct twofold.Account) twofold.TeamMember {
		return twofold.TeamMember{TeamID: "t1", AccountID: acct.ID, Username: acct.Username, Role: twofold.RoleOwner, CreatedAt: t0}
	}
	want := []twofold.TeamSummary{{
		Team:    twofold.Team{ID: "t1", Name: "Acme hosting", RequireTwoFactor: true, CreatedAt: t0},
		Members: 3, WithoutFactor: 2, Zones: 2,
		Owners: []twofold.TeamMember{owner(a), owner(b)},
	}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("TeamSummaries(ACME) (-want +got):\n%s", diff)
	}
	// A team of the same name as another comes after it, by id.
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t0", Name: "Night_crew", CreatedAt: t0}, a.ID, 100); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		query              string
		afterName, afterID string
		limit              int
		want               []string
	}{
		{"", "", "", 10, []string{"Acme hosting", "Night_crew", "Night_crew", "Nightly builds"}},
		{"night", "", "", 10, []string{"Night_crew", "Night_crew", "Nightly builds"}},
		{"t_c", "", "", 10, []string{"Night_crew", "Night_crew"}}, // _ is no wildcard
		{"%", "", "", 10, nil},
		{"", "", "", 2, []string{"Acme hosting", "Night_crew"}},
		{"", "Acme hosting", "t1", 2, []string{"Night_crew", "Night_crew"}},
		{"", "Night_crew", "t0", 10, []string{"Night_crew", "Nightly builds"}},
		{"", "Night_crew", "t2", 1, []string{"Nightly builds"}},
		{"night", "Acme", "t9", 1, []string{"Night_crew"}}, // a cursor need not name a team
		{"", "Nightly builds", "t3", 10, nil},
	} {
		got, err := s.TeamSummaries(ctx, tt.query, tt.afterName, tt.afterID, tt.limit)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, ts := range got {
			names = append(names, ts.Team.Name)
			if len(ts.Owners) != map[string]int{"t0": 1, "t1": 2, "t2": 1, "t3": 1}[ts.Team.ID] {
				t.Errorf("query %q: team %s has owners %+v", tt.query, ts.Team.ID, ts.Owners)
			}
		}
		if diff := cmp.Diff(tt.want, names); diff != "" {
			t.Errorf("TeamSummaries(%q, after %q %q, %d) (-want +got):\n%s", tt.query, tt.afterName, tt.afterID, tt.limit, diff)
		}
	}
}

// testTeamRemovedMemberTakesZones: a member removed from a team takes the
// zones they shared with it along, in the same transaction; the zones of
// others, and the member's zones shared with other teams, stay shared; a
// refused removal unshares nothing; and a share that runs after the
// removal is a conflict.
func testTeamRemovedMemberTakesZones(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	for _, id := range []string{"t1", "t2"} {
		if err := s.CreateTeam(ctx, twofold.Team{ID: id, Name: "Team " + id, CreatedAt: t0}, a.ID, 100); err != nil {
			t.Fatal(err)
		}
		if err := s.AddTeamMember(ctx, id, b.ID, twofold.RoleAdmin, t0); err != nil {
			t.Fatal(err)
		}
	}
	for zone, owner := range map[string]string{"alice.com": a.ID, "bob.net": b.ID, "bob.org": b.ID, "bob-elsewhere.net": b.ID} {
		newZone(t, s, owner, zone)
		team := "t1"
		if zone == "bob-elsewhere.net" {
			team = "t2"
		}
		if _, err := s.SetZoneTeam(ctx, zone, team, twofold.TeamMember{}); err != nil {
			t.Fatal(err)
		}
	}
	// Alice is the last owner: refused, and her zone stays shared.
	if _, unshared, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: a.ID}, twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict || unshared != nil {
		t.Fatalf("remove the last owner: got %v, %v, want a conflict and nothing unshared", unshared, err)
	}
	role, unshared, err := s.RemoveTeamMember(ctx, "t1", twofold.TeamMember{AccountID: b.ID}, twofold.TeamMember{})
	if err != nil || role != twofold.RoleAdmin {
		t.Fatalf("remove bob: got %v, %v", role, err)
	}
	if diff := cmp.Diff([]string{"bob.net", "bob.org"}, unshared); diff != "" {
		t.Errorf("unshared (-want +got):\n%s", diff)
	}
	for zone, want := range map[string]string{"alice.com": "t1", "bob.net": "", "bob.org": "", "bob-elsewhere.net": "t2"} {
		z, err := s.Zone(ctx, zone)
		if err != nil {
			t.Fatal(err)
		}
		if z.TeamID != want {
			t.Errorf("zone %s: shared with %q, want %q", zone, z.TeamID, want)
		}
	}
	// A share that runs after the removal (its manager check passed
	// before) shares nothing: bob is no longer a member of t1.
	if _, err := s.SetZoneTeam(ctx, "bob.net", "t1", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("share with a team the owner left: got %v, want a conflict", err)
	}
	if z, err := s.Zone(ctx, "bob.net"); err != nil || z.TeamID != "" {
		t.Fatalf("bob.net after the refused share: got %+v, %v, want it unshared", z, err)
	}
	if _, err := s.SetZoneTeam(ctx, "nothing.example", "t1", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("share no zone: got %v, want not-found", err)
	}
	if _, err := s.SetZoneTeam(ctx, "bob.net", "t2", twofold.TeamMember{}); err != nil {
		t.Fatalf("share with a team bob is in: %v", err)
	}
	// Unsharing from a team names it: the zone is taken from that team
	// only, never from another it was moved to since.
	if err := s.UnshareZone(ctx, "bob.net", "t1", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("unshare from a team the zone is not shared with: got %v, want not-found", err)
	}
	if z, err := s.Zone(ctx, "bob.net"); err != nil || z.TeamID != "t2" {
		t.Fatalf("bob.net after unsharing it from t1: got %+v, %v, want it shared with t2 still", z, err)
	}
	if err := s.UnshareZone(ctx, "bob.net", "t2", twofold.TeamMember{}); err != nil {
		t.Fatalf("unshare: %v", err)
	}
	if z, err := s.Zone(ctx, "bob.net"); err != nil || z.TeamID != "" {
		t.Fatalf("bob.net after unsharing: got %+v, %v, want it unshared", z, err)
	}
	if err := s.UnshareZone(ctx, "bob.net", "t9", twofold.TeamMember{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("unshare from no team: got %v, want not-found", err)
	}
}

// testRaceTeamLimits: invitations accepted and teams created at once never
// pass the limits they were decided on, round after round: the members of
// a team, and the teams of an account, those it joins and those it
// creates counted together. Those past a limit are stale and write
// nothing.
func testRaceTeamLimits(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	invitees := make([]twofold.Account, racers)
	for i := range invitees {
		invitees[i] = newAccount(t, s, fmt.Sprintf("user%d", i))
	}
	invite := func(id, teamID string, to twofold.Account) {
		t.Helper()
		v := invitation(id, to.Username, to.ID, a.ID, twofold.RoleOps)
		v.TeamID = teamID
		if err := s.CreateTeamInvitation(ctx, v, to.Username, racers, twofold.TeamMember{}); err != nil {
			t.Fatal(err)
		}
	}
	won := func(err error) (bool, error) {
		if errors.Is(err, twofold.ErrStale) {
			return false, nil
		}
		return err == nil, err
	}
	const maxMembers = 4 // alice and three of the racers
	for round := range rounds {
		teamID := fmt.Sprintf("m%d", round)
		if err := s.CreateTeam(ctx, twofold.Team{ID: teamID, Name: teamID, CreatedAt: t0}, a.ID, 1000); err != nil {
			t.Fatal(err)
		}
		id := func(i int) string { return fmt.Sprintf("%s-%d", teamID, i) }
		for i, v := range invitees {
			invite(id(i), teamID, v)
		}
		wins := race(t, func(i int) (bool, error) {
			_, err := s.AcceptTeamInvitation(ctx, id(i), invitees[i].ID, t0, twofold.TeamMember{}, false, 1000, maxMembers)
			return won(err)
		})
		members, err := s.TeamMembers(ctx, teamID)
		if err != nil {
			t.Fatal(err)
		}
		if wins != maxMembers-1 || len(members) != maxMembers {
			t.Fatalf("round %d: %d of %d acceptances won and the team has %d members, want %d and %d (its limit)",
				round, wins, racers, len(members), maxMembers-1, maxMembers)
		}
	}
	const maxTeams = 3
	for round := range rounds {
		x := newAccount(t, s, fmt.Sprintf("xavier%d", round))
		id := func(i int) string { return fmt.Sprintf("x%d-%d", round, i) }
		for i := 0; i < racers; i += 2 {
			if err := s.CreateTeam(ctx, twofold.Team{ID: id(i), Name: id(i), CreatedAt: t0}, a.ID, 1000); err != nil {
				t.Fatal(err)
			}
			invite(id(i), id(i), x)
		}
		// Half join alice's teams, half create their own.
		wins := race(t, func(i int) (bool, error) {
			if i%2 == 0 {
				_, err := s.AcceptTeamInvitation(ctx, id(i), x.ID, t0, twofold.TeamMember{}, false, maxTeams, 1000)
				return won(err)
			}
			return won(s.CreateTeam(ctx, twofold.Team{ID: id(i), Name: id(i), CreatedAt: t0}, x.ID, maxTeams))
		})
		ms, err := s.Memberships(ctx, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if wins != maxTeams || len(ms) != maxTeams {
			t.Fatalf("round %d: %d of %d joins and creations won and the account is in %d teams, want %d (its limit)",
				round, wins, racers, len(ms), maxTeams)
		}
	}
}
