package httpapi

import (
	"net/http"

	"github.com/twofold/twofold/internal/core"
)

// startEmailChange mails a code to the caller's new address; the address
// changes once the code comes back.
func (s *Server) startEmailChange(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Email    string `json:"email"`
		Password string `json:"password"` // the current one
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	sent, err := s.svc.StartEmailChange(r.Context(), a, req.Email, req.Password, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusAccepted, map[string]any{"status": "confirmation_sent", "sent_to": sent.SentTo, "expires_at": sent.ExpiresAt})
}

// confirmEmailChange gives the account the new address the code went to.
func (s *Server) confirmEmailChange(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Code string `json:"code"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	email, err := s.svc.ConfirmEmailChange(r.Context(), a, req.Code, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"email": email})
}
