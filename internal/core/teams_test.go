package core_test

import (
	"context"
	"encoding/base32"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// teamRaceStore is a real store that runs hook, once armed, just before
// the next call of the method named on. Every change of a team the service
// writes in a transaction of its own, which checks the caller first: it is
// raced at InTx, outside it, after the service read the team and decided
// on the change, before the store writes it.
type teamRaceStore struct {
	*store.Store
	armedHook
	on string
}

func (s *teamRaceStore) fire(method string) {
	if method == s.on {
		s.trip()
	}
}

func (s *teamRaceStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	s.fire("InTx")
	return s.Store.InTx(ctx, fn)
}

// withFactor gives a's account an active HOTP factor and returns a with an
// elevated session.
func withFactor(t *testing.T, svc *core.Service, a core.Auth) core.Auth {
	t.Helper()
	ctx := t.Context()
	e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorHOTP, Label: "fob"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(e.Secret))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, otp.HOTP(secret, 0, otp.SHA1, 6), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	a.Session.ElevatedUntil = time.Now().Add(time.Hour)
	return a
}

// teamFixture is a team "ops" of owner ada (with a factor, elevated) and,
// by invitation, the members given with their roles.
type teamFixture struct {
	svc    *core.Service
	clock  *testenv.Clock
	st     testDB
	rs     *teamRaceStore
	teamID string
	users  map[string]core.Auth
}

