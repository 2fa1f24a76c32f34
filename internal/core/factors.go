package core

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
)

// NewFactor describes an authenticator to enrol (SPEC §3.1 POST /v1/me/factors).
type NewFactor struct {
	Type       twofold.FactorType // totp, hotp for a counter-based token, sms or email
	Label      string             // sms and email: default the masked number or address
	Phone      string             // sms: in international form, "+44 7400 123456"
	Email      string             // email: default the account's address
	Algorithm  string             // default SHA1
	Digits     int                // default 6
	Period     int                // seconds, default 30; TOTP only
	SecretSize int                // bytes, default 20
	// Passkey asks, for webauthn, for a passkey: a discoverable credential
	// made with user verification, which also signs in on its own.
	Passkey bool
	// Password is, for a passkey, the account's current password: a
	// passkey is a way in on its own, which a stolen session alone must
	// not be able to add.
	Password string
}

// HOTPLookAhead is how many counters past the next expected one an HOTP
// code may be (RFC 4226 §7.4; SPEC §2 allows at most 10): presses of the
// token's button that never reached the server.
const HOTPLookAhead = 10

// HOTPResyncWindow is how many counters past the next expected one
// resynchronisation searches for two consecutive codes (SPEC §2).
const HOTPResyncWindow = 1000

// Enrolment is a pending factor with what the user needs to add it to an app.
// The secret is shown only while the factor is pending.
type Enrolment struct {
	Factor     twofold.Factor
	Secret     string // base32; totp and hotp only
	OTPAuthURI string
	// CodeExpiresAt is, for an sms or email factor, when the code sent to
	// confirm it expires.
	CodeExpiresAt time.Time
	// Options are, for a webauthn factor, the options for
	// navigator.credentials.create ({"publicKey":{…}}), good until
	// CodeExpiresAt.
	Options json.RawMessage
}

// Confirmation is the result of confirming a factor. Recovery codes and the
// paper key are present only when it was the account's first active factor.
type Confirmation struct {
	Factor        twofold.Factor
	RecoveryCodes []string
	PaperKey      string
	// ElevatedUntil is, when confirming the factor elevated the caller's
	// session (ConfirmFactor: a code from the factor is a fresh second
	// factor check), until when; zero otherwise.
	ElevatedUntil time.Time
}

// CheckFactorLabel reports why label cannot name a new factor of the
// caller's account (malformed, or like another's), before anything is spent
// on the way to EnrolFactor, such as a recovery code for elevation.
func (s *Service) CheckFactorLabel(ctx context.Context, a Auth, label string) error {
	if err := person(a); err != nil {
		return err
	}
	label, err := validateLabel(label)
	if err != nil {
		return err
	}
	live, err := s.accountLiveFactors(ctx, a)
	if err != nil {
		return err
	}
	return checkNewLabel(live, label, "")
}

// accountLiveFactors returns the caller's factors but the stale setups
// (liveFactors): those whose names and places count.
func (s *Service) accountLiveFactors(ctx context.Context, a Auth) ([]twofold.Factor, error) {
	all, err := s.store.Factors(ctx, a.Account.ID)
	if err != nil {
		return nil, err
	}
	live, _, err := s.liveFactors(ctx, a, all)
	return live, err
}

// UnusedLabel returns base, or base numbered (" (2)", " (3)", …) when a
// factor of the account has that name already: a default name for a client
// that gives none and cannot answer "choose another name" (an OpenStack
// credential has no name at all).
func (s *Service) UnusedLabel(ctx context.Context, a Auth, base string) (string, error) {
	fs, err := s.accountLiveFactors(ctx, a)
	if err != nil {
		return "", err
	}
	return unusedLabel(fs, base), nil
}

// unusedLabel returns base, numbered when one of fs has that name: a name
// the holder did not choose is never refused as taken.
func unusedLabel(fs []twofold.Factor, base string) string {
	label := base
	for i := 2; checkNewLabel(fs, label, "") != nil; i++ {
		label = fmt.Sprintf("%s (%d)", base, i)
	}
	return label
}

// maxPendingFactors bounds the setups an account may have started and not
// finished: each holds a secret.
const maxPendingFactors = 5

// PendingSetupTTL is how long an unfinished setup keeps its place. A setup
// started PendingSetupTTL ago or more and still not confirmed, or whose
// session has ended (signed out, expired, signed out everywhere: nobody
// can finish it any more), is stale: it no longer counts towards the
// maxPendingFactors setups an account may have unfinished, nor keeps its
// name from a new authenticator, and the next setup started on the account
// removes it. Else a setup left behind, by a request cut short after it was
// stored or a page closed half-way, would block new ones until cancelled.
// Until then its own session may still finish it. An hour is far longer
// than scanning a QR code, or the ten minutes a sent code, a push
// enrolment code or a key's registration lasts, each of which can be
// renewed meanwhile.
const PendingSetupTTL = time.Hour

// staleSetup reports whether f is a stale setup (PendingSetupTTL), seen
// from a.
func (s *Service) staleSetup(ctx context.Context, a Auth, f twofold.Factor) (bool, error) {
	if f.Status != twofold.FactorPending {
		return false, nil
	}
	if !s.Now().Before(f.CreatedAt.Add(PendingSetupTTL)) {
		return true, nil
	}
	owner, err := s.setupOwnerOf(ctx, a, f)
	return owner == SetupEnded, err
}

// liveFactors splits fs, factors of a's account, into the active factors
// and setups that count (live) and the stale setups.
func (s *Service) liveFactors(ctx context.Context, a Auth, fs []twofold.Factor) (live, stale []twofold.Factor, err error) {
	for _, f := range fs {
		old, err := s.staleSetup(ctx, a, f)
		if err != nil {
			return nil, nil, err
		}
		if old {
			stale = append(stale, f)
		} else {
			live = append(live, f)
		}
	}
	return live, stale, nil
}

// ErrNameTaken is wrapped by the conflict that refuses a new
// authenticator's name because another of the account's factors, or an
// unfinished setup, has it (checkNewLabel): pages mark the name's field.
var ErrNameTaken = errors.New("name taken")

