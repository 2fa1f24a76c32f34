package otp

import (
	"fmt"
	"log/slog"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Key types of an otpauth:// URI.
const (
	TypeTOTP = "totp"
	TypeHOTP = "hotp"
)

// maxPeriodSeconds bounds the period parameter so that it fits a time.Duration.
const maxPeriodSeconds = int64(1<<63-1) / int64(time.Second)

// Key is an authenticator as exchanged in an otpauth:// URI, Google Authenticator's "Key Uri
// Format": otpauth://TYPE/ISSUER:ACCOUNT?secret=…&issuer=…&algorithm=…&digits=…&period=….
type Key struct {
	// Type is TypeTOTP or TypeHOTP.
	Type string
	// Issuer names the provider, both as the label prefix and as the issuer parameter.
	Issuer string
	// Account names the account at the issuer, usually a user name or email address.
	Account string
	// Secret is the shared secret (RFC 4226 §5.1 K).
	Secret []byte
	// Params are the algorithm, digits and, for TOTP, the period.
	Params Params
	// Counter is the HOTP counter the token starts at; TOTP keys do not use it.
	Counter uint64
}

// URI returns k as an otpauth:// URI: the label "Issuer:Account" (just "Account" without an
// issuer, unless the account holds a colon) path-escaped with %20 for spaces, then secret
// (unpadded base32), issuer, algorithm, digits, and period in seconds for TOTP or counter for
// HOTP. A colon in the account is written %3A, so that the label's one literal colon is the
// separator; the Key Uri Format allows none in the issuer (apps split the label at the first
// colon), which the server's configuration refuses. URI does not validate k; see ParseURI for
// what is accepted back.
func (k Key) URI() string {
	var b strings.Builder
	b.WriteString("otpauth://")
	b.WriteString(k.Type)
	b.WriteByte('/')
	if k.Issuer != "" || strings.Contains(k.Account, ":") {
		// An account with a colon needs a prefix, even an empty one, to be read back whole.
		b.WriteString(url.PathEscape(k.Issuer))
		b.WriteByte(':')
	}
	b.WriteString(strings.ReplaceAll(url.PathEscape(k.Account), ":", "%3A"))
	b.WriteString("?secret=")
	b.WriteString(EncodeSecret(k.Secret))
	if k.Issuer != "" {
		b.WriteString("&issuer=")
		b.WriteString(queryEscape(k.Issuer))
	}
	b.WriteString("&algorithm=")
	b.WriteString(k.Params.Algorithm.String())
	b.WriteString("&digits=")
	b.WriteString(strconv.Itoa(k.Params.Digits))
	if k.Type == TypeHOTP {
		b.WriteString("&counter=")
		b.WriteString(strconv.FormatUint(k.Counter, 10))
	} else {
		b.WriteString("&period=")
		b.WriteString(strconv.FormatInt(int64(k.Params.Period/time.Second), 10))
	}
	return b.String()
}

// queryEscape escapes s for a query value with %20 for spaces, which every app decodes, rather
// than '+', which some show literally.
func queryEscape(s string) string {
	return strings.ReplaceAll(url.QueryEscape(s), "+", "%20")
}

// String returns a description of k that leaves out the secret, so that keys can be printed
// and logged safely.
func (k Key) String() string {
	return fmt.Sprintf("%s key %q:%q %v/%d secret [redacted]", k.Type, k.Issuer, k.Account, k.Params.Algorithm, k.Params.Digits)
}

// LogValue implements slog.LogValuer, logging k without its secret.
func (k Key) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("type", k.Type),
		slog.String("issuer", k.Issuer),
		slog.String("account", k.Account),
		slog.String("algorithm", k.Params.Algorithm.String()),
		slog.Int("digits", k.Params.Digits),
		slog.String("secret", "[redacted]"),
	)
}

