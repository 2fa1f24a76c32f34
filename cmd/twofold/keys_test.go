package main

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

const keysPassword = "correct horse battery"

// keysMain returns a Main that reads nothing from the environment and never sleeps.
func keysMain(stdout, stderr *bytes.Buffer) *Main {
	return &Main{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		LookupEnv: func(string) (string, bool) { return "", false }, Now: time.Now,
		IsTerminal: func() bool { return false },
		Sleep: func(d time.Duration) <-chan time.Time {
			c := make(chan time.Time, 1)
			c <- time.Now().Add(d)
			return c
		},
	}
}

// keysRunRotate runs `twofold keys rotate` against dsn and keyFile and returns its output.
func keysRunRotate(t *testing.T, dsn, keyFile string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := keysMain(&stdout, &stderr)
	err := m.Run(t.Context(), []string{"keys", "rotate", "--db", dsn, "--key-file", keyFile})
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatalf("keys rotate: %v\n%s", err, stderr.String())
	}
	return stdout.String() + stderr.String()
}

func keysWithKeyFile(path string) testenv.ServerOption {
	return func(c *config.Config) { c.KeyFile = path }
}

// keysLogin signs alice in with her password and, when asked for it, a TOTP code
// computed by oathtool at the server's clock.
func keysLogin(t *testing.T, s *testenv.Server, secret string) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(s.URL())
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": keysPassword})
	if r.Status == 200 && r.String("status") == "second_factor_required" {
		code := testenv.TOTP(t, secret, s.Clock.Now())
		r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": code})
	}
	if r.Status != 200 || r.String("token") == "" {
		t.Fatalf("login: got %d %s, want 200 with a token", r.Status, r.Body)
	}
	c.Token = r.String("token")
	return c
}

// keysEnrolTOTP adds a TOTP factor over HTTP, confirming it with oathtool when
// confirm is set, and returns its id and base32 secret.
func keysEnrolTOTP(t *testing.T, s *testenv.Server, c *testenv.Client, label string, confirm bool) (id, secret string) {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": label})
	if r.Status != 201 {
		t.Fatalf("enrol: got %d %s, want 201", r.Status, r.Body)
	}
	id, secret = r.JSON["factor"].(map[string]any)["id"].(string), r.String("secret")
	if confirm {
		code := testenv.TOTP(t, secret, s.Clock.Now())
		if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm: got %d %s, want 200", r.Status, r.Body)
		}
	}
	return id, secret
}

