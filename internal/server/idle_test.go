package server_test

import (
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// openIdle opens a server on loopback over a SQLite file with the given
// Server.IdleTimeout (0: the default, as twofold serve leaves it).
func openIdle(t *testing.T, idle time.Duration) *server.Server {
	t.Helper()
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", testenv.SQLiteDSN(t), filepath.Join(t.TempDir(), "t.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1, IdleTimeout: idle}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("close server: %v", err)
		}
	})
	return s
}

// TestIdleTimeoutDefault: the server keeps an idle keep-alive connection
// 30 s unless told otherwise (README "Guessing, throttling and
// lock-outs"), and a Server.IdleTimeout is the one its HTTP server uses.
func TestIdleTimeoutDefault(t *testing.T) {
	if server.DefaultIdleTimeout != 30*time.Second {
		t.Errorf("DefaultIdleTimeout = %v, want 30s", server.DefaultIdleTimeout)
	}
	if got := server.HTTPIdleTimeout(openIdle(t, 0)); got != 30*time.Second {
		t.Errorf("idle timeout of a server left at the default: %v, want 30s", got)
	}
	if got := server.HTTPIdleTimeout(openIdle(t, 250*time.Millisecond)); got != 250*time.Millisecond {
		t.Errorf("idle timeout of a server told 250ms: %v", got)
	}
}

// TestIdleConnectionClosed: a keep-alive connection carries several
// requests, and once it has been idle longer than the idle timeout (here
// made short) the server closes it. The wait for the close is bounded by a
// minute against a hang, not a measure.
func TestIdleConnectionClosed(t *testing.T) {
	s := openIdle(t, 100*time.Millisecond)
	c, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := range 3 {
		if err := httpWorks(c); err != nil {
			t.Fatalf("request %d on the kept-alive connection: %v", i+1, err)
		}
	}
	c.SetReadDeadline(time.Now().Add(time.Minute))
	n, err := c.Read(make([]byte, 1))
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		t.Fatal("the idle connection was still open a minute later")
	case n > 0 || !errors.Is(err, io.EOF):
		t.Fatalf("reading the idle connection: %d bytes, %v; want the server to close it (EOF)", n, err)
	}
}