// checkNewLabel refuses label when another of the account's factors (other
// than except) is called the same as sameName compares names (case, hidden
// characters, compatibility forms ignored): two authenticators of one name
// could not be told apart at login or in a notice.
func checkNewLabel(fs []twofold.Factor, label, except string) error {
	for _, f := range fs {
		if f.ID != except && sameName(f.Label, label) {
			if f.Status == twofold.FactorPending {
				return &twofold.Error{Code: twofold.CodeConflict, Err: ErrNameTaken,
					Message: fmt.Sprintf("the setup of an authenticator called %q is not finished: finish or cancel it, or choose another name", f.Label)}
			}
			return &twofold.Error{Code: twofold.CodeConflict, Err: ErrNameTaken,
				Message: fmt.Sprintf("you already have an authenticator called %q: choose another name", f.Label)}
		}
	}
	return nil
}

// validateLabel trims label and checks it is a name fit to show (checkName).
// Its messages call the label a name, as the pages' fields do and
// checkNewLabel's messages did already.
func validateLabel(label string) (string, error) {
	if strings.TrimSpace(label) == "" {
		return "", twofold.Errorf(twofold.CodeInvalid, "the authenticator needs a name").On("label")
	}
	label, ok := checkName(label)
	if !ok {
		return "", twofold.Errorf(twofold.CodeInvalid, "a name must be at most 64 characters on one line, without control, invisible, filler, private-use or text-direction characters, and not only combining marks").On("label")
	}
	return label, nil
}

func (n NewFactor) params() (otp.Params, int, error) {
	p := otp.DefaultParams()
	if n.Algorithm != "" {
		alg, err := otp.ParseAlgorithm(n.Algorithm)
		if err != nil {
			return p, 0, twofold.Errorf(twofold.CodeInvalid, "algorithm must be SHA1, SHA256 or SHA512").On("algorithm")
		}
		p.Algorithm = alg
	}
	if n.Digits != 0 {
		if n.Digits != 6 && n.Digits != 8 {
			return p, 0, twofold.Errorf(twofold.CodeInvalid, "digits must be 6 or 8").On("digits")
		}
		p.Digits = n.Digits
	}
	if n.Type == twofold.FactorHOTP {
		if n.Period != 0 {
			return p, 0, twofold.Errorf(twofold.CodeInvalid, "period applies to totp only: an hotp token counts presses").On("period")
		}
		p.Period = 0
	} else if n.Period != 0 {
		if n.Period != 30 && n.Period != 60 {
			return p, 0, twofold.Errorf(twofold.CodeInvalid, "period must be 30 or 60 seconds").On("period")
		}
		p.Period = time.Duration(n.Period) * time.Second
	}
	size := n.SecretSize
	if size == 0 {
		size = 20
	}
	if size != 20 && size != 32 {
		return p, 0, twofold.Errorf(twofold.CodeInvalid, "secret_size must be 20 or 32 bytes").On("secret_size")
	}
	return p, size, nil
}

func factorAAD(id string) []byte { return keyring.AAD("factors", "secret", id) }

// EnrolFactor creates a pending TOTP or HOTP factor with a fresh secret
// (SPEC §1 stories 1 and 3). It gates no login until ConfirmFactor accepts a
// code from it. On an account with two-factor on it needs an elevated
// session, as ConfirmFactor does.
func (s *Service) EnrolFactor(ctx context.Context, a Auth, n NewFactor, m Meta) (Enrolment, error) {
	if n.Passkey && n.Type != twofold.FactorWebAuthn {
		return Enrolment{}, twofold.Errorf(twofold.CodeInvalid, "passkey applies to webauthn factors only").On("passkey")
	}
	if n.Type.SendsCodes() {
		if err := person(a); err != nil {
			return Enrolment{}, err
		}
		return s.enrolSent(ctx, a, n, m)
	}
	if n.Type == twofold.FactorWebAuthn {
		return s.enrolSecurityKey(ctx, a, n, m)
	}
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "phone and email apply to sms and email factors only"),
		map[string]bool{"phone": n.Phone != "", "email": n.Email != ""}); err != nil {
		return Enrolment{}, err
	}
	return s.enrol(ctx, a, n, nil, m)
}

// enrol is EnrolFactor with the secret given, or a fresh one when nil.
func (s *Service) enrol(ctx context.Context, a Auth, n NewFactor, secret []byte, m Meta) (Enrolment, error) {
	if err := person(a); err != nil {
		return Enrolment{}, err
	}
	if n.Type != twofold.FactorTOTP && n.Type != twofold.FactorHOTP {
		return Enrolment{}, twofold.Errorf(twofold.CodeInvalid, "type must be totp, hotp, sms, email, push or webauthn").On("type")
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Enrolment{}, err
	}
	label, err := s.newFactorLabel(ctx, a, n.Label)
	if err != nil {
		return Enrolment{}, err
	}
	p, size, err := n.params()
	if err != nil {
		return Enrolment{}, err
	}
	if secret == nil {
		if secret, err = otp.NewSecret(s.rand, size); err != nil {
			return Enrolment{}, err
		}
	}
	id, err := s.newID()
	if err != nil {
		return Enrolment{}, err
	}
	f := twofold.Factor{
		ID: id, AccountID: a.Account.ID, Type: n.Type, Label: label, Status: twofold.FactorPending,
		Algorithm: p.Algorithm.String(), Digits: p.Digits, Period: p.Period, LastStep: -1, CreatedAt: s.Now(),
		PendingSessionID: a.Session.ID, // person(a): a session, never a key
	}
	err = sealAndStore(func() (err error) {
		if f.SecretKeyID, f.SealedSecret, err = s.keys.SealContext(ctx, secret, factorAAD(id)); err != nil {
			return fmt.Errorf("seal secret: %w", err)
		}
		return nil
	}, func() error { return s.createPending(ctx, a, m, f, nil, nil) })
	if err != nil {
		return Enrolment{}, err
	}
	s.audit(ctx, a.Account.ID, "factor.created", m, string(f.Type)+" "+id)
	f.Secret = secret
	return Enrolment{Factor: f, Secret: otp.EncodeSecret(secret), OTPAuthURI: s.keyURI(a.Account, f, p)}, nil
}

