package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Invitations to teams. Nobody is made a member without consent: a manager
// invites a username with a role, and the holder of that account accepts or
// declines. The answer to an invitation is the same whether or not an
// account has the name, so that inviting cannot be used to learn who has an
// account; only an existing account is told, by mail.
const (
	// TeamInvitationTTL is how long an invitation waits for an answer.
	TeamInvitationTTL = 7 * 24 * time.Hour
	// MaxTeamInvitations is how many invitations a team may have waiting.
	MaxTeamInvitations = 100
)

func errNoInvitation() error {
	return twofold.Errorf(twofold.CodeNotFound, "no such invitation: it may have been answered, revoked, or have lapsed")
}

// invitationErr is err of the store's write of an invitation, with an
// invitation not found there (answered, revoked or void meanwhile) told as
// errNoInvitation.
func invitationErr(err error) error {
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return errNoInvitation()
	}
	return err
}

// managesTeam returns the caller's membership of the team when the caller
// may manage its members, for reading and revoking invitations: neither
// grants anything, so neither needs elevation. A team that requires
// two-factor is managed only by a manager its policy admits, as its
// resources are reached (teamPolicyAdmits): else a password alone would
// let a manager without a factor bring new members into the team's zones.
func (s *Service) managesTeam(ctx context.Context, a Auth, teamID string) (twofold.Membership, error) {
	if err := person(a); err != nil {
		return twofold.Membership{}, err
	}
	mb, err := s.membership(ctx, a.Account.ID, teamID)
	if err != nil {
		return mb, err
	}
	if !mb.Role.ManagesMembers() {
		return mb, errRoleMayNot(mb, "manage its members or invitations (its owners and admins may)")
	}
	return mb, s.teamPolicyAdmits(ctx, a, mb.Team, "manage it")
}

// InviteTeamMember invites the account named username to the team with
// role. Like adding a member did, it needs a manager of the team who may
// give that role, in an elevated session when the manager has two-factor,
// and it is rationed per manager, since it may mail someone. The store
// keeps the invitation only while the caller's role is still the one
// checked here: an invitation racing a change of the caller's role is
// checked again on what is there after it.
func (s *Service) InviteTeamMember(ctx context.Context, a Auth, teamID, username, role string, m Meta) (twofold.TeamInvitation, error) {
	r, err := parseRole(role)
	if err != nil {
		return twofold.TeamInvitation{}, inField("role", err)
	}
	username = strings.TrimSpace(username)
	if err := ValidateUsername(username); err != nil {
		return twofold.TeamInvitation{}, inField("username", err)
	}
	mb, err := s.manager(ctx, a, teamID)
	if err != nil {
		return twofold.TeamInvitation{}, err
	}
	first := true
	return decideAgain(func() (twofold.TeamInvitation, error) {
		if !first {
			if mb, err = s.managesTeam(ctx, a, teamID); err != nil {
				return twofold.TeamInvitation{}, err
			}
		}
		first = false
		return s.inviteTeamMember(ctx, a, mb, username, r, m)
	})
}

