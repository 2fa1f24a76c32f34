// Package securitykey is the WebAuthn relying party of Twofold's security
// keys (SPEC §2 "security key"): it begins and finishes registration and
// assertion ceremonies with github.com/go-webauthn/webauthn and turns their
// results into twofold.SecurityKey records. The caller owns storage: it
// keeps the session data of a ceremony between begin and finish, and the
// credentials; this package keeps nothing. No SQL, no HTTP.
package securitykey

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/twofold/twofold"
)

// Config is the relying party: its ID (a domain, never an IP address), its
// name shown by browsers, and the origins its pages are served from.
type Config struct {
	RPID    string
	RPName  string
	Origins []string      // "https://example.com", "http://localhost:8080"
	Timeout time.Duration // how long the browser waits for the key; the ceremony's expiry on the server
}

// Validate reports every problem with c: an RP ID that is no domain, an
// origin that is no http(s) origin, or one whose host is not the RP ID or
// below it (WebAuthn §5.1.3: a browser refuses such an RP ID).
func (c Config) Validate() error {
	var errs []error
	if err := protocol.ValidateRPID(c.RPID); err != nil || c.RPID == "" || strings.ContainsAny(c.RPID, ":/") {
		errs = append(errs, fmt.Errorf("relying party ID %q: want a domain such as example.com, not an IP address or URL", c.RPID))
	}
	if len(c.Origins) == 0 {
		errs = append(errs, errors.New("want at least one origin, such as https://example.com"))
	}
	for _, o := range c.Origins {
		if err := checkOrigin(o, c.RPID); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func checkOrigin(origin, rpID string) error {
	u, err := url.Parse(origin)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return fmt.Errorf("origin %q: want scheme://host[:port], such as https://example.com", origin)
	}
	host := strings.ToLower(u.Hostname())
	if u.Scheme == "http" && host != "localhost" && !strings.HasSuffix(host, ".localhost") {
		return fmt.Errorf("origin %q: browsers offer WebAuthn over plain http only on localhost; use https", origin)
	}
	if net.ParseIP(host) != nil {
		return fmt.Errorf("origin %q: browsers refuse WebAuthn on an IP address; use a host name", origin)
	}
	if rp := strings.ToLower(rpID); host != rp && !strings.HasSuffix(host, "."+rp) {
		return fmt.Errorf("origin %q: its host is neither the relying party ID %q nor below it", origin, rpID)
	}
	return nil
}

// Origin returns origin in the form the client data carries it:
// scheme://host[:port], without a trailing slash.
func Origin(origin string) string { return strings.TrimSuffix(origin, "/") }

// RelyingParty runs WebAuthn ceremonies for one relying party.
type RelyingParty struct {
	w   *webauthn.WebAuthn
	cfg Config
}

// New returns the relying party c describes.
func New(c Config) (*RelyingParty, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	if c.Timeout <= 0 {
		c.Timeout = 5 * time.Minute
	}
	var origins []string
	for _, o := range c.Origins {
		origins = append(origins, Origin(o))
	}
	// A second factor after a password: user presence (a touch) is what
	// counts, so user verification (a PIN) is not asked for; no attestation
	// (no metadata service to judge it by, and it would identify the key's
	// model); a key that keeps no resident credential is fine.
	timeout := webauthn.TimeoutConfig{Timeout: c.Timeout, TimeoutUVD: c.Timeout}
	w, err := webauthn.New(&webauthn.Config{
		RPID:                  c.RPID,
		RPDisplayName:         c.RPName,
		RPOrigins:             origins,
		AttestationPreference: protocol.PreferNoAttestation,
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey:      protocol.ResidentKeyRequirementDiscouraged,
			UserVerification: protocol.VerificationDiscouraged,
		},
		Timeouts: webauthn.TimeoutsConfig{Login: timeout, Registration: timeout},
	})
	if err != nil {
		return nil, fmt.Errorf("webauthn relying party: %w", err)
	}
	return &RelyingParty{w: w, cfg: c}, nil
}

