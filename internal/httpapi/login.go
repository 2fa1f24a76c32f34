package httpapi

import (
	"bytes"
	"encoding/json"
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
	// Destination is, for sms and email, the masked number or address a
	// code goes to: "+44 •••• ••3456".
	Destination string `json:"destination,omitempty"`
	// Reason is, in unavailable_methods, why the factor cannot be used now.
	Reason string `json:"reason,omitempty"`
}

type loginResponse struct {
	Status    string       `json:"status"`
	Token     string       `json:"token,omitempty"`
	LoginID   string       `json:"login_id,omitempty"`
	ExpiresAt time.Time    `json:"expires_at"`
	Methods   []methodJSON `json:"methods,omitempty"`
	// UnavailableMethods are the account's factors that cannot pass the
	// second step now (a phone outside --sms-countries), each with its
	// reason: shown, so that their owner knows why, never in Methods.
	UnavailableMethods []methodJSON `json:"unavailable_methods,omitempty"`
	// After a recovery code: how many are left, and a warning at
	// core.LowRecoveryCodes or fewer (SPEC §1 story 4).
	RecoveryCodesRemaining *int   `json:"recovery_codes_remaining,omitempty"`
	Warning                string `json:"warning,omitempty"`
	// After a second step on the recovery path: how many other sessions
	// of the account it signed out (core.Verified).
	OtherSessionsEnded *int `json:"other_sessions_ended,omitempty"`
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
	if err := core.LoginFieldsGiven(req.Username, req.Password); err != nil {
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
		j := methodJSON{Method: m.Method, FactorID: m.FactorID, Label: m.Label, Destination: m.Hint}
		if !m.Usable() {
			j.Reason = m.Unavailable
			out.UnavailableMethods = append(out.UnavailableMethods, j)
			continue
		}
		out.Methods = append(out.Methods, j)
	}
	writeJSON(w, http.StatusOK, out)
}

// beginPasskeyLogin begins a sign-in with a passkey: no username, no
// password (README "Signing in with a passkey").
func (s *Server) beginPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.BeginPasskeyLogin(r.Context(), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"status": "challenge", "login_id": c.LoginID, "expires_at": c.ExpiresAt, "options": c.Options})
}

