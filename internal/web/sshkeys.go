package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/httpapi"
)

// SSH keys on the pages (SPEC §1 story 4): the second step's "Sign a
// challenge with your SSH key", and /settings/security/ssh-keys, which
// lists, adds (with a signature as proof) and removes keys.

const sshKeysPath = "/settings/security/ssh-keys"

// loginSSHChallenge returns the login's challenge waiting for a signature
// when the second step asks for an SSH key, else nil.
func (s *Server) loginSSHChallenge(r *http.Request, loginID string, method twofold.Method) (*core.SSHKeyChallenge, error) {
	if method != twofold.MethodSSHKey {
		return nil, nil
	}
	c, found, err := s.svc.PendingLoginSSHChallenge(r.Context(), loginID)
	if err != nil || !found {
		return nil, err
	}
	return &c, nil
}

// sshLoginChallenge makes a challenge for the login (the "Get a challenge"
// button), or the live one when the login has one, and shows it.
func (s *Server) sshLoginChallenge(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
		return
	}
	next := safeNext(r.PostForm.Get("next"))
	_, err := s.svc.ChallengeLoginSSH(r.Context(), loginID, httpapi.Meta(r))
	if twofold.ErrorCode(err) == twofold.CodeLoginExpired {
		s.loginExpired(w, r)
		return
	}
	if err != nil {
		s.renderVerify(w, r, s.status(w, r, err), twofold.MethodSSHKey, next, message(err))
		return
	}
	target := "/login/verify?method=ssh_key"
	if next != "" {
		target += "&next=" + urlQueryEscape(next)
	}
	http.Redirect(w, r, target, http.StatusSeeOther)
}

// sshLoginChallengeFile serves the login's challenge as challenge.txt, the
// exact bytes to sign.
func (s *Server) sshLoginChallengeFile(w http.ResponseWriter, r *http.Request) {
	loginID := s.cookieLogin(r, loginCookie)
	if loginID == "" {
		http.Redirect(w, r, "/login?m=expired", http.StatusSeeOther)
		return
	}
	c, err := s.loginSSHChallenge(r, loginID, twofold.MethodSSHKey)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if c == nil {
		s.renderError(w, r, nil, http.StatusNotFound, "No challenge is waiting: ask for one on the sign-in page.")
		return
	}
	serveChallenge(w, *c)
}