// createPending stores the pending factor f, started by a, and, in the same
// transaction, what more writes, removes the account's stale setups
// (PendingSetupTTL), then checks the account's factors as they are with f
// among them: its name unlike the others' (checkNewLabel), at most
// maxPendingFactors setups unfinished, and what check adds. The account's
// row is held from the first write (CreateFactor), so of two setups stored
// at once each sees the other, and a conflict found then leaves nothing
// stored, the stale setups included: the checks made before, with nothing
// held, are only a first answer.
func (s *Service) createPending(ctx context.Context, a Auth, m Meta, f twofold.Factor, more func(context.Context) error, check func(context.Context, []twofold.Factor) error) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateFactor(ctx, f); err != nil {
			return err
		}
		if more != nil {
			if err := more(ctx); err != nil {
				return err
			}
		}
		all, err := s.store.Factors(ctx, f.AccountID)
		if err != nil {
			return err
		}
		fs, stale, err := s.liveFactors(ctx, a, all)
		if err != nil {
			return err
		}
		for _, o := range stale {
			if _, err := s.store.DeleteFactor(ctx, o.AccountID, o.ID, twofold.FactorPending); err != nil {
				return err
			}
			s.audit(ctx, o.AccountID, "factor.removed", m, factorDetail(o)+"; unfinished setup expired, removed as another began")
		}
		if err := checkNewLabel(fs, f.Label, f.ID); err != nil {
			return err
		}
		others := slices.DeleteFunc(slices.Clone(fs), func(o twofold.Factor) bool { return o.ID == f.ID })
		if err := checkPending(others); err != nil {
			return err
		}
		// A first answer: a setup that could never turn active is not
		// begun. Activation checks again (holdFactorRoom).
		if err := checkFactorRoom(others, f.Type, ""); err != nil {
			return err
		}
		if check != nil {
			return check(ctx, fs)
		}
		return nil
	})
}

// sealAndStore runs seal, then store. A key rotation may delete the data
// key the values were just sealed under before they are stored (the request
// stalled for longer than the rotation's grace period): then store fails
// with keyring.ErrKeyGone, and sealing again picks the new key, up to three
// times.
func sealAndStore(seal, store func() error) error {
	for attempt := 1; ; attempt++ {
		if err := seal(); err != nil {
			return err
		}
		err := store()
		if err == nil || !errors.Is(err, keyring.ErrKeyGone) || attempt == 3 {
			return err
		}
	}
}

func (s *Service) keyURI(a twofold.Account, f twofold.Factor, p otp.Params) string {
	k := otp.Key{Type: otp.TypeTOTP, Issuer: s.cfg.Issuer, Account: a.Username, Secret: f.Secret, Params: p}
	if f.Type == twofold.FactorHOTP {
		k.Type, k.Counter = otp.TypeHOTP, uint64(f.LastStep+1)
	}
	return k.URI()
}

// PendingEnrolment returns the enrolment data of a factor that is still
// pending; once active, its secret is never shown again.
//
// The secret, its otpauth:// URI and so its QR code are shown under the rule
// that adding a factor follows (EnrolFactor, ConfirmFactor): on an account
// with an active factor the session must be elevated. Else a session signed
// in with the password only (two-factor not required, SPEC §3.1) could read
// the secret of a factor the owner is setting up, and once the owner
// confirmed it make its codes and elevate with them.
//
// On an account without an active factor no session can be elevated, so
// that rule asks nothing there: the secret is then shown only to the
// session that started the setup (checkSetupSession), else anyone holding
// the password could sign in on their own and copy the key of the owner's
// first authenticator. That holds on any account: the key is shown to the
// session that started the setup, elevated as the first rule asks, and to
// no other. A factor whose setup session is not known (started before it
// was recorded) shows its secret to an elevated session only.
func (s *Service) PendingEnrolment(ctx context.Context, a Auth, factorID string) (Enrolment, error) {
	if err := person(a); err != nil {
		return Enrolment{}, err
	}
	f, err := s.store.Factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return Enrolment{}, err
	}
	if f.Status != twofold.FactorPending {
		return Enrolment{}, twofold.Errorf(twofold.CodeNotFound, "the secret of a confirmed factor is never shown again")
	}
	if f.Type == twofold.FactorPush {
		return Enrolment{}, twofold.Errorf(twofold.CodeNotFound, "a push device's enrolment code is shown once: make a new one")
	}
	if f.Type.SendsCodes() {
		return Enrolment{}, twofold.Errorf(twofold.CodeNotFound, "an %s factor has no secret to show: it is sent codes", f.Type)
	}
	if f.Type == twofold.FactorWebAuthn {
		return Enrolment{}, twofold.Errorf(twofold.CodeNotFound, "a security key has no secret to show")
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Enrolment{}, err
	}
	if err := s.checkSetupSession(ctx, a, f, setupShow); err != nil {
		return Enrolment{}, err
	}
	if err := s.open(ctx, &f); err != nil {
		return Enrolment{}, err
	}
	p, err := factorParams(f)
	if err != nil {
		return Enrolment{}, err
	}
	return Enrolment{Factor: f, Secret: otp.EncodeSecret(f.Secret), OTPAuthURI: s.keyURI(a.Account, f, p)}, nil
}

// ErrOtherSession is the cause of the not-found error that refuses a
// pending setup to a session other than the one that started it
// (checkSetupSession): pages tell it apart from a setup that is gone.
var ErrOtherSession = errors.New("setup started by another session")

// setupUse is what a session asks of a pending setup (checkSetupSession).
type setupUse int

const (
	setupShow   setupUse = iota // show a TOTP or HOTP factor's key
	setupFinish                 // confirm it, send a new code, begin a key's registration again, make a push device's enrolment code anew
	setupCancel                 // remove it
)

// SetupOwner is whose a pending setup is, seen from a session.
type SetupOwner int

const (
	SetupMine    SetupOwner = iota // the caller's session started it
	SetupUnknown                   // started before the setup's session was recorded
	SetupEnded                     // its session has ended (signed out, expired, signed out everywhere)
	SetupOther                     // another session of the account, still signed in
)

