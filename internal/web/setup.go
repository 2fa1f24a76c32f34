package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// setupBody is the data of the first-run page.
type setupBody struct {
	Username string
	Email    string
}

const setupGone = "This setup link is not valid: it was already used, or an account exists. Sign in instead, or ask an operator (twofold user add)."

// setupLink opens the one-time link printed by `twofold serve` on an empty
// database: it moves the token into a cookie, out of the address bar and
// history, and shows the form.
func (s *Server) setupLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if err := s.svc.CheckSetupToken(r.Context(), token); err != nil {
		s.setupFailed(w, r, err)
		return
	}
	s.setCookie(w, r, setupCookie, token, "/setup")
	http.Redirect(w, r, "/setup", http.StatusSeeOther)
}

func (s *Server) setupFailed(w http.ResponseWriter, r *http.Request, err error) {
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.renderError(w, r, nil, http.StatusNotFound, setupGone)
		return
	}
	s.fail(w, r, nil, err)
}

func (s *Server) setupPage(w http.ResponseWriter, r *http.Request) {
	if err := s.svc.CheckSetupToken(r.Context(), s.cookieValue(r, setupCookie)); err != nil {
		s.setupFailed(w, r, err)
		return
	}
	s.render(w, r, http.StatusOK, "setup", Page{Title: "Create the operator account", Body: setupBody{}})
}

// setup creates the first operator account and signs it in.
func (s *Server) setup(w http.ResponseWriter, r *http.Request) {
	token := s.cookieValue(r, setupCookie)
	f := r.PostForm
	body := setupBody{Username: f.Get("username"), Email: f.Get("email")}
	if f.Get("password") != f.Get("password2") {
		s.render(w, r, http.StatusBadRequest, "setup", Page{Title: "Create the operator account", Error: "The two passwords differ. Type the same password twice.", Invalid: "password2", Body: body})
		return
	}
	meta := httpapi.Meta(r)
	_, err := s.svc.CompleteSetup(r.Context(), token, core.NewAccount{Username: body.Username, Email: body.Email, Password: f.Get("password")}, meta)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.clearCookie(w, r, setupCookie, "/setup")
		s.renderError(w, r, nil, http.StatusNotFound, setupGone)
		return
	}
	if err != nil {
		s.render(w, r, s.status(w, r, err), "setup", Page{Title: "Create the operator account", Error: message(err), Body: body,
			Invalid: newAccountField(err, body.Username, body.Email, [3]string{"username", "email", "password"})})
		return
	}
	s.clearCookie(w, r, setupCookie, "/setup")
	res, err := s.svc.Login(r.Context(), body.Username, f.Get("password"), meta)
	if err != nil || !res.Authenticated {
		http.Redirect(w, r, "/login", http.StatusSeeOther)
		return
	}
	s.signedIn(w, r, res.Token)
	http.Redirect(w, r, "/settings/security?m=welcome", http.StatusSeeOther)
}
