package otp_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"fmt"
	"hash"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// The RFC 6238 Appendix B seeds, one per hash; RFC 4226 Appendix D uses the SHA-1 one.
var (
	seedSHA1   = []byte("12345678901234567890")
	seedSHA256 = []byte("12345678901234567890123456789012")
	seedSHA512 = []byte("1234567890123456789012345678901234567890123456789012345678901234")
)

func TestHOTPRFC4226(t *testing.T) {
	// RFC 4226 Appendix D.
	want := []string{
		"755224", "287082", "359152", "969429", "338314",
		"254676", "287922", "162583", "399871", "520489",
	}
	for counter, w := range want {
		t.Run(fmt.Sprintf("counter=%d", counter), func(t *testing.T) {
			if got := otp.HOTP(seedSHA1, uint64(counter), otp.SHA1, 6); got != w {
				t.Errorf("HOTP(counter %d) = %q, want %q", counter, got, w)
			}
		})
	}
}

func TestTOTPRFC6238(t *testing.T) {
	// RFC 6238 Appendix B: 8 digits, 30 s steps.
	tests := []struct {
		unix int64
		step uint64
		alg  otp.Algorithm
		want string
	}{
		{59, 0x1, otp.SHA1, "94287082"},
		{59, 0x1, otp.SHA256, "46119246"},
		{59, 0x1, otp.SHA512, "90693936"},
		{1111111109, 0x23523EC, otp.SHA1, "07081804"},
		{1111111109, 0x23523EC, otp.SHA256, "68084774"},
		{1111111109, 0x23523EC, otp.SHA512, "25091201"},
		{1111111111, 0x23523ED, otp.SHA1, "14050471"},
		{1111111111, 0x23523ED, otp.SHA256, "67062674"},
		{1111111111, 0x23523ED, otp.SHA512, "99943326"},
		{1234567890, 0x273EF07, otp.SHA1, "89005924"},
		{1234567890, 0x273EF07, otp.SHA256, "91819424"},
		{1234567890, 0x273EF07, otp.SHA512, "93441116"},
		{2000000000, 0x3F940AA, otp.SHA1, "69279037"},
		{2000000000, 0x3F940AA, otp.SHA256, "90698825"},
		{2000000000, 0x3F940AA, otp.SHA512, "38618901"},
		{20000000000, 0x27BC86AA, otp.SHA1, "65353130"},
		{20000000000, 0x27BC86AA, otp.SHA256, "77737706"},
		{20000000000, 0x27BC86AA, otp.SHA512, "47863826"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%d/%v", tt.unix, tt.alg), func(t *testing.T) {
			now := time.Unix(tt.unix, 0)
			p := otp.Params{Algorithm: tt.alg, Digits: 8, Period: 30 * time.Second}
			if got := otp.Step(now, p.Period); got != tt.step {
				t.Errorf("Step = %#x, want %#x", got, tt.step)
			}
			if got := otp.TOTP(seedFor(t, tt.alg), now, p); got != tt.want {
				t.Errorf("TOTP = %q, want %q", got, tt.want)
			}
			step, ok := otp.VerifyTOTP(seedFor(t, tt.alg), tt.want, now, p, 0, 1)
			if !ok || step != tt.step {
				t.Errorf("VerifyTOTP = %#x, %v, want %#x, true", step, ok, tt.step)
			}
		})
	}
}

// seedFor returns the RFC 6238 Appendix B seed for alg.
func seedFor(tb testing.TB, alg otp.Algorithm) []byte {
	tb.Helper()
	switch alg {
	case otp.SHA1:
		return seedSHA1
	case otp.SHA256:
		return seedSHA256
	case otp.SHA512:
		return seedSHA512
	}
	tb.Fatalf("no seed for %v", alg)
	return nil
}

// referenceHOTP computes an HOTP value the plain way, with crypto/hmac (RFC 4226 §5.3).
func referenceHOTP(secret []byte, counter uint64, alg otp.Algorithm, digits int) string {
	var h func() hash.Hash
	switch alg {
	case otp.SHA1:
		h = sha1.New
	case otp.SHA256:
		h = sha256.New
	default:
		h = sha512.New
	}
	m := hmac.New(h, secret)
	var msg [8]byte
	binary.BigEndian.PutUint64(msg[:], counter)
	m.Write(msg[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:]) & 0x7fffffff
	code := make([]byte, digits)
	for i := digits - 1; i >= 0; i-- {
		code[i] = byte('0' + v%10)
		v /= 10
	}
	return string(code)
}

func TestHOTPMatchesCryptoHMAC(t *testing.T) {
	// Key lengths on both sides of every block size (64 and 128 bytes), where RFC 2104 §2
	// switches to hashing the key first.
	r := rand.New(rand.NewPCG(1, 2))
	for _, alg := range []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512} {
		for n := 0; n <= 200; n++ {
			secret := make([]byte, n)
			for i := range secret {
				secret[i] = byte(r.Uint32())
			}
			counter := r.Uint64()
			digits := 6 + r.IntN(3)
			got := otp.HOTP(secret, counter, alg, digits)
			want := referenceHOTP(secret, counter, alg, digits)
			if got != want {
				t.Errorf("HOTP(%d-byte secret, %d, %v, %d) = %q, want %q", n, counter, alg, digits, got, want)
			}
		}
	}
}

func TestHOTPPanicsOnBadParams(t *testing.T) {
	tests := []struct {
		name   string
		alg    otp.Algorithm
		digits int
	}{
		{"digits 5", otp.SHA1, 5},
		{"digits 9", otp.SHA1, 9},
		{"unknown algorithm", otp.Algorithm(3), 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Errorf("HOTP(%v, %d) did not panic", tt.alg, tt.digits)
				}
			}()
			otp.HOTP(seedSHA1, 0, tt.alg, tt.digits)
		})
	}
}

func TestStep(t *testing.T) {
	tests := []struct {
		name   string
		t      time.Time
		period time.Duration
		want   uint64
	}{
		{"epoch", time.Unix(0, 0), 30 * time.Second, 0},
		{"end of first step", time.Unix(29, 999999999), 30 * time.Second, 0},
		{"start of second step", time.Unix(30, 0), 30 * time.Second, 1},
		{"60 s period", time.Unix(1111111109, 0), 60 * time.Second, 18518518},
		{"time zone does not matter", time.Unix(90, 0).In(time.FixedZone("X", 5*3600)), 30 * time.Second, 3},
		{"before epoch", time.Unix(-100, 0), 30 * time.Second, 0},
		{"1 s period", time.Unix(1234, 0), time.Second, 1234},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := otp.Step(tt.t, tt.period); got != tt.want {
				t.Errorf("Step(%v, %v) = %d, want %d", tt.t, tt.period, got, tt.want)
			}
		})
	}
}