// setupOwnerOf tells whose the pending setup f is, seen from a.
func (s *Service) setupOwnerOf(ctx context.Context, a Auth, f twofold.Factor) (SetupOwner, error) {
	switch {
	case f.PendingSessionID == "":
		return SetupUnknown, nil
	case a.Key == nil && subtle.ConstantTimeCompare([]byte(a.Session.ID), []byte(f.PendingSessionID)) == 1:
		return SetupMine, nil
	}
	sess, err := s.store.Session(ctx, f.PendingSessionID, s.Now())
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return SetupEnded, nil
	}
	if err != nil {
		return 0, err
	}
	if sess.AccountID != a.Account.ID || sess.Epoch != a.Account.SessionEpoch {
		return SetupEnded, nil
	}
	return SetupOther, nil
}

// checkSetupSession refuses the caller use of the pending setup f unless
// the caller is the session that started it (SPEC §1 story 3: each
// authenticator is set up where it was begun). Another session of the
// account, elevated or not, may neither see its key nor finish it: it
// would read or confirm the key of the owner's authenticator. Nor may it
// cancel it, and so pull a setup away from under the owner, unless it is
// elevated: a session that has just passed a second factor of the account
// is the owner's (SPEC §1 story 5, as for removing an active factor), and
// the setup may be a thief's, started with a stolen session, that the
// owner must be able to stop without first finding and ending that
// session. The answer is not-found, as for a setup that is gone, and names
// no secret.
//
// Two kinds of setup have no session to wait for: one whose session has
// ended (signed out, expired, or signed out everywhere) may be cancelled
// by any session of the account, so that its name and its place among the
// unfinished setups are not held for ever; one whose session is not known
// (f.PendingSessionID "", started before it was recorded) may be finished
// or cancelled by any session, as before, while its key is shown to an
// elevated session only: its holder may have it in an app already, and no
// session without elevation may read it anew. API keys make no setups
// (person), so only a session can match.
func (s *Service) checkSetupSession(ctx context.Context, a Auth, f twofold.Factor, use setupUse) error {
	_, err := s.setupAccess(ctx, a, f, use)
	return err
}

// setupAccess is checkSetupSession, which also tells whose the setup is
// (SetupMine for a factor that is not pending).
func (s *Service) setupAccess(ctx context.Context, a Auth, f twofold.Factor, use setupUse) (SetupOwner, error) {
	if f.Status != twofold.FactorPending {
		return SetupMine, nil
	}
	owner, err := s.setupOwnerOf(ctx, a, f)
	if err != nil {
		return 0, err
	}
	switch {
	case owner == SetupMine,
		owner == SetupUnknown && use != setupShow,
		owner == SetupUnknown && a.Elevated(s.Now()),
		owner == SetupEnded && use == setupCancel,
		owner == SetupOther && use == setupCancel && a.Elevated(s.Now()):
		return owner, nil
	}
	return owner, &twofold.Error{Code: twofold.CodeNotFound, Err: ErrOtherSession,
		Message: "this authenticator's setup was started in another session: only that session can see its key or finish it; a session that has confirmed it's you can cancel it, and once that session has ended any session can"}
}

// SetupElsewhere reports whether the pending setup f belongs to another
// session of the caller's account that is still signed in, so that the
// caller may not finish it, and may cancel it only once elevated
// (checkSetupSession): pages then say where it was started, rather than
// offer buttons that fail.
func (s *Service) SetupElsewhere(ctx context.Context, a Auth, f twofold.Factor) (bool, error) {
	if f.Status != twofold.FactorPending || f.AccountID != a.Account.ID {
		return false, nil
	}
	owner, err := s.setupOwnerOf(ctx, a, f)
	return owner == SetupOther, err
}

// SetupOwners tells, for each pending setup among the caller's factors fs,
// whose session started it, seen from the caller (SetupOwner), keyed by
// factor id; active factors are left out. The API marks with it the setups
// the caller cannot finish, among them a thief's, which only an elevated
// session may cancel (checkSetupSession).
func (s *Service) SetupOwners(ctx context.Context, a Auth, fs []twofold.Factor) (map[string]SetupOwner, error) {
	out := map[string]SetupOwner{}
	for _, f := range fs {
		if f.Status != twofold.FactorPending || f.AccountID != a.Account.ID {
			continue
		}
		owner, err := s.setupOwnerOf(ctx, a, f)
		if err != nil {
			return nil, err
		}
		out[f.ID] = owner
	}
	return out, nil
}

// StaleSetups tells which pending setups among the caller's factors fs
// are stale (PendingSetupTTL): keyed by factor id, true for each. They
// still exist until the next setup removes them (createPending), or they
// are cancelled, and their own session may still finish them; the pages
// and the API mark them expired, so that a setup that no longer holds its
// name nor its place is not shown as one that does.
func (s *Service) StaleSetups(ctx context.Context, a Auth, fs []twofold.Factor) (map[string]bool, error) {
	out := map[string]bool{}
	for _, f := range fs {
		if f.AccountID != a.Account.ID {
			continue
		}
		stale, err := s.staleSetup(ctx, a, f)
		if err != nil {
			return nil, err
		}
		if stale {
			out[f.ID] = true
		}
	}
	return out, nil
}

// factor loads and decrypts one of the account's factors.
func (s *Service) factor(ctx context.Context, accountID, id string) (twofold.Factor, error) {
	if !wellFormedID(id) {
		return twofold.Factor{}, twofold.Errorf(twofold.CodeNotFound, "factor not found")
	}
	f, err := s.store.Factor(ctx, accountID, id)
	if err != nil {
		return f, err
	}
	return f, s.open(ctx, &f)
}

func (s *Service) open(ctx context.Context, f *twofold.Factor) error {
	secret, err := s.keys.Open(ctx, f.SecretKeyID, f.SealedSecret, factorAAD(f.ID))
	if err != nil {
		return fmt.Errorf("open factor %s: %w", f.ID, err)
	}
	f.Secret = secret
	return nil
}

func factorParams(f twofold.Factor) (otp.Params, error) {
	alg, err := otp.ParseAlgorithm(f.Algorithm)
	if err != nil {
		return otp.Params{}, err
	}
	return otp.Params{Algorithm: alg, Digits: f.Digits, Period: f.Period}, nil
}

