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

var listeningLog = regexp.MustCompile(`msg="twofold is listening" addr=(\S+) url=(\S+)`)

// TestServeListeningLine: whatever the form of --listen, serve's log line
// and its stdout name the same address bound and the same URL to open, one
// that answers: http://localhost:PORT on loopback and on every address.
func TestServeListeningLine(t *testing.T) {
	for _, listen := range []string{"127.0.0.1:0", ":0", "0.0.0.0:0", "[::1]:0", "localhost:0"} {
		t.Run(listen, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			tm := newTestMain(t, time.Now(), "")
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- tm.Run(ctx, []string{"serve", "--listen", listen, "--db", "sqlite:" + filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key")})
			}()
			defer func() {
				cancel()
				if err := <-done; err != nil {
					t.Errorf("serve: %v", err)
				}
			}()
			addr := waitListening(t, tm.stdout, done)
			out := tm.stdout.String()
			for end := time.Now().Add(time.Minute); !strings.Contains(out, "/setup/") && time.Now().Before(end); out = tm.stdout.String() {
				time.Sleep(5 * time.Millisecond) // the lines after "listening on" are printed a moment later
			}
			m := listeningLog.FindStringSubmatch(tm.stderr.String())
			if m == nil {
				t.Fatalf("no listening line in the log %q", tm.stderr.String())
			}
			port := addr[strings.LastIndex(addr, ":"):]
			open := "http://localhost" + port
			if m[1] != addr {
				t.Errorf("the log says addr=%s, stdout %s: want the same", m[1], addr)
			}
			if m[2] != open {
				t.Errorf("the log says url=%s, want %s", m[2], open)
			}
			if want := "open the pages at " + open + " "; !strings.Contains(out, want) {
				t.Errorf("stdout %q: want %q", out, want)
			}
			// Where localhost does not lead to a listener on [::1] (an
			// /etc/hosts without ::1 localhost), serve says so and names
			// the address to open instead.
			if _, ok := localhostReaches(ctx, strings.TrimPrefix(addr, "http://")); !ok {
				if want := "localhost does not lead to this server on this machine"; !strings.Contains(out, want) || !strings.Contains(tm.stderr.String(), want) {
					t.Errorf("stdout %q, log %q: want %q", out, tm.stderr.String(), want)
				}
				if !strings.Contains(out, "open "+addr+" instead") {
					t.Errorf("stdout %q: want it to name %s", out, addr)
				}
				open = addr
			}
			res, err := http.Get(open + "/healthz")
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusOK {
				t.Errorf("GET %s/healthz: got %d, want 200", open, res.StatusCode)
			}
		})
	}
}
