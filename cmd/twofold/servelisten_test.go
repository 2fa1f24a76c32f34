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

// startServeArgs runs serve with args in the background until the test ends,
// and returns its Main once it listens.
func startServeArgs(t *testing.T, args ...string) *testMain {
	t.Helper()
	tm := newTestMain(t, time.Now(), "")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx, append([]string{"serve"}, args...)) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	waitListening(t, tm.stdout, done)
	return tm
}

// waitFirstRun returns serve's stdout once it has printed its first-run
// line (the setup link, or that setup is pending).
func waitFirstRun(t *testing.T, tm *testMain) string {
	t.Helper()
	out := tm.stdout.String()
	for end := time.Now().Add(time.Minute); !strings.Contains(out, "first run:") && time.Now().Before(end); out = tm.stdout.String() {
		time.Sleep(5 * time.Millisecond) // the lines after "listening on" are printed a moment later
	}
	return out
}

// TestServeOtherLoopback: a server on a loopback address other than
// 127.0.0.1 (which localhost does not lead to) is offered under its own
// address, the setup link too, never as localhost.
func TestServeOtherLoopback(t *testing.T) {
	dir := t.TempDir()
	tm := startServeArgs(t, "--listen", "127.0.0.2:0", "--db", "sqlite:"+filepath.Join(dir, "t.db"), "--key-file", filepath.Join(dir, "t.key"))
	out := waitFirstRun(t, tm)
	m := listeningLog.FindStringSubmatch(tm.stderr.String())
	if m == nil {
		t.Fatalf("no listening line in the log %q", tm.stderr.String())
	}
	if !strings.HasPrefix(m[1], "http://127.0.0.2:") || m[2] != m[1] {
		t.Errorf("the log says addr=%s url=%s: want both http://127.0.0.2:PORT", m[1], m[2])
	}
	if strings.Contains(out, "localhost") || strings.Contains(tm.stderr.String(), "localhost") {
		t.Errorf("localhost offered for a server on 127.0.0.2: stdout %q", out)
	}
	if !strings.Contains(out, "first run: create the operator account at "+m[1]+"/setup/") {
		t.Errorf("stdout %q: want the setup link under %s", out, m[1])
	}
}

// TestServeOneSetupLink: of two servers started on one fresh database, the
// first prints the setup link, and the second says setup is pending
// without a link of its own; the first's link works.
func TestServeOneSetupLink(t *testing.T) {
	dir := t.TempDir()
	db, key := "sqlite:"+filepath.Join(dir, "t.db"), filepath.Join(dir, "t.key")
	first := waitFirstRun(t, startServeArgs(t, "--listen", "127.0.0.1:0", "--db", db, "--key-file", key))
	second := waitFirstRun(t, startServeArgs(t, "--listen", "127.0.0.1:0", "--db", db, "--key-file", key))
	if !strings.Contains(first, "first run: create the operator account at ") {
		t.Fatalf("first server's stdout %q: want the setup link", first)
	}
	if !strings.Contains(second, "first run: setup is pending") || strings.Contains(second, "/setup/") {
		t.Errorf("second server's stdout %q: want setup pending, without a link", second)
	}
	link := regexp.MustCompile(`create the operator account at (\S+)`).FindStringSubmatch(first)[1]
	// A valid link sets its cookie and goes on to the setup page.
	noRedirect := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := noRedirect.Get(link)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("GET the first server's setup link: %d, want 303 to the setup page", res.StatusCode)
	}
}