// ConfirmFactor activates a pending factor with a current code from it. The
// code is thereby used and never accepted again. On the account's first
// factor, recovery codes and a paper key are issued, and two-factor becomes
// required (SPEC §1 story 1, §3.1).
//
// On an account that already has an active factor the session must be
// elevated: a factor of one's own choosing can elevate a session, so adding
// one is as sensitive as removing one (else a stolen session could add its
// own, elevate with it, and remove the owner's).
//
// A factor is confirmed only by the session that started its setup
// (checkSetupSession); one whose setup session is not known, from before
// it was recorded, by any session: confirming the
// account's first factor hands out its recovery codes and paper key, which
// belong to whoever set the factor up, and guesses from another session
// would spend the throttle slots of the owner's confirmation.
func (s *Service) ConfirmFactor(ctx context.Context, a Auth, factorID, code string, m Meta) (Confirmation, error) {
	if err := person(a); err != nil {
		return Confirmation{}, err
	}
	f, err := s.factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return Confirmation{}, err
	}
	if f.Status != twofold.FactorPending {
		return Confirmation{}, twofold.Errorf(twofold.CodeConflict, "factor is already confirmed")
	}
	if f.Type == twofold.FactorPush {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "a push device is confirmed by enrolling it with its enrolment code (twofold device enrol)")
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Confirmation{}, err
	}
	if err := s.checkSetupSession(ctx, a, f, setupFinish); err != nil {
		return Confirmation{}, err
	}
	if f.Type == twofold.FactorWebAuthn {
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "a security key is confirmed with the credential its browser made, not a code")
	}
	if blankCode(code) {
		// No attempt at all (checkProof's rule): it costs no slot.
		return Confirmation{}, twofold.Errorf(twofold.CodeInvalid, "code is required").On("code")
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Confirmation{}, err
	}
	confirmKey := confirmKey(a.Account.ID, f.ID)
	if f.Type.SendsCodes() {
		if _, err := s.takeSlot(ctx, confirmKey, recoveryDelay); err != nil {
			return Confirmation{}, err
		}
		cause, err := s.verifySentCode(ctx, a.Account.ID, SecondFactor{Method: twofold.Method(f.Type), FactorID: f.ID, Code: code}, confirmScope())
		if err != nil {
			return Confirmation{}, err
		}
		if cause != "" {
			s.audit(ctx, a.Account.ID, "factor.confirm_failed", m, f.ID+": "+cause)
			return Confirmation{}, errBadSecondFactor()
		}
		s.resetSlots(ctx, confirmKey)
		f.Secret, f.Hint = nil, hintOf(f.Type, string(f.Secret))
		return s.activateElevating(ctx, a, f, -1, 0, s.Now(), m)
	}
	p, err := factorParams(f)
	if err != nil {
		return Confirmation{}, err
	}
	if _, err := s.takeSlot(ctx, confirmKey, recoveryDelay); err != nil {
		return Confirmation{}, err
	}
	now := s.Now()
	var step uint64
	var ok bool
	var drift int64
	if f.Type == twofold.FactorHOTP {
		step, ok = otp.VerifyHOTP(f.Secret, normaliseCode(code), uint64(f.LastStep+1), HOTPLookAhead, p.Algorithm, p.Digits)
	} else {
		step, ok = otp.VerifyTOTP(f.Secret, normaliseCode(code), now, p, 0, s.cfg.TOTPWindow)
		drift = int64(step) - int64(otp.Step(now, p.Period))
	}
	if !ok {
		s.audit(ctx, a.Account.ID, "factor.confirm_failed", m, "wrong code for "+f.ID)
		return Confirmation{}, errBadSecondFactor()
	}
	s.resetSlots(ctx, confirmKey)
	return s.activateElevating(ctx, a, f, int64(step), drift, now, m)
}

// activateElevating is activateWith (by ActivateFactor) for a factor whose
// code the caller has just typed (ConfirmFactor): that is a fresh second-factor check, so the
// caller's session is elevated for the elevation period in the same
// transaction, as POST /v1/me/elevate would (SPEC §3.1), and the
// confirmation says until when. Confirming the first authenticator turns
// two-factor on; without this the next sensitive change would ask at once
// for a code from the factor just proven. The session keeps its token:
// before its first factor the account asked no elevation of it, so a copy
// of that token gains nothing it did not have a moment before, and a
// later factor is confirmed only by an elevated session, whose token was
// renewed as it was elevated (ElevateRenewing).
func (s *Service) activateElevating(ctx context.Context, a Auth, f twofold.Factor, step, drift int64, now time.Time, m Meta) (Confirmation, error) {
	return s.activateElevatingWith(ctx, a, f, step, drift, now, m, s.store.ActivateFactor)
}

// activateElevatingWith is activateElevating with the store's write given
// (activateWith): a security key's registration, which its holder made by
// touching it, elevates the session as a code does.
func (s *Service) activateElevatingWith(ctx context.Context, a Auth, f twofold.Factor, step, drift int64, now time.Time, m Meta,
	write func(context.Context, twofold.Activation) (ok, first bool, err error)) (Confirmation, error) {
	until := now.Add(s.cfg.ElevationTTL)
	c, err := s.activateWith(ctx, a, f, step, drift, now, m, func(ctx context.Context, act twofold.Activation) (bool, bool, error) {
		ok, first, err := write(ctx, act)
		if err != nil || !ok {
			return ok, first, err
		}
		if !first {
			// The caller's check (requireElevationIfEnabled) read the
			// account before this transaction; a factor activated since
			// (the owner's first, in another session) makes this a later
			// one, which only an elevated session adds. The write holds
			// the account's row: asked again here, the answer stands.
			if err := s.requireElevation(a); err != nil {
				return false, false, err
			}
		}
		if a.Session.ID == "" {
			return ok, first, nil
		}
		return ok, first, s.store.ElevateSession(ctx, a.Session.ID, until)
	})
	if err == nil && a.Session.ID != "" {
		c.ElevatedUntil = until
		if a.Session.ElevatedUntil.After(until) {
			c.ElevatedUntil = a.Session.ElevatedUntil
		}
	}
	return c, err
}

