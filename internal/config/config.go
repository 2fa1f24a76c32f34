// Package config holds Twofold's settings: defaults, then a config file, then
// TWOFOLD_* environment variables, then flags, each overriding the one before
// (SPEC §4). Validate reports every problem at once.
package config

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/mail"
	"net/netip"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/twofold/twofold/internal/factor/securitykey"
	"github.com/twofold/twofold/internal/factor/sms"
)

// Config is the server's configuration.
type Config struct {
	Listen          string
	DB              string
	KeyFile         string
	Issuer          string
	LogLevel        string
	LogFormat       string
	BaseURL         string
	TrustedProxies  []string
	Argon2Memory    uint
	Argon2Time      uint
	Argon2Threads   uint
	SessionTTL      time.Duration
	LoginBurst      int
	LoginRate       float64
	ShutdownTimeout time.Duration
	// MaxConnsPerAddress caps the connections one source address (an IPv6
	// one per /64) holds open at once; the trusted proxies are exempt; 0:
	// no cap.
	MaxConnsPerAddress int
	ResetDelay         time.Duration // how long an operator's reset of two-factor waits
	// PasswordBlocklist is a file of passwords known to attackers that new
	// passwords are screened against (internal/blocklist); "" uses none.
	PasswordBlocklist string
	// MetricsAddr is the host:port /metrics is served on, alone, when set;
	// "" serves it on Listen beside everything else (README "Audit log and
	// operations").
	MetricsAddr string

	// Authoritative DNS for the zones of the DNS API (SPEC §3 "DNS API").
	DNSAddr        string   // host:port to answer DNS on, UDP and TCP; "" answers none
	DNSNameservers []string // the zones' NS records; the first is the SOA's primary
	DNSHostmaster  string   // the SOA's mailbox, hostmaster@example.net; "": hostmaster@ZONE

	// Notifications (issue 4 item 6). Without SMTPAddr they are logged, not sent.
	SMTPAddr     string // host:port of the mail server
	SMTPFrom     string // the From address, "Twofold <twofold@example.com>"
	SMTPUsername string // AUTH PLAIN when set: only over TLS or to localhost
	SMTPPassword Secret
	SMTPStartTLS bool   // upgrade with STARTTLS; required of a server not on loopback
	SMTPTLS      bool   // TLS from the first byte (port 465) instead
	SMTPHelo     string // the name Twofold gives in EHLO

	// Codes by text message (SPEC §2). Without SMSURL none is sent: phones
	// and texted codes are refused (503), unless SMSLogCodes logs them.
	SMSURL       string // base URL of a Twilio-compatible gateway, https://api.twilio.com
	SMSAccount   string // account SID
	SMSToken     Secret // auth token
	SMSFrom      string // sender number (E.164) or sender ID
	SMSCountries string // regions and country calling codes numbers may be of, "US,CA,GB,49"
	SMSLogCodes  bool   // development only: the log sender logs codes and numbers

	// Security keys (SPEC §2, WebAuthn): the relying party ID and the
	// origins of the pages; by default from BaseURL (see WebAuthn).
	WebAuthnRPID    string
	WebAuthnOrigins []string

	// Webhooks (README "Webhooks"): endpoints may be http, not only https;
	// and may be at loopback or private addresses. Both off by default.
	WebhookAllowHTTP    bool
	WebhookAllowPrivate bool
}

// Secret is a setting that must never be printed, such as a password.
type Secret string

// String returns "[redacted]" for a non-empty secret.
func (s Secret) String() string {
	if s == "" {
		return ""
	}
	return "[redacted]"
}

// LogValue keeps the secret out of structured logs.
func (s Secret) LogValue() slog.Value { return slog.StringValue(s.String()) }

// secretFlag is a flag.Value writing into a Secret.
type secretFlag struct{ v *Secret }

func (f secretFlag) String() string {
	if f.v == nil {
		return ""
	}
	return f.v.String()
}

func (f secretFlag) Set(s string) error { *f.v = Secret(s); return nil }

// Default returns the embedded default: SQLite and a key file in the working
// directory, listening on loopback.
func Default() Config {
	return Config{
		Listen:             "127.0.0.1:8080",
		DB:                 "sqlite:twofold.db",
		KeyFile:            "twofold.key",
		Issuer:             "Twofold",
		LogLevel:           "info",
		LogFormat:          "text",
		Argon2Memory:       19 * 1024,
		Argon2Time:         2,
		Argon2Threads:      1,
		SessionTTL:         12 * time.Hour,
		LoginBurst:         30,
		LoginRate:          1,
		ShutdownTimeout:    15 * time.Second,
		MaxConnsPerAddress: 256,
		ResetDelay:         72 * time.Hour,
		SMTPStartTLS:       true,
		SMSCountries:       sms.DefaultCountries().String(),
		DNSNameservers:     []string{"localhost"},
	}
}

// listFlag is a repeatable string flag.
type listFlag struct{ v *[]string }

func (l listFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l listFlag) Set(s string) error {
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			*l.v = append(*l.v, p)
		}
	}
	return nil
}

// nameserversFlag is a comma-separated list that replaces its default
// when given.
type nameserversFlag struct{ v *[]string }

func (l *nameserversFlag) String() string {
	if l.v == nil {
		return ""
	}
	return strings.Join(*l.v, ",")
}