// Config returns the relying party's configuration.
func (rp *RelyingParty) Config() Config { return rp.cfg }

// User is the account a ceremony is for.
type User struct {
	Handle      []byte // the WebAuthn user handle: opaque, at most 64 bytes, no personal data
	Name        string // the username
	DisplayName string
	Keys        []twofold.SecurityKey // the account's active keys
}

type user struct {
	u     User
	creds []webauthn.Credential
}

func (u user) WebAuthnID() []byte                         { return u.u.Handle }
func (u user) WebAuthnName() string                       { return u.u.Name }
func (u user) WebAuthnDisplayName() string                { return u.u.DisplayName }
func (u user) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func newUser(u User) user {
	out := user{u: u}
	for _, k := range u.Keys {
		c := webauthn.Credential{
			ID: k.CredentialID, PublicKey: k.PublicKey, AttestationType: k.AttestationType, AttestationFormat: k.AttestationFormat,
			Flags:         webauthn.NewCredentialFlags(protocol.AuthenticatorFlags(k.Flags)),
			Authenticator: webauthn.Authenticator{AAGUID: k.AAGUID, SignCount: k.SignCount},
		}
		for _, t := range k.Transports {
			c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
		}
		out.creds = append(out.creds, c)
	}
	return out
}

// Begun is a ceremony begun: the options for the browser, {"publicKey":
// {…}} as navigator.credentials.create or get takes them once their
// base64url members are decoded; the challenge; and the session data to
// keep until the ceremony is finished.
type Begun struct {
	Options   json.RawMessage
	Challenge string
	Session   []byte
}

// BeginRegistration begins registering a new key for u; u's keys are
// excluded, so that a key registered already is not registered twice
// (WebAuthn §5.4 excludeCredentials). A passkey is asked for as a
// discoverable credential (residentKey "required") made with user
// verification (a PIN or biometric, "required"), and the client is asked
// to report whether it made one (the credProps extension, WebAuthn
// §10.1.3).
func (rp *RelyingParty) BeginRegistration(u User, passkey bool) (Begun, error) {
	wu := newUser(u)
	opts := []webauthn.RegistrationOption{webauthn.WithExclusions(webauthn.Credentials(wu.creds).CredentialDescriptors())}
	if passkey {
		required := true
		opts = append(opts, webauthn.WithAuthenticatorSelection(protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, RequireResidentKey: &required,
			UserVerification: protocol.VerificationRequired,
		}), webauthn.WithExtensions(webauthn.WithExtensionCredProps()))
	}
	creation, session, err := rp.w.BeginRegistration(wu, opts...)
	if err != nil {
		return Begun{}, fmt.Errorf("begin webauthn registration: %w", err)
	}
	return begun(creation, session)
}

// BeginLogin begins an assertion by one of u's keys, which the options
// list as allowCredentials.
func (rp *RelyingParty) BeginLogin(u User) (Begun, error) {
	if len(u.Keys) == 0 {
		return Begun{}, errors.New("begin webauthn login: the account has no security key")
	}
	assertion, session, err := rp.w.BeginLogin(newUser(u))
	if err != nil {
		return Begun{}, fmt.Errorf("begin webauthn login: %w", err)
	}
	return begun(assertion, session)
}

func begun(options any, session *webauthn.SessionData) (Begun, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return Begun{}, fmt.Errorf("webauthn options: %w", err)
	}
	sd, err := json.Marshal(session)
	if err != nil {
		return Begun{}, fmt.Errorf("webauthn session: %w", err)
	}
	return Begun{Options: o, Challenge: session.Challenge, Session: sd}, nil
}

// Registration is a parsed response of navigator.credentials.create.
type Registration struct {
	p *protocol.ParsedCredentialCreationData
}

// ParseRegistration parses the JSON of a PublicKeyCredential made by
// navigator.credentials.create.
func ParseRegistration(response []byte) (Registration, error) {
	p, err := protocol.ParseCredentialCreationResponseBytes(response)
	if err != nil {
		return Registration{}, errorOf("registration", err)
	}
	return Registration{p}, nil
}

