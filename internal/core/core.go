// Package core is the Twofold service: login transactions, the second step,
// elevation, enrolment, recovery and audit. Business rules live here once; the
// HTTP API, the pages and the CLI all call the same methods. It never imports
// net/http or database/sql.
package core

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/factor/securitykey"
	"github.com/twofold/twofold/internal/factor/sms"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/permit"
)

// Store is the storage the service needs; *store.Store implements it.
type Store interface {
	// InTx runs fn in one transaction; store calls made with the context fn
	// receives join it.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	CreateAccount(ctx context.Context, a twofold.Account) error
	// AccountsByUsernameFold returns the accounts whose username equals
	// username ignoring case, as CreateAccount compares them.
	AccountsByUsernameFold(ctx context.Context, username string) ([]twofold.Account, error)
	AccountByID(ctx context.Context, id string) (twofold.Account, error)
	Accounts(ctx context.Context, query, after string, limit int) ([]twofold.Account, error)
	HasAccounts(ctx context.Context) (bool, error)
	SetTwoFactorRequired(ctx context.Context, accountID string, required bool) (changed bool, err error)
	// SetOperator sets whether the account is an operator, reporting false
	// when it already was as asked.
	SetOperator(ctx context.Context, accountID string, on bool) (bool, error)
	IsOperator(ctx context.Context, accountID string) (bool, error)
	// LockAccount holds, inside InTx, the account's row until the
	// transaction ends: of transactions that count what the account has
	// and add to it, each counts what those before it committed.
	LockAccount(ctx context.Context, accountID string) error
	// LockAccounts holds, inside InTx, the rows of the accounts ids, in
	// the order of their ids, as LockAccount holds one (lockFirst).
	LockAccounts(ctx context.Context, ids ...string) error
	// SetSuspended sets whether the account is suspended, reporting false
	// when it already was as asked.
	SetSuspended(ctx context.Context, accountID string, on bool) (bool, error)
	// ReplacePasswordHash replaces hash old, reporting false when the hash
	// is no longer old.
	ReplacePasswordHash(ctx context.Context, accountID, old, hash string) (bool, error)
	// PasswordParamsInUse returns, once each, the parameter fields
	// ("m=…,t=…,p=…") of the accounts' Argon2id password hashes. It reads
	// every account: for now and then, never for a login.
	PasswordParamsInUse(ctx context.Context) ([]string, error)
	// EndSessions moves the account's session epoch on, voids its logins
	// waiting for their second step, and returns the new epoch.
	EndSessions(ctx context.Context, accountID string) (epoch int64, err error)
	// EndOtherSessions, when the account's session epoch is still epoch,
	// moves it on but for session keepID and voids its waiting logins; ok
	// is false when the epoch had moved on.
	EndOtherSessions(ctx context.Context, accountID string, epoch int64, keepID string) (ok bool, err error)
	// SessionsOfEpoch counts the account's sessions of epoch unexpired at now.
	SessionsOfEpoch(ctx context.Context, accountID string, epoch int64, now time.Time) (int, error)
	// SignedIn counts the account's sessions of its epoch and its logins
	// waiting for their second step, unexpired at now: what EndSessions
	// would end.
	SignedIn(ctx context.Context, accountID string, now time.Time) (int, error)

	CreateFactor(ctx context.Context, f twofold.Factor) error
	Factors(ctx context.Context, accountID string) ([]twofold.Factor, error)
	Factor(ctx context.Context, accountID, id string) (twofold.Factor, error)
	// FactorsOfType returns up to limit factors of type t of every account
	// whose ids come after afterID, in the order of their ids.
	FactorsOfType(ctx context.Context, t twofold.FactorType, afterID string, limit int) ([]twofold.Factor, error)
	MarkFactorDamaged(ctx context.Context, factorID string, now time.Time) error
	// ClearFactorDamaged clears f's DamagedAt while the row still holds
	// that mark and the sealed secret f was read with.
	ClearFactorDamaged(ctx context.Context, f twofold.Factor) error
	AcceptStep(ctx context.Context, factorID string, step, drift int64, now time.Time) (bool, error)
	ActivateFactor(ctx context.Context, a twofold.Activation) (ok, first bool, err error)
	RenameFactor(ctx context.Context, accountID, id, label string) (changed bool, err error)
	// DeleteFactor deletes the factor only while it has status.
	DeleteFactor(ctx context.Context, accountID, id string, status twofold.FactorStatus) (lastGone bool, err error)

	// SwapSentCode stores a sent code, replacing its factor's code for its
	// scope before, and returns the one it replaced (had: there was one).
	// A code with a requester hash replaces a live one only when resender
	// is that one's requester hash; else nothing is stored, and busyUntil
	// is when the live one expires. When resender is the requester of a
	// live code of the scope, c is stored under resender (kept).
	SwapSentCode(ctx context.Context, c twofold.SentCode, resender []byte) (prev twofold.SentCode, had, kept bool, busyUntil time.Time, err error)
	// RestoreSentCode puts prev back (or removes sent when !had) while
	// sent is still the code stored, reporting whether it did.
	RestoreSentCode(ctx context.Context, sent, prev twofold.SentCode, had bool) (bool, error)
	// TakeCodeChecks takes one check from each of the account's unexpired
	// codes sent by method for scope (only factorID's when set) that has
	// checks left, and returns them.
	TakeCodeChecks(ctx context.Context, accountID string, method twofold.Method, scope, factorID string, now time.Time) ([]twofold.SentCode, error)
	// UseSentCode deletes the factor's code for scope of hash if still
	// there and unexpired, reporting whether it did: one caller of any
	// number does.
	UseSentCode(ctx context.Context, factorID, scope string, hash []byte, now time.Time) (bool, error)

	// PutCeremony stores a WebAuthn ceremony, replacing its scope's one before.
	PutCeremony(ctx context.Context, c twofold.Ceremony) error
	// KeepCeremony stores a WebAuthn ceremony unless its scope has a live
	// one with its options, and returns the one the scope then has.
	KeepCeremony(ctx context.Context, c twofold.Ceremony) (twofold.Ceremony, error)
	// CeremonySession returns the session data of the account's unexpired
	// ceremony in scope with challenge, leaving it in place.
	CeremonySession(ctx context.Context, scope, accountID, challenge string, now time.Time) (session []byte, ok bool, err error)
	// TakeCeremony deletes the account's unexpired ceremony in scope with
	// challenge and returns its session data: one caller of any number does.
	TakeCeremony(ctx context.Context, scope, accountID, challenge string, now time.Time) (session []byte, ok bool, err error)
	// SecurityKeys returns the credentials of the account's active webauthn factors.
	SecurityKeys(ctx context.Context, accountID string) ([]twofold.SecurityKey, error)
	// PutPasskeyLogin stores a sign-in with a passkey begun.
	PutPasskeyLogin(ctx context.Context, l twofold.PasskeyLogin) error
	// TakePasskeyLogin deletes the unexpired sign-in with a passkey id and
	// returns it; ok=false when there is none (expired, used, or unknown).
	TakePasskeyLogin(ctx context.Context, id string, now time.Time) (l twofold.PasskeyLogin, ok bool, err error)
	// ActivateSecurityKey stores a key's credential and activates its
	// factor as ActivateFactor does, all or nothing.
	ActivateSecurityKey(ctx context.Context, k twofold.SecurityKey, a twofold.Activation) (ok, first bool, err error)
	// UseSecurityKey moves a key's signature counter forward to count,
	// reporting false, writing nothing, when it is at count or past it.
	UseSecurityKey(ctx context.Context, factorID string, count uint32, flags byte, now time.Time) (bool, error)

	ReplaceRecoveryCodes(ctx context.Context, accountID string, hashes [][]byte, now time.Time) error
	UseRecoveryCode(ctx context.Context, accountID string, hash []byte, now time.Time) (bool, error)
	RecoveryCodesRemaining(ctx context.Context, accountID string) (int, error)
	PaperKeyHash(ctx context.Context, accountID string) ([]byte, error)
	// PaperKey returns the account's paper key hash and when it was made
	// (nil when it has none).
	PaperKey(ctx context.Context, accountID string) (hash []byte, created time.Time, err error)
	// ReplacePaperKey replaces the account's paper key, whose hash is old,
	// by hash made at now, while factorID is one of its active factors,
	// reporting false, writing nothing, otherwise.
	ReplacePaperKey(ctx context.Context, accountID, factorID string, old, hash []byte, now time.Time) (bool, error)
	// NoteFactorUse records on the account's waiting reset of two-factor,
	// if any, that a second factor passed a check at now, for a check that
	// writes nothing else (the paper key); the writes of the other checks
	// record it themselves. A reset so marked is withdrawn when due.
	NoteFactorUse(ctx context.Context, accountID string, now time.Time) error

	CreateLogin(ctx context.Context, l twofold.Login) error
	Login(ctx context.Context, id string) (twofold.Login, error)
	// FinishLogin marks a login used and creates its session, ending the
	// push requests sent for the login (waiting or approved) with it.
	FinishLogin(ctx context.Context, loginID string, now time.Time, sess twofold.Session) (bool, error)
	// EndLoginSession ends the session a login made, when it made it
	// after since.
	EndLoginSession(ctx context.Context, loginID string, since time.Time) (accountID string, ended bool, err error)
	// DecideSecondStep reads a login with its account's active TOTP factors
	// and the throttle keyPrefix + account id + keySuffix, lets decide choose
	// a verdict, and writes it only if what was read still holds. decide may
	// be called more than once and must not write. Never inside InTx.
	DecideSecondStep(ctx context.Context, loginID string, keys twofold.StepKeys, decide func(st twofold.SecondStep, found bool) twofold.Verdict) (twofold.Outcome, error)
	// LockSecondStep takes, inside InTx, the locks a second step or an
	// elevation will take, in the one order every path takes them.
	LockSecondStep(ctx context.Context, accountID, factorID, loginID string, withFactors bool) error
	CreateSession(ctx context.Context, sess twofold.Session) error
	// Session returns an unexpired session with its token's hash.
	Session(ctx context.Context, id string, now time.Time) (twofold.Session, error)
	ElevateSession(ctx context.Context, sessionID string, until time.Time) error
	// RenewSession replaces an unexpired session's token hash oldHash by
	// newHash and extends its elevation to until, in one statement;
	// false when the session has ended or was renewed meanwhile.
	RenewSession(ctx context.Context, sessionID string, oldHash, newHash []byte, until, now time.Time) (bool, error)
	// EndSessionByToken, EndRenewedSession, EndLoginSession and
	// DeleteSession end the push requests of the session's elevation
	// (waiting or approved) and delete the codes sent for its elevation,
	// in the transaction that removes it.
	EndSessionByToken(ctx context.Context, sessionID string, tokenHash []byte, now time.Time) (accountID string, ended bool, err error)
	// EndRenewedSession removes a session that still has tokenHash and
	// was last renewed at renewedAt, as read.
	EndRenewedSession(ctx context.Context, sessionID string, tokenHash []byte, renewedAt time.Time) (accountID string, ended bool, err error)
	DeleteSession(ctx context.Context, sessionID string) (ended bool, err error)

	Throttle(ctx context.Context, key string) (failures int, lockedUntil time.Time, err error)
	TakeSlot(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error)
	// TakeSlotUnderWay is TakeSlot that also counts the slot as under way,
	// until EndSlot or underWayUntil; SlotsUnderWay reads that count and
	// the counter's lock in one read.
	TakeSlotUnderWay(ctx context.Context, key string, seen int, lockUntil, now, underWayUntil time.Time) (bool, error)
	EndSlot(ctx context.Context, key string, taken time.Time) error
	SlotsUnderWay(ctx context.Context, key string) (n int, until, lockedUntil time.Time, err error)
	ResetThrottle(ctx context.Context, key string) error
	// ResetThrottlePrefix clears the counters under prefix and returns how
	// many held failures or a lock.
	ResetThrottlePrefix(ctx context.Context, prefix string) (int, error)
	Counters(ctx context.Context, prefix string) ([]twofold.Counter, error)
	TakeToken(ctx context.Context, key string, burst, rate float64, now time.Time) (bool, error)
	// ReturnToken gives a token TakeToken took back to the bucket key,
	// never above burst.
	ReturnToken(ctx context.Context, key string, burst float64) error
	// Bucket returns the tokens of a bucket as last stored and when.
	Bucket(ctx context.Context, key string) (tokens float64, updatedAt time.Time, found bool, err error)
	// DeleteExpired removes the sessions, logins and the other rows that
	// expire that expired before before, and the heartbeats of instances
	// not seen for a day (by the database's clock); sessions whose ID
	// sorts at or after sessionsBelow need not be looked at ("": all are).
	DeleteExpired(ctx context.Context, before time.Time, sessionsBelow string) error
	// DeleteExpiredAPIKeys deletes the keys that expired before before,
	// with their tokens and the keys they made, and returns how many.
	DeleteExpiredAPIKeys(ctx context.Context, before time.Time) (int64, error)
	DeleteStaleThrottles(ctx context.Context, before time.Time, kept []string) error

	// AddTwoFactorReset stores a waiting reset; one is waiting already: a conflict.
	// ImportTokens stores hardware tokens, all or none: a serial stored
	// already is a conflict.
	ImportTokens(ctx context.Context, ts []twofold.HardwareToken) error
	// HardwareToken returns a token by its serial; an unknown one is not-found.
	HardwareToken(ctx context.Context, serial string) (twofold.HardwareToken, error)
	HardwareTokens(ctx context.Context, unclaimed bool) ([]twofold.HardwareToken, error)
	// ClaimedTokenDigests returns the secret digests of the claimed tokens
	// whose factor still exists, by serial.
	ClaimedTokenDigests(ctx context.Context) (map[string][]byte, error)
	// ClaimedTokenFactorsWithoutDigest returns, by serial, the factors of
	// the claimed tokens that have no secret digest.
	ClaimedTokenFactorsWithoutDigest(ctx context.Context) (map[string]twofold.Factor, error)
	// SetTokenDigest stores a token's secret digest only while it has
	// none, and reports whether it did.
	SetTokenDigest(ctx context.Context, serial string, digest []byte) (bool, error)
	// ClaimToken marks the token claimed, only while unclaimed, and stores
	// and activates its factor, all or nothing; ok=false: nothing written.
	ClaimToken(ctx context.Context, c twofold.TokenClaim) (ok, first bool, err error)

	AddTwoFactorReset(ctx context.Context, r twofold.TwoFactorReset) error
	TwoFactorReset(ctx context.Context, accountID string) (r twofold.TwoFactorReset, found bool, err error)
	CancelTwoFactorReset(ctx context.Context, accountID string) (bool, error)
	DueTwoFactorResets(ctx context.Context, now time.Time, limit int) ([]twofold.TwoFactorReset, error)
	TwoFactorResets(ctx context.Context, limit int) ([]twofold.TwoFactorReset, error)
	// ResetTwoFactor carries out the account's reset if it is due at now,
	// or withdraws it when a factor was used since the request: one caller
	// of any number does, and the others get ResetNotDue.
	ResetTwoFactor(ctx context.Context, accountID string, now time.Time) (twofold.TwoFactorReset, twofold.ResetOutcome, error)

	// CreateAPIKey stores a key; its account or maker (ParentID) deleted
	// meanwhile is not-found.
	CreateAPIKey(ctx context.Context, k twofold.APIKey) error
	// APIKey returns a key, expired or not; an unknown id is not-found.
	APIKey(ctx context.Context, id string) (twofold.APIKey, error)
	// HoldAPIKey is APIKey, for a key of account accountID, inside a
	// transaction, returning the account too and holding both until it
	// ends: the key's revocation, and the account's suspension, demotion
	// or deletion, wait for what is written with it. With accountWrite,
	// for a transaction that will hold the account by LockAccount, the
	// account is held so at once (never shared, then for update: two
	// such transactions would wait on each other).
	HoldAPIKey(ctx context.Context, accountID, id string, accountWrite bool) (twofold.APIKey, twofold.Account, error)
	// HoldSession is Session, for a session of account accountID, inside
	// a transaction, returning the account too and holding both until it
	// ends: signing out (one session or all), the account's suspension and
	// its deletion wait for what is written for the session.
	HoldSession(ctx context.Context, accountID, id string, now time.Time) (twofold.Session, twofold.Account, error)
	APIKeys(ctx context.Context, accountID string) ([]twofold.APIKey, error)
	// DeleteAPIKey deletes the account's key with the keys it made.
	DeleteAPIKey(ctx context.Context, accountID, id string) (bool, error)
	// TouchAPIKey sets the key's last use to now unless it is less than
	// every ago, reporting whether it wrote.
	TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) (bool, error)
	// CreateAPIToken stores a token; its key deleted meanwhile is
	// not-found.
	CreateAPIToken(ctx context.Context, t twofold.APIToken) error
	// APIToken returns an unexpired token; another is not-found.
	APIToken(ctx context.Context, id string, now time.Time) (twofold.APIToken, error)
	DeleteAPIToken(ctx context.Context, id string) (bool, error)

	AddSetupToken(ctx context.Context, hash []byte, now, since time.Time) (bool, error)
	SetupOffered(ctx context.Context, since time.Time) (time.Time, error)
	SetupTokenValid(ctx context.Context, hash []byte, since time.Time) (bool, error)
	CreateFirstAccount(ctx context.Context, hash []byte, since time.Time, a twofold.Account) (bool, error)

	AddEvent(ctx context.Context, e twofold.AuditEvent) error
	// LiveSessions returns up to limit sessions of the account, of its
	// session epoch, that still work at now, newest first, each with the
	// event that made it, whatever lifetime each was given.
	LiveSessions(ctx context.Context, accountID string, epoch int64, now time.Time, limit int) ([]twofold.LiveSession, error)
	// QueryEvents returns the events q selects, in q's order.
	QueryEvents(ctx context.Context, q twofold.EventQuery) ([]twofold.AuditEvent, error)

	DNSStore
	TeamStore
	PushStore
	SSHKeyStore
	PasswordResetStore
	EmailChangeStore
	ReplacedEmailStore
	AccountDeletionStore
	WebhookStore
	FormStore
}

