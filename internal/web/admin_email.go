package web

import (
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// Changing a user's email address, for an operator (a customer who lost
// the old mailbox): on a confirmation page of its own, with the
// operator's own fresh second factor; core.SetEmailFor says what it does.

func (s *Server) adminEmailPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The address typed, when the "confirm it's you" method was switched.
	s.renderAdminEmail(w, r, a, http.StatusOK, "", r.URL.Query().Get("email"))
}

func (s *Server) renderAdminEmail(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg, email string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	now := "The account has no email address now, so its holder gets no security notices and no password-reset link."
	if sum.Account.Email != "" {
		now = "Its address now is " + sum.Account.Email + "."
	}
	b := confirmBody{Action: "/admin/users/" + id + "/email", Cancel: "/admin/users/" + id,
		Heading: "Change the email address of “" + sum.Account.Username + "”?", Button: "Change the address",
		AskEmail: true, Email: email, Keep: url.Values{"email": {email}},
		Text: []string{
			now,
			"The new address takes effect at once, without a code sent to it: make sure it is the holder's. Whoever reads it gets the account's security notices and can ask for a password-reset link.",
			"Both the old and the new address are told, and a password-reset link waiting is voided.",
		}}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle("Change email address", sum.Account.Username), errMsg, "Changing an account's email address", b)
}

// adminEmail sets the email address of the account of the path, with the
// operator's own fresh second factor.
func (s *Server) adminEmail(w http.ResponseWriter, r *http.Request, a core.Auth) {
	email := r.PostFormValue("email")
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		_, changed, err := s.svc.SetEmailFor(r.Context(), a, r.PathValue("id"), email, m)
		if err == nil && !changed {
			return "email_same", nil
		}
		// The address is the form's only input: an invalid one (not an
		// address, none) or one in use is its field's.
		return "", markInvalidOn(r, err, "email", twofold.CodeInvalid, twofold.CodeConflict)
	}, func(status int, errMsg string) { s.renderAdminEmail(w, r, a, status, errMsg, email) }, "email_changed_for_user")
}
