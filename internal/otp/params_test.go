package otp_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/twofold/twofold/internal/otp"
)

func TestAlgorithmString(t *testing.T) {
	tests := []struct {
		alg  otp.Algorithm
		want string
	}{
		{otp.SHA1, "SHA1"},
		{otp.SHA256, "SHA256"},
		{otp.SHA512, "SHA512"},
		{otp.Algorithm(7), "Algorithm(7)"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			if got := tt.alg.String(); got != tt.want {
				t.Errorf("String() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestParseAlgorithm(t *testing.T) {
	tests := []struct {
		in      string
		want    otp.Algorithm
		wantErr bool
	}{
		{"SHA1", otp.SHA1, false},
		{"sha1", otp.SHA1, false},
		{"SHA-1", otp.SHA1, false},
		{"SHA256", otp.SHA256, false},
		{"sha-256", otp.SHA256, false},
		{"Sha512", otp.SHA512, false},
		{"SHA-512", otp.SHA512, false},
		{"", 0, true},
		{"MD5", 0, true},
		{"SHA384", 0, true},
		{"SHA_256", 0, true},
		{" SHA1", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := otp.ParseAlgorithm(tt.in)
			if tt.wantErr {
				if !errors.Is(err, otp.ErrAlgorithm) {
					t.Errorf("ParseAlgorithm(%q) error = %v, want ErrAlgorithm", tt.in, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("ParseAlgorithm(%q) = %v, %v, want %v, nil", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParamsValidate(t *testing.T) {
	tests := []struct {
		name string
		p    otp.Params
		want error
	}{
		{"default", otp.DefaultParams(), nil},
		{"SHA512 8 digits 60 s", otp.Params{Algorithm: otp.SHA512, Digits: 8, Period: time.Minute}, nil},
		{"7 digits 1 s", otp.Params{Algorithm: otp.SHA256, Digits: 7, Period: time.Second}, nil},
		{"unknown algorithm", otp.Params{Algorithm: 3, Digits: 6, Period: 30 * time.Second}, otp.ErrAlgorithm},
		{"5 digits", otp.Params{Digits: 5, Period: 30 * time.Second}, otp.ErrDigits},
		{"9 digits", otp.Params{Digits: 9, Period: 30 * time.Second}, otp.ErrDigits},
		{"zero period", otp.Params{Digits: 6}, otp.ErrPeriod},
		{"negative period", otp.Params{Digits: 6, Period: -30 * time.Second}, otp.ErrPeriod},
		{"sub-second period", otp.Params{Digits: 6, Period: 500 * time.Millisecond}, otp.ErrPeriod},
		{"fractional period", otp.Params{Digits: 6, Period: 1500 * time.Millisecond}, otp.ErrPeriod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.p.Validate()
			if (tt.want == nil) != (err == nil) || !errors.Is(err, tt.want) {
				t.Errorf("Validate(%+v) = %v, want %v", tt.p, err, tt.want)
			}
		})
	}
}

func TestDefaultParams(t *testing.T) {
	got := otp.DefaultParams()
	want := otp.Params{Algorithm: otp.SHA1, Digits: 6, Period: 30 * time.Second}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("DefaultParams() mismatch (-want +got):\n%s", diff)
	}
}

func TestNewSecret(t *testing.T) {
	random := bytes.Repeat([]byte{0xA5}, 100)
	tests := []struct {
		name    string
		size    int
		wantLen int
		wantErr bool
	}{
		{"default", 0, 20, false},
		{"20", 20, 20, false},
		{"32", 32, 32, false},
		{"64", 64, 64, false},
		{"minimum 16", 16, 16, false},
		{"too short", 15, 0, true},
		{"too long", 65, 0, true},
		{"negative", -1, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.NewSecret(bytes.NewReader(random), tt.size)
			if tt.wantErr {
				if !errors.Is(err, otp.ErrSecret) {
					t.Errorf("NewSecret(%d) error = %v, want ErrSecret", tt.size, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("NewSecret(%d): %v", tt.size, err)
			}
			if diff := cmp.Diff(random[:tt.wantLen], got); diff != "" {
				t.Errorf("NewSecret(%d) mismatch (-want +got):\n%s", tt.size, diff)
			}
		})
	}
}

// TestCheckSecret: the 128-bit minimum counts the bytes of a secret that
// make its HMAC key, without the zero bytes at its end that HMAC adds to a
// short key anyway.
func TestCheckSecret(t *testing.T) {
	tests := []struct {
		name   string
		secret []byte
		ok     bool
	}{
		{"16 bytes", bytes.Repeat([]byte{0xA5}, 16), true},
		{"64 bytes", bytes.Repeat([]byte{0xA5}, 64), true},
		{"16 bytes and zeros", append(bytes.Repeat([]byte{0xA5}, 16), 0, 0, 0, 0), true},
		{"zeros inside", append([]byte{1}, append(make([]byte, 14), 1)...), true},
		{"empty", nil, false},
		{"15 bytes", bytes.Repeat([]byte{0xA5}, 15), false},
		{"65 bytes", bytes.Repeat([]byte{0xA5}, 65), false},
		{"1 byte and 15 zeros", append([]byte{1}, make([]byte, 15)...), false},
		{"15 bytes and a zero", append(bytes.Repeat([]byte{0xA5}, 15), 0), true},           // a random seed, once in 256
		{"12 bytes and 4 zeros", append(bytes.Repeat([]byte{0xA5}, 12), 0, 0, 0, 0), true}, // once in 2^32
		{"11 bytes and 5 zeros", append(bytes.Repeat([]byte{0xA5}, 11), 0, 0, 0, 0, 0), false},
		{"16 zeros", make([]byte, 16), false},
		{"64 zeros", make([]byte, 64), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := otp.CheckSecret(tt.secret)
			if tt.ok && err != nil {
				t.Errorf("CheckSecret: %v, want none", err)
			}
			if !tt.ok && !errors.Is(err, otp.ErrSecret) {
				t.Errorf("CheckSecret: %v, want ErrSecret", err)
			}
		})
	}
	// The refused ones are refused because they are weak: as keys they
	// make the codes of a shorter one.
	short := append([]byte{1}, make([]byte, 15)...)
	if !otp.SameKey(short, []byte{1}, otp.SHA1) || !otp.SameKey(make([]byte, 16), nil, otp.SHA1) {
		t.Error("a secret and the same secret with zero bytes added are not the same key")
	}
}

func TestNewSecretReaderErrors(t *testing.T) {
	tests := []struct {
		name string
		r    func() *bytes.Reader
	}{
		{"short read", func() *bytes.Reader { return bytes.NewReader(make([]byte, 19)) }},
		{"empty", func() *bytes.Reader { return bytes.NewReader(nil) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got, err := otp.NewSecret(tt.r(), 20); err == nil {
				t.Errorf("NewSecret = %x, nil, want an error", got)
			}
		})
	}
	if _, err := otp.NewSecret(iotest.ErrReader(errors.New("broken")), 20); err == nil {
		t.Error("NewSecret(failing reader) error = nil, want an error")
	}
}

func TestNewSecretCryptoRand(t *testing.T) {
	a, err := otp.NewSecret(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	b, err := otp.NewSecret(nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 20 || bytes.Equal(a, b) {
		t.Errorf("NewSecret(nil, 0) twice = %x, %x, want two different 20-byte secrets", a, b)
	}
}

func TestEncodeSecret(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"RFC seed", seedSHA1, "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"},
		{"10 bytes", []byte("Hello!\xde\xad\xbe\xef"), "JBSWY3DPEHPK3PXP"},
		{"needs padding", []byte{0xff}, "74"},
		{"empty", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := otp.EncodeSecret(tt.in)
			if got != tt.want {
				t.Errorf("EncodeSecret(%x) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestDecodeSecret(t *testing.T) {
	hello := []byte("Hello!\xde\xad\xbe\xef")
	tests := []struct {
		name string
		in   string
		want []byte
	}{
		{"canonical", "JBSWY3DPEHPK3PXP", hello},
		{"lower case", "jbswy3dpehpk3pxp", hello},
		{"mixed case", "JbSwY3dPeHpK3pXp", hello},
		{"groups of four", "JBSW Y3DP EHPK 3PXP", hello},
		{"dashes", "JBSW-Y3DP-EHPK-3PXP", hello},
		{"tabs", "JBSWY3DP\tEHPK3PXP", hello},
		{"padding", "74======", []byte{0xff}},
		{"no padding", "74", []byte{0xff}},
		{"spaced padding", "74 == ==", []byte{0xff}},
		{"RFC seed", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ", seedSHA1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.DecodeSecret(tt.in)
			if err != nil {
				t.Fatalf("DecodeSecret(%q): %v", tt.in, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("DecodeSecret(%q) mismatch (-want +got):\n%s", tt.in, diff)
			}
		})
	}
}

func TestDecodeSecretInvalid(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"only spaces", "   "},
		{"only padding", "===="},
		{"digit 1", "JBSWY3DPEHPK3PX1"},
		{"digit 0", "0BSWY3DPEHPK3PXP"},
		{"digit 8", "8BSWY3DPEHPK3PXP"},
		{"impossible length", "JBSWY3"},
		{"one character", "J"},
		{"punctuation", "JBSW.Y3DP"},
		{"padding inside", "74==74"},
		{"non-ASCII", "JBSWY3DPEHPK3PXÄ"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := otp.DecodeSecret(tt.in)
			if !errors.Is(err, otp.ErrSecret) {
				t.Errorf("DecodeSecret(%q) = %x, %v, want ErrSecret", tt.in, got, err)
			}
		})
	}
}

func TestSecretRoundTrip(t *testing.T) {
	for n := 1; n <= 64; n++ {
		b := bytes.Repeat([]byte{byte(n)}, n)
		s := otp.EncodeSecret(b)
		if strings.ContainsAny(s, "=abcdefghijklmnopqrstuvwxyz") {
			t.Errorf("EncodeSecret(%d bytes) = %q, want upper case without padding", n, s)
		}
		got, err := otp.DecodeSecret(s)
		if err != nil || !bytes.Equal(got, b) {
			t.Errorf("DecodeSecret(EncodeSecret(%x)) = %x, %v, want %x, nil", b, got, err, b)
		}
	}
}
