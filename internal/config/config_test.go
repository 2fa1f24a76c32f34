package config

import (
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.Register(fs)
	err := Parse(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	return c, err
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "twofold.conf")
	os.WriteFile(file, []byte("# comment\nlisten = 127.0.0.1:9001\ndb = sqlite:file.db\nissuer = \"From File\"\ntrusted-proxy = 10.0.0.0/8\n"), 0o600)
	for _, tc := range []struct {
		name                      string
		args                      []string
		env                       map[string]string
		wantListen, wantDB, wantI string
	}{
		{"defaults", nil, nil, "127.0.0.1:8080", "sqlite:twofold.db", "Twofold"},
		{"file", []string{"--config", file}, nil, "127.0.0.1:9001", "sqlite:file.db", "From File"},
		{"env over file", []string{"--config", file}, map[string]string{"TWOFOLD_LISTEN": "127.0.0.1:9002"}, "127.0.0.1:9002", "sqlite:file.db", "From File"},
		{"flag over env", []string{"--config", file, "--listen", "127.0.0.1:9003"}, map[string]string{"TWOFOLD_LISTEN": "127.0.0.1:9002"}, "127.0.0.1:9003", "sqlite:file.db", "From File"},
		{"config from env", nil, map[string]string{"TWOFOLD_CONFIG": file, "TWOFOLD_DB": "postgres://x/y"}, "127.0.0.1:9001", "postgres://x/y", "From File"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.Listen != tc.wantListen || c.DB != tc.wantDB || c.Issuer != tc.wantI {
				t.Fatalf("got %q %q %q, want %q %q %q", c.Listen, c.DB, c.Issuer, tc.wantListen, tc.wantDB, tc.wantI)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestTrustedProxiesRepeatable(t *testing.T) {
	c, err := parse(t, []string{"--trusted-proxy", "127.0.0.1/32", "--trusted-proxy", "10.0.0.0/8"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(c.TrustedProxies, " "); got != "127.0.0.1/32 10.0.0.0/8" {
		t.Fatalf("got %q", got)
	}
	c, _ = parse(t, nil, map[string]string{"TWOFOLD_TRUSTED_PROXIES": "192.168.0.0/16, ::1/128"})
	if got := strings.Join(c.TrustedProxies, " "); got != "192.168.0.0/16 ::1/128" {
		t.Fatalf("got %q from env", got)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	c := Default()
	c.Listen, c.DB, c.LogLevel, c.Argon2Memory, c.TrustedProxies = "nope", "mysql://x", "loud", 1, []string{"1.2.3.4"}
	err := c.Validate()
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	for _, want := range []string{"listen", "db", "log-level", "argon2-memory", "trusted-proxy"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s", want)
		}
	}
}

// TestValidateRefusesSilentSettings: settings that would quietly do
// something other than asked are refused, naming the setting: an
// IPv4-mapped trusted proxy (which matches no IPv4 peer) and a login rate
// that is no finite number (NaN turns the bucket off on one store and
// locks everyone out on the other).
func TestValidateRefusesSilentSettings(t *testing.T) {
	for _, tc := range []struct {
		name, setting string
		set           func(c *Config)
	}{
		{"mapped proxy", "trusted-proxy", func(c *Config) { c.TrustedProxies = []string{"::ffff:10.0.0.0/104"} }},
		{"NaN rate", "login-rate", func(c *Config) { c.LoginRate = math.NaN() }},
		{"infinite rate", "login-rate", func(c *Config) { c.LoginRate = math.Inf(1) }},
		{"negative rate", "login-rate", func(c *Config) { c.LoginRate = -1 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			tc.set(&c)
			if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.setting) {
				t.Errorf("Validate: %v, want a refusal naming %s", err, tc.setting)
			}
		})
	}
	c := Default()
	c.TrustedProxies, c.LoginRate = []string{"10.0.0.0/8", "::1/128", "2001:db8::/32"}, 0
	if err := c.Validate(); err != nil {
		t.Errorf("plain prefixes and a rate of 0: %v", err)
	}
	if c, err := parse(t, []string{"--login-rate", "NaN"}, nil); err != nil {
		t.Fatal(err)
	} else if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "login-rate") {
		t.Errorf("--login-rate NaN: %v, want a refusal", err)
	}
}

// TestIssuer: an issuer with a colon is refused (Key Uri Format: apps split
// the otpauth:// label issuer:account at its first colon), as is one with a
// control character or of more than 64 bytes; from the flag, the
// environment and the file alike.
func TestIssuer(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("issuer = Acme: Cloud\n"), 0o600)
	for _, tc := range []struct {
		name   string
		args   []string
		env    map[string]string
		refuse bool
	}{
		{"default", nil, nil, false},
		{"spaces, ampersand, accents", []string{"--issuer", "Société Acme & Co."}, nil, false},
		{"colon flag", []string{"--issuer", "Acme: Cloud & Co"}, nil, true},
		{"colon env", nil, map[string]string{"TWOFOLD_ISSUER": "Acme:Cloud"}, true},
		{"colon file", []string{"--config", file}, nil, true},
		{"full-width colon is not a colon", []string{"--issuer", "Acme\uff1a Cloud"}, nil, false},
		{"line break", []string{"--issuer", "Acme\nBcc: x@example.com"}, nil, true},
		{"64 bytes", []string{"--issuer", strings.Repeat("é", 32)}, nil, false},
		{"65 bytes", []string{"--issuer", strings.Repeat("é", 32) + "a"}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			err = c.Validate()
			if refused := err != nil && strings.Contains(err.Error(), "issuer"); refused != tc.refuse {
				t.Errorf("issuer %q: got %v, want refused %v", c.Issuer, err, tc.refuse)
			}
		})
	}
}

func TestUnknownFileSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("lisen = x\n"), 0o600)
	if _, err := parse(t, []string{"--config", file}, nil); err == nil {
		t.Fatal("unknown setting accepted")
	}
}

