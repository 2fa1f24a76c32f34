package testenv

import (
	"context"
	"encoding/base32"
	"encoding/base64"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode"

	"golang.org/x/text/unicode/norm"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/otp"
)

// This file is the fuzz targets' own reading of the proofs people type:
// more lenient than the server's, never less, so that a target can tell
// that the server took a proof which does not stand.

// CodeSafeLogger is a server's logger for a fuzz target that looks in the
// log for the codes it sent: every level, as text, to w, with no time on
// the lines, whose digits could read as a code.
func CodeSafeLogger(w io.Writer) *slog.Logger {
	noTime := func(groups []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey && len(groups) == 0 {
			return slog.Attr{}
		}
		return a
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: noTime}))
}

// TypedWindow is how many steps either side of now an App takes a code
// for as possibly standing: more than the server's window and what it
// learns of an app's drift, so that the server taking one beyond is found.
const TypedWindow = 3

// App is an authenticator app of a fuzz target's account: its factor's ID
// and secret, and the last step of it the server took.
type App struct {
	ID     string
	Secret []byte
	Last   uint64
}

// NewApp is the app of factor id with the base32 secret.
func NewApp(tb testing.TB, id, secret string) *App {
	tb.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(secret))
	if err != nil {
		tb.Fatal(err)
	}
	return &App{ID: id, Secret: key}
}

// Code is the app's code d steps from now's.
func (a *App) Code(now time.Time, d int64) string {
	return otp.TOTP(a.Secret, now.Add(time.Duration(d)*30*time.Second), otp.DefaultParams())
}

// LastCode is the app's code of the last step the server took.
func (a *App) LastCode() string {
	return a.Code(time.Unix(int64(a.Last)*30, 0), 0)
}

// Spend reports whether typed is, as people type codes, the app's code of
// a step within TypedWindow of now and after its last one used, and if so
// makes that step its last.
func (a *App) Spend(now time.Time, typed string) bool {
	digits := TypedText(typed, false)
	cur := uint64(now.Unix() / 30)
	for step := cur - TypedWindow; step <= cur+TypedWindow; step++ {
		if step > a.Last && a.Code(time.Unix(int64(step)*30, 0), 0) == digits {
			a.Last = step
			return true
		}
	}
	return false
}

// ConfirmingCodes are the codes that confirm a factor of type typ being
// set up, at now: an app's (secret) of the steps within window of now's, a
// hardware token's of the counters from 0 to lookAhead, or, for a phone or
// an address, the code sent to it (sent), when there is one.
func ConfirmingCodes(typ twofold.FactorType, secret []byte, sent string, now time.Time, window int64, lookAhead uint64) []string {
	var codes []string
	switch typ {
	case twofold.FactorTOTP:
		for d := -window; d <= window; d++ {
			codes = append(codes, otp.TOTP(secret, now.Add(time.Duration(d)*30*time.Second), otp.DefaultParams()))
		}
	case twofold.FactorHOTP:
		for n := range lookAhead + 1 {
			codes = append(codes, otp.HOTP(secret, n, otp.SHA1, 6))
		}
	case twofold.FactorSMS, twofold.FactorEmail:
		if sent != "" {
			codes = append(codes, sent)
		}
	}
	return codes
}

// ConfirmsFactor reports whether typed, as people type codes, is one of
// the ConfirmingCodes of a factor of type typ, at now; for a phone or an
// address, while fewer than 5 checks have been taken from the code sent.
func ConfirmsFactor(typ twofold.FactorType, secret []byte, sent string, checks int, typed string, now time.Time, window int64, lookAhead uint64) bool {
	if typ.SendsCodes() && checks >= 5 {
		return false
	}
	return slices.Contains(ConfirmingCodes(typ, secret, sent, now, window, lookAhead), TypedText(typed, false))
}

// TypedKey reports whether typed is key (a recovery code or the paper key)
// as people type one: any case, anything but letters and digits between,
// 0 for o and 8 for b, in any width, and with a line's number of one or two
// digits before it.
func TypedKey(typed, key string) bool {
	t, k := TypedText(typed, true), TypedText(key, true)
	rest, ok := strings.CutSuffix(t, k)
	return ok && len(rest) <= 2 && strings.Trim(rest, "0123456789ob") == ""
}

// TypedText is s as people's typing is read here: NFKC, every digit of any
// script as its ASCII digit, letters in lower case, nothing else; with
// key, 0 and 8 read as o and b.
func TypedText(s string, key bool) string {
	var b strings.Builder
	for _, r := range norm.NFKC.String(s) {
		switch {
		case unicode.IsDigit(r):
			zero := r
			for unicode.IsDigit(zero - 1) {
				zero--
			}
			d := '0' + (r-zero)%10
			if key && d == '0' {
				d = 'o'
			} else if key && d == '8' {
				d = 'b'
			}
			b.WriteRune(d)
		case unicode.IsLetter(r):
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// Wide is code in full-width digits, with a no-break space in the middle.
func Wide(code string) string {
	var b strings.Builder
	for i, r := range code {
		if i == len(code)/2 {
			b.WriteRune('\u00a0')
		}
		b.WriteRune(r - '0' + '０')
	}
	return b.String()
}

// HoldsWord reports whether s holds w with no ASCII letter or digit either
// side, so that a code is not found inside a longer number.
func HoldsWord(s, w string) bool {
	for i := 0; ; {
		j := strings.Index(s[i:], w)
		if j < 0 {
			return false
		}
		j += i
		end := j + len(w)
		if (j == 0 || !isAlnum(s[j-1])) && (end == len(s) || !isAlnum(s[end])) {
			return true
		}
		i = j + 1
	}
}

func isAlnum(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
}

// CountedFailures reads the counters of account's second step ("2fa:ID:…")
// and returns how many of them count a failure: the account's own and the
// factors' own apart, with the counters for a message. A counter at more
// than one failure fails tb: a fuzz target clears them before each input.
func CountedFailures(tb testing.TB, s *Server, accountID string) (own, byFactor int, counters []twofold.Counter) {
	tb.Helper()
	counters, err := s.Store.Counters(context.Background(), "2fa:"+accountID+":")
	if err != nil {
		tb.Fatal(err)
	}
	for _, n := range counters {
		switch {
		case n.Failures == 0:
		case n.Failures > 1:
			tb.Fatalf("counter %s counts %d failures for one input", n.Key, n.Failures)
		case strings.Contains(n.Key, ":factor:"):
			byFactor++
		default:
			own++
		}
	}
	return own, byFactor, counters
}

// PasskeyFailures reads the counters of failed passkey sign-ins (one per
// address and claimed account, "passkey:…") and returns the failures they
// count in all, with the counters for a message: a fuzz target clears them
// before each input.
func PasskeyFailures(tb testing.TB, s *Server) (int, []twofold.Counter) {
	tb.Helper()
	counters, err := s.Store.Counters(context.Background(), "passkey:")
	if err != nil {
		tb.Fatal(err)
	}
	failures := 0
	for _, n := range counters {
		failures += n.Failures
	}
	return failures, counters
}

// SignatureBytes is what an armored SSH signature's base64 decodes to, the
// armor's lines and any white space left out; nil if it does not decode.
func SignatureBytes(armored string) []byte {
	s := strings.ReplaceAll(armored, "-----BEGIN SSH SIGNATURE-----", "")
	s = strings.ReplaceAll(s, "-----END SSH SIGNATURE-----", "")
	b, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil || len(b) == 0 {
		return nil
	}
	return b
}
