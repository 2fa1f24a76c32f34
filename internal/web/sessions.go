package web

import (
	"net/http"

	"github.com/twofold/twofold"
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
// page, as a sign-out does. A session that is not signed in (the form sent
// twice, from two tabs or by a double click, or a session that ended
// meanwhile) leaves the browser on the list, told so: the same answer for
// an id that never named a session of the account.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, a core.Auth) {
	id := r.PathValue("id")
	if err := s.svc.EndSession(r.Context(), a, id, httpapi.Meta(r)); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			http.Redirect(w, r, "/settings/security/sessions?m=session_gone", http.StatusSeeOther)
			return
		}
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