// Config holds the service's tunables.
type Config struct {
	Issuer         string          // shown in authenticator apps
	PasswordParams credhash.Params // Argon2id cost
	SessionTTL     time.Duration
	LoginTTL       time.Duration // how long a login waits for its second step
	ElevationTTL   time.Duration // SPEC §3.1: 10 minutes after the last second-factor check
	TOTPWindow     int           // accepted steps either side (SPEC §1 story 7: 1)
	ResyncWindow   int           // steps either side of now a TOTP resync may keep (its next code's)
	LoginBurst     int           // login requests one address may make at once
	LoginRate      float64       // and per second after that; 0 turns the bucket off
	ResetDelay     time.Duration // how long an operator's reset of two-factor waits (SPEC §1 story 4); 0: none
	MailSent       bool          // notifications leave the server (an SMTP server is set), rather than only being logged
	SMSCountries   sms.Countries // where text messages may go (SPEC §2: against SMS pumping)
	SendLimits     SendLimits    // how many codes are sent by text message or email
	BaseURL        string        // the server's public URL, for push enrolment URIs; "" to take it from each request
	// SecurityKeys is the WebAuthn relying party; without an RP ID no
	// security key can be added or used (see SetRelyingParty).
	SecurityKeys securitykey.Config
	// Webhooks (README "Webhooks"): whether an endpoint may be http, not
	// only https; whether it may be at a loopback or private address; and
	// how long an endpoint may fail before it is disabled (0: three days).
	WebhookAllowHTTP    bool
	WebhookAllowPrivate bool
	WebhookDisableAfter time.Duration
}

