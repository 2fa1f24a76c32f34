package main

import (
	"context"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/testenv"
)

// TestDNSZones runs the zone commands one after another on one database,
// as an operator would, and checks their output and exit codes.
func TestDNSZones(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			db, _ := dbAndKey(t, dsn(t))
			now := time.Now()
			if err := newTestMain(t, now, "correct horse battery\n").run(t, append([]string{"user", "add", "alice"}, db...)...); err != nil {
				t.Fatalf("user add: %v", err)
			}
			steps := []struct {
				name     string
				args     []string
				wantExit int // 0: no error
				wantOut  string
			}{
				{"add", []string{"add-zone", "Example.COM.", "--owner", "alice"}, 0, "added zone example.com for alice"},
				{"add again", []string{"add-zone", "example.com", "--owner", "alice"}, 1, ""},
				{"unknown owner", []string{"add-zone", "example.net", "--owner", "bob"}, 1, ""},
				{"no owner", []string{"add-zone", "example.net"}, 2, ""},
				{"no zone", []string{"add-zone", "--owner", "alice"}, 2, ""},
				{"bad zone", []string{"add-zone", "exa mple.net", "--owner", "alice"}, 1, ""},
				{"add another", []string{"add-zone", "example.net", "--owner", "alice"}, 0, "added zone example.net"},
				{"list", []string{"zones"}, 0, "example.com\talice\tserial 1\nexample.net\talice\tserial 1\n"},
				{"list with an argument", []string{"zones", "x"}, 2, ""},
				{"remove", []string{"remove-zone", "example.net"}, 0, "removed zone example.net"},
				{"remove again", []string{"remove-zone", "example.net"}, 1, ""},
				{"list after remove", []string{"zones"}, 0, "example.com\talice\tserial 1\n"},
				{"unknown subcommand", []string{"delete"}, 2, ""},
			}
			for _, st := range steps {
				tm := newTestMain(t, now, "")
				var args []string
				if len(st.args) > 1 && !strings.HasPrefix(st.args[1], "-") {
					args = append(append(append([]string{"dns"}, st.args[:2]...), db...), st.args[2:]...)
				} else {
					args = append(append([]string{"dns"}, st.args...), db...)
				}
				err := tm.run(t, args...)
				got := 0
				if err != nil {
					got = exitCode(err)
				}
				if got != st.wantExit {
					t.Errorf("%s: got exit code %d (%v), want %d", st.name, got, err, st.wantExit)
				}
				if !strings.Contains(tm.stdout.String(), st.wantOut) {
					t.Errorf("%s: got stdout %q, want it to contain %q", st.name, tm.stdout.String(), st.wantOut)
				}
			}
		})
	}
}

var dnsListeningRE = regexp.MustCompile(`answering DNS on (\S+) `)

// TestServeDNS: twofold serve --dns-addr answers for a zone that the
// command line adds while it runs.
func TestServeDNS(t *testing.T) {
	dir := t.TempDir()
	db := []string{"--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")}
	tm := newTestMain(t, time.Now(), "")
	tm.env = map[string]string{"TWOFOLD_DNS_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tm.Run(ctx, append([]string{"serve", "--listen", "127.0.0.1:0", "--dns-nameservers", "ns1.example.net,ns2.example.net"}, db...))
	}()
	waitListening(t, tm.stdout, done)
	var addr string
	for deadline := time.Now().Add(time.Minute); addr == "" && time.Now().Before(deadline); {
		if m := dnsListeningRE.FindStringSubmatch(tm.stdout.String()); m != nil {
			addr = m[1]
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	if addr == "" {
		t.Fatalf("serve did not print its DNS address; stdout %q", tm.stdout.String())
	}

	if err := newTestMain(t, time.Now(), "correct horse battery\n").run(t, append([]string{"user", "add", "alice"}, db...)...); err != nil {
		t.Fatal(err)
	}
	if err := newTestMain(t, time.Now(), "").run(t, append([]string{"dns", "add-zone", "example.com", "--owner", "alice"}, db...)...); err != nil {
		t.Fatal(err)
	}
	m := new(dns.Msg)
	m.SetQuestion("example.com.", dns.TypeNS)
	r, _, err := (&dns.Client{Timeout: time.Minute}).Exchange(m, addr) // the default 2 s is short for a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, rr := range r.Answer {
		got = append(got, rr.(*dns.NS).Ns)
	}
	if !r.Authoritative || strings.Join(got, " ") != "ns1.example.net. ns2.example.net." {
		t.Errorf("NS of example.com: got %v (aa %v), want ns1 and ns2.example.net, authoritative", got, r.Authoritative)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := tm.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

// TestDNSZoneRequired: add-zone and remove-zone without a zone say that
// ZONE is required, the argument their usage names.
func TestDNSZoneRequired(t *testing.T) {
	for _, args := range [][]string{{"dns", "add-zone", "--owner", "alice"}, {"dns", "remove-zone"}} {
		err := newTestMain(t, time.Now(), "").run(t, args...)
		if err == nil || exitCode(err) != 2 || !strings.Contains(err.Error(), "ZONE is required") || strings.Contains(err.Error(), "USERNAME") {
			t.Errorf("%s: got %v, want a usage error saying ZONE is required", strings.Join(args, " "), err)
		}
	}
}