func serveChallenge(w http.ResponseWriter, c core.SSHKeyChallenge) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="challenge.txt"`)
	w.Write([]byte(c.Text))
}

// sshKeysBody is the data of the SSH keys page.
type sshKeysBody struct {
	Keys      []twofold.SSHKey
	Label     string // what was typed, kept when the form comes back
	PublicKey string
	Elevation *elevationBody // nil when adding a key needs no code
	Enabled   bool           // the account has an authenticator: keys can be added
}

func (s *Server) sshKeysPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	// The form's fields, when its "confirm it's you" method was switched.
	q := r.URL.Query()
	s.renderSSHKeys(w, r, a, http.StatusOK, sshKeysBody{Label: q.Get("label"), PublicKey: q.Get("public_key")}, notice(r), "")
}

func (s *Server) renderSSHKeys(w http.ResponseWriter, r *http.Request, a core.Auth, status int, b sshKeysBody, notice, errMsg string) {
	keys, err := s.svc.SSHKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Keys, b.Enabled = keys, p.Enabled
	if b.Elevation = s.elevationFor(r, a, p, sshKeysPath); b.Elevation != nil {
		b.Elevation.Keep = url.Values{"label": {b.Label}, "public_key": {b.PublicKey}}
	}
	s.render(w, r, status, "sshkeys", Page{Title: "SSH keys", Account: &p.Account, Notice: notice, Error: errMsg, Body: b, Nav: "security"})
}

// addSSHKey registers the pasted public key, pending, and goes to its page,
// which shows the challenge to sign.
func (s *Server) addSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	b := sshKeysBody{Label: r.PostForm.Get("label"), PublicKey: r.PostForm.Get("public_key")}
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderSSHKeys(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	e, err := s.svc.AddSSHKey(r.Context(), a, b.Label, b.PublicKey, httpapi.Meta(r))
	switch {
	case errors.Is(err, core.ErrSSHPublicKey):
		markInvalid(r, "ssh-public-key")
	case nameRefused(err):
		markInvalid(r, "ssh-label")
	}
	if err != nil {
		s.renderSSHKeys(w, r, a, s.status(w, r, err), b, "", message(err))
		return
	}
	http.Redirect(w, r, sshKeysPath+"/"+e.Key.ID, http.StatusSeeOther)
}

// sshKeyBody is the data of a pending key's page: its challenge to sign.
type sshKeyBody struct {
	Key       twofold.SSHKey
	Challenge *core.SSHKeyChallenge // nil when it expired
	Elevation *elevationBody
}

func (s *Server) sshKeyPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if r.URL.Query().Get("download") == "1" {
		c, found, err := s.svc.PendingSSHKeyChallenge(r.Context(), a, r.PathValue("id"))
		if err != nil {
			s.fail(w, r, &a, err)
			return
		}
		if !found {
			s.renderError(w, r, &a, http.StatusNotFound, "The challenge has expired: ask for a new one.")
			return
		}
		serveChallenge(w, c)
		return
	}
	s.renderSSHKey(w, r, a, http.StatusOK, "")
}

func (s *Server) renderSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	keys, err := s.svc.SSHKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	var b sshKeyBody
	found := false
	for _, k := range keys {
		if k.ID == id {
			b.Key, found = k, true
		}
	}
	if !found {
		// Removed meanwhile, another account's, or a wrong link: the
		// same words for each, so that no id is told from another's.
		http.Redirect(w, r, sshKeysPath+"?m=ssh_key_unknown", http.StatusSeeOther)
		return
	}
	if b.Key.Status != twofold.FactorPending {
		http.Redirect(w, r, sshKeysPath+"?m=ssh_key_confirmed", http.StatusSeeOther)
		return
	}
	c, ok, err := s.svc.PendingSSHKeyChallenge(r.Context(), a, id)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	if ok {
		b.Challenge = &c
	}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Elevation = s.elevationFor(r, a, p, sshKeysPath+"/"+id)
	s.render(w, r, status, "sshkey", Page{Title: "Confirm your SSH key", Account: &p.Account, Error: errMsg, Body: b, Nav: "security"})
}

// confirmSSHKey takes the signature over the pending key's challenge.
func (s *Server) confirmSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderSSHKey(w, r, a, s.status(w, r, err), message(err))
		return
	}
	if _, err := s.svc.ConfirmSSHKey(r.Context(), a, r.PathValue("id"), r.PostForm.Get("signature"), httpapi.Meta(r)); err != nil {
		markInvalidOn(r, err, "signature", twofold.CodeInvalid, twofold.CodeInvalidCode)
		s.renderSSHKey(w, r, a, s.status(w, r, err), message(err))
		return
	}
	http.Redirect(w, r, sshKeysPath+"?m=ssh_key_added", http.StatusSeeOther)
}

// newSSHKeyChallenge replaces a pending key's challenge (after it expired).
func (s *Server) newSSHKeyChallenge(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if _, err := s.svc.SSHKeyChallenge(r.Context(), a, r.PathValue("id")); err != nil {
		s.fail(w, r, &a, err)
		return
	}
	http.Redirect(w, r, sshKeysPath+"/"+url.PathEscape(r.PathValue("id")), http.StatusSeeOther)
}

func (s *Server) removeSSHKeyPage(w http.ResponseWriter, r *http.Request, a core.Auth) {
	s.renderRemoveSSHKey(w, r, a, http.StatusOK, "")
}

// renderRemoveSSHKey asks to confirm removing a key, with a fresh code when
// the key is active and the session is not elevated (SPEC §1 story 5).
func (s *Server) renderRemoveSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth, status int, errMsg string) {
	id := r.PathValue("id")
	keys, err := s.svc.SSHKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	var k *twofold.SSHKey
	for i := range keys {
		if keys[i].ID == id {
			k = &keys[i]
		}
	}
	if k == nil {
		s.renderError(w, r, &a, http.StatusNotFound, "No such SSH key.")
		return
	}
	self := sshKeysPath + "/" + id + "/remove"
	b := confirmBody{Action: self, Cancel: sshKeysPath, Danger: true, Heading: "Remove the SSH key “" + k.Label + "”?", Button: "Remove"}
	if k.Status == twofold.FactorPending {
		b.Heading, b.Button = "Cancel adding the SSH key “"+k.Label+"”?", "Cancel setup"
		b.Text = []string{"This key was never confirmed, so it does not sign in yet."}
		s.render(w, r, status, "confirm", Page{Title: namedTitle("Cancel setup", k.Label), Account: &a.Account, Error: errMsg, Body: b})
		return
	}
	b.Text = []string{"Challenges signed with " + k.Fingerprint + " will no longer sign you in."}
	p, err := s.svc.Me(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	b.Elevation = s.elevationFor(r, a, p, self)
	s.render(w, r, status, "confirm", Page{Title: namedTitle("Remove SSH key", k.Label), Account: &a.Account, Error: errMsg, Body: b})
}

func (s *Server) removeSSHKey(w http.ResponseWriter, r *http.Request, a core.Auth) {
	if err := s.elevateFromForm(w, r, &a); err != nil {
		s.renderRemoveSSHKey(w, r, a, s.status(w, r, err), message(err))
		return
	}
	keys, err := s.svc.SSHKeys(r.Context(), a)
	if err != nil {
		s.fail(w, r, &a, err)
		return
	}
	pending, found := false, false
	for _, k := range keys {
		found = found || k.ID == r.PathValue("id")
		pending = pending || k.ID == r.PathValue("id") && k.Status == twofold.FactorPending
	}
	gone := func() {
		// Removed already (the form sent twice, or from two tabs), or no
		// key of the account's: the list says so, the same for both.
		http.Redirect(w, r, sshKeysPath+"?m=ssh_key_gone", http.StatusSeeOther)
	}
	if !found {
		gone()
		return
	}
	if err := s.svc.RemoveSSHKey(r.Context(), a, r.PathValue("id"), httpapi.Meta(r)); err != nil {
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			gone()
			return
		}
		s.renderRemoveSSHKey(w, r, a, s.status(w, r, err), message(err))
		return
	}
	if pending {
		http.Redirect(w, r, sshKeysPath+"?m=ssh_key_cancelled", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, sshKeysPath+"?m=ssh_key_removed", http.StatusSeeOther)
}