// DefaultConfig returns the defaults of SPEC §3.1 and §1.
func DefaultConfig() Config {
	return Config{
		Issuer:         "Twofold",
		PasswordParams: credhash.DefaultParams(),
		SessionTTL:     12 * time.Hour,
		LoginTTL:       5 * time.Minute,
		ElevationTTL:   10 * time.Minute,
		TOTPWindow:     1,
		ResyncWindow:   40,
		LoginBurst:     30,
		LoginRate:      1,
		ResetDelay:     DefaultResetDelay,
		SMSCountries:   sms.DefaultCountries(),
		SendLimits:     DefaultSendLimits(),
	}
}

// Service is the Twofold service.
type Service struct {
	store  Store
	keys   *keyring.Keyring
	hasher *credhash.Hasher
	cfg    Config
	log    *slog.Logger
	now    func() time.Time
	rand   io.Reader

	notifier  Notifier
	texts     TextSender
	codeMail  CodeMailer
	linkBase  string // the start of mailed links (SetLinkBase)
	onEvent   func(twofold.AuditEvent)
	passwords PasswordList
	rp        *securitykey.RelyingParty // nil: no security keys

	pushWaiters pushWaiters // wakes this instance's device long polls
	pushSweep   pushSweep   // finds their challenges made on other instances
	// suspendedDevices is when this instance next asks for the token of a
	// suspended account's device's event (auditSuspendedDevice).
	suspendedDevices deviceTokens
	passwordChecks   underWay // this instance's password attempts under way, by counter

	// background is the work done after a request is answered (later).
	background sync.WaitGroup

	argon      chan struct{}         // bounds concurrent Argon2id hashes
	onArgon    func(credhash.Params) // sees each Argon2id hash as it starts; for tests (export_test.go)
	recordPage int                   // records per page of a read of a zone, when not 0; for tests (export_test.go)
	zoneTurns  zoneTurns             // this instance's changes of one zone take turns (changeRecords)
	dummyOnce  sync.Once
	dummy      string
	refusal    refusalCost // what every refused password costs (checkPassword)
}