// TestRegisterOnly: a command that reads only some settings takes them
// from its flags, the environment and the config file as serve does; the
// others are let be in the environment and the file (shared with serve),
// even with values serve would refuse, and refused on its command line.
func TestRegisterOnly(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("db = sqlite:file.db\nlisten = nowhere\nargon2-memory = 1\n"), 0o600)
	env := map[string]string{"TWOFOLD_KEY_FILE": "env.key", "TWOFOLD_LOG_LEVEL": "loud"}
	parse := func(args ...string) (Config, *flag.FlagSet, error) {
		c := Default()
		fs := flag.NewFlagSet("user operator", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		c.RegisterOnly(fs, "db", "key-file", "issuer")
		err := Parse(fs, args, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		return c, fs, err
	}
	c, fs, err := parse("--config", file, "--issuer", "Acme")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	d := Default()
	if c.DB != "sqlite:file.db" || c.KeyFile != "env.key" || c.Issuer != "Acme" || c.Listen != d.Listen || c.Argon2Memory != d.Argon2Memory || c.LogLevel != d.LogLevel {
		t.Errorf("got db %q, key-file %q, issuer %q, listen %q, argon2-memory %d, log-level %q; want sqlite:file.db, env.key, Acme and the defaults",
			c.DB, c.KeyFile, c.Issuer, c.Listen, c.Argon2Memory, c.LogLevel)
	}
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	if want := []string{"config", "db", "issuer", "key-file"}; !slices.Equal(names, want) {
		t.Errorf("flags: got %v, want %v", names, want)
	}
	if _, _, err := parse("--listen", "127.0.0.1:9000"); err == nil || !strings.Contains(err.Error(), "--listen") {
		t.Errorf("--listen on the command line: got %v, want it refused, named", err)
	}
}

// TestSecretSetting: the SMTP password follows the same precedence as every
// setting, and never prints: not with %v, not in the flag's default text,
// not in a structured log.
func TestSecretSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "twofold.conf")
	os.WriteFile(file, []byte("smtp-password = from-file\n"), 0o600)
	for name, tc := range map[string]struct {
		args []string
		env  map[string]string
		want Secret
	}{
		"file":          {[]string{"--config", file}, nil, "from-file"},
		"env over file": {[]string{"--config", file}, map[string]string{"TWOFOLD_SMTP_PASSWORD": "from-env"}, "from-env"},
		"flag over env": {[]string{"--config", file, "--smtp-password", "from-flag"}, map[string]string{"TWOFOLD_SMTP_PASSWORD": "from-env"}, "from-flag"},
	} {
		t.Run(name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.SMTPPassword != tc.want {
				t.Fatalf("got %q, want %q", string(c.SMTPPassword), string(tc.want))
			}
			var log strings.Builder
			slog.New(slog.NewTextHandler(&log, nil)).Info("config", "smtp_password", c.SMTPPassword, "config", c)
			for _, printed := range []string{fmt.Sprint(c.SMTPPassword), fmt.Sprintf("%v", c), log.String()} {
				if strings.Contains(printed, string(tc.want)) {
					t.Errorf("the password shows in %q", printed)
				}
			}
		})
	}
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	c := Default()
	c.SMTPPassword = "preset"
	c.Register(fs)
	if def := fs.Lookup("smtp-password").DefValue; strings.Contains(def, "preset") {
		t.Errorf("the flag's default text shows the password: %q", def)
	}
}

