// Package twofold holds the vocabulary of the Twofold two-factor authentication
// server: accounts, factors, login transactions, sessions and the domain error.
// It imports only the standard library; every other package speaks in these terms.
package twofold

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Code is a stable, machine-readable error slug. HTTP packages map it to a status
// and a problem type; it never changes meaning once published.
type Code string

// Error codes (STYLE.md "Errors").
const (
	CodeInvalid            Code = "invalid"
	CodeInvalidCredentials Code = "invalid-credentials"
	CodeInvalidCode        Code = "invalid-code"
	CodeElevationRequired  Code = "elevation-required"
	CodeThrottled          Code = "throttled"
	CodeLoginExpired       Code = "login-expired"
	CodeNotFound           Code = "not-found"
	CodeConflict           Code = "conflict"
	CodeForbidden          Code = "forbidden"
	CodeUnauthorized       Code = "unauthorized"
	CodeUnavailable        Code = "unavailable"      // a gateway (SMS) did not take a message; try again later
	CodePushPending        Code = "push-pending"     // a push request was not answered yet: ask again shortly
	CodeReplayedRequest    Code = "replayed-request" // a push device's signed request was sent before: sign it afresh and send it again
	CodeTooLarge           Code = "too-large"        // a request body is over its API's bound: nothing was done; send a smaller one
	CodeInternal           Code = "internal"
)

// ErrTxConflict marks a transaction the database ended because it conflicted
// with a concurrent one (on PostgreSQL, a deadlock or a serialization
// failure): nothing of it was written, and it can be run again.
var ErrTxConflict = errors.New("transaction ended in a conflict with a concurrent one")

// ErrStale marks a change the store refused because what it was decided on
// (a team member's role, say) changed between the reading and the writing:
// nothing of it was written. The caller decides it again on what is there
// now, so that the change gets the answer it would have had then. It comes
// wrapped in a conflict, for callers that do not decide again.
var ErrStale = errors.New("changed since it was read")

// Error is the one domain error. Message is safe to show to the client; Err is
// the cause, for logs and never for clients.
type Error struct {
	Code    Code
	Message string
	// In and Input name the one input of the request the error refuses,
	// so that a client can mark it (set with On, OnQuery, OnPath, At
	// or WithInput; empty: the error is about no one input). Input is a JSON
	// Pointer (RFC 6901, "/code", "/permits/0") into the body for InBody,
	// the parameter's name otherwise. Never the input's value.
	In         In
	Input      string
	RetryAfter time.Duration // set with CodeThrottled
	Err        error
}

// In says where in a request the input an Error refuses is.
type In string

// Where inputs are.
const (
	InBody  In = "body"  // a member of the JSON body, by JSON Pointer
	InQuery In = "query" // a query parameter (or a form parameter of the body), by name
	InPath  In = "path"  // a parameter of the route's path ({zone}), by name
)

// On marks e as refusing member of the request's JSON body (a top-level
// member: "code", "username") and returns e.
func (e *Error) On(member string) *Error { return e.At(InBody, JSONPointer(member)) }

// OnQuery marks e as refusing the query parameter name and returns e.
func (e *Error) OnQuery(name string) *Error { return e.At(InQuery, name) }

// OnPath marks e as refusing the path parameter name and returns e.
func (e *Error) OnPath(name string) *Error { return e.At(InPath, name) }

// At marks e as refusing the input name in in (for InBody a JSON Pointer,
// see JSONPointer) and returns e.
func (e *Error) At(in In, name string) *Error {
	e.In, e.Input = in, name
	return e
}

// WithInput returns err marked as refusing the input name in in (for
// InBody a JSON Pointer, see JSONPointer): a copy of the first *Error in
// its chain (with its cause), which is not changed; an err that carries
// none, or nil, is returned as it is.
// An input marked already is kept: the error that named it knows better.
func WithInput(err error, in In, name string) error {
	var e *Error
	if !errors.As(err, &e) || e.In != "" {
		return err
	}
	c := *e
	return c.At(in, name)
}

// ErrorInput returns where the input err refuses is and its name (see
// Error), or "" and "" when err names none.
func ErrorInput(err error) (In, string) {
	var e *Error
	if errors.As(err, &e) {
		return e.In, e.Input
	}
	return "", ""
}

