package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// testMain is a Main wired to buffers, an environment map and a fixed clock.
type testMain struct {
	*Main
	stdout, stderr *testenv.Buffer
	env            map[string]string
}

// newTestMain returns a Main whose clock reads now, whose environment is env,
// whose standard input is stdin and which is not on a terminal. Sleep fails the
// test unless a test replaces it.
func newTestMain(tb testing.TB, now time.Time, stdin string) *testMain {
	tb.Helper()
	tm := &testMain{stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, env: map[string]string{}}
	tm.Main = &Main{
		Stdin:     strings.NewReader(stdin),
		Stdout:    tm.stdout,
		Stderr:    tm.stderr,
		LookupEnv: func(k string) (string, bool) { v, ok := tm.env[k]; return v, ok },
		Environ: func() []string {
			var kv []string
			for k, v := range tm.env {
				kv = append(kv, k+"="+v)
			}
			return kv
		},
		Now:        func() time.Time { return now },
		IsTerminal: func() bool { return false },
		ReadPassword: func(context.Context) (string, error) {
			tb.Error("ReadPassword called while not on a terminal")
			return "", errors.New("no terminal")
		},
		Sleep: func(d time.Duration) <-chan time.Time {
			tb.Errorf("Sleep(%v) called unexpectedly", d)
			c := make(chan time.Time, 1)
			c <- now.Add(d)
			return c
		},
	}
	return tm
}

// run runs the command and closes the Main, as main does.
func (tm *testMain) run(tb testing.TB, args ...string) error {
	tb.Helper()
	err := tm.Run(context.Background(), args)
	if cerr := tm.Close(); cerr != nil {
		tb.Errorf("Close: %v", cerr)
	}
	return err
}

// exitCase is a command line that fails, and the exit status it fails with.
type exitCase struct {
	args     []string
	wantExit int
}

// wantExits runs each case's command line, followed by flags, on its own
// Main, and reports those that do not fail with their exit status.
func wantExits(t *testing.T, flags []string, cases []exitCase) {
	t.Helper()
	for _, tt := range cases {
		tm := newTestMain(t, time.Now(), "")
		err := tm.run(t, append(tt.args, flags...)...)
		if got := exitCode(err); err == nil || got != tt.wantExit {
			t.Errorf("%v: got %v (exit %d), want exit %d", tt.args, err, got, tt.wantExit)
		}
	}
}

// requireOATHTool fails (never skips) the test when oathtool is missing: it is
// the reference the code command is checked against (SPEC §5).
func requireOATHTool(tb testing.TB) {
	tb.Helper()
	if _, err := exec.LookPath("oathtool"); err != nil {
		tb.Fatalf("oathtool is required (apt-get install oathtool): %v", err)
	}
}

// oathtool returns the code the real oathtool computes for secret at t.
func oathtool(tb testing.TB, secret string, t time.Time, alg otp.Algorithm, digits, period int) string {
	tb.Helper()
	mode := map[otp.Algorithm]string{otp.SHA1: "--totp", otp.SHA256: "--totp=sha256", otp.SHA512: "--totp=sha512"}[alg]
	return testenv.OATHTool(tb, mode, "-d", strconv.Itoa(digits), "-s", strconv.Itoa(period)+"s", "-b", secret,
		"--now", t.UTC().Format("2006-01-02 15:04:05 UTC"))
}

// codeOutput runs "twofold code args…" at now and returns the printed code.
func codeOutput(tb testing.TB, now time.Time, args ...string) string {
	tb.Helper()
	tm := newTestMain(tb, now, "")
	if err := tm.run(tb, append([]string{"code"}, args...)...); err != nil {
		tb.Fatalf("twofold code %v: %v (stderr %q)", args, err, tm.stderr.String())
	}
	return strings.TrimSpace(tm.stdout.String())
}

func TestCodeMatchesOATHTool(t *testing.T) {
	requireOATHTool(t)
	rng := rand.New(rand.NewPCG(20261123, 6238)) // fixed, so that a failure reproduces
	algs := []otp.Algorithm{otp.SHA1, otp.SHA256, otp.SHA512}
	sizes := []int{10, 16, 20, 32, 64}
	for i := range 100 {
		secret := make([]byte, sizes[rng.IntN(len(sizes))])
		for j := range secret {
			secret[j] = byte(rng.Uint32())
		}
		b32 := otp.EncodeSecret(secret)
		alg := algs[rng.IntN(len(algs))]
		digits := 6 + rng.IntN(3)
		period := []int{30, 60}[rng.IntN(2)]
		now := time.Unix(rng.Int64N(4_000_000_000), rng.Int64N(int64(time.Second))).UTC()

		// Vary how the secret is written and where it goes.
		arg := b32
		switch i % 3 {
		case 1:
			arg = strings.ToLower(b32)
		case 2:
			var groups []string
			for s := b32; s != ""; s = s[min(4, len(s)):] {
				groups = append(groups, s[:min(4, len(s))])
			}
			arg = strings.Join(groups, " ")
		}
		flags := []string{"--algorithm", alg.String(), "--digits", strconv.Itoa(digits), "--period", strconv.Itoa(period)}
		args := append(flags, arg)
		if i%2 == 1 {
			args = append([]string{arg}, flags...)
		}
		name := fmt.Sprintf("%d/%v/%d/%ds", i, alg, digits, period)
		t.Run(name, func(t *testing.T) {
			got := codeOutput(t, now, args...)
			want := oathtool(t, b32, now, alg, digits, period)
			if got != want {
				t.Errorf("at %v: got %q, want %q (oathtool)", now, got, want)
			}
		})
	}
}

func TestCodeDefaults(t *testing.T) {
	requireOATHTool(t)
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	const secret = "JBSWY3DPEHPK3PXP"
	if got, want := codeOutput(t, now, secret), oathtool(t, secret, now, otp.SHA1, 6, 30); got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

// TestCodeFromStdin: "-" reads the secret or URI from standard input, so
// that it need not be on the command line, where every user of the machine
// can see it.
func TestCodeFromStdin(t *testing.T) {
	requireOATHTool(t)
	now := time.Date(2026, 11, 30, 12, 0, 10, 0, time.UTC)
	const secret = "JBSWY3DPEHPK3PXP"
	want := oathtool(t, secret, now, otp.SHA1, 6, 30)
	for _, in := range []string{secret + "\n", secret, "otpauth://totp/x?secret=" + secret + "\r\n"} {
		tm := newTestMain(t, now, in)
		if err := tm.run(t, "code", "-"); err != nil {
			t.Fatalf("code - with %q on stdin: %v", in, err)
		}
		if got := strings.TrimSpace(tm.stdout.String()); got != want {
			t.Errorf("code - with %q on stdin: got %q, want %q", in, got, want)
		}
	}
	tm := newTestMain(t, now, "")
	if err := tm.run(t, "code", "-"); err == nil {
		t.Error("code - with nothing on stdin: got no error")
	}
}

func TestCodeURI(t *testing.T) {
	requireOATHTool(t)
	const secret = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
	now := time.Date(2031, 5, 17, 8, 41, 13, 0, time.UTC)
	tests := []struct {
		name   string
		uri    string
		flags  []string
		alg    otp.Algorithm
		digits int
		period int
	}{
		{name: "defaults", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&issuer=Twofold",
			alg: otp.SHA1, digits: 6, period: 30},
		{name: "uri parameters", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&algorithm=SHA256&digits=8&period=60",
			alg: otp.SHA256, digits: 8, period: 60},
		{name: "sha512 7 digits", uri: "otpauth://totp/alice?secret=" + strings.ToLower(secret) + "&algorithm=SHA512&digits=7",
			alg: otp.SHA512, digits: 7, period: 30},
		{name: "all overridden by flags", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&algorithm=SHA256&digits=8&period=60",
			flags: []string{"--algorithm", "sha512", "--digits", "7", "--period", "30"}, alg: otp.SHA512, digits: 7, period: 30},
		{name: "digits overridden", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&algorithm=SHA256&digits=8&period=60",
			flags: []string{"--digits", "6"}, alg: otp.SHA256, digits: 6, period: 60},
		{name: "algorithm overridden", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&algorithm=SHA256&digits=8&period=60",
			flags: []string{"--algorithm=SHA1"}, alg: otp.SHA1, digits: 8, period: 60},
		{name: "period overridden", uri: "otpauth://totp/Twofold:alice?secret=" + secret + "&period=60",
			flags: []string{"--period=30"}, alg: otp.SHA1, digits: 6, period: 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := oathtool(t, secret, now, tt.alg, tt.digits, tt.period)
			if got := codeOutput(t, now, append([]string{tt.uri}, tt.flags...)...); got != want {
				t.Errorf("URI first: got %q, want %q", got, want)
			}
			if got := codeOutput(t, now, append(tt.flags, tt.uri)...); got != want {
				t.Errorf("URI last: got %q, want %q", got, want)
			}
		})
	}
}

