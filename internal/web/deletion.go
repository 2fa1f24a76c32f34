package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// Closing an account (README "Closing an account"): its holder asks on a
// confirmation page of its own, with the password and, with two-factor on,
// a fresh second factor; an operator asks on one beside the account's
// page, with their own fresh second factor (admin_act.go). Each page says
// at once what keeps the account from being closed, if anything.

func (s *Server) closePage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderClose(w, r, a, http.StatusOK, "")
}

// renderClose shows the page that confirms closing the caller's account.
func (s *Server) renderClose(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	b := confirmBody{Action: "/settings/security/close", Cancel: "/settings/security",
		Heading: "Close your account?", Button: "Close my account for good", Danger: true, AskPassword: true}
	b.Text = []string{
		"Your account " + a.Account.Username + " is deleted at once, with its authenticators, recovery codes, paper key, security keys, SSH keys, API keys, sessions and team memberships. This cannot be undone.",
		"Your name stays reserved: nobody else can take it. The record of what was done with your account stays with the operator, without your browsers' details.",
	}
	told, why, err := s.svc.ResetNotice(r.Context(), a.Account.ID)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if told {
		b.Text = append(b.Text, "A notice is mailed to "+a.Account.Email+".")
	} else {
		b.Text = append(b.Text, "No notice can be mailed: "+why+".")
	}
	if err := s.svc.DeletionBlocked(r.Context(), a, a.Account.ID); err != nil {
		if twofold.ErrorCode(err) != twofold.CodeConflict {
			s.fail(w, r, &a, err)
			return
		}
		errMsg, b.Button, b.AskPassword = "Your account cannot be closed yet: "+twofold.ErrorMessage(err)+".", "", false
	}
	s.askToConfirm(w, r, a, status, "Close your account", errMsg, b)
}

// closeAccount closes the caller's account and signs the browser out.
// The account found gone meanwhile (the form sent twice, its first
// sending having closed it) is told as closed, the browser signed out.
func (s *Server) closeAccount(w http.ResponseWriter, r *http.Request, a core.Auth) {
	m := "account_closed"
	closed := func() {
		s.clearCookie(w, r, sessionCookie, "/")
		http.Redirect(w, r, "/login?m="+m, http.StatusSeeOther)
	}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		if s.accountGone(r, a, err) {
			closed()
			return
		}
		s.renderClose(w, r, a, s.status(w, r, err), message(err))
		return
	}
	// Whether the closing is mailed, asked while the account is there to
	// ask of: the sign-in page says so only when it is.
	told, _, terr := s.svc.ResetNotice(r.Context(), a.Account.ID)
	if err := s.svc.DeleteOwnAccount(r.Context(), a, r.PostForm.Get("current_password"), httpapi.Meta(r)); err != nil {
		if s.accountGone(r, a, err) {
			closed()
			return
		}
		msg := message(err)
		if twofold.ErrorCode(err) == twofold.CodeForbidden {
			msg = "Your password is wrong."
			markInvalid(r, "current_password")
		}
		s.renderClose(w, r, a, s.status(w, r, err), msg)
		return
	}
	if told && terr == nil {
		m = "account_closed_mailed"
	}
	closed()
}

// accountGone reports whether err, from a request of a's session, came of
// a's account being deleted meanwhile: it is then gone, with its sessions.
// A transaction of the request finds the session gone with it
// (core.WithCaller) and answers as for a session signed out.
func (s *Server) accountGone(r *http.Request, a core.Auth, err error) bool {
	if c := twofold.ErrorCode(err); c != twofold.CodeNotFound && c != twofold.CodeUnauthorized {
		return false
	}
	_, ok, serr := s.session(r)
	return serr == nil && !ok
}

func (s *Server) adminDeletePage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderAdminDelete(w, r, a, http.StatusOK, "")
}

// renderAdminDelete shows the page that confirms deleting the account of
// the path, for an operator.
func (s *Server) renderAdminDelete(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	sum, me, ok := s.adminTarget(w, r, a, id)
	if !ok {
		return
	}
	name := "“" + sum.Account.Username + "”"
	b := confirmBody{Action: "/admin/users/" + id + "/delete", Cancel: "/admin/users/" + id,
		Heading: "Delete the account " + name + "?", Button: "Delete the account for good", Danger: true}
	b.Text = []string{
		"The account is deleted at once, with its authenticators, recovery codes, security keys, SSH keys, API keys, sessions and team memberships. This cannot be undone.",
		"Its name stays reserved, and its audit events stay, without user agents.",
	}
	told, why, err := s.svc.ResetNotice(r.Context(), id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if told {
		b.Text = append(b.Text, "The holder is emailed.")
	} else {
		b.Text = append(b.Text, "The holder cannot be told: "+why+".")
	}
	if id == a.Account.ID {
		errMsg, b.Button = "You cannot delete your own account here: close it on your own security page.", ""
	} else if err := s.svc.DeletionBlocked(r.Context(), a, id); err != nil {
		if twofold.ErrorCode(err) != twofold.CodeConflict {
			s.fail(w, r, &a, err)
			return
		}
		errMsg, b.Button = "This account cannot be deleted yet: "+twofold.ErrorMessage(err)+".", ""
	}
	s.renderOperatorConfirm(w, r, a, me, status, namedTitle("Delete account", sum.Account.Username), errMsg, "Deleting an account", b)
}

// adminDelete deletes the account of the path with the operator's own
// fresh second factor, and goes back to the list of accounts.
func (s *Server) adminDelete(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.operatorAct(w, r, a, func(a core.Auth, m core.Meta) (string, error) {
		return "", s.svc.DeleteAccountFor(r.Context(), a, r.PathValue("id"), m)
	}, func(status int, errMsg string) { s.renderAdminDelete(w, r, a, status, errMsg) }, "/admin/users?m=account_deleted")
}