// refusalCost holds the Argon2id parameters that a refused password's check
// is padded to: the costliest of the configured ones and those of every
// password hash in store, as last read (refreshRefusalCost).
type refusalCost struct {
	mu     sync.Mutex
	params credhash.Params // zero: not read yet, the configured ones
	read   time.Time       // when the hashes in store were last read; zero: never
}

// Options are the service's collaborators. Now and Rand default to the real
// clock and crypto/rand.
type Options struct {
	Store  Store
	Keys   *keyring.Keyring
	Hasher *credhash.Hasher
	Config Config
	Logger *slog.Logger
	Now    func() time.Time
	Rand   io.Reader
	// Notifier queues security notifications by email; nil sends none.
	Notifier Notifier
	// Texts sends the codes of sms factors; nil refuses to send them.
	Texts TextSender
	// CodeMail queues the codes of email factors; nil refuses to send them.
	CodeMail CodeMailer
	// OnEvent, when set, sees every audit event as it is recorded (for metrics).
	OnEvent func(twofold.AuditEvent)
	// Passwords, when set, is the list of passwords known to attackers that
	// new passwords are screened against (screenPassword).
	Passwords PasswordList
}

// New returns a Service.
func New(o Options) (*Service, error) {
	s := &Service{store: o.Store, keys: o.Keys, hasher: o.Hasher, cfg: o.Config, log: o.Logger, now: o.Now, rand: o.Rand,
		notifier: o.Notifier, texts: o.Texts, codeMail: o.CodeMail, onEvent: o.OnEvent, passwords: o.Passwords}
	if s.now == nil {
		s.now = time.Now
	}
	if s.rand == nil {
		s.rand = rand.Reader
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if err := s.cfg.PasswordParams.Validate(); err != nil {
		return nil, err
	}
	s.argon = make(chan struct{}, runtime.GOMAXPROCS(0))
	if s.cfg.SecurityKeys.RPID != "" {
		if err := s.SetRelyingParty(s.cfg.SecurityKeys); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// hashPassword hashes with Argon2id, at most one hash per CPU at a time: each
// takes the configured memory (19 MiB by default), so a burst of logins must
// queue rather than multiply the server's memory.
func (s *Service) hashPassword(password string) (string, error) {
	s.argon <- struct{}{}
	defer func() { <-s.argon }()
	s.argonRuns(s.cfg.PasswordParams)
	return credhash.HashPassword(password, s.cfg.PasswordParams)
}

// checkPassword checks password against an Argon2id hash, as hashPassword
// queues. A refusal costs about what a check of the costliest hash in use
// does (refusalParams), whatever hash it checked, an unknown username's
// (dummyHash) too: a hash cheaper than that, of an account that has not
// signed in since the parameters were raised, or every hash once they were
// lowered while an account's hash made before remains (rehash), is padded
// out to that cost (credhash.Padding), in the same turn of the queue, one
// hash after the other, so that it neither waits its turn twice nor holds
// more memory at once than the costliest hash. A success is not padded: it
// is no secret to whoever knows the password, and rehash makes the hash
// again at the configured cost.
func (s *Service) checkPassword(password, hash string) (bool, error) {
	target := s.refusalParams() // before the turn: it may wait for Warm's hash
	s.argon <- struct{}{}
	defer func() { <-s.argon }()
	if p, err := credhash.ParamsOf(hash); err == nil {
		s.argonRuns(p)
	}
	ok, err := credhash.CheckPassword(password, hash)
	if !ok {
		if pad, short := credhash.Padding(hash, target); short {
			s.argonRuns(pad)
			credhash.Spend(pad)
		}
	}
	return ok, err
}

// RefusalCostEvery is how often at most the sweep reads the parameters of
// the password hashes in store again (refreshRefusalCost): a hash made
// with costlier parameters than the configuration by another writer (a
// `twofold user add` with other flags, an instance configured otherwise)
// is refused slower than the others until then, and the cost of every
// refusal falls to the configured one no later than this after the last
// costlier hash was made again (rehash).
const RefusalCostEvery = 10 * time.Minute

// refusalParams returns the Argon2id parameters that every refused
// password's check is padded to: the costliest of the configured ones and
// those of the hashes in store as last read. A server reads them as it
// starts (Warm), and the first check waits for that.
func (s *Service) refusalParams() credhash.Params {
	s.dummyHash()
	s.refusal.mu.Lock()
	defer s.refusal.mu.Unlock()
	if s.refusal.params == (credhash.Params{}) {
		return s.cfg.PasswordParams
	}
	return s.refusal.params
}

// refreshRefusalCost reads the parameters of the password hashes in store
// and keeps the costliest of them and the configured ones for
// refusalParams. One read per start and RefusalCostEvery (a scan of the
// accounts), none per login: parameters that no account's hash uses any
// more, made again at its owner's sign-in (rehash), stop costing at the
// next read. Parameters out of the range Validate allows, which Twofold
// never makes, are passed over: the padding must never cost more than a
// hash Twofold could make (an account with such a hash, written to the
// database from outside, is refused at its own cost).
func (s *Service) refreshRefusalCost(ctx context.Context) error {
	fields, err := s.store.PasswordParamsInUse(ctx)
	if err != nil {
		return err
	}
	p := s.cfg.PasswordParams
	for _, f := range fields {
		if q, err := credhash.ParseParams(f); err == nil && q.Validate() == nil {
			p = credhash.Costlier(p, q)
		}
	}
	s.refusal.mu.Lock()
	defer s.refusal.mu.Unlock()
	if p != s.refusal.params && p != s.cfg.PasswordParams {
		s.log.Info("refused passwords are padded to the costliest password hash in store, costlier than the configured one, until its account signs in again",
			"memory_kib", p.Memory, "iterations", p.Iterations, "parallelism", p.Parallelism)
	}
	s.refusal.params, s.refusal.read = p, s.Now()
	return nil
}

// refusalCostStale reports whether the parameters of the hashes in store
// were last read RefusalCostEvery or longer before now, or never.
func (s *Service) refusalCostStale(now time.Time) bool {
	s.refusal.mu.Lock()
	defer s.refusal.mu.Unlock()
	return s.refusal.read.IsZero() || !now.Before(s.refusal.read.Add(RefusalCostEvery))
}

// argonRuns tells the test hook, when set, of an Argon2id hash about to run.
func (s *Service) argonRuns(p credhash.Params) {
	if s.onArgon != nil {
		s.onArgon(p)
	}
}

// Warm makes the hash that unknown usernames are checked against (see
// dummyHash), and reads the parameters of the hashes in store that every
// refusal is padded to (refreshRefusalCost), ahead of the first login, so
// that the first password checked costs what any other does; a server
// calls it as it starts.
func (s *Service) Warm() { s.dummyHash() }

// warmRead bounds Warm's read of the hashes in store: past it, refusals
// cost the configured hash's until the sweep reads them.
const warmRead = 30 * time.Second

// dummyHash returns a hash checked when a username is unknown, so that the
// answer takes as long as for a wrong password. It is made once, by Warm or
// on first use, with the configured parameters, and its check padded, as
// every refusal's, to the costliest hash in store (checkPassword); accounts'
// hashes move to the configured parameters as their owners log in (Login).
func (s *Service) dummyHash() string {
	s.dummyOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), warmRead)
		defer cancel()
		if err := s.refreshRefusalCost(ctx); err != nil {
			s.log.Error("parameters of the password hashes in store not read: refusals cost the configured hash's until the sweep reads them", "err", err)
		}
		h, err := s.hashPassword("twofold dummy password")
		if err != nil {
			s.log.Error("dummy password hash", "err", err)
		}
		s.dummy = h
	})
	return s.dummy
}

