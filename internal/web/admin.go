package web

import (
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// adminUsersBody is the data of the operator's user list, with the form
// that creates an account.
type adminUsersBody struct {
	Query    string
	Accounts []twofold.Account
	// Required holds the ids of Accounts whose login asks for the second
	// step: their own setting, or a team's policy (core.TwoFactorPolicy).
	Required map[string]bool
	More     bool // the list was cut at the limit
	Resets   []core.WaitingReset
	// MoreResets reports whether more resets wait than Resets lists, the
	// 200 soonest due.
	MoreResets bool
	// Username and Email are what the form to create an account was sent
	// with, kept when it is refused (the passwords never are).
	Username, Email string
	// Of the operator: creating an account needs their own fresh second
	// factor.
	OperatorEnabled bool
	// Unmailed says why the holder cannot be emailed (no address, or
	// no mail leaves this server); "" when they can.
	Unmailed  string
	Elevation *elevationBody
}

const adminUsersLimit = 100

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query() // the form's fields, when its "confirm it's you" method was switched
	s.renderAdminUsers(w, r, a, http.StatusOK, "", adminUsersBody{Username: q.Get("username"), Email: q.Get("email")})
}

// renderAdminUsers shows the user list searched by ?q=, with b's form
// values and errMsg when creating an account failed.
func (s *Server) renderAdminUsers(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string, b adminUsersBody) {
	b.Query = r.URL.Query().Get("q")
	accts, err := s.svc.SearchAccounts(r.Context(), a, b.Query, adminUsersLimit+1)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if b.Resets, b.MoreResets, err = s.svc.WaitingResets(r.Context(), a, 200); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	me, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Accounts, b.OperatorEnabled, b.Elevation = accts, me.Enabled, s.elevationFor(r, a, me, "/admin/users")
	if b.Elevation != nil {
		// Both, empty or not: a "confirm it's you" button carries along
		// (keep) what is typed into the fields it names after the page
		// was shown.
		b.Elevation.Keep = url.Values{"username": {b.Username}, "email": {b.Email}}
	}
	if len(accts) > adminUsersLimit {
		b.Accounts, b.More = accts[:adminUsersLimit], true
	}
	tfs, err := s.svc.TwoFactorPolicies(r.Context(), a, b.Accounts)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Required = map[string]bool{}
	for i, acct := range b.Accounts {
		b.Required[acct.ID] = tfs[i].Required
	}
	s.render(w, r, status, "admin_users", Page{Title: "Users", Account: &a.Account, Notice: notice(r), Error: errMsg, Body: b})
}

// adminCreateUser creates an account for an operator, with the rules of
// POST /v1/admin/users (core.CreateAccountFor) and the operator's own
// fresh second factor, and goes to its page.
func (s *Server) adminCreateUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f := r.PostForm
	b := adminUsersBody{Username: f.Get("username"), Email: f.Get("email")}
	if f.Get("password") != f.Get("password2") {
		markInvalid(r, "new-password2")
		s.renderAdminUsers(w, r, a, http.StatusBadRequest, "The two passwords differ. Type the same password twice.", b)
		return
	}
	var acct twofold.Account
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		acct, err = s.svc.CreateAccountFor(r.Context(), a, core.NewAccount{Username: b.Username, Email: b.Email, Password: f.Get("password")}, httpapi.Meta(r))
	}
	if err != nil {
		if f := newAccountField(err, b.Username, b.Email, [3]string{"new-username", "new-email", "new-password"}); f != "" && markedInvalid(r) == "" {
			markInvalid(r, f)
		}
		s.renderAdminUsers(w, r, a, s.status(w, r, err), message(err), b)
		return
	}
	http.Redirect(w, r, "/admin/users/"+acct.ID+"?m=account_created", http.StatusSeeOther)
}

// adminUserBody is the data of the operator's view of one account.
type adminUserBody struct {
	core.AccountSummary
	Enabled bool
	// Of the operator: unlocking needs their own fresh second factor.
	OperatorEnabled bool
	// Unmailed says why the holder cannot be emailed (no address, or
	// no mail leaves this server); "" when they can.
	Unmailed  string
	Elevation *elevationBody
	Sessions  []core.SessionInfo // the account's live sessions
	APIKeys   []twofold.APIKey   // the account's API keys, never a secret
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminUser(w, r, a, http.StatusOK, "")
}

func (s *Server) renderAdminUser(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	sum, err := s.svc.InspectAccount(r.Context(), a, id, 50)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	me, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := adminUserBody{AccountSummary: sum, OperatorEnabled: me.Enabled, Elevation: s.elevationFor(r, a, me, "/admin/users/"+id)}
	if b.Sessions, err = s.svc.SessionsOf(r.Context(), a, id); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if b.APIKeys, err = s.svc.APIKeysOf(r.Context(), a, id); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	for _, f := range sum.Factors {
		b.Enabled = b.Enabled || f.Status == twofold.FactorActive
	}
	switch {
	case !s.svc.EmailChangeByMail():
		b.Unmailed = "this server sends no mail"
	case sum.Account.Email == "":
		b.Unmailed = "the account has no email address"
	}
	msg := notice(r)
	if m, ok := unmailedNotices[r.URL.Query().Get("m")]; ok && b.Unmailed != "" {
		msg = m + " The holder was not emailed (" + b.Unmailed + "): tell them another way."
	}
	s.render(w, r, status, "admin_user", Page{Title: sum.Account.Username, Account: &a.Account, Notice: msg, Error: errMsg, Body: b})
}

// unmailedNotices are the notices of operators' actions that say the
// holder was emailed, as they read when the holder could not be.
var unmailedNotices = map[string]string{
	"reset_requested":          "The reset of two-factor is scheduled. The holder can cancel it until it is due.",
	"api_key_revoked_for_user": "The API key is revoked, with the keys made with it.",
	"signed_out_everywhere":    "The account is signed out everywhere.",
	"email_changed_for_user":   "The email address is changed.",
}

// adminUnlock clears the failed-attempt locks of an account (SPEC §1 story
// 9), with the operator's own fresh second factor.
func (s *Server) adminUnlock(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	cleared := false
	err := s.elevateFromForm(w, r, &a)
	if err == nil {
		cleared, err = s.svc.UnlockAccount(r.Context(), a, id, httpapi.Meta(r))
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.fail(w, r, &a, err)
		return
	}
	if err != nil {
		s.renderAdminUser(w, r, a, s.status(w, r, err), message(err))
		return
	}
	if !cleared {
		http.Redirect(w, r, "/admin/users/"+id+"?m=nothing_locked", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/admin/users/"+id+"?m=unlocked", http.StatusSeeOther)
}
