package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestErrorLineEscapesWhatWasTyped runs commands that quote their
// argument in the error they fail with, and checks that the line printed
// for it shows control characters, format characters and stray bytes
// escaped: a name typed or pasted with an escape sequence cannot retitle
// or clear the operator's terminal, nor reorder the line around it.
func TestErrorLineEscapesWhatWasTyped(t *testing.T) {
	db, _ := dbAndKey(t, testenv.SQLiteDSN(t))
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"user", "add", "--create", "bad\x1b[31mname"}, `create bad\x1b[31mname:`},
		{[]string{"user", "operator", "x\x1b]0;owned\a"}, `operator x\x1b]0;owned\a:`},
		{[]string{"user", "reset-two-factor", "evil\u202etxt.exe"}, `reset two-factor of evil\u202etxt.exe:`},
		{[]string{"dns", "add-zone", "bad\xffzone", "--owner", "alice"}, `add zone bad\xffzone:`},
	} {
		tm := newTestMain(t, time.Now(), "correct horse battery\n")
		err := tm.run(t, append(tt.args, db...)...)
		if err == nil {
			t.Errorf("%q: succeeded, want an error", tt.args)
			continue
		}
		line := errorLine(err)
		if !strings.HasPrefix(line, "twofold: ") || !strings.Contains(line, tt.want) {
			t.Errorf("%q: error line %q, want it to hold %q", tt.args, line, tt.want)
		}
		if i := strings.IndexFunc(line, func(r rune) bool { return r < 0x20 || r == 0x7f || r == '\u202e' }); i >= 0 {
			t.Errorf("%q: error line %q holds %q unescaped", tt.args, line, line[i:i+1])
		}
	}
	// Newlines and tabs a message lays itself out with are kept.
	if got := errorLine(errors.New("first\n\tsecond")); got != "twofold: first\n\tsecond" {
		t.Errorf("errorLine kept layout as %q", got)
	}
}

// TestAdminWarnsOfExposedKeyFile: every administration command that opens
// the key file (README "Quick start") warns, as `serve` does, when it may be
// read by users other than its owner, and says nothing of it once it is
// mode 0600: `keys rotate`, which rewrites the file keeping its mode, and
// `restore`, which checks it against the backup, too.
func TestAdminWarnsOfExposedKeyFile(t *testing.T) {
	db, c := dbAndKey(t, testenv.SQLiteDSN(t))
	if err := newTestMain(t, time.Now(), "correct horse battery\n").run(t, append([]string{"user", "add", "alice"}, db...)...); err != nil {
		t.Fatalf("user add: %v", err)
	}
	backup := filepath.Join(t.TempDir(), "backup.db")
	if err := newTestMain(t, time.Now(), "").run(t, append([]string{"backup", backup}, db...)...); err != nil {
		t.Fatalf("backup: %v", err)
	}
	for _, command := range [][]string{{"dns", "zones"}, {"restore", backup}, {"keys", "rotate", "--grace", "0s"}} {
		for _, tt := range []struct {
			mode os.FileMode
			warn bool
		}{{0o640, true}, {0o604, true}, {0o600, false}} {
			if err := os.Chmod(c.KeyFile, tt.mode); err != nil {
				t.Fatal(err)
			}
			tm := newTestMain(t, time.Now(), "")
			if err := tm.run(t, append(command, db...)...); err != nil {
				t.Fatalf("%s with the key file %04o: %v", command, tt.mode, err)
			}
			stderr := tm.stderr.String()
			warned := strings.Contains(stderr, "level=WARN") && strings.Contains(stderr, "key file may be read or written by users other than its owner") &&
				strings.Contains(stderr, fmt.Sprintf("mode=%04o", tt.mode))
			if warned != tt.warn || !tt.warn && strings.Contains(stderr, "key file may be read") {
				t.Errorf("%s, key file %04o: stderr %q, want a warning: %v", command, tt.mode, stderr, tt.warn)
			}
			if strings.Contains(stderr, "time=") {
				t.Errorf("%s, key file %04o: stderr %q carries a log time", command, tt.mode, stderr)
			}
		}
	}
}