func (s *Service) inviteTeamMember(ctx context.Context, a Auth, mb twofold.Membership, username string, r twofold.Role, m Meta) (twofold.TeamInvitation, error) {
	teamID := mb.Team.ID
	if err := mayGrant(mb.Role, r); err != nil {
		return twofold.TeamInvitation{}, err
	}
	members, err := s.store.TeamMembers(ctx, teamID)
	if err != nil {
		return twofold.TeamInvitation{}, err
	}
	if len(members) >= MaxTeamMembers {
		return twofold.TeamInvitation{}, twofold.Errorf(twofold.CodeConflict, "a team may have at most %d members", MaxTeamMembers)
	}
	for _, mem := range members {
		if strings.EqualFold(mem.Username, username) {
			return twofold.TeamInvitation{}, twofold.Errorf(twofold.CodeConflict, "the team has %s as a member already", mem.Username)
		}
	}
	// Whether an account has the name changes only who is told; the
	// answer, and what the team's managers see, is the same either way.
	who, found, _, err := s.accountForLogin(ctx, username)
	if err != nil {
		return twofold.TeamInvitation{}, err
	}
	id, err := s.newID()
	if err != nil {
		return twofold.TeamInvitation{}, err
	}
	now := s.Now()
	v := twofold.TeamInvitation{
		ID: id, TeamID: teamID, TeamName: mb.Team.Name, RequireTwoFactor: mb.Team.RequireTwoFactor,
		Username: username, Role: r, InvitedBy: a.Account.ID, InvitedByName: a.Account.Username,
		CreatedAt: now, ExpiresAt: now.Add(TeamInvitationTTL),
	}
	if found {
		v.AccountID = who.ID
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateTeamInvitation(ctx, v, strings.ToLower(username), MaxTeamInvitations, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "team.invited", m, fmt.Sprintf("team %s %q: %s as %s, invitation %s", teamID, mb.Team.Name, username, r, id))
		return nil
	})
	if err != nil {
		return twofold.TeamInvitation{}, err
	}
	if found {
		// The invitee's side happens after the answer: done before it, its
		// writes would make inviting a real account measurably slower than
		// inviting a name nobody has.
		s.later(func(ctx context.Context) { s.tellInvitee(ctx, v) })
	}
	return v, nil
}

// Invitation mails an account receives, so that nobody can flood an inbox
// by inviting, withdrawing the invitation or deleting the team, and inviting
// again, from the same team or from new ones: one a day from one inviter,
// whatever the team; and from everyone, a bucket of invitationMailsPerInvitee
// refilled at that many per invitationMailEvery (3 at once, then one every 8
// hours). The
// invitations themselves are made all the same: the invitee finds them when
// signed in.
const (
	invitationMailsPerInvitee = 3
	invitationMailEvery       = 24 * time.Hour
)

// tellInvitee records the invitation in the invitee's audit log and mails
// them, within the limits above. A suspended invitee is not mailed: they
// cannot sign in to answer (the invitation is made all the same, as for a
// name nobody has, so that the answer does not tell the inviter the
// account is suspended; lifted in time, they find it signed in).
func (s *Service) tellInvitee(ctx context.Context, v twofold.TeamInvitation) {
	s.auditCounterpart(ctx, v.AccountID, "team.invitation_received", fmt.Sprintf("team %s %q as %s, from %s", v.TeamID, v.TeamName, v.Role, v.InvitedByName))
	if a, err := s.store.AccountByID(ctx, v.AccountID); err == nil && a.Suspended {
		s.log.InfoContext(ctx, "invitation not mailed: the invitee's account is suspended")
		return
	}
	if !s.mayMailInvitee(ctx, v) {
		return
	}
	// The team's name is the inviter's free text: the mail quotes it as a
	// name the inviter chose, last, so that it cannot read as the words
	// of the server's operators.
	lines := []string{
		fmt.Sprintf("%s invited you to a team as %s.", v.InvitedByName, v.Role),
		fmt.Sprintf("The team's name was chosen by %s, not by this server or its operators; it is: %q", v.InvitedByName, v.TeamName),
		"You are not a member until you accept. To answer, sign in and open Teams in your settings; the invitation lapses on " + v.ExpiresAt.UTC().Format("2 January 2006 at 15:04 UTC") + ".",
		"If you do not know " + v.InvitedByName + ", decline it.",
	}
	if v.RequireTwoFactor {
		lines = append(lines, "The team requires two-factor authentication of its members: once you accept, every sign-in asks for your second factor.")
	}
	s.mailInvitation(ctx, v, "you were invited to a team", lines)
}

