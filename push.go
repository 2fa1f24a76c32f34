package twofold

import "time"

// PushDevice is the device behind a push factor (SPEC §2 "push approval"):
// until it enrols, a keyed hash of the one-time enrolment token and the
// challenge it must sign; then its Ed25519 public key, with which every
// request it makes is signed.
type PushDevice struct {
	FactorID       string
	AccountID      string
	EnrolHash      []byte    // keyed hash of the enrolment token; nil once enrolled
	EnrolChallenge string    // random, signed by the device with its new key to prove possession
	EnrolExpiresAt time.Time // when the enrolment token stops working
	PublicKey      []byte    // Ed25519, 32 bytes; nil until enrolled
	EnrolledAt     *time.Time
}

// PushStatus is where a push challenge stands.
type PushStatus string

// Push challenge statuses. Only pending moves, and only once: to approved
// or denied by the device's answer, or to replaced by a newer challenge of
// the same login; an approved one moves to used when the login completes.
// A pending or approved one moves to ended when the login or session it
// was for ends (signed out everywhere, suspended, reset).
const (
	PushPending  PushStatus = "pending"
	PushApproved PushStatus = "approved"
	PushDenied   PushStatus = "denied"
	PushReplaced PushStatus = "replaced"
	PushUsed     PushStatus = "used"
	PushEnded    PushStatus = "ended"
)

// PushChallenge is a request sent to a push device to approve a sign-in or
// a session's elevation, with what the device shows: what for, from where,
// when. The two-digit number that the person sees on the sign-in screen and
// types on the device (number matching) is stored only as a keyed hash.
type PushChallenge struct {
	ID         string
	FactorID   string
	AccountID  string
	Scope      string // "login:" and the login's ID (its key), or "elevate:SESSION", as a sent code's
	NumberHash []byte
	Status     PushStatus
	Source     string // the client address that asked for the sign-in
	UserAgent  string
	CreatedAt  time.Time
	ExpiresAt  time.Time
	AnsweredAt *time.Time
	Cause      string // why it was denied: "denied on the device", "wrong number"
	// RequesterHash is the keyed hash of the secret that only the push's
	// requester was given: its approval is used only with that secret.
	RequesterHash []byte
}
