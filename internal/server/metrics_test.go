package server_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMetricsAddr: with --metrics-addr, /metrics is served there alone
// (the server's own metrics, requests on the main listener counted) with
// the main listener's header limit, any other path there is 404 and
// another method 405, and the main listener
// answers /metrics 404 like an unknown path; without it the main listener
// serves /metrics. On both stores.
func TestMetricsAddr(t *testing.T) {
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("apart", func(t *testing.T) {
				s := testenv.NewServer(t, newDSN(t), func(c *config.Config) { c.MetricsAddr = "127.0.0.1:0" })
				if s.MetricsAddr() == "" || s.MetricsAddr() == s.Addr() {
					t.Fatalf("got metrics address %q beside the main %q, want one of its own", s.MetricsAddr(), s.Addr())
				}
				main, scrape := testenv.NewClient(s.URL()), testenv.NewClient("http://"+s.MetricsAddr())
				if res := main.Do(t, "GET", "/healthz", nil); res.Status != http.StatusOK {
					t.Fatalf("GET /healthz: got %d, want 200", res.Status)
				}
				res := scrape.Do(t, "GET", "/metrics", nil)
				if res.Status != http.StatusOK {
					t.Fatalf("GET /metrics on the metrics address: got %d, want 200", res.Status)
				}
				for _, want := range []string{
					`twofold_http_requests_total{code="200",route="GET /healthz"} 1`,
					`twofold_connections_refused_total{listener="http"} 0`,
					`twofold_connections_refused_total{listener="metrics"} 0`,
					`twofold_webhooks{state="delivering"} 0`,
				} {
					if !strings.Contains(string(res.Body), want+"\n") {
						t.Errorf("the metrics address's /metrics lacks %s:\n%s", want, grepLines(string(res.Body), "twofold_"))
					}
				}
				if res := scrape.Do(t, "HEAD", "/metrics", nil); res.Status != http.StatusOK {
					t.Errorf("HEAD /metrics on the metrics address: got %d, want 200", res.Status)
				}
				// The main listener's limits: a header over MaxHeaderBytes is 431.
				req, err := http.NewRequest("GET", "http://"+s.MetricsAddr()+"/metrics", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.Header.Set("X-Padding", strings.Repeat("a", server.MaxHeaderBytes+8<<10))
				if resp, err := http.DefaultClient.Do(req); err != nil {
					t.Fatal(err)
				} else if resp.Body.Close(); resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
					t.Errorf("a header over MaxHeaderBytes on the metrics address: got %d, want 431", resp.StatusCode)
				}
				for _, tc := range []struct {
					c            *testenv.Client
					where        string
					method, path string
					status       int
					problem      string
				}{
					{main, "main", "GET", "/metrics", http.StatusNotFound, "not-found"},
					{main, "main", "POST", "/metrics", http.StatusNotFound, "not-found"},
					{main, "main", "GET", "/metrics/", http.StatusNotFound, ""}, // a page's 404, as before
					{scrape, "metrics", "GET", "/healthz", http.StatusNotFound, "not-found"},
					{scrape, "metrics", "GET", "/", http.StatusNotFound, "not-found"},
					{scrape, "metrics", "GET", "/v1/time", http.StatusNotFound, "not-found"},
					{scrape, "metrics", "POST", "/metrics", http.StatusMethodNotAllowed, "method-not-allowed"},
					{scrape, "metrics", "GET", "/metrics%00", http.StatusBadRequest, "invalid"},
				} {
					res := tc.c.Do(t, tc.method, tc.path, nil)
					if res.Status != tc.status {
						t.Errorf("%s %s on the %s listener: got %d, want %d", tc.method, tc.path, tc.where, res.Status, tc.status)
						continue
					}
					if tc.problem == "" {
						continue
					}
					if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") || res.Problem() != tc.problem {
						t.Errorf("%s %s on the %s listener: got %s problem %q, want application/problem+json %q", tc.method, tc.path, tc.where, ct, res.Problem(), tc.problem)
					}
				}
			})
			t.Run("beside", func(t *testing.T) {
				s := testenv.NewServer(t, newDSN(t))
				if a := s.MetricsAddr(); a != "" {
					t.Errorf("got metrics address %q without --metrics-addr, want none", a)
				}
				res := testenv.NewClient(s.URL()).Do(t, "GET", "/metrics", nil)
				if res.Status != http.StatusOK || !strings.Contains(string(res.Body), `twofold_connections_refused_total{listener="http"} 0`+"\n") {
					t.Errorf("GET /metrics on the main listener: got %d, want 200 with the twofold_ metrics:\n%s", res.Status, grepLines(string(res.Body), "twofold_"))
				}
				if strings.Contains(string(res.Body), `listener="metrics"`) {
					t.Errorf("the metrics of a listener that is not there:\n%s", grepLines(string(res.Body), "twofold_connections_refused_total"))
				}
			})
		})
	}
}
