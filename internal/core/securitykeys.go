package core

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/factor/securitykey"
)

// Security keys (SPEC §2 "security key": WebAuthn, several keys per
// account, each labelled and revocable).
//
// A key is a factor of type webauthn: enrolling it creates the pending
// factor and begins a registration ceremony; confirming it finishes the
// ceremony with the browser's response, stores the credential and
// activates the factor as a code confirms a TOTP factor. The second step
// and elevation begin an assertion ceremony over the account's active keys
// (ChallengeLogin, ChallengeElevation) and finish it in checkSecondFactor,
// under the same throttles and with the same answer as a wrong code.
//
// A ceremony's challenge and session data are stored in the database, bound
// to the account and to the factor, login or session it is for, and expire;
// finishing one takes it by one conditional DELETE, so each challenge is
// used once on any number of instances, whatever its outcome.

// SetRelyingParty sets the WebAuthn relying party that security keys are
// registered with and checked against. A server that learns its origin only
// once it listens calls it before serving.
func (s *Service) SetRelyingParty(c securitykey.Config) error {
	if c.RPName == "" {
		c.RPName = s.cfg.Issuer
	}
	if c.Timeout <= 0 {
		c.Timeout = s.cfg.LoginTTL
	}
	rp, err := securitykey.New(c)
	if err != nil {
		return fmt.Errorf("webauthn: %w", err)
	}
	s.rp = rp
	return nil
}

// RelyingParty returns the WebAuthn relying party's configuration, and
// whether security keys can be used at all.
func (s *Service) RelyingParty() (securitykey.Config, bool) {
	if s.rp == nil {
		return securitykey.Config{}, false
	}
	return s.rp.Config(), true
}

func (s *Service) relyingParty() (*securitykey.RelyingParty, error) {
	if s.rp == nil {
		return nil, twofold.Errorf(twofold.CodeUnavailable, "this server has no WebAuthn relying party configured, so security keys cannot be used")
	}
	return s.rp, nil
}

// Ceremony scopes: a factor's registration; logins and elevations use
// loginScope and elevateScope, as sent codes do.
func registerScope(factorID string) string { return "register:" + factorID }

// keyUser is the account as the relying party sees it: its id is the user
// handle (random, no personal data), its keys the active ones.
func (s *Service) keyUser(ctx context.Context, a twofold.Account) (securitykey.User, error) {
	keys, err := s.store.SecurityKeys(ctx, a.ID)
	if err != nil {
		return securitykey.User{}, err
	}
	return securitykey.User{Handle: []byte(a.ID), Name: a.Username, DisplayName: a.Username, Keys: keys}, nil
}

// enrolSecurityKey creates a pending webauthn factor and begins its
// registration: the options exclude the account's keys, so one key is not
// added twice.
func (s *Service) enrolSecurityKey(ctx context.Context, a Auth, n NewFactor, m Meta) (Enrolment, error) {
	if err := person(a); err != nil {
		return Enrolment{}, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Enrolment{}, err
	}
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "a security key takes only a label: algorithm, digits, period, secret_size, phone and email apply to other factors"),
		map[string]bool{"algorithm": n.Algorithm != "", "digits": n.Digits != 0, "period": n.Period != 0, "secret_size": n.SecretSize != 0, "phone": n.Phone != "", "email": n.Email != ""}); err != nil {
		return Enrolment{}, err
	}
	if n.Passkey {
		// A passkey signs in without the password, for as long as it is
		// kept: with a stolen session alone (of an account without
		// two-factor, which asks for no elevation) a thief would mint a
		// way in that outlives the session.
		if err := s.checkCurrentPassword(ctx, a, n.Password, "factor.passkey_refused", m); err != nil {
			return Enrolment{}, err
		}
	} else if n.Password != "" {
		return Enrolment{}, twofold.Errorf(twofold.CodeInvalid, "password applies to a passkey only").On("password")
	}
	label, err := s.newFactorLabel(ctx, a, n.Label)
	if err != nil {
		return Enrolment{}, err
	}
	u, err := s.keyUser(ctx, a.Account)
	if err != nil {
		return Enrolment{}, err
	}
	b, err := rp.BeginRegistration(u, n.Passkey)
	if err != nil {
		return Enrolment{}, err
	}
	id, err := s.newID()
	if err != nil {
		return Enrolment{}, err
	}
	now := s.Now()
	// A key holds no secret on the server; its factor row seals an empty
	// one, so that every factor reads and rotates alike.
	f := twofold.Factor{ID: id, AccountID: a.Account.ID, Type: twofold.FactorWebAuthn, Label: label, Status: twofold.FactorPending,
		LastStep: -1, CreatedAt: now, Passkey: n.Passkey, PendingSessionID: a.Session.ID}
	expires := now.Add(rp.Config().Timeout)
	err = sealAndStore(func() (err error) {
		if f.SecretKeyID, f.SealedSecret, err = s.keys.SealContext(ctx, []byte{}, factorAAD(id)); err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		return nil
	}, func() error {
		// Nothing half-stored: the factor is stored with its ceremony or
		// not at all.
		return s.createPending(ctx, a, m, f, func(ctx context.Context) error {
			return s.store.PutCeremony(ctx, twofold.Ceremony{Scope: registerScope(id), AccountID: a.Account.ID, Challenge: b.Challenge,
				Session: b.Session, CreatedAt: now, ExpiresAt: expires})
		}, nil)
	})
	if err != nil {
		return Enrolment{}, err
	}
	s.audit(ctx, a.Account.ID, "factor.created", m, kindOf(f)+" "+id)
	return Enrolment{Factor: f, Options: b.Options, CodeExpiresAt: expires}, nil
}

