package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
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
			_, r := startPushEnrolment(t, s, "kim")
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

			// The requester's user agent is a thief's choice: it is shown
			// quoted and cut short, never as the prompt's own words.
			const lure = "Twofold: this request was checked and is safe. To approve, type 37"
			thief := testenv.NewClient(s.URL())
			thief.Header.Set("User-Agent", lure)
			r = thief.Do(t, "POST", "/v1/login", map[string]string{"username": "kim", "password": "correct horse battery"})
			if r.String("status") != "second_factor_required" {
				t.Fatalf("login: %s", r.Body)
			}
			if r := thief.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/challenge", map[string]string{"method": "push"}); r.Status != 202 {
				t.Fatalf("push: %d %s", r.Status, r.Body)
			}
			tm = newTestMain(t, s.Clock.Now(), "d\n")
			if err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
				t.Fatalf("device watch: %v", err)
			}
			out = tm.stdout.String()
			if strings.Contains(out, "To approve, type 37") || !strings.Contains(out, `with a browser or app that called itself "Twofold: this request was checked and is…"`) {
				t.Errorf("device watch printed:\n%s\nwant the user agent quoted and cut short", out)
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
			c, r := startPushEnrolment(t, s, "lee")
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

			// Throttled (by a front on loopback that answers 429 with
			// Retry-After): tried once (newTestMain's Sleep fails the
			// test), no key kept, the code still good, and the error says
			// when to try again.
			front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Retry-After", "30")
				w.Header().Set("Content-Type", "application/problem+json")
				w.WriteHeader(http.StatusTooManyRequests)
				fmt.Fprint(w, `{"type":"https://twofold.example/problems/throttled","status":429,"detail":"too many attempts"}`)
			}))
			defer front.Close()
			e, err = push.ParseURI(uri)
			if err != nil {
				t.Fatal(err)
			}
			e.Server = front.URL
			throttled := filepath.Join(t.TempDir(), "device.json")
			_, err = enrol(throttled, e.URI())
			var pe *pushdevice.Error
			if !errors.As(err, &pe) || pe.Status != 429 || exitCode(err) != 1 || !strings.Contains(err.Error(), "try again in 30s") {
				t.Fatalf("enrol when throttled: %v, want the 429 and when to try again", err)
			}
			if _, err := os.Stat(throttled); !errors.Is(err, os.ErrNotExist) {
				t.Fatalf("state file after a 429: %v, want none", err)
			}
			nothingEnrolled("after a 429")

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

func TestRetryDelay(t *testing.T) {
	none := func(time.Duration) time.Duration { return 0 }
	all := func(n time.Duration) time.Duration { return n }
	for _, tc := range []struct {
		name       string
		failures   int
		retryAfter time.Duration
		jitter     func(time.Duration) time.Duration
		want       time.Duration
	}{
		{"first, no jitter", 1, 0, none, 500 * time.Millisecond},
		{"first, all jitter", 1, 0, all, time.Second},
		{"third doubles twice", 3, 0, all, 4 * time.Second},
		{"capped", 7, 0, all, watchRetryMax},
		{"capped, no jitter", 7, 0, none, watchRetryMax / 2},
		{"far past the cap", 1000, 0, all, watchRetryMax},
		{"retry-after above the backoff", 1, 7 * time.Second, none, 7 * time.Second},
		{"retry-after with jitter", 1, 8 * time.Second, all, 10 * time.Second},
		{"retry-after below the backoff", 7, 2 * time.Second, all, watchRetryMax},
		{"retry-after capped", 1, 24 * time.Hour, none, watchRetryAfterMax},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := retryDelay(tc.failures, tc.retryAfter, tc.jitter); got != tc.want {
				t.Errorf("retryDelay(%d, %v) = %v, want %v", tc.failures, tc.retryAfter, got, tc.want)
			}
		})
	}
	for range 1000 {
		if d := jitter(time.Second); d < 0 || d > time.Second {
			t.Fatalf("jitter(1s) = %v, want 0 to 1s", d)
		}
	}
}

