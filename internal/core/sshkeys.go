package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/factor/sshkey"
)

// SSH keys (SPEC §1 story 4: "a challenge signed with a registered SSH key
// (ssh-keygen -Y sign)").
//
// An SSH key is a way back in, like recovery codes and the paper key, not an
// authenticator: it does not turn two-factor on, it is offered at the second
// step only of an account that has an authenticator, and its failures count
// on the account's recovery counter, which never locks the owner out for
// long. Registering one proves possession: the key stays pending until a
// signature over a challenge made for it passes. A challenge is a line of
// text with a random nonce, bound to its scope (a login, a session's
// elevation, a pending key) and stored in the database, so that any instance
// checks it; it expires, and is used once, by a conditional DELETE.

// SSHKeyStore is the storage of SSH keys and their challenges.
type SSHKeyStore interface {
	// CreateSSHKey stores a pending key; a key of the same fingerprint on
	// the account is a conflict.
	CreateSSHKey(ctx context.Context, k twofold.SSHKey) error
	SSHKeys(ctx context.Context, accountID string) ([]twofold.SSHKey, error)
	// ActivateSSHKey makes a pending key active, reporting false when it was
	// not pending.
	ActivateSSHKey(ctx context.Context, accountID, id string, now time.Time) (bool, error)
	// DeleteSSHKey deletes the key only while it has status.
	DeleteSSHKey(ctx context.Context, accountID, id string, status twofold.FactorStatus) error
	TouchSSHKey(ctx context.Context, id string, now time.Time) error
	// PutSSHChallenge stores a challenge, replacing its scope's one before.
	PutSSHChallenge(ctx context.Context, c twofold.SSHChallenge) error
	// KeepSSHChallenge stores a challenge unless its scope has a live one,
	// and returns the one the scope then has.
	KeepSSHChallenge(ctx context.Context, c twofold.SSHChallenge) (twofold.SSHChallenge, error)
	SSHChallenge(ctx context.Context, accountID, scope string, now time.Time) (twofold.SSHChallenge, bool, error)
	// UseSSHChallenge deletes the scope's challenge of text if still there
	// and unexpired, reporting whether it did: one caller of any number does.
	UseSSHChallenge(ctx context.Context, scope, text string, now time.Time) (bool, error)
}

// SSHChallengeTTL is how long a challenge can be answered; one for a login
// expires with the login, if sooner.
const SSHChallengeTTL = 10 * time.Minute

// maxSSHKeys bounds the keys of an account, pending ones included.
const maxSSHKeys = 10

// SSHKeyChallenge is a challenge to sign and how: the text to save as
// challenge.txt, the namespace, and the command that signs it.
type SSHKeyChallenge struct {
	Text      string
	Namespace string
	Command   string
	ExpiresAt time.Time
}

// SSHKeyEnrolment is a pending key with the challenge that confirms it.
type SSHKeyEnrolment struct {
	Key       twofold.SSHKey
	Challenge SSHKeyChallenge
}

func sshKeyScope(keyID string) string { return "ssh-key:" + keyID }

// requireTwoFactorAndElevation refuses to add a key to an account without
// an active authenticator, and asks for elevation otherwise.
func (s *Service) requireTwoFactorAndElevation(ctx context.Context, a Auth) error {
	enabled, err := s.twoFactorEnabled(ctx, a.Account.ID)
	if err != nil {
		return err
	}
	if !enabled {
		return twofold.Errorf(twofold.CodeInvalid, "add an authenticator before an SSH key: a key is a way back in when the authenticator is lost")
	}
	return s.requireElevation(a)
}

// SSHKeys returns the caller's SSH keys, oldest first.
func (s *Service) SSHKeys(ctx context.Context, a Auth) ([]twofold.SSHKey, error) {
	if err := person(a); err != nil {
		return nil, err
	}
	return s.store.SSHKeys(ctx, a.Account.ID)
}

// ErrSSHPublicKey is wrapped by the refusal of a new SSH key for its public
// key (not one, or registered already), rather than its name: pages mark
// the key's field.
var ErrSSHPublicKey = errors.New("ssh public key refused")