// activateWith makes the pending factor f active with step as its last
// accepted one, by write (ActivateFactor, or a write that stores more with
// it); on the account's first factor it issues recovery codes and a paper
// key, and two-factor becomes required.
func (s *Service) activateWith(ctx context.Context, a Auth, f twofold.Factor, step, drift int64, now time.Time, m Meta,
	write func(context.Context, twofold.Activation) (ok, first bool, err error)) (Confirmation, error) {
	codes, hashes, err := s.newRecoveryCodes()
	if err != nil {
		return Confirmation{}, err
	}
	paper, err := s.newPaperKey()
	if err != nil {
		return Confirmation{}, err
	}
	act := twofold.Activation{
		AccountID: a.Account.ID, FactorID: f.ID, Step: step, Drift: drift, Now: now,
		RecoveryHashes: hashes, PaperKeyHash: s.hasher.Sum("paper", normaliseKey(paper)),
	}
	var ok, first bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		ok, first = false, false
		if err := s.holdFactorRoom(ctx, act.AccountID, f.Type, f.ID); err != nil {
			return err
		}
		var err error
		ok, first, err = write(ctx, act)
		return err
	})
	if err != nil {
		return Confirmation{}, err
	}
	if !ok {
		return Confirmation{}, twofold.Errorf(twofold.CodeConflict, "factor is already confirmed")
	}
	s.audit(ctx, a.Account.ID, "factor.confirmed", m, kindOf(f)+" "+f.ID)
	if f.Passkey {
		s.notify(ctx, a.Account.ID, "a new passkey was added", fmt.Sprintf("The passkey %q was added: it can now sign in to your account on its own, without your password, and pass the second step of a login.", f.Label), origin(m))
	} else {
		s.notify(ctx, a.Account.ID, "a new authenticator was added", fmt.Sprintf("The authenticator %q was confirmed and can now be used to log in to your account.", f.Label), origin(m))
	}
	f.Status, f.LastStep, f.ConfirmedAt = twofold.FactorActive, step, &now
	c := Confirmation{Factor: f}
	if first {
		c.RecoveryCodes, c.PaperKey = codes, paper
	}
	return c, nil
}

// errWeakSecret refuses a secret given by value that otp.CheckSecret
// refuses, naming what has it (never the secret).
func errWeakSecret(what string) error {
	return twofold.Errorf(twofold.CodeInvalid, "%s must be %d to %d bytes, of which at least %d are left without the zero bytes at its end (HMAC adds those to a short key anyway, so they add no strength); an all-zero secret is none", what, otp.MinSecretSize, otp.MaxSecretSize, otp.MinSecretSize-4)
}

// AddTOTPWithSecret adds an active TOTP factor (SHA1, 6 digits, 30 s) with
// a secret the caller chose, for clients that register a secret rather than
// confirm one (Keystone's TOTP credentials): the caller holds the secret, as
// it sent it. The rules of EnrolFactor and ConfirmFactor apply; the secret
// must have at least 128 bits, and 96 without the zero bytes at its end
// (otp.CheckSecret).
//
// A code is never accepted twice (SPEC §1 story 8), yet nothing says where
// a secret given by value was before: it may be a removed factor's, whose
// codes of the last moments were spent. So the secret of another TOTP or
// HOTP factor of the account is a conflict (with two factors of one secret,
// a code spent on one would pass on the other), and the new factor starts
// with its last accepted step the current one plus the accepted window:
// no code that could have passed until now passes on it, and it accepts
// codes from the next time step on (up to a minute with the default window
// of one 30 s step).
func (s *Service) AddTOTPWithSecret(ctx context.Context, a Auth, label string, secret []byte, m Meta) (Confirmation, error) {
	if err := otp.CheckSecret(secret); err != nil {
		return Confirmation{}, errWeakSecret("a TOTP secret")
	}
	if err := person(a); err != nil {
		return Confirmation{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return Confirmation{}, err
	}
	refused := func(err error) (Confirmation, error) {
		s.audit(ctx, a.Account.ID, "factor.create_refused", m, "totp secret given by value: already the secret of another factor")
		return Confirmation{}, err
	}
	if err := s.checkNewSecret(ctx, a.Account.ID, secret, ""); err != nil {
		return refused(err)
	}
	e, err := s.enrol(ctx, a, NewFactor{Type: twofold.FactorTOTP, Label: label}, secret, m)
	if err != nil {
		return Confirmation{}, err
	}
	now := s.Now()
	p, err := factorParams(e.Factor)
	if err != nil {
		return Confirmation{}, err
	}
	last := int64(otp.Step(now, p.Period)) + int64(s.cfg.TOTPWindow)
	c, err := s.activateWith(ctx, a, e.Factor, last, 0, now, m, func(ctx context.Context, act twofold.Activation) (ok, first bool, err error) {
		return s.activateUniqueSecret(ctx, act, secret)
	})
	if twofold.ErrorCode(err) == twofold.CodeConflict {
		// Another request registered the secret meanwhile: this one's
		// setup goes, as it never was.
		if _, derr := s.store.DeleteFactor(ctx, a.Account.ID, e.Factor.ID, twofold.FactorPending); derr != nil {
			s.log.Error("pending factor not removed", "factor", e.Factor.ID, "err", derr)
		}
		return refused(err)
	}
	return c, err
}

// activateUniqueSecret activates the pending factor of act, whose secret is
// secret, unless another factor of the account has that secret by the time
// it holds the account: ActivateFactor holds the account's row until the
// transaction ends, so of concurrent requests that add one secret each sees
// the others' factors, and none adds a second factor of a secret.
func (s *Service) activateUniqueSecret(ctx context.Context, act twofold.Activation, secret []byte) (ok, first bool, err error) {
	err = s.inTx(ctx, func(ctx context.Context) error {
		ok, first = false, false
		var err error
		if ok, first, err = s.store.ActivateFactor(ctx, act); err != nil || !ok {
			return err
		}
		return s.checkNewSecret(ctx, act.AccountID, secret, act.FactorID)
	})
	if err != nil {
		return false, false, err
	}
	return ok, first, nil
}

// checkNewSecret refuses secret, about to become a factor of the account,
// when it is already the secret of one of the account's TOTP or HOTP
// factors, pending or active: each factor keeps its own last accepted step
// or counter, so a code spent on one would pass again on the other (SPEC §1
// story 8), also when the two differ only in what HMAC makes one key of.
// Secrets are compared in constant time. The factor except (the
// new one, once stored) is not compared, nor is a factor whose stored
// secret does not decrypt (keyring.ErrUndecryptable): no code of it passes
// again, so a new factor of its secret cannot make a code pass twice. A
// factor whose key is not available at the moment may be readable again
// later, so that still fails the check (503).
func (s *Service) checkNewSecret(ctx context.Context, accountID string, secret []byte, except string) error {
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return err
	}
	for _, f := range fs {
		if f.ID == except || f.Type != twofold.FactorTOTP && f.Type != twofold.FactorHOTP {
			continue
		}
		if err := s.open(ctx, &f); err != nil {
			if !errors.Is(err, keyring.ErrUndecryptable) {
				return err
			}
			s.log.Warn("a factor's secret does not decrypt; it is not compared with the new factor's", "factor", f.ID, "err", err)
			continue
		}
		// Under the factor's hash: HMAC pads a short key with zero bytes and
		// hashes a long one, so S and S followed by zero bytes make the
		// same codes (an unknown name is SHA1's zero value: still a
		// conservative comparison).
		alg, _ := otp.ParseAlgorithm(f.Algorithm)
		same := otp.SameKey(f.Secret, secret, alg)
		clear(f.Secret)
		if same {
			return twofold.Errorf(twofold.CodeConflict, "this secret is already the secret of your authenticator %q: one secret can make only one authenticator, else its codes would work twice", f.Label)
		}
	}
	return nil
}