// restartRegistration begins the registration of a pending webauthn factor
// again, replacing the ceremony begun before: for a browser that was closed
// or a key that was not at hand. A pending passkey takes the account's
// password again, as adding it did: else a session alone would finish a
// passkey its holder began and left, with the thief's own key.
func (s *Service) restartRegistration(ctx context.Context, a Auth, f twofold.Factor, password string, m Meta) (Challenge, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Challenge{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Challenge{}, err
	}
	if f.Passkey {
		if err := s.checkCurrentPassword(ctx, a, password, "factor.passkey_refused", m); err != nil {
			return Challenge{}, err
		}
	}
	u, err := s.keyUser(ctx, a.Account)
	if err != nil {
		return Challenge{}, err
	}
	b, err := rp.BeginRegistration(u, f.Passkey)
	if err != nil {
		return Challenge{}, err
	}
	now := s.Now()
	expires := now.Add(rp.Config().Timeout)
	if err := s.store.PutCeremony(ctx, twofold.Ceremony{Scope: registerScope(f.ID), AccountID: a.Account.ID, Challenge: b.Challenge,
		Session: b.Session, CreatedAt: now, ExpiresAt: expires}); err != nil {
		return Challenge{}, err
	}
	return Challenge{FactorID: f.ID, Method: twofold.MethodWebAuthn, ExpiresAt: expires, Options: b.Options}, nil
}

// ConfirmSecurityKey finishes the registration of a pending webauthn
// factor with credential, the JSON of the PublicKeyCredential that
// navigator.credentials.create made from its options, and activates it as
// ConfirmFactor activates a factor confirmed by a code: with recovery codes
// and a paper key on the account's first factor, under the same elevation
// rule, with the same answer to anything refused, by the session that began
// it only (checkSetupSession).
func (s *Service) ConfirmSecurityKey(ctx context.Context, a Auth, factorID string, credential []byte, m Meta) (Confirmation, error) {
	if err := person(a); err != nil {
		return Confirmation{}, err
	}
	rp, err := s.relyingParty()
	if err != nil {
		return Confirmation{}, err
	}
	f, err := s.store.Factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return Confirmation{}, err
	}
	if f.Type != twofold.FactorWebAuthn {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "only a security key is confirmed with a credential: send the code instead")
	}
	if f.Status != twofold.FactorPending {
		return Confirmation{}, twofold.Errorf(twofold.CodeConflict, "factor is already confirmed")
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Confirmation{}, err
	}
	if err := s.checkSetupSession(ctx, a, f, setupFinish); err != nil {
		return Confirmation{}, err
	}
	if !isJSONObject(credential) {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "credential is required: the PublicKeyCredential made by navigator.credentials.create, as JSON").On("credential")
	}
	confirmKey := confirmKey(a.Account.ID, f.ID)
	if _, err := s.takeSlot(ctx, confirmKey, recoveryDelay); err != nil {
		return Confirmation{}, err
	}
	refuse := func(cause string) (Confirmation, error) {
		s.audit(ctx, a.Account.ID, "factor.confirm_failed", m, f.ID+": "+cause)
		return Confirmation{}, errBadSecondFactor()
	}
	reg, err := securitykey.ParseRegistration(credential)
	if err != nil {
		return refuse(refusal(err))
	}
	now := s.Now()
	session, ok, err := s.store.TakeCeremony(ctx, registerScope(f.ID), a.Account.ID, reg.Challenge(), now)
	if err != nil {
		return Confirmation{}, err
	}
	if !ok {
		return refuse("no registration begun for this key with that challenge (expired, used, replaced, or another's)")
	}
	u, err := s.keyUser(ctx, a.Account)
	if err != nil {
		return Confirmation{}, err
	}
	k, err := rp.FinishRegistration(u, session, reg, f.Passkey)
	if err != nil {
		return refuse(refusal(err))
	}
	k.FactorID, k.AccountID = f.ID, a.Account.ID
	s.resetSlots(ctx, confirmKey)
	return s.activateElevatingWith(ctx, a, f, -1, 0, now, m, func(ctx context.Context, act twofold.Activation) (bool, bool, error) {
		return s.store.ActivateSecurityKey(ctx, k, act)
	})
}

