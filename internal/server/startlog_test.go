package server_test

import (
	"context"
	"encoding/base64"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestStartLogTextMessages: what the server says at start about text
// messages is true of how it is configured: without a gateway, that no
// phone can be added, except with --sms-log-codes, where phones are added
// and messages logged; and an allow-list with calling code 1 is warned
// about, as it admits the Caribbean's numbers too. So is a trusted proxy
// range that takes in every address.
func TestStartLogTextMessages(t *testing.T) {
	tests := []struct {
		name      string
		set       func(c *config.Config)
		want, not []string
	}{
		{"no gateway", func(c *config.Config) {},
			[]string{"no phone can be added"}, []string{"--sms-countries"}},
		{"log codes", func(c *config.Config) { c.SMSLogCodes = true },
			[]string{"logged (--sms-log-codes)", "phones can be added"}, []string{"no phone can be added"}},
		{"calling code 1", func(c *config.Config) { c.SMSCountries = "1,GB" },
			[]string{"--sms-countries: calling code 1", "JM"}, nil},
		{"every address a proxy", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "0.0.0.0/0"} },
			[]string{"--trusted-proxy 0.0.0.0/0 believes the X-Forwarded-For of every client"}, []string{"--trusted-proxy 10.0.0.0/8"}},
		{"proxies named", func(c *config.Config) { c.TrustedProxies = []string{"10.0.0.0/8", "::1/128"} },
			nil, []string{"--trusted-proxy"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			c := config.Default()
			c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", "sqlite:"+filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key")
			c.Argon2Memory, c.Argon2Time = 8*1024, 1
			tt.set(&c)
			log := startLog(t, c)
			for _, w := range tt.want {
				if !strings.Contains(log, w) {
					t.Errorf("start-up log %q: want %q", log, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(log, w) {
					t.Errorf("start-up log %q: want no %q", log, w)
				}
			}
		})
	}
}

// TestStartLogKeyFileMode: a key file that users other than its owner may
// read or write is warned about at start, naming its path and mode and
// nothing of its content; one of mode 0600 (as Twofold makes it) is not.
func TestStartLogKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no mode bits")
	}
	dir := t.TempDir()
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", "sqlite:"+filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	start := func() string {
		t.Helper()
		return startLog(t, c)
	}
	const warning = "may be read or written by users other than its owner"
	if got := start(); strings.Contains(got, warning) {
		t.Errorf("start-up log with a new key file (0600): %q; want no warning about its mode", got)
	}
	if err := os.Chmod(c.KeyFile, 0o644); err != nil {
		t.Fatal(err)
	}
	got := start()
	if !strings.Contains(got, "level=WARN") || !strings.Contains(got, warning) || !strings.Contains(got, "path="+c.KeyFile) || !strings.Contains(got, "mode=0644") {
		t.Errorf("start-up log with a key file of mode 0644: %q; want a warning naming its path and mode", got)
	}
	f, err := keyring.LoadFile(c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{base64.StdEncoding.EncodeToString(f.HashKey)}
	for _, m := range f.Masters {
		secrets = append(secrets, base64.StdEncoding.EncodeToString(m.Key))
	}
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Fatal("the start-up log holds key material")
		}
	}
}

