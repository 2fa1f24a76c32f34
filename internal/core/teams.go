package core

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// TeamStore is the storage of teams; Store includes it.
type TeamStore interface {
	// CreateTeam stores a team with its owner, both or neither. It is
	// decided on the owner belonging to fewer than maxTeams teams, as read:
	// when they belong to more by now, nothing is written and the error
	// wraps twofold.ErrStale.
	CreateTeam(ctx context.Context, t twofold.Team, owner string, maxTeams int) error
	Team(ctx context.Context, id string) (twofold.Team, error)
	// Memberships returns the account's teams with its role in each.
	Memberships(ctx context.Context, accountID string) ([]twofold.Membership, error)
	TeamMembers(ctx context.Context, teamID string) ([]twofold.TeamMember, error)
	// CreateTeamInvitation stores an invitation keyed by the invitee's
	// folded name; one pending for that name, or more than max pending in
	// the team, is a conflict. It is decided on by, the inviter as read,
	// as UpdateTeam.
	CreateTeamInvitation(ctx context.Context, v twofold.TeamInvitation, usernameKey string, max int, by twofold.TeamMember) error
	TeamInvitation(ctx context.Context, id string) (twofold.TeamInvitation, error)
	TeamInvitations(ctx context.Context, teamID string, now time.Time) ([]twofold.TeamInvitation, error)
	InvitationsFor(ctx context.Context, accountID string, now time.Time) ([]twofold.TeamInvitation, error)
	// AcceptTeamInvitation uses the account's invitation once, making it a
	// member; a member already is a conflict. It is decided on by, the
	// inviter as read, and on the account belonging to fewer than maxTeams
	// teams and the team having fewer than maxMembers members: when by's
	// role changed since, or a limit no longer holds, or, with
	// unlessRequired, the team requires two-factor, nothing is written and
	// the error wraps twofold.ErrStale.
	AcceptTeamInvitation(ctx context.Context, id, accountID string, now time.Time, by twofold.TeamMember, unlessRequired bool, maxTeams, maxMembers int) (twofold.TeamInvitation, error)
	// DeleteTeamInvitation deletes an invitation; when by has an account
	// it is decided on by as read, as UpdateTeam.
	DeleteTeamInvitation(ctx context.Context, id string, by twofold.TeamMember) error
	// DeleteInvitationsBy deletes every invitation the account made and
	// returns how many there were.
	DeleteInvitationsBy(ctx context.Context, inviterID string) (int64, error)
	// SetTeamRole and RemoveTeamMember refuse, as a conflict, to leave a
	// team without an owner; they return the member's role before. They
	// are decided on the member mem and the member by who makes the change
	// as read (a Role of "" for any, an AccountID of "" for no one): when
	// either changed since, nothing is written and the error wraps
	// twofold.ErrStale.
	SetTeamRole(ctx context.Context, teamID string, mem twofold.TeamMember, role twofold.Role, by twofold.TeamMember) (twofold.Role, error)
	// RemoveTeamMember also stops sharing with the team the zones the
	// member owns, in the same transaction, and returns their names.
	RemoveTeamMember(ctx context.Context, teamID string, mem, by twofold.TeamMember) (role twofold.Role, unshared []string, err error)
	// UpdateTeam changes the team's name and two-factor policy, each when
	// not nil, leaving the other as it is, and returns the team before and
	// after. It is decided on by as read, as SetTeamRole.
	UpdateTeam(ctx context.Context, teamID string, name *string, requireTwoFactor *bool, by twofold.TeamMember) (before, after twofold.Team, err error)
	// DeleteTeam is decided on by as read, as UpdateTeam; it returns the
	// accounts its deletion removed from the team.
	DeleteTeam(ctx context.Context, id string, by twofold.TeamMember) (members []string, err error)
	TeamsRequiringTwoFactor(ctx context.Context, accountID string) ([]string, error)
	// SetZoneTeam shares a zone with a team, and says whether that changed
	// anything (not when it was shared with the team already); it shares
	// only with a team the zone's owner is a member of as it runs, else it
	// is a conflict. It is decided on by as read, as UpdateTeam.
	SetZoneTeam(ctx context.Context, zone, teamID string, by twofold.TeamMember) (changed bool, err error)
	// UnshareZone stops sharing a zone with the team, and only with it: a
	// zone not shared with it is not-found. When by has an account it is
	// decided on by as read, as UpdateTeam.
	UnshareZone(ctx context.Context, zone, teamID string, by twofold.TeamMember) error
	TeamZones(ctx context.Context, teamID string) ([]twofold.Zone, error)
	// TeamSummaries returns up to limit teams whose name contains query,
	// with their counts and owners, by name and id, after the team named
	// afterName with id afterID ("" and "" for the first).
	TeamSummaries(ctx context.Context, query, afterName, afterID string, limit int) ([]twofold.TeamSummary, error)
}