func TestCodeFresh(t *testing.T) {
	requireOATHTool(t)
	const secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
	// stepEnd is the end of a 30 s and of a 60 s step.
	stepEnd := time.Unix(1_800_000_000, 0).UTC()
	tests := []struct {
		name      string
		now       time.Time
		period    int
		wantWait  time.Duration // 0: no wait
		wantCodeT time.Time     // the time whose code is printed
		wantValid int           // seconds, as printed on stderr
	}{
		{name: "2s left waits for the next code", now: stepEnd.Add(-2 * time.Second), period: 30,
			wantWait: 2 * time.Second, wantCodeT: stepEnd, wantValid: 30},
		{name: "4.5s left waits", now: stepEnd.Add(-4500 * time.Millisecond), period: 30,
			wantWait: 4500 * time.Millisecond, wantCodeT: stepEnd, wantValid: 30},
		{name: "5s left does not wait", now: stepEnd.Add(-5 * time.Second), period: 30,
			wantCodeT: stepEnd.Add(-5 * time.Second), wantValid: 5},
		{name: "20s left does not wait", now: stepEnd.Add(-20 * time.Second), period: 30,
			wantCodeT: stepEnd.Add(-20 * time.Second), wantValid: 20},
		{name: "at the start of a step", now: stepEnd, period: 30, wantCodeT: stepEnd, wantValid: 30},
		{name: "60s period with 1s left", now: stepEnd.Add(-time.Second), period: 60,
			wantWait: time.Second, wantCodeT: stepEnd, wantValid: 60},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTestMain(t, tt.now, "")
			var waited []time.Duration
			tm.Sleep = func(d time.Duration) <-chan time.Time {
				waited = append(waited, d)
				c := make(chan time.Time)
				close(c)
				return c
			}
			if err := tm.run(t, "code", "--fresh", "--period", strconv.Itoa(tt.period), secret); err != nil {
				t.Fatalf("code --fresh: %v", err)
			}
			if got, want := strings.TrimSpace(tm.stdout.String()), oathtool(t, secret, tt.wantCodeT, otp.SHA1, 6, tt.period); got != want {
				t.Errorf("got code %q, want %q (the code at %v)", got, want, tt.wantCodeT)
			}
			var wantWaits []time.Duration
			if tt.wantWait > 0 {
				wantWaits = []time.Duration{tt.wantWait}
			}
			if fmt.Sprint(waited) != fmt.Sprint(wantWaits) {
				t.Errorf("got waits %v, want %v", waited, wantWaits)
			}
			if want := fmt.Sprintf("valid for %d more seconds", tt.wantValid); !strings.Contains(tm.stderr.String(), want) {
				t.Errorf("got stderr %q, want it to say %q", tm.stderr.String(), want)
			}
		})
	}
}

func TestCodeFreshCancelled(t *testing.T) {
	now := time.Unix(1_800_000_000-1, 0)
	tm := newTestMain(t, now, "")
	tm.Sleep = func(time.Duration) <-chan time.Time { return make(chan time.Time) } // never ready
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := tm.Run(ctx, []string{"code", "--fresh", "JBSWY3DPEHPK3PXP"})
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted: ") {
		t.Errorf("got error %v, want context.Canceled that says it was interrupted", err)
	}
	if out := tm.stdout.String(); out != "" {
		t.Errorf("got stdout %q, want nothing", out)
	}
}