// AddSSHKey registers a public key (an authorized_keys line) as pending and
// returns a challenge to sign with it (ConfirmSSHKey). Like recovery codes,
// a key is for an account with two-factor on, and adding one needs an
// elevated session, as adding an authenticator does (SPEC §1 story 5): a key
// is a way in. So nobody who has only the password can leave a key behind
// for when the owner turns two-factor on.
func (s *Service) AddSSHKey(ctx context.Context, a Auth, label, publicKey string, m Meta) (SSHKeyEnrolment, error) {
	if err := person(a); err != nil {
		return SSHKeyEnrolment{}, err
	}
	label, err := validateLabel(label)
	if err != nil {
		return SSHKeyEnrolment{}, err
	}
	k, err := sshkey.Parse(publicKey)
	if err != nil {
		return SSHKeyEnrolment{}, (&twofold.Error{Code: twofold.CodeInvalid, Message: err.Error(), Err: ErrSSHPublicKey}).On("public_key")
	}
	if err := s.requireTwoFactorAndElevation(ctx, a); err != nil {
		return SSHKeyEnrolment{}, err
	}
	id, err := s.newID()
	if err != nil {
		return SSHKeyEnrolment{}, err
	}
	key := twofold.SSHKey{ID: id, AccountID: a.Account.ID, Label: label, Type: k.Type, Fingerprint: k.Fingerprint,
		PublicKey: k.AuthorizedKey(), Status: twofold.FactorPending, CreatedAt: s.Now()}
	var c SSHKeyChallenge
	err = s.inTx(ctx, func(ctx context.Context) error {
		// The account's row, held until the commit, before the keys are
		// read: keys added at once, on any instance, are counted one after
		// the other and cannot pass maxSSHKeys or share a name.
		if err := s.store.LockAccount(ctx, a.Account.ID); err != nil {
			return err
		}
		keys, err := s.store.SSHKeys(ctx, a.Account.ID)
		if err != nil {
			return err
		}
		if len(keys) >= maxSSHKeys {
			return twofold.Errorf(twofold.CodeConflict, "an account has at most %d SSH keys: remove one first", maxSSHKeys)
		}
		for _, o := range keys {
			if o.Fingerprint == k.Fingerprint {
				return &twofold.Error{Code: twofold.CodeConflict, Message: fmt.Sprintf("this key is registered already, as %q", o.Label), Err: ErrSSHPublicKey}
			}
			if sameName(o.Label, label) {
				return &twofold.Error{Code: twofold.CodeConflict, Message: fmt.Sprintf("you already have an SSH key called %q: choose another name", o.Label), Err: ErrNameTaken}
			}
		}
		if err := s.store.CreateSSHKey(ctx, key); err != nil {
			return err
		}
		// The key, its challenge and its event together: a key stored
		// without a challenge, answered 500, would refuse the same
		// request sent again as registered already.
		if c, err = s.newSSHChallenge(ctx, a.Account, sshKeyScope(id), "register", "key="+k.Fingerprint, time.Time{}, k.Type); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "ssh_key.created", m, key.Type+" "+key.Fingerprint+" "+id+" (pending)")
		return nil
	})
	if err != nil {
		return SSHKeyEnrolment{}, err
	}
	return SSHKeyEnrolment{Key: key, Challenge: c}, nil
}

// SSHKeyChallenge returns a fresh challenge to confirm a pending key with,
// replacing the one before (which may have expired).
func (s *Service) SSHKeyChallenge(ctx context.Context, a Auth, id string) (SSHKeyChallenge, error) {
	if err := person(a); err != nil {
		return SSHKeyChallenge{}, err
	}
	k, err := s.sshKey(ctx, a.Account.ID, id)
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	if k.Status != twofold.FactorPending {
		return SSHKeyChallenge{}, twofold.Errorf(twofold.CodeConflict, "this SSH key is confirmed already")
	}
	return s.newSSHChallenge(ctx, a.Account, sshKeyScope(id), "register", "key="+k.Fingerprint, time.Time{}, k.Type)
}

