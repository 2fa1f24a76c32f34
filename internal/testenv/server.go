package testenv

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
)

// Clock is a settable clock for tests: move it, never sleep.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock set to t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Add moves the clock by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Set sets the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Server is a real Twofold server on 127.0.0.1:0 for a test.
type Server struct {
	*server.Server
	Clock *Clock
	// DBPath is the SQLite file, when the server runs on SQLite.
	DBPath string
}

// ServerOption adjusts a test server's configuration before it starts.
type ServerOption func(*config.Config)

// NewServer starts a server on dsn with a test clock (at a fixed time in
// 2026) and cheap Argon2 parameters, and closes it when the test ends. It
// pushes nothing to webhooks by itself: a test drives deliveries with
// Service.DeliverWebhooks, or starts its server with NewWebhookServer.
func NewServer(tb testing.TB, dsn string, opts ...ServerOption) *Server {
	tb.Helper()
	return newServer(tb, dsn, -1, nil, opts...)
}

// NewLoggedServer is NewServer with log as the server's logger, for tests
// of what the server logs (at which level is log's choice).
func NewLoggedServer(tb testing.TB, dsn string, log *slog.Logger, opts ...ServerOption) *Server {
	tb.Helper()
	return newServer(tb, dsn, -1, log, opts...)
}

// NewWebhookServer is NewServer with the server's own delivery to
// webhooks running, every 20 ms.
func NewWebhookServer(tb testing.TB, dsn string, opts ...ServerOption) *Server {
	tb.Helper()
	return newServer(tb, dsn, 20*time.Millisecond, nil, opts...)
}

func newServer(tb testing.TB, dsn string, webhookEvery time.Duration, log *slog.Logger, opts ...ServerOption) *Server {
	tb.Helper()
	c := config.Default()
	c.Listen = "127.0.0.1:0"
	c.DB = dsn
	c.KeyFile = filepath.Join(tb.TempDir(), "twofold.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	// Above net/http's 5 s after which Shutdown reaps connections that never
	// sent a request (a client transport may dial one and leave it unused).
	c.ShutdownTimeout = 10 * time.Second
	c.LoginBurst = 1000 // the test clock stands still, so buckets never refill; tests of the bucket set their own
	for _, o := range opts {
		o(&c)
	}
	clock := NewClock(time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC))
	// Sweeps run often, so that every test also meets them mid-request.
	s := &Server{Server: &server.Server{Config: c, Logger: log, Now: clock.Now, SweepEvery: 100 * time.Millisecond, WebhookEvery: webhookEvery}, Clock: clock}
	if p, ok := sqlitePath(dsn); ok {
		s.DBPath = p
	}
	if err := s.Open(context.Background()); err != nil {
		tb.Fatalf("start server: %v", err)
	}
	tb.Cleanup(func() {
		// Test clients share the default transport: closing its idle
		// connections, including any dialed but never used, lets the
		// server shut down at once.
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
		if err := s.Close(); err != nil {
			tb.Errorf("close server: %v", err)
		}
	})
	return s
}

func sqlitePath(dsn string) (string, bool) {
	const p = "sqlite:"
	if len(dsn) > len(p) && dsn[:len(p)] == p {
		return dsn[len(p):], true
	}
	return "", false
}

// MakeUndecryptable flips one bit of the sealed secret of factor factorID
// in the database, as bit rot, a bad restore or tampering would: its
// ciphertext no longer decrypts (keyring.ErrUndecryptable).
func (s *Server) MakeUndecryptable(tb testing.TB, factorID string) {
	tb.Helper()
	s.flipSecretBit(tb, factorID)
}

// MendUndecryptable undoes MakeUndecryptable on factor factorID, as an
// operator putting its row back from a backup would: its ciphertext is the
// one sealed at enrolment again, and decrypts.
func (s *Server) MendUndecryptable(tb testing.TB, factorID string) {
	tb.Helper()
	s.flipSecretBit(tb, factorID)
}

// flipSecretBit flips the last bit of factor factorID's sealed secret.
func (s *Server) flipSecretBit(tb testing.TB, factorID string) {
	tb.Helper()
	ctx := context.Background()
	values, err := s.Store.SealedValues(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	for _, v := range values {
		if v.Table != "factors" || v.Row != factorID {
			continue
		}
		changed := bytes.Clone(v.Ciphertext)
		changed[len(changed)-1] ^= 1
		if ok, err := s.Store.Reseal(ctx, v, v.KeyID, changed); !ok || err != nil {
			tb.Fatalf("changing the ciphertext: %v, %v", ok, err)
		}
		return
	}
	tb.Fatalf("factor %s has no sealed secret", factorID)
}