// TestStartLogPhonesOutsideAllowList: a server started with an allow-list
// narrower than the one phones were added under warns once, with how many
// stored numbers (confirmed or waiting) it no longer texts, and never a
// number; one whose list admits them all says nothing of them.
func TestStartLogPhonesOutsideAllowList(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			g := testenv.NewSMSGateway(t)
			wide := testenv.NewServer(t, dsn(t), g.Option(), func(c *config.Config) { c.SMSCountries = "1,GB" })
			phones := []struct {
				user, e164 string
				confirm    bool
			}{
				{"jm", "+18762101234", true},  // Jamaica: outside the default list
				{"do", "+18092345678", false}, // Dominican Republic, waiting for its code: outside
				{"us", "+14155552671", true},  // United States: inside
				{"gb", "+447400123456", true}, // United Kingdom: inside
			}
			for _, p := range phones {
				if _, err := wide.Service.CreateAccount(ctx, core.NewAccount{Username: p.user, Password: "correct horse battery"}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				res, err := wide.Service.Login(ctx, p.user, "correct horse battery", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				a, err := wide.Service.Authenticate(ctx, res.Token)
				if err != nil {
					t.Fatal(err)
				}
				e, err := wide.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorSMS, Phone: p.e164}, core.Meta{})
				if err != nil {
					t.Fatalf("add %s: %v", p.e164, err)
				}
				if p.confirm {
					if _, err := wide.Service.ConfirmFactor(ctx, a, e.Factor.ID, g.LastCode(t, p.e164), core.Meta{}); err != nil {
						t.Fatalf("confirm %s: %v", p.e164, err)
					}
				}
			}
			start := func(countries string) string {
				t.Helper()
				c := wide.Config
				c.SMSCountries = countries
				return startLog(t, c)
			}
			const warning = "stored phone numbers are of regions --sms-countries does not admit"
			got := start(config.Default().SMSCountries)
			lines := logLines(got, warning)
			if len(lines) != 1 || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], " phones=2 ") {
				t.Errorf("start-up log with the default list: %q; want one warning of 2 phones", got)
			}
			for _, p := range phones {
				if strings.Contains(got, p.e164[len(p.e164)-7:]) {
					t.Errorf("the start-up log holds the number %s", p.e164)
				}
			}
			if got := start("1,GB"); strings.Contains(got, warning) {
				t.Errorf("start-up log with the list the phones were added under: %q; want no warning about them", got)
			}
		})
	}
}

// TestStartBackfillsTokenDigests: a start stores the secret digest of a
// hardware token claimed before migration 0048 (none stored), and says how
// many it stored; the next start has none left to store.
func TestStartBackfillsTokenDigests(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			first := testenv.NewServer(t, dsn(t))
			secret := []byte("a fob secret of 20 b")
			seeds := []otp.Seed{{Serial: "YK-1", Type: otp.TypeHOTP, Secret: secret, Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}}
			if _, err := first.Service.ImportTokens(ctx, seeds, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := first.Service.CreateAccount(ctx, core.NewAccount{Username: "ada", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			res, err := first.Service.Login(ctx, "ada", "correct horse battery", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := first.Service.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := first.Service.ClaimToken(ctx, a, "YK-1", otp.HOTP(secret, 0, otp.SHA1, 6), "fob", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			pools := first.Store.Pools()
			db, ok := pools["writer"]
			if !ok {
				db = pools["pool"]
			}
			if _, err := db.ExecContext(ctx, `UPDATE hardware_tokens SET secret_digest = NULL`); err != nil { // as before migration 0048
				t.Fatal(err)
			}
			if d, err := first.Store.ClaimedTokenDigests(ctx); err != nil || len(d) != 0 {
				t.Fatalf("digests before the start: %v, %v; want none", d, err)
			}
			start := func() string {
				t.Helper()
				var log testenv.Buffer
				s := &server.Server{Config: first.Config, Logger: slog.New(slog.NewTextHandler(&log, nil)), Now: time.Now, WebhookEvery: -1}
				if err := s.Open(ctx); err != nil {
					t.Fatal(err)
				}
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
				return log.String()
			}
			const stored = "stored the secret digests of hardware tokens claimed before migration 0048"
			if got := start(); !strings.Contains(got, stored) || !strings.Contains(got, "tokens=1") {
				t.Errorf("start-up log: %q; want the digest of one token stored", got)
			}
			if d, err := first.Store.ClaimedTokenDigests(ctx); err != nil || len(d["YK-1"]) == 0 {
				t.Errorf("digests after the start: %v, %v; want YK-1's", d, err)
			}
			if got := start(); strings.Contains(got, stored) {
				t.Errorf("second start-up log: %q; want nothing left to store", got)
			}
		})
	}
}

// startLog opens a server with c, closes it (which waits for the start-up
// checks that run beside serving) and returns what it logged.
func startLog(t *testing.T, c config.Config) string {
	t.Helper()
	var log testenv.Buffer
	s := &server.Server{Config: c, Logger: slog.New(slog.NewTextHandler(&log, nil)), Now: time.Now, WebhookEvery: -1}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return log.String()
}

// logLines returns the lines of log that hold of.
func logLines(log, of string) []string {
	var lines []string
	for _, l := range strings.Split(log, "\n") {
		if strings.Contains(l, of) {
			lines = append(lines, l)
		}
	}
	return lines
}