// JSONPointer returns the JSON Pointer (RFC 6901) to the member reached by
// tokens, from the body's top: ("permits", "0") is "/permits/0".
func JSONPointer(tokens ...string) string {
	var b strings.Builder
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(t))
	}
	return b.String()
}

// Error implements error.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a client-safe formatted message.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of the first *Error in err's chain, or CodeInternal.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// Fault reports whether err is the server's own failure rather than an
// answer to the request: an internal error, or an unavailable one that
// carries a cause (Err), such as a key the server cannot read. HTTP packages
// log a fault with its cause; a transaction it happens in is rolled back.
func Fault(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return err != nil
	}
	return e.Code == CodeInternal || e.Code == CodeUnavailable && e.Err != nil
}

// ErrorMessage returns the client-safe message of err; "internal error" unless
// err carries an *Error.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// Account is a person (or operator) who logs in.
type Account struct {
	ID                string
	Username          string
	Email             string
	PasswordHash      string
	TwoFactorRequired bool // SPEC §3.1: login asks for the second step
	Operator          bool
	// Suspended reports whether an operator suspended the account: it
	// cannot sign in, and no session or API key of it works, until an
	// operator lifts the suspension.
	Suspended bool
	CreatedAt time.Time
	// SessionEpoch moves on by one each time the account is signed out
	// everywhere (a password change does): only sessions of the current
	// epoch authenticate.
	SessionEpoch int64
}

// FactorType names a kind of second factor.
type FactorType string

// Factor types (SPEC §2).
const (
	FactorTOTP  FactorType = "totp"
	FactorHOTP  FactorType = "hotp"
	FactorSMS   FactorType = "sms"   // a phone that receives codes by text message
	FactorEmail FactorType = "email" // an address that receives codes by email
	FactorPush  FactorType = "push"  // a device that approves sign-ins with its Ed25519 key
	// FactorWebAuthn is a security key or passkey (WebAuthn); its credential
	// is a SecurityKey.
	FactorWebAuthn FactorType = "webauthn"
)

// SendsCodes reports whether factors of type t receive a code sent by the
// server (SMS, email) rather than make one themselves (TOTP, HOTP).
func (t FactorType) SendsCodes() bool { return t == FactorSMS || t == FactorEmail }

// FactorStatus is pending until a code confirms enrolment.
type FactorStatus string

// Factor statuses.
const (
	FactorPending FactorStatus = "pending"
	FactorActive  FactorStatus = "active"
)

// Factor is one enrolled authenticator of an account.
type Factor struct {
	ID        string
	AccountID string
	Type      FactorType
	Label     string
	Status    FactorStatus
	Secret    Secret // plaintext, in memory only; of an sms or email factor, its phone number (E.164) or address
	// Hint is an sms or email factor's phone number or address, masked to
	// be shown ("+44 •••• ••0123", "a•••@example.com"); set by the service.
	Hint string
	// Unavailable is, when set, why the factor cannot be used now: an sms
	// factor whose region the server no longer texts, or an sms or email
	// factor whose destination the server cannot read (then without a
	// Hint). Set by the service with Hint.
	Unavailable string
	// SecretKeyID and SealedSecret are the secret as stored: AES-256-GCM under
	// data key SecretKeyID, bound to this factor row.
	SecretKeyID  string
	SealedSecret []byte
	Algorithm    string // SHA1, SHA256, SHA512
	Digits       int
	Period       time.Duration
	LastStep     int64 // last accepted TOTP step (or HOTP counter); -1 when none
	Drift        int64 // learnt clock drift in steps (RFC 6238 §6)
	CreatedAt    time.Time
	ConfirmedAt  *time.Time
	LastUsedAt   *time.Time
	// Passkey reports whether a webauthn factor is a passkey: registered as
	// a discoverable credential with user verification, so that it signs
	// in without username and password, and is a second factor as well.
	Passkey bool
	// DamagedAt is when a code was last checked against this TOTP or HOTP
	// factor and its secret, whose data key is held, did not decrypt
	// (damaged: bit rot, a bad restore, tampering); nil while none was
	// found. Such a factor is listed Unavailable until it is removed, or
	// until its secret opens again (its row or the key file put back from
	// a backup), which clears the mark.
	DamagedAt *time.Time
	// PendingSessionID is, for a pending factor, the session that started
	// its setup, which alone is shown its secret and may finish or cancel
	// it. "" when not known (set up before it was recorded, or, for a push
	// device, security key, phone or address, before theirs was recorded
	// too) and once the factor is active.
	PendingSessionID string
}