// finishPasskeyLogin finishes a sign-in with a passkey with the assertion.
func (s *Server) finishPasskeyLogin(w http.ResponseWriter, r *http.Request) {
	var req struct {
		LoginID    string          `json:"login_id"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	v, err := s.svc.FinishPasskeyLogin(r.Context(), req.LoginID, req.Credential, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, loginResponse{Status: "authenticated", Token: v.Token, ExpiresAt: v.ExpiresAt})
}

type secondFactorRequest struct {
	Method     twofold.Method  `json:"method"`
	FactorID   string          `json:"factor_id"`
	Code       string          `json:"code"`
	Credential json.RawMessage `json:"credential"` // webauthn: the PublicKeyCredential of navigator.credentials.get
	// Signature is, for ssh_key, the armored ssh-keygen -Y sign signature.
	Signature string `json:"signature"`
	// PushSecret is, for push, the push_secret of the answer that sent
	// the push: only its requester uses the approval.
	PushSecret string `json:"push_secret"`
}

// strayField refuses, as invalid, a field of another method than the one
// named: a code beside an SSH signature, a push_secret beside a TOTP code.
// Which proof was meant would be a guess, and a body with fields that do
// nothing is refused, as unknown fields are.
func (q secondFactorRequest) strayField() error {
	credential := len(bytes.TrimSpace(q.Credential)) > 0 && string(bytes.TrimSpace(q.Credential)) != "null"
	var field string
	var owner twofold.Method
	switch {
	case q.Method == "":
		return nil // the method is asked for where it is needed
	case credential && q.Method != twofold.MethodWebAuthn:
		field, owner = "credential", twofold.MethodWebAuthn
	case q.Signature != "" && q.Method != twofold.MethodSSHKey:
		field, owner = "signature", twofold.MethodSSHKey
	case q.PushSecret != "" && q.Method != twofold.MethodPush:
		field, owner = "push_secret", twofold.MethodPush
	case q.Code != "" && q.Method == twofold.MethodSSHKey:
		return twofold.Errorf(twofold.CodeInvalid, "method ssh_key takes a signature, not a code: send the method the code is for").On("code")
	default:
		return nil
	}
	return twofold.Errorf(twofold.CodeInvalid, "%s is for method %s only: send the fields of the one method named", field, owner).On(field)
}

func (q secondFactorRequest) proof() core.SecondFactor {
	return core.SecondFactor{Method: q.Method, FactorID: q.FactorID, Code: q.Code, Credential: q.Credential, Signature: q.Signature,
		PushSecret: q.PushSecret}
}

func (s *Server) verifyLogin(w http.ResponseWriter, r *http.Request) {
	var req secondFactorRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if err := req.strayField(); err != nil {
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
		out.RecoveryCodesRemaining, out.Warning = recoveryCodesLeft(v.RecoveryCodesLeft)
	}
	if v.Recovered { // the count, 0 too, after every second step on the recovery path alone
		out.OtherSessionsEnded = &v.OtherSessionsEnded
	}
	writeJSON(w, http.StatusOK, out)
}

// recoveryCodesLeft is what an answer passed with a recovery code adds:
// how many are left, and from core.LowRecoveryCodes left a warning to make
// a new set (SPEC §1 story 4).
func recoveryCodesLeft(n int) (remaining *int, warning string) {
	switch {
	case n == 0:
		warning = "no recovery codes left: generate a new set (POST /v1/me/recovery-codes)"
	case n == 1:
		warning = "only 1 recovery code left: generate a new set (POST /v1/me/recovery-codes)"
	case n <= core.LowRecoveryCodes:
		warning = fmt.Sprintf("only %d recovery codes left: generate a new set (POST /v1/me/recovery-codes)", n)
	}
	return &n, warning
}

// challengeRequest asks for a code to be sent to an sms or email factor, a
// push to a push device, or a key's challenge.
type challengeRequest struct {
	Method   twofold.Method `json:"method"`
	FactorID string         `json:"factor_id"`
	// PushSecret is, for push, the push_secret of the push this caller sent
	// before for the same login or elevation: sending again replaces it,
	// where another requester's live push refuses a new one.
	PushSecret string `json:"push_secret"`
	// CodeSecret is, for sms and email, the code_secret of the code this
	// caller asked for before for the same login or elevation: sending its
	// factor another replaces it, where another requester's live code
	// refuses a new one.
	CodeSecret string `json:"code_secret"`
}

// challengeJSON says where a code went and until when it works; never the code.
func challengeJSON(c core.Challenge) map[string]any {
	if c.Options != nil { // webauthn: the options for the browser, to sign and send back
		out := map[string]any{"status": "challenge", "method": c.Method, "options": c.Options, "expires_at": c.ExpiresAt}
		if c.FactorID != "" {
			out["factor_id"] = c.FactorID
		}
		return out
	}
	out := map[string]any{"status": "sent", "method": c.Method, "factor_id": c.FactorID, "sent_to": c.SentTo, "expires_at": c.ExpiresAt}
	if c.Secret != "" {
		out["code_secret"] = c.Secret
	}
	return out
}

// writeChallenge answers a challenge request with c, or with err (and,
// when a text may still arrive, its code_secret).
func (s *Server) writeChallenge(w http.ResponseWriter, r *http.Request, c core.Challenge, err error) {
	if err != nil {
		writeErrorWith(w, r, s.log, err, Problem{CodeSecret: c.Secret})
		return
	}
	writeJSON(w, challengeStatus(c), challengeJSON(c))
}

// challengeStatus is 202 for a code sent (it is on its way), 200 for a
// security key's options (here they are).
func challengeStatus(c core.Challenge) int {
	if c.Options != nil {
		return http.StatusOK
	}
	return http.StatusAccepted
}

// challengeLogin sends a code for a pending login's second step (SPEC §3.1).
func (s *Server) challengeLogin(w http.ResponseWriter, r *http.Request) {
	var req challengeRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if req.Method == twofold.MethodPush {
		p, err := s.svc.PushLogin(r.Context(), r.PathValue("login_id"), req.FactorID, req.PushSecret, Meta(r))
		s.writePushSent(w, r, p, err)
		return
	}
	if req.Method == twofold.MethodSSHKey && req.FactorID == "" {
		s.challengeLoginSSH(w, r)
		return
	}
	c, err := s.svc.ChallengeLogin(r.Context(), r.PathValue("login_id"), req.Method, req.FactorID, req.CodeSecret, Meta(r))
	s.writeChallenge(w, r, c, err)
}

// challengeElevation sends a code to elevate the caller's session with.
func (s *Server) challengeElevation(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req challengeRequest
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	if req.Method == twofold.MethodPush {
		p, err := s.svc.PushElevation(r.Context(), a, req.FactorID, req.PushSecret, Meta(r))
		s.writePushSent(w, r, p, err)
		return
	}
	if req.Method == twofold.MethodSSHKey && req.FactorID == "" {
		s.challengeElevationSSH(w, r, a)
		return
	}
	c, err := s.svc.ChallengeElevation(r.Context(), a, req.Method, req.FactorID, req.CodeSecret, Meta(r))
	s.writeChallenge(w, r, c, err)
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
	if err := req.strayField(); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	e, err := s.svc.Elevate(r.Context(), a, req.proof(), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	// After a recovery code, the count left and the warning, as a login's
	// second step answers them.
	var out struct {
		ElevatedUntil          time.Time `json:"elevated_until"`
		RecoveryCodesRemaining *int      `json:"recovery_codes_remaining,omitempty"`
		Warning                string    `json:"warning,omitempty"`
	}
	out.ElevatedUntil = e.Until
	if e.RecoveryCodeUsed {
		out.RecoveryCodesRemaining, out.Warning = recoveryCodesLeft(e.RecoveryCodesLeft)
	}
	writeJSON(w, http.StatusOK, out)
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