func (l *nameserversFlag) Set(s string) error {
	*l.v = nil
	return listFlag(*l).Set(s)
}

// baseURLFlag is --base-url: a trailing "/" is dropped, so that links made
// by appending a path to it ("/setup/…") have one slash.
type baseURLFlag struct{ v *string }

func (f baseURLFlag) String() string {
	if f.v == nil {
		return ""
	}
	return *f.v
}

func (f baseURLFlag) Set(s string) error { *f.v = strings.TrimSuffix(s, "/"); return nil }

// Register defines the server flags on fs, writing into c.
func (c *Config) Register(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", c.Listen, "address to listen on")
	fs.StringVar(&c.DB, "db", c.DB, "database: sqlite:PATH or postgres://…")
	fs.StringVar(&c.KeyFile, "key-file", c.KeyFile, "master key file (created with mode 0600 when missing)")
	fs.StringVar(&c.Issuer, "issuer", c.Issuer, "issuer name shown in authenticator apps")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.StringVar(&c.LogFormat, "log-format", c.LogFormat, "text or json")
	fs.Var(baseURLFlag{&c.BaseURL}, "base-url", "public URL of the server, for links it prints: scheme and host (and port), no path (default: from --listen)")
	fs.Var(listFlag{&c.TrustedProxies}, "trusted-proxy", "CIDR of a proxy whose X-Forwarded-For, -Proto and -Host (or Forwarded) are believed (repeatable)")
	fs.UintVar(&c.Argon2Memory, "argon2-memory", c.Argon2Memory, "Argon2id memory in KiB")
	fs.UintVar(&c.Argon2Time, "argon2-iterations", c.Argon2Time, "Argon2id passes")
	fs.UintVar(&c.Argon2Threads, "argon2-parallelism", c.Argon2Threads, "Argon2id lanes")
	fs.DurationVar(&c.SessionTTL, "session-ttl", c.SessionTTL, "how long a session lasts")
	fs.IntVar(&c.LoginBurst, "login-burst", c.LoginBurst, "login requests one client address may make at once")
	fs.Float64Var(&c.LoginRate, "login-rate", c.LoginRate, "login requests per second one client address may make after the burst (0: no limit)")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", c.ShutdownTimeout, "how long to wait for requests on shutdown")
	fs.IntVar(&c.MaxConnsPerAddress, "max-conns-per-address", c.MaxConnsPerAddress, "connections one client address (an IPv6 one per /64) may hold open at once, HTTP and DNS over TCP each; --trusted-proxy addresses are exempt (0: no limit)")
	fs.DurationVar(&c.ResetDelay, "reset-delay", c.ResetDelay, "how long an operator's reset of a user's two-factor waits, the user told and able to cancel it (0: carried out at once)")
	fs.StringVar(&c.PasswordBlocklist, "password-blocklist", c.PasswordBlocklist, "file of passwords known to attackers, refused as new passwords: the Pwned Passwords SHA-1 file ordered by hash (searched on disk), or one password per line (default: none)")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "host:port to serve /metrics on, alone, apart from --listen, which then answers it 404 (default: none, /metrics is served on --listen)")
	fs.StringVar(&c.DNSAddr, "dns-addr", c.DNSAddr, "host:port to answer DNS queries for the DNS API's zones on, over UDP and TCP (default: none)")
	fs.Var(&nameserversFlag{&c.DNSNameservers}, "dns-nameservers", "the zones' name servers, comma-separated, the first the SOA's primary")
	fs.StringVar(&c.DNSHostmaster, "dns-hostmaster", c.DNSHostmaster, "the SOA's contact address, e.g. hostmaster@example.net (default: hostmaster@ZONE)")
	fs.StringVar(&c.SMTPAddr, "smtp-addr", c.SMTPAddr, "mail server host:port for notifications (default: none, notifications are only logged)")
	fs.StringVar(&c.SMTPFrom, "smtp-from", c.SMTPFrom, "From address of notifications, e.g. 'Twofold <twofold@example.com>'")
	fs.StringVar(&c.SMTPUsername, "smtp-username", c.SMTPUsername, "user name for SMTP AUTH PLAIN (only over TLS, or to localhost)")
	fs.Var(secretFlag{&c.SMTPPassword}, "smtp-password", "password for SMTP AUTH (better from TWOFOLD_SMTP_PASSWORD or the config file)")
	fs.BoolVar(&c.SMTPStartTLS, "smtp-starttls", c.SMTPStartTLS, "upgrade to TLS with STARTTLS; a mail server not on this machine must offer it")
	fs.BoolVar(&c.SMTPTLS, "smtp-tls", c.SMTPTLS, "connect with TLS from the first byte (SMTPS, usually port 465)")
	fs.StringVar(&c.SMTPHelo, "smtp-helo", c.SMTPHelo, "host name to give in EHLO (default: localhost)")
	fs.StringVar(&c.SMSURL, "sms-url", c.SMSURL, "base URL of a Twilio-compatible SMS gateway, e.g. https://api.twilio.com (default: none: no text message is sent, and adding a phone or asking for a texted code answers 503)")
	fs.StringVar(&c.SMSAccount, "sms-account", c.SMSAccount, "SMS gateway account SID")
	fs.Var(secretFlag{&c.SMSToken}, "sms-token", "SMS gateway auth token (better from TWOFOLD_SMS_TOKEN or the config file)")
	fs.StringVar(&c.SMSFrom, "sms-from", c.SMSFrom, "sender of text messages: a number in E.164 form or a sender ID")
	fs.StringVar(&c.SMSCountries, "sms-countries", c.SMSCountries, "regions (US,CA,GB) and country calling codes (44) that SMS factors' numbers may be of, comma-separated, against SMS pumping; a calling code admits every region that shares it, so 1 the Caribbean too")
	fs.BoolVar(&c.SMSLogCodes, "sms-log-codes", c.SMSLogCodes, "DEVELOPMENT ONLY: without --sms-url, log each text message with its code and number")
	fs.StringVar(&c.WebAuthnRPID, "webauthn-rp-id", c.WebAuthnRPID, "WebAuthn relying party ID of security keys, a domain such as example.com (default: the host of --base-url)")
	fs.BoolVar(&c.WebhookAllowHTTP, "webhook-allow-http", c.WebhookAllowHTTP, "allow webhooks at http:// URLs, not only https:// (for receivers on a trusted network, and tests)")
	fs.BoolVar(&c.WebhookAllowPrivate, "webhook-allow-private", c.WebhookAllowPrivate, "allow webhooks to loopback and private addresses (refused by default, against request forgery; link-local and cloud metadata addresses stay refused)")
	fs.Var(listFlag{&c.WebAuthnOrigins}, "webauthn-origins", "origins the pages are served from, comma-separated, e.g. https://login.example.com (default: that of --base-url)")
}