// mailInvitation queues the notice of invitation v to its invitee as a
// mail naming v (twofold.MailedTeamInvitation), so that, like a
// password-reset link, it is left out of /metrics (notify.Unobserved): it
// exists only when the invited name has an account.
func (s *Service) mailInvitation(ctx context.Context, v twofold.TeamInvitation, subject string, lines []string) {
	if s.codeMail == nil {
		return
	}
	a, err := s.store.AccountByID(ctx, v.AccountID)
	if err != nil {
		s.log.ErrorContext(ctx, "invitation mail not queued", "err", err)
		return
	}
	if a.Email == "" {
		return
	}
	if err := s.codeMail.EnqueueCode(ctx, a.Email, s.cfg.Issuer+": "+subject, s.mailBody(a, "", lines), v.Mailed(), time.Time{}); err != nil {
		s.log.ErrorContext(ctx, "invitation mail not queued", "err", err)
	}
}

// mayMailInvitee takes a token from the bucket of the inviter and invitee
// and one from the invitee's, reporting whether both had one: the first
// taken is given back when the second is refused, so that mails others
// sent do not use up the inviter's.
func (s *Service) mayMailInvitee(ctx context.Context, v twofold.TeamInvitation) bool {
	now := s.Now()
	pair := "invitation-mail:from:" + v.InvitedBy + ":to:" + v.AccountID
	ok, err := s.store.TakeToken(ctx, pair, 1, 1/invitationMailEvery.Seconds(), now)
	if err == nil && ok {
		ok, err = s.store.TakeToken(ctx, "invitation-mail:to:"+v.AccountID, invitationMailsPerInvitee, invitationMailsPerInvitee/invitationMailEvery.Seconds(), now)
		if err == nil && !ok {
			err = s.store.ReturnToken(ctx, pair, 1)
		}
	}
	if err != nil {
		s.log.ErrorContext(ctx, "invitation mail not queued", "err", err)
		return false
	}
	return ok
}

// TeamInvitations returns the team's invitations waiting for an answer,
// for its managers.
func (s *Service) TeamInvitations(ctx context.Context, a Auth, teamID string) ([]twofold.TeamInvitation, error) {
	if _, err := s.managesTeam(ctx, a, teamID); err != nil {
		return nil, err
	}
	return s.store.TeamInvitations(ctx, teamID, s.Now())
}

// RevokeTeamInvitation withdraws an invitation of the team before it is
// answered. Any manager of the team may, but an owner's invitation to be
// an owner only an owner. As with SetTeamRole, a revocation racing a
// change of the caller's role is checked again on what is there after it.
func (s *Service) RevokeTeamInvitation(ctx context.Context, a Auth, teamID, invitationID string, m Meta) error {
	_, err := decideAgain(func() (struct{}, error) {
		return struct{}{}, s.revokeTeamInvitation(ctx, a, teamID, invitationID, m)
	})
	return err
}

func (s *Service) revokeTeamInvitation(ctx context.Context, a Auth, teamID, invitationID string, m Meta) error {
	mb, err := s.managesTeam(ctx, a, teamID)
	if err != nil {
		return err
	}
	v, err := s.store.TeamInvitation(ctx, invitationID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && v.TeamID != teamID) {
		return errNoInvitation()
	}
	if err != nil {
		return err
	}
	if err := mayGrant(mb.Role, v.Role); err != nil {
		return err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteTeamInvitation(ctx, v.ID, twofold.TeamMember{AccountID: a.Account.ID, Role: mb.Role}); err != nil {
			return invitationErr(err)
		}
		s.audit(ctx, a.Account.ID, "team.invitation_revoked", m, fmt.Sprintf("team %s %q: %s as %s, invitation %s", teamID, mb.Team.Name, v.Username, v.Role, v.ID))
		return nil
	})
}

// MyInvitations returns the invitations to the caller waiting for an
// answer.
func (s *Service) MyInvitations(ctx context.Context, a Auth) ([]twofold.TeamInvitation, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	return s.store.InvitationsFor(ctx, a.Account.ID, s.Now())
}

// invitationFor returns the caller's invitation with id while it waits for
// an answer; anyone else's, or one gone or lapsed, is not found.
func (s *Service) invitationFor(ctx context.Context, a Auth, id string) (twofold.TeamInvitation, error) {
	if err := person(a); err != nil {
		return twofold.TeamInvitation{}, err
	}
	v, err := s.store.TeamInvitation(ctx, id)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && (v.AccountID != a.Account.ID || !s.Now().Before(v.ExpiresAt))) {
		return v, errNoInvitation()
	}
	return v, err
}

