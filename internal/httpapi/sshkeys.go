package httpapi

import (
	"net/http"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
)

// sshKeyJSON is a registered SSH key (SPEC §1 story 4).
type sshKeyJSON struct {
	ID          string               `json:"id"`
	Label       string               `json:"label"`
	Type        string               `json:"type"`
	Fingerprint string               `json:"fingerprint"`
	PublicKey   string               `json:"public_key"`
	Status      twofold.FactorStatus `json:"status"`
	CreatedAt   time.Time            `json:"created_at"`
	ConfirmedAt *time.Time           `json:"confirmed_at,omitempty"`
	LastUsedAt  *time.Time           `json:"last_used_at,omitempty"`
}

func toSSHKeyJSON(k twofold.SSHKey) sshKeyJSON {
	return sshKeyJSON{ID: k.ID, Label: k.Label, Type: k.Type, Fingerprint: k.Fingerprint, PublicKey: k.PublicKey, Status: k.Status,
		CreatedAt: k.CreatedAt, ConfirmedAt: k.ConfirmedAt, LastUsedAt: k.LastUsedAt}
}

// sshChallengeJSON is a challenge to sign: the text to save as
// challenge.txt, the namespace and the command that signs it.
func sshChallengeJSON(c core.SSHKeyChallenge) map[string]any {
	return map[string]any{"status": "challenge", "method": twofold.MethodSSHKey, "challenge": c.Text, "namespace": c.Namespace,
		"command": c.Command, "expires_at": c.ExpiresAt}
}

func (s *Server) listSSHKeys(w http.ResponseWriter, r *http.Request, a core.Auth) {
	keys, err := s.svc.SSHKeys(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	out := make([]sshKeyJSON, 0, len(keys))
	for _, k := range keys {
		out = append(out, toSSHKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, map[string]any{"ssh_keys": out})
}

func (s *Server) addSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Label     string `json:"label"`
		PublicKey string `json:"public_key"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	e, err := s.svc.AddSSHKey(r.Context(), a, req.Label, req.PublicKey, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"ssh_key": toSSHKeyJSON(e.Key), "challenge": sshChallengeJSON(e.Challenge)})
}

func (s *Server) sshKeyChallenge(w http.ResponseWriter, r *http.Request, a core.Auth) {
	c, err := s.svc.SSHKeyChallenge(r.Context(), a, r.PathValue("id"))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sshChallengeJSON(c))
}

func (s *Server) confirmSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	var req struct {
		Signature string `json:"signature"`
	}
	if err := decode(w, r, &req); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	k, err := s.svc.ConfirmSSHKey(r.Context(), a, r.PathValue("id"), req.Signature, Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ssh_key": toSSHKeyJSON(k)})
}

func (s *Server) removeSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.svc.RemoveSSHKey(r.Context(), a, r.PathValue("id"), Meta(r)); err != nil {
		writeError(w, r, s.log, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// challengeLoginSSH makes a challenge for a pending login's second step.
func (s *Server) challengeLoginSSH(w http.ResponseWriter, r *http.Request) {
	c, err := s.svc.ChallengeLoginSSH(r.Context(), r.PathValue("login_id"), Meta(r))
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sshChallengeJSON(c))
}

// challengeElevationSSH makes a challenge to elevate the caller's session.
func (s *Server) challengeElevationSSH(w http.ResponseWriter, r *http.Request, a core.Auth) {
	c, err := s.svc.ChallengeElevationSSH(r.Context(), a)
	if err != nil {
		writeError(w, r, s.log, err)
		return
	}
	writeJSON(w, http.StatusOK, sshChallengeJSON(c))
}