// Limits of teams, so that one account cannot fill the database.
const (
	MaxTeamsPerAccount = 100
	MaxTeamMembers     = 1000
)

// TeamView is a team as one of its members sees it (SPEC §1 story 6).
type TeamView struct {
	Team    twofold.Team
	Role    twofold.Role // the caller's
	Members []twofold.TeamMember
	Zones   []string // the DNS zones shared with the team
	// Invitations are those waiting for an answer, shown to the team's
	// managers only.
	Invitations []twofold.TeamInvitation
}

// validateTeamName trims name and checks it is a name fit to show
// (checkName).
func validateTeamName(name string) (string, error) {
	if strings.TrimSpace(name) == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "the team needs a name").On("name")
	}
	name, ok := checkName(name)
	if !ok {
		return "", twofold.Errorf(twofold.CodeInvalid, "a team name must be at most 64 characters on one line, without control, invisible, filler, private-use or text-direction characters, and not only combining marks").On("name")
	}
	return name, nil
}

func parseRole(r string) (twofold.Role, error) {
	role := twofold.Role(strings.TrimSpace(r))
	if !role.Valid() {
		names := make([]string, len(twofold.Roles))
		for i, v := range twofold.Roles {
			names[i] = string(v)
		}
		return "", twofold.Errorf(twofold.CodeInvalid, "role must be one of %s", strings.Join(names, ", ")).On("role")
	}
	return role, nil
}

// takeTeamCreation takes one of the account's team creations: teams made
// and deleted in a loop would write without end, so a few at once, then
// one every teamCreateEvery; past them it answers throttled with the wait.
func (s *Service) takeTeamCreation(ctx context.Context, accountID string, now time.Time) error {
	key, limit := "team:create:"+accountID, SendLimit{Burst: teamCreateBurst, Every: teamCreateEvery}
	ok, err := s.store.TakeToken(ctx, key, teamCreateBurst, 1/teamCreateEvery.Seconds(), now)
	if err != nil || ok {
		return err
	}
	wait, err := s.nextToken(ctx, key, limit, now)
	if err != nil {
		return err
	}
	n := int(math.Ceil(wait.Minutes()))
	return throttled(wait, fmt.Sprintf("this account created too many teams at once; try again in %d %s", n, plural(n, "minute", "minutes")))
}

func errNoTeam() error { return twofold.Errorf(twofold.CodeNotFound, "no such team") }

// CreateTeam makes a team whose only member, its owner, is the caller.
func (s *Service) CreateTeam(ctx context.Context, a Auth, name string, m Meta) (twofold.Team, error) {
	if err := person(a); err != nil {
		return twofold.Team{}, err
	}
	name, err := validateTeamName(name)
	if err != nil {
		return twofold.Team{}, err
	}
	// The store creates the team only while the caller's teams are still
	// fewer than the limit: teams created or joined at once cannot pass it.
	// The team and its event in one transaction, which checks first that
	// the session still stands (WithCaller).
	return decideAgain(func() (twofold.Team, error) {
		ms, err := s.store.Memberships(ctx, a.Account.ID)
		if err != nil {
			return twofold.Team{}, err
		}
		if len(ms) >= MaxTeamsPerAccount {
			return twofold.Team{}, errTooManyTeams()
		}
		id, err := s.newID()
		if err != nil {
			return twofold.Team{}, err
		}
		t := twofold.Team{ID: id, Name: name, CreatedAt: s.Now()}
		err = s.inTx(ctx, func(ctx context.Context) error {
			// Taken in the transaction: a team refused for another
			// reason, or not stored, costs none.
			if err := s.takeTeamCreation(ctx, a.Account.ID, t.CreatedAt); err != nil {
				return err
			}
			if err := s.store.CreateTeam(ctx, t, a.Account.ID, MaxTeamsPerAccount); err != nil {
				return err
			}
			s.audit(ctx, a.Account.ID, "team.created", m, fmt.Sprintf("team %s %q", t.ID, t.Name))
			return nil
		})
		if err != nil {
			return twofold.Team{}, err
		}
		return t, nil
	})
}

func errTooManyTeams() error {
	return twofold.Errorf(twofold.CodeConflict, "an account may belong to at most %d teams: leave one first", MaxTeamsPerAccount)
}

// Teams returns the caller's teams with the caller's role in each.
func (s *Service) Teams(ctx context.Context, a Auth) ([]twofold.Membership, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	return s.store.Memberships(ctx, a.Account.ID)
}

