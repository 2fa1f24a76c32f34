package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestForgedHostIgnored: with a base URL set, nothing Twofold hands out is
// built from a request's Host or X-Forwarded-* headers: the link of a
// password-reset mail, the server of a push enrolment URI, and the
// Identity API's catalog all name the base URL, however the request that
// made them named the server.
func TestForgedHostIgnored(t *testing.T) {
	const base = "https://twofold.example"
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.BaseURL = base })
			addUser(t, s, "bob")
			addr := "http://" + s.Addr() // s.URL() is the base URL, which nothing resolves
			r := testenv.NewClient(addr).Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password})
			token := r.String("token")
			if r.Status != 200 || token == "" {
				t.Fatalf("login: got %d %s", r.Status, r.Body)
			}
			forged := func(method, path, auth string, body any) (int, string) {
				t.Helper()
				var rd io.Reader
				if body != nil {
					b, err := json.Marshal(body)
					if err != nil {
						t.Fatal(err)
					}
					rd = bytes.NewReader(b)
				}
				req, err := http.NewRequest(method, addr+path, rd)
				if err != nil {
					t.Fatal(err)
				}
				req.Host = "evil.example"
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Forwarded-Host", "evil.example")
				req.Header.Set("X-Forwarded-Proto", "http")
				req.Header.Set("Forwarded", "host=evil.example;proto=http")
				if auth != "" {
					req.Header.Set("Authorization", "Bearer "+auth)
				}
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer res.Body.Close()
				out, err := io.ReadAll(res.Body)
				if err != nil {
					t.Fatal(err)
				}
				return res.StatusCode, string(out) + "\n" + res.Header.Get("Location") + res.Header.Get("WWW-Authenticate")
			}

			if status, body := forged("POST", "/v1/password-reset", "", map[string]string{"username": "bob"}); status != 202 {
				t.Fatalf("asking for a reset: got %d %s", status, body)
			}
			if _, mail := resetMail(t, s, mb, 1); strings.Contains(mail, "evil.example") || !strings.Contains(mail, base+"/password-reset/") {
				t.Errorf("the reset mail does not link to %s alone:\n%s", base, mail)
			}

			status, body := forged("POST", "/v1/me/factors", token, map[string]string{"type": "push", "label": "laptop"})
			if status != 201 {
				t.Fatalf("adding a push device: got %d %s", status, body)
			}
			var e struct {
				URI string `json:"enrolment_uri"`
			}
			if err := json.Unmarshal([]byte(strings.SplitN(body, "\n", 2)[0]), &e); err != nil {
				t.Fatal(err)
			}
			u, err := url.Parse(e.URI)
			if err != nil || u.Query().Get("server") != base {
				t.Errorf("the push enrolment URI %q names server %q, want %q", e.URI, u.Query().Get("server"), base)
			}

			auth := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
				"password": map[string]any{"user": map[string]any{"name": "bob", "domain": map[string]string{"id": "default"}, "password": password}}}}}
			for _, path := range []string{"/v3", "/v3/auth/tokens"} {
				method := "GET"
				var b any
				if path == "/v3/auth/tokens" {
					method, b = "POST", auth
				}
				if status, body := forged(method, path, "", b); strings.Contains(body, "evil.example") || !strings.Contains(body, base) {
					t.Errorf("%s %s: got %d, naming another server than %s:\n%s", method, path, status, base, body)
				}
			}
		})
	}
}