// TestCodeURIProblem: an otpauth URI refused says which of its parts is
// wrong (never quoting it: it holds the secret).
func TestCodeURIProblem(t *testing.T) {
	for _, tt := range []struct{ uri, part string }{
		{"otpauth://totp/a?issuer=x", "secret"},
		{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU18", "secret"},
		{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&digits=9", "digits"},
		{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&period=0", "period"},
		{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&algorithm=MD5", "algorithm"},
	} {
		err := newTestMain(t, time.Unix(1_800_000_000, 0), "").run(t, "code", tt.uri)
		if exitCode(err) != 2 || !strings.Contains(err.Error(), tt.part) || strings.Contains(err.Error(), "KRSXG5CTMVRXEZLU") {
			t.Errorf("code %s: got %v, want a usage error naming the %s and not the secret", tt.uri, err, tt.part)
		}
	}
}

func TestCodeBadInput(t *testing.T) {
	// Each secret is distinctive, so that finding it in the output is meaningful.
	tests := []struct {
		name   string
		args   []string
		secret string // must not appear in the error or the output
	}{
		{name: "bad base32", args: []string{"KRSXG5CTMVRXEZLU18"}, secret: "KRSXG5CTMVRXEZLU18"},
		{name: "bad base32 in URI", args: []string{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU18"}, secret: "KRSXG5CTMVRXEZLU18"},
		{name: "hotp URI", args: []string{"otpauth://hotp/a?secret=KRSXG5CTMVRXEZLU&counter=1"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "URI without account", args: []string{"otpauth://totp/?secret=KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "URI without secret", args: []string{"otpauth://totp/a?issuer=x"}},
		{name: "URI with bad escape", args: []string{"otpauth://totp/a%zz?secret=KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "URI with 9 digits", args: []string{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&digits=9"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "URI with unknown algorithm", args: []string{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&algorithm=MD5"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "digits 9", args: []string{"--digits", "9", "KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "digits 5", args: []string{"KRSXG5CTMVRXEZLU", "--digits", "5"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "digits not a number", args: []string{"KRSXG5CTMVRXEZLU", "--digits", "six"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "unknown algorithm", args: []string{"--algorithm", "MD5", "KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "unknown algorithm overriding URI", args: []string{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU", "--algorithm", "SHA3"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "negative period", args: []string{"--period", "-30", "KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "digits 0", args: []string{"--digits", "0", "KRSXG5CTMVRXEZLU"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "period 0", args: []string{"KRSXG5CTMVRXEZLU", "--period", "0"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "digits 0 overriding URI", args: []string{"otpauth://totp/a?secret=KRSXG5CTMVRXEZLU&digits=8", "--digits", "0"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "unknown flag", args: []string{"KRSXG5CTMVRXEZLU", "--window", "3"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "no secret", args: nil},
		{name: "two secrets", args: []string{"KRSXG5CTMVRXEZLU", "MFRGGZDFMZTWQ2LK"}, secret: "KRSXG5CTMVRXEZLU"},
		{name: "empty secret", args: []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTestMain(t, time.Unix(1_800_000_000, 0), "")
			err := tm.run(t, append([]string{"code"}, tt.args...)...)
			if err == nil {
				t.Fatalf("got no error, want one (stdout %q)", tm.stdout.String())
			}
			if got, want := exitCode(err), 2; got != want {
				t.Errorf("got exit code %d, want %d (err %v)", got, want, err)
			}
			if out := tm.stdout.String(); out != "" {
				t.Errorf("got stdout %q, want nothing", out)
			}
			// Said in the command's words, not the otp package's.
			if strings.Contains(err.Error(), "otp:") {
				t.Errorf("got %q, want no otp package text", err)
			}
			if tt.secret == "" {
				return
			}
			for what, text := range map[string]string{"error": err.Error(), "stderr": tm.stderr.String()} {
				if strings.Contains(strings.ToUpper(text), tt.secret) {
					t.Errorf("the secret appears in the %s: %q", what, text)
				}
			}
		})
	}
}

func TestCommands(t *testing.T) {
	// A config file with a problem of each stage: a setting that does not
	// exist, a value that does not parse, values Validate refuses.
	file := filepath.Join(t.TempDir(), "twofold.conf")
	if err := os.WriteFile(file, []byte("bogus = 1\nargon2-memory = lots\ndb =\nissuer = \"A: b\"\nlisten = 127.0.0.1:99999\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		args     []string
		env      map[string]string
		wantExit int // 0: no error
		wantOut  string
		wantErr  []string // in the error main prints
	}{
		{name: "unknown command", args: []string{"frobnicate"}, wantExit: 2},
		{name: "no command", args: nil, wantExit: 2},
		{name: "help", args: []string{"help"}, wantOut: "usage: twofold"},
		{name: "user without add", args: []string{"user", "list"}, wantExit: 2},
		{name: "user nothing", args: []string{"user"}, wantExit: 2},
		// Help asked for is given, on standard output, and is no failure.
		{name: "code -h", args: []string{"code", "-h"}, wantOut: "usage: twofold code"},
		{name: "serve -h", args: []string{"serve", "-h"}, wantOut: "usage: twofold serve"},
		{name: "serve --help", args: []string{"serve", "--help"}, wantOut: "-shutdown-timeout"},
		{name: "user add --help", args: []string{"user", "add", "--help"}, wantOut: "usage: twofold user add"},
		// A mistaken flag: the message, and where the help is.
		{name: "serve with an unknown flag", args: []string{"serve", "--listne", "x"}, wantExit: 2, wantErr: []string{"-listne", `"twofold serve -h"`}},
		// A TWOFOLD_ variable that is no setting is refused, naming it
		// and the one meant.
		{name: "serve with a misspelt variable", args: []string{"serve", "--listen", "127.0.0.1:0"}, env: map[string]string{"TWOFOLD_LISEN": "127.0.0.1:0"},
			wantExit: 2, wantErr: []string{"TWOFOLD_LISEN", "TWOFOLD_LISTEN"}},
		{name: "serve with a bad TWOFOLD_TRUSTED_PROXY", args: []string{"serve", "--listen", "127.0.0.1:0"}, env: map[string]string{"TWOFOLD_TRUSTED_PROXY": "garbage"},
			wantExit: 2, wantErr: []string{"trusted-proxy", "garbage"}},
		{name: "serve with no shutdown timeout", args: []string{"serve", "--listen", "127.0.0.1:0", "--shutdown-timeout", "0s"}, wantExit: 2, wantErr: []string{"shutdown-timeout"}},
		{name: "serve with an argument", args: []string{"serve", "now"}, wantExit: 2},
		{name: "serve with a bad listen address", args: []string{"serve", "--listen", "nowhere"}, wantExit: 2},
		{name: "serve with a bad db", args: []string{"serve", "--db", "mysql://x"}, wantExit: 2},
		{name: "serve with a colon in the issuer", args: []string{"serve", "--listen", "127.0.0.1:0", "--issuer", "Acme: Cloud & Co"}, wantExit: 2},
		// Every problem of every source and stage at once, each with where
		// it came from; a value that does not parse with an example.
		{name: "serve with two bad flag values", args: []string{"serve", "--argon2-memory=lots", "--shutdown-timeout=soon"}, wantExit: 2,
			wantErr: []string{`argon2-memory (from flag --argon2-memory): "lots": want a whole number`, `shutdown-timeout (from flag --shutdown-timeout): "soon": want a duration such as 90s`}},
		{name: "serve with a bad flag over a bad variable", args: []string{"serve", "--argon2-memory=lots"}, env: map[string]string{"TWOFOLD_ARGON2_MEMORY": "x"}, wantExit: 2,
			wantErr: []string{"flag --argon2-memory", `argon2-memory (from TWOFOLD_ARGON2_MEMORY): "x"`}},
		{name: "serve with a misspelt variable and a bad value", args: []string{"serve"}, env: map[string]string{"TWOFOLD_LISEN": "1", "TWOFOLD_ARGON2_MEMORY": "x"}, wantExit: 2,
			wantErr: []string{"TWOFOLD_LISEN", "TWOFOLD_ARGON2_MEMORY"}},
		{name: "serve with a misspelt variable and a refused setting", args: []string{"serve", "--issuer", "A: b"}, env: map[string]string{"TWOFOLD_LISEN": "1"}, wantExit: 2,
			wantErr: []string{"TWOFOLD_LISEN", `issuer "A: b" contains a colon`, "(from flag --issuer)"}},
		{name: "serve with a bad config file", args: []string{"serve", "--config", file}, env: map[string]string{"TWOFOLD_BASE_URL": "ftp://x"}, wantExit: 2,
			wantErr: []string{`config file ` + file + ` line 1: unknown setting "bogus"`, `argon2-memory (from config file ` + file + ` line 2): "lots"`,
				"db is empty", "(from config file " + file + " line 3)", `issuer "A: b"`, "(from config file " + file + " line 4)",
				`listen "127.0.0.1:99999"`, "(from config file " + file + " line 5)", "(from TWOFOLD_BASE_URL)"}},
		{name: "tokens list with an empty db variable", args: []string{"tokens", "list"}, env: map[string]string{"TWOFOLD_DB": ""}, wantExit: 2,
			wantErr: []string{"db is empty", "(from TWOFOLD_DB)"}},
		// Options after the argument count as before it.
		{name: "code with options around the secret", args: []string{"code", "--algorithm", "SHA1", "JBSWY3DPEHPK3PXP", "--digits", "8"}},
		{name: "backup with options after DEST", args: []string{"backup", filepath.Join(filepath.Dir(file), "copy.db"), "--db", "sqlite:" + filepath.Join(filepath.Dir(file), "none.db")},
			wantExit: 1, wantErr: []string{"none.db"}},
		{name: "restore with options after BACKUP", args: []string{"restore", filepath.Join(filepath.Dir(file), "copy.db"), "--db", "sqlite:" + filepath.Join(filepath.Dir(file), "none.db")},
			wantExit: 1, wantErr: []string{"copy.db"}},
		// The help of a command with subcommands, and help COMMAND.
		{name: "user -h", args: []string{"user", "-h"}, wantOut: "usage: twofold user add"},
		{name: "dns -h", args: []string{"dns", "-h"}, wantOut: "usage: twofold dns add-zone"},
		{name: "tokens --help", args: []string{"tokens", "--help"}, wantOut: "usage: twofold tokens import"},
		{name: "keys -h", args: []string{"keys", "-h"}, wantOut: "usage: twofold keys rotate"},
		{name: "device -h", args: []string{"device", "-h"}, wantOut: "usage: twofold device enrol"},
		{name: "help serve", args: []string{"help", "serve"}, wantOut: "usage: twofold serve"},
		{name: "help user add", args: []string{"help", "user", "add"}, wantOut: "usage: twofold user add"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTestMain(t, time.Now(), "")
			for k, v := range tt.env {
				tm.env[k] = v
			}
			err := tm.run(t, tt.args...)
			got := 0
			if err != nil {
				got = exitCode(err)
			}
			if got != tt.wantExit {
				t.Errorf("got exit code %d (err %v), want %d", got, err, tt.wantExit)
			}
			if !strings.Contains(tm.stdout.String(), tt.wantOut) {
				t.Errorf("got stdout %q, want it to contain %q", tm.stdout.String(), tt.wantOut)
			}
			for _, want := range tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), want) {
					t.Errorf("got error %v, want it to say %s", err, want)
				}
			}
			if tt.wantExit == 0 && tm.stderr.String() != "" {
				t.Errorf("got stderr %q, want nothing", tm.stderr.String())
			}
			if err != nil && strings.Contains(tm.stderr.String(), "-argon2-memory") {
				t.Errorf("a mistake printed the whole help:\n%s", tm.stderr.String())
			}
		})
	}
}

// TestServeHelpSMS: serve -h says what the server does without --sms-url:
// it sends no text message and refuses phones and texted codes (503), it
// does not log the messages (only --sms-log-codes does).
func TestServeHelpSMS(t *testing.T) {
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "serve", "-h"); err != nil {
		t.Fatalf("serve -h: got %v, want success", err)
	}
	help := tm.stdout.String()
	i := strings.Index(help, "\n  -sms-url ")
	if i < 0 {
		t.Fatalf("serve -h does not show --sms-url:\n%s", help)
	}
	line := help[i+1:]
	if j := strings.Index(line, "\n  -"); j > 0 {
		line = line[:j]
	}
	if strings.Contains(line, "logged") || !strings.Contains(line, "503") {
		t.Errorf("--sms-url help: got %q, want it to say that without it nothing is sent and phones are refused (503)", line)
	}
}

// dbAndKey returns the flags naming a fresh key file and the database dsn,
// made and migrated, and the config they stand for.
func dbAndKey(tb testing.TB, dsn string) ([]string, config.Config) {
	tb.Helper()
	c := config.Default()
	c.DB, c.KeyFile = dsn, filepath.Join(tb.TempDir(), "twofold.key")
	// The database exists, as after the first `serve`: the administration
	// commands make none (TestAdminNeedsDatabase).
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	st.Close()
	return []string{"--db", c.DB, "--key-file", c.KeyFile}, c
}

// serving starts a server on a new database of dsn and returns it with the
// flags (--db, --key-file) that give a command the same database and key
// file.
func serving(tb testing.TB, dsn string, opts ...testenv.ServerOption) ([]string, *testenv.Server) {
	tb.Helper()
	flags, c := dbAndKey(tb, dsn)
	opts = append([]testenv.ServerOption{func(sc *config.Config) { sc.KeyFile = c.KeyFile }}, opts...)
	return flags, testenv.NewServer(tb, c.DB, opts...)
}

// servedPassword is the password of the accounts withPhone makes.
const servedPassword = "correct horse battery"

// withPhone makes the account name (with email, when not "") on srv with
// servedPassword, enrols an authenticator app over /v1 and confirms it
// with a code, and returns the app's secret.
func withPhone(t *testing.T, srv *testenv.Server, name, email string) string {
	t.Helper()
	if _, err := srv.Service.CreateAccount(context.Background(), core.NewAccount{Username: name, Email: email, Password: servedPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	cl := testenv.NewClient(srv.URL())
	cl.Token = cl.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": servedPassword}).String("token")
	e := cl.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
	id, _ := e.JSON["factor"].(map[string]any)["id"].(string)
	if r := cl.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": testenv.TOTP(t, e.String("secret"), srv.Clock.Now())}); r.Status != http.StatusOK {
		t.Fatalf("confirm: got %d %s", r.Status, r.Body)
	}
	return e.String("secret")
}

// checkLogin opens the database as the server does and reports whether
// username logs in with password, failing on anything but a clean answer.
func checkLogin(tb testing.TB, c config.Config, username, password string) (twofold.Account, bool) {
	tb.Helper()
	ctx := context.Background()
	d, err := server.OpenDeps(ctx, c, slog.New(slog.DiscardHandler), nil, nil)
	if err != nil {
		tb.Fatalf("open deps: %v", err)
	}
	defer d.Store.Close()
	a, err := d.Store.AccountByUsername(ctx, username)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return twofold.Account{}, false
	}
	if err != nil {
		tb.Fatalf("account %s: %v", username, err)
	}
	res, err := d.Service.Login(ctx, username, password, core.Meta{Source: "test"})
	if err != nil {
		tb.Fatalf("login %s: %v", username, err)
	}
	if !res.Authenticated || res.Token == "" {
		tb.Fatalf("login %s: got %+v, want a session", username, res)
	}
	return a, true
}

func TestUserAdd(t *testing.T) {
	const password = "correct horse battery"
	tests := []struct {
		name       string
		existing   []string // usernames created first
		flagsFirst bool     // put --db and --key-file before args
		args       []string // after "user add"
		stdin      string
		env        map[string]string
		terminal   []string // passwords typed on a terminal; nil: not a terminal
		wantErr    bool
		wantExit   int
		wantUser   string // created with password, or "" for none
		wantEmail  string
		wantAbsent string // must not exist afterwards
	}{
		{name: "password on stdin", args: []string{"alice", "--email", "a@example.com"}, stdin: password + "\n",
			wantUser: "alice", wantEmail: "a@example.com"},
		{name: "password without newline", args: []string{"alice"}, stdin: password, wantUser: "alice"},
		{name: "CRLF", args: []string{"alice"}, stdin: password + "\r\nrest\n", wantUser: "alice"},
		{name: "username after the options", flagsFirst: true, args: []string{"--email", "a@example.com", "alice"}, stdin: password + "\n",
			wantUser: "alice", wantEmail: "a@example.com"},
		// Options on both sides of the username: those after it count too
		// (--db and --key-file here), never silently dropped.
		{name: "options on both sides of the username", args: []string{"--email", "a@example.com", "alice"}, stdin: password + "\n",
			wantUser: "alice", wantEmail: "a@example.com"},
		{name: "operator", args: []string{"root", "--operator"}, stdin: password + "\n", wantUser: "root"},
		// A switch comes from the command line only, not the environment.
		{name: "operator from the environment", args: []string{"carol"}, env: map[string]string{"TWOFOLD_OPERATOR": "true"},
			stdin: password + "\n", wantErr: true, wantExit: 2, wantAbsent: "carol"},
		{name: "duplicate username", existing: []string{"alice"}, args: []string{"alice", "--email", "other@example.com"},
			stdin: "another password\n", wantErr: true, wantExit: 1},
		{name: "short password", args: []string{"bob"}, stdin: "short\n", wantErr: true, wantExit: 1, wantAbsent: "bob"},
		{name: "no password", args: []string{"bob"}, stdin: "", wantErr: true, wantExit: 1, wantAbsent: "bob"},
		{name: "bad email", args: []string{"bob", "--email", "not an address"}, stdin: password + "\n", wantErr: true, wantExit: 1, wantAbsent: "bob"},
		{name: "email with a direction override", args: []string{"bob", "--email", "bob@moc.\u202eexample.com"}, stdin: password + "\n",
			wantErr: true, wantExit: 1, wantAbsent: "bob"},
		{name: "bad username", args: []string{"bob smith"}, stdin: password + "\n", wantErr: true, wantExit: 1},
		{name: "terminal passwords differ", args: []string{"carol"}, terminal: []string{password, password + "!"},
			wantErr: true, wantExit: 1, wantAbsent: "carol"},
		{name: "terminal passwords match", args: []string{"carol"}, terminal: []string{password, password}, wantUser: "carol"},
		{name: "no username", args: []string{"--email", "a@example.com"}, stdin: password + "\n", wantErr: true, wantExit: 2},
		{name: "two usernames", args: []string{"alice", "bob"}, stdin: password + "\n", wantErr: true, wantExit: 2, wantAbsent: "alice"},
		{name: "unknown flag", args: []string{"alice", "--admin"}, stdin: password + "\n", wantErr: true, wantExit: 2, wantAbsent: "alice"},
	}
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					flags, c := dbAndKey(t, newDSN(t))
					for _, u := range tt.existing {
						tm := newTestMain(t, time.Now(), password+"\n")
						if err := tm.run(t, append([]string{"user", "add", u}, flags...)...); err != nil {
							t.Fatalf("create %s first: %v", u, err)
						}
					}
					tm := newTestMain(t, time.Now(), tt.stdin)
					for k, v := range tt.env {
						tm.env[k] = v
					}
					if tt.terminal != nil {
						typed := tt.terminal
						tm.IsTerminal = func() bool { return true }
						tm.ReadPassword = func(context.Context) (string, error) {
							if len(typed) == 0 {
								t.Error("ReadPassword called more often than expected")
								return "", io.EOF
							}
							p := typed[0]
							typed = typed[1:]
							return p, nil
						}
					}
					args := append(append([]string{"user", "add"}, tt.args...), flags...)
					if tt.flagsFirst {
						args = append(append([]string{"user", "add"}, flags...), tt.args...)
					}
					err := tm.run(t, args...)
					if _, err := os.Stat("twofold.db"); err == nil {
						t.Errorf("user add %v wrote the default database twofold.db in the working directory", args)
					}
					if tt.wantErr {
						if err == nil {
							t.Fatalf("got no error, want one (stdout %q)", tm.stdout.String())
						}
						if got := exitCode(err); got != tt.wantExit {
							t.Errorf("got exit code %d (err %v), want %d", got, err, tt.wantExit)
						}
					} else if err != nil {
						t.Fatalf("user add: %v (stderr %q)", err, tm.stderr.String())
					}
					if strings.Contains(tm.stdout.String()+tm.stderr.String(), password) || (err != nil && strings.Contains(err.Error(), password)) {
						t.Errorf("the password appears in the output or error")
					}
					if tt.wantUser != "" {
						if want := "created user " + tt.wantUser; !strings.Contains(tm.stdout.String(), want) {
							t.Errorf("got stdout %q, want it to contain %q", tm.stdout.String(), want)
						}
						a, ok := checkLogin(t, c, tt.wantUser, password)
						if !ok {
							t.Fatalf("account %s was not created", tt.wantUser)
						}
						if a.Email != tt.wantEmail {
							t.Errorf("got email %q, want %q", a.Email, tt.wantEmail)
						}
						if got, want := a.Operator, slicesContain(tt.args, "--operator"); got != want {
							t.Errorf("got operator %v, want %v", got, want)
						}
					}
					if tt.wantAbsent != "" {
						if _, ok := checkLogin(t, c, tt.wantAbsent, password); ok {
							t.Errorf("account %s exists, want none", tt.wantAbsent)
						}
					}
					for _, u := range tt.existing {
						// The account created first is untouched.
						a, ok := checkLogin(t, c, u, password)
						if !ok || a.Email != "" {
							t.Errorf("account %s: got %+v (exists %v), want it unchanged", u, a, ok)
						}
					}
				})
			}
		})
	}
}

func slicesContain(s []string, v string) bool {
	for _, e := range s {
		if e == v {
			return true
		}
	}
	return false
}

// TestUserAddWhileServing adds a user with the CLI to the database of a
// running server, which then logs the user in over HTTP.
func TestUserAddWhileServing(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, srv := serving(t, newDSN(t))

			const password = "correct horse battery"
			tm := newTestMain(t, time.Now(), password+"\n")
			if err := tm.run(t, append([]string{"user", "add", "dave", "--email", "dave@example.com"}, flags...)...); err != nil {
				t.Fatalf("user add: %v (stderr %q)", err, tm.stderr.String())
			}

			client := testenv.NewClient(srv.URL())
			r := client.Do(t, "POST", "/v1/login", map[string]string{"username": "dave", "password": password})
			if r.Status != http.StatusOK || r.String("status") != "authenticated" || r.String("token") == "" {
				t.Fatalf("login: got %d %s, want 200 authenticated with a token", r.Status, r.Body)
			}
			client.Token = r.String("token")
			me := client.Do(t, "GET", "/v1/me", nil)
			if me.Status != http.StatusOK {
				t.Fatalf("GET /v1/me: got %d %s, want 200", me.Status, me.Body)
			}
			if got, want := me.String("username"), "dave"; got != want {
				t.Errorf("got username %q, want %q", got, want)
			}
			if got, want := me.String("email"), "dave@example.com"; got != want {
				t.Errorf("got email %q, want %q", got, want)
			}
		})
	}
}

var listeningRE = regexp.MustCompile(`listening on (http://\S+)`)

// waitListening polls stdout until serve prints its URL, failing if Run
// returns first or the deadline passes.
func waitListening(tb testing.TB, stdout *testenv.Buffer, done <-chan error) string {
	tb.Helper()
	return waitPrinted(tb, stdout, listeningRE, done)
}

// waitPrinted polls stdout until serve prints a line that re matches and
// returns re's first group, failing if Run returns first or the deadline
// passes.
func waitPrinted(tb testing.TB, stdout *testenv.Buffer, re *regexp.Regexp, done <-chan error) string {
	tb.Helper()
	deadline := time.Now().Add(time.Minute) // a bound against a hang on a loaded machine, not a timing
	for time.Now().Before(deadline) {
		if m := re.FindStringSubmatch(stdout.String()); m != nil {
			return m[1]
		}
		select {
		case err := <-done:
			tb.Fatalf("serve returned before printing %s: %v", re, err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	tb.Fatalf("serve did not print %s within a minute; stdout %q", re, stdout.String())
	return ""
}

// httpGet gets url and returns the answer's status and body.
func httpGet(tb testing.TB, url string) (status int, body string) {
	tb.Helper()
	res, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	return res.StatusCode, string(b)
}

func TestServe(t *testing.T) {
	tests := []struct {
		name  string
		flags func(tb testing.TB, dir string) []string
		env   func(dir string) map[string]string
	}{
		{
			name: "flags",
			flags: func(tb testing.TB, dir string) []string {
				return []string{"--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")}
			},
		},
		{
			name: "environment",
			env: func(dir string) map[string]string {
				return map[string]string{"TWOFOLD_LISTEN": "127.0.0.1:0", "TWOFOLD_DB": "sqlite:" + filepath.Join(dir, "t.db"),
					"TWOFOLD_KEY_FILE": filepath.Join(dir, "t.key")}
			},
		},
		{
			// An unusable TWOFOLD_LISTEN would fail validation if it were used.
			name: "flags over environment",
			flags: func(tb testing.TB, dir string) []string {
				return []string{"--listen", "127.0.0.1:0", "--key-file", filepath.Join(dir, "t.key")}
			},
			env: func(dir string) map[string]string {
				return map[string]string{"TWOFOLD_LISTEN": "not-an-address", "TWOFOLD_DB": "sqlite:" + filepath.Join(dir, "t.db"),
					"TWOFOLD_KEY_FILE": filepath.Join(dir, "unused", "t.key")}
			},
		},
		{
			name: "config file under environment",
			flags: func(tb testing.TB, dir string) []string {
				conf := filepath.Join(dir, "twofold.conf")
				body := "listen = not-an-address\ndb = sqlite:" + filepath.Join(dir, "t.db") + "\nkey-file = " + filepath.Join(dir, "t.key") + "\n"
				if err := os.WriteFile(conf, []byte(body), 0o600); err != nil {
					tb.Fatal(err)
				}
				return []string{"--config", conf}
			},
			env: func(dir string) map[string]string { return map[string]string{"TWOFOLD_LISTEN": "127.0.0.1:0"} },
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tm := newTestMain(t, time.Now(), "")
			var args []string
			if tt.flags != nil {
				args = tt.flags(t, dir)
			}
			if tt.env != nil {
				tm.env = tt.env(dir)
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan error, 1)
			go func() { done <- tm.Run(ctx, append([]string{"serve"}, args...)) }()

			url := waitListening(t, tm.stdout, done)
			if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") || strings.HasSuffix(url, ":8080") {
				t.Errorf("got URL %q, want http://127.0.0.1:<ephemeral port>", url)
			}
			// On loopback without --base-url, the pages and the first-run
			// link are given under localhost, where security keys work.
			port := url[strings.LastIndex(url, ":"):]
			out := tm.stdout.String()
			for end := time.Now().Add(time.Minute); !strings.Contains(out, "/setup/") && time.Now().Before(end); out = tm.stdout.String() {
				time.Sleep(5 * time.Millisecond) // the lines after "listening on" are printed a moment later
			}
			if want := "open the pages at http://localhost" + port + " "; !strings.Contains(out, want) {
				t.Errorf("stdout %q: want %q", out, want)
			}
			if want := "create the operator account at http://localhost" + port + "/setup/"; !strings.Contains(out, want) {
				t.Errorf("stdout %q: want %q", out, want)
			}
			res, err := http.Get(url + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET /healthz: got %d, want %d", res.StatusCode, http.StatusOK)
			}
			fi, err := os.Stat(filepath.Join(dir, "t.key"))
			if err != nil {
				t.Fatalf("key file: %v", err)
			}
			if got, want := fi.Mode().Perm(), os.FileMode(0o600); got != want {
				t.Errorf("got key file mode %v, want %v", got, want)
			}
			if _, err := os.Stat(filepath.Join(dir, "t.db")); err != nil {
				t.Errorf("database file: %v", err)
			}

			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run: got %v, want nil after cancel", err)
				}
			case <-time.After(time.Minute):
				t.Fatal("Run did not return within a minute of cancel")
			}
			if err := tm.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestUserResetTwoFactor: the command line resets a user's two-factor at
// once with --now, or schedules it, the user able to cancel it meanwhile,
// while a server runs on the same database.
func TestUserResetTwoFactor(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// The server sends mail; the command line is given no mail settings.
			mb := testenv.NewSMTPServer(t)
			flags, srv := serving(t, newDSN(t), mb.Option("twofold@example.com"))
			const password = servedPassword
			login := func(name string) string {
				r := testenv.NewClient(srv.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
				if r.Status != http.StatusOK {
					t.Fatalf("login %s: got %d %s", name, r.Status, r.Body)
				}
				return r.String("status")
			}
			withPhone(t, srv, "dave", "")
			erinSecret := withPhone(t, srv, "erin", "")

			tm := newTestMain(t, time.Now(), "")
			if err := tm.run(t, append([]string{"user", "reset-two-factor", "dave", "--now"}, flags...)...); err != nil {
				t.Fatalf("reset --now: %v (stderr %q)", err, tm.stderr.String())
			}
			if !strings.Contains(tm.stdout.String(), "reset two-factor of dave: authenticators, recovery codes, paper key and SSH keys removed") {
				t.Errorf("stdout %q", tm.stdout.String())
			}
			if got := login("dave"); got != "authenticated" {
				t.Errorf("dave after the reset: got %s, want authenticated by password alone", got)
			}

			tm = newTestMain(t, time.Now(), "")
			if err := tm.run(t, append([]string{"user", "reset-two-factor", "erin", "--reset-delay", "24h"}, flags...)...); err != nil {
				t.Fatalf("reset: %v (stderr %q)", err, tm.stderr.String())
			}
			// erin has no address: the output says she was not told, as
			// the operator's page does.
			if out := tm.stdout.String(); !strings.Contains(out, "scheduled for") || strings.Contains(out, "is emailed") ||
				!strings.Contains(out, "was not emailed (the account has no email address): tell them another way") {
				t.Errorf("stdout %q", out)
			}
			if got := login("erin"); got != "second_factor_required" {
				t.Errorf("erin while the reset waits: got %s, want the second step", got)
			}

			// --cancel cancels it; scheduled again, --now carries it out.
			for _, step := range [][]string{{"erin", "--cancel"}, {"erin"}, {"erin", "--now"}} {
				tm := newTestMain(t, time.Now(), "")
				if err := tm.run(t, append(append([]string{"user", "reset-two-factor"}, step...), flags...)...); err != nil {
					t.Fatalf("reset %v: %v (stderr %q)", step, err, tm.stderr.String())
				}
				if len(step) > 1 {
					if step[1] == "--now" && !strings.Contains(tm.stdout.String(), "note: the reset that waited for erin was being withdrawn") {
						t.Errorf("reset --now in place of a reset that erin's sign-in was withdrawing: stdout %q, want a note saying so", tm.stdout.String())
					}
					continue
				}
				// Asked for again while it waits: refused, saying that it
				// waits (not that the account may be suspended) and what
				// to do.
				tm = newTestMain(t, time.Now(), "")
				err := tm.run(t, append(append([]string{"user", "reset-two-factor"}, step...), flags...)...)
				if msg := fmt.Sprint(err); err == nil || !strings.Contains(msg, "already waiting, due ") || !strings.Contains(msg, "--now") || strings.Contains(msg, "suspended") {
					t.Errorf("reset %v again while it waits: got %v, want it said to wait, with --now and --cancel", step, err)
				}
				// erin signs in with her app while it waits, which
				// withdraws it.
				srv.Clock.Add(30 * time.Second)
				cl := testenv.NewClient(srv.URL())
				r := cl.Do(t, "POST", "/v1/login", map[string]string{"username": "erin", "password": password})
				if r := cl.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, erinSecret, srv.Clock.Now())}); r.Status != http.StatusOK {
					t.Fatalf("erin's second step while the reset waits: got %d %s", r.Status, r.Body)
				}
			}
			if got := login("erin"); got != "authenticated" {
				t.Errorf("erin after reset --now: got %s, want authenticated by password alone", got)
			}

			// fay has an address: the notice is queued in the database and
			// the server sends it by its own mail settings, whatever mail
			// settings the command's environment holds (it reads none). It
			// says so, and the mail comes.
			withPhone(t, srv, "fay", "fay@example.com")
			const queued = "the notice to them is queued for the servers to send: by email from servers run with --smtp-addr"
			for i, env := range []map[string]string{nil, {"TWOFOLD_SMTP_ADDR": "127.0.0.1:2525", "TWOFOLD_SMTP_FROM": "twofold@example.com"}} {
				tm := newTestMain(t, time.Now(), "")
				maps.Copy(tm.env, env)
				args := append([]string{"user", "reset-two-factor", "fay", "--reset-delay", "24h"}, flags...)
				if err := tm.run(t, args...); err != nil {
					t.Fatalf("reset %v: %v (stderr %q)", args, err, tm.stderr.String())
				}
				if out := tm.stdout.String(); !strings.Contains(out, queued) || strings.Contains(out, "not emailed") {
					t.Errorf("reset %v: got stdout %q, want %q", args, out, queued)
				}
				// The command queues at the wall clock's time (as its
				// service's clock reads): the server's worker finds the mail
				// due once its clock has passed it. Then the (i+1)th notice
				// of a reset to fay comes.
				srv.Clock.Set(time.Now())
				for n, got := 1, 0; got < i+1; n++ {
					got = 0
					for _, msg := range mb.Wait(t, n, time.Minute) {
						if slices.Contains(msg.To, "fay@example.com") && strings.Contains(string(msg.Data), "a reset of your two-factor was requested") {
							got++
						}
					}
				}
				if err := newTestMain(t, time.Now(), "").run(t, append([]string{"user", "reset-two-factor", "fay", "--cancel"}, flags...)...); err != nil {
					t.Fatalf("cancel: %v", err)
				}
			}

			wantExits(t, flags, []exitCase{
				{[]string{"user", "reset-two-factor", "erin", "--cancel"}, 1},          // none waits
				{[]string{"user", "reset-two-factor", "erin"}, 1},                      // no two-factor any more
				{[]string{"user", "reset-two-factor", "nobody"}, 1},                    // no such user
				{[]string{"user", "reset-two-factor", "dave", "--now", "--cancel"}, 2}, // both
				{[]string{"user", "reset-two-factor"}, 2},                              // no username
				{[]string{"user", "reset-two-factor", "a", "b"}, 2},                    // two
			})
		})
	}
}

