package otp

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Errors of the seed file parsers (ParsePSKC, ParseOATHCSV), for use with errors.Is. Every
// error of theirs wraps ErrSeedFile and, where one applies, one of these or ErrAlgorithm,
// ErrDigits, ErrPeriod or ErrSecret. No error message holds key material.
var (
	// ErrSeedFile reports a seed file that cannot be imported.
	ErrSeedFile = errors.New("otp: seed file cannot be imported")
	// ErrSerial reports a token without a serial number, with a malformed one, or with one
	// that an earlier token of the same file has.
	ErrSerial = errors.New("otp: token serial missing, malformed or repeated")
	// ErrSeedKey reports a pre-shared key that is missing, malformed, or not the one the
	// file was encrypted with (RFC 6030 §6.1).
	ErrSeedKey = errors.New("otp: wrong or missing pre-shared key")
	// ErrSeedMAC reports an encrypted value whose MAC does not match (RFC 6030 §6.1.1): the
	// file was changed, or another key's MAC key was used.
	ErrSeedMAC = errors.New("otp: MAC of an encrypted value does not match")
	// ErrUnsupported reports something a seed file asks for that Twofold cannot honour:
	// another OTP algorithm, non-decimal codes, a PIN sent with the code, a time origin
	// other than the Unix epoch, a key derived from a password, and the like.
	ErrUnsupported = errors.New("otp: not supported")
)

// MaxSeedFileSize bounds what the parsers read, so that a wrong file (a disk image, say)
// fails fast.
const MaxSeedFileSize = 16 << 20

// maxSerialLen bounds a token's serial number in characters.
const maxSerialLen = 64

// Seed is one hardware token's key material, as read from a seed file: what an operator
// imports so that the token's holder can claim it later (SPEC §2 HOTP).
type Seed struct {
	// Serial is the number printed on the token (PSKC DeviceInfo/SerialNo).
	Serial string
	// Manufacturer names the token's maker when the file says; "" otherwise.
	Manufacturer string
	// Type is TypeHOTP or TypeTOTP.
	Type string
	// Secret is the shared secret K (RFC 4226 §5.1).
	Secret []byte
	// Params are the hash, 6 or 8 digits and, for TOTP, a period of 30 or 60 s; HOTP seeds
	// have a zero Period.
	Params Params
	// Counter is the counter of the HOTP token's next code (RFC 6030 §4.2 Counter); 0 for
	// TOTP.
	Counter uint64
}

// String describes s without its secret.
func (s Seed) String() string {
	return fmt.Sprintf("%s token %q %v/%d secret [redacted]", s.Type, s.Serial, s.Params.Algorithm, s.Params.Digits)
}

// GoString describes s without its secret, for %#v.
func (s Seed) GoString() string { return "otp.Seed{" + s.String() + "}" }

// LogValue implements slog.LogValuer, logging s without its secret.
func (s Seed) LogValue() slog.Value {
	return slog.GroupValue(slog.String("serial", s.Serial), slog.String("type", s.Type),
		slog.String("algorithm", s.Params.Algorithm.String()), slog.Int("digits", s.Params.Digits),
		slog.String("secret", "[redacted]"))
}

// SeedError is an error of a seed file at one place in it: a line of an OATH CSV file or a
// KeyPackage of a PSKC document (both counted from 1). Serial is the KeyPackage's SerialNo
// when it is known; it is always empty for OATH CSV, whose first field is a secret when the
// columns are swapped (secret,serial), so that no field's value is ever quoted.
type SeedError struct {
	Where  string // "line 3" or "KeyPackage 2"
	Serial string
	Err    error
}