// startPushEnrolment makes an account username on s, signs it in and
// starts the enrolment of a push device labelled "laptop": it returns the
// session and the API's answer, which holds the enrolment URI.
func startPushEnrolment(t *testing.T, s *testenv.Server, username string) (*testenv.Client, testenv.Response) {
	t.Helper()
	if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: username, Email: username + "@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClient(s.URL())
	c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": "correct horse battery"}).String("token")
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "laptop"})
	if r.Status != 201 {
		t.Fatalf("enrol push: %d %s", r.Status, r.Body)
	}
	return c, r
}

// pushDevice makes an account with a push device enrolled by `twofold
// device enrol` on s, and returns the state file and the factor's id.
func pushDevice(t *testing.T, s *testenv.Server, username string) (state, factorID string) {
	t.Helper()
	ctx := context.Background()
	_, r := startPushEnrolment(t, s, username)
	state = filepath.Join(t.TempDir(), "device.json")
	tm := newTestMain(t, s.Clock.Now(), r.String("enrolment_uri")+"\n")
	if err := tm.Run(ctx, []string{"device", "enrol", "--state", state, "-"}); err != nil {
		t.Fatalf("device enrol: %v\n%s", err, tm.stderr.String())
	}
	return state, r.JSON["factor"].(map[string]any)["id"].(string)
}

// pushLogin starts a sign-in of username on the server at base and sends
// a push to its device: the login, and the push's answer (number,
// push_secret).
func pushLogin(t *testing.T, base, username string) (string, testenv.Response) {
	t.Helper()
	r := testenv.NewClient(base).Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": "correct horse battery"})
	if r.String("status") != "second_factor_required" {
		t.Fatalf("login: %s", r.Body)
	}
	loginID := r.String("login_id")
	ch := testenv.NewClient(base).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "push"})
	if ch.Status != 202 {
		t.Fatalf("push: %d %s", ch.Status, ch.Body)
	}
	return loginID, ch
}

// withDevice runs f on each store, in parallel, with a test server on
// which kim has enrolled a push device, whose state file is state, at the
// server's time now.
func withDevice(t *testing.T, f func(t *testing.T, s *testenv.Server, state string, now time.Time)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t))
			state, _ := pushDevice(t, s, "kim")
			f(t, s, state, s.Clock.Now())
		})
	}
}

// fullDisk is standard output on a full disk: every write fails.
type fullDisk struct{}

func (fullDisk) Write([]byte) (int, error) { return 0, syscall.ENOSPC }

// TestDeviceEnrolOutputLost: the first authenticator's recovery codes and
// paper key, shown once, that could not be written out (standard output
// on a full disk) are no success: enrol exits 1 saying the device is
// enrolled and that new codes are made in the settings.
func TestDeviceEnrolOutputLost(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, r := startPushEnrolment(t, s, "kim")
	state := filepath.Join(t.TempDir(), "device.json")
	tm := newTestMain(t, s.Clock.Now(), r.String("enrolment_uri")+"\n")
	tm.Stdout = fullDisk{}
	err := tm.Run(context.Background(), []string{"device", "enrol", "--state", state, "-"})
	if err == nil || exitCode(err) != 1 || !strings.Contains(err.Error(), "recovery codes and paper key could not be written out") ||
		!strings.Contains(err.Error(), "the device is enrolled") {
		t.Fatalf("device enrol with its output lost: got %v (exit status %d), want exit status 1 saying the codes were lost", err, exitCode(err))
	}
	if _, err := pushdevice.Load(state); err != nil {
		t.Errorf("the enrolled device's key: %v", err)
	}
}

// instantSleep is a Main.Sleep that waits for nothing, the clock reading
// now plus the wait, and records each wait in slept (when not nil).
func instantSleep(now time.Time, slept *[]time.Duration) func(time.Duration) <-chan time.Time {
	return func(d time.Duration) <-chan time.Time {
		if slept != nil {
			*slept = append(*slept, d)
		}
		c := make(chan time.Time, 1)
		c <- now.Add(d)
		return c
	}
}