func newTeamFixture(t *testing.T, dsn string, members ...string) teamFixture {
	t.Helper()
	ctx := t.Context()
	st := openStore(t, dsn)
	rs := &teamRaceStore{Store: st.Store}
	clock := testenv.NewClock(time.Now())
	svc := newService(t, rs, st, clock.Now, nil)
	f := teamFixture{svc: svc, clock: clock, st: st, rs: rs, users: map[string]core.Auth{}}
	f.users["ada"] = withFactor(t, svc, signedIn(t, svc, "ada"))
	tm, err := svc.CreateTeam(ctx, f.users["ada"], "ops", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	f.teamID = tm.ID
	for _, m := range members {
		name, role, _ := strings.Cut(m, ":")
		f.users[name] = signedIn(t, svc, name)
		f.join(t, name, role)
	}
	return f
}

// join invites name with role, by ada, and accepts.
func (f teamFixture) join(t *testing.T, name, role string) {
	t.Helper()
	v, err := f.svc.InviteTeamMember(t.Context(), f.users["ada"], f.teamID, name, role, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptTeamInvitation(t.Context(), f.users[name], v.ID, core.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// race arms the store to run hook just before the next call of method.
func (f teamFixture) race(t *testing.T, method string, hook func()) {
	f.rs.on = method
	f.rs.hook = func() {
		hook()
		f.rs.hook = nil
	}
	f.rs.armed.Store(true)
	t.Cleanup(func() {
		if f.rs.armed.Load() {
			t.Error("fixture: the racing change never ran")
		}
	})
}

// roles returns the team's members by name with their roles.
func (f teamFixture) roles(t *testing.T) map[string]twofold.Role {
	t.Helper()
	v, err := f.svc.Team(t.Context(), f.users["ada"], f.teamID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]twofold.Role{}
	for _, m := range v.Members {
		out[m.Username] = m.Role
	}
	return out
}

// TestRenameKeepsPolicy: an owner's rename that read the team just before
// another owner required two-factor of its members leaves the policy on: a
// rename writes the name only, never the policy as it was read.
func TestRenameKeepsPolicy(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newTeamFixture(t, dsn(t), "bob:owner") // bob: password only, not elevated
			on, renamed := true, "ops-renamed"
			f.race(t, "InTx", func() {
				if _, _, err := f.svc.UpdateTeam(ctx, f.users["ada"], f.teamID, core.TeamChange{RequireTwoFactor: &on}, core.Meta{}); err != nil {
					t.Errorf("ada requires two-factor: %v", err)
				}
			})
			// As a settings form sends it: the policy as bob saw it, and a
			// new name.
			off := false
			got, _, err := f.svc.UpdateTeam(ctx, f.users["bob"], f.teamID, core.TeamChange{Name: &renamed, RequireTwoFactor: &off}, core.Meta{})
			if err != nil {
				t.Fatalf("bob renames: %v", err)
			}
			if !got.RequireTwoFactor || got.Name != renamed {
				t.Errorf("bob's rename answered %+v, want the new name with the policy on", got)
			}
			v, err := f.svc.Team(ctx, f.users["ada"], f.teamID)
			if err != nil {
				t.Fatal(err)
			}
			if !v.Team.RequireTwoFactor || v.Team.Name != renamed {
				t.Errorf("team after both changes: %+v, want renamed with two-factor required", v.Team)
			}
			for _, who := range []string{"ada", "bob"} {
				events, err := f.st.Events(ctx, f.users[who].Account.ID, 0, 50)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range events {
					if e.Type == "team.two_factor_not_required" {
						t.Errorf("%s's log has %s: %s", who, e.Type, e.Detail)
					}
				}
			}
		})
	}
}

// TestSamePolicyTwiceToldOnce: two owners requiring two-factor at once
// change it once, and it is recorded once.
func TestSamePolicyTwiceToldOnce(t *testing.T) {
	ctx := t.Context()
	f := newTeamFixture(t, testenv.SQLiteDSN(t), "bob:owner")
	bob := withFactor(t, f.svc, f.users["bob"])
	on := true
	f.race(t, "InTx", func() {
		if _, _, err := f.svc.UpdateTeam(ctx, bob, f.teamID, core.TeamChange{RequireTwoFactor: &on}, core.Meta{}); err != nil {
			t.Errorf("bob requires two-factor: %v", err)
		}
	})
	if _, _, err := f.svc.UpdateTeam(ctx, f.users["ada"], f.teamID, core.TeamChange{RequireTwoFactor: &on}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, who := range []core.Auth{f.users["ada"], bob} {
		events, err := f.st.Events(ctx, who.Account.ID, 0, 50)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			if e.Type == "team.two_factor_required" {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("team.two_factor_required recorded %d times, want once", n)
	}
}

// TestTeamChangesDecidedOnRoles: a change of a team's members is checked
// against the roles as they are when it is written. One that raced another
// change gets the answer it would have had after it, and changes nothing
// it may not.
func TestTeamChangesDecidedOnRoles(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			tests := []struct {
				name    string
				members []string
				// meanwhile runs between the checks of change and its write.
				meanwhile func(f teamFixture) error
				at        string // the store method before which it runs
				change    func(f teamFixture) error
				want      twofold.Code
				roles     map[string]twofold.Role
			}{
				{
					name:    "admin demotes a member made owner meanwhile",
					members: []string{"cat:admin", "dan:ops"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, "dan", "owner", core.Meta{})
						return err
					},
					change: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["cat"], f.teamID, "dan", "read-only", core.Meta{})
						return err
					},
					want:  twofold.CodeForbidden,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin, "dan": twofold.RoleOwner},
				},
				{
					name:    "admin removes a member made owner meanwhile",
					members: []string{"cat:admin", "dan:ops"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, "dan", "owner", core.Meta{})
						return err
					},
					change: func(f teamFixture) error {
						return f.svc.RemoveTeamMember(t.Context(), f.users["cat"], f.teamID, "dan", core.Meta{})
					},
					want:  twofold.CodeForbidden,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin, "dan": twofold.RoleOwner},
				},
				{
					name:    "admin demoted meanwhile changes a role",
					members: []string{"cat:admin", "dan:ops"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, "cat", "ops", core.Meta{})
						return err
					},
					change: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["cat"], f.teamID, "dan", "read-only", core.Meta{})
						return err
					},
					want:  twofold.CodeForbidden,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps, "dan": twofold.RoleOps},
				},
				{
					name:    "admin removed meanwhile removes a member",
					members: []string{"cat:admin", "dan:ops"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						return f.svc.RemoveTeamMember(t.Context(), f.users["ada"], f.teamID, "cat", core.Meta{})
					},
					change: func(f teamFixture) error {
						return f.svc.RemoveTeamMember(t.Context(), f.users["cat"], f.teamID, "dan", core.Meta{})
					},
					want:  twofold.CodeNotFound,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "dan": twofold.RoleOps},
				},
				{
					name:    "owner demoted meanwhile renames the team",
					members: []string{"bob:owner"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, "bob", "ops", core.Meta{})
						return err
					},
					change: func(f teamFixture) error {
						renamed := "bob's team"
						_, _, err := f.svc.UpdateTeam(t.Context(), f.users["bob"], f.teamID, core.TeamChange{Name: &renamed}, core.Meta{})
						return err
					},
					want:  twofold.CodeForbidden,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "bob": twofold.RoleOps},
				},
				{
					// Reordered as it ran, the change is still allowed.
					name:    "admin's change of a member whose other change came first",
					members: []string{"cat:admin", "dan:ops"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, "dan", "billing", core.Meta{})
						return err
					},
					change: func(f teamFixture) error {
						_, _, err := f.svc.SetTeamRole(t.Context(), f.users["cat"], f.teamID, "dan", "read-only", core.Meta{})
						return err
					},
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin, "dan": twofold.RoleReadOnly},
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					f := newTeamFixture(t, dsn(t), tt.members...)
					f.race(t, tt.at, func() {
						if err := tt.meanwhile(f); err != nil {
							t.Errorf("the change meanwhile: %v", err)
						}
					})
					err := tt.change(f)
					if got := twofold.ErrorCode(err); (tt.want == "" && err != nil) || (tt.want != "" && got != tt.want) {
						t.Errorf("got %v, want code %q", err, tt.want)
					}
					if got := f.roles(t); !mapsEqual(got, tt.roles) {
						t.Errorf("members after: got %v, want %v", got, tt.roles)
					}
				})
			}
		})
	}
}