// TestUserOperator: the command line makes an account an operator and
// takes it back, while a server runs on the same database, which sees the
// change at the account's next request.
func TestUserOperator(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			// The server sends mail; the command line is given no mail settings.
			mb := testenv.NewSMTPServer(t)
			flags, srv := serving(t, newDSN(t), mb.Option("twofold@example.com"))
			const password = "correct horse battery"
			if _, err := srv.Service.CreateAccount(context.Background(), core.NewAccount{Username: "olive", Password: password}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			cl := testenv.NewClient(srv.URL())
			cl.Token = cl.Do(t, "POST", "/v1/login", map[string]string{"username": "olive", "password": password}).String("token")
			adminStatus := func() int { return cl.Do(t, "GET", "/v1/admin/users", nil).Status }
			if got := adminStatus(); got != http.StatusForbidden {
				t.Fatalf("the operator API before: got %d, want 403", got)
			}
			for _, tt := range []struct {
				args       []string
				wantOut    string
				wantStatus int
			}{
				{[]string{"olive"}, "olive is an operator", http.StatusOK},
				{[]string{"olive"}, "olive was an operator already", http.StatusOK},
				{[]string{"olive", "--remove"}, "olive is no longer an operator; its API keys with admin permits are revoked", http.StatusForbidden},
				{[]string{"olive", "--remove"}, "olive was not an operator", http.StatusForbidden},
			} {
				tm := newTestMain(t, time.Now(), "")
				if err := tm.run(t, append(append([]string{"user", "operator"}, tt.args...), flags...)...); err != nil {
					t.Fatalf("user operator %v: %v (stderr %q)", tt.args, err, tm.stderr.String())
				}
				if got := strings.TrimSpace(tm.stdout.String()); got != tt.wantOut {
					t.Errorf("user operator %v: got %q, want %q", tt.args, got, tt.wantOut)
				}
				if got := adminStatus(); got != tt.wantStatus {
					t.Errorf("the operator API after user operator %v: got %d, want %d", tt.args, got, tt.wantStatus)
				}
			}
			wantExits(t, flags, []exitCase{
				{[]string{"user", "operator", "nobody"}, 1},
				{[]string{"user", "operator"}, 2},
				{[]string{"user", "operator", "a", "b"}, 2},
			})
		})
	}
}