// AcceptTeamInvitation makes the caller a member of the invitation's team
// with its role. The invitation stands only while whoever made it still
// manages the team and may give that role, and, when the team requires
// two-factor, only if its policy admits the invitation's inviter as they
// made it (inviterAdmitted); otherwise it is void and deleted, and the
// caller is told why. Accepting a team that requires two-factor turns on the
// caller's own requirement through the team's policy. The store makes the
// caller a member only while the inviter's role is still the one checked
// here, and while the caller's teams and the team's members are still
// fewer than their limits: an invitation racing a change of the inviter's
// role, or other acceptances and new teams, is checked again on what is
// there after it, so that no limit is passed.
func (s *Service) AcceptTeamInvitation(ctx context.Context, a Auth, id string, m Meta) (twofold.Membership, error) {
	return decideAgain(func() (twofold.Membership, error) { return s.acceptTeamInvitation(ctx, a, id, m) })
}

func (s *Service) acceptTeamInvitation(ctx context.Context, a Auth, id string, m Meta) (twofold.Membership, error) {
	v, err := s.invitationFor(ctx, a, id)
	if err != nil {
		return twofold.Membership{}, err
	}
	by, err := s.membership(ctx, v.InvitedBy, v.TeamID)
	if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
		return twofold.Membership{}, err
	}
	if err != nil || !by.Role.ManagesMembers() || mayGrant(by.Role, v.Role) != nil {
		err := s.voidInvitation(ctx, v, func(ctx context.Context) {
			s.audit(ctx, a.Account.ID, "team.invitation_void", m, fmt.Sprintf("team %s %q: %s no longer may give the role %s", v.TeamID, v.TeamName, v.InvitedByName, v.Role))
		})
		if err != nil {
			return twofold.Membership{}, err
		}
		return twofold.Membership{}, twofold.Errorf(twofold.CodeConflict, "this invitation no longer stands: %s no longer manages the team or may give that role; ask the team's owners to invite you again", v.InvitedByName)
	}
	// A team that requires two-factor is managed only by managers its
	// policy admits (managesTeam): an invitation from one it keeps out
	// lets nobody in, also when the team came to require two-factor after
	// the invitation was made.
	admitted, err := s.inviterAdmitted(ctx, v)
	if err != nil {
		return twofold.Membership{}, err
	}
	if !admitted && by.Team.RequireTwoFactor {
		err := s.voidInvitation(ctx, v, func(ctx context.Context) {
			s.audit(ctx, a.Account.ID, "team.invitation_void", m, fmt.Sprintf("team %s %q: the team requires two-factor authentication, and %s invited without a second factor", v.TeamID, v.TeamName, v.InvitedByName))
			s.auditCounterpart(ctx, v.InvitedBy, "team.invitation_void", fmt.Sprintf("team %s %q: %s as %s could not join: the team requires two-factor authentication, and you invited them without a second factor; invite them again from a session that passed one", v.TeamID, v.TeamName, a.Account.Username, v.Role))
		})
		if err != nil {
			return twofold.Membership{}, err
		}
		return twofold.Membership{}, twofold.Errorf(twofold.CodeConflict, "this invitation no longer stands: the team %q requires two-factor authentication of those who manage it, and %s invited you without a second factor; ask the team's owners to invite you again", v.TeamName, v.InvitedByName)
	}
	mine, err := s.store.Memberships(ctx, a.Account.ID)
	if err != nil {
		return twofold.Membership{}, err
	}
	if len(mine) >= MaxTeamsPerAccount {
		return twofold.Membership{}, errTooManyTeams()
	}
	members, err := s.store.TeamMembers(ctx, v.TeamID)
	if err != nil {
		return twofold.Membership{}, err
	}
	if len(members) >= MaxTeamMembers {
		return twofold.Membership{}, twofold.Errorf(twofold.CodeConflict, "the team has %d members, the most it may", MaxTeamMembers)
	}
	inviter := twofold.TeamMember{AccountID: v.InvitedBy, Role: by.Role}
	// An invitation the policy would not admit is used only while the team
	// still does not require two-factor: the store checks it as it holds
	// the team, so that a policy turned on meanwhile is not passed.
	// The membership and its events in one transaction, which checks
	// first that the session still stands (WithCaller).
	err = s.inTx(ctx, func(ctx context.Context) error {
		if _, err := s.store.AcceptTeamInvitation(ctx, v.ID, a.Account.ID, s.Now(), inviter, !admitted, MaxTeamsPerAccount, MaxTeamMembers); err != nil {
			return invitationErr(err)
		}
		s.audit(ctx, a.Account.ID, "team.joined", m, fmt.Sprintf("team %s %q as %s, invited by %s", v.TeamID, v.TeamName, v.Role, v.InvitedByName))
		s.auditCounterpart(ctx, v.InvitedBy, "team.invitation_accepted", fmt.Sprintf("team %s %q: %s as %s", v.TeamID, v.TeamName, a.Account.Username, v.Role))
		return nil
	})
	if err != nil {
		return twofold.Membership{}, err
	}
	t, err := s.store.Team(ctx, v.TeamID)
	if err != nil {
		// The caller joined: answer with what the invitation said of the
		// team rather than fail what succeeded.
		s.log.ErrorContext(ctx, "team after joining", "err", err)
		t = twofold.Team{ID: v.TeamID, Name: v.TeamName, RequireTwoFactor: v.RequireTwoFactor}
	}
	return twofold.Membership{Team: t, Role: v.Role}, nil
}