// membership returns the team and the caller's role in it; a team the
// caller is not a member of is not found, as one that does not exist.
func (s *Service) membership(ctx context.Context, accountID, teamID string) (twofold.Membership, error) {
	ms, err := s.store.Memberships(ctx, accountID)
	if err != nil {
		return twofold.Membership{}, err
	}
	for _, mb := range ms {
		if mb.Team.ID == teamID {
			return mb, nil
		}
	}
	return twofold.Membership{}, errNoTeam()
}

// Team returns the team with its members and zones, for any of its members.
func (s *Service) Team(ctx context.Context, a Auth, teamID string) (TeamView, error) {
	if err := person(a); err != nil {
		return TeamView{}, err
	}
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if err != nil {
		return TeamView{}, err
	}
	v := TeamView{Team: mb.Team, Role: mb.Role, Zones: []string{}}
	if v.Members, err = s.store.TeamMembers(ctx, teamID); err != nil {
		return TeamView{}, err
	}
	if mb.Role.ManagesMembers() {
		// Not to a manager the team's policy keeps out, as TeamInvitations.
		err := s.teamPolicyAdmits(ctx, a, mb.Team, "manage it")
		if err != nil && twofold.ErrorCode(err) != twofold.CodeForbidden {
			return TeamView{}, err
		}
		if err == nil {
			if v.Invitations, err = s.store.TeamInvitations(ctx, teamID, s.Now()); err != nil {
				return TeamView{}, err
			}
		}
	}
	// The zones only to those who may reach them now: not billing, and not
	// a member the team's policy keeps out.
	if _, err := s.teamAccess(ctx, a, teamID, permit.Read); err != nil {
		if c := twofold.ErrorCode(err); c != twofold.CodeNotFound && c != twofold.CodeForbidden {
			return TeamView{}, err
		}
		return v, nil
	}
	zs, err := s.store.TeamZones(ctx, teamID)
	if err != nil {
		return TeamView{}, err
	}
	for _, z := range zs {
		v.Zones = append(v.Zones, z.Name)
	}
	return v, nil
}

// TeamChange is a change of a team's settings; nil fields stay as they are.
type TeamChange struct {
	Name             *string
	RequireTwoFactor *bool
}

// UpdateTeam renames the team or changes its two-factor policy; only its
// owners may, and of a team that requires two-factor only those its policy
// admits (teamPolicyAdmits). Changing the policy needs an elevated session, so an owner
// turning it on has a second factor already (SPEC §1 story 5). Members are
// told of the new policy, and those without a factor are told to add one.
// Only what the change changes is written: a rename never writes back the
// policy as it was read, which another owner may have changed meanwhile.
// It says whether anything changed: a change to what the team has already
// (or what another owner made it meanwhile) writes and tells nothing.
func (s *Service) UpdateTeam(ctx context.Context, a Auth, teamID string, c TeamChange, m Meta) (twofold.Team, bool, error) {
	if err := person(a); err != nil {
		return twofold.Team{}, false, err
	}
	return decideChange(func() (twofold.Team, bool, error) { return s.updateTeam(ctx, a, teamID, c, m) })
}

func (s *Service) updateTeam(ctx context.Context, a Auth, teamID string, c TeamChange, m Meta) (twofold.Team, bool, error) {
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if err != nil {
		return twofold.Team{}, false, err
	}
	if mb.Role != twofold.RoleOwner {
		return twofold.Team{}, false, twofold.Errorf(twofold.CodeForbidden, "only the team's owners may change its settings")
	}
	if err := s.teamPolicyAdmits(ctx, a, mb.Team, "manage it"); err != nil {
		return twofold.Team{}, false, err
	}
	var name *string
	if c.Name != nil {
		n, err := validateTeamName(*c.Name)
		if err != nil {
			return twofold.Team{}, false, err
		}
		if n != mb.Team.Name {
			name = &n
		}
	}
	var policy *bool
	if c.RequireTwoFactor != nil && *c.RequireTwoFactor != mb.Team.RequireTwoFactor {
		if *c.RequireTwoFactor {
			enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
			if err != nil {
				return twofold.Team{}, false, err
			}
			if !enabled {
				return twofold.Team{}, false, twofold.Errorf(twofold.CodeInvalid, "add an authenticator to your own account before requiring two-factor of the team")
			}
		}
		if err := s.requireElevation(a); err != nil {
			return twofold.Team{}, false, err
		}
		policy = c.RequireTwoFactor
	}
	if name == nil && policy == nil {
		return mb.Team, false, nil
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	var t twofold.Team
	changed := false
	err = s.inTx(ctx, func(ctx context.Context) error {
		before, after, err := s.store.UpdateTeam(ctx, teamID, name, policy, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role})
		if err != nil {
			return err
		}
		t = after
		changed = t.Name != before.Name || t.RequireTwoFactor != before.RequireTwoFactor
		if t.Name != before.Name {
			s.audit(ctx, a.Account.ID, "team.renamed", m, fmt.Sprintf("team %s %q to %q", t.ID, before.Name, t.Name))
		}
		// Another owner may have made the same change meanwhile: it is
		// told of once, by whoever made it.
		if t.RequireTwoFactor != before.RequireTwoFactor {
			s.policyChanged(ctx, a, t, m)
		}
		return nil
	})
	if err != nil {
		return twofold.Team{}, false, err
	}
	return t, changed, nil
}

