package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/otp"
)

// code prints the current TOTP code for a base32 secret or otpauth:// URI, as
// `oathtool --totp -b` does. With --fresh it waits for the next code when the
// current one has fewer than 5 seconds left. A SECRET of - is read from the
// first line of standard input.
func (m *Main) code(ctx context.Context, args []string) error {
	fs := m.flags("code", "code [--algorithm SHA1|SHA256|SHA512] [--digits N] [--period SECONDS] [--fresh] SECRET|otpauth-URI|-")
	alg := fs.String("algorithm", "", "hash algorithm (default SHA1, or the URI's)")
	digits := fs.Int("digits", 0, "code length, 6 to 8 (default 6, or the URI's)")
	period := fs.Int("period", 0, "time step in seconds (default 30, or the URI's)")
	fresh := fs.Bool("fresh", false, "wait for a new code when fewer than 5 seconds of the current one remain, and say how long it stays valid")
	// Allow the secret before the options too.
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	if err := fs.Parse(config.FlagsFirst(fs, args)); err != nil {
		if errors.Is(err, errUsage) {
			return err
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if arg == "" && fs.NArg() == 1 {
		arg = fs.Arg(0)
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: want one SECRET or otpauth URI", errUsage)
	}
	if arg == "" {
		fs.Usage()
		return fmt.Errorf("%w: SECRET or otpauth URI is required", errUsage)
	}
	if arg == "-" {
		// From standard input: an argument is visible to every user of the
		// machine (ps, /proc) and stays in the shell's history.
		line, err := readLine(ctx, m.Stdin, "no code printed")
		if errors.Is(err, context.Canceled) {
			return err
		}
		if arg = strings.TrimSpace(line); arg == "" {
			if err == nil {
				err = errors.New("empty line")
			}
			return fmt.Errorf("%w: no SECRET or otpauth URI on standard input (%v)", errUsage, err)
		}
	}
	var secret []byte
	p := otp.DefaultParams()
	if strings.HasPrefix(strings.ToLower(arg), "otpauth://") {
		k, err := otp.ParseURI(arg)
		if err != nil {
			return fmt.Errorf("%w: not a usable otpauth URI: %s", errUsage, uriProblem(err))
		}
		if k.Type != otp.TypeTOTP {
			return fmt.Errorf("%w: only totp URIs are supported", errUsage)
		}
		secret, p = k.Secret, k.Params
	} else {
		s, err := otp.DecodeSecret(arg)
		if err != nil {
			return fmt.Errorf("%w: the secret is not valid base32", errUsage)
		}
		secret = s
	}
	if *alg != "" {
		a, err := otp.ParseAlgorithm(*alg)
		if err != nil {
			return fmt.Errorf("%w: algorithm must be SHA1, SHA256 or SHA512", errUsage)
		}
		p.Algorithm = a
	}
	// A flag given is used as given: --digits 0 or --period 0 is refused
	// below, not taken for the default.
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "digits":
			p.Digits = *digits
		case "period":
			p.Period = time.Duration(*period) * time.Second
		}
	})
	if err := p.Validate(); err != nil {
		// Only a flag can make p invalid: a URI's parameters were checked
		// by otp.ParseURI.
		return fmt.Errorf("%w: %s", errUsage, paramsProblem(err, p))
	}
	now := m.Now()
	remaining := remainingIn(now, p.Period)
	if *fresh && remaining < 5*time.Second {
		fmt.Fprintf(m.Stderr, "waiting %s for a fresh code…\n", remaining.Round(time.Millisecond))
		select {
		case <-ctx.Done():
			return interrupted("no code printed")
		case <-m.after(remaining):
		}
		now = now.Add(remaining)
		remaining = p.Period
	}
	fmt.Fprintln(m.Stdout, otp.TOTP(twofold.Secret(secret), now, p))
	if *fresh {
		s := int(remaining.Seconds())
		fmt.Fprintf(m.Stderr, "valid for %d more %s\n", s, plural(s, "second", "seconds"))
	}
	return nil
}

// uriProblem says which part of an otpauth URI otp.ParseURI refused,
// without quoting any of it: the URI holds the secret.
func uriProblem(err error) string {
	switch {
	case errors.Is(err, otp.ErrSecret):
		return "its secret is missing or not valid base32"
	case errors.Is(err, otp.ErrAlgorithm):
		return "its algorithm must be SHA1, SHA256 or SHA512"
	case errors.Is(err, otp.ErrDigits):
		return "its digits must be 6, 7 or 8"
	case errors.Is(err, otp.ErrPeriod):
		return "its period must be a whole number of seconds, at least 1"
	}
	return "want otpauth://totp/ISSUER:ACCOUNT?secret=BASE32 with each parameter at most once"
}

// paramsProblem says which flag made p invalid (err from p.Validate), in
// the command's words rather than the otp package's.
func paramsProblem(err error, p otp.Params) string {
	switch {
	case errors.Is(err, otp.ErrDigits):
		return fmt.Sprintf("--digits must be 6, 7 or 8, not %d", p.Digits)
	case errors.Is(err, otp.ErrPeriod):
		return fmt.Sprintf("--period must be a whole number of seconds, at least 1, not %d", int64(p.Period/time.Second))
	case errors.Is(err, otp.ErrAlgorithm):
		return "--algorithm must be SHA1, SHA256 or SHA512"
	}
	return fmt.Sprintf("the code's algorithm, digits or period cannot be used (%v)", err)
}

// remainingIn returns how long the code of the step containing t stays current.
func remainingIn(t time.Time, period time.Duration) time.Duration {
	step := otp.Step(t, period)
	end := time.Unix(int64(step+1)*int64(period/time.Second), 0)
	return end.Sub(t)
}

// after waits d on the real clock; with an injected clock (tests) it returns at once.
func (m *Main) after(d time.Duration) <-chan time.Time {
	if m.Sleep != nil {
		return m.Sleep(d)
	}
	return time.After(d)
}
