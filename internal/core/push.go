package core

import (
	"context"
	"crypto/ed25519"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/factor/push"
)

// Push approval (SPEC §2 "push approval").
//
// A push factor is a device holding an Ed25519 key. Adding one creates a
// pending factor and a one-time enrolment token (kept as a keyed hash),
// handed to the device as a twofold-push://enrol URI or its QR code; the
// device registers its public key with the token, signing the enrolment
// challenge with the key, and only then is the factor active.
//
// The device activates its factor without a session, later, so the rules a
// session would meet then are bound into the token's hash (pushEnrolHash):
// the account's session epoch, so that signing out everywhere (a password
// change does) voids the enrolments its sessions made, and whether the
// session that made it was elevated. One made without a second-factor
// check (on an account with no factor, where none can be asked) never
// activates once the account has an active factor: else whoever held the
// password for a moment could keep the URI, wait for the owner to turn
// two-factor on, and then add a device of their own (SPEC §1 story 5).
//
// Every later request of the device is signed (internal/factor/push): its
// timestamp must be within PushClockSkew of the server's clock and its nonce
// new, which one INSERT checks, so a request cannot be sent twice.
//
// A push challenge lives in the database (any instance can create, show,
// answer or use it): it says what for (a sign-in or confirming it's you),
// from where and when, and holds a keyed hash of a two-digit number that
// the sign-in screen shows and the person types on the device. The answer
// is one conditional UPDATE from pending; a wrong number is a denial. The
// second step uses an approval by one conditional UPDATE in the same
// transaction that completes the login.
//
// An approval belongs to whoever asked for the push: sending one makes a
// random secret, given only to the requester (PushSent.Secret) and kept as
// a keyed hash, and the second step needs it back (SecondFactor.PushSecret).
// The login id travels in URLs and a session's token may have been copied;
// neither alone takes the approval the owner gave to their own screen, nor
// replaces the owner's push while it is live (sendPush). A denial ends push
// for its login (or session's elevation); denials on PushDenialLimit of them
// within PushDenialWindow pause push requests to the account for PushLockout
// and tell the owner by email; the account's other factors are untouched.

// PushTTL is how long a push request waits for its answer, and how long an
// approval then waits to be used.
const PushTTL = 2 * time.Minute

// PushEnrolTTL is how long an enrolment token works.
const PushEnrolTTL = 10 * time.Minute

// PushClockSkew is how far a device's request time may be from the server's.
const PushClockSkew = time.Minute

// Push bombing defence: denials on PushDenialLimit logins or elevations
// within PushDenialWindow pause push requests to the account for
// PushLockout.
const (
	PushDenialLimit  = 3
	PushDenialWindow = 15 * time.Minute
	PushLockout      = 30 * time.Minute
)

// PushSendLimit bounds the push requests of one account: 5 at once, then
// one a minute.
var PushSendLimit = SendLimit{Burst: 5, Every: time.Minute}

// PushStore is the storage of push devices and challenges; *store.Store
// implements it.
type PushStore interface {
	CreatePushDevice(ctx context.Context, d twofold.PushDevice) error
	PushDevice(ctx context.Context, factorID string) (twofold.PushDevice, error)
	// EnrolPushDevice sets the key if the token's hash matches, unexpired,
	// and no key is set yet: one caller of any number does.
	EnrolPushDevice(ctx context.Context, factorID string, hash, publicKey []byte, now time.Time) (bool, error)
	RenewPushEnrolment(ctx context.Context, factorID string, hash []byte, challenge string, expires time.Time) (bool, error)
	// TakeDeviceRequest takes a token from b and, when it had one, records
	// the device's nonce until expires, in one commit: took is false when
	// b was empty (nothing written), fresh false when the device used
	// nonce already.
	TakeDeviceRequest(ctx context.Context, b twofold.Bucket, factorID, nonce string, expires time.Time) (took, fresh bool, err error)
	// PushNonceUsed reports whether the device used nonce already.
	PushNonceUsed(ctx context.Context, factorID, nonce string) (bool, error)
	// CreatePushChallenge stores c in place of the scope's live challenges
	// when all were sent to the requester whose secret hashes to resender;
	// while another requester's is live it stores nothing and reports when
	// the last of those expires.
	CreatePushChallenge(ctx context.Context, c twofold.PushChallenge, resender []byte) (ok bool, busyUntil time.Time, err error)
	PendingPushChallenges(ctx context.Context, factorID string, now time.Time) ([]twofold.PushChallenge, error)
	// PushFactorsWaiting returns the devices (factor ids) of every account
	// that have a pending, unexpired challenge at now.
	PushFactorsWaiting(ctx context.Context, now time.Time) ([]string, error)
	PushChallenge(ctx context.Context, id string) (twofold.PushChallenge, error)
	// LatestPushChallenge returns the newest challenge for scope whose
	// requester's secret hashes to requesterHash.
	LatestPushChallenge(ctx context.Context, accountID, scope string, requesterHash []byte) (twofold.PushChallenge, bool, error)
	// AnswerPushChallenge moves a pending, unexpired challenge of the device
	// to status: one caller of any number does.
	AnswerPushChallenge(ctx context.Context, id, factorID string, status twofold.PushStatus, cause string, now, usableUntil time.Time) (bool, error)
	// EndPushChallenge ends a challenge still pending or approved, whose
	// login or session has ended.
	EndPushChallenge(ctx context.Context, id string) error
	// UsePushApproval uses an approved challenge for scope whose requester's
	// secret hashes to requesterHash: one caller of any number does.
	UsePushApproval(ctx context.Context, accountID, scope, factorID string, requesterHash []byte, now time.Time) (bool, error)
	// PushScopeDenied reports whether a challenge of the account for scope
	// was denied.
	PushScopeDenied(ctx context.Context, accountID, scope string) (bool, error)
	// PushDenials counts the account's scopes with a denial answered after
	// since that was not forgiven.
	PushDenials(ctx context.Context, accountID string, since time.Time) (int, error)
	// PushUnapproved counts the account's scopes with a push request
	// created after since of which none was approved and none still waits
	// at now (denied, or unanswered until it expired or its login ended).
	PushUnapproved(ctx context.Context, accountID string, since, now time.Time) (int, error)
	// PushExpiredUnanswered returns the challenges still pending that
	// expired after since and at or before now, latest first, at most limit.
	PushExpiredUnanswered(ctx context.Context, since, now time.Time, limit int) ([]twofold.PushChallenge, error)
	// ForgivePushDenials stops counting the account's denials answered
	// after since, returning how many it forgave.
	ForgivePushDenials(ctx context.Context, accountID string, since time.Time) (int, error)
	DeleteExpiredPush(ctx context.Context, now, keepUntil time.Time) error
}

// pushWaiters wakes this instance's long polls of a device when a challenge
// for it is made here; polls re-read the database anyway, for challenges
// made on other instances. A device has one long poll at a time on an
// instance: a new one ends the one before, so that a device (or whoever
// holds its key) cannot hold many connections and database reads open.
type pushWaiters struct {
	mu        sync.Mutex
	m         map[string]map[chan struct{}]struct{}
	n         int            // polls waiting, of every device
	ofAccount map[string]int // polls waiting, by account
	ending    bool           // the server is shutting down: polls answer at once
}