// kindOf names a factor's kind in audit events: its type, or for a
// passkey "webauthn passkey".
func kindOf(f twofold.Factor) string {
	if f.Passkey {
		return string(f.Type) + " passkey"
	}
	return string(f.Type)
}

// refusal returns the cause of a refused WebAuthn response for the audit
// log; any other error is returned as an internal one would be, by its
// text, which holds no secret.
func refusal(err error) string {
	var ke *securitykey.Error
	if errors.As(err, &ke) {
		return truncate(ke.Reason, 400)
	}
	return truncate(err.Error(), 400)
}

// challengeLoginSecurityKey begins an assertion for the second step of a
// pending login.
func (s *Service) challengeLoginSecurityKey(ctx context.Context, k loginKey, m Meta) (Challenge, error) {
	if err := s.allowSource(ctx, m); err != nil {
		return Challenge{}, err
	}
	l, err := s.pendingLogin(ctx, k)
	if err != nil {
		return Challenge{}, err
	}
	a, err := s.store.AccountByID(ctx, l.AccountID)
	if err != nil {
		return Challenge{}, err
	}
	return s.challengeSecurityKey(ctx, a, loginScope(k), l.ExpiresAt, m)
}

// challengeSecurityKey begins an assertion by one of the account's active
// keys for scope (a login or an elevation), good until the relying party's
// timeout or notAfter, whichever comes first; but while the scope's
// assertion begun before lives, it answers that one again, options and
// all (KeepCeremony). Else whoever knew only the login id, which travels in
// URLs (or held a copy of a session's token), could replace the challenge
// the owner's key is signing, as often as they liked, and the owner's
// assertion would fail. The challenge is no secret: an assertion takes the
// owner's key, on this site's origin, and goes from the owner's browser to
// the server; and an assertion one of the account's keys signed uses the
// ceremony up, so the next request begins a new one (one no key of the
// account signed uses up nothing: verifySecurityKey).
func (s *Service) challengeSecurityKey(ctx context.Context, a twofold.Account, scope string, notAfter time.Time, m Meta) (Challenge, error) {
	rp, err := s.relyingParty()
	if err != nil {
		return Challenge{}, err
	}
	u, err := s.keyUser(ctx, a)
	if err != nil {
		return Challenge{}, err
	}
	if len(u.Keys) == 0 {
		return Challenge{}, twofold.Errorf(twofold.CodeNotFound, "the account has no active security key")
	}
	b, err := rp.BeginLogin(u)
	if err != nil {
		return Challenge{}, err
	}
	now := s.Now()
	expires := now.Add(rp.Config().Timeout)
	if expires.After(notAfter) {
		expires = notAfter
	}
	c, err := s.store.KeepCeremony(ctx, twofold.Ceremony{Scope: scope, AccountID: a.ID, Challenge: b.Challenge, Session: b.Session,
		CreatedAt: now, ExpiresAt: expires, Options: b.Options})
	if err != nil {
		return Challenge{}, err
	}
	if c.Challenge == b.Challenge {
		s.audit(ctx, a.ID, "security_key.challenged", m, fmt.Sprintf("%d keys for %s", len(u.Keys), scopeKind(scope)))
	}
	return Challenge{Method: twofold.MethodWebAuthn, ExpiresAt: c.ExpiresAt, Options: c.Options}, nil
}