// TestUserOperatorWebhooks: user operator --remove disables the webhooks
// the account answers for at once, on the record, and names them;
// making the account an operator again turns none back on.
func TestUserOperatorWebhooks(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			flags, srv := serving(t, newDSN(t))
			olive, err := srv.Service.CreateAccount(ctx, core.NewAccount{Username: "olive", Password: "correct horse battery", Operator: true}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			keys, err := srv.Store.DataKeys(ctx)
			if err != nil || len(keys) == 0 {
				t.Fatalf("data keys: %v, %v", keys, err)
			}
			hooks := []twofold.Webhook{
				{ID: "wh_olive", URL: "https://panel.example.com/hook?token=x", CreatedAt: time.Now(), CreatedBy: olive.ID, SecretKeyID: keys[0].ID, SealedSecret: []byte("sealed")},
				{ID: "wh_other", URL: "https://other.example.com/hook", CreatedAt: time.Now(), CreatedBy: "someone else", SecretKeyID: keys[0].ID, SealedSecret: []byte("sealed")},
			}
			for _, w := range hooks {
				if w.URLKeyID, w.SealedURL, err = srv.Keys.Seal([]byte(w.URL), keyring.AAD("webhooks", "url", w.ID)); err != nil {
					t.Fatal(err)
				}
				if err := srv.Store.CreateWebhook(ctx, w); err != nil {
					t.Fatal(err)
				}
			}
			// Its key with an admin permit is revoked and named; its other
			// key works on, unnamed (README "Commands").
			for _, k := range []struct{ id, name, permit string }{{"key-panel", "panel", "admin users read,write"}, {"key-dns", "dns", "dns example.com write"}} {
				p, err := permit.Parse(k.permit)
				if err != nil {
					t.Fatal(err)
				}
				if err := srv.Store.CreateAPIKey(ctx, twofold.APIKey{ID: k.id, AccountID: olive.ID, Name: k.name, SecretHash: []byte("unused"), Permits: []twofold.Permit{p}, CreatedAt: time.Now()}); err != nil {
					t.Fatal(err)
				}
			}
			run := func(args ...string) string {
				t.Helper()
				tm := newTestMain(t, time.Now(), "")
				if err := tm.run(t, append(append([]string{"user", "operator", "olive"}, args...), flags...)...); err != nil {
					t.Fatalf("user operator olive %v: %v (stderr %q)", args, err, tm.stderr.String())
				}
				return tm.stdout.String()
			}
			out := run("--remove")
			if !strings.Contains(out, "disabled webhook wh_olive to https://panel.example.com") || strings.Contains(out, "wh_other") || strings.Contains(out, "token") {
				t.Errorf("user operator --remove: got %q, want it to name wh_olive (without its path and query) alone", out)
			}
			if !strings.Contains(out, `"panel"`) || strings.Contains(out, `"dns"`) {
				t.Errorf("user operator --remove: got %q, want it to name the revoked admin key \"panel\" alone", out)
			}
			check := func(when string) {
				t.Helper()
				w, err := srv.Store.Webhook(ctx, "wh_olive")
				if err != nil || w.DisabledAt.IsZero() || w.DisabledReason != twofold.WebhookDisabledNotOperator {
					t.Errorf("wh_olive %s: disabled at %v for %q (%v); want disabled, owner-not-operator", when, w.DisabledAt, w.DisabledReason, err)
				}
				if o, err := srv.Store.Webhook(ctx, "wh_other"); err != nil || !o.DisabledAt.IsZero() {
					t.Errorf("wh_other %s: disabled at %v (%v); want on", when, o.DisabledAt, err)
				}
			}
			check("after --remove")
			if out := run(); !strings.Contains(out, "olive is an operator") {
				t.Errorf("user operator olive: got %q", out)
			}
			check("after olive is an operator again")
			evs, err := srv.Store.Events(ctx, olive.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range evs {
				if e.Type == "webhook.disabled" {
					n++
				}
			}
			if n != 1 {
				t.Errorf("got %d webhook.disabled events on olive, want 1", n)
			}
		})
	}
}

