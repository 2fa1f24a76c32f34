package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// TestDeviceCommand drives `twofold device` as a person would: enrol with
// the URI the API showed (read from standard input), then watch, approve a
// sign-in by typing the number the sign-in screen shows, and deny another.
func TestDeviceCommand(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "kim", Email: "kim@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			c := testenv.NewClient(s.URL())
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "kim", "password": "correct horse battery"})
			c.Token = r.String("token")
			r = c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "laptop"})
			if r.Status != 201 {
				t.Fatalf("enrol push: %d %s", r.Status, r.Body)
			}
			state := filepath.Join(t.TempDir(), "device.json")

			tm := newTestMain(t, s.Clock.Now(), r.String("enrolment_uri")+"\n")
			if err := tm.Run(ctx, []string{"device", "enrol", "--state", state, "-"}); err != nil {
				t.Fatalf("device enrol: %v\n%s", err, tm.stderr.String())
			}
			out := tm.stdout.String()
			if !strings.Contains(out, `enrolled "laptop" for kim`) || len(regexp.MustCompile(`(?m)^  [a-z0-9]{4}-`).FindAllString(out, -1)) < 10 {
				t.Fatalf("device enrol printed:\n%s\nwant the device and 10 recovery codes", out)
			}
			if fi, err := os.Stat(state); err != nil || fi.Mode().Perm() != 0o600 {
				t.Fatalf("state file: %v %v, want mode 0600", fi.Mode(), err)
			}
			if b, _ := os.ReadFile(state); strings.Contains(string(b), r.String("enrolment_token")) {
				t.Errorf("the state file keeps the enrolment token")
			}
			// Never overwritten.
			tm = newTestMain(t, s.Clock.Now(), r.String("enrolment_uri")+"\n")
			if err := tm.Run(ctx, []string{"device", "enrol", "--state", state, "-"}); exitCode(err) != 2 {
				t.Fatalf("enrol over an existing state: %v, want a usage error", err)
			}

			login := func() string {
				r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "kim", "password": "correct horse battery"})
				if r.String("status") != "second_factor_required" {
					t.Fatalf("login: %s", r.Body)
				}
				return r.String("login_id")
			}
			push := func(loginID string) testenv.Response {
				r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "push"})
				if r.Status != 202 {
					t.Fatalf("push: %d %s", r.Status, r.Body)
				}
				return r
			}
			verify := func(loginID string, ch testenv.Response) testenv.Response {
				return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify",
					map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
			}

			loginID := login()
			ch := push(loginID)
			tm = newTestMain(t, s.Clock.Now(), ch.String("number")+"\n")
			if err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
				t.Fatalf("device watch: %v\n%s", err, tm.stderr.String())
			}
			out = tm.stdout.String()
			if !strings.Contains(out, "a request to sign in as kim") || !strings.Contains(out, "from 127.0.0.1") || !strings.HasSuffix(strings.TrimSpace(out), "approved") {
				t.Fatalf("device watch printed:\n%s\nwant the request's context and approved", out)
			}
			if v := verify(loginID, ch); v.Status != 200 || v.String("token") == "" {
				t.Fatalf("verify after approval on the device: %d %s", v.Status, v.Body)
			}

			loginID = login()
			ch = push(loginID)
			tm = newTestMain(t, s.Clock.Now(), "d\n")
			if err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
				t.Fatalf("device watch: %v", err)
			}
			if !strings.HasSuffix(strings.TrimSpace(tm.stdout.String()), "denied") {
				t.Fatalf("device watch printed:\n%s\nwant denied", tm.stdout.String())
			}
			if v := verify(loginID, ch); v.Status != 401 {
				t.Fatalf("verify after denial: %d %s", v.Status, v.Body)
			}

			// A key others may read is refused.
			if err := os.Chmod(state, 0o644); err != nil {
				t.Fatal(err)
			}
			tm = newTestMain(t, s.Clock.Now(), "")
			if err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--once"}); err == nil || !strings.Contains(err.Error(), "readable by others") {
				t.Fatalf("watch with a 0644 state file: %v", err)
			}
		})
	}
}