func TestDNSSettings(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		wantNS  string
		wantErr string // a setting the error names; "" for none
	}{
		{"defaults", nil, nil, "localhost", ""},
		{"flags", []string{"--dns-addr", "127.0.0.1:5353", "--dns-nameservers", "ns1.example.net,ns2.example.net.", "--dns-hostmaster", "hostmaster@example.net"}, nil,
			"ns1.example.net ns2.example.net.", ""},
		{"env", nil, map[string]string{"TWOFOLD_DNS_ADDR": "127.0.0.1:5353", "TWOFOLD_DNS_NAMESERVERS": "a.example.net"}, "a.example.net", ""},
		{"bad addr", []string{"--dns-addr", "5353"}, nil, "localhost", "dns-addr"},
		{"bad name server", []string{"--dns-nameservers", "ns_1.example.net"}, nil, "ns_1.example.net", "dns-nameservers"},
		{"no name server", []string{"--dns-nameservers", ","}, nil, "", "dns-nameservers"},
		{"hostmaster without @", []string{"--dns-hostmaster", "hostmaster.example.net"}, nil, "localhost", "dns-hostmaster"},
		{"hostmaster with a dot", []string{"--dns-hostmaster", "host.master@example.net"}, nil, "localhost", "dns-hostmaster"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.DNSNameservers, " "); got != tt.wantNS {
				t.Errorf("got name servers %q, want %q", got, tt.wantNS)
			}
			err = c.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate: got %v, want an error naming %s", err, tt.wantErr)
			}
		})
	}
}