// RegisterOnly defines on fs the server flags named, writing into c: those
// a command reads (`user add` reads db, key-file, issuer, …), so that its
// help lists no other and its command line refuses them. It panics on a
// name Register does not define.
func (c *Config) RegisterOnly(fs *flag.FlagSet, names ...string) {
	all := flag.NewFlagSet("", flag.ContinueOnError)
	c.Register(all)
	for _, name := range names {
		f := all.Lookup(name)
		if f == nil {
			panic("config: no setting " + name)
		}
		fs.Var(f.Value, f.Name, f.Usage)
	}
}

// envNames returns the environment variables of flag name, the documented
// one first: TWOFOLD_ and the name in upper case, "-" as "_". The setting
// --trusted-proxy is read from TWOFOLD_TRUSTED_PROXY by that rule, and from
// TWOFOLD_TRUSTED_PROXIES, the name earlier releases documented.
func envNames(name string) []string {
	n := "TWOFOLD_" + strings.ToUpper(strings.ReplaceAll(name, "-", "_"))
	if name == "trusted-proxy" {
		return []string{n, "TWOFOLD_TRUSTED_PROXIES"}
	}
	return []string{n}
}

// CheckEnv returns an error naming each variable of names (the names of
// the environment's variables) that starts TWOFOLD_ and that Twofold does
// not read, so that a misspelt setting is refused rather than silently
// left at its default; with the variable it means when one is close. fs
// holds the flags Parse was given, a subcommand's own among them: the
// variable of one of those is refused too (they come from the command line
// only), except TWOFOLD_PSKC_KEY. Variables of Twofold's own tests
// (TWOFOLD_TEST_…, TWOFOLD_ARTIFACTS) are let be.
func CheckEnv(fs *flag.FlagSet, names []string) error {
	settings := settingNames()
	known := []string{"TWOFOLD_CONFIG"}
	for name := range settings {
		known = append(known, envNames(name)...)
	}
	known = append(known, "TWOFOLD_PSKC_KEY")
	slices.Sort(known)
	switches := map[string]string{}
	fs.VisitAll(func(f *flag.Flag) {
		if !settings[f.Name] && !fromEnv(f.Name) && f.Name != "config" {
			switches[envNames(f.Name)[0]] = f.Name
		}
	})
	var errs []error
	seen := map[string]bool{}
	for _, n := range names {
		if !strings.HasPrefix(n, "TWOFOLD_") || seen[n] || strings.HasPrefix(n, "TWOFOLD_TEST_") || n == "TWOFOLD_ARTIFACTS" || slices.Contains(known, n) {
			continue
		}
		seen[n] = true
		if sw, ok := switches[n]; ok {
			errs = append(errs, fmt.Errorf("environment variable %s: --%s is taken from the command line only; unset the variable", n, sw))
			continue
		}
		err := fmt.Errorf("environment variable %s names no setting of Twofold; unset it", n)
		if near := nearest(n, known); near != "" {
			err = fmt.Errorf("environment variable %s names no setting of Twofold: did you mean %s?", n, near)
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// nearest returns the name of known closest to n, when close enough to be
// the one meant: a few letters apart, or one the start of the other
// (TWOFOLD_LISTEN_ADDR for TWOFOLD_LISTEN); else "".
func nearest(n string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		d := editDistance(n, k)
		if strings.HasPrefix(n, k+"_") || strings.HasPrefix(k, n+"_") {
			d = min(d, 1)
		}
		if d < bestDist {
			best, bestDist = k, d
		}
	}
	return best
}

// editDistance returns the Levenshtein distance of a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur := make([]int, len(b)+1)
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev = cur
	}
	return prev[len(b)]
}

