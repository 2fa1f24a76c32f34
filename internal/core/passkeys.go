package core

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/factor/securitykey"
)

// Signing in with a passkey (README "Signing in with a passkey"): no
// username, no password. BeginPasskeyLogin stores a login transaction under
// a random id with the challenge of an assertion whose allowCredentials is
// empty and which requires user verification; the authenticator offers the
// passkeys it holds for this server, and its answer's user handle names the
// account. FinishPasskeyLogin takes the transaction (one conditional
// DELETE: each challenge is used once, whatever the outcome) and accepts
// the assertion only from an active passkey of that account, signed with
// user verification and with a signature counter that moved forward. A
// passkey is something held and the PIN or biometric that unlocks it, so
// the session it makes is elevated, as after a login's second step.
//
// Failures are counted per source address and claimed account
// (passkeyKey), never per account alone: the user handle is the client's
// claim until the signature is checked, and anyone who learnt it must not be
// able to lock the owner out of anything, nor junk from a shared address
// lock out everyone behind it. The counter is apart from the password's, so failed passkey
// sign-ins never keep the owner from signing in with their password. What
// would refuse the account's second step refuses a passkey too: a reset of
// two-factor that has fallen due is carried out first (the passkey is then
// gone), and a second step locked after failed codes is locked for the
// passkey as well (told only to the holder of the passkey, once its
// signature is checked).

// PasskeyChallenge is a sign-in with a passkey begun: the login
// transaction's id, when it expires, and the options for
// navigator.credentials.get ({"publicKey":{…}}).
type PasskeyChallenge struct {
	LoginID   string
	ExpiresAt time.Time
	Options   json.RawMessage
}

// passkeyKey names the counter of failed passkey sign-ins from source
// claiming the account of handle (kept as a keyed hash).
func (s *Service) passkeyKey(source string, handle []byte) string {
	return "passkey:" + sourceKey(source) + "|" + hex.EncodeToString(s.hasher.Sum("passkey-handle", string(handle))[:12])
}

// passkeyLoginKey is the key a sign-in with a passkey is stored under: a
// keyed hash of the id its client holds (PasskeyChallenge.LoginID), as a
// login is stored (loginKey), so that the database holds no login id a
// client was given.
func (s *Service) passkeyLoginKey(loginID string) string {
	return idEncoding.EncodeToString(s.hasher.Sum("passkey-login-id", loginID)[:16])
}

// errBadPasskey is the one answer for every refused passkey sign-in; the
// audit event records the real cause.
func errBadPasskey() error {
	return twofold.Errorf(twofold.CodeInvalidCredentials, "the passkey was not accepted")
}

// ErrPasskeyNotRegistered is the cause (errors.Is) of the refusal of a
// passkey that is not an active key of any account here: removed from the
// account (or with it, or by a reset of two-factor), or never made here,
// while the device still offers it. Trying it again cannot succeed, so the
// answer says so, and a page can tell the browser to forget it (WebAuthn's
// signalUnknownCredential). It reads the same whether the credential ever
// existed or not, and names no account.
var ErrPasskeyNotRegistered = errors.New("the passkey is not registered here")

// errUnknownPasskey is the answer to a passkey that is not registered here
// (ErrPasskeyNotRegistered).
func errUnknownPasskey() error {
	return &twofold.Error{Code: twofold.CodeInvalidCredentials, Err: ErrPasskeyNotRegistered,
		Message: "the passkey is not registered here (it may have been removed): remove it from the device, and sign in another way"}
}

// BeginPasskeyLogin begins a sign-in with a passkey, good for the relying
// party's timeout or the login lifetime, whichever is shorter.
func (s *Service) BeginPasskeyLogin(ctx context.Context, m Meta) (PasskeyChallenge, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return PasskeyChallenge{}, err
	}
	if err := s.allowSite(ctx, m); err != nil {
		return PasskeyChallenge{}, err
	}
	b, err := rp.BeginPasskeyLogin()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	id, err := s.newID()
	if err != nil {
		return PasskeyChallenge{}, err
	}
	now := s.Now()
	l := twofold.PasskeyLogin{ID: s.passkeyLoginKey(id), Challenge: b.Challenge, Session: b.Session, CreatedAt: now,
		ExpiresAt: now.Add(min(rp.Config().Timeout, s.cfg.LoginTTL))}
	if err := s.store.PutPasskeyLogin(ctx, l); err != nil {
		return PasskeyChallenge{}, err
	}
	return PasskeyChallenge{LoginID: id, ExpiresAt: l.ExpiresAt, Options: b.Options}, nil
}