// Secret is key material that must never be printed or logged.
type Secret []byte

// String implements fmt.Stringer without revealing the secret.
func (Secret) String() string { return "[redacted]" }

// GoString implements fmt.GoStringer without revealing the secret.
func (Secret) GoString() string { return "[redacted]" }

// Session is a logged-in client. Only the hash of its token is stored.
type Session struct {
	ID            string
	AccountID     string
	TokenHash     []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
	ElevatedUntil time.Time // zero for a password-only session (SPEC §3.1)
	Epoch         int64     // the account's SessionEpoch when its password was checked
	// PreviousTokenHash is the hash of the token the session had before
	// its last renewal, and RenewedAt when that was (zero if never): the
	// pages renew a session's cookie token as it is elevated.
	PreviousTokenHash []byte
	RenewedAt         time.Time
}

// Login is a login transaction waiting for its second step.
type Login struct {
	// ID is the key the login is stored under: a keyed hash of the id
	// its client holds, never that id, which the database never sees.
	ID        string
	AccountID string
	CreatedAt time.Time
	ExpiresAt time.Time
	Used      bool
	Epoch     int64 // the account's SessionEpoch when the password was checked
}

// AuditEvent is one entry of the audit log (SPEC §1 story 10).
type AuditEvent struct {
	ID        int64
	AccountID string
	Type      string
	At        time.Time
	Source    string // client address
	UserAgent string
	Detail    string // the real cause, never a secret
	// SessionID is the session the event made (a login's, or the one a
	// password change goes on with); "" for other events. It names the
	// session, and is no credential: a session's token is its ID and a
	// secret.
	SessionID string
	// ByOperator reports whether an operator's action on the account made
	// the event: Source and UserAgent are the operator's, which the
	// account's holder is not shown (README "Audit log and operations").
	ByOperator bool
	// HolderDetail is Detail as the account's holder reads it, when Detail
	// names an operator ("by an operator" for "by operator carol"); "" when
	// the holder reads Detail as it is.
	HolderDetail string
	// ActorID is the account of the operator whose action on another
	// account (or on none) made the event, whose Source and UserAgent the
	// event holds; "" when they are the account's own, or no one's. Closing
	// the operator's account scrubs them here too (README "Closing an
	// account"). Events recorded before migration 0071 have none.
	ActorID string
}

// EventQuery selects audit events (SPEC §1 story 10): those of account
// AccountID, or of every account when it is ""; of the given Types only,
// when there are any; at most Limit of them. A page is either newest first
// with ids below Before (0: from the newest), or, with After set, oldest
// first with ids above After (0: from the oldest), so that a reader who
// polls by the last id seen gets each new event once.
type EventQuery struct {
	AccountID string
	Types     []string
	Before    int64
	After     int64
	// Forward reports whether After is set: the page runs forward from it.
	Forward bool
	Limit   int
}

// Method names a way to pass the second step (SPEC §3.1).
type Method string

// Methods of the second step.
const (
	MethodTOTP         Method = "totp"
	MethodHOTP         Method = "hotp"
	MethodSMS          Method = "sms"
	MethodEmail        Method = "email"
	MethodRecoveryCode Method = "recovery_code"
	MethodPaperKey     Method = "paper_key"
	MethodPush         Method = "push"
	MethodWebAuthn     Method = "webauthn" // an assertion signed by a security key
	MethodSSHKey       Method = "ssh_key"  // a challenge signed with a registered SSH key (SPEC §1 story 4)
)

