package otp_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twofold/twofold/internal/otp"
)

// hello is the secret of the Key Uri Format example, JBSWY3DPEHPK3PXP.
var hello = []byte("Hello!\xde\xad\xbe\xef")

func TestKeyURI(t *testing.T) {
	tests := []struct {
		name string
		key  otp.Key
		want string
	}{
		{
			"totp with issuer",
			otp.Key{Type: "totp", Issuer: "Example", Account: "alice@google.com", Secret: hello, Params: otp.DefaultParams()},
			"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30",
		},
		{
			"totp without issuer",
			otp.Key{Type: "totp", Account: "alice", Secret: hello, Params: otp.Params{Algorithm: otp.SHA512, Digits: 8, Period: time.Minute}},
			"otpauth://totp/alice?secret=JBSWY3DPEHPK3PXP&algorithm=SHA512&digits=8&period=60",
		},
		{
			"spaces and reserved characters",
			otp.Key{Type: "totp", Issuer: "Big Corp & Co", Account: "a b/c?d#e", Secret: hello, Params: otp.DefaultParams()},
			"otpauth://totp/Big%20Corp%20&%20Co:a%20b%2Fc%3Fd%23e?secret=JBSWY3DPEHPK3PXP&issuer=Big%20Corp%20%26%20Co&algorithm=SHA1&digits=6&period=30",
		},
		{
			// Apps split the label at its first colon: the account's is escaped.
			"colon in account",
			otp.Key{Type: "totp", Issuer: "Example", Account: "team:alice", Secret: hello, Params: otp.DefaultParams()},
			"otpauth://totp/Example:team%3Aalice?secret=JBSWY3DPEHPK3PXP&issuer=Example&algorithm=SHA1&digits=6&period=30",
		},
		{
			"colon in account, no issuer",
			otp.Key{Type: "totp", Account: "team:alice", Secret: hello, Params: otp.DefaultParams()},
			"otpauth://totp/:team%3Aalice?secret=JBSWY3DPEHPK3PXP&algorithm=SHA1&digits=6&period=30",
		},
		{
			"hotp",
			otp.Key{Type: "hotp", Issuer: "ACME", Account: "bob", Secret: hello, Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}, Counter: 42},
			"otpauth://hotp/ACME:bob?secret=JBSWY3DPEHPK3PXP&issuer=ACME&algorithm=SHA1&digits=6&counter=42",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.key.URI(); got != tt.want {
				t.Errorf("URI() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestURIRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		key  otp.Key
	}{
		{"defaults", otp.Key{Type: "totp", Issuer: "Example", Account: "alice@example.com", Secret: seedSHA1, Params: otp.DefaultParams()}},
		{"no issuer", otp.Key{Type: "totp", Account: "alice", Secret: seedSHA1, Params: otp.DefaultParams()}},
		{"SHA256 8 digits 60 s", otp.Key{Type: "totp", Issuer: "X", Account: "y", Secret: seedSHA256, Params: otp.Params{Algorithm: otp.SHA256, Digits: 8, Period: time.Minute}}},
		{"SHA512 7 digits", otp.Key{Type: "totp", Issuer: "X", Account: "y", Secret: seedSHA512, Params: otp.Params{Algorithm: otp.SHA512, Digits: 7, Period: 30 * time.Second}}},
		{"unicode and spaces", otp.Key{Type: "totp", Issuer: "Société Générale", Account: "zoë müller", Secret: hello, Params: otp.DefaultParams()}},
		{"reserved characters", otp.Key{Type: "totp", Issuer: "a&b=c?d#e%f+g", Account: "h/i?j#k%l+m&n", Secret: hello, Params: otp.DefaultParams()}},
		{"colon in account", otp.Key{Type: "totp", Issuer: "Example", Account: "team:alice", Secret: hello, Params: otp.DefaultParams()}},
		{"colon in issuer", otp.Key{Type: "totp", Issuer: "Ex:ample", Account: "alice", Secret: hello, Params: otp.DefaultParams()}},
		{"hotp", otp.Key{Type: "hotp", Issuer: "Yubico", Account: "token 1", Secret: seedSHA1, Params: otp.DefaultParams(), Counter: 1 << 40}},
		{"colon in account, no issuer", otp.Key{Type: "totp", Account: "team:alice", Secret: hello, Params: otp.DefaultParams()}},
		{"hotp counter 0", otp.Key{Type: "hotp", Account: "token", Secret: seedSHA1, Params: otp.DefaultParams()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			uri := tt.key.URI()
			got, err := otp.ParseURI(uri)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", uri, err)
			}
			if diff := cmp.Diff(tt.key, got); diff != "" {
				t.Errorf("ParseURI(%q) mismatch (-want +got):\n%s", uri, diff)
			}
		})
	}
}

func TestParseURI(t *testing.T) {
	def := otp.DefaultParams()
	tests := []struct {
		name string
		uri  string
		want otp.Key
	}{
		{
			"Key Uri Format example",
			"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
			otp.Key{Type: "totp", Issuer: "Example", Account: "alice@google.com", Secret: hello, Params: def},
		},
		{
			"issuer only in label",
			"otpauth://totp/ACME%20Co:john.doe@email.com?secret=JBSWY3DPEHPK3PXP",
			otp.Key{Type: "totp", Issuer: "ACME Co", Account: "john.doe@email.com", Secret: hello, Params: def},
		},
		{
			"escaped colon and space before account",
			"otpauth://totp/ACME%20Co%3A%20john@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME+Co",
			otp.Key{Type: "totp", Issuer: "ACME Co", Account: "john@example.com", Secret: hello, Params: def},
		},
		{
			"issuer only as parameter",
			"otpauth://totp/john?secret=JBSWY3DPEHPK3PXP&issuer=ACME",
			otp.Key{Type: "totp", Issuer: "ACME", Account: "john", Secret: hello, Params: def},
		},
		{
			"parameter wins over different label prefix",
			"otpauth://totp/Old:john?secret=JBSWY3DPEHPK3PXP&issuer=New",
			otp.Key{Type: "totp", Issuer: "New", Account: "john", Secret: hello, Params: def},
		},
		{
			"no issuer",
			"otpauth://totp/john?secret=JBSWY3DPEHPK3PXP",
			otp.Key{Type: "totp", Account: "john", Secret: hello, Params: def},
		},
		{
			"tolerant secret",
			"otpauth://totp/john?secret=jbsw+y3dp-ehpk%203pxp%3D%3D%3D%3D%3D%3D",
			otp.Key{Type: "totp", Account: "john", Secret: hello, Params: def},
		},
		{
			"all parameters",
			"otpauth://totp/A:b?period=60&digits=8&algorithm=sha256&secret=JBSWY3DPEHPK3PXP&issuer=A&image=https%3A%2F%2Fexample.com%2Fa.png",
			otp.Key{Type: "totp", Issuer: "A", Account: "b", Secret: hello, Params: otp.Params{Algorithm: otp.SHA256, Digits: 8, Period: time.Minute}},
		},
		{
			"type in upper case",
			"otpauth://TOTP/john?secret=JBSWY3DPEHPK3PXP",
			otp.Key{Type: "totp", Account: "john", Secret: hello, Params: def},
		},
		{
			"scheme in upper case",
			"OTPAUTH://totp/john?secret=JBSWY3DPEHPK3PXP",
			otp.Key{Type: "totp", Account: "john", Secret: hello, Params: def},
		},
		{
			"hotp ignores period",
			"otpauth://hotp/Yubico:token?secret=JBSWY3DPEHPK3PXP&counter=7&period=abc",
			otp.Key{Type: "hotp", Issuer: "Yubico", Account: "token", Secret: hello, Params: def, Counter: 7},
		},
		{
			"totp ignores counter",
			"otpauth://totp/john?secret=JBSWY3DPEHPK3PXP&counter=x",
			otp.Key{Type: "totp", Account: "john", Secret: hello, Params: def},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.ParseURI(tt.uri)
			if err != nil {
				t.Fatalf("ParseURI(%q): %v", tt.uri, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseURI(%q) mismatch (-want +got):\n%s", tt.uri, diff)
			}
		})
	}
}

func TestParseURIRejects(t *testing.T) {
	const secret = "secret=JBSWY3DPEHPK3PXP"
	tests := []struct {
		name string
		uri  string
		want error // besides ErrURI, which every error wraps
	}{
		{"empty", "", nil},
		{"wrong scheme", "https://totp/john?" + secret, nil},
		{"no scheme", "totp/john?" + secret, nil},
		{"opaque", "otpauth:totp/john?" + secret, nil},
		{"unknown type", "otpauth://motp/john?" + secret, nil},
		{"no type", "otpauth:///john?" + secret, nil},
		{"type with port", "otpauth://totp:80/john?" + secret, nil},
		{"user info", "otpauth://me@totp/john?" + secret, nil},
		{"bad escape", "otpauth://totp/jo%zzhn?" + secret, nil},
		{"bad query escape", "otpauth://totp/john?secret=%zz", nil},
		{"missing label", "otpauth://totp?" + secret, nil},
		{"empty account", "otpauth://totp/Issuer:?" + secret, nil},
		{"missing secret", "otpauth://totp/john", otp.ErrSecret},
		{"empty secret", "otpauth://totp/john?secret=", otp.ErrSecret},
		{"invalid secret", "otpauth://totp/john?secret=JBSWY3DPEHPK3PX1", otp.ErrSecret},
		{"two secrets", "otpauth://totp/john?" + secret + "&" + secret, nil},
		{"bad algorithm", "otpauth://totp/john?" + secret + "&algorithm=MD5", otp.ErrAlgorithm},
		{"empty algorithm", "otpauth://totp/john?" + secret + "&algorithm=", otp.ErrAlgorithm},
		{"digits 5", "otpauth://totp/john?" + secret + "&digits=5", otp.ErrDigits},
		{"digits 9", "otpauth://totp/john?" + secret + "&digits=9", otp.ErrDigits},
		{"digits huge", "otpauth://totp/john?" + secret + "&digits=99999999999999999999999", otp.ErrDigits},
		{"digits signed", "otpauth://totp/john?" + secret + "&digits=%2B6", otp.ErrDigits},
		{"digits text", "otpauth://totp/john?" + secret + "&digits=six", otp.ErrDigits},
		{"digits empty", "otpauth://totp/john?" + secret + "&digits=", otp.ErrDigits},
		{"period 0", "otpauth://totp/john?" + secret + "&period=0", otp.ErrPeriod},
		{"period negative", "otpauth://totp/john?" + secret + "&period=-30", otp.ErrPeriod},
		{"period fractional", "otpauth://totp/john?" + secret + "&period=1.5", otp.ErrPeriod},
		{"period with unit", "otpauth://totp/john?" + secret + "&period=30s", otp.ErrPeriod},
		{"period overflows duration", "otpauth://totp/john?" + secret + "&period=9223372036854775807", otp.ErrPeriod},
		{"hotp without counter", "otpauth://hotp/john?" + secret, nil},
		{"hotp bad counter", "otpauth://hotp/john?" + secret + "&counter=-1", nil},
		{"hotp counter overflow", "otpauth://hotp/john?" + secret + "&counter=18446744073709551616", nil},
		{"control character", "otpauth://totp/john?" + secret + "\n", nil},
		{"space in the host", "otpauth://to tp/john?" + secret, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.ParseURI(tt.uri)
			if !errors.Is(err, otp.ErrURI) {
				t.Fatalf("ParseURI(%q) = %+v, %v, want ErrURI", tt.uri, got, err)
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("ParseURI(%q) error = %v, want %v", tt.uri, err, tt.want)
			}
			if strings.Contains(err.Error(), "JBSWY3DPEHPK3PX") {
				t.Errorf("ParseURI(%q) error quotes the secret: %v", tt.uri, err)
			}
		})
	}
}

