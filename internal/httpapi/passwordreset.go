package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold/twofold"
)

// requestPasswordReset mails a link to choose a new password. The answer is
// the same whether or not the account exists.
func (s *Server) requestPasswordReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.svc.RequestPasswordReset(r.Context(), req.Username, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]string{"status": "sent_if_known",
		"detail": "if the account exists and has an email address, a link to choose a new password is on its way"})
}

// resetRequest completes a password reset: the link's token, the new
// password and, on an account with two-factor on, the second factor that
// confirms it.
type resetRequest struct {
	Token    string `json:"token"`
	Password string `json:"password"`
	secondFactorRequest
}

type resetFormJSON struct {
	Username     string       `json:"username"`
	SecondFactor bool         `json:"second_factor_required"`
	CodesRefused bool         `json:"codes_refused"`
	Methods      []methodJSON `json:"methods"`
	ExpiresAt    time.Time    `json:"expires_at"`
}

// checkPasswordReset tells what completing a reset needs, without using
// its link.
func (s *Server) checkPasswordReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token string `json:"token"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	f, err := s.svc.CheckPasswordReset(r.Context(), req.Token, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := resetFormJSON{Username: f.Username, SecondFactor: f.SecondFactor, CodesRefused: f.CodesRefused, Methods: []methodJSON{}, ExpiresAt: f.ExpiresAt}
	for _, m := range f.Methods {
		out.Methods = append(out.Methods, methodJSON{Method: m.Method, FactorID: m.FactorID, Label: m.Label, Destination: m.Hint})
	}
	writeJSON(w, http.StatusOK, out)
}

// challengePasswordReset sends a code that confirms a reset to an sms or
// email factor.
func (s *Server) challengePasswordReset(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Token    string         `json:"token"`
		Method   twofold.Method `json:"method"`
		FactorID string         `json:"factor_id"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	c, err := s.svc.ChallengePasswordReset(r.Context(), req.Token, req.Method, req.FactorID, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, challengeStatus(c), challengeJSON(c))
}

// completePasswordReset sets the new password.
func (s *Server) completePasswordReset(w http.ResponseWriter, r *http.Request) {
	var req resetRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := req.strayField(); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := s.svc.CompletePasswordReset(r.Context(), req.Token, req.Password, req.proof(), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "password_changed"})
}
