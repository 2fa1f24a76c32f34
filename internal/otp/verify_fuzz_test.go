package otp_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// FuzzVerifyTOTP checks the server's code check, whose HMAC is its own
// (prepared pads, no allocation), against crypto/hmac (referenceHOTP): for
// any secret, time, drift, window, algorithm and length, and any code or
// the right code of a step near the time, VerifyTOTP accepts exactly when
// a step of the window (none below zero) has that code, and returns the
// lowest such step.
func FuzzVerifyTOTP(f *testing.F) {
	f.Add([]byte("12345678901234567890"), int64(59), uint8(0), uint8(0), int8(0), uint8(1), "287082", uint8(0))
	f.Add([]byte("12345678901234567890123456789012"), int64(1111111109), uint8(1), uint8(2), int8(-3), uint8(2), "", uint8(3))
	f.Add(make([]byte, 130), int64(20), uint8(2), uint8(1), int8(-2), uint8(3), "", uint8(1))
	f.Add([]byte{}, int64(-5), uint8(0), uint8(0), int8(1), uint8(0), "00000000", uint8(0))
	f.Fuzz(func(t *testing.T, secret []byte, unix int64, alg, digits uint8, drift int8, window uint8, code string, pick uint8) {
		algs := []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512}
		p := otp.Params{Algorithm: algs[int(alg)%len(algs)], Digits: 6 + int(digits)%3, Period: 30 * time.Second}
		at := time.Unix(unix, 0)
		w := int64(window % 4)
		center := int64(otp.Step(at, p.Period))
		lo, hi := max(center+int64(drift)-w, 0), center+int64(drift)+w
		if pick%2 == 1 && hi >= lo {
			// The right code of a step near the window, often in it.
			code = referenceHOTP(secret, uint64(max(lo+int64(pick/2)%(hi-lo+3)-1, 0)), p.Algorithm, p.Digits)
		}
		var want uint64
		found := false
		for c := lo; c <= hi && !found; c++ {
			if referenceHOTP(secret, uint64(c), p.Algorithm, p.Digits) == code {
				want, found = uint64(c), true
			}
		}
		got, ok := otp.VerifyTOTP(secret, code, at, p, int64(drift), int(w))
		if ok != found || ok && got != want {
			t.Fatalf("VerifyTOTP(%x, %q, %d, %+v, drift %d, window %d) = %d, %v; want %d, %v", secret, code, unix, p, drift, w, got, ok, want, found)
		}
	})
}