// PendingSSHKeyChallenge returns the challenge waiting for a pending key,
// if it has one that has not expired.
func (s *Service) PendingSSHKeyChallenge(ctx context.Context, a Auth, id string) (SSHKeyChallenge, bool, error) {
	if err := person(a); err != nil {
		return SSHKeyChallenge{}, false, err
	}
	k, err := s.sshKey(ctx, a.Account.ID, id)
	if err != nil {
		return SSHKeyChallenge{}, false, err
	}
	return s.waitingSSHChallenge(ctx, a.Account.ID, sshKeyScope(id), []twofold.SSHKey{k})
}

// ConfirmSSHKey activates a pending key when signature is its signature
// over the key's challenge, which is then used. It needs an elevated
// session, as AddSSHKey does.
func (s *Service) ConfirmSSHKey(ctx context.Context, a Auth, id, signature string, m Meta) (twofold.SSHKey, error) {
	if err := person(a); err != nil {
		return twofold.SSHKey{}, err
	}
	if strings.TrimSpace(signature) == "" {
		return twofold.SSHKey{}, twofold.Errorf(twofold.CodeInvalid, "signature is required").On("signature")
	}
	k, err := s.sshKey(ctx, a.Account.ID, id)
	if err != nil {
		return twofold.SSHKey{}, err
	}
	if k.Status != twofold.FactorPending {
		return twofold.SSHKey{}, twofold.Errorf(twofold.CodeConflict, "this SSH key is confirmed already")
	}
	if err := s.requireTwoFactorAndElevation(ctx, a); err != nil {
		return twofold.SSHKey{}, err
	}
	now := s.Now()
	c, found, err := s.store.SSHChallenge(ctx, a.Account.ID, sshKeyScope(id), now)
	if err != nil {
		return twofold.SSHKey{}, err
	}
	if !found {
		return twofold.SSHKey{}, twofold.Errorf(twofold.CodeInvalid, "the challenge has expired: ask for a new one")
	}
	pub, err := publicKeyOf(k)
	if err != nil {
		return twofold.SSHKey{}, err
	}
	if _, err := sshkey.Verify(signature, []byte(c.Text), []ssh.PublicKey{pub}); err != nil {
		s.audit(ctx, a.Account.ID, "ssh_key.confirm_failed", m, k.Fingerprint+" "+id+": "+signatureCause(err))
		return twofold.SSHKey{}, twofold.Errorf(twofold.CodeInvalid, "the signature was not accepted: %s", signatureAdvice(err)).On("signature")
	}
	err = s.inTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.UseSSHChallenge(ctx, c.Scope, c.Text, now)
		if err != nil {
			return err
		}
		if ok {
			ok, err = s.store.ActivateSSHKey(ctx, a.Account.ID, id, now)
		}
		if err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeConflict, "this SSH key was confirmed or its challenge replaced meanwhile")
		}
		s.audit(ctx, a.Account.ID, "ssh_key.added", m, k.Type+" "+k.Fingerprint+" "+id)
		s.notify(ctx, a.Account.ID, "an SSH key was added",
			fmt.Sprintf("The SSH key %q (%s) was added to your account. A challenge signed with it can now sign in instead of an authenticator.", k.Label, k.Fingerprint),
			origin(m),
			"If this was not you, remove it in your security settings and change your password.")
		return nil
	})
	if err != nil {
		return twofold.SSHKey{}, err
	}
	k.Status, k.ConfirmedAt = twofold.FactorActive, &now
	return k, nil
}

// RemoveSSHKey removes a key. Removing an active one needs an elevated
// session when the account has two-factor on (SPEC §1 story 5); a pending
// one weakens nothing and does not.
func (s *Service) RemoveSSHKey(ctx context.Context, a Auth, id string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	k, err := s.sshKey(ctx, a.Account.ID, id)
	if err != nil {
		return err
	}
	if k.Status == twofold.FactorActive {
		if err := s.requireElevationIfEnabled(ctx, a); err != nil {
			return err
		}
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller): a way back in is not removed by a session
	// signed out meanwhile.
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.DeleteSSHKey(ctx, a.Account.ID, id, k.Status); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "ssh_key.removed", m, fmt.Sprintf("%s %s %s (%s)", k.Type, k.Fingerprint, id, k.Status))
		if k.Status == twofold.FactorActive {
			s.notify(ctx, a.Account.ID, "an SSH key was removed",
				fmt.Sprintf("The SSH key %q (%s) was removed from your account: challenges signed with it no longer sign in.", k.Label, k.Fingerprint), origin(m))
		}
		return nil
	})
}

