package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

const invitationColumns = `i.id, i.team_id, t.name, t.require_two_factor, i.username, COALESCE(i.account_id, ''), i.role,
	i.invited_by, a.username, i.created_at, i.expires_at`

const invitationFrom = ` FROM team_invitations i JOIN teams t ON t.id = i.team_id JOIN accounts a ON a.id = i.invited_by `

func scanInvitation(row interface{ Scan(...any) error }) (twofold.TeamInvitation, error) {
	var v twofold.TeamInvitation
	var role string
	var created, expires int64
	err := row.Scan(&v.ID, &v.TeamID, &v.TeamName, &v.RequireTwoFactor, &v.Username, &v.AccountID, &role,
		&v.InvitedBy, &v.InvitedByName, &created, &expires)
	v.Role, v.CreatedAt, v.ExpiresAt = twofold.Role(role), fromMicros(created), fromMicros(expires)
	return v, err
}

func (s *Store) queryInvitations(ctx context.Context, where string, args ...any) ([]twofold.TeamInvitation, error) {
	return queryAll(ctx, s, "team invitations", scanInvitation, `SELECT `+invitationColumns+invitationFrom+where, args...)
}

// CreateTeamInvitation stores the invitation, keyed by the invitee's name
// folded to lower case, after dropping any lapsed one of the same team and
// name. A pending invitation of that name is a conflict, as are more than
// max pending invitations of the team, and a team gone is not-found. It is
// decided on by, the inviter as read, as UpdateTeam (ErrStale when by's
// role changed since).
func (s *Store) CreateTeamInvitation(ctx context.Context, v twofold.TeamInvitation, usernameKey string, max int, by twofold.TeamMember) error {
	var account sql.NullString
	if v.AccountID != "" {
		account = sql.NullString{String: v.AccountID, Valid: true}
	}
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTeam(ctx, tx, v.TeamID); err != nil {
			return err
		}
		if err := checkRoles(ctx, tx, v.TeamID, by); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_invitations WHERE team_id = $1 AND expires_at <= $2`,
			v.TeamID, micros(v.CreatedAt)); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM team_invitations WHERE team_id = $1`, v.TeamID).Scan(&n); err != nil {
			return err
		}
		if n >= max {
			return twofold.Errorf(twofold.CodeConflict, "a team may have at most %d invitations waiting: revoke some first", max)
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO team_invitations (id, team_id, username, username_key, account_id, role, invited_by, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
			v.ID, v.TeamID, v.Username, usernameKey, account, string(v.Role), v.InvitedBy, micros(v.CreatedAt), micros(v.ExpiresAt))
		if isUniqueViolation(err) {
			return twofold.Errorf(twofold.CodeConflict, "an invitation for %s is waiting already: revoke it to send another", v.Username)
		}
		return err
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("insert team invitation: %w", err)
	}
	return err
}