// TestServeBaseURL: under --base-url the "listening on" line gives the
// address the server is bound to, where it answers, with the public URL
// beside it; a trailing "/" of the base URL is dropped, so the first-run
// link has one slash; a base URL with a path is refused before anything
// starts.
func TestServeBaseURL(t *testing.T) {
	dir := t.TempDir()
	args := []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")}

	// Cancelled already: should serve start at all, it stops at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tm := newTestMain(t, time.Now(), "")
	err := tm.Run(ctx, append(args, "--base-url", "https://login.example.com/twofold"))
	tm.Close()
	if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "a path is not supported") {
		t.Errorf("serve with a base URL with a path: got %v, want it refused (exit 2)", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "t.db")); err == nil {
		t.Error("serve with a base URL with a path made the database")
		os.Remove(filepath.Join(dir, "t.db"))
	}

	tm = newTestMain(t, time.Now(), "")
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx, append(args, "--base-url", "https://login.example.com/")) }()
	url := waitListening(t, tm.stdout, done)
	if !strings.HasPrefix(url, "http://127.0.0.1:") || strings.HasSuffix(url, ":0") {
		t.Errorf("got listening on %q, want the address bound, http://127.0.0.1:<port>", url)
	}
	out := tm.stdout.String()
	for end := time.Now().Add(time.Minute); !strings.Contains(out, "/setup/") && time.Now().Before(end); out = tm.stdout.String() {
		time.Sleep(5 * time.Millisecond) // the lines after "listening on" are printed a moment later
	}
	if want := "twofold listening on " + url + " (public URL https://login.example.com)\n"; !strings.Contains(out, want) {
		t.Errorf("stdout %q: want %q", out, want)
	}
	if want := "create the operator account at https://login.example.com/setup/"; !strings.Contains(out, want) {
		t.Errorf("stdout %q: want %q", out, want)
	}
	res, err := http.Get(url + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("GET /healthz at the address printed: got %d, want %d", res.StatusCode, http.StatusOK)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("Run: %v", err)
	}
	if err := tm.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestServeShutdownTimeout: a request still running when