// Factors returns the account's factors, without secrets.
func (s *Service) Factors(ctx context.Context, accountID string) ([]twofold.Factor, error) {
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return nil, err
	}
	return s.withHints(ctx, fs)
}

// RenameFactor changes a factor's label.
func (s *Service) RenameFactor(ctx context.Context, a Auth, factorID, label string, m Meta) (changed bool, err error) {
	if err := person(a); err != nil {
		return false, err
	}
	label, err = validateLabel(label)
	if err != nil {
		return false, err
	}
	fs, err := s.store.Factors(ctx, a.Account.ID)
	if err != nil {
		return false, err
	}
	for _, f := range fs {
		// Another session's setup is not the caller's to name, as it is not
		// to finish (checkSetupSession).
		if f.ID == factorID {
			if err := s.checkSetupSession(ctx, a, f, setupFinish); err != nil {
				return false, err
			}
		}
	}
	if err := checkNewLabel(fs, label, factorID); err != nil {
		return false, err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	err = s.inTx(ctx, func(ctx context.Context) error {
		var err error
		if changed, err = s.store.RenameFactor(ctx, a.Account.ID, factorID, label); err != nil || !changed {
			return err
		}
		s.audit(ctx, a.Account.ID, "factor.renamed", m, factorID)
		return nil
	})
	return changed && err == nil, err
}

// DeleteFactor removes a factor. Removing an active factor needs an elevated
// session (SPEC §1 story 5); a pending one weakens nothing and does not.
func (s *Service) DeleteFactor(ctx context.Context, a Auth, factorID string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	f, err := s.store.Factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return err
	}
	owner, err := s.setupAccess(ctx, a, f, setupCancel)
	if err != nil {
		return err
	}
	if f.Status == twofold.FactorActive {
		// The team's rule first: a removal it refuses is not worth an
		// elevation, as for turning two-factor off.
		if err := s.keepTeamFactor(ctx, a.Account.ID, f.ID); err != nil {
			return err
		}
		if err := s.requireElevation(a); err != nil {
			return err
		}
	}
	// Deleted only in the status checked: a pending factor confirmed in
	// between is not removed without elevation. In one transaction, which
	// checks first that the session still stands (WithCaller).
	return s.inTx(ctx, func(ctx context.Context) error {
		lastGone, err := s.store.DeleteFactor(ctx, a.Account.ID, factorID, f.Status)
		if err != nil {
			return err
		}
		detail := factorDetail(f)
		if f.Status == twofold.FactorPending && owner == SetupOther {
			detail += "; setup started in another session"
		}
		if lastGone && f.Status == twofold.FactorActive {
			detail += "; last factor, two-factor is off"
		}
		s.audit(ctx, a.Account.ID, "factor.removed", m, detail)
		if f.Status == twofold.FactorActive {
			msg, end := fmt.Sprintf("The authenticator %q was removed from your account.", f.Label), footerSignIn
			if lastGone {
				msg += " It was the last one: two-factor authentication is now off, and your recovery codes and paper key no longer work."
				end = footerNoRecovery
			}
			s.notifyEnd(ctx, a.Account.ID, "an authenticator was removed", end, msg, origin(m))
		}
		return nil
	})
}

// ResyncFactor resynchronises a factor from two consecutive codes: a TOTP
// factor whose clock drifted beyond the normal window (SPEC §1 story 7, RFC
// 6238 §6), or an HOTP token pressed more often than the look-ahead window
// allows (RFC 4226 §7.4).
func (s *Service) ResyncFactor(ctx context.Context, a Auth, factorID, code1, code2 string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	f, err := s.factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return err
	}
	if f.Status != twofold.FactorActive || (f.Type != twofold.FactorTOTP && f.Type != twofold.FactorHOTP) {
		return twofold.Errorf(twofold.CodeInvalid, "only an active TOTP or HOTP factor can be resynchronised")
	}
	// No attempt at all: it costs no slot.
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "code and next_code are required: two consecutive codes of the authenticator"),
		map[string]bool{"code": blankCode(code1), "next_code": blankCode(code2)}); err != nil {
		return err
	}
	p, err := factorParams(f)
	if err != nil {
		return err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return err
	}
	failures, err := s.takeSlot(ctx, accountKey(a.Account.ID), codeDelay)
	if err != nil {
		return err
	}
	now := s.Now()
	c1, c2 := normaliseCode(code1), normaliseCode(code2)
	var step uint64
	var drift int64
	var ok bool
	if f.Type == twofold.FactorHOTP {
		next := uint64(f.LastStep + 1)
		step, ok = consecutive(f.Secret, c1, c2, next, next+HOTPResyncWindow, p)
	} else {
		// The pair's second code, whose step is kept, lies within
		// ResyncWindow steps either side of now, so that the drift stored
		// is within ±ResyncWindow, as a login's (clampDrift) is.
		cur, w := otp.Step(now, p.Period), int64(s.cfg.ResyncWindow)
		lo := max(int64(cur)-w-1, 0)
		hi := int64(cur) + w - 1
		if hi >= lo {
			step, ok = consecutive(f.Secret, c1, c2, uint64(lo), uint64(hi), p)
		}
		drift = int64(step) - int64(cur)
	}
	if !ok {
		s.audit(ctx, a.Account.ID, "factor.resync_failed", m, f.ID+" ("+failuresText(failures)+")")
		s.warnOwner(ctx, a.Account.ID, "resync", failures, codeDelay)
		return errBadSecondFactor()
	}
	// The step accepted, the throttle cleared and the event in one
	// transaction, which checks first that the session still stands
	// (WithCaller). Codes already used are a refusal, committed with its
	// event.
	var answer error
	err = s.inTx(ctx, func(ctx context.Context) error {
		answer = nil
		accepted, err := s.store.AcceptStep(ctx, f.ID, int64(step), drift, now)
		if err != nil {
			return err
		}
		if !accepted {
			s.audit(ctx, a.Account.ID, "factor.resync_failed", m, f.ID+": codes already used")
			answer = errBadSecondFactor()
			return nil
		}
		s.resetSlots(ctx, accountKey(a.Account.ID))
		if f.Type == twofold.FactorHOTP {
			s.audit(ctx, a.Account.ID, "factor.resynchronised", m, fmt.Sprintf("%s counter %d", f.ID, step))
		} else {
			s.audit(ctx, a.Account.ID, "factor.resynchronised", m, fmt.Sprintf("%s drift %d steps", f.ID, drift))
		}
		return nil
	})
	if err != nil {
		return err
	}
	return answer
}

