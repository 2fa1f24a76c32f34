package web

import (
	"net/http"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// resyncBody is the data of the page that resynchronises an authenticator
// app (TOTP) whose clock drifted, or a hardware token (HOTP) pressed more
// often than the sign-in looks ahead (SPEC §1 story 7, §2). It never holds
// the codes typed: they are one-time, and a page that failed shows empty
// fields.
type resyncBody struct {
	Factor  twofold.Factor
	Action  string
	Presses int // how many presses ahead a token is found
}

// resyncPath is the page of factor id.
func resyncPath(id string) string { return "/settings/security/factors/" + id + "/resync" }

// resyncable reports whether the page offers to resynchronise f: an active
// app or hardware token, the factors core.ResyncFactor takes.
func resyncable(f twofold.Factor) bool {
	return f.Status == twofold.FactorActive && (f.Type == twofold.FactorTOTP || f.Type == twofold.FactorHOTP)
}

func (s *Server) resyncPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if f, ok := s.resyncFactor(w, r, a); ok {
		s.renderResync(w, r, a, f, http.StatusOK, "")
	}
}

// resyncFactor returns the factor the request's path names, when the page
// resynchronises it; otherwise it answers the request and returns false.
func (s *Server) resyncFactor(w http.ResponseWriter, r *http.Request, a core.Auth) (twofold.Factor, bool) {
	_, f, err := s.findFactor(r, a, r.PathValue("id"))
	if err == nil && !resyncable(f) {
		err = notResyncable()
	}
	if err != nil {
		s.fail(w, r, &a, err)
		return twofold.Factor{}, false
	}
	return f, true
}

// notResyncable is what the page says of a factor it cannot resynchronise
// (a pending one, or one of another kind): a 400, as the API's.
func notResyncable() error {
	return twofold.Errorf(twofold.CodeInvalid, "only an authenticator app or a hardware token that is set up can be resynchronised")
}

func (s *Server) renderResync(w http.ResponseWriter, r *http.Request, a core.Auth, f twofold.Factor, status int, errMsg string) {
	title := "Resynchronise an authenticator app"
	if f.Type == twofold.FactorHOTP {
		title = "Resynchronise a hardware token"
	}
	b := resyncBody{Factor: f, Action: resyncPath(f.ID), Presses: core.HOTPResyncWindow}
	s.render(w, r, status, "resync", Page{Title: title, Account: &a.Account, Error: errMsg, Invalid: typedField(r, status, errMsg, "code", "next_code"), Body: b})
}

// resync takes two consecutive codes of the factor through the same core
// call as POST /v1/me/factors/{id}/resync: the same rules, throttles and
// audit events (factor.resynchronised, factor.resync_failed). Like the API
// it needs no fresh second factor: the two codes prove the holder has the
// authenticator.
func (s *Server) resync(w http.ResponseWriter, r *http.Request, a core.Auth) {
	f, ok := s.resyncFactor(w, r, a)
	if !ok {
		return
	}
	err := s.svc.ResyncFactor(r.Context(), a, f.ID, r.PostForm.Get("code"), r.PostForm.Get("next_code"), httpapi.Meta(r))
	if err == nil {
		http.Redirect(w, r, "/settings/security?m=resynchronised", http.StatusSeeOther)
		return
	}
	switch twofold.ErrorCode(err) {
	case twofold.CodeNotFound: // removed meanwhile
		s.fail(w, r, &a, err)
	case twofold.CodeInvalid: // a field of nothing but spaces and dashes: no attempt
		s.renderResync(w, r, a, f, s.status(w, r, err), "Type two codes: the one "+shows(f)+" now, then the next one.")
	case twofold.CodeInvalidCode:
		s.renderResync(w, r, a, f, s.status(w, r, err), "Those codes were not accepted. Type two codes "+shows(f)+" one after the other, the second right after the first, and try again.")
	default:
		s.renderResync(w, r, a, f, s.status(w, r, err), message(err))
	}
}

// shows names who shows f's codes, for the page's messages.
func shows(f twofold.Factor) string {
	if f.Type == twofold.FactorHOTP {
		return "your token shows"
	}
	return "your app shows"
}
