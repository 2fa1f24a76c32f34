package web

import (
	"net/http"
	"net/url"

	"github.com/twofold/twofold"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// emailBody is the data of the page that changes the account's address.
type emailBody struct {
	Email     string                // the new address as typed
	Pending   *core.EmailChangeSent // a change waiting for its code
	Elevation *elevationBody        // nil when the change needs no code
}

func (s *Server) emailPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The new address, when the form's "confirm it's you" method was
	// switched (never the password).
	s.renderEmail(w, r, a, http.StatusOK, "", r.URL.Query().Get("email"))
}

func (s *Server) renderEmail(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg, typed string) {
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b := emailBody{Email: typed, Elevation: s.elevationFor(r, a, p, "/settings/security/email")}
	if b.Elevation != nil {
		b.Elevation.Keep = url.Values{"email": {typed}}
	}
	sent, found, err := s.svc.PendingEmailChange(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if found {
		b.Pending = &sent
	}
	s.render(w, r, status, "email", Page{Title: "Change your email address", Account: &a.Account, Error: errMsg, Body: b})
}

// changeEmail mails a code to the new address, then leads to the page
// that asks for it.
func (s *Server) changeEmail(w http.ResponseWriter, r *http.Request, a core.Auth) {
	email := r.PostForm.Get("email")
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderEmail(w, r, a, s.status(w, r, err), message(err), email)
		return
	}
	if _, err := s.svc.StartEmailChange(r.Context(), a, email, r.PostForm.Get("current_password"), httpapi.Meta(r)); err != nil {
		msg := message(err)
		switch twofold.ErrorCode(err) {
		case twofold.CodeForbidden:
			msg = "Your current password is wrong."
			markInvalid(r, "current_password")
		case twofold.CodeInvalid: // not an address, or the one the account has already
			markInvalid(r, "email")
		}
		s.renderEmail(w, r, a, s.status(w, r, err), msg, email)
		return
	}
	// The page that asks for the code is a GET, so that reloading it
	// sends no other code (each would void the one before).
	http.Redirect(w, r, "/settings/security/email", http.StatusSeeOther)
}

// confirmEmail gives the account the new address the code went to.
func (s *Server) confirmEmail(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.ConfirmEmailChange(r.Context(), a, r.PostForm.Get("code"), httpapi.Meta(r)); err != nil {
		markInvalidOn(r, err, "code", twofold.CodeInvalidCode, twofold.CodeInvalid)
		s.renderEmail(w, r, a, s.status(w, r, err), message(err), "")
		return
	}
	http.Redirect(w, r, "/settings/security?m=email_changed", http.StatusSeeOther)
}