func TestKeyRedactsSecret(t *testing.T) {
	k := otp.Key{Type: "totp", Issuer: "Example", Account: "alice", Secret: hello, Params: otp.DefaultParams()}
	var log strings.Builder
	slog.New(slog.NewTextHandler(&log, nil)).Info("enrolled", "key", k)
	for name, out := range map[string]string{
		"String": k.String(),
		"%v":     fmt.Sprintf("%v", k),
		"slog":   log.String(),
	} {
		if strings.Contains(out, "JBSWY3DP") || strings.Contains(out, "Hello") || !strings.Contains(out, "[redacted]") {
			t.Errorf("%s = %q, want the secret redacted", name, out)
		}
	}
}

func FuzzParseURI(f *testing.F) {
	for _, s := range []string{
		"otpauth://totp/Example:alice@google.com?secret=JBSWY3DPEHPK3PXP&issuer=Example",
		"otpauth://totp/ACME%20Co%3A%20john@example.com?secret=JBSWY3DPEHPK3PXP&issuer=ACME+Co&algorithm=SHA256&digits=8&period=60",
		"otpauth://hotp/Yubico:token?secret=jbsw-y3dp&counter=7",
		"otpauth://totp/:x?secret=74======",
		"otpauth://totp/a:b:c?secret=74&issuer=a:b",
		"otpauth://TOTP/%2F%2F?secret=74#frag",
		"otpauth://totp/ x?secret=74&issuer=%20",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, err := otp.ParseURI(s)
		if err != nil {
			if !errors.Is(err, otp.ErrURI) {
				t.Fatalf("ParseURI(%q) error %v does not wrap ErrURI", s, err)
			}
			return
		}
		if err := k.Params.Validate(); err != nil {
			t.Fatalf("ParseURI(%q) = %+v with invalid params: %v", s, k, err)
		}
		uri := k.URI()
		k2, err := otp.ParseURI(uri)
		if err != nil {
			t.Fatalf("ParseURI(%q) = %+v, but ParseURI(URI() = %q): %v", s, k, uri, err)
		}
		if diff := cmp.Diff(k, k2); diff != "" {
			t.Fatalf("ParseURI(%q) then URI() = %q parses differently (-first +second):\n%s", s, uri, diff)
		}
	})
}