// TestDeviceWatchSurvivesRestart: `twofold device watch` goes on through a
// restart of its server (a deploy): the server stops between two polls,
// the next polls find nothing listening, the device says so once on
// standard error and waits longer each time (the injected Sleep, where the
// test starts the server again on the same address and database at the
// third wait, and signs in with a push), then says once that it polls
// again, and answers the push. A device the server no longer knows
// (its factor removed) gets 401, and that ends watch at once.
func TestDeviceWatchSurvivesRestart(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			db := dsn(t)
			keyFile := filepath.Join(t.TempDir(), "twofold.key")
			on := func(listen string) testenv.ServerOption {
				return func(c *config.Config) { c.Listen, c.KeyFile = listen, keyFile }
			}
			a := testenv.NewServer(t, db, on("127.0.0.1:0"))
			state, factorID := pushDevice(t, a, "kim")
			now := a.Clock.Now()

			var b *testenv.Server
			var loginID string
			var ch testenv.Response
			stdin := &bytes.Buffer{}
			tm := newTestMain(t, now, "")
			tm.Stdin = stdin
			signed := 0
			tm.Now = func() time.Time {
				// The device reads its clock to sign each request: the
				// first poll reaches a, which stops before the second.
				if signed++; signed == 2 {
					if err := a.Close(); err != nil {
						t.Errorf("stop the server: %v", err)
					}
				}
				return now
			}
			var slept []time.Duration
			tm.Sleep = func(d time.Duration) <-chan time.Time {
				// Down for three tries: said once, not at each.
				if slept = append(slept, d); len(slept) == 3 {
					b = testenv.NewServer(t, db, on(a.Addr()))
					loginID, ch = pushLogin(t, b.URL(), "kim")
					stdin.WriteString(ch.String("number") + "\n")
				}
				c := make(chan time.Time, 1)
				c <- now.Add(d)
				return c
			}
			if err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
				t.Fatalf("device watch: %v\nstderr:\n%s", err, tm.stderr.String())
			}
			if b == nil || len(slept) != 3 || slept[0] < watchRetryBase/2 || slept[0] > watchRetryBase || slept[2] < 2*watchRetryBase {
				t.Fatalf("watch waited %v before polling again, want 3 waits, the first from %v to %v, each longer", slept, watchRetryBase/2, watchRetryBase)
			}
			if out := tm.stdout.String(); !strings.Contains(out, "a request to sign in as kim") || !strings.HasSuffix(strings.TrimSpace(out), "approved") {
				t.Fatalf("device watch printed:\n%s\nwant the request and approved", out)
			}
			if e := tm.stderr.String(); strings.Count(e, "poll failed: ") != 1 || !strings.Contains(e, "trying again in") || strings.Count(e, "polling "+a.URL()) != 1 {
				t.Errorf("device watch said on stderr:\n%s\nwant the failed poll and when it tries again, once, and that it polls again, once", e)
			}
			v := testenv.NewClient(b.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
			if v.Status != 200 || v.String("token") == "" {
				t.Fatalf("verify after approval on the device: %d %s", v.Status, v.Body)
			}

			// Removed from the account: 401 ends watch, with no retry.
			c := testenv.NewClient(b.URL())
			c.Token = v.String("token")
			if r := c.Do(t, "DELETE", "/v1/me/factors/"+factorID, nil); r.Status >= 300 {
				t.Fatalf("remove the device: %d %s", r.Status, r.Body)
			}
			tm = newTestMain(t, now, "")
			tm.Sleep = func(d time.Duration) <-chan time.Time {
				t.Fatalf("watch by a removed device waits %v to try again:\n%s", d, tm.stderr.String())
				return nil
			}
			err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--wait", "1s"})
			var pe *pushdevice.Error
			if !errors.As(err, &pe) || pe.Status != 401 || exitCode(err) != 1 {
				t.Fatalf("watch by a removed device: %v, want the server's 401 (exit 1)", err)
			}
		})
	}
}

