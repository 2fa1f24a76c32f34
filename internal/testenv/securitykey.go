package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
)

// SecurityKey is a software WebAuthn authenticator for API tests: it
// answers the options of a registration with a real "none" attestation
// and those of an assertion with a real ES256 signature, as a browser
// hands them over (the JSON of a PublicKeyCredential). Its counter moves
// up by one per signature; set Counter to make it go backwards.
//
// A passkey (NewPasskey) is Resident: it keeps the user handle of the
// registration options and answers assertions with it, and reports
// {"credProps":{"rk":…}} when asked; with UV its authenticator data says
// the user was verified (a PIN or biometric).
type SecurityKey struct {
	Origin       string // the origin the "browser" puts in the client data
	CredentialID []byte
	Key          *ecdsa.PrivateKey
	Counter      uint32
	Transports   []string
	Resident     bool   // a discoverable credential: Get sends UserHandle
	UV           bool   // the UV flag is set in the authenticator data
	UserHandle   []byte // kept by Create when Resident; a test may change it
}

// NewPasskey returns a key that makes discoverable credentials and
// verifies its user, as a platform authenticator or a FIDO2 key with a PIN.
func NewPasskey(tb testing.TB, origin string) *SecurityKey {
	tb.Helper()
	k := NewSecurityKey(tb, origin)
	k.Resident, k.UV, k.Transports = true, true, []string{"internal"}
	return k
}

// flags returns the authenticator data flags of the key's answers: UP,
// UV when it verifies its user, and more.
func (k *SecurityKey) flags(more byte) byte {
	f := 0x01 | more
	if k.UV {
		f |= 0x04
	}
	return f
}

// NewSecurityKey returns a key with a fresh credential for pages at origin.
func NewSecurityKey(tb testing.TB, origin string) *SecurityKey {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	id := make([]byte, 32)
	rand.Read(id)
	return &SecurityKey{Origin: origin, CredentialID: id, Key: key, Transports: []string{"usb"}}
}

var b64 = base64.RawURLEncoding

// webauthnOptions is what the key reads of {"publicKey":{…}}.
type webauthnOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		RP        struct {
			ID string `json:"id"`
		} `json:"rp"`
		RPID       string              `json:"rpId"`
		User       struct{ ID string } `json:"user"`
		Extensions struct {
			CredProps bool `json:"credProps"`
		} `json:"extensions"`
		Allow []struct {
			ID string `json:"id"`
		} `json:"allowCredentials"`
		Exclude []struct {
			ID string `json:"id"`
		} `json:"excludeCredentials"`
	} `json:"publicKey"`
}

func parseOptions(tb testing.TB, options []byte) webauthnOptions {
	tb.Helper()
	var o webauthnOptions
	if err := json.Unmarshal(options, &o); err != nil {
		tb.Fatalf("webauthn options %s: %v", options, err)
	}
	if o.PublicKey.Challenge == "" {
		tb.Fatalf("webauthn options without a challenge: %s", options)
	}
	return o
}

// Excluded reports whether options (of a registration) exclude this key.
func (k *SecurityKey) Excluded(tb testing.TB, options []byte) bool {
	tb.Helper()
	for _, c := range parseOptions(tb, options).PublicKey.Exclude {
		if c.ID == b64.EncodeToString(k.CredentialID) {
			return true
		}
	}
	return false
}

// Allowed reports whether options (of an assertion) allow this key.
func (k *SecurityKey) Allowed(tb testing.TB, options []byte) bool {
	tb.Helper()
	for _, c := range parseOptions(tb, options).PublicKey.Allow {
		if c.ID == b64.EncodeToString(k.CredentialID) {
			return true
		}
	}
	return false
}

func (k *SecurityKey) clientData(typ, challenge string) []byte {
	cd, _ := json.Marshal(map[string]any{"type": typ, "challenge": challenge, "origin": k.Origin, "crossOrigin": false})
	return cd
}

