package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twofold/twofold"
)

const teamColumns = `t.id, t.name, t.require_two_factor, t.created_at`

func scanTeam(row interface{ Scan(...any) error }, extra ...any) (twofold.Team, error) {
	var t twofold.Team
	var at int64
	err := row.Scan(append([]any{&t.ID, &t.Name, &t.RequireTwoFactor, &at}, extra...)...)
	t.CreatedAt = fromMicros(at)
	return t, err
}

// CreateTeam stores a new team with its first member, an owner, both or
// neither. It is decided on the owner belonging to fewer than maxTeams
// teams, as read: holding the owner's account row, so that the teams an
// account creates or joins at once are counted one after the other, it
// writes nothing when the owner belongs to maxTeams or more by now, and the
// error wraps twofold.ErrStale.
func (s *Store) CreateTeam(ctx context.Context, t twofold.Team, owner string, maxTeams int) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := checkTeamsOf(ctx, tx, owner, maxTeams); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO teams (id, name, require_two_factor, created_at) VALUES ($1, $2, $3, $4)`,
			t.ID, t.Name, t.RequireTwoFactor, micros(t.CreatedAt)); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO team_members (team_id, account_id, role, created_at) VALUES ($1, $2, $3, $4)`,
			t.ID, owner, string(twofold.RoleOwner), micros(t.CreatedAt))
		return err
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("insert team: %w", err)
	}
	return err
}

// checkTeamsOf locks the account's row (lockAccount) and checks, in tx,
// that the account belongs to fewer than max teams: else the limit a
// change was decided on no longer holds, a conflict wrapping
// twofold.ErrStale. A transaction that also locks a team locks the account
// first, as deleting an account does.
func checkTeamsOf(ctx context.Context, tx *sql.Tx, accountID string, max int) error {
	if err := lockAccount(ctx, tx, accountID); err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM team_members WHERE account_id = $1`, accountID).Scan(&n); err != nil {
		return err
	}
	if n >= max {
		return errStale()
	}
	return nil
}

// Team returns the team with id.
func (s *Store) Team(ctx context.Context, id string) (twofold.Team, error) {
	t, err := scanTeam(s.conn(ctx).QueryRowContext(ctx, `SELECT `+teamColumns+` FROM teams t WHERE t.id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("team")
	}
	if err != nil {
		return t, fmt.Errorf("select team: %w", err)
	}
	return t, nil
}

// Memberships returns the teams the account belongs to with its role in
// each, by name.
func (s *Store) Memberships(ctx context.Context, accountID string) ([]twofold.Membership, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT `+teamColumns+`, m.role FROM team_members m JOIN teams t ON t.id = m.team_id
		WHERE m.account_id = $1 ORDER BY t.name, t.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("select memberships: %w", err)
	}
	defer rows.Close()
	var out []twofold.Membership
	for rows.Next() {
		var role string
		t, err := scanTeam(rows, &role)
		if err != nil {
			return nil, fmt.Errorf("scan membership: %w", err)
		}
		out = append(out, twofold.Membership{Team: t, Role: twofold.Role(role)})
	}
	return out, rows.Err()
}

