package httpapi_test

import (
	"database/sql"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestReadyzFollowsTheDatabase: /readyz, the load balancer's health check
// ("Running more than one instance"), answers 503 with a problem while the
// instance cannot reach PostgreSQL and 200 again once it can; /healthz, which
// says only that the process runs, stays 200 throughout.
func TestReadyzFollowsTheDatabase(t *testing.T) {
	s := testenv.NewServer(t, testenv.PostgresDSN(t))
	u, err := url.Parse(s.Config.DB)
	if err != nil {
		t.Fatal(err)
	}
	name := strings.TrimPrefix(u.Path, "/")
	admin, err := sql.Open("pgx", os.Getenv(testenv.PostgresEnv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { admin.Close() }) // after the cleanup below that lets connections in again
	allow := func(yes bool) {
		t.Helper()
		setting := "false"
		if yes {
			setting = "true"
		}
		if _, err := admin.Exec("ALTER DATABASE " + name + " ALLOW_CONNECTIONS " + setting); err != nil {
			t.Fatal(err)
		}
		if !yes {
			// Cut the connections the server's pool holds.
			if _, err := admin.Exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", name); err != nil {
				t.Fatal(err)
			}
		}
	}
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
	allow(false)
	t.Cleanup(func() { allow(true) })
	st, body := get("/readyz")
	if st != http.StatusServiceUnavailable || !strings.HasSuffix(body["type"].(string), "/not-ready") {
		t.Errorf("readyz with the database gone: got %d %v, want 503 not-ready", st, body)
	}
	if detail, _ := body["detail"].(string); strings.Contains(detail, name) || strings.Contains(detail, "postgres") {
		t.Errorf("readyz problem tells the client about the database: %q", detail)
	}
	if st, _ := get("/healthz"); st != 200 {
		t.Errorf("healthz with the database gone: got %d, want 200", st)
	}
	allow(true)
	if st, _ := get("/readyz"); st != 200 {
		t.Errorf("readyz with the database back: got %d, want 200", st)
	}
}