// Error implements error.
func (e *SeedError) Error() string {
	if e.Serial != "" {
		return fmt.Sprintf("%s (serial %q): %v", e.Where, e.Serial, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.Where, e.Err)
}

// Unwrap returns the cause and ErrSeedFile.
func (e *SeedError) Unwrap() []error { return []error{e.Err, ErrSeedFile} }

// SeedErrors is the error of an OATH CSV file with more than one bad line:
// each of them, in the order of the file (ParseOATHCSV reports every bad
// line, not only the first). errors.As finds the first *SeedError in it,
// and errors.Is each entry's cause and ErrSeedFile.
type SeedErrors []*SeedError

// maxSeedErrorsListed is how many entries SeedErrors.Error lists; it
// counts the rest.
const maxSeedErrorsListed = 50

// Error lists the bad lines, the first maxSeedErrorsListed of them, on
// one line.
func (es SeedErrors) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d lines are wrong", len(es))
	for i, e := range es {
		if i == maxSeedErrorsListed {
			fmt.Fprintf(&b, "; and %d more", len(es)-i)
			break
		}
		b.WriteString("; ")
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the entries' errors.
func (es SeedErrors) Unwrap() []error {
	errs := make([]error, len(es))
	for i, e := range es {
		errs[i] = e
	}
	return errs
}

// seedErrorf returns an error of the file as a whole, wrapping ErrSeedFile.
func seedErrorf(format string, args ...any) error {
	return because(ErrSeedFile, format, args...)
}

// plainError is an error of a seed file or a secret told in a plain
// sentence for the operator who reads it (on the command line or the page
// /admin/tokens), without the text of the sentinels it wraps, which
// errors.Is still finds.
type plainError struct {
	msg  string
	kind error
}

// because returns an error reading format's sentence that wraps kind, a
// sentinel (or several, joined).
func because(kind error, format string, args ...any) error {
	return &plainError{msg: fmt.Sprintf(format, args...), kind: kind}
}

// Error implements error.
func (e *plainError) Error() string { return e.msg }

// Unwrap returns the sentinel the error wraps.
func (e *plainError) Unwrap() error { return e.kind }

// CheckSerial trims a token's serial number and reports whether it is fit to store and
// show: 1 to 64 characters on one line, without a character that cannot be seen for what
// it is (hiddenRune: controls, invisible and text-direction characters, fillers). The error wraps ErrSerial.
func CheckSerial(serial string) (string, error) {
	serial = strings.TrimSpace(serial)
	if serial == "" {
		return "", because(ErrSerial, "no serial number")
	}
	if !utf8.ValidString(serial) || utf8.RuneCountInString(serial) > maxSerialLen || strings.IndexFunc(serial, hiddenRune) >= 0 {
		return "", because(ErrSerial, "a serial number is at most %d characters, without control or invisible ones", maxSerialLen)
	}
	return serial, nil
}

// hiddenRune reports whether r shows as nothing, or as something other than
// itself: the rule core holds every name Twofold shows to (its hiddenRune; a
// test there keeps the two the same, this package being standard library
// only): controls, invisible format characters, line and paragraph
// separators, the other default-ignorable characters (Hangul fillers), the
// blank braille pattern, private-use characters, noncharacters and the
// replacement character.
func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || r == utf8.RuneError || r == '\u2800' ||
		unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Bidi_Control,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point)
}

// check validates a seed's parameters as Twofold can honour them: a secret of MinSecretSize
// to MaxSecretSize bytes (RFC 4226 §4 R6) without counting the zero bytes at its end
// (CheckSecret), 6 or 8 digits, and for TOTP a period of 30 or 60 s (SPEC §2).
func (s *Seed) check() error {
	if err := CheckSecret(s.Secret); err != nil {
		return err
	}
	if !s.Params.Algorithm.valid() {
		return because(ErrAlgorithm, "the hash must be SHA1, SHA256 or SHA512")
	}
	if s.Params.Digits != 6 && s.Params.Digits != 8 {
		return because(ErrDigits, "the digits must be 6 or 8")
	}
	switch s.Type {
	case TypeHOTP:
		s.Params.Period = 0
	case TypeTOTP:
		if s.Params.Period != 30*time.Second && s.Params.Period != 60*time.Second {
			return because(ErrPeriod, "the period must be 30s or 60s")
		}
		s.Counter = 0
	default:
		return because(ErrUnsupported, "the token type must be hotp or totp")
	}
	return nil
}

// seedSet collects the seeds of one file, refusing a serial seen before.
type seedSet struct {
	// nameSerial reports whether errors may quote a seed's serial: true for PSKC, whose
	// SerialNo is an element of its own, false for OATH CSV, whose first field is a secret
	// when the columns are swapped.
	nameSerial bool
	seeds      []Seed
	seen       map[string]string // serial → where it was first seen
}

func (c *seedSet) add(where string, s Seed) error {
	serial, err := CheckSerial(s.Serial)
	if err != nil {
		return &SeedError{Where: where, Err: err}
	}
	s.Serial = serial
	e := &SeedError{Where: where}
	if c.nameSerial {
		e.Serial = serial
	}
	if e.Err = s.check(); e.Err != nil {
		return e
	}
	if c.seen == nil {
		c.seen = map[string]string{}
	}
	if first, ok := c.seen[serial]; ok {
		e.Err = because(ErrSerial, "%s has the same serial", first)
		return e
	}
	c.seen[serial] = where
	c.seeds = append(c.seeds, s)
	return nil
}
