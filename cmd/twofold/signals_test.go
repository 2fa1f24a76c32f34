//go:build linux

package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestServeSignals runs the built twofold binary as its own process, as an
// operator's service manager does, and signals it (README "Audit log and
// operations"): SIGHUP is ignored with a warning, the server serving on;
// SIGTERM shuts it down gracefully (status 0); a second SIGTERM while a
// request holds the shutdown exits at once (status 1), cutting it off.
// Linux only: the processes are tied to the test's with PR_SET_PDEATHSIG,
// so that none is left behind even when the test binary itself is killed.
func TestServeSignals(t *testing.T) {
	bin := buildTwofold(t)

	t.Run("SIGHUP ignored, second SIGTERM exits at once", func(t *testing.T) {
		// A shutdown timeout far beyond the test's: only the second
		// SIGTERM can end the wait for the held request.
		p := startServe(t, bin, "--shutdown-timeout", "1h")
		url := p.ready(t)

		p.signal(t, syscall.SIGHUP)
		line := p.stderr.waitLine(t, p, "SIGHUP ignored")
		if !strings.Contains(line, "level=WARN") {
			t.Errorf("SIGHUP log line %q: want a warning", line)
		}
		if code := readyz(t, url); code != http.StatusOK {
			t.Fatalf("/readyz after SIGHUP: got %d, want 200 (the server serves on)", code)
		}

		// A request in flight: its handler is reading a body that never
		// comes (100 Continue says the handler has started reading).
		conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		fmt.Fprintf(conn, "POST /v1/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\nExpect: 100-continue\r\n\r\n")
		conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
		status, err := bufio.NewReader(conn).ReadString('\n')
		if err != nil || !strings.HasPrefix(status, "HTTP/1.1 100 ") {
			t.Fatalf("held request: got %q, %v; want 100 Continue", status, err)
		}

		p.signal(t, syscall.SIGTERM)
		p.stderr.waitLine(t, p, "shutting down")
		p.signal(t, syscall.SIGTERM)
		if code := p.wait(t); code != 1 {
			t.Errorf("exit status after a second SIGTERM: got %d, want 1\nstderr:\n%s", code, p.stderr)
		}
		if err := p.stderr.has("second SIGTERM while shutting down: exiting at once"); err != nil {
			t.Error(err)
		}
		// The held request was cut off with the process.
		conn.SetReadDeadline(time.Now().Add(time.Minute))
		var ne net.Error
		if _, err := conn.Read(make([]byte, 1)); err == nil || errors.As(err, &ne) && ne.Timeout() {
			t.Errorf("the held request's connection is still open after the exit (read: %v)", err)
		}
	})

	t.Run("SIGTERM with nothing in flight exits 0", func(t *testing.T) {
		p := startServe(t, bin)
		p.ready(t)
		p.signal(t, syscall.SIGTERM)
		// Status 0: the shutdown finished within --shutdown-timeout (15s by
		// default); one that ran out would exit 1, saying so.
		if code := p.wait(t); code != 0 {
			t.Errorf("exit status after SIGTERM: got %d, want 0\nstderr:\n%s", code, p.stderr)
		}
		if err := p.stderr.has("shutting down"); err != nil {
			t.Error(err)
		}
		if strings.Contains(p.stderr.String(), "cut off") {
			t.Errorf("stderr says requests were cut off, with none in flight:\n%s", p.stderr)
		}
	})
}

// deadline bounds every wait of TestServeSignals: past it the test fails
// (it never asserts how long anything took).
const deadline = 2 * time.Minute

// buildTwofold builds this command into a temporary directory.
func buildTwofold(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command, to build twofold: %v", err)
	}
	bin := filepath.Join(t.TempDir(), "twofold")
	build := exec.Command(goTool, "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// served is a twofold process: `twofold serve`, `twofold device watch`.
type served struct {
	cmd            *exec.Cmd
	stdout, stderr *watchedOutput
	exited         chan struct{} // closed when Wait has returned
}

// startServe starts `twofold serve` on 127.0.0.1:0 over a new SQLite
// database, with args.
func startServe(t *testing.T, bin string, args ...string) *served {
	t.Helper()
	dir := t.TempDir()
	args = append([]string{"serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + filepath.Join(dir, "t.db"),
		"--key-file", filepath.Join(dir, "t.key")}, args...)
	return startTwofold(t, bin, dir, nil, args...)
}

// startTwofold starts the twofold binary bin with args in dir, its standard
// input stdin (nil for none). However the test ends, the process is killed
// and waited for; a process that outlives even SIGKILL fails the test
// rather than hang it.
func startTwofold(t *testing.T, bin, dir string, stdin io.Reader, args ...string) *served {
	t.Helper()
	p := &served{cmd: exec.Command(bin, args...), stdout: newWatchedOutput(), stderr: newWatchedOutput(), exited: make(chan struct{})}
	p.cmd.Dir, p.cmd.Stdin, p.cmd.Stdout, p.cmd.Stderr = dir, stdin, p.stdout, p.stderr
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TWOFOLD_") { // only the flags given here
			p.cmd.Env = append(p.cmd.Env, kv)
		}
	}
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.WaitDelay = 10 * time.Second // Wait returns even if the output pipes were held open
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start twofold %s: %v", args[0], err)
	}
	go func() {
		p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			p.cmd.Process.Kill()
			select {
			case <-p.exited:
			case <-time.After(deadline):
				t.Errorf("twofold %s (pid %d) did not exit after SIGKILL", args[0], p.cmd.Process.Pid)
			}
		}
		if t.Failed() {
			t.Logf("twofold %s stderr:\n%s", args[0], p.stderr)
		}
	})
	return p
}

