package otp_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// benchmarkVerifyTOTPWindow1 measures a ±1 window check (three codes) that matches the last
// candidate, the SPEC §1.7 default.
func benchmarkVerifyTOTPWindow1(b *testing.B, alg otp.Algorithm, secretSize int) {
	secret := make([]byte, secretSize)
	for i := range secret {
		secret[i] = byte(i)
	}
	p := otp.Params{Algorithm: alg, Digits: 6, Period: 30 * time.Second}
	now := time.Unix(1700000000, 0)
	code := otp.TOTP(secret, now.Add(p.Period), p)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := otp.VerifyTOTP(secret, code, now, p, 0, 1); !ok {
			b.Fatal("VerifyTOTP failed")
		}
	}
}

func BenchmarkVerifyTOTPWindow1(b *testing.B)       { benchmarkVerifyTOTPWindow1(b, otp.SHA1, 20) }
func BenchmarkVerifyTOTPWindow1SHA256(b *testing.B) { benchmarkVerifyTOTPWindow1(b, otp.SHA256, 32) }
func BenchmarkVerifyTOTPWindow1SHA512(b *testing.B) { benchmarkVerifyTOTPWindow1(b, otp.SHA512, 64) }

// BenchmarkHOTP measures generating one SHA-1 code, string included.
func BenchmarkHOTP(b *testing.B) {
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		otp.HOTP(seedSHA1, c, otp.SHA1, 6)
		c++
	}
}

// BenchmarkHMACSHA1Baseline measures one SHA-1 code computed the plain way with crypto/hmac
// (hmac.New, Write, Sum, dynamic truncation), to compare with BenchmarkHOTP.
func BenchmarkHMACSHA1Baseline(b *testing.B) {
	b.ReportAllocs()
	var c uint64
	for b.Loop() {
		referenceHOTP(seedSHA1, c, otp.SHA1, 6)
		c++
	}
}
