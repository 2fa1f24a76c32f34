package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// adminUsersBody is the data of the operator's user list.
type adminUsersBody struct {
	Query    string
	Accounts []twofold.Account
	More     bool // the list was cut at the limit
	Resets   []core.WaitingReset
}

const adminUsersLimit = 100

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query().Get("q")
	accts, err := s.svc.SearchAccounts(r.Context(), a, q, adminUsersLimit+1)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	resets, err := s.svc.WaitingResets(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := adminUsersBody{Query: q, Accounts: accts, Resets: resets}
	if len(accts) > adminUsersLimit {
		b.Accounts, b.More = accts[:adminUsersLimit], true
	}
	s.render(w, r, http.StatusOK, "admin_users", Page{Title: "Users", Account: &a.Account, Body: b})
}

// adminUserBody is the data of the operator's view of one account.
type adminUserBody struct {
	core.AccountSummary
	Enabled bool
	// Of the operator: unlocking needs their own fresh second factor.
	OperatorEnabled bool
	Elevation       *elevationBody
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
	for _, f := range sum.Factors {
		b.Enabled = b.Enabled || f.Status == twofold.FactorActive
	}
	s.render(w, r, status, "admin_user", Page{Title: sum.Account.Username, Account: &a.Account, Notice: notice(r), Error: errMsg, Body: b})
}

// adminUnlock clears the failed-attempt locks of an account (SPEC §1 story
// 9), with the operator's own fresh second factor.
func (s *Server) adminUnlock(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	cleared := false
	err := s.elevateFromForm(r, &a)
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