// TestMetricsAddr: --metrics-addr comes from its flag, TWOFOLD_METRICS_ADDR
// or the config file, in that order, is none by default, and must be a
// host:port.
func TestMetricsAddr(t *testing.T) {
	file := filepath.Join(t.TempDir(), "twofold.conf")
	if err := os.WriteFile(file, []byte("metrics-addr = 127.0.0.1:9102\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		want    string
		wantErr bool // Validate names metrics-addr
	}{
		{"default", nil, nil, "", false},
		{"flag", []string{"--metrics-addr", "127.0.0.1:9100"}, nil, "127.0.0.1:9100", false},
		{"env", nil, map[string]string{"TWOFOLD_METRICS_ADDR": "[::1]:9101"}, "[::1]:9101", false},
		{"file", []string{"--config", file}, nil, "127.0.0.1:9102", false},
		{"flag over env and file", []string{"--config", file, "--metrics-addr", ":9100"}, map[string]string{"TWOFOLD_METRICS_ADDR": "[::1]:9101"}, ":9100", false},
		{"env over file", []string{"--config", file}, map[string]string{"TWOFOLD_METRICS_ADDR": "[::1]:9101"}, "[::1]:9101", false},
		{"no port", []string{"--metrics-addr", "9100"}, nil, "9100", true},
		{"port too big", []string{"--metrics-addr", "127.0.0.1:99999"}, nil, "127.0.0.1:99999", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := parse(t, tt.args, tt.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.MetricsAddr != tt.want {
				t.Errorf("got metrics-addr %q, want %q", c.MetricsAddr, tt.want)
			}
			err = c.Validate()
			switch {
			case !tt.wantErr && err != nil:
				t.Errorf("Validate: %v", err)
			case tt.wantErr && (err == nil || !strings.Contains(err.Error(), "metrics-addr")):
				t.Errorf("Validate: got %v, want an error naming metrics-addr", err)
			}
		})
	}
}

// TestEmptyValueIsAValue: a config file line or an environment variable
// set with an empty value gives the setting that value, never its default,
// so that "db =" cannot start a server on a new ./twofold.db; Validate
// then refuses an empty db or key-file.
func TestEmptyValueIsAValue(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty.conf")
	os.WriteFile(empty, []byte("db =\nkey-file = \"\"\n"), 0o600)
	full := filepath.Join(dir, "full.conf")
	os.WriteFile(full, []byte("db = sqlite:file.db\nkey-file = file.key\n"), 0o600)
	for _, tc := range []struct {
		name       string
		args       []string
		env        map[string]string
		wantParse  string // a setting Parse's error names; "" for none
		wantDB     string
		wantKey    string
		wantRefuse []string // settings Validate's error names
	}{
		{"file", []string{"--config", empty}, nil, "", "", "", []string{"db", "key-file"}},
		{"env", nil, map[string]string{"TWOFOLD_DB": "", "TWOFOLD_KEY_FILE": ""}, "", "", "", []string{"db", "key-file"}},
		{"empty env over file", []string{"--config", full}, map[string]string{"TWOFOLD_DB": ""}, "", "", "file.key", []string{"db"}},
		{"empty bool", nil, map[string]string{"TWOFOLD_SMTP_STARTTLS": ""}, "smtp-starttls", "sqlite:twofold.db", "twofold.key", nil},
		{"empty duration", []string{"--config", empty}, map[string]string{"TWOFOLD_SESSION_TTL": ""}, "session-ttl", "", "", nil},
		{"empty issuer", nil, map[string]string{"TWOFOLD_ISSUER": " "}, "", "sqlite:twofold.db", "twofold.key", []string{"issuer"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if tc.wantParse != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantParse) {
					t.Fatalf("Parse: got %v, want an error naming %s", err, tc.wantParse)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.DB != tc.wantDB || c.KeyFile != tc.wantKey {
				t.Fatalf("got db %q key-file %q, want %q %q", c.DB, c.KeyFile, tc.wantDB, tc.wantKey)
			}
			err = c.Validate()
			for _, want := range tc.wantRefuse {
				if err == nil || !strings.Contains(err.Error(), want+" is empty") {
					t.Errorf("Validate: got %v, want an error saying %s is empty", err, want)
				}
			}
		})
	}
}

// TestSubcommandFlagsOnlyFromCommandLine: the environment and the config
// file give server settings only; a subcommand's switches (twofold user add
// --operator, --force, …) come from its command line, so that a stray
// TWOFOLD_OPERATOR=true makes nobody an operator. TWOFOLD_PSKC_KEY is the
// one documented exception.
func TestSubcommandFlagsOnlyFromCommandLine(t *testing.T) {
	newFlags := func() (*flag.FlagSet, *bool, *string) {
		c := Default()
		fs := flag.NewFlagSet("t", flag.ContinueOnError)
		fs.SetOutput(new(strings.Builder))
		c.Register(fs)
		return fs, fs.Bool("operator", false, ""), fs.String("pskc-key", "", "")
	}
	env := map[string]string{"TWOFOLD_OPERATOR": "true", "TWOFOLD_PSKC_KEY": "00ff"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	fs, operator, key := newFlags()
	if err := Parse(fs, nil, lookup); err != nil {
		t.Fatal(err)
	}
	if *operator || *key != "00ff" {
		t.Errorf("got operator %v and pskc-key %q, want false (only from the command line) and 00ff (from TWOFOLD_PSKC_KEY)", *operator, *key)
	}
	fs, operator, _ = newFlags()
	if err := Parse(fs, []string{"--operator"}, lookup); err != nil || !*operator {
		t.Errorf("--operator on the command line: got %v, %v", *operator, err)
	}
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("operator = true\n"), 0o600)
	fs, operator, _ = newFlags()
	if err := Parse(fs, []string{"--config", file}, lookup); err == nil || *operator {
		t.Errorf("operator in the config file: got operator %v, error %v; want it refused as no setting", *operator, err)
	}
}

// TestBaseURL: --base-url must be an http or https URL with a host and no
// user information, path, query or fragment; the scheme may be in any case,
// and PublicURL gives it in lower case.
func TestBaseURL(t *testing.T) {
	for _, tc := range []struct {
		url        string
		wantScheme string // "" when refused
	}{
		{"https://login.example.com", "https"},
		{"HTTPS://login.example.com/", "https"},
		{"Http://127.0.0.1:8080", "http"},
		{"https://example.com/twofold", ""},
		{"https://example.com/twofold/", ""},
		{"https://example.com//", ""},
		{"login.example.com", ""},
		{"//login.example.com", ""},
		{"ftp://login.example.com", ""},
		{"https://", ""},
		{"https:login.example.com", ""},
		{"https://:8443", ""},
		{"https://login.example.com/?next=x", ""},
		{"https://login.example.com/?", ""},
		{"https://login.example.com/#top", ""},
		{"https://admin:hunter2@login.example.com", ""},
	} {
		t.Run(tc.url, func(t *testing.T) {
			c := Default()
			c.BaseURL = tc.url
			err := c.Validate()
			u, perr := c.PublicURL()
			if tc.wantScheme == "" {
				if err == nil || perr == nil || !strings.Contains(err.Error(), "base-url") {
					t.Fatalf("Validate: got %v, want an error naming base-url", err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the password: %v", err)
				}
				return
			}
			if err != nil || perr != nil {
				t.Fatalf("Validate: %v; PublicURL: %v", err, perr)
			}
			if u.Scheme != tc.wantScheme {
				t.Errorf("got scheme %q, want %q", u.Scheme, tc.wantScheme)
			}
		})
	}
}

// TestBaseURLSlash: a trailing "/" of --base-url, from the command line,
// the environment or a config file, is dropped, so that the links made from
// it ("/setup/…") have one slash; a path is refused, saying why.
func TestBaseURLSlash(t *testing.T) {
	file := filepath.Join(t.TempDir(), "twofold.conf")
	if err := os.WriteFile(file, []byte("base-url = https://file.example.com/\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		args []string
		env  map[string]string
		want string
	}{
		{"flag", []string{"--base-url", "https://login.example.com/"}, nil, "https://login.example.com"},
		{"flag without a slash", []string{"--base-url", "https://login.example.com:8443"}, nil, "https://login.example.com:8443"},
		{"environment", nil, map[string]string{"TWOFOLD_BASE_URL": "http://127.0.0.1:8080/"}, "http://127.0.0.1:8080"},
		{"config file", []string{"--config", file}, nil, "https://file.example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, tc.args, tc.env)
			if err != nil {
				t.Fatal(err)
			}
			if c.BaseURL != tc.want {
				t.Errorf("got BaseURL %q, want %q", c.BaseURL, tc.want)
			}
			if err := c.Validate(); err != nil {
				t.Errorf("Validate: %v", err)
			}
		})
	}
	c, err := parse(t, []string{"--base-url", "https://example.com/twofold/"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "a path is not supported") {
		t.Errorf("Validate with a path: got %v, want it refused as a path", err)
	}
}

// TestDBNeverQuoted: what is wrong with --db is said without quoting it,
// for it may carry the database's password.
func TestDBNeverQuoted(t *testing.T) {
	for _, dsn := range []string{"host=db user=twofold password=hunter2", "mysql://twofold:hunter2@db/twofold",
		"postgres:twofold:hunter2@db", "postgres:hunter2", "host=db password=a:hunter2"} {
		c := Default()
		c.DB = dsn
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), "db") {
			t.Errorf("%s: got %v, want an error naming db", dsn, err)
		} else if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("the error shows the password: %v", err)
		}
	}
	for _, dsn := range []string{"postgres://twofold:hunter2@db/twofold", "postgresql://db/twofold", "sqlite:/var/lib/twofold.db"} {
		c := Default()
		c.DB = dsn
		if err := c.Validate(); err != nil {
			t.Errorf("%s refused: %v", dsn, err)
		}
	}
}