// TeamSummaries returns up to limit teams whose name contains query,
// ignoring case (of ASCII letters only on SQLite), by name and id, those
// after the team named afterName with id afterID ("" and "" for the
// first): a page of a list that each next page continues from its last
// team. Each comes with its numbers of members, of members without an
// active factor and of shared zones, and its owners. LIKE wildcards in
// query stand for themselves.
func (s *Store) TeamSummaries(ctx context.Context, query, afterName, afterID string, limit int) ([]twofold.TeamSummary, error) {
	// As in Accounts: LOWER on both sides, and an escape named for SQLite.
	const match = `LOWER(t.name) LIKE LOWER(CAST($1 AS TEXT)) ESCAPE '\'
		AND (t.name > CAST($3 AS TEXT) OR (t.name = CAST($3 AS TEXT) AND t.id > CAST($4 AS TEXT)))`
	pattern := "%" + escapeLike(query) + "%"
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT `+teamColumns+`,
			(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id),
			(SELECT COUNT(*) FROM team_members m WHERE m.team_id = t.id
				AND NOT EXISTS (SELECT 1 FROM factors f WHERE f.account_id = m.account_id AND f.status = 'active')),
			(SELECT COUNT(*) FROM dns_zones z WHERE z.team_id = t.id)
		FROM teams t WHERE `+match+` ORDER BY t.name, t.id LIMIT $2`, pattern, limit, afterName, afterID)
	if err != nil {
		return nil, fmt.Errorf("select teams: %w", err)
	}
	defer rows.Close()
	var out []twofold.TeamSummary
	index := map[string]int{}
	for rows.Next() {
		var ts twofold.TeamSummary
		if ts.Team, err = scanTeam(rows, &ts.Members, &ts.WithoutFactor, &ts.Zones); err != nil {
			return nil, fmt.Errorf("scan team: %w", err)
		}
		index[ts.Team.ID] = len(out)
		out = append(out, ts)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select teams: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	// The owners of the same teams; a team changed in between is shown as
	// each statement found it.
	owners, err := s.conn(ctx).QueryContext(ctx, `SELECT m.team_id, m.account_id, a.username, m.created_at
		FROM team_members m JOIN accounts a ON a.id = m.account_id
		WHERE m.role = 'owner' AND m.team_id IN (SELECT t.id FROM teams t WHERE `+match+` ORDER BY t.name, t.id LIMIT $2)
		ORDER BY a.username, m.account_id`, pattern, limit, afterName, afterID)
	if err != nil {
		return nil, fmt.Errorf("select team owners: %w", err)
	}
	defer owners.Close()
	for owners.Next() {
		m := twofold.TeamMember{Role: twofold.RoleOwner}
		var at int64
		if err := owners.Scan(&m.TeamID, &m.AccountID, &m.Username, &at); err != nil {
			return nil, fmt.Errorf("scan team owner: %w", err)
		}
		m.CreatedAt = fromMicros(at)
		if i, ok := index[m.TeamID]; ok {
			out[i].Owners = append(out[i].Owners, m)
		}
	}
	if err := owners.Err(); err != nil {
		return nil, fmt.Errorf("select team owners: %w", err)
	}
	return out, nil
}

// TeamMembers returns the members of the team by username, each with
// whether their account has an active factor.
func (s *Store) TeamMembers(ctx context.Context, teamID string) ([]twofold.TeamMember, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT m.account_id, a.username, m.role, m.created_at,
			EXISTS (SELECT 1 FROM factors f WHERE f.account_id = m.account_id AND f.status = 'active')
		FROM team_members m JOIN accounts a ON a.id = m.account_id
		WHERE m.team_id = $1 ORDER BY a.username, m.account_id`, teamID)
	if err != nil {
		return nil, fmt.Errorf("select team members: %w", err)
	}
	defer rows.Close()
	var out []twofold.TeamMember
	for rows.Next() {
		m := twofold.TeamMember{TeamID: teamID}
		var role string
		var at int64
		if err := rows.Scan(&m.AccountID, &m.Username, &role, &at, &m.TwoFactor); err != nil {
			return nil, fmt.Errorf("scan team member: %w", err)
		}
		m.Role, m.CreatedAt = twofold.Role(role), fromMicros(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// AddTeamMember adds the account to the team; a member already is a
// conflict, a team gone is not-found.
func (s *Store) AddTeamMember(ctx context.Context, teamID, accountID string, role twofold.Role, now time.Time) error {
	res, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO team_members (team_id, account_id, role, created_at)
		SELECT id, $2, $3, $4 FROM teams WHERE id = $1
		ON CONFLICT (team_id, account_id) DO NOTHING`, teamID, accountID, string(role), micros(now))
	n, err := rowsAffected(res, err)
	if err != nil {
		return fmt.Errorf("insert team member: %w", err)
	}
	if n == 0 {
		if _, err := s.Team(ctx, teamID); err != nil {
			return err
		}
		return twofold.Errorf(twofold.CodeConflict, "already a member of this team")
	}
	return nil
}

// errLastOwner is the answer to a change that would leave a team without
// an owner.
func errLastOwner() error {
	return twofold.Errorf(twofold.CodeConflict, "a team needs an owner: make another member owner first")
}

// lockTeam holds the team's row until tx ends (on SQLite the writer lock
// holds everything), so that changes of its owners take turns: two owners
// demoting each other at once cannot leave it with none.
func (s *Store) lockTeam(ctx context.Context, tx *sql.Tx, teamID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE teams SET name = name WHERE id = $1`, teamID)
	n, err := rowsAffected(res, err)
	if err != nil {
		return fmt.Errorf("lock team: %w", err)
	}
	if n == 0 {
		return notFound("team")
	}
	return nil
}

// errStale is the answer to a change of a team decided on roles that
// changed since they were read.
func errStale() error {
	return &twofold.Error{Code: twofold.CodeConflict, Message: "the team's members changed meanwhile: try again", Err: twofold.ErrStale}
}

// memberRole returns the member's role, in tx; no such member is
// not-found.
func memberRole(ctx context.Context, tx *sql.Tx, teamID, accountID string) (twofold.Role, error) {
	var role string
	err := tx.QueryRowContext(ctx, `SELECT role FROM team_members WHERE team_id = $1 AND account_id = $2`, teamID, accountID).Scan(&role)
	if errors.Is(err, sql.ErrNoRows) {
		return "", notFound("team member")
	}
	return twofold.Role(role), err
}

// checkRoles checks, in tx holding the team's row (lockTeam), that the
// members a change was decided on are still as they were read: each of
// members with an account is still a member of the team, with the role
// given unless that is "". Otherwise it is a conflict wrapping
// twofold.ErrStale, and the change must not be written. Holding the row,
// the check and the change that follows are one step: every change of the
// team's members holds it.
func checkRoles(ctx context.Context, tx *sql.Tx, teamID string, members ...twofold.TeamMember) error {
	for _, m := range members {
		if m.AccountID == "" {
			continue
		}
		role, err := memberRole(ctx, tx, teamID, m.AccountID)
		if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && m.Role != "" && role != m.Role) {
			return errStale()
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// SetTeamRole gives the member mem.AccountID role, unless that leaves the
// team without an owner (a conflict). It returns the member's role before.
// The change is decided on mem's role (unless "") and on by, the member who
// makes it (unless its AccountID is ""), as read: when either changed
// since, nothing is written and the error wraps twofold.ErrStale.
//
// Making an owner first holds the member's account row (on PostgreSQL; on
// SQLite the writer is alone), before the team's, in the order closing an
// account takes them: an account being closed is not made an owner
// meanwhile, which its closing, having found it no owner, would then take
// away, so that the other owner who counted on it could leave the team
// without one.
func (s *Store) SetTeamRole(ctx context.Context, teamID string, mem twofold.TeamMember, role twofold.Role, by twofold.TeamMember) (before twofold.Role, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if role == twofold.RoleOwner && s.dialect == Postgres {
			var id string
			err := tx.QueryRowContext(ctx, `SELECT id FROM accounts WHERE id = $1 FOR KEY SHARE`, mem.AccountID).Scan(&id)
			if errors.Is(err, sql.ErrNoRows) {
				return notFound("team member")
			}
			if err != nil {
				return fmt.Errorf("lock member's account: %w", err)
			}
		}
		if err := s.lockTeam(ctx, tx, teamID); err != nil {
			return err
		}
		if before, err = memberRole(ctx, tx, teamID, mem.AccountID); err != nil {
			return err
		}
		if mem.Role != "" && before != mem.Role {
			return errStale()
		}
		if err := checkRoles(ctx, tx, teamID, by); err != nil {
			return err
		}
		if before == role {
			return nil // the role the member has: nothing to write
		}
		res, err := tx.ExecContext(ctx, `UPDATE team_members SET role = $3 WHERE team_id = $1 AND account_id = $2
			AND (role <> 'owner' OR $3 = 'owner'
			     OR EXISTS (SELECT 1 FROM team_members o WHERE o.team_id = $1 AND o.role = 'owner' AND o.account_id <> $2))`,
			teamID, mem.AccountID, string(role))
		n, err := rowsAffected(res, err)
		if err != nil {
			return err
		}
		if n == 0 {
			return errLastOwner()
		}
		return nil
	})
	if err != nil {
		before = ""
		if twofold.ErrorCode(err) == twofold.CodeInternal {
			err = fmt.Errorf("set team role: %w", err)
		}
	}
	return before, err
}

// RemoveTeamMember removes the member mem.AccountID, unless that leaves the
// team without an owner (a conflict), and stops sharing with the team the
// zones the member owns, in one transaction. It returns the member's role
// and the names of those zones, by name. As SetTeamRole, it is decided on
// mem's role and on by as read (ErrStale when they changed since).
func (s *Store) RemoveTeamMember(ctx context.Context, teamID string, mem, by twofold.TeamMember) (role twofold.Role, unshared []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTeam(ctx, tx, teamID); err != nil {
			return err
		}
		was, err := memberRole(ctx, tx, teamID, mem.AccountID)
		if err != nil {
			return err
		}
		if mem.Role != "" && was != mem.Role {
			return errStale()
		}
		if err := checkRoles(ctx, tx, teamID, by); err != nil {
			return err
		}
		var r string
		err = tx.QueryRowContext(ctx, `DELETE FROM team_members WHERE team_id = $1 AND account_id = $2
			AND (role <> 'owner' OR EXISTS (SELECT 1 FROM team_members o WHERE o.team_id = $1 AND o.role = 'owner' AND o.account_id <> $2))
			RETURNING role`, teamID, mem.AccountID).Scan(&r)
		if errors.Is(err, sql.ErrNoRows) {
			return errLastOwner()
		}
		if err != nil {
			return err
		}
		role = twofold.Role(r)
		rows, err := tx.QueryContext(ctx, `UPDATE dns_zones SET team_id = NULL WHERE team_id = $1 AND account_id = $2 RETURNING name`, teamID, mem.AccountID)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var name string
			if err := rows.Scan(&name); err != nil {
				return err
			}
			unshared = append(unshared, name)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		slices.Sort(unshared)
		return nil
	})
	if err != nil {
		role, unshared = "", nil
		if twofold.ErrorCode(err) == twofold.CodeInternal {
			err = fmt.Errorf("remove team member: %w", err)
		}
	}
	return role, unshared, err
}

