package httpapi

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// The operator API (/v1/admin): what the operator's pages show and do, for
// a control panel. Every rule, who may call it included, is in core.

// userJSON is an account as the operator API shows it: never its password
// hash.
type userJSON struct {
	ID        string `json:"id"`
	Username  string `json:"username"`
	Email     string `json:"email"`
	Operator  bool   `json:"operator"`
	Suspended bool   `json:"suspended"`
	// TwoFactorRequired reports whether login asks for the second step
	// (SPEC §3.1 two_factor.required): the account's own setting, or a
	// team's policy once it has a factor. TwoFactorRequiredByUser is the
	// account's own setting alone.
	TwoFactorRequired       bool      `json:"two_factor_required"`
	TwoFactorRequiredByUser bool      `json:"two_factor_required_by_user"`
	CreatedAt               time.Time `json:"created_at"`
}

func toUserJSON(a twofold.Account, tf core.TwoFactorPolicy) userJSON {
	return userJSON{ID: a.ID, Username: a.Username, Email: a.Email, Operator: a.Operator, Suspended: a.Suspended,
		TwoFactorRequired: tf.Required, TwoFactorRequiredByUser: tf.RequiredByUser, CreatedAt: a.CreatedAt}
}

// adminTwoFactorJSON is an account's two_factor as the operator API shows
// it: the fields of GET /v1/me's that say whether login asks for the
// second step, and why.
type adminTwoFactorJSON struct {
	Enabled                bool     `json:"enabled"`
	Required               bool     `json:"required"`
	RequiredByUser         bool     `json:"required_by_user"`
	RequiredBy             []string `json:"required_by_teams"`
	RecoveryCodesRemaining int      `json:"recovery_codes_remaining"`
}

// usersJSON shows accts to the operator op, each with its TwoFactorPolicy.
func (s *Server) usersJSON(r *http.Request, op core.Auth, accts ...twofold.Account) ([]userJSON, error) {
	tfs, err := s.svc.TwoFactorPolicies(r.Context(), op, accts)
	if err != nil {
		return nil, err
	}
	out := make([]userJSON, 0, len(accts))
	for i, acct := range accts {
		out = append(out, toUserJSON(acct, tfs[i]))
	}
	return out, nil
}

// writeUser answers acct, changed by the operator op.
func (s *Server) writeUser(w http.ResponseWriter, r *http.Request, op core.Auth, status int, acct twofold.Account) {
	u, err := s.usersJSON(r, op, acct)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, status, map[string]any{"user": u[0]})
}

type locksJSON struct {
	Any                 bool       `json:"any"`
	CodeFailures        int        `json:"code_failures"`
	CodesCapped         bool       `json:"codes_capped"`
	ClaimFailures       int        `json:"claim_failures"`
	RecoveryFailures    int        `json:"recovery_failures"`
	PasswordFailures    int        `json:"password_failures"`
	PasswordSources     int        `json:"password_sources"`
	LockedUntil         *time.Time `json:"locked_until,omitempty"`
	PasswordPausedUntil *time.Time `json:"password_paused_until,omitempty"`
	PushDenials         int        `json:"push_denials"`
	PushPausedUntil     *time.Time `json:"push_paused_until,omitempty"`
}

func toLocksJSON(l core.Locks) locksJSON {
	return locksJSON{Any: l.Any(), CodeFailures: l.CodeFailures, CodesCapped: l.CodesCapped, ClaimFailures: l.ClaimFailures, RecoveryFailures: l.RecoveryFailures, PasswordFailures: l.PasswordFailures,
		PasswordSources: l.PasswordSources, LockedUntil: timeOrNil(l.LockedUntil), PasswordPausedUntil: timeOrNil(l.PasswordPausedUntil),
		PushDenials: l.PushDenials, PushPausedUntil: timeOrNil(l.PushPausedUntil)}
}

// toResetJSON shows a waiting reset to an operator, who may see which
// operator asked for it (the holder sees only "an operator").
func toResetJSON(r twofold.TwoFactorReset) *resetJSON {
	return &resetJSON{RequestedBy: r.RequestedBy, RequestedAt: r.RequestedAt, DueAt: r.Due, Withdrawing: r.Withdrawing}
}

// adminEventJSON is an audit event of any account.
type adminEventJSON struct {
	AccountID string `json:"account_id"`
	eventJSON
}

// limitParam reads the optional query parameter limit, 1 to 200; 0 when
// it is absent. It refuses any query parameter but limit and also (Query).
func limitParam(r *http.Request, also ...string) (int, error) {
	if err := Query(r, append([]string{"limit"}, also...)...); err != nil {
		return 0, err
	}
	return limitValue(r)
}

// limitValue reads limit as limitParam does, once the query was checked.
func limitValue(r *http.Request) (int, error) {
	v := r.URL.Query().Get("limit")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > 200 {
		return 0, twofold.Errorf(twofold.CodeInvalid, "limit must be an integer from 1 to 200").OnQuery("limit")
	}
	return n, nil
}