// keysStored returns the data keys and each factor's sealed secret in dsn.
func keysStored(t *testing.T, dsn string) ([]keyring.WrappedKey, map[string]keyring.Sealed) {
	t.Helper()
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := st.DataKeys(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	values, err := st.SealedValues(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	byRow := map[string]keyring.Sealed{}
	for _, v := range values {
		byRow[v.Row] = v
	}
	return keys, byRow
}

// TestKeysRotate rotates keys under a running server, logs in on it with a
// TOTP code, enrols on it, restarts it and logs in again; on SQLite it then
// searches the database file for the old master key and the secret.
func TestKeysRotate(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			keyFile := filepath.Join(t.TempDir(), "twofold.key")
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			c := keysLogin(t, s, "")
			factorID, secret := keysEnrolTOTP(t, s, c, "phone", true)
			// The spare factors enrolled below need an elevated session, for
			// the few minutes of the test's clock the rounds take.
			s.Clock.Add(30 * time.Second)
			if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, s.Clock.Now())}); r.Status != 200 {
				t.Fatalf("elevate: got %d %s", r.Status, r.Body)
			}
			first, err := keyring.LoadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}

			// Rotate twice while the server runs; after each, it logs in with
			// the resealed secret and enrols under the new data key.
			var retired [][]byte
			replaced := map[string][]byte{} // data keys and ciphertexts a rotation replaced
			for round := range 2 {
				before, err := keyring.LoadFile(keyFile)
				if err != nil {
					t.Fatal(err)
				}
				keys, byRow := keysStored(t, dsn)
				for _, k := range keys {
					replaced["wrapped data key "+k.ID] = k.Wrapped
				}
				for _, v := range byRow {
					replaced["ciphertext of "+v.Row+" under "+v.KeyID] = v.Ciphertext
				}
				out := keysRunRotate(t, dsn, keyFile)
				// Round 0 reseals the phone's secret; round 1 also the spare enrolled after round 0.
				resealed := []string{"; 1 secret resealed;", "; 2 secrets resealed;"}[round]
				if !strings.Contains(out, "keys rotated: added master key") || !strings.Contains(out, resealed) {
					t.Fatalf("round %d: got output %q, want a summary", round, out)
				}
				after, err := keyring.LoadFile(keyFile)
				if err != nil {
					t.Fatal(err)
				}
				for _, key := range [][]byte{before.Masters[0].Key, after.Masters[0].Key, after.HashKey} {
					if strings.Contains(out, base64.StdEncoding.EncodeToString(key)) || strings.Contains(out, base64.RawURLEncoding.EncodeToString(key)) {
						t.Fatalf("round %d: keys rotate printed key material: %q", round, out)
					}
				}
				if len(after.Masters) != 1 || after.Primary == before.Primary || !strings.Contains(out, after.Primary) {
					t.Fatalf("round %d: key file has masters %v (primary %s), want one new one, named in %q", round, after.Masters, after.Primary, out)
				}
				if !bytes.Equal(after.HashKey, first.HashKey) {
					t.Fatalf("round %d: the hash key changed", round)
				}
				if st, err := os.Stat(keyFile); err != nil || st.Mode().Perm() != 0o600 {
					t.Fatalf("round %d: key file mode %v, %v; want 600", round, st.Mode().Perm(), err)
				}
				retired = append(retired, before.Masters[0].Key)
				keys, byRow = keysStored(t, dsn)
				if len(keys) != 1 || keys[0].MasterID != after.Primary || byRow[factorID].KeyID != keys[0].ID {
					t.Fatalf("round %d: got data keys %v and factor key %s, want one, wrapped by %s, under the factor", round, keys, byRow[factorID].KeyID, after.Primary)
				}

				// Enrol first: Seal must find the new data key by itself, before
				// an Open of a resealed secret makes the server reload.
				pendingID, _ := keysEnrolTOTP(t, s, c, fmt.Sprintf("spare %d", round), false)
				if _, byRow := keysStored(t, dsn); byRow[pendingID].KeyID != keys[0].ID {
					t.Fatalf("round %d: the running server sealed a new secret under %s, want the new data key %s", round, byRow[pendingID].KeyID, keys[0].ID)
				}
				s.Clock.Add(30 * time.Second)
				keysLogin(t, s, secret)
			}

			// A restarted server reads only the key file and the database.
			s2 := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			s2.Clock.Set(s.Clock.Now().Add(30 * time.Second))
			keysLogin(t, s2, secret)

			if s.DBPath == "" {
				return
			}
			var db []byte
			for _, suffix := range []string{"", "-wal"} {
				b, err := os.ReadFile(s.DBPath + suffix)
				if err != nil && !errors.Is(err, os.ErrNotExist) {
					t.Fatal(err)
				}
				db = append(db, b...)
			}
			raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
			if err != nil {
				t.Fatal(err)
			}
			current, _ := keyring.LoadFile(keyFile)
			needles := map[string][]byte{"raw secret": raw, "base32 secret": []byte(secret),
				"first master key": retired[0], "second master key": retired[1], "current master key": current.Masters[0].Key, "hash key": current.HashKey}
			// Sealed under retired keys, but a stolen retired key must not open them.
			for name, n := range replaced {
				needles[name] = n
			}
			for name, n := range needles {
				if bytes.Contains(db, n) {
					t.Errorf("the database file contains the %s", name)
				}
			}
		})
	}
}

// TestKeysRotateInterrupted: SIGINT or SIGTERM (main cancels the context)
// during the grace period says the rotation was interrupted and is finished
// by running the command again, not "context canceled"; running it again
// finishes it.
func TestKeysRotateInterrupted(t *testing.T) {
	dir := t.TempDir()
	dsn, keyFile := "sqlite:"+filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key")
	if err := newTestMain(t, time.Now(), keysPassword+"\n").run(t, "user", "add", "alice", "--create", "--db", dsn, "--key-file", keyFile); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	m := keysMain(&stdout, &stderr)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	m.Sleep = func(time.Duration) <-chan time.Time {
		cancel() // the signal comes during the grace period
		return make(chan time.Time)
	}
	err := m.Run(ctx, []string{"keys", "rotate", "--db", dsn, "--key-file", keyFile})
	if cerr := m.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted: ") || !strings.Contains(err.Error(), "run the command again") || exitCode(err) != 1 {
		t.Errorf("got %v, want an interruption (exit status 1) that says to run the command again", err)
	}
	if out := keysRunRotate(t, dsn, keyFile); !strings.Contains(out, "finished the interrupted rotation") {
		t.Errorf("the second run said %q, want it to finish the interrupted rotation", out)
	}
}

