package core

import (
	"context"
	"encoding/base64"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// requireOperator returns a forbidden error unless a is an operator.
func requireOperator(a Auth) error {
	if err := person(a); err != nil {
		return err
	}
	if !a.Account.Operator {
		return twofold.Errorf(twofold.CodeForbidden, "only operators may do this")
	}
	return nil
}

// SearchAccounts returns up to limit accounts whose username contains query,
// for an operator (SPEC §3 "operators (users, resets, audit)").
func (s *Service) SearchAccounts(ctx context.Context, op Auth, query string, limit int) ([]twofold.Account, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.store.Accounts(ctx, searchText(query), "", limit)
}

// AccountsPage returns a page of the accounts whose username contains
// query, by username, for an operator: up to limit (1 to 200; 0 is 50)
// after the cursor after ("" for the first page), and the cursor of the
// next page, "" when this page is the last. Paging by the last name seen,
// not by an offset, returns each account once however many are added or
// removed meanwhile (those before the cursor are not shown).
func (s *Service) AccountsPage(ctx context.Context, op Auth, query, after string, limit int) ([]twofold.Account, string, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		return nil, "", err
	}
	from, err := decodeCursor(after, 1)
	if err != nil {
		return nil, "", err
	}
	limit = pageLimit(limit)
	accts, err := s.store.Accounts(ctx, searchText(query), from[0], limit+1)
	if err != nil || len(accts) <= limit {
		return accts, "", err
	}
	accts = accts[:limit]
	return accts, encodeCursor(accts[limit-1].Username), nil
}

// pageLimit is the size of a page an operator asked for: 1 to 200, 50
// when limit is not.
func pageLimit(limit int) int {
	if limit <= 0 || limit > 200 {
		return 50
	}
	return limit
}

// encodeCursor returns the cursor of a page that continues after the entry
// whose sort keys are keys: opaque to clients, base64url of the keys.
func encodeCursor(keys ...string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(strings.Join(keys, "\x00")))
}

// decodeCursor returns the n sort keys of cursor (encodeCursor), or n
// empty keys for "", the first page; anything else is invalid.
func decodeCursor(cursor string, n int) ([]string, error) {
	if cursor == "" {
		return make([]string, n), nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	keys := strings.Split(string(b), "\x00")
	if err != nil || len(cursor) > 512 || len(keys) != n || !utf8.Valid(b) || slices.Contains(keys, "") {
		return nil, inQuery("after", twofold.Errorf(twofold.CodeInvalid, "after must be the next_after of an earlier page of this list"))
	}
	return keys, nil
}

// AccountSummary is what an operator sees of one account: never a secret.
type AccountSummary struct {
	Account                twofold.Account
	Factors                []twofold.Factor
	RecoveryCodesRemaining int
	Events                 []twofold.AuditEvent
	Locks                  Locks
	Reset                  *twofold.TwoFactorReset // the reset waiting, if any
	Teams                  []twofold.Membership    // the account's teams and its role in each
	// TwoFactor is whether login asks the account for the second step,
	// and why: its own setting or its teams' policy.
	TwoFactor TwoFactorPolicy
	// EmailChangedByOperatorAt is when an operator last changed the
	// account's email address (SetEmailFor), zero when none has: whoever
	// talks an operator into a new address can reset the password.
	EmailChangedByOperatorAt time.Time
}

// InspectAccount returns an account's factors and recent audit events, for an
// operator; for an API key, the events only when it may read the audit
// log (admin events read).
func (s *Service) InspectAccount(ctx context.Context, op Auth, accountID string, eventLimit int) (AccountSummary, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		return AccountSummary{}, err
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return AccountSummary{}, err
	}
	fs, err := s.Factors(ctx, accountID)
	if err != nil {
		return AccountSummary{}, err
	}
	n, err := s.store.RecoveryCodesRemaining(ctx, accountID)
	if err != nil {
		return AccountSummary{}, err
	}
	if eventLimit <= 0 || eventLimit > 200 {
		eventLimit = 50
	}
	var evs []twofold.AuditEvent
	if op.Allows(permit.Admin, "events", permit.Read) {
		if evs, err = s.store.QueryEvents(ctx, twofold.EventQuery{AccountID: accountID, Limit: eventLimit}); err != nil {
			return AccountSummary{}, err
		}
		evs = shownEvents(evs)
	}
	locks, err := s.locks(ctx, a)
	if err != nil {
		return AccountSummary{}, err
	}
	r, found, err := s.store.TwoFactorReset(ctx, a.ID)
	if err != nil {
		return AccountSummary{}, err
	}
	a.PasswordHash = ""
	for i := range fs {
		fs[i].Secret, fs[i].SealedSecret = nil, nil
	}
	ms, err := s.store.Memberships(ctx, a.ID)
	if err != nil {
		return AccountSummary{}, err
	}
	tf, err := s.twoFactorPolicy(ctx, a, fs)
	if err != nil {
		return AccountSummary{}, err
	}
	changed, err := s.store.EmailChangedByOperatorAt(ctx, a.ID)
	if err != nil {
		return AccountSummary{}, err
	}
	sum := AccountSummary{Account: a, Factors: fs, RecoveryCodesRemaining: n, Events: evs, Locks: locks, Teams: ms, TwoFactor: tf,
		EmailChangedByOperatorAt: changed}
	if found {
		sum.Reset = &r
	}
	return sum, nil
}

