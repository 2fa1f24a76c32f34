package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOpenRestoredConnections: on PostgreSQL, a restore refuses a database
// another Twofold process stays connected to (ErrInUse, naming what
// pg_stat_activity shows), and goes on when that process closes its
// connections while the restore looks: a connection closed a moment ago
// stays listed until its backend has exited, so a server or command just
// stopped must not make the restore refuse.
func TestOpenRestoredConnections(t *testing.T) {
	ctx := context.Background()
	dsn := testenv.PostgresDSN(t)
	held, err := store.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Events(ctx, "", 0, 1); err != nil { // a connection in the pool
		t.Fatal(err)
	}
	if st, err := store.OpenRestored(ctx, dsn, nil); !errors.Is(err, store.ErrInUse) || !strings.Contains(err.Error(), "pg_stat_activity shows 1 connection") {
		if err == nil {
			st.Close()
		}
		t.Fatalf("restore while a command holds a connection: got %v, want ErrInUse naming one connection", err)
	}

	// The process stops while the restore waits for it.
	closed := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { held.Close(); close(closed) })
	st, err := store.OpenRestored(ctx, dsn, nil)
	<-closed
	if err != nil {
		t.Fatalf("restore while the last connection closes: %v", err)
	}
	st.Close()
}