// TeamInvitation returns the invitation with id, lapsed or not.
func (s *Store) TeamInvitation(ctx context.Context, id string) (twofold.TeamInvitation, error) {
	v, err := scanInvitation(s.conn(ctx).QueryRowContext(ctx, `SELECT `+invitationColumns+invitationFrom+`WHERE i.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return v, notFound("invitation")
	}
	if err != nil {
		return v, fmt.Errorf("select team invitation: %w", err)
	}
	return v, nil
}

// TeamInvitations returns the team's invitations that have not lapsed at
// now, by username.
func (s *Store) TeamInvitations(ctx context.Context, teamID string, now time.Time) ([]twofold.TeamInvitation, error) {
	return s.queryInvitations(ctx, `WHERE i.team_id = $1 AND i.expires_at > $2 ORDER BY i.username_key, i.id`, teamID, micros(now))
}

// InvitationsFor returns the invitations to the account that have not
// lapsed at now, by team name.
func (s *Store) InvitationsFor(ctx context.Context, accountID string, now time.Time) ([]twofold.TeamInvitation, error) {
	return s.queryInvitations(ctx, `WHERE i.account_id = $1 AND i.expires_at > $2 ORDER BY t.name, i.id`, accountID, micros(now))
}

// AcceptTeamInvitation uses the invitation once: it is deleted and its
// invitee made a member with its role in one transaction. An invitation
// that is not the account's, is gone or has lapsed at now is not-found; an
// invitee who is a member already is a conflict, and the invitation is
// used all the same. It is decided on by, its inviter as read (unless by's
// AccountID is ""), and on the limits as read: the invitee belonging to
// fewer than maxTeams teams and the team having fewer than maxMembers
// members. With unlessRequired, it is used only while the team does not
// require two-factor (its inviter is one the team's policy would keep
// out). When by's role in the team changed since, the team came to require
// two-factor with unlessRequired, or a limit no longer holds, nothing is
// written and the error wraps twofold.ErrStale.
func (s *Store) AcceptTeamInvitation(ctx context.Context, id, accountID string, now time.Time, by twofold.TeamMember, unlessRequired bool, maxTeams, maxMembers int) (twofold.TeamInvitation, error) {
	var v twofold.TeamInvitation
	member := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// The invitee's account row, then the team's, held as changes of
		// its members hold it (in the order deleting an account takes
		// them), while the invitation is used, the inviter's right to give
		// the role checked and the limits counted.
		err := tx.QueryRowContext(ctx, `SELECT team_id FROM team_invitations WHERE id = $1 AND account_id = $2 AND expires_at > $3`,
			id, accountID, micros(now)).Scan(&v.TeamID)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("invitation")
		}
		if err != nil {
			return err
		}
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if err := s.lockTeam(ctx, tx, v.TeamID); err != nil {
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				return notFound("invitation")
			}
			return err
		}
		if unlessRequired {
			// The team's row is held: its policy cannot change until the
			// invitation is used.
			var required bool
			if err := tx.QueryRowContext(ctx, `SELECT require_two_factor FROM teams WHERE id = $1`, v.TeamID).Scan(&required); err != nil {
				return err
			}
			if required {
				return errStale()
			}
		}
		var role string
		err = tx.QueryRowContext(ctx, `DELETE FROM team_invitations WHERE id = $1 AND account_id = $2 AND expires_at > $3
			RETURNING role`, id, accountID, micros(now)).Scan(&role)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("invitation")
		}
		if err != nil {
			return err
		}
		v.ID, v.AccountID, v.Role = id, accountID, twofold.Role(role)
		if err := checkRoles(ctx, tx, v.TeamID, by); err != nil {
			return err
		}
		switch _, err := memberRole(ctx, tx, v.TeamID, accountID); {
		case err == nil:
			member = true // used all the same
			return nil
		case twofold.ErrorCode(err) != twofold.CodeNotFound:
			return err
		}
		if err := checkTeamsOf(ctx, tx, accountID, maxTeams); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM team_members WHERE team_id = $1`, v.TeamID).Scan(&n); err != nil {
			return err
		}
		if n >= maxMembers {
			return errStale()
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO team_members (team_id, account_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			v.TeamID, accountID, role, micros(now))
		return err
	})
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeInternal {
			err = fmt.Errorf("accept team invitation: %w", err)
		}
		return v, err
	}
	if member {
		return v, twofold.Errorf(twofold.CodeConflict, "you are a member of this team already")
	}
	return v, nil
}

// DeleteInvitationsBy deletes every invitation inviterID made, to any
// team, and returns how many there were.
func (s *Store) DeleteInvitationsBy(ctx context.Context, inviterID string) (int64, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM team_invitations WHERE invited_by = $1`, inviterID)
	if err != nil {
		return 0, fmt.Errorf("delete invitations by: %w", err)
	}
	return res.RowsAffected()
}

// DeleteTeamInvitation deletes the invitation; one already gone is
// not-found. It is decided on by as read, as UpdateTeam (ErrStale when
// by's role in the invitation's team changed since), unless by's
// AccountID is "".
func (s *Store) DeleteTeamInvitation(ctx context.Context, id string, by twofold.TeamMember) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if by.AccountID != "" {
			var teamID string
			err := tx.QueryRowContext(ctx, `SELECT team_id FROM team_invitations WHERE id = $1`, id).Scan(&teamID)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("invitation")
			}
			if err != nil {
				return err
			}
			if err := s.lockTeam(ctx, tx, teamID); err != nil {
				return err
			}
			if err := checkRoles(ctx, tx, teamID, by); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM team_invitations WHERE id = $1`, id)
		n, err := rowsAffected(res, err)
		if err == nil && n == 0 {
			return notFound("invitation")
		}
		return err
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("delete team invitation: %w", err)
	}
	return err
}
