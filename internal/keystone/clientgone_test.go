package keystone_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/keystone"
	"github.com/twofold/twofold/internal/testenv"
)

// TestClientGoneIsNotAnError: a client of the Identity API that hangs up
// before its answer (the request's context ends while the handler runs) is
// not logged as an error and is answered (counted) as 499, not 500. On
// SQLite and PostgreSQL.
func TestClientGoneIsNotAnError(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		account(t, s, "dave", false)
		var logs bytes.Buffer
		mux := http.NewServeMux()
		keystone.New(s.Service, slog.New(slog.NewTextHandler(&logs, nil)), s.URL()).Register(mux)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client hung up
		body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"dave","domain":{"id":"default"},"password":"` + password + `"}}}}}`
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v3/auth/tokens", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, req)
		if w.Code != 499 {
			t.Errorf("got %d %s, want 499", w.Code, w.Body)
		}
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("a client hanging up is logged as an error:\n%s", logs.String())
		}
	})
}