// ChallengeLoginSSH makes a challenge for the second step of a pending
// login, to sign with one of its account's active SSH keys (POST
// /v1/login/{login_id}/challenge {"method":"ssh_key"}), or returns the
// login's challenge that is still live (newSSHChallenge).
func (s *Service) ChallengeLoginSSH(ctx context.Context, loginID string, m Meta) (SSHKeyChallenge, error) {
	if err := s.allowSource(ctx, m); err != nil {
		return SSHKeyChallenge{}, err
	}
	k := s.loginKeyOf(loginID)
	l, err := s.pendingLogin(ctx, k)
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	a, err := s.store.AccountByID(ctx, l.AccountID)
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	keys, err := s.activeSSHKeys(ctx, a.ID)
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	if len(keys) == 0 {
		return SSHKeyChallenge{}, twofold.Errorf(twofold.CodeNotFound, "this account has no SSH key to sign in with")
	}
	return s.newSSHChallenge(ctx, a, loginScope(k), "login", "login="+string(k), l.ExpiresAt, keys[0].Type)
}

// PendingLoginSSHChallenge returns the login's challenge waiting for a
// signature, if it has one.
func (s *Service) PendingLoginSSHChallenge(ctx context.Context, loginID string) (SSHKeyChallenge, bool, error) {
	k := s.loginKeyOf(loginID)
	l, err := s.pendingLogin(ctx, k)
	if err != nil {
		return SSHKeyChallenge{}, false, err
	}
	keys, err := s.activeSSHKeys(ctx, l.AccountID)
	if err != nil || len(keys) == 0 {
		return SSHKeyChallenge{}, false, err
	}
	return s.waitingSSHChallenge(ctx, l.AccountID, loginScope(k), keys)
}

// ChallengeElevationSSH makes a challenge to elevate the caller's session
// with (POST /v1/me/elevate then takes its signature), or returns the
// session's challenge that is still live (newSSHChallenge).
func (s *Service) ChallengeElevationSSH(ctx context.Context, a Auth) (SSHKeyChallenge, error) {
	if err := person(a); err != nil {
		return SSHKeyChallenge{}, err
	}
	keys, err := s.activeSSHKeys(ctx, a.Account.ID)
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	if len(keys) == 0 {
		return SSHKeyChallenge{}, twofold.Errorf(twofold.CodeNotFound, "this account has no SSH key")
	}
	return s.newSSHChallenge(ctx, a.Account, elevateScope(a.Session.ID), "elevation", "", time.Time{}, keys[0].Type)
}

// PendingElevationSSHChallenge returns the challenge waiting for a
// signature to elevate the caller's session with (ChallengeElevationSSH),
// if it has one and the account still has an active key.
func (s *Service) PendingElevationSSHChallenge(ctx context.Context, a Auth) (SSHKeyChallenge, bool, error) {
	if err := person(a); err != nil {
		return SSHKeyChallenge{}, false, err
	}
	keys, err := s.activeSSHKeys(ctx, a.Account.ID)
	if err != nil || len(keys) == 0 {
		return SSHKeyChallenge{}, false, err
	}
	return s.waitingSSHChallenge(ctx, a.Account.ID, elevateScope(a.Session.ID), keys)
}

// HasSSHKey reports whether the caller's account has an active SSH key,
// which "confirm it's you" then offers.
func (s *Service) HasSSHKey(ctx context.Context, a Auth) (bool, error) {
	if err := person(a); err != nil {
		return false, err
	}
	keys, err := s.activeSSHKeys(ctx, a.Account.ID)
	return len(keys) > 0, err
}

