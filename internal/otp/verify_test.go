package otp_test

import (
	"bytes"
	"crypto/sha1"
	"math"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

func TestVerifyTOTP(t *testing.T) {
	p := otp.DefaultParams()
	now := time.Unix(1700000000, 0) // step 56666666
	const s = 56666666
	at := func(step uint64) string { return otp.HOTP(seedSHA1, step, p.Algorithm, p.Digits) }
	tests := []struct {
		name     string
		code     string
		t        time.Time
		drift    int64
		window   int
		wantStep uint64
		wantOK   bool
	}{
		{"current step", at(s), now, 0, 1, s, true},
		{"one step behind", at(s - 1), now, 0, 1, s - 1, true},
		{"one step ahead", at(s + 1), now, 0, 1, s + 1, true},
		{"two behind outside window 1", at(s - 2), now, 0, 1, 0, false},
		{"two ahead outside window 1", at(s + 2), now, 0, 1, 0, false},
		{"two behind inside window 2", at(s - 2), now, 0, 2, s - 2, true},
		{"two ahead inside window 2", at(s + 2), now, 0, 2, s + 2, true},
		{"window 0 current", at(s), now, 0, 0, s, true},
		{"window 0 next", at(s + 1), now, 0, 0, 0, false},
		{"last second of step", at(s), time.Unix(s*30+29, 999999999), 0, 0, s, true},
		{"first second of next step", at(s), time.Unix((s+1)*30, 0), 0, 0, 0, false},
		{"positive drift centre", at(s + 3), now, 3, 1, s + 3, true},
		{"positive drift upper edge", at(s + 4), now, 3, 1, s + 4, true},
		{"positive drift lower edge", at(s + 2), now, 3, 1, s + 2, true},
		{"positive drift beyond", at(s + 5), now, 3, 1, 0, false},
		{"positive drift leaves current step", at(s), now, 3, 1, 0, false},
		{"negative drift centre", at(s - 3), now, -3, 1, s - 3, true},
		{"negative drift lower edge", at(s - 4), now, -3, 1, s - 4, true},
		{"negative drift upper edge", at(s - 2), now, -3, 1, s - 2, true},
		{"negative drift beyond", at(s - 5), now, -3, 1, 0, false},
		{"wrong code", wrongCode(at(s-1), at(s), at(s+1)), now, 0, 1, 0, false},
		{"near epoch", at(0), time.Unix(10, 0), 0, 1, 0, true},
		{"clamped at step 0", at(0), time.Unix(10, 0), -1, 1, 0, true},
		{"window wholly before step 0", at(0), time.Unix(10, 0), -5, 1, 0, false},
		{"huge drift", at(s), now, math.MaxInt64, 1, 0, false},
		{"huge negative drift", at(s), now, math.MinInt64, 1, 0, false},
		{"negative window", at(s), now, 0, -1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			step, ok := otp.VerifyTOTP(seedSHA1, tt.code, tt.t, p, tt.drift, tt.window)
			if step != tt.wantStep || ok != tt.wantOK {
				t.Errorf("VerifyTOTP(%q, drift %d, window %d) = %d, %v, want %d, %v",
					tt.code, tt.drift, tt.window, step, ok, tt.wantStep, tt.wantOK)
			}
		})
	}
}

func TestVerifyMalformedCode(t *testing.T) {
	p := otp.DefaultParams()
	now := time.Unix(1700000000, 0)
	code := otp.TOTP(seedSHA1, now, p)
	tests := []struct {
		name string
		code string
	}{
		{"empty", ""},
		{"too short", code[:5]},
		{"too long", code + "0"},
		{"leading space", " " + code[1:]},
		{"inner space", code[:3] + " " + code[3:5]},
		{"letters", "12a456"},
		{"sign", "+" + code[1:]},
		{"full-width digits", "１２３４５６"},
		{"8 digits for 6", "0" + code + "0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if step, ok := otp.VerifyTOTP(seedSHA1, tt.code, now, p, 0, 10); ok {
				t.Errorf("VerifyTOTP(%q) = %d, true, want false", tt.code, step)
			}
			if c, ok := otp.VerifyHOTP(seedSHA1, tt.code, 0, 10, p.Algorithm, p.Digits); ok {
				t.Errorf("VerifyHOTP(%q) = %d, true, want false", tt.code, c)
			}
		})
	}
}

func TestVerifyTOTPInvalidParams(t *testing.T) {
	now := time.Unix(1700000000, 0)
	code := otp.TOTP(seedSHA1, now, otp.DefaultParams())
	tests := []struct {
		name string
		p    otp.Params
	}{
		{"zero params", otp.Params{}},
		{"digits 10", otp.Params{Algorithm: otp.SHA1, Digits: 10, Period: 30 * time.Second}},
		{"sub-second period", otp.Params{Algorithm: otp.SHA1, Digits: 6, Period: time.Second / 2}},
		{"unknown algorithm", otp.Params{Algorithm: 9, Digits: 6, Period: 30 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if step, ok := otp.VerifyTOTP(seedSHA1, code, now, tt.p, 0, 1); ok {
				t.Errorf("VerifyTOTP(%+v) = %d, true, want false", tt.p, step)
			}
		})
	}
}