// Sources names where each setting not left at its default came from, by
// setting name: "flag --db", "TWOFOLD_DB", "config file PATH line 3".
// Validate's messages name it (ValidateFrom).
type Sources map[string]string

// Parse parses args into fs (which must carry flags registered by Register,
// or those of them a command reads by RegisterOnly, and may carry more), then
// fills each server setting on fs not given on the command line from the
// environment, then from the config file named by --config or TWOFOLD_CONFIG
// (lines "name = value", # comments). A server setting fs lacks is refused on
// the command line, saying so, and let be in the environment and the file.
// A variable that is set, or a file line, with an empty value gives the
// setting the empty value, never its default (Validate then refuses an empty
// db or key-file). A subcommand's own flags (--operator, --force, …) come
// only from its command line, except those fromEnv names.
//
// A value that does not parse, on the command line, in the environment or
// in the file (even one a higher source overrides), is reported with where
// it came from and an example of a good value; Parse goes on after it, so
// that the error names every problem of every source. Only -h or --help
// (flag.ErrHelp) stops it at once.
func Parse(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) error {
	_, err := ParseSources(fs, args, lookupEnv)
	return err
}

// ParseSources is Parse that also returns where each setting came from.
func ParseSources(fs *flag.FlagSet, args []string, lookupEnv func(string) (string, bool)) (Sources, error) {
	var file string
	envFile, _ := lookupEnv("TWOFOLD_CONFIG")
	fs.StringVar(&file, "config", envFile, "config file of name = value lines")
	settings := settingNames()
	from := Sources{}
	var errs []error
	if err := parseFlags(fs, FlagsFirst(fs, args), &errs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		// The flag package's own words for a flag fs does not define.
		if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok && settings[name] {
			err = fmt.Errorf("--%s is a setting %s does not read: leave it out here (a config file or %s shared with serve may still hold it)", name, fs.Name(), envNames(name)[0])
		}
		errs = append(errs, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		from[f.Name] = "flag --" + f.Name
	})
	fileValues := map[string]fileValue{}
	if file != "" {
		lines, err := readFile(file)
		if err != nil {
			if !set["config"] {
				err = fmt.Errorf("%w (from TWOFOLD_CONFIG)", err)
			}
			errs = append(errs, err)
		}
		for _, l := range lines {
			// A setting the command does not read (listen, for user add) is
			// let be: one file serves serve and the administration commands.
			if !settings[l.name] {
				errs = append(errs, fmt.Errorf("config file %s line %d: unknown setting %q (a config file holds server settings only)", file, l.line, l.name))
				continue
			}
			if prev, dup := fileValues[l.name]; dup && l.name == "trusted-proxy" {
				fileValues[l.name] = fileValue{from: "config file " + file, v: prev.v + "," + l.v}
				continue
			}
			fileValues[l.name] = fileValue{from: fmt.Sprintf("config file %s line %d", file, l.line), v: l.v}
		}
	}
	fs.VisitAll(func(f *flag.Flag) {
		if f.Name == "config" || !settings[f.Name] && !fromEnv(f.Name) {
			return
		}
		// The values given for f outside the command line, the one that
		// counts first.
		var given []fileValue
		for _, n := range envNames(f.Name) {
			if w, has := lookupEnv(n); has {
				given = append(given, fileValue{from: n, v: w})
			}
		}
		if len(given) == 2 && given[0].v != given[1].v && !set[f.Name] {
			errs = append(errs, fmt.Errorf("%s: both %s and %s are set, to different values: keep one (%s)", f.Name, given[0].from, given[1].from, given[0].from))
			return
		}
		if fv, ok := fileValues[f.Name]; ok && settings[f.Name] {
			given = append(given, fv)
		}
		for i, g := range given {
			if i == 0 && !set[f.Name] {
				prev := f.Value.String()
				if err := fs.Set(f.Name, g.v); err != nil {
					keep(f.Value, prev)
					errs = append(errs, badValue(f.Name, f.Value, g.from, g.v, err))
				} else {
					from[f.Name] = g.from
				}
				continue
			}
			// Overridden, but a value that does not parse is a mistake
			// all the same: it would count once the one above it went.
			if err := checkValue(f.Name, g.v); err != nil {
				errs = append(errs, badValue(f.Name, f.Value, g.from, g.v, err))
			}
		}
	})
	return from, errors.Join(errs...)
}

// FlagsFirst returns args with the flags of fs and their values moved
// before the other arguments, each kept in its order, so that options may
// follow a command's argument (`twofold backup DEST --db …`), which the flag
// package would take for more arguments. "--" ends the flags, as there; an
// unknown flag is kept for Parse to refuse; args with a last flag missing
// its value are returned as they are.
func FlagsFirst(fs *flag.FlagSet, args []string) []string {
	var flags, rest []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(append(append(flags, a), rest...), args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			rest = append(rest, a)
			continue
		}
		flags = append(flags, a)
		name, _, hasValue := strings.Cut(strings.TrimLeft(a, "-"), "=")
		f := fs.Lookup(name)
		if hasValue || f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 == len(args) {
			// A flag missing its value would take the argument moved
			// after it for one: left as given, Parse refuses it.
			return args
		}
		i++
		flags = append(flags, args[i])
	}
	return append(flags, rest...)
}

