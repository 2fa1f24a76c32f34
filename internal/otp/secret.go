package otp

import (
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