// verifySSHKey checks a signature over the challenge waiting for scope by
// one of the account's active keys: "" when accepted, and the challenge is
// then used; else the cause.
func (s *Service) verifySSHKey(ctx context.Context, accountID string, p SecondFactor, m Meta) (string, error) {
	now := s.Now()
	c, found, err := s.store.SSHChallenge(ctx, accountID, p.scope, now)
	if err != nil || !found {
		return "no ssh challenge waiting (none asked for, expired, or used)", err
	}
	keys, err := s.activeSSHKeys(ctx, accountID)
	if err != nil {
		return "", err
	}
	pubs := make([]ssh.PublicKey, 0, len(keys))
	for _, k := range keys {
		pub, err := publicKeyOf(k)
		if err != nil {
			return "", err
		}
		pubs = append(pubs, pub)
	}
	i, err := sshkey.Verify(p.Signature, []byte(c.Text), pubs)
	if err != nil {
		return signatureCause(err), nil
	}
	ok, err := s.store.UseSSHChallenge(ctx, c.Scope, c.Text, now)
	if err != nil {
		return "", err
	}
	if !ok {
		return "ssh challenge used or replaced meanwhile", nil
	}
	k := keys[i]
	if err := s.store.TouchSSHKey(ctx, k.ID, now); err != nil {
		return "", err
	}
	s.audit(ctx, accountID, "ssh_key.used", m, fmt.Sprintf("%s %s for %s", k.Fingerprint, k.ID, scopeKind(p.scope)))
	s.recoveryNotice(ctx, accountID, p, "your SSH key was used",
		fmt.Sprintf("A challenge signed with your SSH key %q (%s) was used %s.", k.Label, k.Fingerprint, map[bool]string{true: "to pass the second step of a login", false: "to confirm a change to your account"}[scopeKind(p.scope) == "login"]),
		origin(m),
		"If this was not you, remove the key in your security settings and change your password.")
	return "", nil
}

// sshKeyOption is the second-step method of an account with an active SSH
// key.
func (s *Service) sshKeyOption(ctx context.Context, accountID string) ([]MethodOption, error) {
	keys, err := s.activeSSHKeys(ctx, accountID)
	if err != nil || len(keys) == 0 {
		return nil, err
	}
	return []MethodOption{{Method: twofold.MethodSSHKey}}, nil
}

func (s *Service) activeSSHKeys(ctx context.Context, accountID string) ([]twofold.SSHKey, error) {
	keys, err := s.store.SSHKeys(ctx, accountID)
	if err != nil {
		return nil, err
	}
	out := keys[:0]
	for _, k := range keys {
		if k.Status == twofold.FactorActive {
			out = append(out, k)
		}
	}
	return out, nil
}

func (s *Service) sshKey(ctx context.Context, accountID, id string) (twofold.SSHKey, error) {
	keys, err := s.store.SSHKeys(ctx, accountID)
	if err != nil {
		return twofold.SSHKey{}, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return twofold.SSHKey{}, twofold.Errorf(twofold.CodeNotFound, "no such SSH key")
}

// newSSHChallenge stores a fresh challenge for scope, replacing the one
// before; but a login's or an elevation's live challenge stays, and is
// returned as it is (KeepSSHChallenge). Else whoever knew only the login
// id, which travels in URLs (or held a copy of a session's token), could
// replace the text the owner is signing, as often as they liked, and the
// owner's signature would fail. The text is no secret: signing it takes
// the owner's private key, and the signature goes from the owner to the
// server, so whoever asks for the challenge again may have the same one.
// It expires after SSHChallengeTTL, or at until when that is sooner.
// The text is one line of characters that are safe between single quotes
// in a shell, so that `echo '…' | ssh-keygen -Y sign …` works too.
func (s *Service) newSSHChallenge(ctx context.Context, a twofold.Account, scope, purpose, ref string, until time.Time, keyType string) (SSHKeyChallenge, error) {
	nonce, err := s.randomString(20) // 160 bits
	if err != nil {
		return SSHKeyChallenge{}, err
	}
	now := s.Now()
	expires := now.Add(SSHChallengeTTL)
	if !until.IsZero() && until.Before(expires) {
		expires = until
	}
	parts := []string{"twofold-ssh-challenge", "v1", "for=" + purpose, "account=" + a.Username}
	if ref != "" {
		parts = append(parts, ref)
	}
	if host := s.challengeServer(); host != "" {
		parts = append(parts, "server="+host)
	}
	parts = append(parts, "nonce="+nonce, "expires="+expires.Format(time.RFC3339))
	c := twofold.SSHChallenge{Scope: scope, AccountID: a.ID, Text: strings.Join(parts, " "), CreatedAt: now, ExpiresAt: expires}
	if kind := scopeKind(scope); kind == "login" || kind == "elevation" {
		if c, err = s.store.KeepSSHChallenge(ctx, c); err != nil {
			return SSHKeyChallenge{}, err
		}
		return challengeOf(c, keyType), nil
	}
	if err := s.store.PutSSHChallenge(ctx, c); err != nil {
		return SSHKeyChallenge{}, err
	}
	return challengeOf(c, keyType), nil
}

// challengeServer is the name this server goes by, the host of its public
// URL (SetLinkBase: --base-url, or localhost and the port on loopback), as
// a challenge names it: so that whoever is asked to sign a challenge sees
// which server it is for, and a page of another site passing on this
// server's challenge, to have the holder sign in here for it, shows a name
// that is not its own. "" when the server knows no public URL, or its host
// holds anything but letters, digits and . - : [ ] (the text must stay
// safe between single quotes in a shell).
func (s *Service) challengeServer() string {
	u, err := url.Parse(s.linkBase)
	if s.linkBase == "" || err != nil || u.Host == "" {
		return ""
	}
	for _, r := range u.Host {
		if !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || strings.ContainsRune(".-:[]", r)) {
			return ""
		}
	}
	return u.Host
}

