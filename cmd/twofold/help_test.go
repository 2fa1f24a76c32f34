package main

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/config"
)

// TestCommandHelp: each command of README "Commands" lists in its help
// (standard output, no failure) the options it reads and no other: its
// own, --config, and the server settings it uses; serve lists them all.
// An unknown flag, or a server setting the command does not read, exits 2
// naming it and pointing to the help, before anything is opened or made.
func TestCommandHelp(t *testing.T) {
	all := []string{"config"}
	c := config.Default()
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	c.Register(fs)
	fs.VisitAll(func(f *flag.Flag) { all = append(all, f.Name) })

	store := []string{"config", "db", "key-file"}
	tests := []struct {
		command []string
		want    []string // the options listed
		unread  string   // a server setting the command does not read ("": none)
	}{
		{[]string{"serve"}, all, ""},
		{[]string{"user", "add"}, append(store, "create", "email", "operator", "issuer", "password-blocklist", "argon2-memory", "argon2-iterations", "argon2-parallelism"), "listen"},
		{[]string{"user", "reset-two-factor"}, append(store, "now", "cancel", "issuer", "reset-delay"), "smtp-addr"},
		{[]string{"user", "operator"}, append(store, "remove", "issuer"), "argon2-memory"},
		{[]string{"code"}, []string{"algorithm", "digits", "period", "fresh"}, "db"},
		{[]string{"device", "enrol"}, []string{"state"}, "db"},
		{[]string{"device", "watch"}, []string{"state", "once", "server", "wait"}, "listen"},
		{[]string{"tokens", "import"}, append(store, "format", "pskc-key"), "issuer"},
		{[]string{"tokens", "list"}, append(store, "unclaimed"), "log-level"},
		{[]string{"keys", "rotate"}, append(store, "grace"), "webhook-allow-http"},
		{[]string{"dns", "add-zone"}, append(store, "owner"), "dns-nameservers"},
		{[]string{"dns", "remove-zone"}, store, "dns-addr"},
		{[]string{"dns", "zones"}, store, "smtp-tls"},
		{[]string{"backup"}, store, "shutdown-timeout"},
		{[]string{"restore"}, store, "reset-delay"},
	}
	option := regexp.MustCompile(`(?m)^  -([a-z0-9-]+)`)
	for _, tt := range tests {
		name := strings.Join(tt.command, " ")
		t.Run(name, func(t *testing.T) {
			tm := newTestMain(t, time.Now(), "")
			if err := tm.run(t, append(tt.command, "-h")...); err != nil {
				t.Fatalf("-h: got %v, want success", err)
			}
			help := tm.stdout.String()
			if !strings.HasPrefix(help, "usage: twofold "+name) {
				t.Errorf("-h: stdout starts %q, want the usage of twofold %s", help[:min(len(help), 60)], name)
			}
			var got []string
			for _, m := range option.FindAllStringSubmatch(help, -1) {
				got = append(got, m[1])
			}
			want := slices.Clone(tt.want)
			slices.Sort(got)
			slices.Sort(want)
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("options listed by %s -h (-want +got):\n%s", name, diff)
			}

			dir := t.TempDir()
			db := filepath.Join(dir, "t.db")
			mistakes := [][]string{{"--no-such-option"}}
			if tt.unread != "" {
				mistakes = append(mistakes, []string{"--" + tt.unread, "x"})
			}
			for _, flags := range mistakes {
				tm := newTestMain(t, time.Now(), "")
				args := append(slices.Clone(tt.command), flags...)
				if slices.Contains(tt.want, "db") {
					args = append(args, "--db", "sqlite:"+db, "--key-file", filepath.Join(dir, "t.key"))
				}
				err := tm.run(t, append(args, "someone")...)
				if err == nil || exitCode(err) != 2 {
					t.Errorf("%v: got %v, want exit status 2", args, err)
					continue
				}
				for _, want := range []string{strings.TrimPrefix(flags[0], "-"), `"twofold ` + name + ` -h"`} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("%v: got error %q, want it to name %s", args, err, want)
					}
				}
				if tm.stdout.String() != "" {
					t.Errorf("%v: stdout %q, want nothing (the help only when asked for)", args, tm.stdout.String())
				}
			}
			if entries, err := os.ReadDir(dir); err != nil || len(entries) > 0 {
				t.Errorf("a refused command line made files: %v %v", entries, err)
			}
		})
	}
}

// TestKeyFileHelp: only the commands that make a missing key file say so
// in the help of --key-file.
func TestKeyFileHelp(t *testing.T) {
	for _, tt := range []struct {
		command []string
		creates bool
	}{
		{[]string{"serve"}, true},
		{[]string{"user", "add"}, true},
		{[]string{"user", "operator"}, false},
		{[]string{"user", "reset-two-factor"}, false},
		{[]string{"keys", "rotate"}, false},
		{[]string{"tokens", "import"}, false},
		{[]string{"tokens", "list"}, false},
		{[]string{"dns", "zones"}, false},
		{[]string{"backup"}, false},
		{[]string{"restore"}, false},
	} {
		tm := newTestMain(t, time.Now(), "")
		if err := tm.run(t, append(tt.command, "-h")...); err != nil {
			t.Fatalf("%v -h: %v", tt.command, err)
		}
		help := tm.stdout.String()
		_, usage, _ := strings.Cut(help, "  -key-file")
		usage, _, _ = strings.Cut(usage, "\n  -")
		if creates := strings.Contains(usage, "mode 0600 when missing"); creates != tt.creates {
			t.Errorf("%v -h: --key-file %q, want it to say it is made when missing: %v", tt.command, strings.TrimSpace(usage), tt.creates)
		}
	}
}