// FinishPasskeyLogin finishes the sign-in with a passkey loginID with
// credential, the JSON of the PublicKeyCredential that
// navigator.credentials.get made, and returns an elevated session. Every
// refusal is invalid-credentials, but for a transaction expired or used
// (login-expired) and throttling; a passkey not registered here is told as
// such (ErrPasskeyNotRegistered).
func (s *Service) FinishPasskeyLogin(ctx context.Context, loginID string, credential []byte, m Meta) (Verified, error) {
	if !isJSONObject(credential) {
		return Verified{}, twofold.Errorf(twofold.CodeInvalid, "credential is required: the PublicKeyCredential made by navigator.credentials.get, as JSON").On("credential")
	}
	rp, err := s.relyingParty()
	if err != nil {
		return Verified{}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Verified{}, err
	}
	now := s.Now()
	l, ok, err := s.store.TakePasskeyLogin(ctx, s.passkeyLoginKey(truncate(loginID, 64)), now)
	if err != nil {
		return Verified{}, err
	}
	if !ok {
		s.audit(ctx, "", "login.passkey_failed", m, "no such sign-in with a passkey (expired, used, or unknown)")
		return Verified{}, errLoginExpired()
	}
	asr, err := securitykey.ParseAssertion(credential)
	if err != nil {
		s.audit(ctx, "", "login.passkey_failed", m, refusal(err))
		return Verified{}, errBadPasskey()
	}
	// Counted only for an answer to a sign-in begun here (each begin takes
	// from the address's bucket), and per address and claimed account:
	// junk sent from a shared address (an office, a carrier's NAT) locks
	// no one else's passkey out, and nobody's password.
	key := s.passkeyKey(m.Source, asr.UserHandle())
	failures, err := s.takeSlot(ctx, key, passwordDelay)
	if err != nil {
		if twofold.ErrorCode(err) == twofold.CodeThrottled {
			s.auditRefused(ctx, "passkey", sourceKey(m.Source), "", "login.throttled", m, "passkey sign-ins from one address")
		}
		return Verified{}, err
	}
	refuse := func(accountID, cause string) (Verified, error) {
		s.audit(ctx, accountID, "login.passkey_failed", m, fmt.Sprintf("%s (%s from this address)", cause, failuresText(failures)))
		return Verified{}, errBadPasskey()
	}
	a, u, cause, unknown, err := s.passkeyAccount(ctx, asr, m)
	if err != nil {
		return Verified{}, err
	}
	if cause != "" {
		v, err := refuse(a.ID, cause)
		if unknown {
			err = errUnknownPasskey()
		}
		return v, err
	}
	use, err := rp.FinishPasskeyLogin(u, l.Session, asr)
	if err != nil {
		return refuse(a.ID, refusal(err))
	}
	if cause := s.cloneWarning(ctx, a.ID, use, m); cause != "" {
		return refuse(a.ID, cause)
	}
	// The account's code counter is not looked at: a passkey's signature
	// cannot be guessed, so a lock of the codes, which anyone with the
	// password can set, must not keep its holder out; the sign-in clears it,
	// as the recovery path does.
	v, cause, err := s.passkeySession(ctx, a, use, now, m)
	if err != nil {
		return Verified{}, err
	}
	if cause != "" {
		return refuse(a.ID, cause)
	}
	s.resetSlots(ctx, key)
	s.clearCodeCounters(ctx, a.ID)
	return v, nil
}

// passkeyAccount returns the account an assertion's user handle names, as
// the relying party sees it, once the rules that need no signature hold:
// the credential is an active passkey of that account and signed with
// user verification. Else cause says why not (a.ID is set when the
// account is known), and unknown whether that is because the credential is
// no active key of the account the handle names, or there is no such
// account: the same whether it ever existed or not, and before the
// account's state is looked at (a suspension), so that the answer tells
// nothing of the account. As at a password login, a reset of two-factor
// that has fallen due is carried out first, and the passkey, removed with
// the account's factors, is then unknown.
func (s *Service) passkeyAccount(ctx context.Context, asr securitykey.Assertion, m Meta) (a twofold.Account, u securitykey.User, cause string, unknown bool, err error) {
	handle := asr.UserHandle()
	if len(handle) == 0 || len(handle) > 64 {
		return a, u, "the assertion carries no user handle: not a passkey", false, nil
	}
	if !wellFormedID(string(handle)) { // a handle Twofold never gave
		return a, u, "the user handle names no account", true, nil
	}
	a, err = s.store.AccountByID(ctx, string(handle))
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return twofold.Account{}, u, "the user handle names no account", true, nil
	}
	if err != nil {
		return a, u, "", false, err
	}
	if a, err = s.resetIfDue(ctx, a, m); err != nil {
		return a, u, "", false, err
	}
	if u, err = s.keyUser(ctx, a); err != nil {
		return a, u, "", false, err
	}
	i := slices.IndexFunc(u.Keys, func(k twofold.SecurityKey) bool { return bytes.Equal(k.CredentialID, asr.CredentialID()) })
	switch {
	case i < 0:
		return a, u, "the credential is not an active security key of the account (unknown, another's, or removed)", true, nil
	case a.Suspended:
		return a, u, "account suspended", false, nil
	case !u.Keys[i].Passkey():
		k := u.Keys[i]
		return a, u, fmt.Sprintf("security key %s is not a passkey (discoverable %t, registered with user verification %t)", k.FactorID, k.Discoverable, k.UserVerified), false, nil
	case !asr.UserVerified():
		return a, u, "passkey " + u.Keys[i].FactorID + " signed without user verification", false, nil
	}
	return a, u, "", false, nil
}

// passkeySession moves the signature counter of the key that signed use
// forward and makes an elevated session, in one transaction; cause says
// why not when the counter had moved past the assertion meanwhile.
func (s *Service) passkeySession(ctx context.Context, a twofold.Account, use securitykey.Use, now time.Time, m Meta) (v Verified, cause string, err error) {
	err = s.inTx(ctx, func(ctx context.Context) error {
		c, err := s.useKey(ctx, use, now)
		if err != nil || c != "" {
			cause = c
			return err
		}
		token, sess, err := s.newSession(a.ID, a.SessionEpoch, now, now.Add(s.cfg.ElevationTTL))
		if err != nil {
			return err
		}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			return err
		}
		v = Verified{Token: token, ExpiresAt: sess.ExpiresAt}
		s.auditSession(ctx, a.ID, "login.succeeded", m, "passkey "+use.FactorID, sess.ID)
		return nil
	})
	return v, cause, err
}