// SentCode is a one-time code sent to an sms or email factor (SPEC §2): only
// a keyed hash of it is stored. It is good for Scope only (a login, a
// session's elevation, or confirming the factor), until ExpiresAt, for
// ChecksLeft more checks; sending another for the factor replaces it.
type SentCode struct {
	FactorID   string
	AccountID  string
	Method     Method // sms or email
	Scope      string // "login:" and a Login's ID (its key), "elevate:SESSION", "confirm"
	Hash       []byte
	ChecksLeft int
	CreatedAt  time.Time
	ExpiresAt  time.Time
	// RequesterHash is the keyed hash of the secret of whoever asked for a
	// code of a login or an elevation: only that secret sends the factor
	// another code for the scope while this one lives. Nil for codes of
	// other scopes, which any new code replaces.
	RequesterHash []byte
}

// Activation is what confirming a pending factor writes, all or nothing
// (the store does it in one transaction).
type Activation struct {
	AccountID string
	FactorID  string
	Step      int64
	Drift     int64
	Now       time.Time
	// When the account has no other active factor, these are stored too, the
	// old ones replaced, and two-factor becomes required (SPEC §3.1).
	RecoveryHashes [][]byte
	PaperKeyHash   []byte
}

// SecondStep is what the second step of a login reads, in one query: the
// login, its account's active TOTP factors, the account's code throttle, and
// which of the factors' own throttles hold anything.
type SecondStep struct {
	Login       Login
	Factors     []Factor // active TOTP factors, oldest first, without label; with when each was confirmed and last used
	Failures    int      // consecutive failed codes of the account
	LockedUntil time.Time
	// Counted holds the IDs of those factors whose own throttle (the
	// failures of second steps that named the factor) holds failures or a
	// lock; nil when none does, as nearly always.
	Counted []string
}

// StepKeys names the throttles the second step of a login reads: the
// account's is Prefix + account id + Suffix; a factor's own is Prefix +
// account id + FactorInfix + factor id. When Bucket is set, the second step
// first takes a token from that rate bucket (the request's source address),
// and reads and writes nothing more when there is none (RateLimited).
type StepKeys struct {
	Prefix, Suffix, FactorInfix string
	Bucket                      *Bucket
}

// Bucket is a token bucket to take one token from at Now: it holds at most
// Burst tokens and gains Rate a second.
type Bucket struct {
	Key         string
	Burst, Rate float64
	Now         time.Time
}

// Verdict is what the second step decides on what it read: complete the
// login (Complete), count a wrong code (Fail), or, with neither, write nothing.
type Verdict struct {
	Complete *Completion
	Fail     *Failure
}

// Completion is a second step whose code was right, stored in one write that
// holds only if nothing read for it has changed meanwhile. The account's code
// throttle had Seen failures and no lock when read; the completion clears it.
type Completion struct {
	LoginID  string
	FactorID string
	Step     int64 // the accepted step: after the factor's last one
	Drift    int64
	Seen     int
	Session  Session
	Event    AuditEvent
	Now      time.Time
}

// Failure is a wrong code: it takes the next failure slot of the account's
// code throttle, which had Seen failures and no lock when read, locks the
// throttle until LockUntil (zero: no lock), and stores Event, all in one write.
type Failure struct {
	Seen      int
	LockUntil time.Time
	Event     AuditEvent
	Now       time.Time
}

// Outcome is what became of a Verdict.
type Outcome int

// Outcomes of a Verdict.
const (
	Completed     Outcome = iota // step, login, throttle, session and event are stored
	StepUsed                     // the factor accepted this step or a later one meanwhile
	LoginGone                    // the login expired or was completed meanwhile
	ThrottleMoved                // another attempt counted against the throttle meanwhile
	Counted                      // the failure took its slot and its event is stored
	Unwritten                    // the verdict asked for no write
	RateLimited                  // StepKeys.Bucket had no token: nothing was decided or written
)

// TwoFactorReset is an operator's reset of an account's two-factor, waiting
// until Due so that the holder, told at once, can stop a reset they did not
// ask for (SPEC §1 story 4). When due, the account's authenticators,
// recovery codes and paper key are removed and its sessions end.
type TwoFactorReset struct {
	AccountID   string
	RequestedBy string // who asked, as the audit log names them ("operator carol")
	RequestedAt time.Time
	Due         time.Time
	// Withdrawing is true when one of the account's ways in passed a
	// check after the request: the reset is withdrawn when due, nothing
	// removed. Set by the reads that show a reset, not by those that carry
	// it out.
	Withdrawing bool
}

