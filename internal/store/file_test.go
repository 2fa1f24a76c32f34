package store_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/twofold/twofold/internal/store"
)

func TestSQLiteFileIsPrivate(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.db")
	s, err := store.Open(context.Background(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for _, f := range []string{path, path + "-wal"} {
		st, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Mode().Perm(); got != 0o600 {
			t.Errorf("%s: got mode %o, want 600", filepath.Base(f), got)
		}
	}
}

func TestSQLiteOptions(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name, dsn string
		ok        bool
	}{
		{"normal", "sqlite:" + filepath.Join(dir, "a.db") + "?synchronous=normal", true},
		{"full", "sqlite:" + filepath.Join(dir, "b.db") + "?synchronous=FULL", true},
		{"bad value", "sqlite:" + filepath.Join(dir, "c.db") + "?synchronous=off", false},
		{"unknown option", "sqlite:" + filepath.Join(dir, "d.db") + "?cache=shared", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tc.dsn)
			if (err == nil) != tc.ok {
				t.Fatalf("got error %v, want ok=%v", err, tc.ok)
			}
			if err == nil {
				s.Close()
			}
		})
	}
}