// fileValue is a value of a setting and where it came from.
type fileValue struct{ from, v string }

// parseFlags parses args into fs. A flag value that does not parse is
// added to errs, with an example of a good one, and parsing goes on (the
// flag package would stop at it); the error is that of a mistake parsing
// cannot go on after: an unknown flag, a missing value, -h.
func parseFlags(fs *flag.FlagSet, args []string, errs *[]error) error {
	orig := map[*flag.Flag]flag.Value{}
	fs.VisitAll(func(f *flag.Flag) {
		orig[f] = f.Value
		lenient := lenientValue{Value: f.Value, name: f.Name, errs: errs}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			f.Value = lenientBool{lenient}
		} else {
			f.Value = lenient
		}
	})
	defer fs.VisitAll(func(f *flag.Flag) { f.Value = orig[f] })
	return fs.Parse(args)
}

// lenientValue is a flag.Value whose Set records an error rather than
// returning it (parseFlags).
type lenientValue struct {
	flag.Value
	name string
	errs *[]error
}

func (l lenientValue) Set(s string) error {
	prev := l.Value.String()
	if err := l.Value.Set(s); err != nil {
		keep(l.Value, prev)
		*l.errs = append(*l.errs, badValue(l.name, l.Value, "flag --"+l.name, s, err))
	}
	return nil
}

// lenientBool is a lenientValue of a switch (--smtp-tls without a value).
type lenientBool struct{ lenientValue }

func (lenientBool) IsBoolFlag() bool { return true }

// keep puts back the value prev of v, one of the flag package's kinds,
// after a Set that failed: those set their zero value then (a duration of
// 0s), which Validate would refuse too, as though given.
func keep(v flag.Value, prev string) {
	if _, ok := v.(flag.Getter); ok {
		v.Set(prev)
	}
}

// badValue returns the error of the value v of setting name (whose flag
// value is fv) from source from, which Set refused with err: with an
// example of a good value where the kind has one.
func badValue(name string, fv flag.Value, from, v string, err error) error {
	if v == "" {
		err = errors.New("empty: give a value, or leave the setting out for its default")
	} else if want := wantValue(fv); want != "" {
		err = fmt.Errorf("%q: %s", v, want)
	}
	return fmt.Errorf("%s (from %s): %w", name, from, err)
}

// checkValue reports whether v parses as a value of the server setting
// name, without keeping it.
func checkValue(name, v string) error {
	c := Default()
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.Register(fs)
	if fs.Lookup(name) == nil {
		return nil
	}
	return fs.Set(name, v)
}

// wantValue says what a setting of the kind of v takes, with examples, for
// a value that does not parse; "" for a kind whose Set says it itself.
func wantValue(v flag.Value) string {
	g, ok := v.(flag.Getter)
	if !ok {
		return ""
	}
	switch g.Get().(type) {
	case time.Duration:
		return "want a duration such as 90s, 15m or 12h"
	case bool:
		return "want true or false"
	case int, uint, int64, uint64:
		return "want a whole number such as 30"
	case float64:
		return "want a number such as 0.5 or 2"
	}
	return ""
}

// settingNames returns the names of the server settings, the flags that
// Register defines: only these come from the environment and the config
// file.
func settingNames() map[string]bool {
	c := Default()
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.Register(fs)
	names := map[string]bool{}
	fs.VisitAll(func(f *flag.Flag) { names[f.Name] = true })
	return names
}

// fromEnv reports whether a subcommand's flag name also comes from the
// environment: --pskc-key of "tokens import", a key better kept out of the
// process list (README "Importing hardware tokens").
func fromEnv(name string) bool { return name == "pskc-key" }

// fileLine is a setting of a config file: its name, value and line.
type fileLine struct {
	name, v string
	line    int
}

// readFile returns the settings of the config file path in their order;
// the error names each line that is no setting, and the lines after it are
// read all the same.
func readFile(path string) ([]fileLine, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("config file: %w", err)
	}
	defer f.Close()
	var out []fileLine
	var errs []error
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("config file %s line %d: want name = value", path, n))
			continue
		}
		out = append(out, fileLine{name: strings.TrimSpace(k), v: unquote(strings.TrimSpace(v)), line: n})
	}
	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("config file %s: %w", path, err))
	}
	return out, errors.Join(errs...)
}

// unquote returns v without the pair of double quotes around it, when it
// starts and ends with one (`"a b"` is a b; `""` is empty); any other quote
// is part of the value: `pw"` stays pw", `"a"b"` is a"b. So a value that
// itself starts and ends with a quote (a password, say) is written with
// one more pair around it.
func unquote(v string) string {
	if len(v) >= 2 && v[0] == '"' && v[len(v)-1] == '"' {
		return v[1 : len(v)-1]
	}
	return v
}

// MaxIssuerLen is the longest issuer name, in bytes.
const MaxIssuerLen = 64

// Validate reports every problem with c.
func (c Config) Validate() error { return c.ValidateFrom(nil) }