// decideAgain runs decide, which reads a team, checks a change against
// what it read and makes it in a store call decided on that, once more
// while the store finds what it read changed meanwhile (twofold.ErrStale):
// so that a change racing another gets the answer it would have had after
// it. After three tries the conflict stands.
func decideAgain[T any](decide func() (T, error)) (T, error) {
	v, _, err := decideChange(func() (T, bool, error) {
		v, err := decide()
		return v, false, err
	})
	return v, err
}

// decideChange is decideAgain for a change that says whether it changed
// anything.
func decideChange[T any](decide func() (T, bool, error)) (T, bool, error) {
	for try := 1; ; try++ {
		v, changed, err := decide()
		if try == 3 || !errors.Is(err, twofold.ErrStale) {
			return v, changed, err
		}
	}
}

// policyChanged records a change of the team's two-factor policy and tells
// every member.
func (s *Service) policyChanged(ctx context.Context, a Auth, t twofold.Team, m Meta) {
	typ, what := "team.two_factor_required", "now requires"
	if !t.RequireTwoFactor {
		typ, what = "team.two_factor_not_required", "no longer requires"
	}
	s.audit(ctx, a.Account.ID, typ, m, fmt.Sprintf("team %s %q", t.ID, t.Name))
	members, err := s.store.TeamMembers(ctx, t.ID)
	if err != nil {
		s.log.ErrorContext(ctx, "list team members to notify", "team", t.ID, "err", err)
		return
	}
	for _, mem := range members {
		lines := []string{fmt.Sprintf("The team %q %s two-factor authentication of its members; %s changed this.", t.Name, what, a.Account.Username)}
		if t.RequireTwoFactor && !mem.TwoFactor {
			lines = append(lines, "Your account has no authenticator yet, so you cannot reach the team's resources until you add one in your security settings.")
		}
		s.notify(ctx, mem.AccountID, "team two-factor policy changed", lines...)
	}
}

// DeleteTeam deletes the team; only its owners may, with an elevated
// session when their account has two-factor, and of a team that requires
// two-factor only those its policy admits. Its zones stay with their
// owners.
// The store deletes the team only while the caller is still the owner
// checked here: an owner demoted or removed meanwhile is checked again on
// what is there after it.
func (s *Service) DeleteTeam(ctx context.Context, a Auth, teamID string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	_, err := decideAgain(func() (struct{}, error) { return struct{}{}, s.deleteTeam(ctx, a, teamID, m) })
	return err
}

