package main

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// stalledStdin is a standard input that nobody types into: the first Read
// says so on reading, and each Read blocks until the test ends.
type stalledStdin struct {
	once    sync.Once
	reading chan struct{}
	release chan struct{}
}

func (s *stalledStdin) Read([]byte) (int, error) {
	s.once.Do(func() { close(s.reading) })
	<-s.release
	return 0, io.EOF
}

// TestUserAddInterrupted: SIGINT or SIGTERM (main cancels the context)
// while `user add` waits for the password ends the command at once, saying
// that no account was created, and creates nothing: not the database its
// --create would have made. At the terminal's prompt the same holds (and
// the real terminal gets its echo back).
func TestUserAddInterrupted(t *testing.T) {
	for _, terminal := range []bool{false, true} {
		name := "standard input"
		if terminal {
			name = "terminal"
		}
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dbFile := filepath.Join(dir, "t.db")
			stdin := &stalledStdin{reading: make(chan struct{}), release: make(chan struct{})}
			defer close(stdin.release)
			tm := newTestMain(t, time.Now(), "")
			tm.Stdin = stdin
			if terminal {
				tm.IsTerminal = func() bool { return true }
				// As readTerminalPassword: it returns when the context ends.
				tm.ReadPassword = func(ctx context.Context) (string, error) {
					stdin.once.Do(func() { close(stdin.reading) })
					<-ctx.Done()
					return "", ctx.Err()
				}
			}
			err := runInterrupted(t, tm, stdin, "user", "add", "alice", "--create", "--db", "sqlite:"+dbFile, "--key-file", filepath.Join(dir, "t.key"))
			if err := tm.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "no account created") {
				t.Errorf("got error %v, want an interruption that says no account was created", err)
			}
			if code := exitCode(err); code != 1 {
				t.Errorf("got exit status %d, want 1", code)
			}
			if _, err := os.Stat(dbFile); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("database file after the interruption: %v, want none", err)
			}
		})
	}
}

// TestStdinReadInterrupted: SIGINT or SIGTERM while `code -` or `device
// enrol -` waits for its line on standard input ends it at once, saying
// what was not done, rather than only after a second signal.
func TestStdinReadInterrupted(t *testing.T) {
	for _, tt := range []struct {
		args   []string
		undone string
	}{
		{[]string{"code", "-"}, "no code printed"},
		{[]string{"device", "enrol", "--state", "", "-"}, "nothing enrolled"},
	} {
		t.Run(tt.args[0], func(t *testing.T) {
			if tt.args[0] == "device" {
				tt.args[3] = filepath.Join(t.TempDir(), "device.json")
			}
			stdin := &stalledStdin{reading: make(chan struct{}), release: make(chan struct{})}
			defer close(stdin.release)
			tm := newTestMain(t, time.Now(), "")
			tm.Stdin = stdin
			err := runInterrupted(t, tm, stdin, tt.args...)
			if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), tt.undone) || exitCode(err) != 1 {
				t.Errorf("got %v, want an interruption (exit status 1) that says %q", err, tt.undone)
			}
			if out := tm.stdout.String(); out != "" {
				t.Errorf("got stdout %q, want nothing", out)
			}
		})
	}
}

// runInterrupted runs the command args on tm, interrupts it (as SIGINT
// does: its context ends) once it reads from stdin, and returns what it
// ended with.
func runInterrupted(t *testing.T, tm *testMain, stdin *stalledStdin, args ...string) error {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- tm.Run(ctx, args) }()
	<-stdin.reading
	cancel()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute): // a guard against a hang, not a timing
		t.Fatalf("%v still waits for its input after the interruption", args)
		return nil
	}
}