// consecutive finds the counter (TOTP: time step) in [lo, hi] at which
// code1 is the code and code2 the code of the next one, and returns that
// next one. The first code may match several counters of a wide window, so
// each match is tried in turn.
func consecutive(secret []byte, code1, code2 string, lo, hi uint64, p otp.Params) (uint64, bool) {
	for lo <= hi {
		c, ok := otp.VerifyRange(secret, code1, lo, hi, p.Algorithm, p.Digits)
		if !ok {
			return 0, false
		}
		if _, ok := otp.VerifyRange(secret, code2, c+1, c+1, p.Algorithm, p.Digits); ok {
			return c + 1, true
		}
		lo = c + 1
	}
	return 0, false
}

// blankCode reports whether c holds nothing normaliseCode keeps (spaces,
// dashes): no attempt at all, refused as invalid before it spends a check
// or a throttle slot. A code too long to be one is not blank: it is a wrong
// code.
func blankCode(c string) bool {
	c = strings.TrimSpace(c)
	return c == "" || len(c) <= maxCodeLen && normaliseCode(c) == ""
}

// maxCodeLen is the longest input normaliseCode reads as a code.
const maxCodeLen = 64

// normaliseCode drops spaces and dashes people type inside codes, and reads
// digits typed in another width or script as ASCII ones (foldTyped). White
// space of every kind goes: a code read from a file or a terminal ends
// with a line break, or holds a tab.
func normaliseCode(c string) string {
	if len(c) > maxCodeLen {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r == '-' || unicode.IsSpace(r) || r >= 0x80 && (unicode.Is(unicode.Dash, r) || invisibleSeparator(r)) {
			return -1 // a code pasted with a no-break space or an en dash is the code
		}
		return r
	}, foldTyped(c))
}

// newFactorLabel checks a new factor's label against the factors of a's
// account (distinct names) and that the account has fewer than
// maxPendingFactors setups unfinished, stale ones left out
// (PendingSetupTTL); it returns the trimmed label.
func (s *Service) newFactorLabel(ctx context.Context, a Auth, label string) (string, error) {
	label, err := validateLabel(label)
	if err != nil {
		return "", err
	}
	fs, err := s.accountLiveFactors(ctx, a)
	if err != nil {
		return "", err
	}
	if err := checkNewLabel(fs, label, ""); err != nil {
		return "", err
	}
	return label, checkPending(fs)
}

// MaxFactors bounds the active factors of one account, of every type
// together, and MaxPushDevices its active push devices: a person has a few
// authenticators, and each active factor costs the server (a push device
// may hold a long poll open on every instance, PushRequests). A factor
// beyond them is refused as a conflict, at its setup and again when it
// would turn active (holdFactorRoom).
const (
	MaxFactors     = 20
	MaxPushDevices = 10
)

// checkFactorRoom refuses one more active factor of type t while the
// account's active factors among fs, the factor except left out, number
// MaxFactors, or its push devices MaxPushDevices.
func checkFactorRoom(fs []twofold.Factor, t twofold.FactorType, except string) error {
	active, ofType := 0, 0
	for _, f := range fs {
		if f.Status != twofold.FactorActive || f.ID == except {
			continue
		}
		active++
		if f.Type == t {
			ofType++
		}
	}
	if t == twofold.FactorPush && ofType >= MaxPushDevices {
		return twofold.Errorf(twofold.CodeConflict, "an account has at most %d push devices: remove one first", MaxPushDevices)
	}
	if active >= MaxFactors {
		return twofold.Errorf(twofold.CodeConflict, "an account has at most %d authenticators: remove one first", MaxFactors)
	}
	return nil
}

// holdFactorRoom holds the account's row until the transaction ctx
// carries ends, then refuses one more active factor of type t as
// checkFactorRoom does: of factors turned active at once, on any instance,
// each counts the ones committed before it, and none passes MaxFactors or
// MaxPushDevices on PostgreSQL's READ COMMITTED.
func (s *Service) holdFactorRoom(ctx context.Context, accountID string, t twofold.FactorType, except string) error {
	if err := s.store.LockAccount(ctx, accountID); err != nil {
		return err
	}
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return err
	}
	return checkFactorRoom(fs, t, except)
}

// checkPending refuses a new factor while maxPendingFactors setups are
// unfinished.
func checkPending(fs []twofold.Factor) error {
	pending := 0
	for _, f := range fs {
		if f.Status == twofold.FactorPending {
			pending++
		}
	}
	if pending >= maxPendingFactors {
		return twofold.Errorf(twofold.CodeConflict, "%d authenticator setups are not finished: finish or cancel one first", pending)
	}
	return nil
}