func mapsEqual(a, b map[string]twofold.Role) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestInvitationOfInviterDemotedMeanwhile: an invitation whose inviter is
// demoted, as its invitee accepts, out of the right to give its role is
// void: the invitee does not join.
func TestInvitationOfInviterDemotedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newTeamFixture(t, dsn(t), "cat:admin")
			f.users["dan"] = signedIn(t, f.svc, "dan")
			v, err := f.svc.InviteTeamMember(ctx, f.users["cat"], f.teamID, "dan", "admin", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			f.race(t, "InTx", func() {
				if _, _, err := f.svc.SetTeamRole(ctx, f.users["ada"], f.teamID, "cat", "ops", core.Meta{}); err != nil {
					t.Errorf("ada demotes cat: %v", err)
				}
			})
			if _, err := f.svc.AcceptTeamInvitation(ctx, f.users["dan"], v.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Errorf("accepting an invitation of an inviter demoted meanwhile: got %v, want a conflict", err)
			}
			want := map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps}
			if got := f.roles(t); !mapsEqual(got, want) {
				t.Errorf("members after: got %v, want %v", got, want)
			}
		})
	}
}

// TestTeamWritesDecidedOnRoles: deleting the team, sharing a zone with it
// or unsharing one, inviting to it and revoking an invitation are checked
// against the caller's role (and the zone's team) as they are when they are
// written: a caller demoted or removed meanwhile gets the answer they would
// have had after it, and nothing is written.
func TestTeamWritesDecidedOnRoles(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			demote := func(who, role string) func(f teamFixture) error {
				return func(f teamFixture) error {
					_, _, err := f.svc.SetTeamRole(t.Context(), f.users["ada"], f.teamID, who, role, core.Meta{})
					return err
				}
			}
			share := func(f teamFixture) error {
				_, err := f.svc.ShareZone(t.Context(), f.users["cat"], "cat.example", f.teamID, core.Meta{})
				return err
			}
			// adaShares shares ada's zone with the team; other is a second
			// team of ada's, made by adaShares too.
			var other string
			adaShares := func(f teamFixture) {
				ctx := t.Context()
				if _, err := f.svc.AddZone(ctx, "ada.example", "ada", core.Meta{}); err != nil {
					t.Fatal(err)
				}
				if _, err := f.svc.ShareZone(ctx, f.users["ada"], "ada.example", f.teamID, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				tm, err := f.svc.CreateTeam(ctx, f.users["ada"], "ops2", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				other = tm.ID
			}
			unshare := func(f teamFixture) error {
				return f.svc.UnshareZone(t.Context(), f.users["cat"], "ada.example", f.teamID, core.Meta{})
			}
			// invitations returns the usernames invited to the team.
			invitations := func(f teamFixture) []string {
				vs, err := f.svc.TeamInvitations(t.Context(), f.users["ada"], f.teamID)
				if err != nil {
					t.Fatal(err)
				}
				var out []string
				for _, v := range vs {
					out = append(out, v.Username)
				}
				return out
			}
			tests := []struct {
				name    string
				members []string
				// setup runs before; meanwhile between the checks of change
				// and its write, at the store method named.
				setup     func(f teamFixture)
				at        string
				meanwhile func(f teamFixture) error
				change    func(f teamFixture) error
				want      twofold.Code
				// after checks what change left, besides the roles.
				after func(t *testing.T, f teamFixture)
				roles map[string]twofold.Role
			}{
				{
					name:      "owner demoted meanwhile deletes the team",
					members:   []string{"bob:owner"},
					at:        "InTx",
					meanwhile: demote("bob", "admin"),
					change: func(f teamFixture) error {
						return f.svc.DeleteTeam(t.Context(), f.users["bob"], f.teamID, core.Meta{})
					},
					want:  twofold.CodeForbidden,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "bob": twofold.RoleAdmin},
				},
				{
					name:    "owner removed meanwhile deletes the team",
					members: []string{"bob:owner"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						return f.svc.RemoveTeamMember(t.Context(), f.users["ada"], f.teamID, "bob", core.Meta{})
					},
					change: func(f teamFixture) error {
						return f.svc.DeleteTeam(t.Context(), f.users["bob"], f.teamID, core.Meta{})
					},
					want:  twofold.CodeNotFound,
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner},
				},
				{
					name:      "admin demoted meanwhile shares a zone",
					members:   []string{"cat:admin"},
					at:        "InTx",
					meanwhile: demote("cat", "ops"),
					change:    share,
					want:      twofold.CodeForbidden,
					after:     func(t *testing.T, f teamFixture) { wantZoneTeam(t, f, "cat.example", "") },
					roles:     map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps},
				},
				{
					name:    "admin removed meanwhile shares a zone",
					members: []string{"cat:admin"},
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						return f.svc.RemoveTeamMember(t.Context(), f.users["ada"], f.teamID, "cat", core.Meta{})
					},
					change: share,
					want:   twofold.CodeNotFound,
					after:  func(t *testing.T, f teamFixture) { wantZoneTeam(t, f, "cat.example", "") },
					roles:  map[string]twofold.Role{"ada": twofold.RoleOwner},
				},
				{
					name:      "admin demoted meanwhile unshares a zone",
					members:   []string{"cat:admin"},
					setup:     adaShares,
					at:        "InTx",
					meanwhile: demote("cat", "ops"),
					change:    unshare,
					want:      twofold.CodeForbidden, // ops sees the team's zones, and is told its role may not
					after:     func(t *testing.T, f teamFixture) { wantZoneTeam(t, f, "ada.example", f.teamID) },
					roles:     map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps},
				},
				{
					name:    "admin unshares a zone moved meanwhile to another team",
					members: []string{"cat:admin"},
					setup:   adaShares,
					at:      "InTx",
					meanwhile: func(f teamFixture) error {
						_, err := f.svc.ShareZone(t.Context(), f.users["ada"], "ada.example", other, core.Meta{})
						return err
					},
					change: unshare,
					want:   twofold.CodeNotFound,
					after:  func(t *testing.T, f teamFixture) { wantZoneTeam(t, f, "ada.example", other) },
					roles:  map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin},
				},
				{
					name:      "admin demoted meanwhile invites",
					members:   []string{"cat:admin"},
					at:        "InTx",
					meanwhile: demote("cat", "ops"),
					change: func(f teamFixture) error {
						_, err := f.svc.InviteTeamMember(t.Context(), f.users["cat"], f.teamID, "eve", "ops", core.Meta{})
						return err
					},
					want: twofold.CodeForbidden,
					after: func(t *testing.T, f teamFixture) {
						if got := invitations(f); len(got) != 0 {
							t.Errorf("invitations after: got %v, want none", got)
						}
					},
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps},
				},
				{
					name:      "owner made admin meanwhile invites an owner",
					members:   []string{"cat:owner"},
					at:        "InTx",
					meanwhile: demote("cat", "admin"),
					change: func(f teamFixture) error {
						_, err := f.svc.InviteTeamMember(t.Context(), f.users["cat"], f.teamID, "eve", "owner", core.Meta{})
						return err
					},
					want: twofold.CodeForbidden,
					after: func(t *testing.T, f teamFixture) {
						if got := invitations(f); len(got) != 0 {
							t.Errorf("invitations after: got %v, want none", got)
						}
					},
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleAdmin},
				},
				{
					name:    "admin demoted meanwhile revokes an invitation",
					members: []string{"cat:admin"},
					setup: func(f teamFixture) {
						if _, err := f.svc.InviteTeamMember(t.Context(), f.users["ada"], f.teamID, "eve", "ops", core.Meta{}); err != nil {
							t.Fatal(err)
						}
					},
					at:        "InTx",
					meanwhile: demote("cat", "ops"),
					change: func(f teamFixture) error {
						vs, err := f.svc.TeamInvitations(t.Context(), f.users["cat"], f.teamID)
						if err != nil || len(vs) != 1 {
							t.Fatalf("invitations cat sees: got %+v, %v, want one", vs, err)
						}
						return f.svc.RevokeTeamInvitation(t.Context(), f.users["cat"], f.teamID, vs[0].ID, core.Meta{})
					},
					want: twofold.CodeForbidden,
					after: func(t *testing.T, f teamFixture) {
						if got := invitations(f); len(got) != 1 || got[0] != "eve" {
							t.Errorf("invitations after: got %v, want eve's still", got)
						}
					},
					roles: map[string]twofold.Role{"ada": twofold.RoleOwner, "cat": twofold.RoleOps},
				},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					f := newTeamFixture(t, dsn(t), tt.members...)
					if _, ok := f.users["cat"]; ok {
						if _, err := f.svc.AddZone(t.Context(), "cat.example", "cat", core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
					if tt.setup != nil {
						tt.setup(f)
					}
					f.race(t, tt.at, func() {
						if err := tt.meanwhile(f); err != nil {
							t.Errorf("the change meanwhile: %v", err)
						}
					})
					if err := tt.change(f); twofold.ErrorCode(err) != tt.want {
						t.Errorf("got %v, want code %q", err, tt.want)
					}
					if got := f.roles(t); !mapsEqual(got, tt.roles) {
						t.Errorf("members after: got %v, want %v", got, tt.roles)
					}
					if tt.after != nil {
						tt.after(t, f)
					}
				})
			}
		})
	}
}