func TestDeviceShowsNoEscapes(t *testing.T) {
	for in, want := range map[string]string{
		"Mozilla/5.0 (X11)":        "Mozilla/5.0 (X11)",
		"evil\x1b[2J\x1b[Hclean":   "evil?[2J?[Hclean",
		"abc\u202egnp.exe":         "abc?gnp.exe",
		"line\nbreak\tand\u200bzw": "line?break?and?zw",
	} {
		if got := shown(in); got != want {
			t.Errorf("shown(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestDeviceEnrolKeepsKeyFirst: `twofold device enrol` saves the device's
// key before it registers it, so a state file that cannot be written fails
// with nothing registered (no factor active, two-factor still off, the
// code still good) instead of a factor whose key and recovery codes are
// lost; a refused enrolment leaves no state file behind.
func TestDeviceEnrolKeepsKeyFirst(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "lee", Email: "lee@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			c := testenv.NewClient(s.URL())
			c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": "lee", "password": "correct horse battery"}).String("token")
			r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "laptop"})
			if r.Status != 201 {
				t.Fatalf("enrol push: %d %s", r.Status, r.Body)
			}
			uri := r.String("enrolment_uri")
			enrol := func(state, uri string) (*testMain, error) {
				tm := newTestMain(t, s.Clock.Now(), uri+"\n")
				return tm, tm.Run(ctx, []string{"device", "enrol", "--state", state, "-"})
			}
			nothingEnrolled := func(when string) {
				t.Helper()
				me := c.Do(t, "GET", "/v1/me", nil)
				fs := me.JSON["factors"].([]any)
				if me.JSON["two_factor"].(map[string]any)["enabled"] != false || len(fs) != 1 || fs[0].(map[string]any)["status"] != "pending" {
					t.Fatalf("%s: %s, want two-factor off and the device pending", when, me.Body)
				}
			}

			unwritable := filepath.Join(t.TempDir(), "no-such-dir", "device.json")
			tm, err := enrol(unwritable, uri)
			if exitCode(err) != 1 {
				t.Fatalf("enrol into an unwritable state file: %v, want exit 1", err)
			}
			nothingEnrolled("after a state file that could not be written")
			if !strings.Contains(err.Error(), "nothing was enrolled") || strings.Contains(tm.stdout.String(), "enrolled") {
				t.Fatalf("enrol into an unwritable state file: %v\n%s, want nothing enrolled", err, tm.stdout.String())
			}

			// Refused by the server: the key it never took is not kept.
			e, err := push.ParseURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			e.Token += "x"
			refused := filepath.Join(t.TempDir(), "device.json")
			if _, err := enrol(refused, e.URI()); exitCode(err) != 1 || !strings.Contains(err.Error(), "401") {
				t.Fatalf("enrol with a wrong token: %v, want the server's refusal", err)
			}
			if _, err := os.Stat(refused); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("state file after a refused enrolment: %v, want none", err)
			}
			nothingEnrolled("after a refused enrolment")

			s.Clock.Add(time.Minute) // past the pause a refused enrolment sets
			state := filepath.Join(t.TempDir(), "device.json")
			tm, err = enrol(state, uri)
			if err != nil {
				t.Fatalf("enrol with the same code afterwards: %v\n%s", err, tm.stderr.String())
			}
			if out := tm.stdout.String(); len(regexp.MustCompile(`(?m)^  [a-z0-9]{4}-`).FindAllString(out, -1)) < 10 || !strings.Contains(out, "Paper key") {
				t.Fatalf("device enrol printed:\n%s\nwant 10 recovery codes and the paper key", out)
			}
			if _, err := pushdevice.Load(state); err != nil {
				t.Fatalf("state file: %v", err)
			}
		})
	}
}
