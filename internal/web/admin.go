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
}

const adminUsersLimit = 100

func (s *Server) adminUsers(w http.ResponseWriter, r *http.Request, a core.Auth) {
	q := r.URL.Query().Get("q")
	accts, err := s.svc.SearchAccounts(r.Context(), a, q, adminUsersLimit+1)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := adminUsersBody{Query: q, Accounts: accts}
	if len(accts) > adminUsersLimit {
		b.Accounts, b.More = accts[:adminUsersLimit], true
	}
	s.render(w, r, http.StatusOK, "admin_users", Page{Title: "Users", Account: &a.Account, Body: b})
}

// adminUserBody is the data of the operator's view of one account.
type adminUserBody struct {
	core.AccountSummary
	Enabled bool
}

func (s *Server) adminUser(w http.ResponseWriter, r *http.Request, a core.Auth) {
	sum, err := s.svc.InspectAccount(r.Context(), a, r.PathValue("id"), 50)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := adminUserBody{AccountSummary: sum}
	for _, f := range sum.Factors {
		b.Enabled = b.Enabled || f.Status == twofold.FactorActive
	}
	s.render(w, r, http.StatusOK, "admin_user", Page{Title: sum.Account.Username, Account: &a.Account, Notice: notice(r), Body: b})
}

// adminUnlock clears the failed-attempt locks of an account (SPEC §1 story 9).
func (s *Server) adminUnlock(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	if err := s.svc.UnlockAccount(r.Context(), a, id, httpapi.Meta(r)); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	http.Redirect(w, r, "/admin/users/"+id+"?m=unlocked", http.StatusSeeOther)
}
