// Package push is the protocol between Twofold and a push-approval device
// (SPEC §2 "push approval"): the enrolment URI the server shows as a QR code,
// the message a device signs to prove it holds its new Ed25519 key, and the
// signature that authenticates every later request of the device. It has no
// SQL and no HTTP client: the server (internal/core, internal/httpapi) and
// the device (internal/pushdevice, `twofold device`) both use it.
package push

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Scheme is the URI scheme of an enrolment URI.
const Scheme = "twofold-push"

// AuthScheme is the scheme of the Authorization header of a device's
// signed request: `TwofoldDevice id="…", ts="…", nonce="…", sig="…"`.
const AuthScheme = "TwofoldDevice"

// Enrolment is what the enrolment URI (and its QR code) hands a device: where
// the server is, the device's id (its factor's), the one-time token that lets
// it register a key, and the challenge it signs with that key.
type Enrolment struct {
	Server    string // base URL: "https://twofold.example.com"
	DeviceID  string
	Token     string
	Challenge string
	Issuer    string // shown on the device: whose account this is
	Account   string
	Label     string
}

// URI returns the enrolment as a twofold-push://enrol?… URI.
func (e Enrolment) URI() string {
	q := url.Values{}
	q.Set("server", e.Server)
	q.Set("device", e.DeviceID)
	q.Set("token", e.Token)
	q.Set("challenge", e.Challenge)
	if e.Issuer != "" {
		q.Set("issuer", e.Issuer)
	}
	if e.Account != "" {
		q.Set("account", e.Account)
	}
	if e.Label != "" {
		q.Set("label", e.Label)
	}
	return Scheme + "://enrol?" + q.Encode()
}

// ErrURI is wrapped by every error of ParseURI: the text is not a usable
// enrolment URI (another kind of URI, a server that is not http or https,
// a part missing). Its message quotes no part of the text, whose token is
// a secret.
var ErrURI = errors.New("not a usable enrolment URI")

// ParseURI parses an enrolment URI made by Enrolment.URI. Its errors wrap
// ErrURI.
func ParseURI(s string) (Enrolment, error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || u.Scheme != Scheme || u.Host != "enrol" {
		what := "it is not a URI"
		switch {
		case err != nil:
		case strings.TrimSpace(s) == "":
			what = "it is empty"
		case u.Scheme == "":
			what = "it has no scheme"
		case u.Scheme != Scheme:
			what = "its scheme is " + u.Scheme + ", not " + Scheme
		default:
			what = "it is not " + Scheme + "://enrol"
		}
		return Enrolment{}, fmt.Errorf("%w (%s): want "+Scheme+"://enrol?server=…&device=…&token=…&challenge=…", ErrURI, what)
	}
	q := u.Query()
	e := Enrolment{Server: q.Get("server"), DeviceID: q.Get("device"), Token: q.Get("token"), Challenge: q.Get("challenge"),
		Issuer: q.Get("issuer"), Account: q.Get("account"), Label: q.Get("label")}
	su, err := url.Parse(e.Server)
	if err != nil || (su.Scheme != "http" && su.Scheme != "https") || su.Host == "" {
		return Enrolment{}, fmt.Errorf("%w: its server is not an http:// or https:// URL", ErrURI)
	}
	if e.DeviceID == "" || e.Token == "" || e.Challenge == "" {
		return Enrolment{}, fmt.Errorf("%w: it lacks the device, token or challenge", ErrURI)
	}
	return e, nil
}

// EnrolMessage is what a device signs with its new key to register it: the
// device id, the server's challenge and the public key itself, so that the
// signature proves possession of that key for that enrolment only.
func EnrolMessage(deviceID, challenge string, pub ed25519.PublicKey) []byte {
	return []byte("twofold-push-enrol-v1\n" + deviceID + "\n" + challenge + "\n" + Encode(pub))
}

// Encode is the text form of keys, signatures and nonces: unpadded base64url.
func Encode(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Decode reverses Encode.
func Decode(s string) ([]byte, error) { return base64.RawURLEncoding.DecodeString(s) }

// RequestMessage is what a device signs for one request: the method, the
// path with its query, the time, a fresh nonce and the SHA-256 of the body,
// so that no part of a request can be changed or the request sent again.
func RequestMessage(method, pathQuery string, ts int64, nonce string, body []byte) []byte {
	sum := sha256.Sum256(body)
	return []byte("twofold-push-request-v1\n" + method + "\n" + pathQuery + "\n" + strconv.FormatInt(ts, 10) + "\n" + nonce + "\n" + hex.EncodeToString(sum[:]))
}

// Signature is a device's request signature as the Authorization header
// carries it.
type Signature struct {
	DeviceID string
	Time     time.Time // seconds
	Nonce    string
	Sig      []byte
}

// Sign signs a request with the device's key and returns the Authorization
// header value. nonce must be fresh for every request.
func Sign(key ed25519.PrivateKey, deviceID, method, pathQuery string, now time.Time, nonce string, body []byte) string {
	ts := now.Unix()
	sig := ed25519.Sign(key, RequestMessage(method, pathQuery, ts, nonce, body))
	return fmt.Sprintf(`%s id="%s", ts="%d", nonce="%s", sig="%s"`, AuthScheme, deviceID, ts, nonce, Encode(sig))
}

// ParseAuthorization parses the Authorization header of a signed request;
// it checks the form, not the signature.
func ParseAuthorization(h string) (Signature, error) {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || !strings.EqualFold(scheme, AuthScheme) || len(rest) > 512 {
		return Signature{}, errors.New("not a " + AuthScheme + " authorization")
	}
	fields := map[string]string{}
	for _, part := range strings.Split(rest, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok || len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
			return Signature{}, errors.New("malformed " + AuthScheme + " authorization")
		}
		if _, dup := fields[k]; dup {
			return Signature{}, errors.New("repeated field in " + AuthScheme + " authorization")
		}
		fields[k] = v[1 : len(v)-1]
	}
	ts, err := strconv.ParseInt(fields["ts"], 10, 64)
	if err != nil {
		return Signature{}, errors.New("ts must be unix seconds")
	}
	sig, err := Decode(fields["sig"])
	if err != nil || len(sig) != ed25519.SignatureSize {
		return Signature{}, errors.New("sig must be an Ed25519 signature in base64url")
	}
	n := fields["nonce"]
	if len(n) < 16 || len(n) > 64 || strings.Trim(n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") != "" {
		return Signature{}, errors.New("nonce must be 16 to 64 base64url characters")
	}
	id := fields["id"]
	if id == "" || len(id) > 64 {
		return Signature{}, errors.New("id is required")
	}
	return Signature{DeviceID: id, Time: time.Unix(ts, 0), Nonce: n, Sig: sig}, nil
}

// Verify reports whether sig signs the request with pub.
func (sig Signature) Verify(pub ed25519.PublicKey, method, pathQuery string, body []byte) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, RequestMessage(method, pathQuery, sig.Time.Unix(), sig.Nonce, body), sig.Sig)
}
