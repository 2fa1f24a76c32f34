package httpapi_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestReadyzFollowsTheDatabase: /readyz, the load balancer's health check
// ("Running more than one instance"), answers 503 with a problem while the
// instance cannot reach PostgreSQL and 200 again once it can; /healthz, which
// says only that the process runs, stays 200 throughout.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	s := testenv.NewServer(t, testenv.PostgresDSN(t))
	get := func(path string) (int, map[string]any) {
		t.Helper()
		res, err := http.Get(s.URL() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		if res.StatusCode != 200 && res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("GET %s: %d with Content-Type %q, want a problem", path, res.StatusCode, res.Header.Get("Content-Type"))
		}
		return res.StatusCode, body
	}

	if st, _ := get("/readyz"); st != 200 {
		t.Fatalf("readyz with the database up: got %d, want 200", st)
	}
	restore := testenv.CutPostgres(t, s.Config.DB)
	st, body := get("/readyz")
	if st != http.StatusServiceUnavailable || !strings.HasSuffix(body["type"].(string), "/not-ready") {
		t.Errorf("readyz with the database gone: got %d %v, want 503 not-ready", st, body)
	}
	if detail, _ := body["detail"].(string); strings.Contains(detail, "twofold_test") || strings.Contains(detail, "postgres") {
		t.Errorf("readyz problem tells the client about the database: %q", detail)
	}
	if st, _ := get("/healthz"); st != 200 {
		t.Errorf("healthz with the database gone: got %d, want 200", st)
	}
	restore()
	if st, _ := get("/readyz"); st != 200 {
		t.Errorf("readyz with the database back: got %d, want 200", st)
	}
}

// TestFailureLogNamesTheRequest: when PostgreSQL ends every connection, as
// a restart does, the next request is served on new ones; when the
// database is gone, a login and GET /v1/me fail with an unavailable
// problem (503, with Retry-After) that says nothing of the cause, and the
// server's log line for it carries the driver's words and the
// X-Request-Id the client got, so that an operator can find it, and
// nothing the client sent as a secret.
func TestFailureLogNamesTheRequest(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	logs := &testenv.Buffer{}
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", dsn, filepath.Join(t.TempDir(), "twofold.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	s := &server.Server{Config: c, Logger: slog.New(slog.NewJSONHandler(logs, nil))}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ts := &testenv.Server{Server: s}
	addUser(t, ts, "alice")
	token := login(t, ts, "alice").Token

	const secret = "hunter2 is my password"
	login := func() (*http.Response, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest("POST", s.URL()+"/v1/login", strings.NewReader(`{"username":"alice","password":"`+secret+`"}`))
		req.Header.Set("Content-Type", "application/json")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var p map[string]any
		json.NewDecoder(res.Body).Decode(&p)
		res.Body.Close()
		return res, p
	}
	for range 2 {
		if res, p := login(); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("login with the database up: got %d %v, want 401", res.StatusCode, p)
		}
	}
	testenv.TerminatePostgres(t, dsn)
	if res, p := login(); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("login after PostgreSQL ended every connection: got %d %v, want 401 on a new connection", res.StatusCode, p)
	}

	testenv.CutPostgres(t, dsn)
	testenv.TerminatePostgres(t, dsn) // wait for the server to end them
	logged := func(id, path, words string) {
		t.Helper()
		for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
			var rec map[string]any
			if err := json.Unmarshal([]byte(line), &rec); err != nil {
				t.Fatalf("log line %q: %v", line, err)
			}
			if rec["msg"] == "request failed" && rec["request_id"] == id && rec["path"] == path {
				if rec["level"] != "ERROR" || !strings.Contains(rec["err"].(string), words) {
					t.Errorf("log line of %s: %v, want an error with the driver's %q", path, rec, words)
				}
				return
			}
		}
		t.Errorf("no log line of the failed request %s with request_id %q:\n%s", path, id, logs)
	}
	unavailable := func(what string, res *http.Response, p map[string]any) {
		t.Helper()
		if res.StatusCode != http.StatusServiceUnavailable || res.Header.Get("Content-Type") != "application/problem+json" ||
			p["type"] != "https://twofold.dev/problems/unavailable" || p["detail"] != "the database is not reachable; try again shortly" {
			t.Errorf("%s with the database gone: got %d %v, want 503 unavailable", what, res.StatusCode, p)
		}
		if res.Header.Get("Retry-After") == "" {
			t.Errorf("%s with the database gone: no Retry-After", what)
		}
	}
	res, p := login()
	unavailable("login", res, p)
	logged(res.Header.Get("X-Request-Id"), "POST /v1/login", "not currently accepting connections")

	req, _ := http.NewRequest("GET", s.URL()+"/v1/me", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	p = nil
	json.NewDecoder(res.Body).Decode(&p)
	res.Body.Close()
	unavailable("GET /v1/me", res, p)
	logged(res.Header.Get("X-Request-Id"), "GET /v1/me", "not currently accepting connections")
	if strings.Contains(logs.String(), secret) {
		t.Error("the log holds the password the client sent")
	}
}

// TestRequestID: a client's X-Request-Id is kept when it is a short token of
// letters, digits and . _ -, so that it can be followed through proxies and
// logs; anything else is replaced by one of the server's, so that nothing a
// client chooses can forge a log line.
func TestRequestID(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	generated := regexp.MustCompile(`^[0-9a-f]{16}$`)
	for sent, kept := range map[string]bool{
		"":                      false,
		"lb-7f3a.2_x":           true,
		strings.Repeat("a", 64): true,
		strings.Repeat("a", 65): false,
		"a b":                   false,
		`a"b`:                   false,
		"é":                     false,
		`x","msg":"forged`:      false,
	} {
		req, _ := http.NewRequest("GET", s.URL()+"/v1/time", nil)
		if sent != "" {
			req.Header.Set("X-Request-Id", sent)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := res.Header.Get("X-Request-Id")
		if kept && got != sent || !kept && !generated.MatchString(got) {
			t.Errorf("sent X-Request-Id %q: got %q back, want it kept: %v", sent, got, kept)
		}
	}
}

// TestHealthPathsRefuseOtherMethods: /healthz, /readyz and /metrics asked
// with another method answer a 405 problem with Allow, not the pages' 404.
func TestHealthPathsRefuseOtherMethods(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		res, err := http.Post(s.URL()+path, "text/plain", nil)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != "GET, HEAD" || res.Header.Get("Content-Type") != "application/problem+json" {
			t.Errorf("POST %s: got %d, Allow %q, %q; want a 405 problem allowing GET, HEAD", path, res.StatusCode, res.Header.Get("Allow"), res.Header.Get("Content-Type"))
		}
	}
}
