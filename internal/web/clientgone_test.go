package web_test

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/web"
)

// TestClientGoneIsNotAnError: a browser that hangs up before its page (the
// request's context ends while the handler runs) is not logged as an error
// and is answered (counted) as 499, not 500, without a page rendered for
// nobody. On SQLite and PostgreSQL.
func TestClientGoneIsNotAnError(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			if _, err := ts.Service.CreateAccount(context.Background(), core.NewAccount{Username: "mo", Email: "mo@example.com", Password: testPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			r := testenv.NewClient(ts.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "mo", "password": testPassword})
			if r.Status != 200 {
				t.Fatalf("login: %d %s", r.Status, r.Body)
			}
			h, err := credhash.NewHasher(make([]byte, 32))
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			pages, err := web.New(web.Options{Service: ts.Service, Hasher: h, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
			if err != nil {
				t.Fatal(err)
			}
			mux := http.NewServeMux()
			pages.Register(mux)
			ctx, cancel := context.WithCancel(context.Background())
			cancel() // the browser hung up
			req := httptest.NewRequestWithContext(ctx, http.MethodGet, "/settings/security", nil)
			req.AddCookie(&http.Cookie{Name: "twofold_session", Value: r.String("token")})
			w := httptest.NewRecorder()
			mux.ServeHTTP(w, req)
			if w.Code != 499 {
				t.Errorf("got %d, want 499", w.Code)
			}
			if strings.Contains(logs.String(), "level=ERROR") {
				t.Errorf("a browser hanging up is logged as an error:\n%s", logs.String())
			}
		})
	}
}