func TestVerifyHOTP(t *testing.T) {
	at := func(c uint64) string { return otp.HOTP(seedSHA1, c, otp.SHA1, 6) }
	const max = math.MaxUint64
	tests := []struct {
		name        string
		code        string
		next        uint64
		lookahead   int
		wantCounter uint64
		wantOK      bool
	}{
		{"next", at(5), 5, 0, 5, true},
		{"last of look-ahead", at(15), 5, 10, 15, true},
		{"beyond look-ahead", at(16), 5, 10, 0, false},
		{"behind next", at(4), 5, 10, 0, false},
		{"RFC 4226 vector", "520489", 0, 10, 9, true},
		{"negative look-ahead", at(5), 5, -1, 0, false},
		{"top of counter space", at(max), max - 1, 10, max, true},
		{"wrong code", wrongCode(at(5), at(6)), 5, 1, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := otp.VerifyHOTP(seedSHA1, tt.code, tt.next, tt.lookahead, otp.SHA1, 6)
			if c != tt.wantCounter || ok != tt.wantOK {
				t.Errorf("VerifyHOTP(%q, %d, %d) = %d, %v, want %d, %v",
					tt.code, tt.next, tt.lookahead, c, ok, tt.wantCounter, tt.wantOK)
			}
		})
	}
}

func TestVerifyRange(t *testing.T) {
	// Find two counters with the same 6-digit code, to check which one is reported.
	seen := map[string]uint64{}
	var lo, hi uint64
	var code string
	for c := uint64(0); ; c++ {
		code = otp.HOTP(seedSHA1, c, otp.SHA1, 6)
		if prev, dup := seen[code]; dup {
			lo, hi = prev, c
			break
		}
		seen[code] = c
	}
	const max = math.MaxUint64
	tests := []struct {
		name        string
		code        string
		first, last uint64
		wantCounter uint64
		wantOK      bool
	}{
		{"two matches: the lowest", code, lo, hi, lo, true},
		{"two matches: the lowest from below", code, 0, hi + 5, lo, true},
		{"one match", code, lo + 1, hi, hi, true},
		{"single counter", otp.HOTP(seedSHA1, 7, otp.SHA1, 6), 7, 7, 7, true},
		{"first after last", otp.HOTP(seedSHA1, 7, otp.SHA1, 6), 8, 6, 0, false},
		{"ends at MaxUint64", otp.HOTP(seedSHA1, max-1, otp.SHA1, 6), max - 2, max, max - 1, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := otp.VerifyRange(seedSHA1, tt.code, tt.first, tt.last, otp.SHA1, 6)
			if c != tt.wantCounter || ok != tt.wantOK {
				t.Errorf("VerifyRange(%q, %d, %d) = %d, %v, want %d, %v",
					tt.code, tt.first, tt.last, c, ok, tt.wantCounter, tt.wantOK)
			}
		})
	}
}

func TestVerifyTOTPAllocations(t *testing.T) {
	// The product requirement is at most 2 allocations per ±1 window check; there are none.
	secret := make([]byte, 20)
	now := time.Unix(1700000000, 0)
	for _, alg := range []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512} {
		p := otp.Params{Algorithm: alg, Digits: 6, Period: 30 * time.Second}
		code := otp.TOTP(secret, now.Add(30*time.Second), p)
		got := testing.AllocsPerRun(100, func() {
			if _, ok := otp.VerifyTOTP(secret, code, now, p, 0, 1); !ok {
				t.Fatal("VerifyTOTP failed")
			}
		})
		if got > 2 {
			t.Errorf("%v: VerifyTOTP allocations = %v, want at most 2", alg, got)
		}
	}
}

// wrongCode returns a 6-digit code that is none of codes.
func wrongCode(codes ...string) string {
	for _, c := range []string{"000000", "111111", "222222", "333333"} {
		taken := false
		for _, x := range codes {
			taken = taken || x == c
		}
		if !taken {
			return c
		}
	}
	panic("unreachable")
}

// TestSameKey: secrets that HMAC turns into one key make the same codes,
// and SameKey says so; others do not.
func TestSameKey(t *testing.T) {
	s := []byte("12345678901234567890")
	long := bytes.Repeat([]byte("k"), 65)
	longSum := sha1.Sum(long)
	tests := []struct {
		name string
		a, b []byte
		alg  otp.Algorithm
		want bool
	}{
		{"equal", s, bytes.Clone(s), otp.SHA1, true},
		{"a zero byte added", s, append(bytes.Clone(s), 0), otp.SHA1, true},
		{"zero bytes added, SHA256", s, append(bytes.Clone(s), 0, 0, 0), otp.SHA256, true},
		{"zero bytes added, SHA512", s, append(bytes.Clone(s), 0, 0), otp.SHA512, true},
		{"another byte added", s, append(bytes.Clone(s), 1), otp.SHA1, false},
		{"a long secret and its hash", long, longSum[:], otp.SHA1, true},
		{"a long secret and its hash under SHA256", long, longSum[:], otp.SHA256, false},
		{"another secret", s, []byte("12345678901234567891"), otp.SHA1, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.SameKey(tt.a, tt.b, tt.alg); got != tt.want {
				t.Errorf("SameKey: got %v, want %v", got, tt.want)
			}
			same := otp.HOTP(tt.a, 7, tt.alg, 8) == otp.HOTP(tt.b, 7, tt.alg, 8)
			if same != tt.want {
				t.Errorf("the codes agree: %v, want %v", same, tt.want)
			}
		})
	}
}
