package cluster_test

import (
	"bytes"
	"context"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPushAcrossInstances: a push device, the real `twofold device`
// process, enrols through instance A and long-polls instance B; a login
// started on A sends a push that B's poll finds in the database, the
// device approves it through B with the number A showed, and of two
// verifications raced on A and B exactly one completes the login.
func TestPushAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, dsn(t), 2)
			a, b := c.nodes[0], c.nodes[1]
			c.addUser(t, "pia")
			r := a.client().Do(t, "POST", "/v1/login", map[string]string{"username": "pia", "password": password})
			cl := a.client()
			cl.Token = r.String("token")
			r = cl.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "phone"})
			want(t, "enrol push", r, 201, "")
			state := filepath.Join(c.dir, "device.json")
			out := c.run(t, "", "device", "enrol", "--state", state, r.String("enrolment_uri"))
			if !strings.Contains(out, `enrolled "phone" for pia at `+a.url) {
				t.Fatalf("device enrol printed:\n%s", out)
			}

			// The device waits on B before the push is made on A.
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			dev := exec.CommandContext(ctx, binary, "device", "watch", "--state", state, "--once", "--server", b.url, "--wait", "30s")
			dev.Dir, dev.Env = c.dir, env()
			stdin, err := dev.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			stdout := &testenv.Buffer{}
			var stderr bytes.Buffer
			dev.Stdout, dev.Stderr = stdout, &stderr
			if err := dev.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- dev.Wait() }()
			waitFor(t, stdout, "waiting for sign-in requests")

			loginID := startLogin(t, a, "pia")
			ch := a.client().Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "push"})
			want(t, "push on A", ch, 202, "")
			want(t, "verify before the answer", verify(t, b, loginID, map[string]string{"method": "push", "push_secret": ch.String("push_secret")}), 409, "push-pending")
			waitFor(t, stdout, "Type the number")
			if _, err := io.WriteString(stdin, ch.String("number")+"\n"); err != nil {
				t.Fatal(err)
			}
			select {
			case err := <-done:
				if err != nil {
					t.Fatalf("device watch: %v\n%s%s", err, stdout.String(), stderr.String())
				}
			case <-ctx.Done():
				t.Fatalf("device watch did not finish:\n%s", stdout.String())
			}
			if o := stdout.String(); !strings.Contains(o, "a request to sign in as pia") || !strings.HasSuffix(strings.TrimSpace(o), "approved") {
				t.Fatalf("device watch printed:\n%s", o)
			}

			results := make([]testenv.Response, 2)
			var wg sync.WaitGroup
			for i, n := range []*node{a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					results[i] = n.client().Do(t, "POST", "/v1/login/"+loginID+"/verify", map[string]string{"method": "push", "push_secret": ch.String("push_secret")})
				}()
			}
			wg.Wait()
			ok := 0
			for _, r := range results {
				switch r.Status {
				case 200:
					ok++
				case 401, 410:
				default:
					t.Errorf("raced verify: %d %s", r.Status, r.Body)
				}
			}
			if ok != 1 {
				t.Fatalf("raced verifications of one approval: %d succeeded, want 1 (%d %s / %d %s)", ok, results[0].Status, results[0].Body, results[1].Status, results[1].Body)
			}
		})
	}
}

// waitFor waits until the process's output holds s.
func waitFor(t *testing.T, out *testenv.Buffer, s string) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(out.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the device's output within 60s:\n%s", s, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
