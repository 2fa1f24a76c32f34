package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold/twofold/internal/core"
)

type sessionJSON struct {
	ID            string     `json:"id"`
	CreatedAt     time.Time  `json:"created_at"`
	ExpiresAt     time.Time  `json:"expires_at"`
	Source        string     `json:"source"`
	UserAgent     string     `json:"user_agent"`
	SignedInWith  string     `json:"signed_in_with"`
	Current       bool       `json:"current"`
	ElevatedUntil *time.Time `json:"elevated_until,omitempty"`
}

// listSessions lists the caller's live sessions.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request, a core.Auth) {
	ss, err := s.svc.Sessions(r.Context(), a)
	s.writeSessions(w, r, ss, err)
}

// writeSessions answers with the sessions ss, or err.
func (s *Server) writeSessions(w http.ResponseWriter, r *http.Request, ss []core.SessionInfo, err error) {
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	now := s.svc.Now()
	out := make([]sessionJSON, 0, len(ss))
	for _, x := range ss {
		j := sessionJSON{ID: x.ID, CreatedAt: x.CreatedAt, ExpiresAt: x.ExpiresAt, Source: x.Source, UserAgent: x.UserAgent,
			SignedInWith: x.How, Current: x.Current}
		if x.ElevatedUntil.After(now) {
			j.ElevatedUntil = &x.ElevatedUntil
		}
		out = append(out, j)
	}
	writeJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

// adminSessions lists an account's live sessions, for an operator.
func (s *Server) adminSessions(w http.ResponseWriter, r *http.Request, a core.Auth) {
	ss, err := s.svc.SessionsOf(r.Context(), a, r.PathValue("id"))
	s.writeSessions(w, r, ss, err)
}

// adminSignOut ends every session of an account, for an operator.
func (s *Server) adminSignOut(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.SignOutEverywhereFor(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// endSession signs one of the caller's sessions out.
func (s *Server) endSession(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.EndSession(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
