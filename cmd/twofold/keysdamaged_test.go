package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestKeysRotateDamagedSecret: a factor's secret that no key opens (bit
// rot, a bad restore) stops a rotation, which running it again cannot get
// past: the command says so, names the value, keeps every other secret
// readable and says what to remove; once it is removed, running it again
// finishes the rotation.
func TestKeysRotateDamagedSecret(t *testing.T) {
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "t.key")
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), keysWithKeyFile(keyFile))
	if _, err := s.Service.CreateAccount(t.Context(), core.NewAccount{Username: "alice", Password: keysPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	c := keysLogin(t, s, "")
	damaged, _ := keysEnrolTOTP(t, s, c, "phone", true)
	s.MakeUndecryptable(t, damaged)

	var stdout, stderr bytes.Buffer
	m := keysMain(&stdout, &stderr)
	err := m.Run(t.Context(), []string{"keys", "rotate", "--db", s.Config.DB, "--key-file", keyFile})
	if cerr := m.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if err == nil || exitCode(err) != 1 {
		t.Fatalf("rotating past a damaged secret: %v, want a refusal (exit status 1)", err)
	}
	for _, want := range []string{"damaged", damaged, "Remove what holds it first", "then run the command again", "every other secret stays readable"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("the refusal %q does not say %q", err, want)
		}
	}
	testenv.Exec(t, s.Config.DB, `DELETE FROM factors WHERE id = $1`, []any{damaged})
	if out := keysRunRotate(t, s.Config.DB, keyFile); !strings.Contains(out, "finished the interrupted rotation") {
		t.Errorf("the run after the removal said %q, want it to finish the rotation", out)
	}
}