// MaxPushPolls is how many device long polls one instance holds at once;
// beyond it a poll is refused as unavailable, to be tried again.
const MaxPushPolls = 10000

// MaxAccountPushPolls is how many long polls the devices of one account
// hold at once on one instance (each device one, pushWaiters): beyond it a
// poll is refused as throttled, so that one account, however many devices
// it had, cannot take more than its share of MaxPushPolls from the others.
const MaxAccountPushPolls = 5

// accountPollsWait is the Retry-After of a poll refused by
// MaxAccountPushPolls.
const accountPollsWait = 30 * time.Second

// EndPushWaits answers every device's long poll at once, and every later
// one without waiting: for a graceful shutdown, which would otherwise wait
// for them.
func (s *Service) EndPushWaits() {
	w := &s.pushWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	w.ending = true
	for _, chs := range w.m {
		for ch := range chs {
			select {
			case ch <- struct{}{}:
			default:
			}
		}
	}
}

// PushPolls reports how many devices' long polls wait on this instance.
func (s *Service) PushPolls() int {
	w := &s.pushWaiters
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

func (w *pushWaiters) isEnding() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ending
}

// subscribe registers a long poll of the device factorID of the account
// accountID, ending the device's polls before it: their channels are
// closed, which their loops read as the end. It refuses when the instance
// holds MaxPushPolls already, or the account's other devices
// MaxAccountPushPolls.
func (w *pushWaiters) subscribe(factorID, accountID string) (chan struct{}, func(), error) {
	ch := make(chan struct{}, 1)
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.m == nil {
		w.m = map[string]map[chan struct{}]struct{}{}
		w.ofAccount = map[string]int{}
	}
	for old := range w.m[factorID] {
		close(old)
		delete(w.m[factorID], old)
		w.n--
		w.ofAccount[accountID]--
	}
	delete(w.m, factorID)
	if w.ofAccount[accountID] <= 0 {
		delete(w.ofAccount, accountID)
	}
	if w.ofAccount[accountID] >= MaxAccountPushPolls {
		return nil, nil, throttled(accountPollsWait, fmt.Sprintf("%d devices of this account are waiting on this server already: try again later", MaxAccountPushPolls))
	}
	if w.n >= MaxPushPolls {
		return nil, nil, twofold.Errorf(twofold.CodeUnavailable, "too many devices are waiting on this server: try again shortly")
	}
	w.m[factorID] = map[chan struct{}]struct{}{ch: {}}
	w.n++
	w.ofAccount[accountID]++
	return ch, func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		if _, ok := w.m[factorID][ch]; ok {
			delete(w.m[factorID], ch)
			w.n--
			if w.ofAccount[accountID]--; w.ofAccount[accountID] <= 0 {
				delete(w.ofAccount, accountID)
			}
		}
		if len(w.m[factorID]) == 0 {
			delete(w.m, factorID)
		}
	}, nil
}

func (w *pushWaiters) wake(factorID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for ch := range w.m[factorID] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// PushEnrolment is a pending push factor with what its device needs to
// enrol: the token (shown once) and the enrolment URI that carries it.
type PushEnrolment struct {
	Factor    twofold.Factor
	Token     string
	URI       string
	ExpiresAt time.Time
}

// pushEnrolHash is the keyed hash of an enrolment token, which is kept: it
// binds the token to its device, to the account's session epoch and to
// whether the session that made it was elevated. A token of an earlier
// epoch matches no hash EnrolPushDevice makes, and which of its two hashes
// matches tells whether the session was elevated.
func (s *Service) pushEnrolHash(factorID string, epoch int64, elevated bool, token string) []byte {
	check := "password"
	if elevated {
		check = "elevated"
	}
	return s.hasher.Sum("push-enrol", fmt.Sprintf("%s:%d:%s:%s", factorID, epoch, check, token))
}

// pushEnrolment makes a new enrolment of push factor f for the caller a.
func (s *Service) pushEnrolment(a Auth, f twofold.Factor, server string, expires time.Time) (PushEnrolment, []byte, string, error) {
	token, err := s.randomString(20)
	if err != nil {
		return PushEnrolment{}, nil, "", err
	}
	challenge, err := s.randomString(16)
	if err != nil {
		return PushEnrolment{}, nil, "", err
	}
	e := push.Enrolment{Server: strings.TrimRight(server, "/"), DeviceID: f.ID, Token: token, Challenge: challenge,
		Issuer: s.cfg.Issuer, Account: a.Account.Username, Label: f.Label}
	hash := s.pushEnrolHash(f.ID, a.Account.SessionEpoch, a.Elevated(s.Now()), token)
	return PushEnrolment{Factor: f, Token: token, URI: e.URI(), ExpiresAt: expires}, hash, challenge, nil
}

// EnrolPush adds a pending push factor labelled label and returns its
// enrolment, whose URI names server as the device's server. The rules of
// EnrolFactor apply: on an account with two-factor on, the session must be
// elevated. The enrolment works only while the account's sessions are not
// ended everywhere, and, when the session was not elevated, only while the
// account has no other active factor (EnrolPushDevice).
func (s *Service) EnrolPush(ctx context.Context, a Auth, label, server string, m Meta) (PushEnrolment, error) {
	if err := person(a); err != nil {
		return PushEnrolment{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return PushEnrolment{}, err
	}
	label, err := s.newFactorLabel(ctx, a, label)
	if err != nil {
		return PushEnrolment{}, err
	}
	id, err := s.newID()
	if err != nil {
		return PushEnrolment{}, err
	}
	now := s.Now()
	f := twofold.Factor{ID: id, AccountID: a.Account.ID, Type: twofold.FactorPush, Label: label, Status: twofold.FactorPending,
		LastStep: -1, CreatedAt: now, PendingSessionID: a.Session.ID}
	e, hash, challenge, err := s.pushEnrolment(a, f, server, now.Add(PushEnrolTTL))
	if err != nil {
		return PushEnrolment{}, err
	}
	d := twofold.PushDevice{FactorID: id, AccountID: a.Account.ID, EnrolHash: hash, EnrolChallenge: challenge, EnrolExpiresAt: e.ExpiresAt}
	// The factor's sealed secret is empty: a device's key is public, and
	// lives in push_devices.
	err = sealAndStore(func() (err error) {
		if f.SecretKeyID, f.SealedSecret, err = s.keys.SealContext(ctx, []byte{}, factorAAD(id)); err != nil {
			return fmt.Errorf("seal push factor: %w", err)
		}
		return nil
	}, func() error {
		return s.createPending(ctx, a, m, f, func(ctx context.Context) error { return s.store.CreatePushDevice(ctx, d) }, nil)
	})
	if err != nil {
		return PushEnrolment{}, err
	}
	s.audit(ctx, a.Account.ID, "factor.created", m, "push "+id)
	e.Factor = f
	return e, nil
}

// RenewPushEnrolment makes a new enrolment token for a push factor whose
// device has not enrolled yet; the old token stops working. The new one is
// bound as EnrolPush binds one, to the renewing session, which must be the
// one that added the device (checkSetupSession).
func (s *Service) RenewPushEnrolment(ctx context.Context, a Auth, factorID, server string, m Meta) (PushEnrolment, error) {
	if err := person(a); err != nil {
		return PushEnrolment{}, err
	}
	f, err := s.store.Factor(ctx, a.Account.ID, factorID)
	if err != nil {
		return PushEnrolment{}, err
	}
	if f.Type != twofold.FactorPush || f.Status != twofold.FactorPending {
		return PushEnrolment{}, twofold.Errorf(twofold.CodeNotFound, "no push device waiting to enrol %q", truncate(factorID, 64))
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return PushEnrolment{}, err
	}
	if err := s.checkSetupSession(ctx, a, f, setupFinish); err != nil {
		return PushEnrolment{}, err
	}
	e, hash, challenge, err := s.pushEnrolment(a, f, server, s.Now().Add(PushEnrolTTL))
	if err != nil {
		return PushEnrolment{}, err
	}
	// In one transaction, which checks first that the session still
	// stands (WithCaller).
	err = s.inTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.RenewPushEnrolment(ctx, f.ID, hash, challenge, e.ExpiresAt)
		if err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeConflict, "the device has enrolled already")
		}
		s.audit(ctx, a.Account.ID, "push.enrolment_renewed", m, f.ID)
		return nil
	})
	if err != nil {
		return PushEnrolment{}, err
	}
	return e, nil
}