// wantZoneTeam checks the team the zone is shared with ("" for none).
func wantZoneTeam(t *testing.T, f teamFixture, zone, teamID string) {
	t.Helper()
	z, err := f.st.Zone(t.Context(), zone)
	if err != nil {
		t.Fatal(err)
	}
	if z.TeamID != teamID {
		t.Errorf("zone %s shared with %q, want %q", zone, z.TeamID, teamID)
	}
}

// TestTeamLimitCheckedAsWritten: an account one team short of its limit
// that joins a team and creates one at once ends at the limit, whichever
// comes first: the other, checked on what is there after it, is refused.
func TestTeamLimitCheckedAsWritten(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			for _, tt := range []struct {
				name   string
				accept bool // the change raced is the acceptance, else the creation
			}{
				{"team created as an invitation is accepted", true},
				{"invitation accepted as a team is created", false},
			} {
				t.Run(tt.name, func(t *testing.T) {
					ctx := t.Context()
					f := newTeamFixture(t, dsn(t))
					bob := signedIn(t, f.svc, "bob")
					for i := range core.MaxTeamsPerAccount - 1 {
						f.clock.Add(10 * time.Minute) // a team more an account may create
						if _, err := f.svc.CreateTeam(ctx, bob, fmt.Sprintf("bob's %d", i), core.Meta{}); err != nil {
							t.Fatal(err)
						}
					}
					f.clock.Add(time.Hour)
					ada := f.users["ada"]
					ada.Session.ElevatedUntil = f.clock.Now().Add(time.Hour)
					f.users["ada"] = ada
					v, err := f.svc.InviteTeamMember(ctx, f.users["ada"], f.teamID, "bob", "ops", core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					accept := func() error {
						_, err := f.svc.AcceptTeamInvitation(ctx, bob, v.ID, core.Meta{})
						return err
					}
					create := func() error {
						_, err := f.svc.CreateTeam(ctx, bob, "one more", core.Meta{})
						return err
					}
					change, meanwhile := create, accept
					if tt.accept {
						change, meanwhile = accept, create
					}
					f.race(t, "InTx", func() { // the change's transaction
						if err := meanwhile(); err != nil {
							t.Errorf("the change meanwhile: %v", err)
						}
					})
					if err := change(); twofold.ErrorCode(err) != twofold.CodeConflict {
						t.Errorf("the change past the limit: got %v, want a conflict", err)
					}
					ms, err := f.svc.Teams(ctx, bob)
					if err != nil {
						t.Fatal(err)
					}
					if len(ms) != core.MaxTeamsPerAccount {
						t.Errorf("bob is in %d teams, want %d (the limit)", len(ms), core.MaxTeamsPerAccount)
					}
				})
			}
		})
	}
}