// UpdateTeam renames the team when name is not nil and sets its two-factor
// policy when requireTwoFactor is not nil, leaving the other as it is: a
// change of one never writes back the other as it was read. It is decided
// on by as read (ErrStale when by's role changed since). It returns the
// team before and after, read in the same transaction, so that the caller
// tells what this change changed.
func (s *Store) UpdateTeam(ctx context.Context, teamID string, name *string, requireTwoFactor *bool, by twofold.TeamMember) (before, after twofold.Team, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTeam(ctx, tx, teamID); err != nil {
			return err
		}
		if err := checkRoles(ctx, tx, teamID, by); err != nil {
			return err
		}
		const q = `SELECT ` + teamColumns + ` FROM teams t WHERE t.id = $1`
		if before, err = scanTeam(tx.QueryRowContext(ctx, q, teamID)); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE teams SET name = COALESCE($2, name), require_two_factor = COALESCE($3, require_two_factor) WHERE id = $1`,
			teamID, name, requireTwoFactor); err != nil {
			return err
		}
		after, err = scanTeam(tx.QueryRowContext(ctx, q, teamID))
		return err
	})
	if err != nil {
		before, after = twofold.Team{}, twofold.Team{}
		if twofold.ErrorCode(err) == twofold.CodeInternal {
			err = fmt.Errorf("update team: %w", err)
		}
	}
	return before, after, err
}

// DeleteTeam deletes the team with its memberships and invitations; its
// zones stay with their owners. As UpdateTeam, it is decided on by as read
// (ErrStale when by's role changed since). It returns the accounts that
// were its members, as the deletion found them under the team's lock: one
// that joined after the caller last read the members is among them.
func (s *Store) DeleteTeam(ctx context.Context, id string, by twofold.TeamMember) (members []string, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		members = nil // a transaction run again starts over
		if err := s.lockTeam(ctx, tx, id); err != nil {
			return err
		}
		if err := checkRoles(ctx, tx, id, by); err != nil {
			return err
		}
		// Explicit rather than by cascade, which SQLite applies only with
		// foreign keys on.
		if _, err := tx.ExecContext(ctx, `UPDATE dns_zones SET team_id = NULL WHERE team_id = $1`, id); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `DELETE FROM team_members WHERE team_id = $1 RETURNING account_id`, id)
		if err != nil {
			return err
		}
		for rows.Next() {
			var a string
			if err := rows.Scan(&a); err != nil {
				rows.Close()
				return err
			}
			members = append(members, a)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		if err := rows.Err(); err != nil {
			return err
		}
		slices.Sort(members)
		if _, err := tx.ExecContext(ctx, `DELETE FROM team_invitations WHERE team_id = $1`, id); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM teams WHERE id = $1`, id)
		n, err := rowsAffected(res, err)
		if err == nil && n == 0 {
			return notFound("team")
		}
		return err
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("delete team: %w", err)
	}
	if err != nil {
		return nil, err
	}
	return members, nil
}

