package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestAdminNeedsDatabase: an administration command given a --db where no
// SQLite database is (a typo) fails and makes neither a database nor a
// master key file there, rather than reporting success against an empty
// new one; `user add --create` makes them, as serve does at its first
// start.
func TestAdminNeedsDatabase(t *testing.T) {
	seeds := filepath.Join(t.TempDir(), "seeds.csv")
	writeFile(t, seeds, "FOB-1,3132333435363738393031323334353637383930\n")
	tests := []struct {
		name  string
		args  []string // before --db and --key-file
		stdin string
	}{
		{"user add", []string{"user", "add", "alice"}, "a long passphrase x\n"},
		{"user reset-two-factor", []string{"user", "reset-two-factor", "alice"}, ""},
		{"user operator", []string{"user", "operator", "alice"}, ""},
		{"dns add-zone", []string{"dns", "add-zone", "example.com", "--owner", "alice"}, ""},
		{"dns remove-zone", []string{"dns", "remove-zone", "example.com"}, ""},
		{"dns zones", []string{"dns", "zones"}, ""},
		{"tokens import", []string{"tokens", "import", seeds}, ""},
		{"tokens list", []string{"tokens", "list"}, ""},
		{"keys rotate", []string{"keys", "rotate"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			db, key := filepath.Join(dir, "twofodl.db"), filepath.Join(dir, "twofold.key")
			tm := newTestMain(t, time.Now(), tt.stdin)
			err := tm.run(t, append(tt.args, "--db", "sqlite:"+db, "--key-file", key)...)
			if err == nil || exitCode(err) != 1 {
				t.Errorf("got %v (stdout %q), want an error with exit code 1", err, tm.stdout.String())
			}
			if err != nil && !strings.Contains(err.Error(), db) {
				t.Errorf("the error does not name the database it did not find: %v", err)
			}
			if tm.stdout.String() != "" {
				t.Errorf("got stdout %q, want none", tm.stdout.String())
			}
			for _, p := range []string{db, key} {
				if _, err := os.Stat(p); err == nil {
					t.Errorf("%s was created", p)
				}
			}
		})
	}

	t.Run("user add --create", func(t *testing.T) {
		t.Parallel()
		dir := t.TempDir()
		db, key := filepath.Join(dir, "new.db"), filepath.Join(dir, "twofold.key")
		flags := []string{"--db", "sqlite:" + db, "--key-file", key}
		tm := newTestMain(t, time.Now(), "a long passphrase x\n")
		if err := tm.run(t, append([]string{"user", "add", "alice", "--create"}, flags...)...); err != nil {
			t.Fatalf("user add --create: %v (stderr %q)", err, tm.stderr.String())
		}
		for _, p := range []string{db, key} {
			if _, err := os.Stat(p); err != nil {
				t.Errorf("user add --create: %v", err)
			}
		}
		tm = newTestMain(t, time.Now(), "")
		if err := tm.run(t, append([]string{"user", "operator", "alice"}, flags...)...); err != nil || !strings.Contains(tm.stdout.String(), "alice is an operator") {
			t.Errorf("user operator on the database made: %v, stdout %q", err, tm.stdout.String())
		}
	})
}