// errEnrolRefused is the one answer to a refused device enrolment.
func errEnrolRefused() error {
	return twofold.Errorf(twofold.CodeInvalidCode, "the enrolment was refused: the token is wrong, used or expired, the signature does not match, or the account changed since the code was made (signed out everywhere, or two-factor turned on after a code made without a second-factor check); make a new enrolment code")
}

// errPushEnrolVoid rolls back a device enrolment that the account's state
// refuses, once the account's row is held: its cause is the message.
type errPushEnrolVoid string

func (e errPushEnrolVoid) Error() string { return string(e) }

// EnrolPushDevice registers a device's Ed25519 public key for push factor
// deviceID with its enrolment token; sig is the key's signature of
// push.EnrolMessage, proving possession. The factor becomes active; on the
// account's first factor the answer carries the recovery codes and paper key,
// shown on the device once (SPEC §1 story 1).
//
// The device acts without a session, so the rules are those the token was
// bound to when it was made (pushEnrolHash), checked while the account's row
// is held: the account's session epoch must be the same (no password change
// or signing out everywhere since), the session that began the setup must
// still stand (a thief's session signed out leaves its code void), and a
// token made by a session that was not elevated activates only the
// account's first factor.
func (s *Service) EnrolPushDevice(ctx context.Context, deviceID, token string, pub, sig []byte, m Meta) (Confirmation, error) {
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "device_id and token are required"),
		map[string]bool{"device_id": deviceID == "" || len(deviceID) > 64, "token": token == "" || len(token) > 128}); err != nil {
		return Confirmation{}, err
	}
	if err := RefuseOnly(twofold.Errorf(twofold.CodeInvalid, "public_key must be an Ed25519 public key and signature an Ed25519 signature, in base64url"),
		map[string]bool{"public_key": len(pub) != ed25519.PublicKeySize, "signature": len(sig) != ed25519.SignatureSize}); err != nil {
		return Confirmation{}, err
	}
	if err := s.allowSource(ctx, m); err != nil {
		return Confirmation{}, err
	}
	d, err := s.store.PushDevice(ctx, deviceID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		s.audit(ctx, "", "push.enrol_failed", m, "unknown device")
		return Confirmation{}, errEnrolRefused()
	}
	if err != nil {
		return Confirmation{}, err
	}
	key := confirmKey(d.AccountID, d.FactorID)
	if _, err := s.takeSlot(ctx, key, recoveryDelay); err != nil {
		return Confirmation{}, err
	}
	if !ed25519.Verify(pub, push.EnrolMessage(deviceID, d.EnrolChallenge, pub), sig) {
		s.audit(ctx, d.AccountID, "push.enrol_failed", m, d.FactorID+": the signature does not match the key")
		return Confirmation{}, errEnrolRefused()
	}
	a, err := s.store.AccountByID(ctx, d.AccountID)
	if err != nil {
		return Confirmation{}, err
	}
	elevated := true
	hash := s.pushEnrolHash(d.FactorID, a.SessionEpoch, elevated, token)
	if !credhash.Equal(d.EnrolHash, hash) {
		elevated = false
		hash = s.pushEnrolHash(d.FactorID, a.SessionEpoch, elevated, token)
	}
	var c Confirmation
	var refused bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		refused = false
		now := s.Now()
		ok, err := s.store.EnrolPushDevice(ctx, d.FactorID, hash, pub, now)
		if err != nil {
			return err
		}
		if !ok {
			refused = true
			return nil
		}
		f, err := s.store.Factor(ctx, a.ID, d.FactorID)
		if err != nil {
			return err
		}
		c, err = s.activateWith(ctx, Auth{Account: a}, f, -1, 0, now, m, func(ctx context.Context, act twofold.Activation) (bool, bool, error) {
			ok, first, err := s.store.ActivateFactor(ctx, act) // holds the account's row
			if err != nil || !ok {
				return ok, first, err
			}
			if !elevated && !first {
				return false, false, errPushEnrolVoid("made by a session without a second-factor check, and the account has another active factor now")
			}
			held, err := s.store.AccountByID(ctx, a.ID)
			if err != nil {
				return false, false, err
			}
			if held.SessionEpoch != a.SessionEpoch {
				return false, false, errPushEnrolVoid("the account was signed out everywhere meanwhile")
			}
			if f.PendingSessionID != "" {
				// The setup is its session's (checkSetupSession): signed
				// out (a thief's session the owner ended), or expired,
				// nobody can finish it any more, its device included.
				// Held, so that a sign-out at this moment waits.
				sess, _, err := s.store.HoldSession(ctx, a.ID, f.PendingSessionID, now)
				if twofold.ErrorCode(err) == twofold.CodeNotFound || err == nil && sess.Epoch != held.SessionEpoch {
					return false, false, errPushEnrolVoid("the session that began the setup has ended")
				}
				if err != nil {
					return false, false, err
				}
			}
			return ok, first, nil
		})
		if err != nil {
			return err
		}
		s.audit(ctx, a.ID, "push.enrolled", m, d.FactorID)
		return nil
	})
	var void errPushEnrolVoid
	if errors.As(err, &void) {
		s.audit(ctx, d.AccountID, "push.enrol_failed", m, d.FactorID+": "+string(void))
		return Confirmation{}, errEnrolRefused()
	}
	if err != nil {
		return Confirmation{}, err
	}
	if refused {
		s.audit(ctx, d.AccountID, "push.enrol_failed", m, d.FactorID+": wrong, used or expired token, or made before the account was signed out everywhere")
		return Confirmation{}, errEnrolRefused()
	}
	s.resetSlots(ctx, key)
	c.Factor.Secret = nil
	return c, nil
}

// Device is a push device that authenticated a request.
type Device struct {
	FactorID string
	Account  twofold.Account
	Label    string
}

// A device's requests: a burst of devicesBurst, then devicesRate a second.
const (
	devicesBurst = 30
	devicesRate  = 0.5
)

func errDeviceAuth(msg string) error { return twofold.Errorf(twofold.CodeUnauthorized, "%s", msg) }

