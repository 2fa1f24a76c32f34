package web

import (
	"net/http"
	"slices"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// resetAskBody is the data of the page that asks for a link.
type resetAskBody struct {
	Username string
	Sent     bool // the request was taken: the page says to look in the mailbox
}

// resetBody is the data of the page that sets the new password.
type resetBody struct {
	Form core.PasswordResetForm
	// Method is the second factor the form asks for; SentTo where a code
	// was just sent for it.
	Method twofold.Method
	SentTo string
	// Alternatives are the account's other methods, each once.
	Alternatives []twofold.Method
}

const resetGone = "This password-reset link has lapsed or was used. Ask for a new one."

func (s *Server) resetAskPage(w http.ResponseWriter, r *http.Request) {
	s.render(w, r, http.StatusOK, "reset_ask", Page{Title: "Forgot your password?", Body: resetAskBody{}})
}

// resetAsk mails a link; the page says the same whether or not the
// account exists.
func (s *Server) resetAsk(w http.ResponseWriter, r *http.Request) {
	body := resetAskBody{Username: r.PostForm.Get("username")}
	if err := s.svc.RequestPasswordReset(r.Context(), body.Username, httpapi.Meta(r)); err != nil {
		s.render(w, r, s.status(w, r, err), "reset_ask", Page{Title: "Forgot your password?", Error: message(err), Body: body})
		return
	}
	body.Sent = true
	s.render(w, r, http.StatusOK, "reset_ask", Page{Title: "Check your mail", Body: body})
}

// resetLink opens a mailed link: it moves the token into a cookie and
// shows the form.
func (s *Server) resetLink(w http.ResponseWriter, r *http.Request) {
	token := r.PathValue("token")
	if _, err := s.svc.CheckPasswordReset(r.Context(), token, httpapi.Meta(r)); err != nil {
		s.resetFailed(w, r, err)
		return
	}
	s.setCookie(w, r, resetCookie, token, "/new-password")
	http.Redirect(w, r, "/new-password", http.StatusSeeOther)
}

func (s *Server) resetFailed(w http.ResponseWriter, r *http.Request, err error) {
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.clearCookie(w, r, resetCookie, "/new-password")
		s.renderErrorHeaded(w, r, nil, http.StatusGone, "Link expired", resetGone)
		return
	}
	s.fail(w, r, nil, err)
}

// resetPage shows the form for the new password, and the second factor
// that confirms it when two-factor is on (?method= picks another).
func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) {
	s.showReset(w, r, http.StatusOK, "", "", twofold.Method(r.URL.Query().Get("method")), "")
}

// showReset renders the form for the link in the cookie, asking for method
// when the account has it, else for its first method.
// invalid is the id of the field errMsg is about, if any (Page.Invalid).
func (s *Server) showReset(w http.ResponseWriter, r *http.Request, status int, errMsg, invalid string, method twofold.Method, sentTo string) {
	f, err := s.svc.CheckPasswordReset(r.Context(), s.cookieValue(r, resetCookie), httpapi.Meta(r))
	if err != nil {
		s.resetFailed(w, r, err)
		return
	}
	body := resetBody{Form: f, SentTo: sentTo}
	for _, o := range f.Methods {
		if body.Method == "" || o.Method == method {
			body.Method = o.Method
		}
	}
	for _, o := range f.Methods {
		if o.Method != body.Method && !slices.Contains(body.Alternatives, o.Method) {
			body.Alternatives = append(body.Alternatives, o.Method)
		}
	}
	s.render(w, r, status, "reset_new", Page{Title: "Choose a new password", Error: errMsg, Invalid: invalid, Body: body})
}

// reset sets the new password.
func (s *Server) reset(w http.ResponseWriter, r *http.Request) {
	f := r.PostForm
	method := twofold.Method(f.Get("method"))
	if f.Get("password") != f.Get("password2") {
		s.showReset(w, r, http.StatusBadRequest, "The two passwords differ. Type the same password twice.", "password2", method, "")
		return
	}
	p := core.SecondFactor{Method: method, Code: f.Get("code")}
	err := s.svc.CompletePasswordReset(r.Context(), s.cookieValue(r, resetCookie), f.Get("password"), p, httpapi.Meta(r))
	switch {
	case twofold.ErrorCode(err) == twofold.CodeLoginExpired:
		s.resetFailed(w, r, err)
	case err != nil:
		s.showReset(w, r, s.status(w, r, err), message(refusedKey(err, method)), invalidField(err, "code", "password"), method, "")
	default:
		s.clearCookie(w, r, resetCookie, "/new-password")
		http.Redirect(w, r, "/login?m=password_reset", http.StatusSeeOther)
	}
}

// resetSend sends a code that confirms the reset to a phone or address.
func (s *Server) resetSend(w http.ResponseWriter, r *http.Request) {
	method := twofold.Method(r.PostForm.Get("method"))
	c, err := s.svc.ChallengePasswordReset(r.Context(), s.cookieValue(r, resetCookie), method, r.PostForm.Get("factor_id"), httpapi.Meta(r))
	switch {
	case twofold.ErrorCode(err) == twofold.CodeLoginExpired:
		s.resetFailed(w, r, err)
	case err != nil:
		s.showReset(w, r, s.status(w, r, err), message(err), "", method, "")
	default:
		s.showReset(w, r, http.StatusOK, "", "", method, c.SentTo)
	}
}