// TestSMTPAuthNeedsTLS: a user name and password for the mail server are
// sent only over TLS or to localhost (as net/smtp insists), so Validate
// refuses them otherwise rather than let every mail fail.
func TestSMTPAuthNeedsTLS(t *testing.T) {
	for _, tc := range []struct {
		addr          string
		startTLS, tls bool
		ok            bool
	}{
		{"mail.example.com:587", true, false, true},
		{"mail.example.com:465", false, true, true},
		{"mail.example.com:25", false, false, false},
		{"192.0.2.2:25", false, false, false},
		{"127.0.0.2:25", false, false, false}, // loopback, but net/smtp will not send the password
		{"localhost:25", false, false, true},
		{"127.0.0.1:25", false, false, true},
		{"[::1]:25", false, false, true},
	} {
		c := Default()
		c.SMTPAddr, c.SMTPFrom, c.SMTPUsername, c.SMTPPassword = tc.addr, "Twofold <twofold@example.com>", "twofold", "secret"
		c.SMTPStartTLS, c.SMTPTLS = tc.startTLS, tc.tls
		err := c.Validate()
		if tc.ok && err != nil {
			t.Errorf("%s starttls=%v tls=%v: %v", tc.addr, tc.startTLS, tc.tls, err)
		}
		if !tc.ok && (err == nil || !strings.Contains(err.Error(), "smtp-username")) {
			t.Errorf("%s starttls=%v tls=%v: got %v, want an error naming smtp-username", tc.addr, tc.startTLS, tc.tls, err)
		}
		c.SMTPUsername, c.SMTPPassword = "", ""
		if err := c.Validate(); err != nil {
			t.Errorf("%s without a user name: %v", tc.addr, err)
		}
	}
}