func (s *Service) deleteTeam(ctx context.Context, a Auth, teamID string, m Meta) error {
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if err != nil {
		return err
	}
	if mb.Role != twofold.RoleOwner {
		return twofold.Errorf(twofold.CodeForbidden, "only the team's owners may delete it")
	}
	if err := s.teamPolicyAdmits(ctx, a, mb.Team, "manage it"); err != nil {
		return err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller). The members told are those the deletion
	// removed, under the team's lock: one who joined after the roles
	// above were read is told too.
	return s.inTx(ctx, func(ctx context.Context) error {
		members, err := s.store.DeleteTeam(ctx, teamID, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role})
		if err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "team.deleted", m, fmt.Sprintf("team %s %q", teamID, mb.Team.Name))
		for _, member := range members {
			if member != a.Account.ID {
				s.notify(ctx, member, "a team was deleted", fmt.Sprintf("%s deleted the team %q; you are no longer a member.", a.Account.Username, mb.Team.Name))
			}
			if mb.Team.RequireTwoFactor {
				// As a member's removal: told, or nothing deleted.
				if err := s.tellIfLoginLifted(ctx, member, fmt.Sprintf("%s deleted the team %q", a.Account.Username, mb.Team.Name)); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// manager returns the team when the caller may manage its members (see
// managesTeam), with an elevated session when the caller's account has
// two-factor: membership grants access to the team's resources (SPEC §1
// story 5).
func (s *Service) manager(ctx context.Context, a Auth, teamID string) (twofold.Membership, error) {
	mb, err := s.managesTeam(ctx, a, teamID)
	if err != nil {
		return mb, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return mb, err
	}
	// Each change may mail someone: a manager makes a few a minute at
	// most, so that adding and removing in a loop cannot flood an inbox.
	ok, err := s.store.TakeToken(ctx, "team:manage:"+a.Account.ID, teamChangesBurst, teamChangesRate, s.Now())
	if err != nil {
		return mb, err
	}
	if !ok {
		return mb, throttled(time.Duration(float64(time.Second)/teamChangesRate), "too many changes of team members: wait a little")
	}
	return mb, nil
}

// Teams one account may create: a burst, then one every 10 minutes.
const (
	teamCreateBurst = 10
	teamCreateEvery = 10 * time.Minute
)

// Changes of team members one account may make: a burst, then one every
// 20 seconds.
const (
	teamChangesBurst = 30
	teamChangesRate  = 1.0 / 20
)

// mayGrant checks that a member of role by may give or take role r: owners
// any, admins all but owner.
func mayGrant(by, r twofold.Role) error {
	if r == twofold.RoleOwner && by != twofold.RoleOwner {
		return twofold.Errorf(twofold.CodeForbidden, "only an owner may make, change or remove an owner")
	}
	return nil
}

// teamMember returns the member of the team named username: the one of
// exactly that name, else the only one whose name differs from it in case
// (names differing only in case remain from before migration 0012).
func (s *Service) teamMember(ctx context.Context, teamID, username string) (twofold.TeamMember, error) {
	members, err := s.store.TeamMembers(ctx, teamID)
	if err != nil {
		return twofold.TeamMember{}, err
	}
	username = strings.TrimSpace(username)
	var folded []twofold.TeamMember
	for _, mem := range members {
		if mem.Username == username {
			return mem, nil
		}
		if strings.EqualFold(mem.Username, username) {
			folded = append(folded, mem)
		}
	}
	if len(folded) == 1 {
		return folded[0], nil
	}
	return twofold.TeamMember{}, twofold.Errorf(twofold.CodeNotFound, "%q is not a member of this team", username)
}

// SetTeamRole gives the member named username role, and says whether that
// changed anything: a member who has that role already keeps it, and
// nothing is written, audited or told. A team keeps at least one owner.
// The store changes the role only while the member's role and the caller's
// are still those checked here: a change racing another (an owner making
// the member an owner as an admin demotes them) is checked again on what is
// there after it.
func (s *Service) SetTeamRole(ctx context.Context, a Auth, teamID, username, role string, m Meta) (twofold.TeamMember, bool, error) {
	r, err := parseRole(role)
	if err != nil {
		return twofold.TeamMember{}, false, err
	}
	mb, err := s.manager(ctx, a, teamID)
	if err != nil {
		return twofold.TeamMember{}, false, err
	}
	first := true
	return decideChange(func() (twofold.TeamMember, bool, error) {
		if !first {
			if mb, err = s.managesTeam(ctx, a, teamID); err != nil {
				return twofold.TeamMember{}, false, err
			}
		}
		first = false
		return s.setTeamRole(ctx, a, mb, username, r, m)
	})
}

func (s *Service) setTeamRole(ctx context.Context, a Auth, mb twofold.Membership, username string, r twofold.Role, m Meta) (twofold.TeamMember, bool, error) {
	teamID := mb.Team.ID
	mem, err := s.teamMember(ctx, teamID, username)
	if err != nil {
		return mem, false, err
	}
	if err := mayGrant(mb.Role, r); err != nil {
		return mem, false, err
	}
	if err := mayGrant(mb.Role, mem.Role); err != nil {
		return mem, false, err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	var before twofold.Role
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if before, err = s.store.SetTeamRole(ctx, teamID, mem, r, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}); err != nil || before == r {
			return err
		}
		s.audit(ctx, a.Account.ID, "team.role_changed", m, fmt.Sprintf("team %s %q: %s from %s to %s", teamID, mb.Team.Name, mem.Username, before, r))
		if mem.AccountID != a.Account.ID {
			s.auditCounterpart(ctx, mem.AccountID, "team.role_changed", fmt.Sprintf("team %s %q: from %s to %s, by %s", teamID, mb.Team.Name, before, r, a.Account.Username))
			s.notify(ctx, mem.AccountID, "your role in a team changed", fmt.Sprintf("%s changed your role in the team %q from %s to %s.", a.Account.Username, mb.Team.Name, before, r))
		}
		return nil
	})
	if err != nil {
		return mem, false, err
	}
	mem.Role = r
	return mem, before != r, nil
}

// RemoveTeamMember removes the member named username from the team: a
// manager removes others, and any member may leave. A team keeps at least
// one owner. The member takes their zones along: those they shared with the
// team are no longer shared with it, in the same transaction. As with
// SetTeamRole, a removal racing a change of roles is checked again on what
// is there after it.
func (s *Service) RemoveTeamMember(ctx context.Context, a Auth, teamID, username string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	managed := false // the elevation is checked and a token taken once
	_, err := decideAgain(func() (struct{}, error) {
		return struct{}{}, s.removeTeamMember(ctx, a, teamID, username, &managed, m)
	})
	return err
}

func (s *Service) removeTeamMember(ctx context.Context, a Auth, teamID, username string, managed *bool, m Meta) error {
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if err != nil {
		return err
	}
	mem, err := s.teamMember(ctx, teamID, username)
	if err != nil {
		return err
	}
	// Who is leaving is decided by account, never by name.
	self := mem.AccountID == a.Account.ID
	var by twofold.TeamMember
	if self {
		mem.Role = "" // anyone may leave, as whatever role
		// Leaving a team that requires two-factor may turn the second step
		// at login off, which by hand needs a fresh second-factor check
		// (SPEC §1 story 5): leaving asks for one whenever the account has
		// a factor, so that a stolen password-only session cannot.
		if err := s.requireElevationIfEnabled(ctx, a); err != nil {
			return err
		}
	} else {
		if *managed {
			mb, err = s.managesTeam(ctx, a, teamID)
		} else {
			mb, err = s.manager(ctx, a, teamID)
		}
		if err != nil {
			return err
		}
		*managed = true
		if err := mayGrant(mb.Role, mem.Role); err != nil {
			return err
		}
		by = twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}
	}
	return s.inTx(ctx, func(ctx context.Context) error {
		_, zones, err := s.store.RemoveTeamMember(ctx, teamID, mem, by)
		if err != nil {
			return err
		}
		var took string
		if len(zones) > 0 {
			took = fmt.Sprintf("The zones you had shared with it are no longer shared with it: %s.", strings.Join(zones, ", "))
		}
		if self {
			s.audit(ctx, a.Account.ID, "team.left", m, fmt.Sprintf("team %s %q", teamID, mb.Team.Name))
		} else {
			s.audit(ctx, a.Account.ID, "team.member_removed", m, fmt.Sprintf("team %s %q: %s", teamID, mb.Team.Name, mem.Username))
			s.auditCounterpart(ctx, mem.AccountID, "team.removed", fmt.Sprintf("team %s %q, by %s", teamID, mb.Team.Name, a.Account.Username))
		}
		// As UnshareZone records it, on both sides.
		for _, z := range zones {
			s.audit(ctx, a.Account.ID, "dns.zone_unshared", m, fmt.Sprintf("zone %s no longer shared with team %s", z, teamID))
			if !self {
				s.auditCounterpart(ctx, mem.AccountID, "dns.zone_unshared", fmt.Sprintf("zone %s no longer shared with team %s, by %s", z, teamID, a.Account.Username))
			}
		}
		switch {
		case !self:
			lines := []string{fmt.Sprintf("%s removed you from the team %q.", a.Account.Username, mb.Team.Name)}
			if took != "" {
				lines = append(lines, took)
			}
			s.notify(ctx, mem.AccountID, "you were removed from a team", lines...)
		case took != "":
			s.notify(ctx, a.Account.ID, "you left a team", fmt.Sprintf("You left the team %q.", mb.Team.Name), took)
		}
		if mb.Team.RequireTwoFactor {
			how := fmt.Sprintf("%s removed you from the team %q", a.Account.Username, mb.Team.Name)
			if self {
				how = fmt.Sprintf("you left the team %q", mb.Team.Name)
			}
			if err := s.tellIfLoginLifted(ctx, mem.AccountID, how); err != nil {
				return err
			}
		}
		return nil
	})
}