// --shutdown-timeout runs out ends the program with an error that says so
// (exit 1), not only "context deadline exceeded". The request is one whose
// body never comes: the server has begun to read it (it sent "100
// Continue"), so it is running, and it runs until the client gives up.
func TestServeShutdownTimeout(t *testing.T) {
	dir := t.TempDir()
	tm := newTestMain(t, time.Now(), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tm.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"),
			"--key-file", filepath.Join(dir, "t.key"), "--shutdown-timeout", "1ms"})
	}()
	url := waitListening(t, tm.stdout, done)

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil || !strings.HasPrefix(line, "HTTP/1.1 100 ") {
		t.Fatalf("got %q, %v; want 100 Continue", line, err)
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	err = tm.Close()
	if err == nil || exitCode(err) != 1 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close: got %v, want the shutdown timeout's error", err)
	}
	if !strings.Contains(err.Error(), "requests were still running when the shutdown timeout (--shutdown-timeout 1ms) ran out") {
		t.Errorf("Close: got %q, want it to say requests were still running at the timeout", err)
	}
	// The request was cut off, not left running.
	conn.SetReadDeadline(time.Now().Add(20 * time.Second))
	var ne net.Error
	if _, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
		t.Errorf("the request's connection is still open after the shutdown (read: %v)", err)
	}
}

