package web

import (
	"net/http"
	"slices"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
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
	if id == a.Account.ID {
		b.Warning = "This is your own account: this browser is signed out too, and you sign in again."
	}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle("Sign out everywhere", sum.Account.Username), errMsg, "Signing an account out", b)
}

// adminSignOut signs the account of the path out everywhere, with the
// operator's own fresh second factor.
func (s *Server) adminSignOut(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id, done := r.PathValue("id"), "signed_out_everywhere"
	self := id == a.Account.ID
	if self {
		// The operator's own account: this session ended with the others,
		// so the user's page would only say it had ended. As the
		// holder's own "sign out everywhere" (logoutEverywhere).
		done = "/login?m=logged_out_everywhere"
	}
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		ended, err := s.svc.SignOutEverywhereFor(r.Context(), a, id, m)
		if err == nil && self {
			s.clearCookie(w, r, sessionCookie, "/")
		}
		if err == nil && !ended {
			return "nothing_signed_in", nil
		}
		return "", err
	}, func(status int, errMsg string) { s.renderAdminSignOut(w, r, a, status, errMsg) }, done)
}

// Revoking one of a user's API keys, for an operator, on a confirmation
// page with the operator's own second factor; core.RevokeAPIKeyFor says
// what it does.

func (s *Server) adminRevokeKeyPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminRevokeKey(w, r, a, http.StatusOK, "")
}

func (s *Server) renderAdminRevokeKey(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id, keyID := r.PathValue("id"), r.PathValue("key")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	keys, err := s.svc.APIKeysOf(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	i := slices.IndexFunc(keys, func(k twofold.APIKey) bool { return k.ID == keyID })
	if i < 0 {
		s.renderError(w, r, &a, http.StatusNotFound, "This account has no such API key: it was revoked already, or never was.")
		return
	}
	b := confirmBody{Action: "/admin/users/" + id + "/api-keys/" + keyID + "/revoke", Cancel: "/admin/users/" + id,
		Heading: "Revoke the API key “" + keys[i].Name + "” of “" + sum.Account.Username + "”?", Button: "Revoke the key", Danger: true,
		Text: []string{
			"The key stops working at once, and so do the keys made with it and their tokens. Scripts that use them fail.",
			"The holder is emailed, if the account has an address.",
		}}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle("Revoke API key", sum.Account.Username), errMsg, "Revoking a user's API key", b)
}

// adminRevokeKey revokes the key of the path, with the operator's own
// fresh second factor.
func (s *Server) adminRevokeKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		return "", s.svc.RevokeAPIKeyFor(r.Context(), a, r.PathValue("id"), r.PathValue("key"), m)
	}, func(status int, errMsg string) { s.renderAdminRevokeKey(w, r, a, status, errMsg) }, "api_key_revoked_for_user")
}