// ResetOutcome is what became of a due TwoFactorReset.
type ResetOutcome int

// Outcomes of carrying out a TwoFactorReset.
const (
	ResetNotDue    ResetOutcome = iota // no reset of the account is due: nothing written
	ResetDone                          // the factors, recovery codes and paper key are gone
	ResetWithdrawn                     // a factor or recovery code passed a check after the request: the reset is dropped, nothing else changed
)

// Counter is a throttle counter: consecutive failures under a key, and the
// lock the next attempt meets.
type Counter struct {
	Key         string
	Failures    int
	LockedUntil time.Time
}

// Permit allows an API key some actions on the resources of one service that
// its pattern matches (SPEC §1 story 6), for example TXT records at
// _acme-challenge in example.com: {"dns", "example.com/_acme-challenge/TXT",
// ["write"]}. internal/permit parses, matches and compares them.
type Permit struct {
	Service  string   // "dns", "account" or "keys"
	Resource string   // a pattern of the service's resources, segments split by "/"
	Actions  []string // "read", "write"; for "dns" also "add", "replace", "delete", the parts of write
}

// APIKey is a credential for scripts: it acts for its account, but only as
// far as its permits allow, and never on the account's two-factor settings
// (SPEC §1 story 6). Only a keyed hash of its secret is stored.
type APIKey struct {
	ID         string
	AccountID  string
	Name       string
	SecretHash []byte
	Permits    []Permit
	CreatedAt  time.Time
	ExpiresAt  time.Time // zero: it does not expire
	LastUsedAt time.Time // zero: never used
	ParentID   string    // the key that made this one; "" when a person made it
	// SecondFactor reports whether the key was made with a second factor:
	// by a session that passed one, or by a key that was. A team that
	// requires two-factor refuses keys made without.
	SecondFactor bool
}

// Expired reports whether the key has expired at now.
func (k APIKey) Expired(now time.Time) bool { return !k.ExpiresAt.IsZero() && !now.Before(k.ExpiresAt) }

// APIToken is a short-lived bearer token that an API key exchanged its
// secret for; only its keyed hash is stored.
type APIToken struct {
	ID        string
	KeyID     string
	TokenHash []byte
	ExpiresAt time.Time
}

// HardwareToken is a hardware token (a key fob, a YubiKey's OATH slot) whose
// seed an operator imported from its vendor's file (SPEC §2 HOTP: PSKC, OATH
// CSV), until its holder claims it as an authenticator of their account.
type HardwareToken struct {
	Serial       string // printed on the token; unique
	Manufacturer string
	Type         FactorType // hotp or totp
	Algorithm    string     // SHA1, SHA256, SHA512
	Digits       int
	Period       time.Duration // TOTP; zero for HOTP
	Counter      int64         // HOTP: the counter of the token's next code
	Secret       Secret        // plaintext, in memory only
	// SecretKeyID and SealedSecret are the secret as stored, sealed like a
	// factor's but bound to the token's serial; empty once the token is
	// claimed, when the secret lives on only in its factor.
	SecretKeyID  string
	SealedSecret []byte
	// SecretDigest is a keyed hash of the secret, stored at import and kept
	// when the token is claimed, so that the seed of a token in use is
	// known again when imported under another serial.
	SecretDigest []byte
	ImportedAt   time.Time
	ClaimedBy    string // the id of the factor made from it; "" while unclaimed
	ClaimedAt    *time.Time
}

// Claimed reports whether the token has been claimed.
func (t HardwareToken) Claimed() bool { return t.ClaimedBy != "" }

// TokenClaim is what claiming a hardware token writes, all or nothing (the
// store does it in one transaction): the token marked claimed by Factor and
// its sealed secret cleared, only while it is unclaimed; Factor stored, with
// the secret sealed for its own row; and Factor activated as Activation says.
type TokenClaim struct {
	Serial     string
	Factor     Factor // pending until Activation
	Activation Activation
}

