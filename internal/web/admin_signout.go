package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Signing an account out everywhere, for an operator: on a confirmation
// page of its own, with the operator's own second factor, as suspending
// does (admin_suspend.go); core.SignOutEverywhereFor says what it does.

func (s *Server) adminSignOutPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminSignOut(w, r, a, http.StatusOK, "")
}

func (s *Server) renderAdminSignOut(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	b := confirmBody{Action: "/admin/users/" + id + "/logout", Cancel: "/admin/users/" + id,
		Heading: "Sign “" + sum.Account.Username + "” out everywhere?", Button: "Sign out everywhere", Danger: true,
		Text: []string{
			"Every browser and app signed in to the account is signed out at once, and sign-ins waiting for their second step are voided. The holder can sign in again.",
			"Its API keys keep working: suspend the account to stop them too.",
			"The holder is emailed, if the account has an address.",
		}}
	if !me.Enabled {
		errMsg, b.Button = "Signing an account out needs two-factor on your own account. Add an authenticator first.", ""
	}
	b.Elevation = s.elevationFor(r, a, me, b.Action)
	s.render(w, r, status, "confirm", Page{Title: "Sign out everywhere", Account: &a.Account, Error: errMsg, Body: b})
}

// adminSignOut signs the account of the path out everywhere, with the
// operator's own fresh second factor.
func (s *Server) adminSignOut(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	err := s.elevateFromForm(r, &a)
	if err == nil {
		err = s.svc.SignOutEverywhereFor(r.Context(), a, id, httpapi.Meta(r))
	}
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.fail(w, r, &a, err)
		return
	}
	if err != nil {
		s.renderAdminSignOut(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, "/admin/users/"+id+"?m=signed_out_everywhere", http.StatusSeeOther)
}