// Create answers registration options with the key's credential, as
// navigator.credentials.create does (attestation "none").
func (k *SecurityKey) Create(tb testing.TB, options []byte) json.RawMessage {
	tb.Helper()
	o := parseOptions(tb, options)
	point, err := k.Key.PublicKey.Bytes() // 0x04, X, Y (SEC 1 uncompressed)
	if err != nil {
		tb.Fatal(err)
	}
	cose, err := webauthncbor.Marshal(webauthncose.EC2PublicKeyData{
		PublicKeyData: webauthncose.PublicKeyData{KeyType: int64(webauthncose.EllipticKey), Algorithm: int64(webauthncose.AlgES256)},
		Curve:         1, // P-256
		XCoord:        point[1:33],
		YCoord:        point[33:65],
	})
	if err != nil {
		tb.Fatal(err)
	}
	rpHash := sha256.Sum256([]byte(o.PublicKey.RP.ID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, k.flags(0x40)) // UP, AT, UV
	auth = binary.BigEndian.AppendUint32(auth, k.Counter)
	auth = append(auth, make([]byte, 16)...) // AAGUID
	auth = binary.BigEndian.AppendUint16(auth, uint16(len(k.CredentialID)))
	auth = append(auth, k.CredentialID...)
	auth = append(auth, cose...)
	att, err := webauthncbor.Marshal(struct {
		Fmt      string         `cbor:"fmt"`
		AttStmt  map[string]any `cbor:"attStmt"`
		AuthData []byte         `cbor:"authData"`
	}{"none", map[string]any{}, auth})
	if err != nil {
		tb.Fatal(err)
	}
	ext := map[string]any{}
	if o.PublicKey.Extensions.CredProps {
		ext["credProps"] = map[string]bool{"rk": k.Resident}
	}
	if k.Resident {
		if k.UserHandle, err = b64.DecodeString(o.PublicKey.User.ID); err != nil {
			tb.Fatalf("user id %q: %v", o.PublicKey.User.ID, err)
		}
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.CredentialID), "rawId": b64.EncodeToString(k.CredentialID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON":    b64.EncodeToString(k.clientData("webauthn.create", o.PublicKey.Challenge)),
			"attestationObject": b64.EncodeToString(att),
			"transports":        k.Transports,
		},
		"clientExtensionResults": ext, "authenticatorAttachment": "cross-platform",
	})
	return out
}

// Get answers assertion options with a signature, as
// navigator.credentials.get does, whether or not the options allow this
// key (a test may want a wrong key to try). The counter moves up first.
func (k *SecurityKey) Get(tb testing.TB, options []byte) json.RawMessage {
	tb.Helper()
	o := parseOptions(tb, options)
	k.Counter++
	rpHash := sha256.Sum256([]byte(o.PublicKey.RPID))
	auth := append([]byte{}, rpHash[:]...)
	auth = append(auth, k.flags(0)) // UP, UV
	auth = binary.BigEndian.AppendUint32(auth, k.Counter)
	cd := k.clientData("webauthn.get", o.PublicKey.Challenge)
	cdHash := sha256.Sum256(cd)
	digest := sha256.Sum256(append(append([]byte{}, auth...), cdHash[:]...))
	sig, err := ecdsa.SignASN1(rand.Reader, k.Key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	response := map[string]any{
		"clientDataJSON":    b64.EncodeToString(cd),
		"authenticatorData": b64.EncodeToString(auth),
		"signature":         b64.EncodeToString(sig),
	}
	if k.UserHandle != nil {
		response["userHandle"] = b64.EncodeToString(k.UserHandle)
	}
	out, _ := json.Marshal(map[string]any{
		"id": b64.EncodeToString(k.CredentialID), "rawId": b64.EncodeToString(k.CredentialID), "type": "public-key",
		"response":               response,
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "cross-platform",
	})
	return out
}
