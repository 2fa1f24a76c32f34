package store_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/twofold/twofold/internal/store"
)

// TestInUseCheckInterrupted: restore's check that no one has the database
// open, interrupted (Ctrl-C), says so; it never answers "not in use" for a
// database it did not look at, which would let the restore go on and put
// the backup in place under a server started meanwhile.
func TestInUseCheckInterrupted(t *testing.T) {
	path := filepath.Join(t.TempDir(), "twofold.db")
	st := open(t, "sqlite:"+path) // held open, as a running server holds it
	if _, err := store.EventCounterForTest(t.Context(), path); !errors.Is(err, store.ErrInUse) {
		t.Fatalf("the check of a database held open: got %v, want in use", err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := store.EventCounterForTest(ctx, path); !errors.Is(err, context.Canceled) {
		t.Errorf("the check, interrupted: got %v, want context.Canceled", err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := store.EventCounterForTest(t.Context(), path); err != nil {
		t.Errorf("the check of a database no one holds: %v", err)
	}
}