// AuthenticateDevice checks the signature of a device's request: the
// Authorization header, the method, the path with its query and the body.
// A request more than PushClockSkew from the server's time, or whose nonce
// the device used before, is refused; so is a suspended account's device
// (forbidden, as a sign-in with the account's password is).
func (s *Service) AuthenticateDevice(ctx context.Context, authorization, method, pathQuery string, body []byte, m Meta) (Device, error) {
	sig, err := push.ParseAuthorization(authorization)
	if err != nil {
		return Device{}, errDeviceAuth("sign the request with the device key: " + err.Error())
	}
	now := s.Now()
	if d := now.Sub(sig.Time); d > PushClockSkew || d < -PushClockSkew {
		return Device{}, errDeviceAuth(fmt.Sprintf("the request's time is more than %d seconds from the server's: check the device's clock (GET /v1/time)", int(PushClockSkew.Seconds())))
	}
	if !wellFormedID(sig.DeviceID) {
		return Device{}, errDeviceAuth("unknown device")
	}
	d, err := s.store.PushDevice(ctx, sig.DeviceID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && d.PublicKey == nil) {
		return Device{}, errDeviceAuth("unknown device")
	}
	if err != nil {
		return Device{}, err
	}
	if !sig.Verify(d.PublicKey, method, pathQuery, body) {
		// A flood of forged requests costs its source its request rate,
		// and fills the owner's log with a few events a minute at most.
		if err := s.allowSource(ctx, m); err != nil {
			return Device{}, err
		}
		s.auditDeviceAuthFailed(ctx, d, m, "bad signature", now)
		return Device{}, errDeviceAuth("the signature does not match")
	}
	f, err := s.store.Factor(ctx, d.AccountID, d.FactorID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && f.Status != twofold.FactorActive) {
		return Device{}, errDeviceAuth("unknown device")
	}
	if err != nil {
		return Device{}, err
	}
	// A replay of one request seen on the wire (or in a log) is the
	// sender's doing, not the device's: it costs its source address a token
	// of the sign-in rate and the owner's log a few events a minute at
	// most, as a bad signature does, and never the real device's ration, so
	// the nonce is looked at before the ration is taken. It is taken after,
	// so that a device asking far too often (a leaked key, a broken client)
	// is stopped before it writes.
	used, err := s.store.PushNonceUsed(ctx, d.FactorID, sig.Nonce)
	if err != nil {
		return Device{}, err
	}
	if used {
		return Device{}, s.deviceReplay(ctx, d, m, now)
	}
	// A device asks a few times a minute; one that asks far more (a leaked
	// key, or a broken client) is rationed, on every instance alike. The
	// ration's token and the nonce are written in one commit: a device's
	// every poll writes both.
	ration := twofold.Bucket{Key: "push:device:" + d.FactorID, Burst: devicesBurst, Rate: devicesRate, Now: now}
	took, fresh, err := s.store.TakeDeviceRequest(ctx, ration, d.FactorID, sig.Nonce, now.Add(2*PushClockSkew))
	if err != nil {
		return Device{}, err
	}
	if !took {
		return Device{}, throttled(time.Duration(float64(time.Second)/devicesRate), "this device is asking too often: wait a little")
	}
	if !fresh { // sent twice at once: one of them passes
		return Device{}, s.deviceReplay(ctx, d, m, now)
	}
	a, err := s.store.AccountByID(ctx, d.AccountID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound { // deleted meanwhile
		return Device{}, errDeviceAuth("unknown device")
	}
	if err != nil {
		return Device{}, err
	}
	if a.Suspended {
		// As a sign-in with the account's password is answered: the
		// device is the holder's, and it works again once the suspension
		// is lifted, so `device watch` keeps trying (a 401 would tell
		// the owner to enrol it again).
		s.auditSuspendedDevice(ctx, d, m, now)
		return Device{}, errSuspended()
	}
	return Device{FactorID: d.FactorID, Account: a, Label: f.Label}, nil
}

// deviceReplay answers a replayed request of device d: 401 like the other
// refusals, but of its own type (replayed-request), since the device's key
// is good. The copy may be the device's own request sent twice on the way
// (an HTTP client re-sends a GET whose connection broke, a proxy passes a
// request to a second instance after the first died holding its nonce), so
// a device retries this one with a freshly signed request, where every other
// 401 tells it that it is no longer accepted.
func (s *Service) deviceReplay(ctx context.Context, d twofold.PushDevice, m Meta, now time.Time) error {
	if err := s.allowSource(ctx, m); err != nil {
		return err
	}
	s.auditDeviceAuthFailed(ctx, d, m, "replayed request", now)
	return twofold.Errorf(twofold.CodeReplayedRequest, "this request was sent before: sign each request afresh, with a new nonce")
}

// suspendedDeviceEvery bounds the push.device_refused events of one
// device of a suspended account: the first of its requests, then one each
// suspendedDeviceEvery.
const suspendedDeviceEvery = time.Hour

// auditSuspendedDevice records that device d of a suspended account made a
// request, well signed, which was refused: a device still asking is a sign
// of where it is (a stolen phone, one the holder forgot), which the
// operator who suspended the account wants to know, with the address it
// asks from. A device keeps asking while it waits for the suspension to be
// lifted (`device watch`), so only its first request is recorded, and then
// one an hour at most, however often it asks: a token in the database per
// device, shared by every instance. So that a device left polling does not
// write that token's row on every request, each instance first asks its
// own memory (suspendedDevices) whether the token can be due, and takes it
// only when so: once an hour per device and instance at most, whatever the
// number of requests. The database's token stays the authority: of two
// instances the device asks, one records the event.
func (s *Service) auditSuspendedDevice(ctx context.Context, d twofold.PushDevice, m Meta, now time.Time) {
	if !s.suspendedDevices.due(d.FactorID, now) {
		return
	}
	key := "push:suspended:" + d.FactorID
	rate := 1 / suspendedDeviceEvery.Seconds()
	ok, err := s.store.TakeToken(ctx, key, 1, rate, now)
	if err != nil {
		return
	}
	if ok {
		s.suspendedDevices.set(d.FactorID, now.Add(suspendedDeviceEvery), now)
		s.audit(ctx, d.AccountID, "push.device_refused", m, d.FactorID+": the account is suspended (recorded at most once an hour per device)")
		return
	}
	// Another instance took it: this one asks again when the bucket
	// has its next token, which a read tells without a write.
	tokens, at, found, err := s.store.Bucket(ctx, key)
	if err != nil || !found {
		return
	}
	next := at.Add(time.Duration((1 - tokens) / rate * float64(time.Second)))
	s.suspendedDevices.set(d.FactorID, next, now)
}

// maxSuspendedDevices bounds the devices whose token suspendedDevices
// remembers: beyond it, a device's is forgotten, which costs only that
// device's next request one take of the token in the database.
const maxSuspendedDevices = 4096

// deviceTokens remembers, per push device of a suspended account, the
// earliest time at which this instance asks the database for the token of
// its push.device_refused event again (auditSuspendedDevice): a memory of
// at most maxSuspendedDevices devices, whose marks that have passed are
// dropped when it is full.
type deviceTokens struct {
	mu   sync.Mutex
	next map[string]time.Time
}

// due reports whether the token of device id may be there at now: none is
// remembered, its time has come, or it is more than suspendedDeviceEvery
// away (a clock stepped back since it was set).
func (t *deviceTokens) due(id string, now time.Time) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	next, ok := t.next[id]
	return !ok || !now.Before(next) || next.Sub(now) > suspendedDeviceEvery
}

