package otp

import (
	"bytes"
	"crypto/rand"
	"encoding/base32"
	"fmt"
	"io"
	"strings"
)

// Secret sizes in bytes accepted by NewSecret. RFC 4226 §4 (R6) requires at least 128 bits
// and recommends 160; SPEC §2 uses 20 bytes by default and 32 optionally.
const (
	DefaultSecretSize = 20
	MinSecretSize     = 16
	MaxSecretSize     = 64
)

// minKeySize is the fewest bytes a secret may have as a key, once the zero bytes at its end are
// left off. It is under MinSecretSize on purpose: a random secret ends in a zero byte once in 256
// times, and a vendor's 16-byte seed that does is sound; four such bytes by chance happen once in
// 2^32, while a secret that is mostly padding (01 and fifteen zero bytes) is refused.
const minKeySize = MinSecretSize - 4

// CheckSecret reports whether secret is fit to share with an authenticator or token: MinSecretSize
// to MaxSecretSize bytes, of which at least minKeySize remain once the zero bytes at its end are
// left off. HMAC pads a key shorter than the hash's block with zero bytes (RFC 2104 §2, as SameKey
// relies on), so those add nothing: 01 and fifteen zero bytes is a 1-byte key, and a secret of
// zero bytes only is the empty key. The error wraps ErrSecret and never holds the secret.
func CheckSecret(secret []byte) error {
	if len(secret) < MinSecretSize || len(secret) > MaxSecretSize {
		return because(ErrSecret, "the secret has %d bytes, want %d to %d", len(secret), MinSecretSize, MaxSecretSize)
	}
	n := len(bytes.TrimRight(secret, "\x00"))
	if n == 0 {
		return because(ErrSecret, "the secret is all zero bytes")
	}
	if n < minKeySize {
		return because(ErrSecret, "the secret has %d bytes but ends in %d zero bytes, which HMAC adds anyway: %d bytes count, want at least %d", len(secret), len(secret)-n, n, minKeySize)
	}
	return nil
}

// secretEncoding is base32 (RFC 4648 §6) without padding, as authenticator apps expect.
var secretEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// NewSecret returns a new shared secret of size bytes read from r (RFC 4226 §7.5). A size of 0
// means DefaultSecretSize; other sizes must lie in MinSecretSize..MaxSecretSize. A nil r means
// crypto/rand.Reader.
func NewSecret(r io.Reader, size int) ([]byte, error) {
	if size == 0 {
		size = DefaultSecretSize
	}
	if size < MinSecretSize || size > MaxSecretSize {
		return nil, fmt.Errorf("%w: size %d, want %d..%d bytes", ErrSecret, size, MinSecretSize, MaxSecretSize)
	}
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, fmt.Errorf("otp: read secret: %w", err)
	}
	return b, nil
}

// EncodeSecret returns b in upper-case base32 (RFC 4648 §6) without '=' padding, the form of
// the secret parameter of otpauth:// URIs.
func EncodeSecret(b []byte) string { return secretEncoding.EncodeToString(b) }

// DecodeSecret decodes a base32 secret as people and other systems write it: in either case,
// with spaces or dashes between groups, with or without '=' padding. An empty or invalid secret
// gives an error wrapping ErrSecret.
func DecodeSecret(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch {
		case r == ' ' || r == '-' || r == '\t':
			return -1
		case 'a' <= r && r <= 'z':
			return r - 'a' + 'A'
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	if clean == "" {
		return nil, fmt.Errorf("%w: empty", ErrSecret)
	}
	b, err := secretEncoding.DecodeString(clean)
	if err != nil || len(b) == 0 {
		return nil, fmt.Errorf("%w: not base32", ErrSecret)
	}
	return b, nil
}