// Zone is a DNS zone that Twofold serves and that its owner manages through
// the DNS API (SPEC §3 "DNS API"). Operators create and remove zones; names
// are unique on the server, lower case, without the trailing dot.
type Zone struct {
	Name      string
	AccountID string
	// TeamID is the team the zone is shared with, "" for none: its members
	// reach the zone as their roles allow.
	TeamID string
	// Serial is the SOA serial (RFC 1035 §3.3.13): it moves on with every
	// change of the zone's records.
	Serial    uint32
	CreatedAt time.Time
}

// Record is one DNS resource record of a zone.
type Record struct {
	Host string // relative to the zone, lower case; "@" for the apex
	Type string // upper case: "A", "TXT", "CAA"
	TTL  uint32 // seconds
	Data string // the RDATA in canonical presentation form (RFC 1035 §5.1), names fully qualified
}

// RecordSetSize is what a zone holds at one name of one type: how many
// records, and the bytes of their data.
type RecordSetSize struct {
	Host  string
	Type  string
	Count int
	Bytes int64
}

// Role is what a member may do in a team (SPEC §1 story 6).
type Role string

// Roles of team members, from most to least power.
const (
	// RoleOwner manages everything: members of every role, the team's
	// two-factor policy, its name, and the team itself.
	RoleOwner Role = "owner"
	// RoleAdmin manages members other than owners, and the team's resources.
	RoleAdmin Role = "admin"
	// RoleOps changes the team's resources (the records of its zones).
	RoleOps Role = "ops"
	// RoleBilling sees the team and its members, not its resources.
	RoleBilling Role = "billing"
	// RoleReadOnly reads the team's resources and changes nothing.
	RoleReadOnly Role = "read-only"
)

// Roles lists every role, from most to least power.
var Roles = []Role{RoleOwner, RoleAdmin, RoleOps, RoleBilling, RoleReadOnly}

// Valid reports whether r is one of Roles.
func (r Role) Valid() bool {
	for _, v := range Roles {
		if r == v {
			return true
		}
	}
	return false
}

// ManagesMembers reports whether the role may add, change and remove members.
func (r Role) ManagesMembers() bool { return r == RoleOwner || r == RoleAdmin }

// WritesResources reports whether the role may change the team's resources.
func (r Role) WritesResources() bool { return r == RoleOwner || r == RoleAdmin || r == RoleOps }

// ReadsResources reports whether the role may read the team's resources.
func (r Role) ReadsResources() bool { return r.WritesResources() || r == RoleReadOnly }

// Team is a group of accounts sharing resources, each member with a role.
type Team struct {
	ID   string
	Name string
	// RequireTwoFactor reports whether every member must pass a second
	// factor: members' logins ask for it, and a member without one reaches
	// none of the team's resources (SPEC §1 story 6).
	RequireTwoFactor bool
	CreatedAt        time.Time
}

// TeamMember is an account's membership of a team.
type TeamMember struct {
	TeamID    string
	AccountID string
	Username  string
	Role      Role
	// TwoFactor reports whether the member's account has an active factor.
	TwoFactor bool
	CreatedAt time.Time
}

// Membership is a team as one of its members sees it: the team and the
// member's role in it.
type Membership struct {
	Team Team
	Role Role
}