// Now returns the service's current time.
func (s *Service) Now() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

// Meta describes where a request came from, for the audit log.
type Meta struct {
	Source    string
	UserAgent string

	// actor is the account of the operator whose request this is, set by
	// by: the events it records on other accounts, or on none, name it
	// (twofold.AuditEvent.ActorID), so that closing it scrubs its user
	// agent from them too.
	actor string
}

// by returns m as the request of operator op (see Meta.actor).
func (m Meta) by(op Auth) Meta {
	m.actor = op.Account.ID
	return m
}

// Auth is an authenticated caller: an account and either a person's session
// or an API key.
type Auth struct {
	Account twofold.Account
	Session twofold.Session // zero when Key is set
	Key     *twofold.APIKey // the API key that authenticated the caller; nil for a session
}

// Allows reports whether the caller may take action on the resource of
// service (see internal/permit): a person's session may do whatever the
// account may, an API key only what one of its permits allows.
func (a Auth) Allows(service, resource, action string) bool {
	return a.Key == nil || permit.Allows(a.Key.Permits, service, resource, action)
}

// AllowsSome reports whether the caller may take action on some resource
// under resource, such as one record of a zone.
func (a Auth) AllowsSome(service, resource, action string) bool {
	return a.Key == nil || permit.AllowsSome(a.Key.Permits, service, resource, action)
}

// Elevated reports whether the session had a second-factor check within the
// elevation period (SPEC §1 story 5).
func (a Auth) Elevated(now time.Time) bool { return now.Before(a.Session.ElevatedUntil) }

// PassedSecondFactor reports whether the caller came through a second
// factor: a session whose login or an elevation checked one, however long
// ago, or an API key made with one (twofold.APIKey.SecondFactor).
func (a Auth) PassedSecondFactor() bool {
	if a.Key != nil {
		return a.Key.SecondFactor
	}
	return !a.Session.ElevatedUntil.IsZero()
}

var idEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// randomString returns n random bytes in lower-case base32.
func (s *Service) randomString(n int) (string, error) {
	b := make([]byte, n)
	if _, err := io.ReadFull(s.rand, b); err != nil {
		return "", err
	}
	return idEncoding.EncodeToString(b), nil
}

// newID returns a random 128-bit identifier.
func (s *Service) newID() (string, error) { return s.randomString(16) }

// wellFormedID reports whether id, from a request, can name a row: at most
// 64 bytes of UTF-8 without a NUL, as every id Twofold makes is. Anything
// else names nothing, and is answered so without a look-up (PostgreSQL
// would refuse it in a text parameter).
func wellFormedID(id string) bool {
	return id != "" && len(id) <= 64 && utf8.ValidString(id) && strings.IndexByte(id, 0) < 0
}