// ParseURI parses an otpauth:// key URI. It is strict about the form and tolerant about the
// content:
//
//   - the scheme must be otpauth and the host totp or hotp (in any case), with no user, port
//     or empty label;
//   - the secret is required and decoded with DecodeSecret;
//   - algorithm, digits and period default to SHA1, 6 and 30 when absent, and must then
//     pass Params.Validate; HOTP keys require counter and ignore period;
//   - the issuer comes from the issuer parameter, or else from the label prefix before the
//     first colon (literal or %3A); the account is the rest of the label, without the issuer
//     prefix and leading spaces;
//   - a known parameter given twice is an error, unknown parameters (image, …) are ignored.
//
// Every error wraps ErrURI, and also ErrSecret, ErrAlgorithm, ErrDigits or ErrPeriod where one
// applies. ParseURI never panics.
func ParseURI(s string) (Key, error) {
	u, err := url.Parse(s)
	if err != nil {
		// Not the parser's error: it quotes the whole URI, secret and all.
		return Key{}, fmt.Errorf("%w: not a URL (a control character, a space or a bad %%-escape in it?)", ErrURI)
	}
	if u.Scheme != "otpauth" {
		return Key{}, fmt.Errorf("%w: scheme %q, want otpauth", ErrURI, u.Scheme)
	}
	if u.Opaque != "" || u.User != nil {
		return Key{}, fmt.Errorf("%w: not otpauth://TYPE/LABEL", ErrURI)
	}
	var k Key
	switch strings.ToLower(u.Host) {
	case TypeTOTP:
		k.Type = TypeTOTP
	case TypeHOTP:
		k.Type = TypeHOTP
	default:
		return Key{}, fmt.Errorf("%w: type %q, want totp or hotp", ErrURI, u.Host)
	}
	q, err := url.ParseQuery(u.RawQuery)
	if err != nil {
		return Key{}, fmt.Errorf("%w: query: %w", ErrURI, err)
	}
	for _, name := range [...]string{"secret", "issuer", "algorithm", "digits", "period", "counter"} {
		if len(q[name]) > 1 {
			return Key{}, fmt.Errorf("%w: %s given %d times", ErrURI, name, len(q[name]))
		}
	}

	if !q.Has("secret") {
		return Key{}, fmt.Errorf("%w: %w: missing secret", ErrURI, ErrSecret)
	}
	if k.Secret, err = DecodeSecret(q.Get("secret")); err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrURI, err)
	}

	k.Params = DefaultParams()
	if q.Has("algorithm") {
		if k.Params.Algorithm, err = ParseAlgorithm(q.Get("algorithm")); err != nil {
			return Key{}, fmt.Errorf("%w: %w", ErrURI, err)
		}
	}
	if q.Has("digits") {
		d, ok := parseDecimal(q.Get("digits"))
		if !ok || !validDigits(int(min(d, 9))) {
			return Key{}, fmt.Errorf("%w: %w: got %q", ErrURI, ErrDigits, q.Get("digits"))
		}
		k.Params.Digits = int(d)
	}
	switch k.Type {
	case TypeTOTP:
		if q.Has("period") {
			p, ok := parseDecimal(q.Get("period"))
			if !ok || p < 1 || p > uint64(maxPeriodSeconds) {
				return Key{}, fmt.Errorf("%w: %w: got %q", ErrURI, ErrPeriod, q.Get("period"))
			}
			k.Params.Period = time.Duration(p) * time.Second
		}
	case TypeHOTP:
		if !q.Has("counter") {
			return Key{}, fmt.Errorf("%w: missing counter", ErrURI)
		}
		c, ok := parseDecimal(q.Get("counter"))
		if !ok {
			return Key{}, fmt.Errorf("%w: counter %q", ErrURI, q.Get("counter"))
		}
		k.Counter = c
	}
	if err := k.Params.Validate(); err != nil {
		return Key{}, fmt.Errorf("%w: %w", ErrURI, err)
	}

	// The label: u.Path has %3A decoded already, so literal and escaped colons are alike.
	label := strings.TrimPrefix(u.Path, "/")
	k.Issuer = q.Get("issuer")
	switch prefix, account, found := strings.Cut(label, ":"); {
	case k.Issuer != "" && strings.HasPrefix(label, k.Issuer+":"):
		k.Account = label[len(k.Issuer)+1:]
	case found:
		if k.Issuer == "" {
			k.Issuer = prefix
		}
		k.Account = account
	default:
		k.Account = label
	}
	k.Account = strings.TrimLeft(k.Account, " ")
	if k.Account == "" {
		return Key{}, fmt.Errorf("%w: missing account name in label", ErrURI)
	}
	return k, nil
}

// parseDecimal parses a non-empty string of ASCII digits, without sign, as a uint64.
func parseDecimal(s string) (uint64, bool) {
	if s == "" || s[0] < '0' || s[0] > '9' {
		return 0, false
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
