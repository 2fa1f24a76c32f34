package main

import (
	"strings"
	"testing"
	"time"

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