// ValidateFrom reports every problem with c, each naming where the
// settings at fault came from (Parse's Sources): "(from TWOFOLD_DB)". A
// setting left at its default names nothing.
func (c Config) ValidateFrom(from Sources) error {
	var errs []error
	add := func(err error, names ...string) { errs = append(errs, from.name(err, names...)) }
	if err := checkHostPort(c.Listen); err != nil {
		add(fmt.Errorf("listen %q: %w", c.Listen, err), "listen")
	}
	if err := checkDB(c.DB); err != nil {
		add(err, "db")
	}
	if c.KeyFile == "" {
		add(errors.New("key-file is empty: name the master key file (default twofold.key), or leave the setting out"), "key-file")
	}
	if strings.TrimSpace(c.Issuer) == "" {
		add(errors.New("issuer is empty: authenticator apps and security keys show it; name the service (default Twofold), or leave the setting out"), "issuer")
	} else if strings.ContainsRune(c.Issuer, ':') {
		// Key Uri Format: the label is ISSUER:ACCOUNT and apps split it at
		// the first colon, so an issuer with one is shown cut in two.
		add(fmt.Errorf("issuer %q contains a colon: otpauth:// labels are issuer:account and authenticator apps split them at the first colon; leave it out (\"Acme Cloud\", not \"Acme: Cloud\")", c.Issuer), "issuer")
	} else if strings.IndexFunc(c.Issuer, unicode.IsControl) >= 0 {
		add(errors.New("issuer contains a control character (a line break, a tab…): it is shown in apps and mail subjects; write it on one line"), "issuer")
	} else if len(c.Issuer) > MaxIssuerLen {
		// A security key keeps 64 bytes of the name (CTAP2 truncates
		// rp.name), and every mail subject begins with it.
		add(fmt.Errorf("issuer is %d bytes long: security keys keep only the first %d of it, and it begins every mail subject; give a shorter name", len(c.Issuer), MaxIssuerLen), "issuer")
	}
	if c.BaseURL != "" {
		if _, err := c.PublicURL(); err != nil {
			add(err, "base-url")
		}
	}
	for _, p := range c.TrustedProxies {
		pfx, err := netip.ParsePrefix(p)
		switch {
		case err != nil:
			add(fmt.Errorf("trusted-proxy %q: want a CIDR such as 10.0.0.0/8", p), "trusted-proxy")
		case pfx.Addr().Is4In6():
			// Peers' IPv4 addresses are compared unmapped, so such a
			// prefix would match no proxy, silently.
			add(fmt.Errorf("trusted-proxy %q: an IPv4-mapped IPv6 prefix matches no proxy, since IPv4 peers are compared as IPv4; write it as IPv4, such as 10.0.0.0/8", p), "trusted-proxy")
		}
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		add(fmt.Errorf("log-level %q: want debug, info, warn or error", c.LogLevel), "log-level")
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		add(fmt.Errorf("log-format %q: want text or json", c.LogFormat), "log-format")
	}
	if c.Argon2Memory < 8*1024 || c.Argon2Memory > 4*1024*1024 {
		add(fmt.Errorf("argon2-memory %d: want 8192..4194304 KiB", c.Argon2Memory), "argon2-memory")
	}
	if c.Argon2Time < 1 || c.Argon2Time > 100 {
		add(fmt.Errorf("argon2-iterations %d: want 1..100", c.Argon2Time), "argon2-iterations")
	}
	if c.Argon2Threads < 1 || c.Argon2Threads > 255 {
		add(fmt.Errorf("argon2-parallelism %d: want 1..255", c.Argon2Threads), "argon2-parallelism")
	}
	if c.LoginBurst < 1 || !(c.LoginRate >= 0) || math.IsInf(c.LoginRate, 0) { // !(>=) refuses NaN
		add(fmt.Errorf("login-burst %d / login-rate %g: want a burst of at least 1 and a rate of at least 0", c.LoginBurst, c.LoginRate), "login-burst", "login-rate")
	}
	if c.ResetDelay < 0 {
		add(fmt.Errorf("reset-delay %s: want 0 or more", c.ResetDelay), "reset-delay")
	}
	if c.MaxConnsPerAddress < 0 {
		add(fmt.Errorf("max-conns-per-address %d: want 0 (no limit) or more, such as 256", c.MaxConnsPerAddress), "max-conns-per-address")
	}
	if c.ShutdownTimeout <= 0 {
		add(fmt.Errorf("shutdown-timeout %s: want more than 0, such as 15s (how long requests in flight are waited for)", c.ShutdownTimeout), "shutdown-timeout")
	}
	if c.SessionTTL < time.Minute {
		add(fmt.Errorf("session-ttl %s: want at least 1m", c.SessionTTL), "session-ttl")
	}
	if c.MetricsAddr != "" {
		if err := checkHostPort(c.MetricsAddr); err != nil {
			add(fmt.Errorf("metrics-addr %q: %w", c.MetricsAddr, err), "metrics-addr")
		}
	}
	if c.DNSAddr != "" {
		if err := checkHostPort(c.DNSAddr); err != nil {
			add(fmt.Errorf("dns-addr %q: %w", c.DNSAddr, err), "dns-addr")
		}
	}
	if len(c.DNSNameservers) == 0 {
		add(errors.New("dns-nameservers: want at least one name server"), "dns-nameservers")
	}
	for _, ns := range c.DNSNameservers {
		if !isHostName(strings.TrimSuffix(ns, ".")) {
			add(fmt.Errorf("dns-nameservers: %q is not a host name", ns), "dns-nameservers")
		}
	}
	if c.DNSHostmaster != "" {
		local, domain, ok := strings.Cut(c.DNSHostmaster, "@")
		if !ok || local == "" || strings.ContainsAny(local, ". \\") || !isHostName(domain) {
			add(fmt.Errorf("dns-hostmaster %q: want an address such as hostmaster@example.net, without dots before the @", c.DNSHostmaster), "dns-hostmaster")
		}
	}
	if c.SMTPAddr != "" {
		if err := checkHostPort(c.SMTPAddr); err != nil {
			add(fmt.Errorf("smtp-addr %q: %w", c.SMTPAddr, err), "smtp-addr")
		}
		if _, err := mail.ParseAddress(c.SMTPFrom); err != nil {
			add(fmt.Errorf("smtp-from %q: want an address such as 'Twofold <twofold@example.com>'", c.SMTPFrom), "smtp-from")
		}
	} else if c.SMTPUsername != "" || c.SMTPPassword != "" {
		add(errors.New("smtp-username and smtp-password need smtp-addr"), "smtp-username", "smtp-password")
	}
	if (c.SMTPUsername == "") != (c.SMTPPassword == "") {
		add(errors.New("smtp-username and smtp-password go together"), "smtp-username", "smtp-password")
	}
	if host, _, err := net.SplitHostPort(c.SMTPAddr); err == nil && c.SMTPUsername != "" && !c.SMTPTLS && !c.SMTPStartTLS && !smtpLocalhost(host) {
		add(fmt.Errorf("smtp-username: AUTH sends the password, never in the clear to %s: keep smtp-starttls on, set smtp-tls, or use a mail server on localhost", host), "smtp-username", "smtp-addr", "smtp-starttls", "smtp-tls")
	}
	if _, err := sms.ParseCountries(c.SMSCountries); err != nil {
		add(fmt.Errorf("sms-countries %q: %w", c.SMSCountries, err), "sms-countries")
	}
	if c.SMSURL != "" {
		u, err := url.Parse(c.SMSURL)
		switch {
		case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
			add(fmt.Errorf("sms-url %q: want a base URL such as https://api.twilio.com", c.SMSURL), "sms-url")
		case u.Scheme == "http" && !loopbackHost(u.Hostname()):
			add(fmt.Errorf("sms-url %q: the token would cross the network in the clear; use https", c.SMSURL), "sms-url")
		}
		if c.SMSAccount == "" || c.SMSToken == "" || c.SMSFrom == "" {
			add(errors.New("sms-url needs sms-account, sms-token and sms-from"), "sms-url", "sms-account", "sms-token", "sms-from")
		}
		if c.SMSLogCodes {
			add(errors.New("sms-log-codes applies only without sms-url"), "sms-log-codes", "sms-url")
		}
	} else if c.SMSAccount != "" || c.SMSToken != "" {
		add(errors.New("sms-account and sms-token need sms-url"), "sms-account", "sms-token")
	}
	if c.WebAuthnRPID != "" || len(c.WebAuthnOrigins) > 0 {
		if _, err := c.WebAuthn(c.Listen); err != nil {
			add(err, "webauthn-rp-id", "webauthn-origins", "base-url", "listen")
		}
	}
	return errors.Join(errs...)
}