// eventQuery reads the query parameters of a page of audit events: before
// or after, an event id; type, an event type, repeated or separated by
// commas for several; and limit (see limitParam). The core checks what
// they mean together. It refuses any other query parameter but also.
func eventQuery(r *http.Request, also ...string) (twofold.EventQuery, error) {
	var q twofold.EventQuery
	if err := QueryRepeatable(r, []string{"type"}, append([]string{"before", "after", "type", "limit"}, also...)...); err != nil {
		return q, err
	}
	v := r.URL.Query()
	if s := v.Get("before"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			return q, twofold.Errorf(twofold.CodeInvalid, "before must be an event id (a positive integer)").OnQuery("before")
		}
		q.Before = n
	}
	if v.Has("after") {
		n, err := strconv.ParseInt(v.Get("after"), 10, 64)
		if err != nil || n < 0 {
			return q, twofold.Errorf(twofold.CodeInvalid, "after must be an event id (a positive integer), or 0 for the oldest").OnQuery("after")
		}
		q.After, q.Forward = n, true
	}
	for _, t := range v["type"] {
		q.Types = append(q.Types, strings.Split(t, ",")...)
	}
	var err error
	q.Limit, err = limitValue(r)
	return q, err
}

// eventsPage is the answer with a page of events evs that q selected,
// shown as out: newest first, with the id to ask for the next page before
// unless the page is empty; forward, with the id to ask after next time,
// the page's newest, or q's own when nothing is new.
func eventsPage[E any](q twofold.EventQuery, evs []twofold.AuditEvent, out []E) map[string]any {
	page := map[string]any{"events": out}
	switch {
	case q.Forward && len(evs) > 0:
		page["next_after"] = evs[len(evs)-1].ID
	case q.Forward:
		page["next_after"] = q.After
	case len(evs) > 0:
		page["next_before"] = evs[len(evs)-1].ID
	}
	return page
}

