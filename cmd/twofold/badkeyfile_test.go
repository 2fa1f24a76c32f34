package main

import (
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// badKeyFiles makes, at path, key files that cannot be used: one that
// cannot be read (a directory), garbage, and one whose master key has the
// wrong size.
var badKeyFiles = map[string]func(t *testing.T, path string){
	"unreadable": func(t *testing.T, path string) {
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
	},
	"garbage": func(t *testing.T, path string) { writeFile(t, path, "not a key file\x00\xff") },
	"wrong size": func(t *testing.T, path string) {
		b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
		writeFile(t, path, `{"primary":"m1","masters":[{"id":"m1","key":"`+b64(16)+`","created":"2026-01-01T00:00:00Z"}],"hash_key":"`+b64(32)+`"}`)
	},
}

// TestServeBadKeyFileMakesNoDatabase: serve, in an empty directory whose
// key file (the default twofold.key) cannot be used, exits non-zero with
// the key file's error and makes no database file: the key file is
// refused before the database is created or migrated.
func TestServeBadKeyFileMakesNoDatabase(t *testing.T) {
	for name, bad := range badKeyFiles {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			bad(t, filepath.Join(dir, "twofold.key"))
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, "serve", "--listen", "127.0.0.1:0")
			if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), "twofold.key") {
				t.Errorf("serve: got %v, want an error naming twofold.key", err)
			}
			if got := testenv.DirNames(t, dir); !slices.Equal(got, []string{"twofold.key"}) {
				t.Errorf("the directory holds %v after serve, want twofold.key alone", got)
			}
		})
	}
}

// TestServeKeyFileNowhereMakesNoDatabase: serve with a key file to make
// in a directory that does not exist, or under a path through a file,
// exits non-zero saying so and makes no database file: it used to create
// and migrate twofold.db, then fail to write the key file.
func TestServeKeyFileNowhereMakesNoDatabase(t *testing.T) {
	for _, c := range []struct{ name, key, want string }{
		{"no such directory", filepath.Join("missing", "twofold.key"), "does not exist"},
		{"through a file", filepath.Join("afile", "twofold.key"), "not a directory"},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			t.Chdir(dir)
			writeFile(t, filepath.Join(dir, "afile"), "x")
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, "serve", "--listen", "127.0.0.1:0", "--key-file", c.key)
			if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), c.key) || !strings.Contains(err.Error(), c.want) {
				t.Errorf("serve: got %v, want an error naming %s that says %q", err, c.key, c.want)
			}
			if got := testenv.DirNames(t, dir); !slices.Equal(got, []string{"afile"}) {
				t.Errorf("the directory holds %v after serve, want afile alone", got)
			}
		})
	}
}

// TestBadKeyFileMakesNoDatabase: the other commands that can make a
// database (user add --create, bench) refuse a key file that cannot be
// used before they do; on PostgreSQL none makes Twofold's tables either.
func TestBadKeyFileMakesNoDatabase(t *testing.T) {
	commands := []struct {
		name  string
		args  []string // before --db and --key-file
		stdin string
	}{
		{"serve", []string{"serve", "--listen", "127.0.0.1:0"}, ""},
		{"user add --create", []string{"user", "add", "alice", "--create"}, "a long passphrase x\n"},
		{"bench", []string{"bench", "--accounts", "3", "--concurrency", "1", "--requests", "3", "--phases", "baseline", "--json"}, ""},
	}
	for dialect, newDSN := range testenv.DSNs(t) {
		for _, c := range commands {
			for name, bad := range badKeyFiles {
				t.Run(dialect+"/"+c.name+"/"+name, func(t *testing.T) {
					t.Parallel()
					dir := t.TempDir()
					dsn := "sqlite:" + filepath.Join(dir, "twofold.db")
					if dialect != "sqlite" {
						dsn = newDSN(t)
					}
					key := filepath.Join(dir, "twofold.key")
					bad(t, key)
					tm := newTestMain(t, time.Now(), c.stdin)
					err := tm.run(t, append(c.args, "--db", dsn, "--key-file", key)...)
					if err == nil || exitCode(err) == 0 || !strings.Contains(err.Error(), key) {
						t.Errorf("got %v, want an error naming %s", err, key)
					}
					if got := testenv.DirNames(t, dir); !slices.Equal(got, []string{"twofold.key"}) {
						t.Errorf("the directory holds %v, want twofold.key alone", got)
					}
					if dialect != "sqlite" {
						if missing, err := store.Missing(context.Background(), dsn); err != nil || !missing {
							t.Errorf("Twofold's tables were made (missing %v, %v)", missing, err)
						}
					}
				})
			}
		}
	}
}