func TestKeysUsage(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		args []string
	}{
		{"NoSubcommand", []string{"keys"}},
		{"UnknownSubcommand", []string{"keys", "list"}},
		{"Argument", []string{"keys", "rotate", "extra"}},
		{"NegativeGrace", []string{"keys", "rotate", "--grace", "-1s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			err := keysMain(&stdout, &stderr).Run(t.Context(), append(tt.args, "--db", "sqlite:"+filepath.Join(dir, "x.db")))
			if exitCode(err) != 2 {
				t.Fatalf("got %v (exit %d), want a usage error", err, exitCode(err))
			}
		})
	}

	// A missing key file is an error, not a new key file: that would orphan
	// every stored secret. A mistyped database path is one too, not a new
	// empty database. Neither says to run it again: nothing has started.
	dbPath := filepath.Join(dir, "y.db")
	st, err := store.Open(t.Context(), "sqlite:"+dbPath)
	if err != nil {
		t.Fatal(err)
	}
	st.Close()
	keyFile := filepath.Join(dir, "missing.key")
	for _, args := range [][]string{
		{"--db", "sqlite:" + dbPath, "--key-file", keyFile},
		{"--db", "sqlite:" + filepath.Join(dir, "typo.db"), "--key-file", keyFile},
	} {
		var stdout, stderr bytes.Buffer
		err := keysMain(&stdout, &stderr).Run(t.Context(), append([]string{"keys", "rotate"}, args...))
		if err == nil || exitCode(err) != 1 {
			t.Fatalf("%v: got %v, want an error", args, err)
		}
		if !strings.Contains(err.Error(), "nothing rotated") || strings.Contains(err.Error(), "again") {
			t.Errorf("%v: got %q, want it to say nothing was rotated", args, err)
		}
		if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("keys rotate created %s", keyFile)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "typo.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("keys rotate created a database at a mistyped path")
	}
}

// TestKeysRotateSharedKeyFile: keys rotate given a symbolic link to the key
// file (a shared volume) rotates the file it leads to, which the running
// server reads, leaving the link, the file's mode (0640) and its owner and
// group (given as root to another user, as CI runs) as they were; the
// running server and a restarted one log in with TOTP afterwards.
func TestKeysRotateSharedKeyFile(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "secret", "twofold.key")
			if err := os.Mkdir(filepath.Dir(keyFile), 0o700); err != nil {
				t.Fatal(err)
			}
			link := filepath.Join(dir, "twofold.key")
			if err := os.Symlink(filepath.Join("secret", "twofold.key"), link); err != nil {
				t.Fatal(err)
			}
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			_, secret := keysEnrolTOTP(t, s, keysLogin(t, s, ""), "phone", true)
			uid, gid := os.Geteuid(), os.Getegid()
			if uid == 0 {
				uid, gid = 65534, 65534 // nobody: a service user
			} else if os.Getenv("CI") != "" {
				t.Fatal("run as root under CI: the test gives the key file to another user")
			}
			if err := os.Chown(keyFile, uid, gid); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(keyFile, 0o640); err != nil {
				t.Fatal(err)
			}
			before, err := keyring.LoadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}

			keysRunRotate(t, dsn, link)

			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("--key-file link is now %v, %v; want a symbolic link still", fi.Mode(), err)
			}
			after, err := keyring.LoadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if len(after.Masters) != 1 || after.Primary == before.Primary {
				t.Fatalf("the file the link leads to has primary %s (was %s), want a new one alone", after.Primary, before.Primary)
			}
			fi, err := os.Stat(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if fi.Mode().Perm() != 0o640 || int(st.Uid) != uid || int(st.Gid) != gid {
				t.Fatalf("key file mode %04o, owner %d:%d; want 0640, %d:%d kept", fi.Mode().Perm(), st.Uid, st.Gid, uid, gid)
			}
			if _, err := os.Stat(keyFile + ".lock"); err != nil {
				t.Errorf("no lock beside the key file: %v", err)
			}
			if _, err := os.Lstat(link + ".lock"); err == nil {
				t.Error("a lock beside the link: a rotation through the file itself would not be excluded")
			}
			s.Clock.Add(30 * time.Second)
			keysLogin(t, s, secret)
			s2 := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			s2.Clock.Set(s.Clock.Now().Add(30 * time.Second))
			keysLogin(t, s2, secret)
		})
	}
}