// TwoFactorPolicies returns, for an operator, the TwoFactorPolicy of each
// of accts (in their order), as InspectAccount does for one: what the
// operator API shows with each account it answers. A caller that may read
// or change accounts may see it.
func (s *Service) TwoFactorPolicies(ctx context.Context, op Auth, accts []twofold.Account) ([]TwoFactorPolicy, error) {
	if err := adminAllowed(op, "users", permit.Read); err != nil {
		if err := adminAllowed(op, "users", permit.Write); err != nil {
			return nil, err
		}
	}
	out := make([]TwoFactorPolicy, len(accts))
	for i, a := range accts {
		fs, err := s.store.Factors(ctx, a.ID)
		if err != nil {
			return nil, err
		}
		if out[i], err = s.twoFactorPolicy(ctx, a, fs); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// WaitingReset is a reset of two-factor waiting, with the name of its account.
type WaitingReset struct {
	twofold.TwoFactorReset
	Username string
}

// WaitingResets returns up to limit of the resets of two-factor waiting
// (50 when limit is out of 1 to 200), the soonest due first, for an
// operator (SPEC §3 "operators (users, resets, audit)"), and reports
// whether more are waiting than it returns.
func (s *Service) WaitingResets(ctx context.Context, op Auth, limit int) (_ []WaitingReset, more bool, _ error) {
	if err := adminAllowed(op, "resets", permit.Read); err != nil {
		return nil, false, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	rs, err := s.store.TwoFactorResets(ctx, limit+1)
	if err != nil {
		return nil, false, err
	}
	if len(rs) > limit {
		rs, more = rs[:limit], true
	}
	out := make([]WaitingReset, 0, len(rs))
	for _, r := range rs {
		a, err := s.store.AccountByID(ctx, r.AccountID)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			continue // deleted meanwhile, and its reset with it
		}
		if err != nil {
			return nil, false, err
		}
		out = append(out, WaitingReset{TwoFactorReset: r, Username: a.Username})
	}
	return out, more, nil
}

// SearchTeams returns up to limit teams whose name contains query, with
// their counts and owners, for an operator: every team on the server, not
// only the operator's own (SPEC §1 story 6). It reads and changes nothing
// else.
func (s *Service) SearchTeams(ctx context.Context, op Auth, query string, limit int) ([]twofold.TeamSummary, error) {
	if err := adminAllowed(op, "teams", permit.Read); err != nil {
		return nil, err
	}
	if limit <= 0 || limit > 200 {
		limit = 50
	}
	return s.store.TeamSummaries(ctx, searchText(query), "", "", limit)
}

// TeamsPage is SearchTeams a page at a time, by name and id: up to limit
// teams (1 to 200; 0 is 50) after the cursor after ("" for the first
// page), and the cursor of the next page, "" when this page is the last
// (see AccountsPage).
func (s *Service) TeamsPage(ctx context.Context, op Auth, query, after string, limit int) ([]twofold.TeamSummary, string, error) {
	if err := adminAllowed(op, "teams", permit.Read); err != nil {
		return nil, "", err
	}
	from, err := decodeCursor(after, 2)
	if err != nil {
		return nil, "", err
	}
	limit = pageLimit(limit)
	ts, err := s.store.TeamSummaries(ctx, searchText(query), from[0], from[1], limit+1)
	if err != nil || len(ts) <= limit {
		return ts, "", err
	}
	ts = ts[:limit]
	return ts, encodeCursor(ts[limit-1].Team.Name, ts[limit-1].Team.ID), nil
}

// searchText is an operator's search as it is looked for: valid UTF-8
// without NUL bytes, trimmed, and cut to 64 characters (never inside one),
// as no username or team name is longer.
func searchText(query string) string {
	query = strings.TrimSpace(strings.ReplaceAll(strings.ToValidUTF8(query, ""), "\x00", ""))
	if utf8.RuneCountInString(query) > 64 {
		query = string([]rune(query)[:64])
	}
	return query
}

// TeamInspection is what an operator sees of one team: its members with
// their roles and whether each has two-factor, and the zones shared with it.
type TeamInspection struct {
	Team    twofold.Team
	Members []twofold.TeamMember // by username
	Zones   []SharedZone         // by name
	// Invitations are those waiting for an answer, by username.
	Invitations []twofold.TeamInvitation
}

// WithoutFactor counts the members whose account has no active factor.
func (t TeamInspection) WithoutFactor() int {
	n := 0
	for _, m := range t.Members {
		if !m.TwoFactor {
			n++
		}
	}
	return n
}

// SharedZone is a zone shared with a team, with its owner's username.
type SharedZone struct {
	Zone  twofold.Zone
	Owner string
}

// InspectTeam returns a team with its members and shared zones, for an
// operator, who need not be a member; it changes nothing.
func (s *Service) InspectTeam(ctx context.Context, op Auth, teamID string) (TeamInspection, error) {
	if err := adminAllowed(op, "teams", permit.Read); err != nil {
		return TeamInspection{}, err
	}
	t, err := s.store.Team(ctx, teamID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return TeamInspection{}, errNoTeam()
	}
	if err != nil {
		return TeamInspection{}, err
	}
	members, err := s.store.TeamMembers(ctx, teamID)
	if err != nil {
		return TeamInspection{}, err
	}
	zs, err := s.store.TeamZones(ctx, teamID)
	if err != nil {
		return TeamInspection{}, err
	}
	invitations, err := s.store.TeamInvitations(ctx, teamID, s.Now())
	if err != nil {
		return TeamInspection{}, err
	}
	names := map[string]string{}
	for _, m := range members {
		names[m.AccountID] = m.Username
	}
	v := TeamInspection{Team: t, Members: members, Zones: make([]SharedZone, 0, len(zs)), Invitations: invitations}
	for _, z := range zs {
		owner, ok := names[z.AccountID]
		if !ok { // a zone's owner may have left the team since sharing it
			a, err := s.store.AccountByID(ctx, z.AccountID)
			if err != nil {
				return TeamInspection{}, err
			}
			owner, names[z.AccountID] = a.Username, a.Username
		}
		v.Zones = append(v.Zones, SharedZone{Zone: z, Owner: owner})
	}
	return v, nil
}
