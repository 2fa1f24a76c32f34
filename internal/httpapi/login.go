package httpapi

import (
	"fmt"
	"net/http"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

type methodJSON struct {
	Method   twofold.Method `json:"method"`
	FactorID string         `json:"factor_id,omitempty"`
	Label    string         `json:"label,omitempty"`
}

type loginResponse struct {
	Status    string       `json:"status"`
	Token     string       `json:"token,omitempty"`
	LoginID   string       `json:"login_id,omitempty"`
	ExpiresAt time.Time    `json:"expires_at"`
	Methods   []methodJSON `json:"methods,omitempty"`
	// After a recovery code: how many are left, and a warning at
	// core.LowRecoveryCodes or fewer (SPEC §1 story 4).
	RecoveryCodesRemaining *int   `json:"recovery_codes_remaining,omitempty"`
	Warning                string `json:"warning,omitempty"`
}

func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	res, err := s.svc.Login(r.Context(), req.Username, req.Password, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if res.Authenticated {
		writeJSON(w, http.StatusOK, loginResponse{Status: "authenticated", Token: res.Token, ExpiresAt: res.ExpiresAt})
		return
	}
	out := loginResponse{Status: "second_factor_required", LoginID: res.LoginID, ExpiresAt: res.ExpiresAt, Methods: []methodJSON{}}
	for _, m := range res.Methods {
		out.Methods = append(out.Methods, methodJSON{Method: m.Method, FactorID: m.FactorID, Label: m.Label})
	}
	writeJSON(w, http.StatusOK, out)
}

type secondFactorRequest struct {
	Method   twofold.Method `json:"method"`
	FactorID string         `json:"factor_id"`
	Code     string         `json:"code"`
}

func (q secondFactorRequest) proof() core.SecondFactor {
	return core.SecondFactor{Method: q.Method, FactorID: q.FactorID, Code: q.Code}
}

func (s *Server) verifyLogin(w http.ResponseWriter, r *http.Request) {
	var req secondFactorRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	v, err := s.svc.VerifyLogin(r.Context(), r.PathValue("login_id"), req.proof(), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := loginResponse{Status: "authenticated", Token: v.Token, ExpiresAt: v.ExpiresAt}
	if v.RecoveryCodeUsed {
		out.RecoveryCodesRemaining = &v.RecoveryCodesLeft
		if v.RecoveryCodesLeft <= core.LowRecoveryCodes {
			out.Warning = fmt.Sprintf("only %d recovery codes left: generate a new set (POST /v1/me/recovery-codes)", v.RecoveryCodesLeft)
		}
	}
	writeJSON(w, http.StatusOK, out)
}

func (s *Server) logout(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.Logout(r.Context(), a, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) logoutEverywhere(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.LogoutEverywhere(r.Context(), a, Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) elevate(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req secondFactorRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	until, err := s.svc.Elevate(r.Context(), a, req.proof(), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]time.Time{"elevated_until": until})
}

func (s *Server) time(w http.ResponseWriter, r *http.Request) {
	now := s.svc.Now()
	writeJSON(w, http.StatusOK, map[string]any{"time": now.Format(time.RFC3339), "unix": now.Unix()})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	if err := s.db.Ping(r.Context()); err != nil {
		s.log.ErrorContext(r.Context(), "database not ready", "request_id", RequestID(r.Context()), "err", err)
		writeProblem(w, Problem{Type: ProblemTypeBase + "not-ready", Title: "Service Unavailable", Status: http.StatusServiceUnavailable, Detail: "database is not reachable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}
