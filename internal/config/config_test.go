package config

import (
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func parse(t *testing.T, args []string, env map[string]string) (Config, error) {
	t.Helper()
	c := Default()
	fs := flag.NewFlagSet("t", flag.ContinueOnError)
	fs.SetOutput(new(strings.Builder))
	c.Register(fs)
	err := Parse(fs, args, func(k string) string { return env[k] })
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

func TestUnknownFileSetting(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c")
	os.WriteFile(file, []byte("lisen = x\n"), 0o600)
	if _, err := parse(t, []string{"--config", file}, nil); err == nil {
		t.Fatal("unknown setting accepted")
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