// TestDeviceWatchRetries: through an HTTP front on loopback that answers the
// device's polls with a 503 and Retry-After in seconds, a 429 with
// Retry-After as a date, a proxy's 502 page, a proxy's 401 page (its own
// sign-in, not the server refusing the device), and its first answer with
// a 503 before it passes everything to the real server, `twofold device
// watch` waits each time (at least as long as Retry-After asks, longer
// after each failure in a row), shows the request again after the answer
// failed, and approves it with the number typed again.
func TestDeviceWatchRetries(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		loginID, ch := pushLogin(t, s.URL(), "kim")

		target, err := url.Parse(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		var mu sync.Mutex
		polls, answers := 0, 0
		problem := func(w http.ResponseWriter, status int, detail string) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"type":"https://twofold.example/problems/unavailable","status":%d,"detail":%q}`, status, detail)
		}
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			poll, answer := 0, 0
			if r.URL.Path == "/v1/push/challenges" {
				polls++
				poll = polls
			} else if strings.HasPrefix(r.URL.Path, "/v1/push/challenges/") {
				answers++
				answer = answers
			}
			mu.Unlock()
			switch {
			case poll == 1:
				w.Header().Set("Retry-After", "7")
				problem(w, 503, "too many devices are waiting on this server: try again shortly")
			case poll == 2:
				w.Header().Set("Retry-After", now.Add(90*time.Second).UTC().Format(http.TimeFormat))
				problem(w, 429, "too many requests")
			case poll == 3:
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(502)
				fmt.Fprint(w, "<html><body>Bad Gateway</body></html>")
			case poll == 4:
				// The proxy's own sign-in, misconfigured for a moment: not
				// the server refusing the device.
				w.Header().Set("Content-Type", "text/html")
				w.WriteHeader(401)
				fmt.Fprint(w, "<html><body>Authorization Required</body></html>")
			case answer == 1:
				problem(w, 503, "deploying")
			default:
				proxy.ServeHTTP(w, r)
			}
		}))
		defer front.Close()

		number := ch.String("number")
		tm := newTestMain(t, now, number+"\n"+number+"\n")
		var slept []time.Duration
		tm.Sleep = instantSleep(now, &slept)
		// A proxy's sign-in in the URL: never printed.
		withPassword := strings.Replace(front.URL, "http://", "http://ops:hunter2@", 1)
		if err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--once", "--wait", "1s", "--server", withPassword}); err != nil {
			t.Fatalf("device watch: %v\nstderr:\n%s", err, tm.stderr.String())
		}
		if all := tm.stdout.String() + tm.stderr.String(); strings.Contains(all, "hunter2") || !strings.Contains(all, "ops:xxxxx@") {
			t.Errorf("device watch printed the --server password, or not the URL without it:\n%s", all)
		}
		want := []struct{ min, max time.Duration }{
			{7 * time.Second, 7*time.Second + 7*time.Second/4},    // Retry-After: 7
			{90 * time.Second, 90*time.Second + 90*time.Second/4}, // Retry-After: a date 90 s on
			{2 * time.Second, 4 * time.Second},                    // the third failure in a row
			{4 * time.Second, 8 * time.Second},                    // the proxy's 401 page, the fourth
			{watchRetryBase / 2, watchRetryBase},                  // the answer's, after a poll that worked
		}
		if len(slept) != len(want) {
			t.Fatalf("watch waited %v, want %d waits", slept, len(want))
		}
		for i, w := range want {
			if slept[i] < w.min || slept[i] > w.max {
				t.Errorf("wait %d: got %v, want from %v to %v", i+1, slept[i], w.min, w.max)
			}
		}
		out := tm.stdout.String()
		if strings.Count(out, "a request to sign in as kim") != 2 || !strings.Contains(out, "the answer could not be sent") || !strings.HasSuffix(strings.TrimSpace(out), "approved") {
			t.Fatalf("device watch printed:\n%s\nwant the request shown twice, the failed answer, and approved", out)
		}
		e := tm.stderr.String()
		for _, w := range []string{"server answered 503", "server answered 429", "server answered 502: Bad Gateway", "server answered 401: Unauthorized", "answer not sent", "trying again in "} {
			if !strings.Contains(e, w) {
				t.Errorf("device watch said on stderr:\n%s\nwant %q", e, w)
			}
		}
		st, err := pushdevice.Load(state)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(e, st.Key) || strings.Contains(e, "sig=") {
			t.Errorf("stderr shows the device's key or a signature:\n%s", e)
		}
		v := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
		if v.Status != 200 || v.String("token") == "" {
			t.Fatalf("verify after approval on the device: %d %s", v.Status, v.Body)
		}
	})
}

// TestDeviceWatchWaitFlag: a --wait the server would refuse (400) is a
// usage error at once, not a poll tried again and again.
func TestDeviceWatchWaitFlag(t *testing.T) {
	for _, wait := range []string{"0s", "-1s", "61s", "2m"} {
		tm := newTestMain(t, time.Now(), "")
		if err := tm.Run(context.Background(), []string{"device", "watch", "--state", filepath.Join(t.TempDir(), "none.json"), "--wait", wait}); exitCode(err) != 2 {
			t.Errorf("device watch --wait %s: %v, want a usage error", wait, err)
		}
	}
}

// TestDeviceEmptyState: an empty --state is a usage error, not an open of
// the file "".
func TestDeviceEmptyState(t *testing.T) {
	for _, args := range [][]string{
		{"device", "enrol", "--state", "", "twofold-push://enrol?server=http://127.0.0.1:1&device=d&token=t&challenge=c"},
		{"device", "watch", "--state", ""},
	} {
		if err := newTestMain(t, time.Now(), "").Run(context.Background(), args); exitCode(err) != 2 {
			t.Errorf("%v: got %v, want a usage error", args, err)
		}
	}
}

// TestDeviceEnrolRefusesOtherURIs: what is not an enrolment URI (a link
// of another scheme, an otpauth URI, a twofold-push URI whose server is
// not http or https, one missing a part), given as the argument or on
// standard input, is a usage error (status 2) saying so, with nothing sent
// and no state file written.
func TestDeviceEnrolRefusesOtherURIs(t *testing.T) {
	for name, uri := range map[string]string{
		"https link":     "https://login.example.com/security",
		"otpauth URI":    "otpauth://totp/Twofold:alice?secret=JBSWY3DPEHPK3PXP",
		"ftp server":     "twofold-push://enrol?server=ftp://login.example.com&device=d&token=t&challenge=c",
		"no server":      "twofold-push://enrol?device=d&token=t&challenge=c",
		"other action":   "twofold-push://watch?server=https://login.example.com&device=d&token=t&challenge=c",
		"no challenge":   "twofold-push://enrol?server=https://login.example.com&device=d&token=t",
		"no scheme":      "login.example.com",
		"empty":          "",
		"not a URI":      "%zz",
		"javascript URI": "javascript:alert(1)",
	} {
		for _, stdin := range []bool{false, true} {
			state := filepath.Join(t.TempDir(), "device.json")
			args, in := []string{"device", "enrol", "--state", state, uri}, ""
			if stdin {
				args[len(args)-1], in = "-", uri+"\n"
			}
			err := newTestMain(t, time.Now(), in).Run(context.Background(), args)
			if exitCode(err) != 2 || !errors.Is(err, push.ErrURI) {
				t.Errorf("%s (stdin %v): got %v (status %d), want a usage error: not an enrolment URI", name, stdin, err, exitCode(err))
			}
			if _, err := os.Stat(state); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s (stdin %v): state file: %v, want none", name, stdin, err)
			}
		}
	}
}

// TestDeviceWatchServerFlag: a --server that is no http(s) URL with a host
// is a usage error at once, not a poll that fails and is tried again for
// ever.
func TestDeviceWatchServerFlag(t *testing.T) {
	for _, server := range []string{"ftp://login.example.com", "login.example.com", "localhost:8080", "http://", "https://login.example.com?x=1", "http://[::1"} {
		tm := newTestMain(t, time.Now(), "")
		if err := tm.Run(context.Background(), []string{"device", "watch", "--state", filepath.Join(t.TempDir(), "none.json"), "--server", server}); exitCode(err) != 2 {
			t.Errorf("device watch --server %s: %v, want a usage error", server, err)
		}
	}
}

// TestDeviceWatchRetriesReplayedPoll: a proxy in front of two instances
// passes the device's second poll to one that takes its nonce and dies
// before answering, then passes the same request to the other
// (proxy_next_upstream), which refuses it as a replay: 401
// replayed-request. `device watch` does not stop for good, telling the
// owner to enrol again, as on the other 401s: it waits, signs its next poll
// afresh, and that poll goes through.
func TestDeviceWatchRetriesReplayedPoll(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		target, err := url.Parse(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var mu sync.Mutex
		var polls []string // each poll's Authorization, and the status the device got
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			n := len(polls) + 1
			mu.Unlock()
			if n == 2 { // the first instance takes it, and its answer is lost
				proxy.ServeHTTP(httptest.NewRecorder(), r)
			}
			rec := httptest.NewRecorder()
			proxy.ServeHTTP(rec, r)
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			w.Write(rec.Body.Bytes())
			mu.Lock()
			polls = append(polls, fmt.Sprintf("%d %s", rec.Code, r.Header.Get("Authorization")))
			mu.Unlock()
			if n == 3 {
				cancel()
			}
		}))
		defer front.Close()
		tm := newTestMain(t, now, "")
		var slept []time.Duration
		tm.Sleep = instantSleep(now, &slept)
		err = tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "1s", "--server", front.URL})
		if err != nil {
			t.Fatalf("device watch stopped on its own poll sent twice: %v\nstderr:\n%s", err, tm.stderr.String())
		}
		mu.Lock()
		defer mu.Unlock()
		if len(polls) != 3 || !strings.HasPrefix(polls[0], "200 ") || !strings.HasPrefix(polls[1], "401 ") || !strings.HasPrefix(polls[2], "200 ") {
			t.Fatalf("polls through the proxy: %q, want 200, the replay's 401, then 200", polls)
		}
		if polls[2][4:] == polls[1][4:] {
			t.Errorf("the poll after the replay was not signed afresh")
		}
		if len(slept) != 1 || slept[0] < watchRetryBase/2 || slept[0] > watchRetryBase {
			t.Errorf("watch waited %v, want once, from %v to %v", slept, watchRetryBase/2, watchRetryBase)
		}
		if e := tm.stderr.String(); !strings.Contains(e, "server answered 401") || !strings.Contains(e, "trying again in") || strings.Contains(e, "enrol it again") {
			t.Errorf("device watch said on stderr:\n%s\nwant the replayed poll and that it tries again, not to enrol again", e)
		}
	})
}

// TestDeviceWatchPrompt: at the prompt, what is neither the two-digit
// number nor a denial (an empty line, "y", one digit) is asked again, not
// sent: the server records a wrong number as a denial, which would end
// push for the owner's own sign-in. Standard input ending, or SIGINT while
// the prompt waits, stops watch at once and leaves the request unanswered,
// for the owner to answer elsewhere or let expire, and is no success: the
// end of input exits 1 saying input ended, SIGINT exits 130.
func TestDeviceWatchPrompt(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		verify := func(loginID string, ch testenv.Response) testenv.Response {
			return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify",
				map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
		}

		loginID, ch := pushLogin(t, s.URL(), "kim")
		tm := newTestMain(t, now, "\ny\n4\n"+ch.String("number")+"\n")
		if err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
			t.Fatalf("device watch: %v\n%s", err, tm.stderr.String())
		}
		if out := tm.stdout.String(); strings.Count(out, "That is not the number") != 3 || !strings.HasSuffix(strings.TrimSpace(out), "approved") {
			t.Fatalf("device watch printed:\n%s\nwant three answers asked again, then approved", out)
		}
		if v := verify(loginID, ch); v.Status != 200 {
			t.Fatalf("verify after approval: %d %s", v.Status, v.Body)
		}

		// Standard input ends after something that is no answer.
		loginID, ch = pushLogin(t, s.URL(), "kim")
		tm = newTestMain(t, now, "yes")
		err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--wait", "1s"})
		if !errors.Is(err, errInputEnded) || !strings.Contains(err.Error(), "the request was left unanswered") || exitCode(err) != 1 {
			t.Fatalf("device watch at the end of its input: got %v (exit status %d), want input ended, the request left unanswered, exit status 1", err, exitCode(err))
		}
		if v := verify(loginID, ch); v.Status != 409 {
			t.Fatalf("verify after watch's input ended: %d %s, want 409 push-pending", v.Status, v.Body)
		}

		// SIGINT while the prompt waits for a line that never comes.
		r, w := io.Pipe()
		defer w.Close()
		tm = newTestMain(t, now, "")
		tm.Stdin = r
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		done := make(chan error, 1)
		go func() { done <- tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "1s"}) }()
		waitPrinted(t, tm.stdout, regexp.MustCompile(`(to approve, or d to deny: )`), done)
		cancel(signalled{os.Interrupt}) // as main does on SIGINT
		select {
		case err := <-done:
			if !errors.As(err, new(signalled)) || !strings.Contains(err.Error(), "the request was left unanswered") || exitCode(err) != 130 {
				t.Fatalf("device watch after SIGINT: got %v (exit status %d), want stopped by SIGINT, the request left unanswered, exit status 130", err, exitCode(err))
			}
		case <-time.After(time.Minute): // a bound against a hang, not a timing
			t.Fatalf("device watch did not stop on SIGINT at its prompt")
		}
		if v := verify(loginID, ch); v.Status != 409 {
			t.Fatalf("verify after watch was stopped: %d %s, want 409 push-pending", v.Status, v.Body)
		}
	})
}

// TestDeviceWatchStoppedWhileAnswering: SIGINT while the answer typed is
// on its way (a front that holds it) is no success either: watch exits
// 130 saying the answer may not have arrived, and the request still waits.
func TestDeviceWatchStoppedWhileAnswering(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		loginID, ch := pushLogin(t, s.URL(), "kim")
		target, err := url.Parse(s.URL())
		if err != nil {
			t.Fatal(err)
		}
		proxy := httputil.NewSingleHostReverseProxy(target)
		answering := make(chan struct{}, 1)
		front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/v1/push/challenges/") {
				// Its body read, so that the server watches the connection
				// and ends the request's context once the device hangs up.
				io.Copy(io.Discard, r.Body)
				answering <- struct{}{}
				<-r.Context().Done() // held until the device gives up on it
				return
			}
			proxy.ServeHTTP(w, r)
		}))
		defer front.Close()

		tm := newTestMain(t, now, ch.String("number")+"\n")
		ctx, cancel := context.WithCancelCause(context.Background())
		defer cancel(nil)
		done := make(chan error, 1)
		go func() {
			done <- tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "1s", "--server", front.URL})
		}()
		select {
		case <-answering:
		case err := <-done:
			t.Fatalf("device watch ended before it answered: %v\n%s", err, tm.stderr.String())
		}
		cancel(signalled{os.Interrupt}) // as main does on SIGINT
		select {
		case err := <-done:
			if !errors.As(err, new(signalled)) || !strings.Contains(err.Error(), "may not have arrived") || exitCode(err) != 130 {
				t.Fatalf("device watch after SIGINT as it answered: got %v (exit status %d), want stopped by SIGINT, the answer maybe not arrived, exit status 130", err, exitCode(err))
			}
		case <-time.After(time.Minute): // a bound against a hang, not a timing
			t.Fatalf("device watch did not stop on SIGINT as it answered")
		}
		v := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
		if v.Status != 409 {
			t.Fatalf("verify after watch was stopped: %d %s, want 409 push-pending", v.Status, v.Body)
		}
	})
}

// TestDeviceWatchClockOff: a device whose clock is minutes off has its
// signed requests refused (401). `device watch` asks the server's time,
// says once that the clock is off and by how much, not that the device was
// removed and must be enrolled again, and keeps trying: once the clock is
// set right (here at the third wait) it polls again and answers the
// request.
func TestDeviceWatchClockOff(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		loginID, ch := pushLogin(t, s.URL(), "kim")
		tm := newTestMain(t, now, ch.String("number")+"\n")
		off := -5 * time.Minute
		tm.Now = func() time.Time { return now.Add(off) }
		var slept []time.Duration
		sleep := instantSleep(now, &slept)
		tm.Sleep = func(d time.Duration) <-chan time.Time {
			if len(slept) == 2 {
				off = 0 // network time reached, at the third wait
			}
			return sleep(d)
		}
		if err := tm.Run(context.Background(), []string{"device", "watch", "--state", state, "--once", "--wait", "1s"}); err != nil {
			t.Fatalf("device watch with its clock off: %v\nstderr:\n%s", err, tm.stderr.String())
		}
		if len(slept) != 3 {
			t.Errorf("watch waited %v, want 3 waits", slept)
		}
		e := tm.stderr.String()
		if strings.Count(e, "this machine's clock is 5m0s behind the server's") != 1 || strings.Contains(e, "enrol it again") ||
			strings.Count(e, "polling "+s.URL()+" again") != 1 {
			t.Errorf("device watch said on stderr:\n%s\nwant the clock 5m0s behind said once, and polling again once", e)
		}
		if out := tm.stdout.String(); !strings.HasSuffix(strings.TrimSpace(out), "approved") {
			t.Fatalf("device watch printed:\n%s\nwant approved", out)
		}
		v := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
		if v.Status != 200 {
			t.Fatalf("verify after approval: %d %s", v.Status, v.Body)
		}
	})
}

// TestDeviceWatchOneAtATime: a second `device watch` on the state file
// one already watches with stops at once, saying so: an instance holds one
// long poll a device, so each would end the other's, and both would show
// the same request. A copy of the state file watching elsewhere is not
// stopped by that; its polls, ended at once by the other's, are taken as
// failures and tried again after the backoff, saying why, rather than at
// once for ever, each ending the other's.
func TestDeviceWatchOneAtATime(t *testing.T) {
	withDevice(t, func(t *testing.T, s *testenv.Server, state string, now time.Time) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		watch := func(state string) (*testMain, chan error) {
			r, w := io.Pipe()
			t.Cleanup(func() { w.Close() })
			tm := newTestMain(t, now, "")
			tm.Stdin = r
			tm.Sleep = instantSleep(now, nil)
			done := make(chan error, 1)
			go func() { done <- tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "5s"}) }()
			waitPrinted(t, tm.stdout, regexp.MustCompile(`(waiting for sign-in requests)`), done)
			return tm, done
		}
		a, aDone := watch(state)

		tm := newTestMain(t, now, "")
		err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "5s"})
		if exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), "in use by another `twofold device watch`") {
			t.Fatalf("a second watch on the same state file: %v, want it refused", err)
		}

		b, err := os.ReadFile(state)
		if err != nil {
			t.Fatal(err)
		}
		copied := filepath.Join(t.TempDir(), "copy.json")
		if err := os.WriteFile(copied, b, 0o600); err != nil {
			t.Fatal(err)
		}
		c, cDone := watch(copied)
		re := regexp.MustCompile("(another `twofold device watch` with this device's key)")
		deadline := time.Now().Add(time.Minute) // a bound against a hang, not a timing
		for !re.MatchString(a.stderr.String()) && !re.MatchString(c.stderr.String()) {
			if time.Now().After(deadline) {
				t.Fatalf("two watches with one key polled for a minute and neither said so:\n%s\n%s", a.stderr.String(), c.stderr.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
		cancel()
		for _, done := range []chan error{aDone, cDone} {
			if err := <-done; err != nil {
				t.Errorf("watch: %v", err)
			}
		}
	})
}

// TestDeviceWatchBadState: a state file that is missing, not JSON, or
// JSON naming no usable server, device or key stops watch at once with
// status 1, saying what is wrong, rather than polling and failing for
// ever.
func TestDeviceWatchBadState(t *testing.T) {
	seed := push.Encode(make([]byte, 32))
	for name, tc := range map[string]struct{ body, want string }{
		"missing":      {"", "enrol the device first"},
		"not JSON":     {`{"server":`, "not valid JSON"},
		"no server":    {`{"device_id":"d","private_key_seed":"` + seed + `"}`, "its server is not an http:// or https:// URL"},
		"ftp server":   {`{"server":"ftp://x","device_id":"d","private_key_seed":"` + seed + `"}`, "its server is not an http:// or https:// URL"},
		"no device id": {`{"server":"http://127.0.0.1:1","private_key_seed":"` + seed + `"}`, "it names no device"},
		"no key":       {`{"server":"http://127.0.0.1:1","device_id":"d"}`, "no valid private key"},
	} {
		state := filepath.Join(t.TempDir(), "device.json")
		if tc.body != "" {
			if err := os.WriteFile(state, []byte(tc.body), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		tm := newTestMain(t, time.Now(), "")
		tm.Sleep = func(d time.Duration) <-chan time.Time {
			t.Errorf("%s: watch tries again:\n%s", name, tm.stderr.String())
			cancel()
			return make(chan time.Time)
		}
		err := tm.Run(ctx, []string{"device", "watch", "--state", state, "--wait", "1s"})
		cancel()
		if exitCode(err) != 1 || err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want status 1 saying %q", name, err, tc.want)
		}
	}
}
