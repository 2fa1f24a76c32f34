package twofold

import "time"

// SecurityKey is the WebAuthn credential of an active webauthn factor
// (SPEC §2 "security key"): what the key registered, as the relying party
// must keep it (WebAuthn Level 3 §4 "credential record"). None of it is
// secret: the private key never leaves the authenticator.
type SecurityKey struct {
	FactorID     string
	AccountID    string
	CredentialID []byte // unique on the server (WebAuthn §7.1 step 26)
	PublicKey    []byte // COSE_Key
	// SignCount is the authenticator's signature counter at its last use; an
	// assertion with a count not above it (unless both are 0) is a sign of a
	// cloned key, and is refused.
	SignCount         uint32
	AAGUID            []byte   // the authenticator model, 16 bytes (all zero with "none" attestation from some keys)
	Transports        []string // "usb", "nfc", "ble", "internal", "hybrid"
	Flags             byte     // authenticator data flags as last seen: UP 0x01, UV 0x04, BE 0x08, BS 0x10
	AttestationType   string   // "none", "basic_full", …
	AttestationFormat string   // "none", "packed", …
	// Discoverable reports whether the credential was registered as a
	// client-side discoverable credential (a resident key, WebAuthn §6.2.2):
	// asked for as required and not denied by the client's credProps output.
	Discoverable bool
	// UserVerified reports whether the authenticator verified the user (a PIN
	// or biometric, the UV flag) when the credential was registered.
	UserVerified bool
}

// Passkey reports whether k can sign in on its own, without username and
// password: a discoverable credential registered with user verification.
func (k SecurityKey) Passkey() bool { return k.Discoverable && k.UserVerified }

// Authenticator data flags (WebAuthn §6.1) kept in SecurityKey.Flags.
const (
	FlagUserPresent    byte = 0x01
	FlagUserVerified   byte = 0x04
	FlagBackupEligible byte = 0x08
	FlagBackupState    byte = 0x10
)

// Ceremony is a WebAuthn ceremony begun and not yet finished: the challenge
// sent to the browser and the relying party's session data, stored so that
// any instance can finish it (SPEC §4). It is good for Scope only (one
// factor's registration, one login, one session's elevation), until
// ExpiresAt, and once: taking it deletes it. Beginning another in the same
// scope replaces it, except a login's or an elevation's while it lives.
type Ceremony struct {
	Scope     string // "register:FACTOR", "login:LOGIN", "elevate:SESSION"
	AccountID string
	Challenge string // base64url, as in the client data
	Session   []byte // the relying party's session data, JSON
	CreatedAt time.Time
	ExpiresAt time.Time
	// Options are the options for the browser it began with, JSON, kept
	// for a login's or an elevation's ceremony, which is answered again
	// while it lives (nil for others).
	Options []byte
}

// PasskeyLogin is a sign-in with a passkey begun and not yet finished: no
// username, no password, a WebAuthn assertion with an empty allowCredentials
// list whose user handle names the account. Its ID is random and unguessable,
// known only to the client that began it; it is good until ExpiresAt, and
// once: finishing it, whatever the outcome, deletes it.
type PasskeyLogin struct {
	ID        string
	Challenge string // base64url, as in the client data
	Session   []byte // the relying party's session data, JSON
	CreatedAt time.Time
	ExpiresAt time.Time
	// Options are the options for the browser it began with, JSON, kept
	// for a login's or an elevation's ceremony, which is answered again
	// while it lives (nil for others).
	Options []byte
}