// name returns err with where the settings names came from, those not
// at their default: "(from TWOFOLD_DB)" for one, "(listen from flag
// --listen, db from TWOFOLD_DB)" for several.
func (from Sources) name(err error, names ...string) error {
	var fs []string
	var only string
	for _, n := range names {
		if f, ok := from[n]; ok {
			fs = append(fs, n+" from "+f)
			only = f
		}
	}
	switch len(fs) {
	case 0:
		return err
	case 1:
		if len(names) == 1 {
			return fmt.Errorf("%w (from %s)", err, only)
		}
	}
	return fmt.Errorf("%w (%s)", err, strings.Join(fs, ", "))
}

// WebAuthn returns the relying party of security keys for a server
// listening on listenAddr: --webauthn-rp-id and --webauthn-origins when
// given; else the origin of --base-url, and its host as the RP ID; else,
// for a server reached as localhost (LocalhostAddr), http://localhost with its port (browsers allow
// WebAuthn there without TLS, never on an IP address). The error says
// what to set when none can be found.
func (c Config) WebAuthn(listenAddr string) (securitykey.Config, error) {
	rp := securitykey.Config{RPID: c.WebAuthnRPID, RPName: c.Issuer, Origins: c.WebAuthnOrigins}
	if len(rp.Origins) == 0 {
		switch {
		case c.BaseURL != "":
			u, err := url.Parse(c.BaseURL)
			if err != nil || u.Host == "" {
				return rp, fmt.Errorf("webauthn: base-url %q is no URL: set --webauthn-origins", c.BaseURL)
			}
			rp.Origins = []string{u.Scheme + "://" + u.Host}
		default:
			host, port, err := net.SplitHostPort(listenAddr)
			if err != nil {
				return rp, fmt.Errorf("webauthn: listen %q: want host:port", listenAddr)
			}
			if !LocalhostAddr(host) {
				return rp, fmt.Errorf("webauthn: a server on %s has no origin browsers accept for security keys: set --base-url (or --webauthn-rp-id and --webauthn-origins)", listenAddr)
			}
			rp.Origins = []string{"http://localhost:" + port}
		}
	}
	if rp.RPID == "" {
		if u, err := url.Parse(rp.Origins[0]); err == nil {
			rp.RPID = u.Hostname()
		}
	}
	if err := rp.Validate(); err != nil {
		return rp, fmt.Errorf("webauthn (webauthn-rp-id, webauthn-origins, base-url): %w", err)
	}
	return rp, nil
}