// TestInvitationFromManagerPolicyKeepsOut: a team that requires two-factor
// is managed only by managers its policy admits, and an invitation from one
// it keeps out lets nobody in: made by a manager without a factor, or
// before the manager had one (from a session that passed none), it is void
// once the team requires two-factor, also when the policy is turned on as
// the invitee accepts. The invitee is told why, and both audit logs say
// so. An invitation the policy admits still stands.
func TestInvitationFromManagerPolicyKeepsOut(t *testing.T) {
	cases := []struct {
		name string
		// before runs after cat's invitation, before dan answers; race, if
		// set, as dan accepts.
		before, race func(t *testing.T, f teamFixture)
		// catFactor gives cat a factor (elevated) before inviting.
		catFactor bool
		want      twofold.Code // "" for joined
	}{
		{name: "no factor, policy turned on", before: policyOn, want: twofold.CodeConflict},
		{name: "factor added after inviting", before: func(t *testing.T, f teamFixture) {
			f.clock.Add(time.Minute)
			f.users["cat"] = withFactor(t, f.svc, f.users["cat"])
			policyOn(t, f)
		}, want: twofold.CodeConflict},
		{name: "policy turned on as the invitee accepts", race: policyOn, want: twofold.CodeConflict},
		{name: "no factor, no policy", want: ""},
		{name: "factor before inviting, policy turned on", catFactor: true, before: policyOn, want: ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for name, dsn := range testenv.DSNs(t) {
				t.Run(name, func(t *testing.T) {
					ctx := t.Context()
					f := newTeamFixture(t, dsn(t), "cat:admin")
					if tc.catFactor {
						f.users["cat"] = withFactor(t, f.svc, f.users["cat"])
					}
					f.users["dan"] = signedIn(t, f.svc, "dan")
					v, err := f.svc.InviteTeamMember(ctx, f.users["cat"], f.teamID, "dan", "ops", core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if tc.before != nil {
						tc.before(t, f)
					}
					if tc.race != nil {
						f.race(t, "InTx", func() { tc.race(t, f) })
					}
					_, err = f.svc.AcceptTeamInvitation(ctx, f.users["dan"], v.ID, core.Meta{})
					if twofold.ErrorCode(err) != tc.want && !(tc.want == "" && err == nil) {
						t.Fatalf("accept: got %v, want %q", err, tc.want)
					}
					_, joined := f.roles(t)["dan"]
					if joined != (tc.want == "") {
						t.Fatalf("dan joined: %v, want %v", joined, tc.want == "")
					}
					if tc.want == "" {
						return
					}
					if msg := err.Error(); !strings.Contains(msg, "requires two-factor") || !strings.Contains(msg, "cat") {
						t.Errorf("the invitee is told %q: want the team's policy and the inviter named", msg)
					}
					// Void: gone, not to be accepted later.
					if _, err := f.svc.AcceptTeamInvitation(ctx, f.users["dan"], v.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
						t.Errorf("accepting again: got %v, want not-found", err)
					}
					for _, who := range []string{"dan", "cat"} {
						if d := eventDetail(t, f, who, "team.invitation_void"); !strings.Contains(d, "requires two-factor") {
							t.Errorf("%s's team.invitation_void: %q", who, d)
						}
					}
				})
			}
		})
	}
}