// tellIfLoginLifted mails the account holder, as turning two-factor login
// off by hand does, when login no longer asks them for a second factor now
// that they are out of a team that required it (how says why): their own
// choice is off, no other team requires it, and they have a factor.
func (s *Service) tellIfLoginLifted(ctx context.Context, accountID, how string) error {
	acct, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	if acct.TwoFactorRequired {
		return nil
	}
	teams, err := s.teamsRequiring(ctx, accountID)
	if err != nil || len(teams) > 0 {
		return err
	}
	enabled, err := s.twoFactorEnabled(ctx, accountID)
	if err != nil || !enabled {
		return err
	}
	s.notify(ctx, accountID, "two-factor login was turned off",
		fmt.Sprintf("Logging in to your account no longer asks for a second factor: %s, the last team that required it.", how),
		"Sensitive changes still do. To keep the second step at login, turn it on in your security settings.")
	return nil
}

// ShareZone shares the caller's zone with a team the caller manages: its
// members reach the zone's records as their roles allow. That grants
// access, so it needs an elevated session when the caller's account has
// two-factor. A zone is shared with one team at most; sharing it with
// another moves it. As with SetTeamRole, a share racing a change of the
// caller's role is checked again on what is there after it. It says
// whether anything changed: a zone shared with the team already stays so,
// and nothing is written or audited.
func (s *Service) ShareZone(ctx context.Context, a Auth, zone, teamID string, m Meta) (changed bool, err error) {
	if err := person(a); err != nil {
		return false, err
	}
	managed := false // the elevation is checked and a token taken once
	return decideAgain(func() (bool, error) {
		return s.shareZone(ctx, a, zone, teamID, &managed, m)
	})
}