// orderedEncoding keeps the order of the bytes it encodes.
var orderedEncoding = base32.NewEncoding("0123456789abcdefghijklmnopqrstuv").WithPadding(base32.NoPadding)

// isOrderedID reports whether id has the form newOrderedID gives.
func isOrderedID(id string) bool {
	if len(id) != 26 {
		return false
	}
	for _, c := range []byte(id) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'v') {
			return false
		}
	}
	return true
}

// newOrderedID returns a 128-bit identifier that sorts by time: 48 bits of
// milliseconds since 1970, then 80 random bits. A row keyed by it goes to the
// end of its index instead of to a random page, which on the login path
// saves writing one more page per session (issue 6). It is for identifiers
// that are not secret: the time in it is not hidden.
func (s *Service) newOrderedID(now time.Time) (string, error) {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now.UnixMilli())<<16)
	if _, err := io.ReadFull(s.rand, b[6:]); err != nil {
		return "", err
	}
	return orderedEncoding.EncodeToString(b[:]), nil
}

// sessionsBelow returns an ID every session expired before before sorts
// below, for the sweep: a session's ID is ordered by the time it was made
// (newOrderedID) and it lasts ttl from then or a little longer (the
// session is stored a moment after its ID is made), so one expired before
// before was made before before less ttl, by the clock of the instance
// that made it, whatever the sweeping instance's clock says. A session
// made while a shorter lifetime was configured may sort after it, and is
// swept once the walk reaches it, no later than ttl after it expired.
func sessionsBelow(before time.Time, ttl time.Duration) string {
	var b [16]byte
	// Past the millisecond of before less ttl: the ID keeps whole
	// milliseconds, the expiry microseconds.
	binary.BigEndian.PutUint64(b[:8], uint64(before.Add(-ttl).UnixMilli()+1)<<16)
	return orderedEncoding.EncodeToString(b[:])
}

// audit records an event. Inside inTx a failure to record fails the
// transaction: what it would have committed, a throttle slot say, must not
// stand without its event, nor be rolled back while the request is answered
// as if it stood. Outside a transaction the failure is logged.
func (s *Service) audit(ctx context.Context, accountID, typ string, m Meta, detail string) {
	s.auditSession(ctx, accountID, typ, m, detail, "")
}

// auditSession records an event that made the session sessionID (a login,
// a password change), by which the account's sessions are listed.
func (s *Service) auditSession(ctx context.Context, accountID, typ string, m Meta, detail, sessionID string) {
	s.record(ctx, s.event(accountID, typ, m, detail, sessionID), m)
}

// auditOperator records an event on account accountID that names an
// operator, or that an operator's action made (byOperator: m is the
// operator's): detail names the operator as operators read it ("by
// operator carol"), holderDetail says the same to the account's holder,
// who is told only "an operator" (README "Audit log and operations"; see
// holderView).
func (s *Service) auditOperator(ctx context.Context, accountID, typ string, m Meta, byOperator bool, detail, holderDetail string) {
	s.record(ctx, s.operatorEvent(accountID, typ, m, byOperator, detail, holderDetail), m)
}

// auditCounterpart records an event on the account of the other party to
// the caller's action: the inviter whose invitation was answered, the
// invitee, a member whose role changed or who was removed, the owner of a
// zone that a teammate wrote to or unshared. detail names the caller as the
// other party may read it ("by bob"), but the event carries neither the
// caller's address nor user agent: those are the caller's, recorded in the
// caller's own event of the same action, and must not land in the log of
// someone they merely invited, nor outlive the caller's account there
// (README "Audit log and operations").
func (s *Service) auditCounterpart(ctx context.Context, accountID, typ, detail string) {
	s.audit(ctx, accountID, typ, Meta{}, detail)
}

// operatorEvent is the audit event that auditOperator records.
func (s *Service) operatorEvent(accountID, typ string, m Meta, byOperator bool, detail, holderDetail string) twofold.AuditEvent {
	e := s.event(accountID, typ, m, detail, "")
	e.ByOperator = byOperator
	if holderDetail = CleanText(holderDetail, 1024); holderDetail != e.Detail {
		e.HolderDetail = holderDetail
	}
	return e
}

// recordRationed records audit event e of a request with m only while the
// bucket key holds a token (burst, then one every every), for refusals
// that anyone can make again and again: a flood of them must not fill the
// audit log, nor the webhooks that it feeds, nor write to the database at
// each request. The events not recorded are still counted in the metrics
// (twofold_events_total), as every event is.
func (s *Service) recordRationed(ctx context.Context, key string, burst int, every time.Duration, e twofold.AuditEvent, m Meta) {
	if _, inTx := ctx.Value(auditKey{}).(*error); !inTx {
		var cancel context.CancelFunc
		ctx, cancel = afterCommit(ctx) // as record does
		defer cancel()
	}
	ok, err := s.store.TakeToken(ctx, key, float64(burst), 1/every.Seconds(), s.Now())
	if err != nil {
		s.log.Error("audit event not recorded", "type", e.Type, "err", err)
	}
	if err != nil || !ok {
		s.counted(ctx, e)
		return
	}
	s.record(ctx, e, m)
}

// auditRefused records the refusal typ of a request with m by the limit
// named kind (for the account accountID, or none), at most once a minute
// per kind and client, from: its address as the limit counts it (an IPv6
// /64 by sourceKey, or a /48). One event tells the record that a flood
// came from there, and /metrics counts it all (see recordRationed).
func (s *Service) auditRefused(ctx context.Context, kind, from, accountID, typ string, m Meta, detail string) {
	s.recordRationed(ctx, "refused:"+kind+":"+from, 1, time.Minute, s.event(accountID, typ, m, detail, ""), m)
}

// event is an audit event of now, its texts made to fit their columns.
func (s *Service) event(accountID, typ string, m Meta, detail, sessionID string) twofold.AuditEvent {
	e := twofold.AuditEvent{AccountID: accountID, Type: typ, At: s.Now(),
		Source: CleanText(m.Source, 256), UserAgent: CleanText(m.UserAgent, 256), Detail: CleanText(detail, 1024), SessionID: sessionID}
	if m.actor != accountID {
		e.ActorID = m.actor
	}
	return e
}