// policyOn has ada turn on the team's two-factor policy.
func policyOn(t *testing.T, f teamFixture) {
	t.Helper()
	on := true
	if _, _, err := f.svc.UpdateTeam(t.Context(), f.users["ada"], f.teamID, core.TeamChange{RequireTwoFactor: &on}, core.Meta{}); err != nil {
		t.Errorf("ada requires two-factor: %v", err)
	}
}

// eventDetail returns the detail of the latest event of type typ on name's
// account, or "".
func eventDetail(t *testing.T, f teamFixture, name, typ string) string {
	t.Helper()
	evs, err := f.st.Store.Events(t.Context(), f.users[name].Account.ID, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == typ {
			return e.Detail
		}
	}
	return ""
}

// turnedOffMail is the subject of the mail that tells a holder two-factor
// login was turned off.
const turnedOffMail = "Twofold: two-factor login was turned off"

// mailedService opens dsn's store and a service on it whose notifications
// go to the mailLog returned.
func mailedService(t *testing.T, dsn string) (testDB, *mailLog, *core.Service) {
	t.Helper()
	st := openStore(t, dsn)
	mails := &mailLog{}
	return st, mails, newService(t, st.Store, st, time.Now, mails)
}

// mailLog records who each notification was queued for, with its subject.
type mailLog struct{ sent []string }