func (s *Service) shareZone(ctx context.Context, a Auth, zone, teamID string, managed *bool, m Meta) (bool, error) {
	z, err := s.zoneNamed(ctx, zone)
	if err != nil {
		return false, err
	}
	if z.AccountID != a.Account.ID {
		return false, errNoZone()
	}
	var mb twofold.Membership
	if *managed {
		mb, err = s.managesTeam(ctx, a, teamID)
	} else {
		mb, err = s.manager(ctx, a, teamID)
	}
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeForbidden && mb.Role != "" && !mb.Role.ManagesMembers() {
			return false, errRoleMayNot(mb, "share zones with it (its owners and admins may)")
		}
		return false, err
	}
	*managed = true
	// The store shares the zone only while its owner is still a member of
	// the team with the role checked above, holding the team's row: a
	// removal from the team or a demotion between the check above and here
	// must not leave the zone shared with it.
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	var changed bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if changed, err = s.store.SetZoneTeam(ctx, z.Name, teamID, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}); err != nil {
			if errors.Is(err, twofold.ErrStale) {
				return err
			}
			if twofold.ErrorCode(err) == twofold.CodeConflict {
				return twofold.Errorf(twofold.CodeConflict, "you are no longer a member of this team: zone %s was not shared with it", z.Name)
			}
			return err
		}
		if changed {
			s.audit(ctx, a.Account.ID, "dns.zone_shared", m, fmt.Sprintf("zone %s shared with team %s %q", z.Name, teamID, mb.Team.Name))
		}
		return nil
	})
	return changed && err == nil, err
}

// UnshareZone stops sharing the zone with the team: the zone's owner or a
// manager of the team may. A member whose role may not but who sees the
// zone among the team's (ops, read-only) is refused with forbidden; anyone
// who does not see it there (an outsider, billing, a member of another
// team) gets not-found, as for a zone that does not exist. The store unshares it only while it is still
// shared with that team, and, for a manager, while the manager's role is
// still the one checked here: an unsharing racing a change of either is
// checked again on what is there after it, so that it never takes the
// zone from another team it was moved to meanwhile.
func (s *Service) UnshareZone(ctx context.Context, a Auth, zone, teamID string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	managed := false // the elevation is checked and a token taken once
	_, err := decideAgain(func() (struct{}, error) {
		return struct{}{}, s.unshareZone(ctx, a, zone, teamID, &managed, m)
	})
	return err
}

func (s *Service) unshareZone(ctx context.Context, a Auth, zone, teamID string, managed *bool, m Meta) error {
	z, err := s.zoneNamed(ctx, zone)
	if err != nil {
		return err
	}
	var by twofold.TeamMember // the zone's owner may, whatever their role
	if z.AccountID != a.Account.ID {
		if z.TeamID != teamID {
			// Before any check of the caller's role, elevation or tokens,
			// whose refusals would tell a zone that exists elsewhere from
			// one that does not.
			return errNoZone()
		}
		var mb twofold.Membership
		if *managed {
			mb, err = s.managesTeam(ctx, a, teamID)
		} else {
			mb, err = s.manager(ctx, a, teamID)
		}
		if err != nil {
			// A manager of the team the zone is shared with, whom the
			// team's policy keeps out, is told why.
			if mb.Role.ManagesMembers() {
				return err
			}
			if twofold.ErrorCode(err) == twofold.CodeForbidden {
				// A member whose role may not unshare, but who sees the
				// zone among the team's (Team lists it to them), is told
				// so: a 404 would say the zone does not exist.
				_, aerr := s.teamAccess(ctx, a, teamID, permit.Read)
				if aerr == nil {
					return errRoleMayNot(mb, "stop sharing a zone with it (its owners and admins may, and the zone's owner)")
				}
				if c := twofold.ErrorCode(aerr); c != twofold.CodeNotFound && c != twofold.CodeForbidden {
					return aerr
				}
			}
			if c := twofold.ErrorCode(err); c == twofold.CodeNotFound || c == twofold.CodeForbidden {
				return errNoZone()
			}
			return err
		}
		*managed = true
		by = twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}
	}
	if z.TeamID != teamID {
		// As for a zone that does not exist: a manager of some team must
		// not learn which zones exist elsewhere.
		return errNoZone()
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.UnshareZone(ctx, z.Name, teamID, by); err != nil {
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				return errNoZone()
			}
			return err
		}
		s.audit(ctx, a.Account.ID, "dns.zone_unshared", m, fmt.Sprintf("zone %s no longer shared with team %s", z.Name, teamID))
		if z.AccountID != a.Account.ID {
			s.auditCounterpart(ctx, z.AccountID, "dns.zone_unshared", fmt.Sprintf("zone %s no longer shared with team %s, by %s", z.Name, teamID, a.Account.Username))
		}
		return nil
	})
}