// voidInvitation deletes invitation v, which no longer stands, with the
// events record adds, in one transaction, which checks first that the
// caller's session still stands (WithCaller). One deleted meanwhile
// (revoked, declined, or voided by this answer sent twice) is void all
// the same, and record is not run: its end is recorded by what ended it.
func (s *Service) voidInvitation(ctx context.Context, v twofold.TeamInvitation, record func(ctx context.Context)) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		err := s.store.DeleteTeamInvitation(ctx, v.ID, twofold.TeamMember{})
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return nil
		}
		if err != nil {
			return err
		}
		record(ctx)
		return nil
	})
}

// inviterAdmitted reports whether a team's two-factor policy admits the
// invitation v as its inviter made it (teamPolicyAdmits): the inviter's
// account has an active factor confirmed no later than the invitation.
// Inviting takes an elevated session of a manager with a factor
// (requireElevationIfEnabled), and only a second factor elevates, so such
// an invitation came from a session that passed one; one made before the
// manager had a factor came from a session that passed none, and one whose
// inviter has no factor now is from a manager the policy keeps out. (A
// factor removed and another added since counts as none: the safe side.)
func (s *Service) inviterAdmitted(ctx context.Context, v twofold.TeamInvitation) (bool, error) {
	fs, err := s.store.Factors(ctx, v.InvitedBy)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		if f.Status == twofold.FactorActive && f.ConfirmedAt != nil && !f.ConfirmedAt.After(v.CreatedAt) {
			return true, nil
		}
	}
	return false, nil
}

// DeclineTeamInvitation deletes the caller's invitation unanswered.
func (s *Service) DeclineTeamInvitation(ctx context.Context, a Auth, id string, m Meta) error {
	v, err := s.invitationFor(ctx, a, id)
	if err != nil {
		return err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteTeamInvitation(ctx, v.ID, twofold.TeamMember{}); err != nil {
			return invitationErr(err)
		}
		s.audit(ctx, a.Account.ID, "team.invitation_declined", m, fmt.Sprintf("team %s %q as %s, from %s", v.TeamID, v.TeamName, v.Role, v.InvitedByName))
		s.auditCounterpart(ctx, v.InvitedBy, "team.invitation_declined", fmt.Sprintf("team %s %q: %s declined to join as %s", v.TeamID, v.TeamName, a.Account.Username, v.Role))
		return nil
	})
}