// TestTrustedProxyEnv: --trusted-proxy comes from TWOFOLD_TRUSTED_PROXY, as
// the TWOFOLD_<NAME> rule says, and still from TWOFOLD_TRUSTED_PROXIES,
// the name of earlier releases; both set to different lists is refused.
func TestTrustedProxyEnv(t *testing.T) {
	for _, tc := range []struct {
		name   string
		env    map[string]string
		want   string
		refuse bool
	}{
		{"by the rule", map[string]string{"TWOFOLD_TRUSTED_PROXY": "10.0.0.0/8"}, "10.0.0.0/8", false},
		{"older name", map[string]string{"TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8,::1/128"}, "10.0.0.0/8 ::1/128", false},
		{"both alike", map[string]string{"TWOFOLD_TRUSTED_PROXY": "10.0.0.0/8", "TWOFOLD_TRUSTED_PROXIES": "10.0.0.0/8"}, "10.0.0.0/8", false},
		{"both different", map[string]string{"TWOFOLD_TRUSTED_PROXY": "10.0.0.0/8", "TWOFOLD_TRUSTED_PROXIES": "192.168.0.0/16"}, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse(t, nil, tc.env)
			if tc.refuse {
				if err == nil {
					t.Fatalf("got %v, no error; want both variables refused", c.TrustedProxies)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(c.TrustedProxies, " "); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
	c, err := parse(t, nil, map[string]string{"TWOFOLD_TRUSTED_PROXY": "garbage"})
	if err == nil {
		err = c.Validate()
	}
	if err == nil {
		t.Error("TWOFOLD_TRUSTED_PROXY=garbage: accepted")
	}
}

// TestCheckEnv: a TWOFOLD_ variable that is no setting is refused, with the
// name meant when one is close; so is the variable of a subcommand's
// switch. Settings, TWOFOLD_CONFIG, TWOFOLD_PSKC_KEY and the variables of
// Twofold's tests pass.
func TestCheckEnv(t *testing.T) {
	for _, tc := range []struct {
		name     string
		env      []string
		wantErr  bool
		wantNear string // the name suggested
	}{
		{"settings", []string{"TWOFOLD_LISTEN", "TWOFOLD_DB", "TWOFOLD_TRUSTED_PROXY", "TWOFOLD_TRUSTED_PROXIES", "TWOFOLD_SMTP_PASSWORD", "TWOFOLD_CONFIG", "TWOFOLD_PSKC_KEY", "TWOFOLD_SHUTDOWN_TIMEOUT"}, false, ""},
		{"other programs' and tests'", []string{"PATH", "HOME", "TWOFOLDX", "TWOFOLD_TEST_POSTGRES", "TWOFOLD_ARTIFACTS"}, false, ""},
		{"misspelt", []string{"TWOFOLD_LISEN"}, true, "TWOFOLD_LISTEN"},
		{"plural", []string{"TWOFOLD_WEBAUTHN_ORIGIN"}, true, "TWOFOLD_WEBAUTHN_ORIGINS"},
		{"longer", []string{"TWOFOLD_DB_URL"}, true, "TWOFOLD_DB"},
		{"nothing near", []string{"TWOFOLD_FROBNICATE_EVERYTHING"}, true, ""},
		{"a switch", []string{"TWOFOLD_OPERATOR"}, true, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := Default()
			fs := flag.NewFlagSet("t", flag.ContinueOnError)
			c.Register(fs)
			fs.Bool("operator", false, "")
			fs.String("pskc-key", "", "")
			err := CheckEnv(fs, tc.env)
			if (err != nil) != tc.wantErr {
				t.Fatalf("got %v, want an error %v", err, tc.wantErr)
			}
			if err == nil {
				return
			}
			if !strings.Contains(err.Error(), tc.env[0]) {
				t.Errorf("got %q, want it to name %s", err, tc.env[0])
			}
			if tc.wantNear != "" && !strings.Contains(err.Error(), "did you mean "+tc.wantNear+"?") {
				t.Errorf("got %q, want it to suggest %s", err, tc.wantNear)
			}
			if tc.wantNear == "" && strings.Contains(err.Error(), "did you mean") {
				t.Errorf("got %q, want no suggestion", err)
			}
		})
	}
}

// TestFileQuotes: a config file value loses one pair of double quotes
// around it, and no other quote.
func TestFileQuotes(t *testing.T) {
	for _, tc := range []struct{ line, want string }{
		{`smtp-password = plain`, `plain`},
		{`smtp-password = "a b"`, `a b`},
		{`smtp-password = pw"`, `pw"`},
		{`smtp-password = "pw`, `"pw`},
		{`smtp-password = "quoted"pw"`, `quoted"pw`},
		{`smtp-password = ""pw""`, `"pw"`},
		{`smtp-password = a"b`, `a"b`},
	} {
		file := filepath.Join(t.TempDir(), "c")
		os.WriteFile(file, []byte(tc.line+"\n"), 0o600)
		c, err := parse(t, []string{"--config", file}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if string(c.SMTPPassword) != tc.want {
			t.Errorf("%s: got %q, want %q", tc.line, string(c.SMTPPassword), tc.want)
		}
	}
}

// TestShutdownTimeout: a shutdown timeout of 0 or less is refused, as every
// other invalid value, rather than replaced by the default.
func TestShutdownTimeout(t *testing.T) {
	for _, v := range []string{"0s", "-5s"} {
		c, err := parse(t, []string{"--shutdown-timeout", v}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "shutdown-timeout") {
			t.Errorf("--shutdown-timeout %s: got %v, want it refused", v, err)
		}
	}
}

// TestBadValueSaysWhatIsWanted: a duration, switch or number from the
// environment or the file that does not parse is named with its variable
// and an example of a good value.
func TestBadValueSaysWhatIsWanted(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want []string
	}{
		{map[string]string{"TWOFOLD_SESSION_TTL": "12"}, []string{"TWOFOLD_SESSION_TTL", `"12"`, "12h"}},
		{map[string]string{"TWOFOLD_SMTP_STARTTLS": "yes please"}, []string{"TWOFOLD_SMTP_STARTTLS", "true or false"}},
		{map[string]string{"TWOFOLD_LOGIN_BURST": "many"}, []string{"TWOFOLD_LOGIN_BURST", "whole number"}},
	} {
		_, err := parse(t, nil, tc.env)
		for _, want := range tc.want {
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Errorf("%v: got %v, want it to say %s", tc.env, err, want)
			}
		}
	}
}

// TestEveryBadValueReported: a value that does not parse is reported, with
// its source and an example, whether it is a flag, a variable or a file
// line, and even when a higher source overrides it; one does not hide
// another, nor an unknown file setting or line the values after it; and a
// setting whose value did not parse keeps its default.
func TestEveryBadValueReported(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("bogus = 1\nargon2-memory = lots\nnot a setting\nsession-ttl = 12\n"), 0o600)
	c, err := parse(t, []string{"--config", file, "--argon2-memory=lots", "--shutdown-timeout=soon", "--smtp-tls=maybe"},
		map[string]string{"TWOFOLD_ARGON2_MEMORY": "x"})
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	for _, want := range []string{
		`argon2-memory (from flag --argon2-memory): "lots": want a whole number such as 30`,
		`shutdown-timeout (from flag --shutdown-timeout): "soon": want a duration such as 90s`,
		`smtp-tls (from flag --smtp-tls): "maybe": want true or false`,
		`argon2-memory (from TWOFOLD_ARGON2_MEMORY): "x"`,
		`argon2-memory (from config file ` + file + ` line 2): "lots"`,
		`config file ` + file + ` line 1: unknown setting "bogus"`,
		`config file ` + file + ` line 3: want name = value`,
		`session-ttl (from config file ` + file + ` line 4): "12"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("got %q, want it to say %s", err, want)
		}
	}
	if d := Default(); c.Argon2Memory != d.Argon2Memory || c.ShutdownTimeout != d.ShutdownTimeout || c.SessionTTL != d.SessionTTL {
		t.Errorf("got %d %s %s, want the defaults kept", c.Argon2Memory, c.ShutdownTimeout, c.SessionTTL)
	}
	if err := c.Validate(); err != nil {
		t.Errorf("Validate after values that did not parse: %v, want the defaults kept and nil", err)
	}
}

// TestValidateNamesSource: Validate's messages name where the setting at
// fault came from, a flag, a variable or a file line; a default names
// nothing.
func TestValidateNamesSource(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("db =\nissuer = \"A: b\"\nlisten = 127.0.0.1:99999\n"), 0o600)
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.Register(fs)
	env := map[string]string{"TWOFOLD_BASE_URL": "ftp://x"}
	from, err := ParseSources(fs, []string{"--config", file, "--log-level", "loud"}, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	c.Argon2Time = 0 // not given: a default, from nowhere
	err = c.ValidateFrom(from)
	if err == nil {
		t.Fatal("got nil, want errors")
	}
	lines := strings.Split(err.Error(), "\n")
	for _, want := range []struct{ start, from string }{
		{"db is empty", "(from config file " + file + " line 1)"},
		{`issuer "A: b"`, "(from config file " + file + " line 2)"},
		{`listen "127.0.0.1:99999"`, "(from config file " + file + " line 3)"},
		{`base-url "ftp://x"`, "(from TWOFOLD_BASE_URL)"},
		{`log-level "loud"`, "(from flag --log-level)"},
		{"argon2-iterations 0", ""},
	} {
		i := slices.IndexFunc(lines, func(l string) bool { return strings.HasPrefix(l, want.start) })
		switch {
		case i < 0:
			t.Errorf("got %q, want a line starting %s", err, want.start)
		case want.from == "" && strings.Contains(lines[i], "(from"):
			t.Errorf("got %q, want no source for a default", lines[i])
		case !strings.HasSuffix(lines[i], want.from):
			t.Errorf("got %q, want it to end %s", lines[i], want.from)
		}
	}
}

// TestFlagsFirst: flags (with their values) after a command's argument are
// moved before it; switches take no value; "--" ends the flags.
func TestFlagsFirst(t *testing.T) {
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.String("db", "", "")
	fs.Bool("fresh", false, "")
	for _, tc := range []struct {
		name       string
		args, want []string
	}{
		{"none", nil, nil},
		{"flags first already", []string{"--db", "x", "DEST"}, []string{"--db", "x", "DEST"}},
		{"flag after", []string{"DEST", "--db", "x"}, []string{"--db", "x", "DEST"}},
		{"flag=value after", []string{"DEST", "-db=x"}, []string{"-db=x", "DEST"}},
		{"switch after", []string{"DEST", "--fresh", "MORE"}, []string{"--fresh", "DEST", "MORE"}},
		{"stdin", []string{"-", "--fresh"}, []string{"--fresh", "-"}},
		{"double dash", []string{"A", "--fresh", "--", "--db"}, []string{"--fresh", "--", "A", "--db"}},
		{"unknown flag", []string{"A", "--nope", "B"}, []string{"--nope", "A", "B"}},
		{"value missing: as given", []string{"A", "--db"}, []string{"A", "--db"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := FlagsFirst(fs, tc.args); !slices.Equal(got, tc.want) {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