// Challenge returns the challenge the response signed, as the client data carries it.
func (r Registration) Challenge() string { return r.p.Response.CollectedClientData.Challenge }

// FinishRegistration verifies a registration against the session data of
// its ceremony and returns the key's credential (without its factor and
// account ids). The registration of a passkey (as begun by
// BeginRegistration) is refused unless the authenticator verified the user
// and the client did not report a credential that is not discoverable.
func (rp *RelyingParty) FinishRegistration(u User, session []byte, r Registration, passkey bool) (twofold.SecurityKey, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(session, &sd); err != nil {
		return twofold.SecurityKey{}, fmt.Errorf("webauthn session: %w", err)
	}
	if passkey && sd.UserVerification != protocol.VerificationRequired {
		return twofold.SecurityKey{}, &Error{Reason: "registration refused: the ceremony was not begun for a passkey"}
	}
	c, err := rp.w.CreateCredential(newUser(u), sd, r.p)
	if err != nil {
		return twofold.SecurityKey{}, errorOf("registration", err)
	}
	k := twofold.SecurityKey{
		CredentialID: c.ID, PublicKey: c.PublicKey, SignCount: c.Authenticator.SignCount, AAGUID: c.Authenticator.AAGUID,
		Flags: byte(c.Flags.ProtocolValue()), AttestationType: c.AttestationType, AttestationFormat: c.AttestationFormat,
		UserVerified: r.p.Response.AttestationObject.AuthData.Flags.HasUserVerified(),
	}
	if props := r.p.ClientExtensionResults.CredProps; props != nil && props.RK != nil {
		k.Discoverable = *props.RK
	} else {
		// A client that does not report credProps made a discoverable
		// credential if, and only if, one was required: it fails the
		// ceremony when the authenticator cannot (WebAuthn §5.1.3 step 22).
		k.Discoverable = passkey
	}
	if passkey && !k.Passkey() {
		return twofold.SecurityKey{}, &Error{Reason: fmt.Sprintf("registration refused: not a passkey (discoverable %t, user verified %t)", k.Discoverable, k.UserVerified)}
	}
	if k.AAGUID == nil {
		k.AAGUID = []byte{}
	}
	for _, t := range c.Transport {
		k.Transports = append(k.Transports, string(t))
	}
	return k, nil
}

// Assertion is a parsed response of navigator.credentials.get.
type Assertion struct {
	p *protocol.ParsedCredentialAssertionData
}

// ParseAssertion parses the JSON of a PublicKeyCredential made by
// navigator.credentials.get.
func ParseAssertion(response []byte) (Assertion, error) {
	p, err := protocol.ParseCredentialRequestResponseBytes(response)
	if err != nil {
		return Assertion{}, errorOf("assertion", err)
	}
	return Assertion{p}, nil
}

// Challenge returns the challenge the assertion signed, as the client data carries it.
func (a Assertion) Challenge() string { return a.p.Response.CollectedClientData.Challenge }

// Use is a verified assertion: the key that signed it, the signature
// counter its authenticator data carried, the key's flags updated by them,
// and whether the counter did not move forward (a sign of a cloned key,
// WebAuthn §6.1.1).
type Use struct {
	FactorID     string
	SignCount    uint32
	Flags        byte
	CloneWarning bool
	Key          twofold.SecurityKey // the key as stored before this assertion
}

// FinishLogin verifies an assertion against the session data of its
// ceremony and u's keys, which are the account's keys now, not when the
// ceremony began: a key removed since then no longer verifies, and the
// ones left still do. (The session's allowCredentials list was taken at
// the beginning; the library refuses any assertion, even by a key still
// held, while that list names a credential the user no longer has, so the
// list is narrowed to u's keys first.)
func (rp *RelyingParty) FinishLogin(u User, session []byte, a Assertion) (Use, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(session, &sd); err != nil {
		return Use{}, fmt.Errorf("webauthn session: %w", err)
	}
	if len(sd.AllowedCredentialIDs) > 0 {
		var still [][]byte
		for _, id := range sd.AllowedCredentialIDs {
			for _, k := range u.Keys {
				if bytes.Equal(k.CredentialID, id) {
					still = append(still, id)
					break
				}
			}
		}
		// An empty list would let the library skip its check of the
		// credential against the list: refuse here instead.
		if len(still) == 0 {
			return Use{}, &Error{Reason: "assertion refused: none of the keys the challenge allowed is still the account's"}
		}
		sd.AllowedCredentialIDs = still
	}
	c, err := rp.w.ValidateLogin(newUser(u), sd, a.p)
	if err != nil {
		return Use{}, errorOf("assertion", err)
	}
	return useOf(u, c, a)
}