func (n *mailLog) Enqueue(_ context.Context, to, subject, _ string) error {
	n.sent = append(n.sent, to+": "+subject)
	return nil
}

// count counts the notifications queued for to with subject, given as
// "to: subject".
func (n *mailLog) count(line string) int {
	return len(slices.DeleteFunc(slices.Clone(n.sent), func(s string) bool { return s != line }))
}

func (n *mailLog) has(to, subject string) bool {
	for _, s := range n.sent {
		if s == to+": "+subject {
			return true
		}
	}
	return false
}

// teamRequiringTwoFactor is a team owner makes, then sets to require
// two-factor login of its members.
func teamRequiringTwoFactor(t *testing.T, svc *core.Service, owner core.Auth) twofold.Team {
	t.Helper()
	tm, err := svc.CreateTeam(t.Context(), owner, "ops", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	on := true
	if tm, _, err = svc.UpdateTeam(t.Context(), owner, tm.ID, core.TeamChange{RequireTwoFactor: &on}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return tm
}

// joinOwnChoiceOff signs name up with a factor and two-factor login turned
// off by their own choice (and told so by mail), and has them join the team at owner's
// invitation: their login asks for a second step only while the team
// requires it. It returns their password-only and elevated sessions.
func joinOwnChoiceOff(t *testing.T, svc *core.Service, owner core.Auth, teamID, name string) (plain, elevated core.Auth) {
	t.Helper()
	ctx := t.Context()
	plain = signedIn(t, svc, name)
	elevated = withFactor(t, svc, plain)
	if _, err := svc.SetTwoFactorRequired(ctx, elevated, false, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	v, err := svc.InviteTeamMember(ctx, owner, teamID, name, "read-only", core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.AcceptTeamInvitation(ctx, elevated, v.ID, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return plain, elevated
}

// TestLeavingTeamNeedsElevation: a member whose own choice leaves
// two-factor login off, in a team that requires it, cannot turn the second
// step at login off by leaving the team from a password-only session: that
// needs a fresh second factor, as turning it off by hand does (SPEC §1
// story 5). Leaving from an elevated session works, and the member is told
// as turning it off by hand tells them; so is a member an owner removes,
// and the members of a team that is deleted.
func TestLeavingTeamNeedsElevation(t *testing.T) {
	const off = turnedOffMail
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			_, mails, svc := mailedService(t, dsn(t))
			ada := withFactor(t, svc, signedIn(t, svc, "ada"))
			tm := teamRequiringTwoFactor(t, svc, ada)
			join := func(name string) (plain, elevated core.Auth) { return joinOwnChoiceOff(t, svc, ada, tm.ID, name) }
			asksSecondStep := func(name string) bool {
				t.Helper()
				res, err := svc.Login(ctx, name, testPassword, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				return !res.Authenticated
			}
			bob, bobElevated := join("bob")
			join("carol")
			mails.sent = nil // each turned two-factor login off, and was told
			if !asksSecondStep("bob") {
				t.Fatal("fixture: bob's login does not ask for a second factor while the team requires it")
			}

			err := svc.RemoveTeamMember(ctx, bob, tm.ID, "bob", core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeElevationRequired {
				t.Fatalf("bob leaves from a password-only session: %v, want %s", err, twofold.CodeElevationRequired)
			}
			if !asksSecondStep("bob") {
				t.Error("bob's login no longer asks for a second factor after a refused leave")
			}
			if mails.has("bob@example.com", off) {
				t.Error("bob was told two-factor login was turned off after a refused leave")
			}

			if err := svc.RemoveTeamMember(ctx, bobElevated, tm.ID, "bob", core.Meta{}); err != nil {
				t.Fatalf("bob leaves from an elevated session: %v", err)
			}
			if asksSecondStep("bob") {
				t.Error("bob's login still asks for a second factor after leaving the only team requiring it")
			}
			if !mails.has("bob@example.com", off) {
				t.Errorf("bob was not told two-factor login was turned off; mails: %q", mails.sent)
			}

			// An owner removing carol needs no session of hers, and tells her.
			if err := svc.RemoveTeamMember(ctx, ada, tm.ID, "carol", core.Meta{}); err != nil {
				t.Fatalf("ada removes carol: %v", err)
			}
			if !mails.has("carol@example.com", off) {
				t.Errorf("carol was not told two-factor login was turned off; mails: %q", mails.sent)
			}

			// Deleting the team tells its members it no longer holds to
			// two-factor login.
			join("dave")
			mails.sent = nil
			if err := svc.DeleteTeam(ctx, ada, tm.ID, core.Meta{}); err != nil {
				t.Fatalf("ada deletes the team: %v", err)
			}
			if !mails.has("dave@example.com", off) {
				t.Errorf("dave was not told two-factor login was turned off; mails: %q", mails.sent)
			}
		})
	}
}

// accountReadFailing is a real store whose AccountByID fails for one
// account once armed: a read that breaks in the middle of a write.
type accountReadFailing struct {
	*store.Store
	id atomic.Pointer[string]
}

func (s *accountReadFailing) AccountByID(ctx context.Context, id string) (twofold.Account, error) {
	if p := s.id.Load(); p != nil && *p == id {
		return twofold.Account{}, errors.New("fixture: the read broke")
	}
	return s.Store.AccountByID(ctx, id)
}

// TestDeletedTeamTellsEveryMemberOrNothing: deleting a team that required
// two-factor login tells each member whose login it lifts; when finding out
// whether it lifts a member's fails, the deletion fails as a whole and the
// team and its members stay, on either store, as a member's removal does.
// (It used to log the failure and delete the team untold; on PostgreSQL a
// failed read also aborts the transaction, so its commit failed anyway.)
func TestDeletedTeamTellsEveryMemberOrNothing(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			fs := &accountReadFailing{Store: st.Store}
			svc := newService(t, fs, st, time.Now, &mailLog{})
			ada := withFactor(t, svc, signedIn(t, svc, "ada"))
			tm := teamRequiringTwoFactor(t, svc, ada)
			_, dave := joinOwnChoiceOff(t, svc, ada, tm.ID, "dave")

			fs.id.Store(&dave.Account.ID)
			if err := svc.DeleteTeam(core.WithCaller(ctx, ada), ada, tm.ID, core.Meta{}); err == nil {
				t.Fatal("the team was deleted though whether it lifted dave's second step could not be told")
			}
			fs.id.Store(nil)
			if _, err := st.Team(ctx, tm.ID); err != nil {
				t.Fatalf("the team is gone after a failed deletion: %v", err)
			}
			members, err := st.TeamMembers(ctx, tm.ID)
			if err != nil || len(members) != 2 {
				t.Fatalf("members after a failed deletion: %d, %v; want ada and dave", len(members), err)
			}
		})
	}
}
