package httpapi_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/httpapi"
	"github.com/twofold/twofold/internal/testenv"
)

// TestClientGoneIsNotAnError: a client that sends a whole request and hangs
// up before the answer (its request's context ends while the handler runs)
// is not an internal error: nothing is logged at ERROR and the request is
// counted as 499, not 500. On SQLite and PostgreSQL.
func TestClientGoneIsNotAnError(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "mo")
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		m := httpapi.NewMetrics()
		mux := http.NewServeMux()
		httpapi.New(s.Service, s.Store, log).Register(mux)
		h := httpapi.Observe(log, m, mux)
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // the client hung up
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/v1/login", strings.NewReader(`{"username":"mo","password":"`+password+`"}`))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != 499 {
			t.Errorf("got %d %s, want 499", w.Code, w.Body)
		}
		if strings.Contains(logs.String(), "level=ERROR") {
			t.Errorf("a client hanging up is logged as an error:\n%s", logs.String())
		}
		w = httptest.NewRecorder()
		m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
		if !strings.Contains(w.Body.String(), `twofold_http_requests_total{code="499",route="POST /v1/login"} 1`) ||
			strings.Contains(w.Body.String(), `code="500"`) {
			t.Errorf("metrics, want the hang-ups as 499 and no 500:\n%s", grepLines(w.Body.String(), "twofold_http_requests_total"))
		}
	})
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