// TestKeysUnavailable: a server whose key file lacks the master key of a
// rotation (made through another copy of the file) answers the second step
// 503 with a problem of type unavailable that says nothing of keys or files,
// not 500; the attempts count on no throttle counter, so once the file is
// mended the right code signs in at once.
func TestKeysUnavailable(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			dir := t.TempDir()
			keyFile := filepath.Join(dir, "twofold.key")
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Email: "alice@example.com", Password: keysPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			factorID, secret := keysEnrolTOTP(t, s, keysLogin(t, s, ""), "phone", true)
			other := filepath.Join(dir, "copy.key")
			b, err := os.ReadFile(keyFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(other, b, 0o600); err != nil {
				t.Fatal(err)
			}
			keysRunRotate(t, dsn, other)

			s.Clock.Add(30 * time.Second)
			c := testenv.NewClient(s.URL())
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": keysPassword})
			if r.Status != 200 || r.String("status") != "second_factor_required" {
				t.Fatalf("login: got %d %s", r.Status, r.Body)
			}
			loginID := r.String("login_id")
			code := testenv.TOTP(t, secret, s.Clock.Now())
			attempts := []map[string]string{{"method": "totp", "code": code}}
			for range 5 { // past the code counter's first lock (at the 3rd failure)
				attempts = append(attempts, map[string]string{"method": "totp", "code": code, "factor_id": factorID})
			}
			for i, body := range attempts {
				r := c.Do(t, "POST", "/v1/login/"+loginID+"/verify", body)
				if r.Status != 503 || r.Header.Get("Content-Type") != "application/problem+json" || r.Problem() != "unavailable" {
					t.Fatalf("verify %d: got %d %s %s, want 503 unavailable", i, r.Status, r.Header.Get("Content-Type"), r.Body)
				}
				for _, leak := range []string{"key file", "data key", "master", keyFile, "twofold.key"} {
					if strings.Contains(string(r.Body), leak) {
						t.Fatalf("verify %d: the problem shows %q: %s", i, leak, r.Body)
					}
				}
			}

			b, err = os.ReadFile(other)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(keyFile, b, 0o600); err != nil {
				t.Fatal(err)
			}
			r = c.Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "totp", "code": code, "factor_id": factorID})
			if r.Status != 200 || r.String("token") == "" {
				t.Fatalf("verify with the key file mended: got %d %s, want 200", r.Status, r.Body)
			}
		})
	}
}

// TestKeysRotateWrongKeyFile: keys rotate given a key file that holds none
// of the database's master keys (another database's) changes nothing, and
// says so and which master key it lacks, rather than telling the operator
// to run it again to finish, which could never succeed.
func TestKeysRotateWrongKeyFile(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			dir := t.TempDir()
			right, wrong := filepath.Join(dir, "twofold.key"), filepath.Join(dir, "other.key")
			st, err := store.Open(t.Context(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			f, _, _, err := keyring.OpenFile(t.Context(), right, st) // the database's first data key
			st.Close()
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := keyring.LoadOrCreateFile(wrong); err != nil {
				t.Fatal(err)
			}
			before, err := os.ReadFile(wrong)
			if err != nil {
				t.Fatal(err)
			}
			keysBefore, _ := keysStored(t, dsn)

			var stdout, stderr bytes.Buffer
			err = keysMain(&stdout, &stderr).Run(t.Context(), []string{"keys", "rotate", "--db", dsn, "--key-file", wrong})
			if err == nil || exitCode(err) != 1 {
				t.Fatalf("got %v, want an error", err)
			}
			if msg := err.Error(); !strings.Contains(msg, "nothing rotated") || strings.Contains(msg, "again") || !strings.Contains(msg, f.Primary) {
				t.Errorf("got %q, want it to say nothing was rotated, name master key %s, and not to run it again", msg, f.Primary)
			}
			if after, err := os.ReadFile(wrong); err != nil || !bytes.Equal(after, before) {
				t.Errorf("the key file given was changed (%v)", err)
			}
			if keysAfter, _ := keysStored(t, dsn); len(keysAfter) != len(keysBefore) {
				t.Errorf("data keys: got %d, want %d as before", len(keysAfter), len(keysBefore))
			}
		})
	}
}