// errRoleMayNot refuses a member of the team whose role may not do what
// (403, not 404: the member sees the team), naming the role.
func errRoleMayNot(mb twofold.Membership, what string) error {
	return twofold.Errorf(twofold.CodeForbidden, "your role in the team %q is %s: it may not %s", mb.Team.Name, mb.Role, what)
}

// zoneNamed returns the zone of the name given.
func (s *Service) zoneNamed(ctx context.Context, zone string) (twofold.Zone, error) {
	name, err := NormalizeZoneName(zone)
	if err != nil {
		return twofold.Zone{}, err
	}
	z, err := s.store.Zone(ctx, name)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return z, errNoZone()
	}
	return z, err
}

// OwnZones returns the DNS zones the caller's account owns, by name.
func (s *Service) OwnZones(ctx context.Context, a Auth) ([]twofold.Zone, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	return s.store.Zones(ctx, a.Account.ID)
}

// teamsRequiring returns the names of the account's teams that require
// two-factor of their members.
func (s *Service) teamsRequiring(ctx context.Context, accountID string) ([]string, error) {
	return s.store.TeamsRequiringTwoFactor(ctx, accountID)
}

// errTeamRequires refuses a change that would leave a member of teams that
// require two-factor without it.
func errTeamRequires(teams []string, what string) error {
	return twofold.Errorf(twofold.CodeForbidden, "the team %q requires two-factor authentication of its members: %s", teams[0], what)
}

// teamAccess checks that the caller may take action (permit.Read, or
// permit.Write or one of its parts) on a resource shared with the team:
// the caller's role must allow it (any action but read is a change), and
// the team's two-factor policy must admit the caller (teamPolicyAdmits).
// hidden reports that the caller may not even learn the resource exists.
func (s *Service) teamAccess(ctx context.Context, a Auth, teamID, action string) (hidden bool, err error) {
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return true, err
	}
	if err != nil {
		return false, err
	}
	if !mb.Role.ReadsResources() {
		return true, twofold.Errorf(twofold.CodeNotFound, "no such resource")
	}
	if action != permit.Read && !mb.Role.WritesResources() {
		return false, twofold.Errorf(twofold.CodeForbidden, "your role in the team %q is %s: it may not change the team's resources", mb.Team.Name, mb.Role)
	}
	return false, s.teamPolicyAdmits(ctx, a, mb.Team, "reach its resources")
}

// teamPolicyAdmits refuses the caller when the team requires two-factor
// and the caller's account has no active factor, or the caller did not
// come through one: a session that passed one, or an API key made with one
// (a key made from a password-only session, or by such a key, stays out
// even after its holder adds a factor). what says what the policy keeps
// the caller from doing ("reach its resources", "manage it").
func (s *Service) teamPolicyAdmits(ctx context.Context, a Auth, t twofold.Team, what string) error {
	if !t.RequireTwoFactor {
		return nil
	}
	enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
	if err != nil {
		return err
	}
	if !enabled {
		return twofold.Errorf(twofold.CodeForbidden, "the team %q requires two-factor authentication: add an authenticator to your account to %s", t.Name, what)
	}
	if a.Key != nil && !a.Key.SecondFactor {
		return twofold.Errorf(twofold.CodeForbidden, "the team %q requires two-factor authentication: this API key was made without a second factor; make a new key from a session that passed one", t.Name)
	}
	if a.Key == nil && !a.PassedSecondFactor() {
		return twofold.Errorf(twofold.CodeForbidden, "the team %q requires two-factor authentication: this session passed none; confirm it's you with a second factor to %s", t.Name, what)
	}
	return nil
}

// keepTeamFactor refuses to remove factorID when it is the account's last
// active factor and a team the account belongs to requires two-factor. (A
// removal racing
// with another leaves the member without a factor, which keeps the member
// out of the team's resources: the policy holds either way.)
func (s *Service) keepTeamFactor(ctx context.Context, accountID, factorID string) error {
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.ID != factorID && f.Status == twofold.FactorActive {
			return nil
		}
	}
	teams, err := s.teamsRequiring(ctx, accountID)
	if err != nil || len(teams) == 0 {
		return err
	}
	return errTeamRequires(teams, "add another authenticator before removing your last one, or leave the team")
}
