package main

import (
	"context"
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
	metrics := waitPrinted(t, tm.stdout, metricsServingRE, done) // printed a moment after "listening on"
	if metrics == main {
		t.Fatalf("serve printed no metrics address of its own; stdout %q", tm.stdout.String())
	}
	if status, body := httpGet(t, metrics+"/metrics"); status != http.StatusOK || !strings.Contains(body, `twofold_connections_refused_total{listener="metrics"}`) {
		t.Errorf("GET %s/metrics: got %d, want 200 with the twofold_ metrics", metrics, status)
	}
	if status, _ := httpGet(t, main+"/metrics"); status != http.StatusNotFound {
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
