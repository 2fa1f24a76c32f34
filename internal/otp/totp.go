package otp

import (
	"fmt"
	"math"
	"time"
)

// Step returns the TOTP time step T = floor((unix(t) - T0) / X) with T0 = 0 (RFC 6238 §4.2),
// the counter HOTP is computed over. Times before the Unix epoch give step 0. Only whole
// seconds of period count; Step panics if period is less than one second.
func Step(t time.Time, period time.Duration) uint64 {
	x := int64(period / time.Second)
	if x < 1 {
		panic(fmt.Sprintf("otp: TOTP period %v, want at least 1s", period))
	}
	u := t.Unix()
	if u < 0 {
		return 0
	}
	return uint64(u / x)
}

// TOTP returns the TOTP value at time t (RFC 6238 §4.2): the HOTP value of Step(t, p.Period).
// It panics if p is not valid; validate parameters from outside the program with
// Params.Validate first.
func TOTP(secret []byte, t time.Time, p Params) string {
	if err := p.Validate(); err != nil {
		panic(err)
	}
	return HOTP(secret, Step(t, p.Period), p.Algorithm, p.Digits)
}

// VerifyTOTP reports whether code is the TOTP value of a time step within window steps of
// Step(t)+drift, and returns that step (RFC 6238 §5.2). Drift is the device's learnt clock
// offset in steps, negative for a slow clock (RFC 6238 §6); window 1 is the SPEC §1.7 default.
// Steps below zero are not tried. Like VerifyRange it computes every candidate and compares in
// constant time, returning the lowest matching step.
//
// Invalid params, a negative window and a malformed code never match. The caller refuses a
// step at or below the last accepted one (RFC 6238 §5.2, SPEC §1.8).
func VerifyTOTP(secret []byte, code string, t time.Time, p Params, drift int64, window int) (step uint64, ok bool) {
	if window < 0 || p.Validate() != nil {
		return 0, false
	}
	center := Step(t, p.Period)
	w := int64(window)
	hi, below := shiftStep(center, addInt64(drift, w))
	if below {
		return 0, false // the whole window lies before step 0
	}
	lo, _ := shiftStep(center, addInt64(drift, -w))
	return VerifyRange(secret, code, lo, hi, p.Algorithm, p.Digits)
}

// shiftStep returns s+d clamped to [0, MaxUint64], and reports whether s+d was below zero.
func shiftStep(s uint64, d int64) (uint64, bool) {
	if d >= 0 {
		r := s + uint64(d)
		if r < s {
			return math.MaxUint64, false
		}
		return r, false
	}
	m := uint64(-(d + 1)) + 1 // |d|, also for math.MinInt64
	if m > s {
		return 0, true
	}
	return s - m, false
}

// addInt64 returns a+b, saturating at the bounds of int64.
func addInt64(a, b int64) int64 {
	switch {
	case b > 0 && a > math.MaxInt64-b:
		return math.MaxInt64
	case b < 0 && a < math.MinInt64-b:
		return math.MinInt64
	}
	return a + b
}