// useOf is the Use of u's key that verified a as credential c.
func useOf(u User, c *webauthn.Credential, a Assertion) (Use, error) {
	for _, k := range u.Keys {
		if bytes.Equal(k.CredentialID, c.ID) {
			return Use{FactorID: k.FactorID, SignCount: a.p.Response.AuthenticatorData.Counter,
				Flags: byte(c.Flags.ProtocolValue()), CloneWarning: c.Authenticator.CloneWarning, Key: k}, nil
		}
	}
	return Use{}, errors.New("webauthn assertion: verified by a credential the account does not have")
}

// BeginPasskeyLogin begins a sign-in with a passkey: an assertion with an
// empty allowCredentials list, so that the authenticator offers the
// discoverable credentials it holds for the relying party, with user
// verification required (WebAuthn §5.1.4, "client-side discoverable").
func (rp *RelyingParty) BeginPasskeyLogin() (Begun, error) {
	assertion, session, err := rp.w.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return Begun{}, fmt.Errorf("begin webauthn passkey login: %w", err)
	}
	return begun(assertion, session)
}

// UserHandle returns the user handle the assertion carries: the account
// its authenticator says it signs for, not yet verified.
func (a Assertion) UserHandle() []byte { return a.p.Response.UserHandle }

// CredentialID returns the ID of the credential the assertion says signed
// it, not yet verified.
func (a Assertion) CredentialID() []byte { return a.p.RawID }

// UserVerified reports whether the assertion's authenticator data carries
// the UV flag (the authenticator verified its user), not yet verified.
func (a Assertion) UserVerified() bool { return a.p.Response.AuthenticatorData.Flags.HasUserVerified() }

// FinishPasskeyLogin verifies an assertion of a sign-in with a passkey
// against the session data of its ceremony and the keys of u, the account
// its user handle names (the caller looked it up): the handle must be u's
// and the credential one of u's keys, which must have signed with user
// verification, as the ceremony required.
func (rp *RelyingParty) FinishPasskeyLogin(u User, session []byte, a Assertion) (Use, error) {
	var sd webauthn.SessionData
	if err := json.Unmarshal(session, &sd); err != nil {
		return Use{}, fmt.Errorf("webauthn session: %w", err)
	}
	if sd.UserVerification != protocol.VerificationRequired {
		return Use{}, &Error{Reason: "assertion refused: the ceremony was not begun for a passkey"}
	}
	_, c, err := rp.w.ValidatePasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
		if !bytes.Equal(handle, u.Handle) {
			return nil, errors.New("the user handle is not the account's")
		}
		return newUser(u), nil
	}, sd, a.p)
	if err != nil {
		return Use{}, errorOf("assertion", err)
	}
	return useOf(u, c, a)
}

// Error is a response the relying party refused: Reason says why, for the
// audit log (never a secret; the key's signature is not one either).
type Error struct{ Reason string }

func (e *Error) Error() string { return e.Reason }

// errorOf makes the library's refusal an *Error with its details.
func errorOf(what string, err error) error {
	var pe *protocol.Error
	if errors.As(err, &pe) {
		reason := pe.Details
		if pe.DevInfo != "" {
			reason += " (" + pe.DevInfo + ")"
		}
		if reason == "" {
			reason = pe.Type
		}
		return &Error{Reason: what + " refused: " + reason}
	}
	return &Error{Reason: what + " refused: " + err.Error()}
}
