package web

import (
	"net/http"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// sessionsPage lists where the account is signed in.
func (s *Server) sessionsPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	ss, err := s.svc.Sessions(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	s.render(w, r, http.StatusOK, "sessions", Page{Title: "Where you are signed in", Account: &a.Account, Notice: notice(r), Body: ss})
}

// endSession signs one session out; this browser's own goes to the sign-in
// page, as a sign-out does.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	if err := s.svc.EndSession(r.Context(), a, id, httpapi.Meta(r)); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if id == a.Session.ID {
		s.clearCookie(w, r, sessionCookie, "/")
		http.Redirect(w, r, "/login?m=logged_out", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/settings/security/sessions?m=session_ended", http.StatusSeeOther)
}