var listeningLine = regexp.MustCompile(`twofold listening on (http://\S+)`)

// ready waits for the address the server prints, then for /readyz to
// answer 200, and returns the server's URL.
func (p *served) ready(t *testing.T) string {
	t.Helper()
	url := listeningLine.FindStringSubmatch(p.stdout.waitLine(t, p, "twofold listening on"))[1]
	stop := time.Now().Add(deadline)
	for readyz(t, url) != http.StatusOK {
		if time.Now().After(stop) {
			t.Fatalf("/readyz did not answer 200 within %s", deadline)
		}
		select {
		case <-p.exited:
			t.Fatalf("twofold serve exited before it was ready (%s)", p.cmd.ProcessState)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return url
}

// readyz returns the status of GET /readyz, 0 when there is no answer.
func readyz(t *testing.T, url string) int {
	t.Helper()
	c := &http.Client{Timeout: 30 * time.Second}
	res, err := c.Get(url + "/readyz")
	if err != nil {
		return 0
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res.StatusCode
}

func (p *served) signal(t *testing.T, s syscall.Signal) {
	t.Helper()
	if err := p.cmd.Process.Signal(s); err != nil {
		t.Fatalf("send %s: %v", s, err)
	}
}

// wait waits for the process to exit and returns its exit status (-1 when
// a signal ended it).
func (p *served) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.exited:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(deadline):
		t.Fatalf("twofold %s did not exit within %s", p.cmd.Args[1], deadline)
		return 0
	}
}

// watchedOutput is a process's output that a test can wait on.
type watchedOutput struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed, and replaced, at each write
}

func newWatchedOutput() *watchedOutput { return &watchedOutput{changed: make(chan struct{})} }

func (w *watchedOutput) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	close(w.changed)
	w.changed = make(chan struct{})
	return w.b.Write(p)
}

func (w *watchedOutput) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// has returns an error unless the output holds s.
func (w *watchedOutput) has(s string) error {
	if out := w.String(); !strings.Contains(out, s) {
		return fmt.Errorf("output does not say %q:\n%s", s, out)
	}
	return nil
}

// waitLine waits for a whole line holding s and returns it; the process
// exiting first, or the deadline passing, fails the test.
func (w *watchedOutput) waitLine(t *testing.T, p *served, s string) string {
	t.Helper()
	timeout := time.After(deadline)
	for {
		w.mu.Lock()
		out, changed := w.b.String(), w.changed
		w.mu.Unlock()
		for line := range strings.Lines(out) {
			if strings.Contains(line, s) && strings.HasSuffix(line, "\n") {
				return line
			}
		}
		select {
		case <-changed:
		case <-p.exited:
			if w.String() == out {
				t.Fatalf("twofold %s exited (%s) before writing %q", p.cmd.Args[1], p.cmd.ProcessState, s)
			}
		case <-timeout:
			t.Fatalf("twofold %s did not write %q within %s", p.cmd.Args[1], s, deadline)
		}
	}
}

// TestDeviceWatchExitStatus runs the built binary's `device watch` as a
// script or service manager would, and reads its exit status when a
// request is shown at its prompt and no answer comes: SIGINT (Ctrl-C)
// exits 130, the shell's status for it, and SIGTERM 143; standard input
// ending exits 1, saying so in one line. Each leaves the request
// unanswered (the sign-in still waits: 409 push-pending). The server runs
// in the test, its clock set to the real time for the binary's signed
// requests.
func TestDeviceWatchExitStatus(t *testing.T) {
	bin := buildTwofold(t)
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, _ time.Time) {
		for _, tt := range []struct {
			name   string
			sig    syscall.Signal // 0: standard input ends
			status int
			says   string
		}{
			{"SIGINT", syscall.SIGINT, 130, "twofold: stopped by SIGINT at the prompt; the request was left unanswered"},
			{"SIGTERM", syscall.SIGTERM, 143, "twofold: stopped by SIGTERM at the prompt; the request was left unanswered"},
			{"end of input", 0, 1, "twofold: standard input ended at the prompt with no answer; the request was left unanswered"},
		} {
			s.Clock.Set(time.Now())
			loginID, ch := pushLogin(t, s.URL(), "kim")
			// A real pipe, as a script's: the child holds its reading end.
			stdin, typed, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer typed.Close()
			p := startTwofold(t, bin, t.TempDir(), stdin, "device", "watch", "--state", state, "--wait", "5s")
			stdin.Close()
			p.stdout.waitLine(t, p, ", until ") // the request is shown, its prompt next
			if tt.sig != 0 {
				p.signal(t, tt.sig)
			} else {
				typed.Close()
			}
			if code := p.wait(t); code != tt.status {
				t.Errorf("%s: exit status %d, want %d\nstderr:\n%s", tt.name, code, tt.status, p.stderr)
			}
			if lines := strings.Split(strings.TrimSpace(p.stderr.String()), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], tt.says) {
				t.Errorf("%s: stderr %q, want one line %q…", tt.name, p.stderr, tt.says)
			}
			v := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify",
				map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
			if v.Status != 409 {
				t.Errorf("%s: verify after watch stopped: %d %s, want 409 push-pending", tt.name, v.Status, v.Body)
			}
		}
	})
}