// listPage is the answer with a page of a list named name, shown as out,
// paged by cursor (core.AccountsPage): more, and when there is more, the
// cursor to ask after for the next page.
func listPage(name string, out any, next string) map[string]any {
	page := map[string]any{name: out, "more": next != ""}
	if next != "" {
		page["next_after"] = next
	}
	return page
}

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, a core.Auth) {
	limit, err := limitParam(r, "q", "after")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	v := r.URL.Query()
	accts, next, err := s.svc.AccountsPage(r.Context(), a, v.Get("q"), v.Get("after"), limit)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out, err := s.usersJSON(r, a, accts...)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, listPage("users", out, next))
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	sum, err := s.svc.InspectAccount(r.Context(), a, r.PathValue("id"), 50)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	teams := make([]teamJSON, 0, len(sum.Teams))
	for _, m := range sum.Teams {
		teams = append(teams, toTeamJSON(m.Team, m.Role))
	}
	tf := sum.TwoFactor
	required := tf.RequiredBy
	if required == nil {
		required = []string{}
	}
	out := map[string]any{"user": toUserJSON(sum.Account, tf), "factors": factorsJSON(sum.Factors),
		"two_factor": adminTwoFactorJSON{Enabled: tf.Enabled, Required: tf.Required, RequiredByUser: tf.RequiredByUser,
			RequiredBy: required, RecoveryCodesRemaining: sum.RecoveryCodesRemaining},
		"recovery_codes_remaining": sum.RecoveryCodesRemaining, "locks": toLocksJSON(sum.Locks), "teams": teams,
		"events": adminEventsJSON(sum.Events)}
	if sum.Reset != nil {
		out["reset"] = toResetJSON(*sum.Reset)
	}
	if !sum.EmailChangedByOperatorAt.IsZero() {
		out["email_changed_by_operator_at"] = sum.EmailChangedByOperatorAt.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Username string `json:"username"`
		Email    string `json:"email"`
		Password string `json:"password"`
		Operator bool   `json:"operator"` // refused: see core.CreateAccountFor
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	acct, err := s.svc.CreateAccountFor(r.Context(), a, core.NewAccount{Username: req.Username, Email: req.Email, Password: req.Password, Operator: req.Operator}, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.Header().Set("Location", "/v1/admin/users/"+acct.ID)
	s.writeUser(w, r, a, http.StatusCreated, acct)
}

func (s *Server) adminUnlock(w http.ResponseWriter, r *http.Request, a core.Auth) {
	cleared, err := s.svc.UnlockAccount(r.Context(), a, r.PathValue("id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"unlocked": cleared})
}

func (s *Server) adminSuspend(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.setSuspended(w, r, a, true)
}

func (s *Server) adminUnsuspend(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.setSuspended(w, r, a, false)
}

func (s *Server) setSuspended(w http.ResponseWriter, r *http.Request, a core.Auth, on bool) {
	acct, _, err := s.svc.SetSuspended(r.Context(), a, r.PathValue("id"), on, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.writeUser(w, r, a, http.StatusOK, acct)
}

func (s *Server) adminReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	reset, err := s.svc.RequestTwoFactorReset(r.Context(), a, r.PathValue("id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	status := "scheduled"
	switch {
	case reset.Withdrawn:
		status = "withdrawn" // a way in was used after the request: nothing removed
	case !reset.Due.After(reset.RequestedAt):
		status = "carried_out"
	}
	out := map[string]any{"status": status, "reset": toResetJSON(reset.TwoFactorReset)}
	if !reset.EmailReplacedAt.IsZero() {
		// A new address, then a reset: the way someone who is not the
		// holder would take the account over. The former addresses are
		// told of the reset too.
		out["email_changed_by_operator_at"] = reset.EmailReplacedAt.UTC().Format(time.RFC3339)
		out["former_addresses_told"] = reset.FormerAddressesTold
		out["warning"] = "an operator changed this account's email address recently: make sure, another way than this request, that the holder asked for both; the addresses it replaced are told of the reset too"
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) adminCancelReset(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.CancelTwoFactorResetFor(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) adminResets(w http.ResponseWriter, r *http.Request, a core.Auth) {
	limit, err := limitParam(r)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	rs, more, err := s.svc.WaitingResets(r.Context(), a, limit)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	type waitingJSON struct {
		UserID   string `json:"user_id"`
		Username string `json:"username"`
		resetJSON
	}
	out := make([]waitingJSON, 0, len(rs))
	for _, w := range rs {
		out = append(out, waitingJSON{UserID: w.AccountID, Username: w.Username, resetJSON: *toResetJSON(w.TwoFactorReset)})
	}
	writeJSON(w, http.StatusOK, map[string]any{"resets": out, "more": more})
}

func (s *Server) adminTeams(w http.ResponseWriter, r *http.Request, a core.Auth) {
	limit, err := limitParam(r, "q", "after")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	v := r.URL.Query()
	ts, next, err := s.svc.TeamsPage(r.Context(), a, v.Get("q"), v.Get("after"), limit)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	type summaryJSON struct {
		teamJSON
		Members       int      `json:"members"`
		WithoutFactor int      `json:"members_without_two_factor"`
		Zones         int      `json:"zones"`
		Owners        []string `json:"owners"`
	}
	out := make([]summaryJSON, 0, len(ts))
	for _, t := range ts {
		owners := make([]string, 0, len(t.Owners))
		for _, o := range t.Owners {
			owners = append(owners, o.Username)
		}
		out = append(out, summaryJSON{teamJSON: toTeamJSON(t.Team, ""), Members: t.Members, WithoutFactor: t.WithoutFactor, Zones: t.Zones, Owners: owners})
	}
	writeJSON(w, http.StatusOK, listPage("teams", out, next))
}

func (s *Server) adminTeam(w http.ResponseWriter, r *http.Request, a core.Auth) {
	v, err := s.svc.InspectTeam(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	members := make([]memberJSON, 0, len(v.Members))
	for _, m := range v.Members {
		members = append(members, toMemberJSON(m))
	}
	type zoneJSON struct {
		Name  string `json:"name"`
		Owner string `json:"owner"`
	}
	zones := make([]zoneJSON, 0, len(v.Zones))
	for _, z := range v.Zones {
		zones = append(zones, zoneJSON{Name: z.Zone.Name, Owner: z.Owner})
	}
	invitations := make([]invitationJSON, 0, len(v.Invitations))
	for _, inv := range v.Invitations {
		invitations = append(invitations, toInvitationJSON(inv))
	}
	writeJSON(w, http.StatusOK, map[string]any{"team": toTeamJSON(v.Team, ""), "members": members, "zones": zones, "invitations": invitations})
}

func (s *Server) adminEvents(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q, err := eventQuery(r, "account")
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	q.AccountID = r.URL.Query().Get("account")
	evs, err := s.svc.AuditEvents(r.Context(), a, q)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, eventsPage(q, evs, adminEventsJSON(evs)))
}

func adminEventsJSON(evs []twofold.AuditEvent) []adminEventJSON {
	out := make([]adminEventJSON, 0, len(evs))
	for _, e := range evs {
		out = append(out, adminEventJSON{AccountID: e.AccountID, eventJSON: toEventJSON(e)})
	}
	return out
}

// adminUpdateUser changes what an operator may change of an account: its
// email address.
func (s *Server) adminUpdateUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Email string `json:"email"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	acct, _, err := s.svc.SetEmailFor(r.Context(), a, r.PathValue("id"), req.Email, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	s.writeUser(w, r, a, http.StatusOK, acct)
}

// adminDeleteUser closes an account for good, for an operator's elevated
// session (never an API key).
func (s *Server) adminDeleteUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.DeleteAccountFor(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