// record stores audit event e of a request with m (see audit).
//
// Outside a transaction the event follows a change already committed (or a
// refusal already decided), so it is written even when the caller has gone
// meanwhile: a client that hung up after the commit must not leave the
// change without its event. It runs on a context that outlives the
// caller's (afterCommit), bounded so that a dead database cannot hold it.
func (s *Service) record(ctx context.Context, e twofold.AuditEvent, m Meta) {
	if _, inTx := ctx.Value(auditKey{}).(*error); !inTx {
		var cancel context.CancelFunc
		ctx, cancel = afterCommit(ctx)
		defer cancel()
	}
	accountID, typ, sessionID := e.AccountID, e.Type, e.SessionID
	if typ == "login.succeeded" && sessionID != "" {
		s.signedIn(ctx, accountID, sessionID, m)
	}
	s.counted(ctx, e)
	keep, note := s.eventAdmitted(ctx, e)
	if note != nil {
		s.counted(ctx, *note)
		s.addEvent(ctx, *note)
	}
	if keep {
		s.addEvent(ctx, e)
	}
}

// addEvent stores audit event e (see record).
func (s *Service) addEvent(ctx context.Context, e twofold.AuditEvent) {
	if err := s.store.AddEvent(ctx, e); err != nil {
		if failed, ok := ctx.Value(auditKey{}).(*error); ok {
			if *failed == nil {
				*failed = fmt.Errorf("record audit event %s: %w", e.Type, err)
			}
			return
		}
		s.log.Error("audit event not recorded", "type", e.Type, "err", err)
	}
}

// EventBurst and EventEvery bound the audit events of one type on one
// account: EventBurst at once, then one every EventEvery, shared by every
// instance (a token bucket in the database per account and type), so that
// nobody, the holder or whoever has their password or session, can fill
// the log (and the webhooks it feeds) at the rate requests come. The first
// event of a type past the bound in EventNoteEvery is replaced by one
// audit.suppressed event that says which type is held back, from where:
// the record is never silent about a flood. Every event, recorded or not,
// is counted in the metrics (twofold_events_total). Events that made a
// session, that an operator's action made, and the types Twofold reads
// back to decide (unboundedEvents) are always recorded.
const (
	EventBurst     = 30
	EventEvery     = 10 * time.Second
	EventNoteEvery = time.Hour
)

// unboundedEvents are the event types never held back by EventBurst:
// Twofold reads them back (known sign-ins for the new sign-in notice, the
// paper key's uses and reissues, the last warning of a listed password),
// so a missing one would change what it decides; and the making and
// revoking of API keys, which make and end credentials as a sign-in makes
// a session: a stolen key that makes keys must not hide them past the
// bound (making is capped at MaxAPIKeys live keys an account, and at
// APIKeyCreateBurst keys made at once, then one every APIKeyCreateEvery,
// so that a loop of making and revoking writes no faster); and an
// operator's changes to the webhooks, which hand the whole audit log out:
// a stolen operator's key must not add an endpoint unrecorded after a
// burst of throwaway ones.
var unboundedEvents = []string{"login.succeeded", "paper_key.used", "paper_key.reissued", "password.listed",
	"api_key.created", "api_key.revoked", "webhook.created", "webhook.deleted", "webhook.enabled",
	"webhook.secret_rotated", "webhook.disabled"}

// eventAdmitted reports whether audit event e is within its account's
// bound (see EventBurst) and so to be stored, and returns the
// audit.suppressed note to store before it, if one is due. A failure to
// read the bound stores the event: one too many is better than one lost.
func (s *Service) eventAdmitted(ctx context.Context, e twofold.AuditEvent) (bool, *twofold.AuditEvent) {
	if e.AccountID == "" || e.SessionID != "" || e.ByOperator || slices.Contains(unboundedEvents, e.Type) {
		return true, nil
	}
	ok, err := s.store.TakeToken(ctx, "events:"+e.AccountID+":"+e.Type, EventBurst, 1/EventEvery.Seconds(), e.At)
	if err != nil {
		s.log.Error("audit event bound unreadable", "type", e.Type, "err", err)
		return true, nil
	}
	if ok {
		return true, nil
	}
	note, err := s.store.TakeToken(ctx, "events-noted:"+e.AccountID+":"+e.Type, 1, 1/EventNoteEvery.Seconds(), e.At)
	if err != nil {
		s.log.Error("audit event bound unreadable", "type", e.Type, "err", err)
		return true, nil
	}
	if !note {
		return false, nil
	}
	n := e
	n.Type, n.SessionID, n.HolderDetail = "audit.suppressed", "", ""
	n.Detail = fmt.Sprintf("%s events come faster than %d at once and then one every %s: until they slow down, only those are recorded (this note at most once an hour)",
		e.Type, EventBurst, EventEvery)
	return false, &n
}

// counted passes audit event e to the observer (metrics), once committed
// when ctx is a transaction's.
func (s *Service) counted(ctx context.Context, e twofold.AuditEvent) {
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, func(context.Context) { s.observe(e) }) // counted once committed
	} else {
		s.observe(e)
	}
}

// Events returns the caller's own audit events that q selects (its
// AccountID is ignored): newest first, or oldest first after an id for a
// reader that polls (see checkEventQuery).
func (s *Service) Events(ctx context.Context, a Auth, q twofold.EventQuery) ([]twofold.AuditEvent, error) {
	if !a.Allows(permit.Account, "*", permit.Read) {
		return nil, twofold.Errorf(twofold.CodeForbidden, "this API key may not read the account: it needs the permit %q", "account * read")
	}
	if err := checkEventQuery(&q); err != nil {
		return nil, err
	}
	q.AccountID = a.Account.ID
	evs, err := s.store.QueryEvents(ctx, q)
	for i := range evs {
		evs[i] = holderView(evs[i])
	}
	return evs, err
}

// holderView is event e as its account's holder reads it: of an event an
// operator's action made, neither the operator's address nor their user
// agent, and a detail that says "an operator" where operators read the
// operator's name and API key (README "Audit log and operations").
// Operators read events as they are (AuditEvents, InspectAccount).
func holderView(e twofold.AuditEvent) twofold.AuditEvent {
	e = shownEvent(e)
	if e.ByOperator {
		e.Source, e.UserAgent = "", ""
	}
	if e.HolderDetail != "" {
		e.Detail = e.HolderDetail
	}
	e.HolderDetail = ""
	return e
}

// shownEvent is e as anyone reads it: its user agent cleaned of characters
// that cannot be seen for what they are (CleanText), as every user agent
// has been since it was stored; events stored before that keep the raw one.
func shownEvent(e twofold.AuditEvent) twofold.AuditEvent {
	e.UserAgent = CleanText(e.UserAgent, 256)
	return e
}

// shownEvents applies shownEvent to each of evs.
func shownEvents(evs []twofold.AuditEvent) []twofold.AuditEvent {
	for i := range evs {
		evs[i] = shownEvent(evs[i])
	}
	return evs
}