// TeamInvitation is an offer to join a team with a role, made by one of its
// managers. Nobody becomes a member without accepting one: an invitation
// grants nothing until its invitee accepts it, and it lapses at ExpiresAt.
type TeamInvitation struct {
	ID       string
	TeamID   string
	TeamName string
	// RequireTwoFactor is the team's policy, which the invitee agrees to by
	// accepting.
	RequireTwoFactor bool
	// Username is the invitee's name as the manager typed it. AccountID is
	// the account of that name, "" when none had it: such an invitation
	// reaches nobody and lapses, and the team's managers cannot tell it
	// from any other.
	Username  string
	AccountID string
	Role      Role
	// InvitedBy is the account of the manager who made it; InvitedByName
	// its username.
	InvitedBy     string
	InvitedByName string
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// TeamSummary is a team as an operator's list of every team shows it: its
// counts and its owners, not its members.
type TeamSummary struct {
	Team    Team
	Members int
	// WithoutFactor counts the members whose account has no active factor:
	// those a team that requires two-factor keeps from its resources.
	WithoutFactor int
	Zones         int          // the DNS zones shared with the team
	Owners        []TeamMember // by username
}

// SSHKey is an SSH public key an account holder registered as a way back in
// when the authenticators are lost (SPEC §1 story 4): a challenge signed
// with it by `ssh-keygen -Y sign` passes the second step. It is pending until
// a signature over a challenge proves its holder has the private key.
type SSHKey struct {
	ID          string
	AccountID   string
	Label       string
	Type        string // "ssh-ed25519", "ecdsa-sha2-nistp256", "ssh-rsa"…
	Fingerprint string // "SHA256:…"
	PublicKey   string // authorized_keys form without comment
	Status      FactorStatus
	CreatedAt   time.Time
	ConfirmedAt *time.Time
	LastUsedAt  *time.Time
}

// SSHChallenge is a text for an SSH key to sign, good once for Scope (a
// login, a session's elevation, or confirming a pending key) until
// ExpiresAt. A new challenge for a scope replaces the one before.
type SSHChallenge struct {
	Scope     string // "login:" and a Login's ID (its key), "elevate:SESSION", "ssh-key:KEY"
	AccountID string
	Text      string
	CreatedAt time.Time
	ExpiresAt time.Time
}

// PasswordReset is a mailed link that lets an account holder who forgot
// their password choose a new one. Only its token's keyed hash is kept; it
// works until ExpiresAt. An account keeps a few: asking again leaves the
// links already mailed working, and using any one voids them all.
type PasswordReset struct {
	ID        string // the token's first part, which finds the row
	AccountID string
	TokenHash []byte
	CreatedAt time.Time
	ExpiresAt time.Time
}

// EmailChange is a new email address waiting for its holder to type the
// code mailed to it; only then does it replace the account's address.
type EmailChange struct {
	AccountID  string
	Email      string
	CodeHash   []byte
	ChecksLeft int
	CreatedAt  time.Time
	ExpiresAt  time.Time
}

// MailedCode names the stored code or link a mail carries, so that the
// mail is sent only while that code still works: one used, replaced or
// voided (an account closed or suspended, a factor removed) is dropped
// unsent. Make one with SentCode.Mailed, PasswordReset.Mailed,
// EmailChange.Mailed or TeamInvitation.Mailed.
type MailedCode struct {
	Kind  MailedCodeKind
	Key   string // the SentCode's FactorID, the PasswordReset's ID, the EmailChange's AccountID or the TeamInvitation's ID
	Scope string // the SentCode's Scope; empty for the others
	Hash  []byte // the code's or token's keyed hash, as stored
}

// MailedCodeKind says which table a MailedCode refers to.
type MailedCodeKind string

// The kinds of MailedCode.
const (
	MailedSentCode      MailedCodeKind = "sent-code"
	MailedPasswordReset MailedCodeKind = "password-reset"
	MailedEmailChange   MailedCodeKind = "email-change"
	// MailedTeamInvitation is the notice of a team invitation to its
	// invitee. It carries no code and is sent whatever became of the
	// invitation; the kind tells it apart from other notices (see
	// notify.Unobserved).
	MailedTeamInvitation MailedCodeKind = "team-invitation"
)

// Mailed names c for the mail that carries it.
func (c SentCode) Mailed() MailedCode {
	return MailedCode{Kind: MailedSentCode, Key: c.FactorID, Scope: c.Scope, Hash: c.Hash}
}

// Mailed names r for the mail that carries its link.
func (r PasswordReset) Mailed() MailedCode {
	return MailedCode{Kind: MailedPasswordReset, Key: r.ID, Hash: r.TokenHash}
}

// Mailed names c for the mail that carries its code.
func (c EmailChange) Mailed() MailedCode {
	return MailedCode{Kind: MailedEmailChange, Key: c.AccountID, Hash: c.CodeHash}
}

// Mailed names v for the mail that tells its invitee of it.
func (v TeamInvitation) Mailed() MailedCode {
	return MailedCode{Kind: MailedTeamInvitation, Key: v.ID}
}

// ReplacedEmail is an address of an account that an operator replaced
// with another, kept for a while so that a reset of two-factor asked for
// meanwhile is told to it too.
type ReplacedEmail struct {
	AccountID  string
	Email      string
	ReplacedAt time.Time
}

// LiveSession is a session that still works, with the audit event that
// made it (where from, with what): what its holder sees in the list of
// sessions. Never its token.
type LiveSession struct {
	Session Session
	Made    AuditEvent
}

// Webhook is an operator's endpoint that audit events are pushed to
// (README "Webhooks"): a batch of events per POST, signed with its secret,
// in commit order, none skipped.
type Webhook struct {
	ID string
	// URL is where deliveries go, opened from SealedURL: it often holds a
	// token of the receiver's in its path or query, so it is stored sealed
	// like the secret (README "Security at rest"). "" when it cannot be
	// opened (URLUnavailable).
	URL string
	// URLKeyID and SealedURL are the URL as stored: sealed by the keyring,
	// bound to its row. A row stored before migration 0089 has neither
	// until a server seals it at start-up, and its URL in the clear.
	URLKeyID  string
	SealedURL []byte
	// URLUnavailable is, when set, why URL could not be opened (its key
	// cannot be read, or the stored copy does not decrypt): the webhook is
	// listed without it, and not delivered to.
	URLUnavailable string
	// URLShortened reports whether URL shows only the endpoint's scheme
	// and host, as it does to a caller who may read webhooks but not
	// change them: a path or query may hold a token of the receiver's.
	URLShortened bool
	Events       []string // event types and prefixes ("login.*") it receives; none: every event
	Description  string
	CreatedAt    time.Time
	CreatedBy    string // the operator account that made it, or last turned it on
	// CreatedByKey is the API key with which CreatedBy made it or last
	// turned it on; "" for a session. Delivery stops once that key, or a
	// key it was made from, is revoked or expires (README "Webhooks").
	CreatedByKey string
	// The secret signs each delivery; sealed by the keyring, never shown
	// after creation or rotation.
	SecretKeyID  string
	SealedSecret []byte
	Secret       []byte // opened, only while delivering; never stored or shown
	// The secret a rotation replaced still signs deliveries, beside the
	// new one, until PreviousSecretUntil (zero: there is none); sealed
	// like the secret, bound to its row, never shown.
	PreviousSecretKeyID  string
	PreviousSealedSecret []byte
	PreviousSecretUntil  time.Time
	// DisabledAt is when delivery stopped (after failing too long, or
	// once who answers for it may no longer); zero while it is on.
	DisabledAt time.Time
	// DisabledReason is why, a WebhookDisabled… ("" while it is on). The
	// status's LastError stays the last delivery's failure.
	DisabledReason string
	Cursor         WebhookCursor // where delivery stands in the audit log
	Status         WebhookStatus
}

// Why a webhook was disabled (Webhook.DisabledReason, README "Webhooks").
const (
	WebhookDisabledFailing     = "failing"            // its deliveries failed in a row too long
	WebhookDisabledNotOperator = "owner-not-operator" // the operator who answers for it is no operator any more
	WebhookDisabledKeyRevoked  = "key-revoked"        // the API key that answers for it, or one above it, was revoked
	WebhookDisabledKeyExpired  = "key-expired"        // that key, or one above it, has expired
)

// WebhookStatus is how a webhook's deliveries have gone.
type WebhookStatus struct {
	LastDeliveredAt time.Time // the last delivery a receiver accepted
	LastAttemptAt   time.Time
	LastError       string    // the class of the last failure ("timeout", "status-500", …); "" after a success
	Failures        int       // failed attempts in a row
	FailingSince    time.Time // the first of those failures
	NextAttemptAt   time.Time // the next try after a failure; zero: at once
}

// WebhookCursor is a webhook's place in the audit log: every event up to
// it, in (TxID, ID) order, has been delivered. On SQLite TxID stays 0 and
// ID orders the log; on PostgreSQL events are taken in the order of their
// transactions' ids (see the store). Low and the pending pair bound the
// reader's scan by event id.
type WebhookCursor struct {
	TxID, ID    int64
	Low         int64 // every event with an id up to Low is delivered
	PendingLow  int64 // becomes Low once TxID reaches PendingXmax
	PendingXmax int64
}
