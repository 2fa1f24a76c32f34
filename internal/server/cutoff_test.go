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
	"github.com/twofold/twofold/internal/testenv"
)

// TestCutOffRequestsReturnBeforeTheStoreCloses: a request still running
// when the shutdown timeout runs out is cut off (its context cancelled),
// and what its handler does after that with the store, as a handler does
// after a commit (audit event, notices), still finds the store open: Close
// waits for it to return before closing the store. On SQLite and
// PostgreSQL.
func TestCutOffRequestsReturnBeforeTheStoreCloses(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			c := config.Default()
			c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", dsn(t), filepath.Join(dir, "t.key")
			c.Argon2Memory, c.Argon2Time = 8*1024, 1
			c.ShutdownTimeout = time.Millisecond
			started := make(chan struct{})
			after := make(chan error, 1)
			s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1}
			server.SetWrap(s, func(h http.Handler) http.Handler {
				return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					if r.URL.Path != "/slow" {
						h.ServeHTTP(w, r)
						return
					}
					close(started)
					<-r.Context().Done() // cut off by the shutdown
					// The store as the rest of a handler uses it, on a
					// context that outlives the request's: calls for a
					// second (well within the wait for cut-off handlers,
					// whatever the machine's load), so that a store closed
					// meanwhile is met.
					var err error
					for start := time.Now(); time.Since(start) < time.Second; {
						if _, err = s.Store.HasAccounts(context.Background()); err != nil {
							break
						}
					}
					after <- err
				})
			})
			if err := s.Open(t.Context()); err != nil {
				t.Fatal(err)
			}
			go func() {
				if resp, err := http.Get(s.URL() + "/slow"); err == nil {
					resp.Body.Close()
				}
			}()
			<-started
			err := s.Close()
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("Close: got %v, want the shutdown timeout's error", err)
			}
			if err := <-after; err != nil {
				t.Errorf("the store after the request was cut off: %v, want it still open", err)
			}
		})
	}
}