// set remembers that device id's token is not there before next: next
// beyond now + suspendedDeviceEvery is held to it, and one already passed
// is not kept.
func (t *deviceTokens) set(id string, next, now time.Time) {
	if !next.After(now) {
		return
	}
	if limit := now.Add(suspendedDeviceEvery); next.After(limit) {
		next = limit
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.next == nil {
		t.next = make(map[string]time.Time)
	}
	if _, ok := t.next[id]; !ok && len(t.next) >= maxSuspendedDevices {
		for k, at := range t.next {
			if !now.Before(at) {
				delete(t.next, k)
			}
		}
		for k := range t.next { // all still live: forget one
			if len(t.next) < maxSuspendedDevices {
				break
			}
			delete(t.next, k)
		}
	}
	t.next[id] = next
}

// auditDeviceAuthFailed records a refused request of device d: a few events
// a minute at most per device, whatever the number of requests.
func (s *Service) auditDeviceAuthFailed(ctx context.Context, d twofold.PushDevice, m Meta, cause string, now time.Time) {
	if ok, err := s.store.TakeToken(ctx, "push:auth-failed:"+d.FactorID, 3, 1.0/60, now); err == nil && ok {
		s.audit(ctx, d.AccountID, "push.device_auth_failed", m, d.FactorID+": "+cause)
	}
}

// PushSent is a push request made: its id, the number the sign-in screen
// shows for the person to type on the device, and until when it works.
// Secret is for the requester alone: the second step gives it back
// (SecondFactor.PushSecret), so that only the requester uses the approval.
type PushSent struct {
	ChallengeID string
	FactorID    string
	Label       string
	Number      string
	Secret      string
	ExpiresAt   time.Time
}

func (s *Service) pushKey(accountID string) string { return "2fa:" + accountID + ":push" }

func (s *Service) numberHash(challengeID, number string) []byte {
	return s.hasher.Sum("push-number", challengeID+":"+number)
}

// pushRequesterHash is the keyed hash of a push's requester secret, which
// is kept.
func (s *Service) pushRequesterHash(secret string) []byte {
	return s.hasher.Sum("push-requester", secret)
}

// maxPushSecret bounds the push secret a second step may carry; the ones
// sendPush makes are 32 characters.
const maxPushSecret = 128

// newNumber returns a number from 10 to 99, uniformly.
func (s *Service) newNumber() (string, error) {
	var b [1]byte
	for {
		if _, err := io.ReadFull(s.rand, b[:]); err != nil {
			return "", err
		}
		if b[0] < 180 { // 180 = 2 × 90: every number equally likely
			return fmt.Sprintf("%02d", 10+int(b[0])%90), nil
		}
	}
}

// PushLogin sends a push request for the second step of a pending login to
// the account's push device factorID (its oldest one when empty). While a
// push for the login that another requester sent waits or is approved, it
// is refused unless secret is that push's (a resend): see sendPush.
func (s *Service) PushLogin(ctx context.Context, loginID, factorID, secret string, m Meta) (PushSent, error) {
	if err := s.allowSource(ctx, m); err != nil {
		return PushSent{}, err
	}
	k := s.loginKeyOf(loginID)
	l, err := s.pendingLogin(ctx, k)
	if err != nil {
		return PushSent{}, err
	}
	return s.sendPush(ctx, l.AccountID, factorID, loginScope(k), l.ExpiresAt, secret, m)
}

// PushElevation sends a push request to confirm it's the caller, to
// elevate the caller's session with (POST /v1/me/elevate {"method":"push"});
// secret is as PushLogin's.
func (s *Service) PushElevation(ctx context.Context, a Auth, factorID, secret string, m Meta) (PushSent, error) {
	if err := person(a); err != nil {
		return PushSent{}, err
	}
	return s.sendPush(ctx, a.Account.ID, factorID, elevateScope(a.Session.ID), a.Session.ExpiresAt, secret, m)
}

// errPushBusy refuses a push for scope while another requester's push for
// it is live, until busyUntil at the latest.
func errPushBusy(scope string, wait time.Duration) error {
	what, anew := "this sign-in", "start a new sign-in"
	if scopeKind(scope) == "elevation" {
		what, anew = "confirming it's you on this session", "sign in again"
	}
	secs := max(int((wait+time.Second-1)/time.Second), 1)
	return &twofold.Error{Code: twofold.CodeConflict, RetryAfter: wait, Message: fmt.Sprintf(
		"a push request for %s is already waiting on the device, or was approved and not yet used, and it was not sent with this request's push_secret: "+
			"to send your own again, give the push_secret its answer gave; if the request on the device is not yours, deny it there, then %s (or use another method); "+
			"else use another method, or try again in %d seconds, when it expires", what, anew, secs)}
}

// ErrPushEnded is wrapped by the refusal of a push for a scope whose push
// request was denied on the device (sendPush).
var ErrPushEnded = errors.New("push ended by a denial")

// errPushEnded refuses a push for scope, a push for which was denied.
func errPushEnded(scope string) error {
	msg := "a push request for this sign-in was denied on the device, which ends push for it: start a new sign-in, or use another method"
	if scopeKind(scope) == "elevation" {
		msg = "a push request to confirm it's you on this session was denied on the device, which ends push for that on this session: use another method, or sign in again"
	}
	return &twofold.Error{Code: twofold.CodeConflict, Message: msg, Err: ErrPushEnded}
}

// sendPush sends a push request for scope to the account's push device
// factorID (its oldest when empty), with a new secret for its requester.
// The request expires PushTTL from now, or when scope does (ends: its
// login's or session's expiry), whichever is sooner: a request never
// outlives what it was sent for, so a login left to expire leaves nothing
// pending for the device.
//
// One scope has one live push at a time, and it stays its requester's: a
// push that another requester sent for the scope, still waiting or approved,
// is neither replaced nor voided by a new request (409, with Retry-After
// until it expires), unless the request carries that push's secret (a
// resend, which replaces it). Else whoever knew only the login id, which
// travels in URLs, could replace the owner's push: the device would show
// the stranger's request, and the number the owner typed from their own
// screen would be checked against it, approving the stranger's sign-in
// when the numbers happened to agree (1 in 90) and counting a denial
// against the owner otherwise. The refusal lasts as long as that push
// (PushTTL, and PushTTL more once approved), and the scope's other methods
// are untouched; denying the push on the device ends it, and with it push
// for the scope (below). A refused request spends nothing of the account's
// push ration.
//
// A denial on the device ends push for its scope: no push for it is sent
// again, to anyone (409), while the denial is kept (PushDenialWindow or
// PushFatigueWindow, the longer, and PushTTL after it ends: longer than a
// login lives). Else a stranger who knew
// only the login id, whose refused requests cost nothing, could send again
// the moment the owner denied theirs and hold the login's push for its whole
// life; and since each scope then has one denial at most (PushDenials counts
// scopes), that stranger cannot make the PushDenialLimit denials that pause
// the account's pushes, while someone with the password, who can start new
// sign-ins, is still paused after PushDenialLimit of them. The owner denies,
// then starts a new sign-in (or uses another method).
func (s *Service) sendPush(ctx context.Context, accountID, factorID, scope string, ends time.Time, resend string, m Meta) (PushSent, error) {
	if len(resend) > maxPushSecret {
		return PushSent{}, twofold.Errorf(twofold.CodeInvalid, "push_secret is at most %d characters: send the one the push's answer gave", maxPushSecret).On("push_secret")
	}
	now := s.Now()
	_, until, err := s.store.Throttle(ctx, s.pushKey(accountID))
	if err != nil {
		return PushSent{}, err
	}
	if now.Before(until) {
		s.audit(ctx, accountID, "push.throttled", m, "push requests paused after repeated denials")
		return PushSent{}, throttled(until.Sub(now), "push requests to this account are paused after repeated denials: sign in another way, or try again later")
	}
	if denied, err := s.store.PushScopeDenied(ctx, accountID, scope); err != nil {
		return PushSent{}, err
	} else if denied {
		s.auditPushRefused(ctx, accountID, m, fmt.Sprintf("for %s: a push request for it was denied", scopeKind(scope)), now)
		return PushSent{}, errPushEnded(scope)
	}
	fs, err := s.store.Factors(ctx, accountID)
	if err != nil {
		return PushSent{}, err
	}
	var f *twofold.Factor
	for i := range fs {
		if fs[i].Type == twofold.FactorPush && fs[i].Status == twofold.FactorActive && (factorID == "" || fs[i].ID == factorID) {
			f = &fs[i]
			break
		}
	}
	switch {
	case f == nil && factorID == "":
		// Without a factor_id, the oldest device: the account has none.
		return PushSent{}, twofold.Errorf(twofold.CodeInvalid, "the account has no active push device: choose another method")
	case f == nil:
		return PushSent{}, twofold.Errorf(twofold.CodeNotFound, "no active push device %q", truncate(factorID, 64))
	}
	id, err := s.newOrderedID(now)
	if err != nil {
		return PushSent{}, err
	}
	number, err := s.newNumber()
	if err != nil {
		return PushSent{}, err
	}
	secret, err := s.randomString(20)
	if err != nil {
		return PushSent{}, err
	}
	var resender []byte // none: no push was sent with an empty secret
	if resend != "" {
		resender = s.pushRequesterHash(resend)
	}
	c := twofold.PushChallenge{ID: id, FactorID: f.ID, AccountID: accountID, Scope: scope, NumberHash: s.numberHash(id, number),
		RequesterHash: s.pushRequesterHash(secret), Status: twofold.PushPending, Source: CleanText(m.Source, 256),
		UserAgent: CleanText(m.UserAgent, 256), CreatedAt: now, ExpiresAt: pushExpiry(now, ends)}
	var busyUntil time.Time
	var rationed, deniedMeanwhile bool
	err = s.inTx(ctx, func(ctx context.Context) error {
		busyUntil, rationed, deniedMeanwhile = time.Time{}, false, false
		ok, until, err := s.store.CreatePushChallenge(ctx, c, resender)
		if err != nil {
			return err
		}
		if !ok {
			busyUntil = until
			return nil
		}
		// Asked again once the account's row is held and the scope's
		// live pushes replaced: a denial committed after the check
		// above, before they were read, ended push for the scope (a
		// denial after this waits for the row of the push it answers,
		// which this has replaced, and finds it no longer pending).
		denied, err := s.store.PushScopeDenied(ctx, accountID, scope)
		if err != nil {
			return err
		}
		if denied {
			deniedMeanwhile = true
			return errRollback
		}
		if l := PushSendLimit; l.Burst > 0 {
			ok, err := s.store.TakeToken(ctx, "push:send:"+accountID, float64(l.Burst), 1/l.Every.Seconds(), now)
			if err != nil {
				return err
			}
			if !ok {
				rationed = true
				return errRollback
			}
		}
		return nil
	})
	switch {
	case deniedMeanwhile:
		s.auditPushRefused(ctx, accountID, m, fmt.Sprintf("for %s: a push request for it was denied", scopeKind(scope)), now)
		return PushSent{}, errPushEnded(scope)
	case rationed:
		s.audit(ctx, accountID, "push.throttled", m, "too many push requests")
		l := PushSendLimit
		return PushSent{}, throttled(l.Every, fmt.Sprintf("too many push requests were sent; try again in %d seconds", int(l.Every.Seconds())))
	case err != nil:
		return PushSent{}, err
	case !busyUntil.IsZero():
		s.auditPushRefused(ctx, accountID, m, fmt.Sprintf("for %s: another requester's push request for it is still live", scopeKind(scope)), now)
		return PushSent{}, errPushBusy(scope, busyUntil.Sub(now))
	}
	s.audit(ctx, accountID, "push.sent", m, fmt.Sprintf("to %s for %s (request %s)", f.ID, scopeKind(scope), id))
	s.pushWaiters.wake(f.ID)
	s.checkPushFatigue(accountID, m)
	return PushSent{ChallengeID: id, FactorID: f.ID, Label: f.Label, Number: number, Secret: secret, ExpiresAt: c.ExpiresAt}, nil
}

// auditPushRefused records a refused push request: a few events a minute
// at most, so that a stranger's refused requests do not fill the owner's
// log.
func (s *Service) auditPushRefused(ctx context.Context, accountID string, m Meta, detail string, now time.Time) {
	if ok, err := s.store.TakeToken(ctx, "push:refused:"+accountID, 3, 1.0/60, now); err == nil && ok {
		s.audit(ctx, accountID, "push.refused", m, detail)
	}
}

// PushRequest is a push challenge as its device shows it: what for, for
// which account, from where and when; never the number.
type PushRequest struct {
	ID        string
	What      string // "sign in" or "confirm it's you"
	Issuer    string
	Account   string
	Source    string
	UserAgent string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// MaxPushWait bounds a device's long poll.
const MaxPushWait = 60 * time.Second

// pushRecheck is how often a long poll looks again for challenges made on
// other instances (pushSweep).
const pushRecheck = time.Second

// pushSweep is what this instance last read of the devices with a pending
// challenge: one read every pushRecheck serves every long poll waiting on
// the instance, rather than one read each (MaxPushPolls of them).
type pushSweep struct {
	mu      sync.Mutex
	at      time.Time // real time of the read
	waiting map[string]bool
}

// pushDue reports whether device factorID has a challenge pending, as the
// instance's last read of them at most pushRecheck ago says, reading again
// when that one is older.
func (s *Service) pushDue(ctx context.Context, factorID string) (bool, error) {
	sw := &s.pushSweep
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if time.Since(sw.at) >= pushRecheck {
		ids, err := s.store.PushFactorsWaiting(ctx, s.Now())
		if err != nil {
			return false, err
		}
		sw.waiting = make(map[string]bool, len(ids))
		for _, id := range ids {
			sw.waiting[id] = true
		}
		sw.at = time.Now()
	}
	return sw.waiting[factorID], nil
}

// PushRequests returns the device's requests waiting for an answer. With
// none and wait > 0 it waits up to wait (at most MaxPushWait) for one: woken
// at once by a request made on this instance, and for those made on
// others, finding them in the instance's read every pushRecheck of the
// devices with a request pending (pushDue).
func (s *Service) PushRequests(ctx context.Context, d Device, wait time.Duration) ([]PushRequest, error) {
	wait = min(max(wait, 0), MaxPushWait)
	woken, done, err := s.pushWaiters.subscribe(d.FactorID, d.Account.ID)
	if err != nil {
		return nil, err
	}
	defer done()
	deadline := time.NewTimer(wait) // real time: the poll waits for the network, not for a code's step
	defer deadline.Stop()
	tick := time.NewTicker(pushRecheck)
	defer tick.Stop()
	read := true
	for {
		var cs []twofold.PushChallenge
		if read {
			if cs, err = s.store.PendingPushChallenges(ctx, d.FactorID, s.Now()); err != nil {
				return nil, err
			}
			if cs, err = s.livePush(ctx, cs, d.Account); err != nil {
				return nil, err
			}
		}
		if len(cs) > 0 || wait == 0 || s.pushWaiters.isEnding() {
			out := make([]PushRequest, 0, len(cs))
			for _, c := range cs {
				what := "sign in"
				if scopeKind(c.Scope) == "elevation" {
					what = "confirm it's you"
				}
				out = append(out, PushRequest{ID: c.ID, What: what, Issuer: s.cfg.Issuer, Account: d.Account.Username,
					Source: c.Source, UserAgent: c.UserAgent, CreatedAt: c.CreatedAt, ExpiresAt: c.ExpiresAt})
			}
			return out, nil
		}
		read = true
		select {
		case _, open := <-woken:
			if !open { // a newer poll of the device took over
				wait = 0
			}
		case <-tick.C:
			if read, err = s.pushDue(ctx, d.FactorID); err != nil {
				return nil, err
			}
		case <-deadline.C:
			wait = 0
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// AnswerPush records the device's answer to one of its requests: approve
// with the number shown on the sign-in screen, or deny. A wrong number is a
// denial. It returns the status recorded.
func (s *Service) AnswerPush(ctx context.Context, d Device, challengeID string, approve bool, number string, m Meta) (twofold.PushStatus, error) {
	c, err := s.store.PushChallenge(ctx, challengeID)
	if twofold.ErrorCode(err) == twofold.CodeNotFound || (err == nil && c.FactorID != d.FactorID) {
		return "", twofold.Errorf(twofold.CodeNotFound, "no such push request for this device")
	}
	if err != nil {
		return "", err
	}
	// A request for a login or session that has ended is answered as an
	// expired one: nothing is recorded, and no denial counted.
	live, ends, err := s.pushScopeLive(ctx, c, d.Account)
	if err != nil {
		return "", err
	}
	if !live {
		if err := s.store.EndPushChallenge(ctx, c.ID); err != nil {
			return "", err
		}
		return "", errPushAnswerLate()
	}
	status, cause := twofold.PushApproved, ""
	switch number = strings.TrimSpace(number); {
	case !approve:
		status, cause = twofold.PushDenied, "denied on the device"
	case len(number) != 2 || !credhash.Equal(c.NumberHash, s.numberHash(c.ID, number)):
		status, cause = twofold.PushDenied, "wrong number"
	}
	now := s.Now()
	// An approval is used within PushTTL, and no later than its login or
	// session lasts.
	ok, err := s.store.AnswerPushChallenge(ctx, c.ID, d.FactorID, status, cause, now, pushExpiry(now, ends))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errPushAnswerLate()
	}
	if status == twofold.PushApproved {
		s.audit(ctx, d.Account.ID, "push.approved", m, fmt.Sprintf("request %s for %s on %s", c.ID, scopeKind(c.Scope), d.FactorID))
		return status, nil
	}
	s.audit(ctx, d.Account.ID, "push.denied", m, fmt.Sprintf("request %s for %s on %s: %s", c.ID, scopeKind(c.Scope), d.FactorID, cause))
	s.countDenial(ctx, d.Account.ID, m)
	s.checkPushFatigue(d.Account.ID, Meta{Source: c.Source, UserAgent: c.UserAgent})
	return status, nil
}

// pushExpiry is when a push request, or an approval, made at now for a
// login or session that ends at ends, stops working: PushTTL from now, or
// ends when that is sooner.
func pushExpiry(now, ends time.Time) time.Time {
	if t := now.Add(PushTTL); ends.IsZero() || t.Before(ends) {
		return t
	}
	return ends
}

// errPushAnswerLate refuses the answer to a push request that no longer
// waits for one.
func errPushAnswerLate() error {
	return twofold.Errorf(twofold.CodeConflict, "this request was answered already, replaced by a newer one, or has expired")
}

// livePush returns those of account a's push requests cs whose login or
// session still waits or works (pushScopeLive), and ends the others in the
// store, so that no poll finds them again: a request left pending would
// wake the device's long polls (pushDue) until it expires.
func (s *Service) livePush(ctx context.Context, cs []twofold.PushChallenge, a twofold.Account) ([]twofold.PushChallenge, error) {
	live := cs[:0:0]
	for _, c := range cs {
		ok, _, err := s.pushScopeLive(ctx, c, a)
		if err != nil {
			return nil, err
		}
		if ok {
			live = append(live, c)
			continue
		}
		if err := s.store.EndPushChallenge(ctx, c.ID); err != nil {
			return nil, err
		}
	}
	return live, nil
}

// pushScopeLive reports whether the login or session that push request c
// was sent for, of account a, still waits for its second step or still
// works, and when it ends. Ending them ends their requests in the same
// transaction (store.EndSessions, a session's own sign-out, which
// store.DeleteSession and the like do, and a login's completion by any
// method, which store.FinishLogin and DecideSecondStep do), and a request
// expires no later than its login or session (sendPush); but a login that
// expires or is swept leaves its request, and a request is never worth
// showing or answering once what it was for is gone.
func (s *Service) pushScopeLive(ctx context.Context, c twofold.PushChallenge, a twofold.Account) (bool, time.Time, error) {
	now := s.Now()
	if id, ok := strings.CutPrefix(c.Scope, "login:"); ok {
		l, err := s.store.Login(ctx, id)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return false, time.Time{}, nil
		}
		if err != nil {
			return false, time.Time{}, err
		}
		return l.AccountID == a.ID && !l.Used && now.Before(l.ExpiresAt) && l.Epoch == a.SessionEpoch, l.ExpiresAt, nil
	}
	if id, ok := strings.CutPrefix(c.Scope, "elevate:"); ok {
		sess, err := s.store.Session(ctx, id, now)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return false, time.Time{}, nil
		}
		if err != nil {
			return false, time.Time{}, err
		}
		return sess.AccountID == a.ID && sess.Epoch == a.SessionEpoch, sess.ExpiresAt, nil
	}
	return false, time.Time{}, nil
}

// countDenial pauses push requests to the account when it has had
// denials on PushDenialLimit logins or elevations within PushDenialWindow,
// and tells the owner.
func (s *Service) countDenial(ctx context.Context, accountID string, m Meta) {
	now := s.Now()
	n, err := s.store.PushDenials(ctx, accountID, now.Add(-PushDenialWindow))
	if err != nil {
		s.log.Error("push denials not counted", "err", err)
		return
	}
	if n < PushDenialLimit {
		return
	}
	key := s.pushKey(accountID)
	f, until, err := s.store.Throttle(ctx, key)
	if err != nil || now.Before(until) {
		return
	}
	ok, err := s.store.TakeSlot(ctx, key, f, now.Add(PushLockout), now)
	if err != nil || !ok {
		return
	}
	s.audit(ctx, accountID, "push.locked", m, fmt.Sprintf("%d denials within %s: push requests paused for %s", n, PushDenialWindow, PushLockout))
	s.notify(ctx, accountID, "someone who knows your password is trying to sign in",
		fmt.Sprintf("%d sign-in requests sent to your push device were denied within %d minutes, so push requests to your account are paused for %d minutes.", n, int(PushDenialWindow.Minutes()), int(PushLockout.Minutes())),
		"Someone who knows your password is probably trying to sign in: change your password now. Your other authenticators still work.")
}

// pushNotApproved answers a second step by push that found no approval:
// push-pending while this requester's newest request for scope (its
// secret hashes to requester) still waits, else the one failure answer,
// with the real cause in the audit log. Another requester's requests are
// as if never sent: whether one waits or was approved is not theirs to
// know.
func (s *Service) pushNotApproved(ctx context.Context, accountID, scope string, requester []byte, typ string, m Meta) error {
	c, found, err := s.store.LatestPushChallenge(ctx, accountID, scope, requester)
	if err != nil {
		return err
	}
	now := s.Now()
	cause := "no push request sent to this requester (none, or not with this push secret)"
	if found {
		switch {
		case c.Status == twofold.PushPending && now.Before(c.ExpiresAt):
			return &twofold.Error{Code: twofold.CodePushPending, Message: "the push request was not answered yet: approve it on your device, then try again", RetryAfter: 2 * time.Second}
		case c.Status == twofold.PushDenied:
			cause = "push request denied: " + c.Cause
		case c.Status == twofold.PushUsed:
			cause = "push approval used already"
		case !now.Before(c.ExpiresAt):
			cause = "push request expired"
		default:
			cause = "push request " + string(c.Status)
		}
	}
	s.audit(ctx, accountID, typ, m, "push: "+cause)
	return errBadSecondFactor()
}

// checkPushProof refuses a second step by push that carries a code: the
// device's approval is the proof, and the number is typed on the device.
// The push's secret is checked with the approval: a missing one reads as a
// wrong one.
func checkPushProof(p SecondFactor) error {
	if p.Code != "" {
		return twofold.Errorf(twofold.CodeInvalid, "push takes no code: approve the request on your device, then verify").On("code")
	}
	if len(p.PushSecret) > maxPushSecret {
		return twofold.Errorf(twofold.CodeInvalid, "push_secret is at most %d characters: send the one the push's answer gave", maxPushSecret).On("push_secret")
	}
	return nil
}

// verifyLoginPush completes a login's second step with an approved push
// request sent to this requester (p.PushSecret): the approval is used, the
// login finished and the session made in one transaction.
func (s *Service) verifyLoginPush(ctx context.Context, k loginKey, p SecondFactor, m Meta) (Verified, error) {
	if err := checkPushProof(p); err != nil {
		return Verified{}, err
	}
	requester := s.pushRequesterHash(p.PushSecret)
	if err := s.allowSource(ctx, m); err != nil {
		return Verified{}, err
	}
	var answer error
	var v Verified
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer, v = nil, Verified{}
		l, err := s.pendingLogin(ctx, k)
		if err != nil {
			answer = err
			return nil
		}
		// The login is held before its push request, as every second step
		// holds them (a code's completion ends the login's push requests
		// after it has taken the login), so that on PostgreSQL two second
		// steps of one login never wait for each other.
		if err := s.store.LockSecondStep(ctx, l.AccountID, "", string(k), false); err != nil {
			return err
		}
		now := s.Now()
		ok, err := s.store.UsePushApproval(ctx, l.AccountID, loginScope(k), p.FactorID, requester, now)
		if err != nil {
			return err
		}
		if !ok {
			answer = s.pushNotApproved(ctx, l.AccountID, loginScope(k), requester, "login.second_factor_failed", m)
			if isInternal(answer) {
				return answer
			}
			return nil
		}
		var sess twofold.Session
		if v.Token, sess, err = s.newSession(l.AccountID, l.Epoch, now, now.Add(s.cfg.ElevationTTL)); err != nil {
			return err
		}
		finished, err := s.store.FinishLogin(ctx, string(k), now, sess)
		if err != nil {
			return err
		}
		if !finished {
			answer = errLoginExpired()
			return errRollback
		}
		v.ExpiresAt = sess.ExpiresAt
		s.auditSession(ctx, l.AccountID, "login.succeeded", m, "second factor: push", sess.ID)
		return nil
	})
	if answer != nil {
		return Verified{}, answer
	}
	if err != nil {
		return Verified{}, err
	}
	return v, nil
}