// checkHostPort reports what is wrong with the address addr, host:port:
// no port, or a port number above 65535 (a service name, "smtp", is let
// be).
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("want host:port")
	}
	if n, err := strconv.ParseUint(port, 10, 64); err == nil && n > 65535 || err != nil && errors.Is(err, strconv.ErrRange) {
		return fmt.Errorf("port %s: want host:port, the port 0..65535", port)
	}
	return nil
}

// checkDB reports what is wrong with the database setting dsn. It never
// quotes dsn, which may hold a password (postgres://u:PASSWORD@host/db).
func checkDB(dsn string) error {
	const want = "want sqlite:PATH or postgres://…"
	scheme, rest, _ := strings.Cut(dsn, ":")
	switch {
	case dsn == "":
		return errors.New("db is empty: " + want + ", or leave the setting out for sqlite:twofold.db")
	case scheme == "postgres" || scheme == "postgresql":
		if !strings.HasPrefix(rest, "//") {
			return errors.New("db: a PostgreSQL database is a URL starting postgres://")
		}
	case scheme == "sqlite":
		if rest == "" {
			return errors.New("db: sqlite: names no file: want sqlite:PATH")
		}
	case isScheme(scheme):
		return fmt.Errorf("db: the scheme %q is neither sqlite nor postgres: %s", scheme, want)
	default:
		return errors.New("db: not a URL (a key=value connection string is not accepted): " + want)
	}
	return nil
}

// isScheme reports whether s is a URL scheme (RFC 3986 §3.1) of the
// length of one worth naming.
func isScheme(s string) bool {
	if s == "" || len(s) > 16 || !(s[0] >= 'a' && s[0] <= 'z' || s[0] >= 'A' && s[0] <= 'Z') {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// PublicURL returns --base-url parsed: http or https (in any case; the
// returned scheme is lower case), a host, and neither user information, a
// path, a query nor a fragment. The pages and the API are served at the
// root of the host and link to root-absolute paths ("/login"), so a base
// URL with a path would be accepted and not honoured. The error says what
// is wrong.
func (c Config) PublicURL() (*url.URL, error) {
	const want = "want the server's public URL, such as https://login.example.com"
	u, err := url.Parse(c.BaseURL)
	switch {
	case err != nil:
		return nil, fmt.Errorf("base-url: not a URL: %s", want)
	case u.User != nil: // not quoted: it may hold a password
		return nil, fmt.Errorf("base-url: user information (user@host) has no place in it: %s", want)
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("base-url %q: the scheme must be https (or http): %s", c.BaseURL, want)
	case u.Opaque != "" || u.Host == "" || u.Hostname() == "":
		return nil, fmt.Errorf("base-url %q: no host: %s", c.BaseURL, want)
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || strings.Contains(c.BaseURL, "#"):
		return nil, fmt.Errorf("base-url %q: a query or fragment has no place in it: %s", c.BaseURL, want)
	case u.Path != "" && u.Path != "/":
		return nil, fmt.Errorf("base-url %q: a path is not supported: Twofold serves its pages and API at the root of a host, so give it a host (or port) of its own, such as https://login.example.com, and have the proxy forward it there without a prefix", c.BaseURL)
	}
	return u, nil
}

// smtpLocalhost reports whether net/smtp performs AUTH PLAIN without TLS to
// host: only to these names (net/smtp's isLocalhost).
func smtpLocalhost(host string) bool {
	return host == "localhost" || host == "127.0.0.1" || host == "::1"
}

// SMTPOnThisMachine reports whether the mail server at addr (host:port) is
// one the message reaches without leaving this machine, and to which
// net/smtp sends AUTH without TLS: localhost, 127.0.0.1 or ::1. Such a
// relay is spoken to without STARTTLS (README "Configuration").
func SMTPOnThisMachine(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && smtpLocalhost(host)
}

// LocalhostAddr reports whether a server listening on host (a name or an
// IP address, as bound) is reached from this machine's browsers as
// localhost: localhost itself, 127.0.0.1 and ::1, and every address (0.0.0.0,
// ::), which takes those too. Another loopback address (127.0.0.2) is not:
// localhost leads elsewhere, so its pages are opened under that address.
func LocalhostAddr(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return false
	}
	a = a.Unmap()
	return a == netip.AddrFrom4([4]byte{127, 0, 0, 1}) || a == netip.IPv6Loopback() || a.IsUnspecified()
}

// loopbackHost reports whether host names this machine.
func loopbackHost(host string) bool {
	if host == "localhost" {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// isHostName reports whether s is a host name: labels of letters, digits
// and inner hyphens (RFC 1123 §2.1).
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for _, l := range strings.Split(s, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, c := range l {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
				return false
			}
		}
	}
	return true
}
