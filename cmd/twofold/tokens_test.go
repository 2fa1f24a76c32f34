package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// rfc6030Figure6 is RFC 6030's pre-shared-key encrypted example and its key.
const (
	rfc6030Figure6 = "../../internal/otp/testdata/seeds/rfc6030-figure6.pskc"
	rfc6030Key     = "12345678901234567890123456789012"
)

// TestTokens runs `twofold tokens import` and `tokens list` on both stores:
// an encrypted PSKC file with its key from the environment, an OATH CSV
// file, imports refused whole, and a token claimed over HTTP leaving the
// unclaimed list.
func TestTokens(t *testing.T) {
	requireOATHTool(t)
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			flags, c := dbAndKey(t, newDSN(t))
			dir := t.TempDir()
			secret, secret2 := []byte("a hardware token key"), []byte("another token's key!")
			csv := filepath.Join(dir, "batch.csv")
			writeFile(t, csv, fmt.Sprintf("# batch 7\nFOB-1,%x\nFOB-2,%x,totp,8,60,sha256\n", secret, secret2))
			dup := filepath.Join(dir, "dup.csv")
			writeFile(t, dup, fmt.Sprintf("FOB-8,%x\nFOB-9,%x\n", secret2, secret2))
			// Columns swapped (secret,serial): the error must not quote the
			// first field, which is then a secret.
			swapped := filepath.Join(dir, "swapped.csv")
			writeFile(t, swapped, fmt.Sprintf("%x,FOB-3\n", secret))
			swappedHex := filepath.Join(dir, "swapped-hex.csv")
			writeFile(t, swappedHex, fmt.Sprintf("%x,123456\n", secret))
			swappedTwice := filepath.Join(dir, "swapped-twice.csv")
			writeFile(t, swappedTwice, fmt.Sprintf("%x,%x\n%x,%x\n", secret, secret2, secret, secret2))
			run := func(env map[string]string, args ...string) (string, string, error) {
				tm := newTestMain(t, time.Now(), "")
				for k, v := range env {
					tm.env[k] = v
				}
				err := tm.run(t, append(args, flags...)...)
				return tm.stdout.String(), tm.stderr.String(), err
			}
			list := func(args ...string) string {
				out, stderr, err := run(nil, append([]string{"tokens", "list"}, args...)...)
				if err != nil {
					t.Fatalf("tokens list: %v (%s)", err, stderr)
				}
				return out
			}

			out, stderr, err := run(map[string]string{"TWOFOLD_PSKC_KEY": rfc6030Key}, "tokens", "import", rfc6030Figure6)
			if err != nil || !strings.Contains(out, "imported 1 token from rfc6030-figure6.pskc: 1 hotp, 0 totp") {
				t.Fatalf("import RFC 6030 Figure 6: %v, stdout %q, stderr %q", err, out, stderr)
			}
			if out, _, err = run(nil, "tokens", "import", csv, "--format", "csv"); err != nil || !strings.Contains(out, "imported 2 tokens from batch.csv: 1 hotp, 1 totp") {
				t.Fatalf("import CSV: %v, stdout %q", err, out)
			}

			// Refused whole, with the exit status of the mistake.
			wrongKey := "ffeeddccbbaa99887766554433221100"
			for _, tt := range []struct {
				name     string
				env      map[string]string
				args     []string
				wantExit int
			}{
				{"again", nil, []string{"tokens", "import", csv}, 1},
				{"a secret twice", nil, []string{"tokens", "import", dup}, 1},
				{"columns swapped", nil, []string{"tokens", "import", swapped}, 1},
				{"columns swapped, serial of hex digits", nil, []string{"tokens", "import", swappedHex}, 1},
				{"columns swapped, a line twice", nil, []string{"tokens", "import", swappedTwice}, 1},
				{"wrong key", nil, []string{"tokens", "import", rfc6030Figure6, "--pskc-key", wrongKey}, 1},
				{"no key", nil, []string{"tokens", "import", rfc6030Figure6}, 1},
				{"key not hex", map[string]string{"TWOFOLD_PSKC_KEY": "not-hex-" + wrongKey}, []string{"tokens", "import", rfc6030Figure6}, 2},
				{"unknown format", nil, []string{"tokens", "import", csv, "--format", "xml"}, 2},
				{"CSV read as PSKC", nil, []string{"tokens", "import", csv, "--format", "pskc"}, 1},
				{"no file", nil, []string{"tokens", "import"}, 2},
				{"missing file", nil, []string{"tokens", "import", filepath.Join(dir, "none.csv")}, 1},
				{"two files", nil, []string{"tokens", "import", csv, csv}, 2},
				{"no subcommand", nil, []string{"tokens"}, 2},
			} {
				out, stderr, err := run(tt.env, tt.args...)
				if got := exitCode(err); err == nil || got != tt.wantExit {
					t.Errorf("%s: got %v (exit %d), want exit %d", tt.name, err, got, tt.wantExit)
				}
				if err != nil && (strings.Contains(err.Error()+out+stderr, wrongKey) || strings.Contains(err.Error()+out+stderr, fmt.Sprintf("%x", secret)) || strings.Contains(err.Error()+out+stderr, fmt.Sprintf("%x", secret2))) {
					t.Errorf("%s: the output shows a key or secret: %v %s %s", tt.name, err, out, stderr)
				}
				// Said in plain words, not in the otp package's.
				if err != nil && strings.Contains(err.Error()+stderr, "otp:") {
					t.Errorf("%s: got %q, want no otp package text", tt.name, err)
				}
			}

			// A conflict says once that nothing was imported.
			if _, _, err := run(nil, "tokens", "import", csv); err == nil || strings.Count(err.Error(), "nothing was imported") != 1 {
				t.Errorf("import again: got %v, want it to say once that nothing was imported", err)
			}

			all := list()
			for _, want := range []string{"987654321", "hotp", "Manufacturer", "FOB-1", "counter 0", "FOB-2", "totp", "SHA256", "60s"} {
				if !strings.Contains(all, want) {
					t.Errorf("tokens list lacks %q:\n%s", want, all)
				}
			}
			if strings.Count(all, "\n") != 4 {
				t.Errorf("tokens list: want a header and 3 tokens:\n%s", all)
			}

			// A user claims FOB-1 on a server over the same database.
			srv := testenv.NewServer(t, c.DB, func(sc *config.Config) { sc.KeyFile = c.KeyFile })
			cl := loginAs(t, srv, "wanda")
			code := testenv.HOTP(t, otp.EncodeSecret(secret), 3)
			if r := cl.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "serial": "FOB-1", "code": code, "label": "fob"}); r.Status != http.StatusCreated {
				t.Fatalf("claim: got %d %s", r.Status, r.Body)
			}
			unclaimed := list("--unclaimed")
			if strings.Contains(unclaimed, "FOB-1") || !strings.Contains(unclaimed, "FOB-2") || !strings.Contains(unclaimed, "987654321") {
				t.Errorf("tokens list --unclaimed:\n%s", unclaimed)
			}
			if all := list(); !strings.Contains(all, "FOB-1") {
				t.Errorf("tokens list after the claim lacks FOB-1:\n%s", all)
			}
		})
	}
}

func writeFile(tb testing.TB, path, content string) {
	tb.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		tb.Fatal(err)
	}
}

// loginAs creates the account name on srv and returns a client signed in as it.
func loginAs(tb testing.TB, srv *testenv.Server, name string) *testenv.Client {
	tb.Helper()
	const password = "correct horse battery"
	if _, err := srv.Service.CreateAccount(tb.Context(), core.NewAccount{Username: name, Password: password}, core.Meta{}); err != nil {
		tb.Fatal(err)
	}
	cl := testenv.NewClient(srv.URL())
	r := cl.Do(tb, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != http.StatusOK {
		tb.Fatalf("login: got %d %s", r.Status, r.Body)
	}
	cl.Token = r.String("token")
	return cl
}
