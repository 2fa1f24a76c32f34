package otp_test

import (
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// These tests compare codes with the real oathtool from OATH Toolkit (Debian package
// oathtool), as SPEC §5 asks. They fail rather than skip when it is missing: CI installs it.

// oathtool runs oathtool with args and returns its output lines.
func oathtool(tb testing.TB, args ...string) []string {
	tb.Helper()
	path, err := exec.LookPath("oathtool")
	if err != nil {
		tb.Fatalf("oathtool not found (install the Debian package oathtool): %v", err)
	}
	out, err := exec.CommandContext(tb.Context(), path, args...).CombinedOutput()
	if err != nil {
		tb.Fatalf("oathtool %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.Fields(string(out))
}

// randomSecret returns a secret of 10 to 64 bytes and its oathtool arguments: hex, or -b and
// base32.
func randomSecret(r *rand.Rand) (secret []byte, args []string) {
	secret = make([]byte, 10+r.IntN(55))
	for i := range secret {
		secret[i] = byte(r.Uint32())
	}
	if r.IntN(2) == 0 {
		return secret, []string{hex.EncodeToString(secret)}
	}
	return secret, []string{"-b", otp.EncodeSecret(secret)}
}

func TestOathtoolTOTP(t *testing.T) {
	const (
		invocations = 100
		window      = 4 // oathtool -w 4 prints the codes of 5 consecutive steps
	)
	r := rand.New(rand.NewPCG(6238, 4226))
	algs := []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512}
	for i := range invocations {
		p := otp.Params{
			Algorithm: algs[r.IntN(len(algs))],
			Digits:    6 + r.IntN(3),
			Period:    time.Duration(30*(1+r.IntN(2))) * time.Second,
		}
		now := time.Unix(r.Int64N(4102444800), 0) // up to the year 2100
		secret, key := randomSecret(r)
		args := append([]string{
			"--totp=" + p.Algorithm.String(),
			"-d", fmt.Sprint(p.Digits),
			"-s", fmt.Sprintf("%ds", p.Period/time.Second),
			"-N", now.UTC().Format("2006-01-02 15:04:05 UTC"),
			"-w", fmt.Sprint(window),
		}, key...)
		want := oathtool(t, args...)
		if len(want) != window+1 {
			t.Fatalf("oathtool %s printed %q, want %d codes", strings.Join(args, " "), want, window+1)
		}
		for j, w := range want {
			at := now.Add(time.Duration(j) * p.Period)
			if got := otp.TOTP(secret, at, p); got != w {
				t.Errorf("case %d: TOTP(%x, %v, %+v) = %q, want %q (oathtool %s)",
					i, secret, at.UTC(), p, got, w, strings.Join(args, " "))
			}
		}
		// oathtool's first code is the current one, so VerifyTOTP must accept it at step 0 of
		// the window and the last one with drift window.
		if step, ok := otp.VerifyTOTP(secret, want[window], now, p, window, 0); !ok || step != otp.Step(now, p.Period)+window {
			t.Errorf("case %d: VerifyTOTP(oathtool's code %d steps ahead, drift %d) = %d, %v, want %d, true",
				i, window, window, step, ok, otp.Step(now, p.Period)+window)
		}
	}
}

func TestOathtoolHOTP(t *testing.T) {
	const (
		invocations = 40
		window      = 9 // oathtool -w 9 prints the codes of 10 consecutive counters
	)
	r := rand.New(rand.NewPCG(4226, 6238))
	for i := range invocations {
		digits := 6 + r.IntN(3)
		counter := r.Uint64N(1 << 48)
		if i == 0 {
			counter = 0
		}
		secret, key := randomSecret(r)
		// oathtool's HOTP mode is SHA-1 only, as in RFC 4226 §5.2.
		args := append([]string{"--hotp", "-d", fmt.Sprint(digits), "-c", fmt.Sprint(counter), "-w", fmt.Sprint(window)}, key...)
		want := oathtool(t, args...)
		if len(want) != window+1 {
			t.Fatalf("oathtool %s printed %q, want %d codes", strings.Join(args, " "), want, window+1)
		}
		for j, w := range want {
			c := counter + uint64(j)
			if got := otp.HOTP(secret, c, otp.SHA1, digits); got != w {
				t.Errorf("case %d: HOTP(%x, %d, SHA1, %d) = %q, want %q (oathtool %s)",
					i, secret, c, digits, got, w, strings.Join(args, " "))
			}
		}
		if c, ok := otp.VerifyHOTP(secret, want[window], counter, window, otp.SHA1, digits); !ok || c != counter+window {
			t.Errorf("case %d: VerifyHOTP(oathtool's code for counter+%d) = %d, %v, want %d, true",
				i, window, c, ok, counter+window)
		}
	}
}
