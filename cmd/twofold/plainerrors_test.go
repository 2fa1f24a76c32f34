package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// libraryText is what Go's libraries and SQLite say in errors, which a
// command's error line should put in its own words.
var libraryText = []string{"otp:", "invalid character", "unexpected end of JSON", "json:", "illegal base64",
	"unable to open database file", "(14)", "file is not a database", "(26)", "set WAL mode"}

// TestPlainErrors: a flag `twofold code` cannot use, a --key-file that is no
// key file, and a --db that cannot be opened end the command with a line
// in plain words: it names the flag or file, says what is wrong with it and
// what to do, and holds none of the otp package's, encoding/json's or
// SQLite's text.
func TestPlainErrors(t *testing.T) {
	dir := t.TempDir()
	flags, c := dbAndKey(t, testenv.SQLiteDSN(t))
	dbFlag := flags[:2]
	keyFile := func(name, content string) string {
		p := filepath.Join(dir, name)
		writeFile(t, p, content)
		return p
	}
	// The first command makes the key file.
	if err := newTestMain(t, time.Now(), "").run(t, append([]string{"dns", "zones"}, flags...)...); err != nil {
		t.Fatal(err)
	}
	whole, err := os.ReadFile(c.KeyFile)
	if err != nil {
		t.Fatal(err)
	}
	notDB := keyFile("notes.txt", strings.Repeat("not a database, only some notes\n", 40))
	notDir := keyFile("file", "a file, not a directory")
	for _, tt := range []struct {
		name  string
		args  []string
		stdin string
		exit  int
		want  []string // each in the error line
	}{
		{"code --digits 9", []string{"code", "--digits", "9", "KRSXG5CTMVRXEZLU"}, "", 2, []string{"--digits must be 6, 7 or 8, not 9"}},
		{"code --period 0", []string{"code", "--period", "0", "KRSXG5CTMVRXEZLU"}, "", 2, []string{"--period must be a whole number of seconds, at least 1, not 0"}},
		{"code --digits 5 over a URI", []string{"code", "otpauth://totp/a?secret=KRSXG5CTMVRXEZLU", "--digits", "5"}, "", 2, []string{"--digits"}},

		{"key file of text", append([]string{"dns", "zones", "--key-file", keyFile("text.key", "hello, world\n")}, dbFlag...), "", 1,
			[]string{filepath.Join(dir, "text.key") + " is not a Twofold key file", "at byte 1", "check --key-file"}},
		{"empty key file", append([]string{"dns", "zones", "--key-file", keyFile("empty.key", "")}, dbFlag...), "", 1,
			[]string{"key file " + filepath.Join(dir, "empty.key") + " is empty", "check --key-file"}},
		{"key file cut short", append([]string{"dns", "zones", "--key-file", keyFile("cut.key", string(whole[:len(whole)/2]))}, dbFlag...), "", 1,
			[]string{"key file " + filepath.Join(dir, "cut.key") + " is cut short", "check --key-file"}},
		{"key file of a JSON array", append([]string{"dns", "zones", "--key-file", keyFile("array.key", "[1, 2]")}, dbFlag...), "", 1,
			[]string{filepath.Join(dir, "array.key") + " is not a Twofold key file", "JSON array", "check --key-file"}},
		{"key file of another JSON object", append([]string{"dns", "zones", "--key-file", keyFile("other.key", `{"name": "x"}`)}, dbFlag...), "", 1,
			[]string{filepath.Join(dir, "other.key") + " is not a Twofold key file", "check --key-file"}},
		{"key file with a bad key", append([]string{"dns", "zones", "--key-file", keyFile("b64.key", `{"hash_key": "!!!!"}`)}, dbFlag...), "", 1,
			[]string{"key file " + filepath.Join(dir, "b64.key") + " is damaged", "not base64", "check --key-file"}},

		{"database a directory", []string{"dns", "zones", "--db", "sqlite:" + dir, "--key-file", c.KeyFile}, "", 1,
			[]string{"the SQLite database " + dir + " is a directory, not a file", "correct --db"}},
		{"database under a file", []string{"user", "add", "alice", "--create", "--db", "sqlite:" + filepath.Join(notDir, "twofold.db"), "--key-file", filepath.Join(dir, "new.key")}, "a long passphrase x\n", 1,
			[]string{"cannot open the SQLite database " + filepath.Join(notDir, "twofold.db"), notDir + " is a file, not a directory", "correct --db"}},
		{"database in a missing directory", []string{"user", "add", "alice", "--create", "--db", "sqlite:" + filepath.Join(dir, "none", "twofold.db"), "--key-file", filepath.Join(dir, "new.key")}, "a long passphrase x\n", 1,
			[]string{"cannot open the SQLite database " + filepath.Join(dir, "none", "twofold.db"), "the directory " + filepath.Join(dir, "none") + " does not exist"}},
		{"database not SQLite", []string{"dns", "zones", "--db", "sqlite:" + notDB, "--key-file", c.KeyFile}, "", 1,
			[]string{notDB + " is not a SQLite database", "correct --db"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := newTestMain(t, time.Now(), tt.stdin).run(t, tt.args...)
			if err == nil {
				t.Fatal("succeeded, want an error")
			}
			line := errorLine(err)
			if exitCode(err) != tt.exit {
				t.Errorf("exit status %d, want %d (%s)", exitCode(err), tt.exit, line)
			}
			for _, w := range tt.want {
				if !strings.Contains(line, w) {
					t.Errorf("got %q, want it to say %q", line, w)
				}
			}
			for _, lib := range libraryText {
				if strings.Contains(line, lib) {
					t.Errorf("got %q, which holds the library's %q", line, lib)
				}
			}
		})
	}
}