// TeamsRequiringTwoFactor returns the names of the account's teams that
// require two-factor of their members, by name.
func (s *Store) TeamsRequiringTwoFactor(ctx context.Context, accountID string) ([]string, error) {
	return queryAll(ctx, s, "teams requiring two-factor", scanString, `SELECT t.name FROM team_members m JOIN teams t ON t.id = m.team_id
		WHERE m.account_id = $1 AND t.require_two_factor ORDER BY t.name`, accountID)
}

// SetZoneTeam shares the zone with the team, and says whether that changed
// anything: a zone shared with the team already is left as it is
// (changed false). It shares a zone only with a team its owner is a member
// of as the statement runs, holding the team's row as RemoveTeamMember
// does, so that a share cannot outlast the owner's removal from the team
// (which stops sharing their zones): when the owner is not a member it is
// a conflict. It is decided on by as read, as UpdateTeam (ErrStale when
// by's role changed since; checked before the owner's membership).
func (s *Store) SetZoneTeam(ctx context.Context, zone, teamID string, by twofold.TeamMember) (changed bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTeam(ctx, tx, teamID); err != nil {
			return err
		}
		if err := checkRoles(ctx, tx, teamID, by); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE dns_zones SET team_id = $2 WHERE name = $1 AND (team_id IS NULL OR team_id <> $2)
			AND EXISTS (SELECT 1 FROM team_members m WHERE m.team_id = $2 AND m.account_id = dns_zones.account_id)`, zone, teamID)
		n, err := rowsAffected(res, err)
		if err != nil || n > 0 {
			changed = n > 0
			return err
		}
		// Shared with the team already (its owner is a member, as the
		// team's row is held and a removal stops sharing), with another
		// team or none by an owner who is not a member, or no zone.
		var team sql.NullString
		err = tx.QueryRowContext(ctx, `SELECT team_id FROM dns_zones WHERE name = $1`, zone).Scan(&team)
		switch {
		case err == nil && team.String == teamID:
			return nil
		case err == nil:
			return twofold.Errorf(twofold.CodeConflict, "the zone's owner is not a member of the team")
		case !errors.Is(err, sql.ErrNoRows):
			return err
		}
		return notFound("zone")
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("share zone: %w", err)
	}
	return changed, err
}

// UnshareZone stops sharing the zone with the team, and with no other: a
// zone not shared with the team (any more) is not-found. It holds the
// team's row and is decided on by as read, as UpdateTeam (ErrStale when
// by's role changed since), unless by's AccountID is "".
func (s *Store) UnshareZone(ctx context.Context, zone, teamID string, by twofold.TeamMember) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockTeam(ctx, tx, teamID); err != nil {
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				return notFound("zone")
			}
			return err
		}
		if err := checkRoles(ctx, tx, teamID, by); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE dns_zones SET team_id = NULL WHERE name = $1 AND team_id = $2`, zone, teamID)
		n, err := rowsAffected(res, err)
		if err == nil && n == 0 {
			return notFound("zone")
		}
		return err
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("unshare zone: %w", err)
	}
	return err
}

// TeamZones returns the zones shared with the team, by name.
func (s *Store) TeamZones(ctx context.Context, teamID string) ([]twofold.Zone, error) {
	return s.queryZones(ctx, `SELECT `+zoneColumns+` FROM dns_zones WHERE team_id = $1 ORDER BY name`, teamID)
}