// MaxEventTypes bounds the event types one query of the audit log may name.
const MaxEventTypes = 20

// checkEventQuery refuses a query of the audit log that makes no sense, and
// sets its limit to 50 when it is out of 1 to 200: a page runs either back
// from Before or forward from After, never both; a type is an exact name
// of letters, dots and underscores ("login.password_failed"), one of
// EventTypes, as a webhook's are (knownEventType), so that a misspelt name
// is refused rather than answered with no events; names repeated count once.
func checkEventQuery(q *twofold.EventQuery) error {
	if q.Limit <= 0 || q.Limit > 200 {
		q.Limit = 50
	}
	if q.Forward && q.Before != 0 {
		return twofold.Errorf(twofold.CodeInvalid, "ask for events before an id or after one, not both")
	}
	if q.Before < 0 {
		return twofold.Errorf(twofold.CodeInvalid, "an event id is a positive integer").OnQuery("before")
	}
	if q.After < 0 {
		return twofold.Errorf(twofold.CodeInvalid, "an event id is a positive integer").OnQuery("after")
	}
	var types []string
	for _, t := range q.Types {
		if !eventTypeName(t) {
			return twofold.Errorf(twofold.CodeInvalid, "an event type is a name of letters, dots and underscores, such as login.password_failed, of at most 64 characters").OnQuery("type")
		}
		if !knownEventType(t, false) {
			return twofold.Errorf(twofold.CodeInvalid, "type %q is no event type Twofold writes; see the audit event types in the API description", t).OnQuery("type")
		}
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	if len(types) > MaxEventTypes {
		return twofold.Errorf(twofold.CodeInvalid, "ask for at most %d event types at once", MaxEventTypes).OnQuery("type")
	}
	q.Types = types
	return nil
}

// eventTypeName reports whether t may name an event type: 1 to 64 ASCII
// letters, dots and underscores.
func eventTypeName(t string) bool {
	if t == "" || len(t) > 64 {
		return false
	}
	for _, c := range t {
		if (c < 'a' || c > 'z') && (c < 'A' || c > 'Z') && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

type notesKey struct{}

// auditKey holds, inside inTx, the first failure to record an audit event.
type auditKey struct{}

// inTx runs fn in one database transaction. For a request's caller
// (WithCaller), the transaction first checks that the caller's API key or
// session still stands (callerStands), and holds it until it ends.
// Notifications fn queues are sent, and its audit events counted in the
// metrics, only after the commit. An audit event that could not be
// recorded rolls the transaction back and is its error.
//
// A transaction the database ended in a conflict with a concurrent one (a
// deadlock on PostgreSQL) wrote nothing and is run again, up to txRuns
// times, after a short pause of random length, so that the runs that
// conflicted do not meet again in step: fn must start afresh on every run.
// One that conflicts every time is answered as unavailable for a moment
// (503 with Retry-After), not as a failure of the server.
func (s *Service) inTx(ctx context.Context, fn func(ctx context.Context) error) error {
	var notes []func(context.Context)
	var err error
	for attempt := 1; attempt <= txRuns; attempt++ {
		if attempt > 1 && !txPause(ctx, attempt) {
			break
		}
		notes = notes[:0]
		var auditErr error
		txCtx := context.WithValue(context.WithValue(ctx, notesKey{}, &notes), auditKey{}, &auditErr)
		err = s.store.InTx(txCtx, func(ctx context.Context) error {
			if err := s.callerStands(ctx); err != nil {
				return err
			}
			if err := fn(ctx); err != nil {
				return err
			}
			return auditErr
		})
		if !errors.Is(err, twofold.ErrTxConflict) {
			break
		}
	}
	err = conflictAnswer(err)
	if err == nil && len(notes) > 0 {
		// The change is committed: its notices are queued even when the
		// caller has gone meanwhile (a client that hung up, a sweep whose
		// time ran out), on a context that outlives the caller's.
		nctx, cancel := afterCommit(ctx)
		defer cancel()
		for _, n := range notes {
			n(nctx)
		}
	}
	return err
}

// conflictAnswer answers a transaction that lost its conflict with a
// concurrent one on every run as unavailable for a moment (503 with
// Retry-After, to be sent again; its cause logged): nothing of it was
// written, and the server did not fail. Other errors pass unchanged.
func conflictAnswer(err error) error {
	if !errors.Is(err, twofold.ErrTxConflict) {
		return err
	}
	return &twofold.Error{Code: twofold.CodeUnavailable, Message: "too many requests for the same thing at once: try again", RetryAfter: time.Second, Err: err}
}

// txRuns bounds the runs of a transaction that keeps conflicting.
const txRuns = 5

// txPause waits before the attempt-th run of a transaction that
// conflicted: a random time up to 20 ms, doubled for every run after the
// second. It reports false when ctx ended meanwhile.
func txPause(ctx context.Context, attempt int) bool {
	t := time.NewTimer(time.Duration(mrand.Int64N(int64(20*time.Millisecond) << (attempt - 2))))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// noticeTimeout bounds the queueing of a committed change's notices.
const noticeTimeout = 10 * time.Second

// afterCommit returns a context for what follows a committed change (its
// audit events, its notices): ctx's values without its cancellation, so a
// caller that went away after the commit does not cost the change its
// record, and with a deadline of noticeTimeout, so that a database that
// does not answer cannot hold the request forever.
func afterCommit(ctx context.Context) (context.Context, context.CancelFunc) {
	// What follows a commit is no caller's write: it is not checked again (WithCaller).
	return context.WithTimeout(context.WithValue(context.WithoutCancel(ctx), callerKey{}, nil), noticeTimeout)
}

// isInternal reports whether err is a failure of the server (twofold.Fault:
// an internal error, or a key it cannot read), which rolls a transaction
// back, rather than an answer for the client, which is committed with the
// counters and audit events that led to it: a second step that could not
// be checked takes no throttle slot.
func isInternal(err error) bool { return twofold.Fault(err) }

// later runs fn after the request that calls it, so that its cost does not
// show in the answer's timing. fn gets a context of its own, which outlives
// the request and carries none of its values: no transaction of the
// request's, nor its list of notifications to send after a commit.
func (s *Service) later(fn func(ctx context.Context)) {
	s.background.Go(func() { fn(context.Background()) })
}

// Wait waits for the work the service does after answering requests (the
// invitee's side of a team invitation). Call it before closing the store.
func (s *Service) Wait() { s.background.Wait() }
