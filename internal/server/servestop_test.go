package server_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
)

// TestServeLoopStopsByItself: when the serve loop ends by itself (its
// listener fails for good), Done says so with the error, and Close, which
// `twofold serve` runs next, still returns with that error: it does not
// wait a second time for the one value Done gave.
func TestServeLoopStopsByItself(t *testing.T) {
	dir := t.TempDir()
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", "sqlite:"+filepath.Join(dir, "twofold.db"), filepath.Join(dir, "twofold.key")
	s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := server.CloseListener(s); err != nil {
		t.Fatal(err)
	}
	if err := <-s.Done(); err == nil || errors.Is(err, http.ErrServerClosed) {
		t.Fatalf("Done: got %v, want the serve loop's own error", err)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err == nil {
			t.Error("Close: got nil error, want the serve loop's")
		}
	case <-time.After(time.Minute):
		t.Fatal("Close did not return after the serve loop stopped by itself")
	}
}
