package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBackup: `twofold backup` copies a SQLite database that a server is
// writing to at that moment; the copy is owner-only, and a server started on
// it with the same key file lets the user log in with password and TOTP, so
// the sealed secrets came through whole. An existing file is never
// overwritten, and PostgreSQL is refused (SPEC §4 "Operations").
func TestBackup(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	keyFile := filepath.Join(t.TempDir(), "twofold.key")
	s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
	if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	c := keysLogin(t, s, "")
	_, secret := keysEnrolTOTP(t, s, c, "phone", true)

	// Logins keep writing (sessions, counters, audit events) during the copy.
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Go(func() {
		for !stop.Load() {
			r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password!"})
			if r.Status != 401 && r.Status != 429 {
				t.Errorf("login during the backup: got %d %s", r.Status, r.Body)
				return
			}
		}
	})
	dest := filepath.Join(t.TempDir(), "copy.db")
	tm := newTestMain(t, time.Now(), "")
	err := tm.run(t, "backup", "--db", dsn, "--key-file", keyFile, dest)
	stop.Store(true)
	wg.Wait()
	if err != nil {
		t.Fatalf("backup: %v\n%s", err, tm.stderr)
	}
	if !strings.Contains(tm.stdout.String(), keyFile) {
		t.Errorf("the report does not name the key file to keep apart: %q", tm.stdout)
	}
	// The key file is not read: one that is not there is not named as
	// though it were.
	tm = newTestMain(t, time.Now(), "")
	none := filepath.Join(t.TempDir(), "none.key")
	if err := tm.run(t, "backup", filepath.Join(t.TempDir(), "copy2.db"), "--db", dsn, "--key-file", none); err != nil {
		t.Fatalf("backup with no key file at --key-file: %v", err)
	}
	if want := "there is none at " + none; !strings.Contains(tm.stdout.String(), want) {
		t.Errorf("backup with no key file at --key-file: got %q, want it to say %s", tm.stdout, want)
	}
	fi, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("the copy has mode %v, want 0600", fi.Mode().Perm())
	}
	if leftovers, _ := filepath.Glob(filepath.Join(filepath.Dir(dest), ".twofold-backup-*")); len(leftovers) > 0 {
		t.Errorf("temporary files left beside the copy: %v", leftovers)
	}

	// A server on the copy, with the same key file, is the same account.
	restored := testenv.NewServer(t, "sqlite:"+dest, keysWithKeyFile(keyFile))
	restored.Clock.Set(s.Clock.Now().Add(30 * time.Second))
	keysLogin(t, restored, secret)

	// After a key rotation the key file no longer holds the master key the
	// copy's data keys are wrapped by: a copy needs the key file of its day
	// (README "Backup and restore").
	oldKeys, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	tm = newTestMain(t, time.Now(), "")
	tm.Sleep = func(time.Duration) <-chan time.Time { return time.After(0) }
	if err := tm.run(t, "keys", "rotate", "--db", dsn, "--key-file", keyFile, "--grace", "0s"); err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, tm.stderr)
	}
	other := filepath.Join(t.TempDir(), "copy.db")
	if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", "sqlite:"+dest, other); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default()
	cfg.Listen, cfg.DB, cfg.KeyFile = "127.0.0.1:0", "sqlite:"+other, keyFile
	if srv := (&server.Server{Config: cfg}); srv.Open(context.Background()) == nil {
		srv.Close()
		t.Error("a server started on a copy from before a key rotation with the rotated key file")
	}
	// Nor with no key file at all: none is made up for a database whose
	// secrets are sealed already.
	missing := filepath.Join(t.TempDir(), "missing.key")
	cfg.KeyFile = missing
	if srv := (&server.Server{Config: cfg}); srv.Open(context.Background()) == nil {
		srv.Close()
		t.Error("a server started on a copy without its key file")
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("starting without the key file made one: %v", err)
	}
	oldKeyFile := filepath.Join(t.TempDir(), "old.key")
	if err := os.WriteFile(oldKeyFile, oldKeys, 0o600); err != nil {
		t.Fatal(err)
	}
	again := testenv.NewServer(t, "sqlite:"+other, keysWithKeyFile(oldKeyFile))
	again.Clock.Set(s.Clock.Now().Add(time.Minute))
	keysLogin(t, again, secret)

	// Never over an existing file.
	before, _ := os.ReadFile(dest)
	tm = newTestMain(t, time.Now(), "")
	if err := tm.run(t, "backup", "--db", dsn, dest); err == nil || exitCode(err) != 1 {
		t.Errorf("backup onto an existing file: got %v, want a failure", err)
	}
	if after, _ := os.ReadFile(dest); string(after) != string(before) {
		t.Error("backup changed an existing file")
	}
	// A database that does not exist is not made up to be copied.
	typo := filepath.Join(t.TempDir(), "typo.db")
	if err := newTestMain(t, time.Now(), "").run(t, "backup", "--db", "sqlite:"+typo, filepath.Join(t.TempDir(), "x.db")); err == nil || exitCode(err) != 1 {
		t.Errorf("backup of a missing database: got %v, want a failure", err)
	}
	if _, err := os.Stat(typo); !os.IsNotExist(err) {
		t.Errorf("backup of a missing database created it: %v", err)
	}
	// Usage mistakes.
	for _, args := range [][]string{{"backup", "--db", dsn}, {"backup", "--db", dsn, "a.db", "b.db"}, {"backup", "--db", dsn, ""}} {
		if err := newTestMain(t, time.Now(), "").run(t, args...); exitCode(err) != 2 {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

// TestBackupRefusesPostgres: PostgreSQL has its own backup tools; the
// command says so and writes nothing.
func TestBackupRefusesPostgres(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	dest := filepath.Join(t.TempDir(), "copy.db")
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "backup", "--db", dsn, dest); err == nil || exitCode(err) != 1 {
		t.Fatalf("backup of PostgreSQL: got %v, want a failure", err)
	}
	if _, err := os.Stat(dest); !os.IsNotExist(err) {
		t.Errorf("backup of PostgreSQL wrote %s", dest)
	}
}

// TestBackupDestDirectory: a DEST in a directory that does not exist, or
// under a file, fails naming that directory in plain words, as a --db in
// one does (README "Quick start": Twofold makes no directory), rather than
// the name of a temporary copy the operator never gave; nothing is made.
func TestBackupDestDirectory(t *testing.T) {
	dsn := testenv.SQLiteDSN(t)
	testenv.NewServer(t, dsn)
	root := t.TempDir()
	file := filepath.Join(root, "file")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name, dest, dir, want string
	}{
		{"missing", filepath.Join(root, "backups", "copy.db"), filepath.Join(root, "backups"), "does not exist"},
		{"under a file", filepath.Join(file, "copy.db"), file, "is not a directory"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tm := newTestMain(t, time.Now(), "")
			err := tm.run(t, "backup", "--db", dsn, tt.dest)
			if exitCode(err) != 1 {
				t.Fatalf("backup to %s: got %v, want exit status 1", tt.dest, err)
			}
			if msg := err.Error(); !strings.Contains(msg, tt.dir) || !strings.Contains(msg, tt.want) || strings.Contains(msg, ".twofold-backup-") {
				t.Errorf("backup to %s: got %q, want it to say the directory %s %s", tt.dest, msg, tt.dir, tt.want)
			}
		})
	}
	if _, err := os.Stat(filepath.Join(root, "backups")); !os.IsNotExist(err) {
		t.Errorf("backup made the missing directory: %v", err)
	}
}