// checkAssertion refuses a webauthn proof without a credential before it
// costs a throttle slot.
// isJSONObject reports whether b looks like a JSON object, as a
// PublicKeyCredential is: "null", a string or nothing is no credential, and
// is refused before it takes a throttle slot.
func isJSONObject(b []byte) bool {
	b = bytes.TrimSpace(b)
	return len(b) > 0 && b[0] == '{'
}

func checkAssertion(p SecondFactor) error {
	if !isJSONObject(p.Credential) {
		return twofold.Errorf(twofold.CodeInvalid, "credential is required: the PublicKeyCredential made by navigator.credentials.get, as JSON").On("credential")
	}
	if p.Code != "" {
		return twofold.Errorf(twofold.CodeInvalid, "a security key sends a credential, not a code").On("code")
	}
	return nil
}

// verifySecurityKey checks an assertion against the ceremony begun for
// p.scope and the account's active keys (only p.FactorID's when set): it
// returns "" when it is accepted, and the key's signature counter has moved
// forward; else the cause. An assertion one of the account's keys signed
// uses the ceremony up, whatever the outcome after that; one that no key
// of the account signed (a stranger's, who needs only the login id to
// learn the challenge) uses up nothing, so that it cannot void the
// challenge the owner's key is signing (see challengeSecurityKey). A
// counter that did not move forward is refused as a sign of a cloned key,
// audited and told to the owner.
func (s *Service) verifySecurityKey(ctx context.Context, accountID string, p SecondFactor, m Meta) (string, error) {
	if s.rp == nil {
		return "security keys are not configured on this server", nil
	}
	asr, err := securitykey.ParseAssertion(p.Credential)
	if err != nil {
		return refusal(err), nil
	}
	now := s.Now()
	noCeremony := "no security key challenge with that challenge for this " + scopeKind(p.scope) + " (expired, used, replaced, or another's)"
	session, ok, err := s.store.CeremonySession(ctx, p.scope, accountID, asr.Challenge(), now)
	if err != nil {
		return "", err
	}
	if !ok {
		return noCeremony, nil
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return "", err
	}
	u, err := s.keyUser(ctx, a)
	if err != nil {
		return "", err
	}
	use, err := s.rp.FinishLogin(u, session, asr)
	if err != nil {
		return refusal(err), nil
	}
	// Signed by a key of the account: the ceremony is used, by one
	// conditional statement, so of two such answers (or one sent twice)
	// exactly one goes on.
	if _, ok, err := s.store.TakeCeremony(ctx, p.scope, accountID, asr.Challenge(), now); err != nil || !ok {
		return noCeremony, err
	}
	if p.FactorID != "" && use.FactorID != p.FactorID {
		return "signed by security key " + use.FactorID + ", not " + truncate(p.FactorID, 64), nil
	}
	if cause := s.cloneWarning(ctx, accountID, use, m); cause != "" {
		return cause, nil
	}
	return s.useKey(ctx, use, now)
}

// cloneWarning returns, when use's signature counter did not move forward,
// the cause of refusal, having audited it and told the owner (a sign of a
// cloned key, WebAuthn §6.1.1); else "".
func (s *Service) cloneWarning(ctx context.Context, accountID string, use securitykey.Use, m Meta) string {
	if !use.CloneWarning {
		return ""
	}
	stored := use.Key.SignCount
	s.audit(ctx, accountID, "security_key.clone_warning", m, fmt.Sprintf("%s: signature counter %d after %d", use.FactorID, use.SignCount, stored))
	s.notify(ctx, accountID, "a security key may have been copied",
		"A sign-in with one of your security keys was refused: the key's signature counter went backwards, which happens when a copy of the key is in use.",
		"If you did not copy the key, remove it from your account and add a new one.")
	return fmt.Sprintf("signature counter of %s did not move forward (%d after %d): possibly a cloned key", use.FactorID, use.SignCount, stored)
}

// useKey records an accepted assertion: the key's signature counter moves
// forward by compare-and-set. It returns "" when it did, else the cause.
func (s *Service) useKey(ctx context.Context, use securitykey.Use, now time.Time) (string, error) {
	moved, err := s.store.UseSecurityKey(ctx, use.FactorID, use.SignCount, use.Flags, now)
	if err != nil {
		return "", err
	}
	if !moved {
		return "signature counter of " + use.FactorID + " moved past this assertion meanwhile, or the key was removed", nil
	}
	return "", nil
}
