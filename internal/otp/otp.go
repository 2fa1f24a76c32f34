// Package otp implements HMAC-based one-time passwords (HOTP, RFC 4226), time-based one-time
// passwords (TOTP, RFC 6238) and the otpauth:// key URIs that authenticator apps scan.
//
// Generation returns codes as zero-padded decimal strings. Verification returns the counter (or
// time step) that matched, so that callers can refuse replays (SPEC §1.8) and learn clock drift
// (RFC 6238 §6); it computes every candidate in a window and compares in constant time.
//
// The package uses the standard library only and keeps no state: storage of secrets, last
// accepted steps and drift belongs to the caller.
package otp

import (
	"errors"
	"fmt"
	"strings"
	"time"
)

// Errors returned by this package, for use with errors.Is. Errors from ParseURI wrap ErrURI and,
// where one applies, the more specific error too.
var (
	// ErrAlgorithm reports an unknown or unsupported hash algorithm.
	ErrAlgorithm = errors.New("otp: unsupported algorithm")
	// ErrDigits reports a code length other than 6, 7 or 8 digits (RFC 4226 §5.3).
	ErrDigits = errors.New("otp: digits must be 6, 7 or 8")
	// ErrPeriod reports a TOTP time step that is not a whole number of seconds of at least 1s
	// (RFC 6238 §4).
	ErrPeriod = errors.New("otp: period must be a whole number of seconds, at least 1s")
	// ErrSecret reports a shared secret that is empty, badly encoded or of an unsupported size.
	ErrSecret = errors.New("otp: invalid secret")
	// ErrURI reports an otpauth:// key URI that cannot be used.
	ErrURI = errors.New("otp: invalid otpauth URI")
)

// Algorithm is the hash function under HMAC: SHA-1 for HOTP (RFC 4226 §5.2), and SHA-1,
// SHA-256 or SHA-512 for TOTP (RFC 6238 §1.2).
type Algorithm uint8

// The supported algorithms. SHA1 is the zero value and the default of every authenticator app.
const (
	SHA1 Algorithm = iota
	SHA256
	SHA512
)

// String returns the algorithm's name as written in otpauth:// URIs: "SHA1", "SHA256" or
// "SHA512". Unknown values print as "Algorithm(n)".
func (a Algorithm) String() string {
	switch a {
	case SHA1:
		return "SHA1"
	case SHA256:
		return "SHA256"
	case SHA512:
		return "SHA512"
	}
	return fmt.Sprintf("Algorithm(%d)", uint8(a))
}

// valid reports whether a is one of the supported algorithms.
func (a Algorithm) valid() bool { return a <= SHA512 }

// ParseAlgorithm parses an algorithm name case-insensitively, with or without a dash after
// "SHA": "SHA1", "sha1", "SHA-256", "sha512" and so on. Other names give an error wrapping
// ErrAlgorithm.
func ParseAlgorithm(s string) (Algorithm, error) {
	switch strings.ToUpper(s) {
	case "SHA1", "SHA-1":
		return SHA1, nil
	case "SHA256", "SHA-256":
		return SHA256, nil
	case "SHA512", "SHA-512":
		return SHA512, nil
	}
	return 0, fmt.Errorf("%w: %q", ErrAlgorithm, s)
}

// Params describe an HOTP or TOTP authenticator: the hash, the number of digits of its codes and,
// for TOTP, the time step.
type Params struct {
	// Algorithm is the hash under HMAC (RFC 6238 §1.2).
	Algorithm Algorithm
	// Digits is the code length: 6, 7 or 8 (RFC 4226 §5.3).
	Digits int
	// Period is the TOTP time step X (RFC 6238 §4.1): whole seconds, at least 1s. HOTP ignores it.
	Period time.Duration
}

// DefaultParams returns the parameters every authenticator app assumes when none are given:
// SHA1, 6 digits, 30 s (RFC 6238 §5.2).
func DefaultParams() Params {
	return Params{Algorithm: SHA1, Digits: 6, Period: 30 * time.Second}
}

// Validate reports whether p can be used, returning an error wrapping ErrAlgorithm, ErrDigits or
// ErrPeriod when it cannot.
func (p Params) Validate() error {
	if !p.Algorithm.valid() {
		return fmt.Errorf("%w: %v", ErrAlgorithm, p.Algorithm)
	}
	if !validDigits(p.Digits) {
		return fmt.Errorf("%w: got %d", ErrDigits, p.Digits)
	}
	if p.Period < time.Second || p.Period%time.Second != 0 {
		return fmt.Errorf("%w: got %v", ErrPeriod, p.Period)
	}
	return nil
}

// validDigits reports whether d is an allowed code length (RFC 4226 §5.3, R4).
func validDigits(d int) bool { return d >= 6 && d <= 8 }