// TestUserAddWarnsWithoutOperator: an account made while no operator
// exists closes the first-run setup link, leaving no way to one on the
// web: user add says so, and how to make an operator; once one exists, it
// says nothing.
func TestUserAddWarnsWithoutOperator(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, _ := dbAndKey(t, newDSN(t))
			for _, tt := range []struct {
				args []string
				warn bool
			}{
				{[]string{"alice"}, true},
				{[]string{"bob"}, true},
				{[]string{"olive", "--operator"}, false},
				{[]string{"carol"}, false},
			} {
				tm := newTestMain(t, time.Now(), "a long passphrase\n")
				if err := tm.run(t, append(append([]string{"user", "add"}, tt.args...), flags...)...); err != nil {
					t.Fatalf("user add %v: %v (stderr %q)", tt.args, err, tm.stderr.String())
				}
				warned := strings.Contains(tm.stderr.String(), "twofold user operator NAME") && strings.Contains(tm.stderr.String(), "setup link")
				if warned != tt.warn {
					t.Errorf("user add %v: got stderr %q, want a warning that no operator exists %v", tt.args, tm.stderr.String(), tt.warn)
				}
			}
		})
	}
}

// TestServeLogsClosed: after a graceful shutdown the last log line says
// the database is closed.
func TestServeLogsClosed(t *testing.T) {
	dir := t.TempDir()
	tm := newTestMain(t, time.Now(), "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tm.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")})
	}()
	waitListening(t, tm.stdout, done)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if err := tm.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	lines := strings.Split(strings.TrimSpace(tm.stderr.String()), "\n")
	if last := lines[len(lines)-1]; !strings.Contains(last, "database closed") {
		t.Errorf("last log line %q, want one saying the database is closed", last)
	}
}
