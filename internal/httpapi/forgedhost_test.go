package httpapi_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// TestForgedHostIgnored: what Twofold hands out (the link of a
// password-reset mail, the server of a push enrolment URI, the Identity
// API's links and challenge) is never built from what a client says of
// the request in X-Forwarded-* or Forwarded. With a base URL set, all of it
// names the base URL, whatever the request's Host too. Without one, a
// client that is not a --trusted-proxy gets the address it connected to,
// however it forges the headers (and whether or not some proxy is
// trusted); from a trusted proxy, the host and scheme it forwards are
// taken, but the mailed link stays the server's own.
func TestForgedHostIgnored(t *testing.T) {
	const base = "https://twofold.example"
	for _, tc := range []struct {
		name      string
		baseURL   string
		proxies   []string
		forgeHost bool // send Host: forwarded.example too
		want      func(addr string) string
	}{
		{"base URL", base, nil, true, func(string) string { return base }},
		{"no proxy trusted", "", nil, false, func(addr string) string { return "http://" + addr }},
		{"not a trusted proxy", "", []string{"192.0.2.0/24"}, false, func(addr string) string { return "http://" + addr }},
		{"a trusted proxy", "", []string{"127.0.0.0/8"}, false, func(string) string { return "https://forwarded.example" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for name, dsn := range testenv.DSNs(t) {
				t.Run(name, func(t *testing.T) {
					t.Parallel()
					forgedHostIgnored(t, dsn(t), tc.baseURL, tc.proxies, tc.forgeHost, tc.want)
				})
			}
		})
	}
}

func forgedHostIgnored(t *testing.T, dsn, baseURL string, proxies []string, forgeHost bool, want func(addr string) string) {
	mb := testenv.NewSMTPServer(t)
	s := testenv.NewServer(t, dsn, mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) {
		c.BaseURL, c.TrustedProxies = baseURL, proxies
	})
	addUser(t, s, "bob")
	addr := s.Addr() // s.URL() may be the base URL, which nothing resolves
	server := want(addr)
	r := testenv.NewClient("http://"+addr).Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": password})
	token := r.String("token")
	if r.Status != 200 || token == "" {
		t.Fatalf("login: got %d %s", r.Status, r.Body)
	}
	forged := func(method, path, auth string, body any) (int, string) {
		t.Helper()
		h := http.Header{
			"Content-Type":      {"application/json"},
			"X-Forwarded-Host":  {"forwarded.example"},
			"X-Forwarded-Proto": {"https"},
			"X-Forwarded-For":   {"203.0.113.9"},
			"Forwarded":         {"host=forwarded.example;proto=https"},
		}
		if forgeHost {
			h.Set("Host", "forwarded.example")
		}
		if baseURL != "" {
			h.Set("X-Forwarded-Proto", "http") // not the base URL's
		}
		if auth != "" {
			h.Set("Authorization", "Bearer "+auth)
		}
		r := testenv.Send(t, nil, testenv.NewRequest(t, method, "http://"+addr+path, body, h))
		return r.Status, string(r.Body) + "\n" + r.Header.Get("Location") + r.Header.Get("WWW-Authenticate")
	}
	// names tells whether body names server, and no other.
	names := func(body string) bool {
		return strings.Contains(body, server) && (strings.Contains(server, "forwarded.example") || !strings.Contains(body, "forwarded.example"))
	}

	if status, body := forged("POST", "/v1/password-reset", "", map[string]string{"username": "bob"}); status != 202 {
		t.Fatalf("asking for a reset: got %d %s", status, body)
	}
	if _, mail := resetMail(t, s, mb, 1); strings.Contains(mail, "forwarded.example") || !strings.Contains(mail, s.BrowserURL()+"/password-reset/") {
		t.Errorf("the reset mail does not link to %s alone:\n%s", s.BrowserURL(), mail)
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
	if err != nil || u.Query().Get("server") != server {
		t.Errorf("the push enrolment URI %q names server %q, want %q", e.URI, u.Query().Get("server"), server)
	}

	auth := map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
		"password": map[string]any{"user": map[string]any{"name": "bob", "domain": map[string]string{"id": "default"}, "password": password}}}}}
	for _, path := range []string{"/v3", "/v3/auth/tokens", "/v3/users"} { // the last a 401, challenging at BASE/v3
		method := "GET"
		var b any
		if path == "/v3/auth/tokens" {
			method, b = "POST", auth
		}
		if status, body := forged(method, path, "", b); !names(body) {
			t.Errorf("%s %s: got %d, naming another server than %s:\n%s", method, path, status, server, body)
		}
	}
}
