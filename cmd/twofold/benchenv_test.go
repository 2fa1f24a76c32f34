package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestBenchIgnoresServersDatabase: bench takes its database and key file
// from its own command line alone. Named by the environment or a config
// file, which name the server's, they are refused before anything is
// opened: the server's database gets no bench accounts (whose password is
// known) and no migration, and no key file is made.
func TestBenchIgnoresServersDatabase(t *testing.T) {
	dir := t.TempDir()
	prod, key := filepath.Join(dir, "twofold.db"), filepath.Join(dir, "twofold.key")
	conf := filepath.Join(dir, "twofold.conf")
	if err := os.WriteFile(conf, []byte("db = sqlite:"+prod+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for what, env := range map[string]map[string]string{
		"TWOFOLD_DB":       {"TWOFOLD_DB": "sqlite:" + prod},
		"TWOFOLD_KEY_FILE": {"TWOFOLD_KEY_FILE": key},
		"a config file":    {"TWOFOLD_CONFIG": conf},
	} {
		tm := newTestMain(t, time.Now(), "")
		tm.env = env
		err := tm.run(t, "bench", "--accounts", "10", "--requests", "1", "--phases", "baseline")
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "from its command line alone") {
			t.Errorf("%s: got %v, want a usage error", what, err)
		}
	}
	for _, f := range []string{prod, key} {
		if _, err := os.Stat(f); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s: %v, want it never made", f, err)
		}
	}
}