// elevatePush elevates the caller's session with an approved push request
// made for it and sent to this requester (p.PushSecret), renewing its token
// with renew: a copy of the session's token, without the secret, cannot
// take the approval its holder gave.
func (s *Service) elevatePush(ctx context.Context, a Auth, p SecondFactor, m Meta, renew *renewal) (time.Time, error) {
	if err := checkPushProof(p); err != nil {
		return time.Time{}, err
	}
	requester := s.pushRequesterHash(p.PushSecret)
	now := s.Now()
	until := now.Add(s.cfg.ElevationTTL)
	var answer error
	err := s.inTx(ctx, func(ctx context.Context) error {
		answer = nil
		ok, err := s.store.UsePushApproval(ctx, a.Account.ID, elevateScope(a.Session.ID), p.FactorID, requester, now)
		if err != nil {
			return err
		}
		if !ok {
			answer = s.pushNotApproved(ctx, a.Account.ID, elevateScope(a.Session.ID), requester, "session.elevation_failed", m)
			if isInternal(answer) {
				return answer
			}
			return nil
		}
		if err := s.elevateSession(ctx, a, until, renew); err != nil {
			return err
		}
		s.audit(ctx, a.Account.ID, "session.elevated", m, "second factor: push")
		return nil
	})
	if err != nil {
		return time.Time{}, err
	}
	if answer != nil {
		return time.Time{}, answer
	}
	return until, nil
}

// sweepPush removes nonces expired SweepMargin ago, and challenges past the
// denial window and PushFatigueWindow, whichever is longer. A nonce is kept until 2·PushClockSkew after the instance
// that took it saw it, the last moment at which that instance would accept
// the request again; an instance whose clock is behind accepts it until
// later by its clock, so the sweep leaves the nonce SweepMargin longer.
func (s *Service) sweepPush(ctx context.Context, now time.Time) error {
	return s.store.DeleteExpiredPush(ctx, now.Add(-SweepMargin), now.Add(-max(PushDenialWindow, PushFatigueWindow)-PushTTL))
}

// BaseURL returns the server's configured public URL, "" when none is set.
func (s *Service) BaseURL() string { return s.cfg.BaseURL }
