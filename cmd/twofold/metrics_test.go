package main

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

var metricsServingRE = regexp.MustCompile(`serving /metrics on (http://\S+)\n`)

// TestServeMetricsAddr: twofold serve with TWOFOLD_METRICS_ADDR prints the
// address /metrics is served on, which serves the twofold_ metrics, while
// the main listener answers /metrics 404.
func TestServeMetricsAddr(t *testing.T) {
	dir := t.TempDir()
	tm := newTestMain(t, time.Now(), "")
	tm.env = map[string]string{"TWOFOLD_METRICS_ADDR": "127.0.0.1:0"}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		done <- tm.Run(ctx, []string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")})
	}()
	main := waitListening(t, tm.stdout, done)
	var metrics string
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); { // the lines after "listening on" are printed a moment later
		if m := metricsServingRE.FindStringSubmatch(tm.stdout.String()); m != nil {
			metrics = m[1]
			break
		}
		<-time.After(10 * time.Millisecond)
	}
	if metrics == "" || metrics == main {
		t.Fatalf("serve printed no metrics address of its own; stdout %q", tm.stdout.String())
	}
	get := func(url string) (int, string) {
		t.Helper()
		res, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatal(err)
		}
		return res.StatusCode, string(b)
	}
	if status, body := get(metrics + "/metrics"); status != http.StatusOK || !strings.Contains(body, `twofold_connections_refused_total{listener="metrics"}`) {
		t.Errorf("GET %s/metrics: got %d, want 200 with the twofold_ metrics", metrics, status)
	}
	if status, _ := get(main + "/metrics"); status != http.StatusNotFound {
		t.Errorf("GET %s/metrics: got %d, want 404", main, status)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
	if err := tm.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}