// waitingSSHChallenge returns scope's unexpired challenge, if any, with the
// command for the first of keys.
func (s *Service) waitingSSHChallenge(ctx context.Context, accountID, scope string, keys []twofold.SSHKey) (SSHKeyChallenge, bool, error) {
	c, found, err := s.store.SSHChallenge(ctx, accountID, scope, s.Now())
	if err != nil || !found {
		return SSHKeyChallenge{}, false, err
	}
	t := ""
	if len(keys) > 0 {
		t = keys[0].Type
	}
	return challengeOf(c, t), true, nil
}

func challengeOf(c twofold.SSHChallenge, keyType string) SSHKeyChallenge {
	return SSHKeyChallenge{Text: c.Text, Namespace: sshkey.Namespace, Command: sshkey.Command(sshkey.DefaultFile(keyType)), ExpiresAt: c.ExpiresAt}
}

func publicKeyOf(k twofold.SSHKey) (ssh.PublicKey, error) {
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(k.PublicKey))
	if err != nil {
		return nil, fmt.Errorf("stored ssh key %s: %w", k.ID, err)
	}
	return pub, nil
}

// signatureCause names why a signature was refused, for the audit log.
func signatureCause(err error) string {
	switch {
	case errors.Is(err, sshkey.ErrMalformed):
		return "malformed ssh signature"
	case errors.Is(err, sshkey.ErrNamespace):
		return "ssh signature in another namespace"
	case errors.Is(err, sshkey.ErrOtherKey):
		return "ssh signature by a key not registered (active) on the account"
	case errors.Is(err, sshkey.ErrMessage):
		return "ssh signature over another text than the challenge"
	case errors.Is(err, sshkey.ErrNoTouch):
		return "security key's ssh signature made without a touch"
	}
	return "ssh signature refused"
}

// signatureAdvice tells the holder of a pending key what went wrong; the
// key is theirs, so the cause is no secret.
func signatureAdvice(err error) string {
	switch {
	case errors.Is(err, sshkey.ErrMalformed):
		return "paste the whole content of challenge.txt.sig, from -----BEGIN SSH SIGNATURE----- to -----END SSH SIGNATURE-----"
	case errors.Is(err, sshkey.ErrNamespace):
		return "sign with -n " + sshkey.Namespace
	case errors.Is(err, sshkey.ErrOtherKey):
		return "it was made with another key than this one"
	case errors.Is(err, sshkey.ErrNoTouch):
		return "this security key signed without a touch: sign again and touch the key when it blinks (a key made with -O no-touch-required cannot be used here; make one without it)"
	}
	return "it was made over another text than this challenge"
}
