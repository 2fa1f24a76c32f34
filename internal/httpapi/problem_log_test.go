package httpapi

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold/twofold"
)

// TestWriteErrorLogsFaults: an error the server caused is logged with its
// cause, internal or unavailable (a key it cannot read), while the client
// sees only the client-safe message; an answer to the request (a gateway
// that took no message, a wrong code) is not logged as a failure, nor is a
// fault whose request's context ended (the client hung up): that one is 499.
func TestWriteErrorLogsFaults(t *testing.T) {
	cause := errors.New("open /srv/twofold.key: permission denied")
	tests := []struct {
		name   string
		err    error
		status int
		logged bool
	}{
		{"internal", cause, 500, true},
		{"unavailable with a cause", &twofold.Error{Code: twofold.CodeUnavailable, Message: "try again later", Err: cause}, 503, true},
		{"unavailable without one", twofold.Errorf(twofold.CodeUnavailable, "this server sends no text messages"), 503, false},
		{"wrong code", twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), 401, false},
		{"internal, client gone", fmt.Errorf("take token: %w (%w)", context.Canceled, cause), 499, false},
		{"wrong code, client gone", twofold.Errorf(twofold.CodeInvalidCode, "the code was not accepted"), 401, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var log bytes.Buffer
			w := httptest.NewRecorder()
			r := httptest.NewRequest(http.MethodPost, "/v1/login/x/verify", nil)
			if strings.HasSuffix(tt.name, "client gone") {
				ctx, cancel := context.WithCancel(r.Context())
				cancel()
				r = r.WithContext(ctx)
			}
			writeError(w, r, slog.New(slog.NewTextHandler(&log, nil)), tt.err)
			if w.Code != tt.status || w.Header().Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %s, want %d problem+json", w.Code, w.Header().Get("Content-Type"), tt.status)
			}
			if strings.Contains(w.Body.String(), "permission denied") {
				t.Fatalf("the problem shows the cause: %s", w.Body)
			}
			if got := strings.Contains(log.String(), "permission denied"); got != tt.logged {
				t.Fatalf("cause logged: %v, want %v (log %q)", got, tt.logged, log.String())
			}
		})
	}
}
