// Package cluster_test proves that several `twofold serve` processes on one
// database behave as one server (SPEC §4 "Beyond one machine", §1 stories 8
// and 9; issue 6 item 1): the real binary, built once, runs as separate
// processes on loopback against the real PostgreSQL server (and, on one
// machine, against one SQLite file in WAL mode), with one shared key file.
//
// These tests run on the real clock, because the servers are real processes:
// codes come from oathtool at the time GET /v1/time reports, never from the
// last 3 seconds of a 30 s step (a bounded wait for the next step is the one
// sleep here), and nothing is asserted about timing.
package cluster_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
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

	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// binary is the twofold command built by TestMain.
var binary string

func TestMain(m *testing.M) {
	os.Exit(buildAndRun(m))
}

func buildAndRun(m *testing.M) int {
	dir, err := os.MkdirTemp("", "twofold-cluster-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "twofold")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "cluster tests need the go command to build twofold:", err)
		return 1
	}
	build := exec.Command(goTool, "build", "-o", binary, "github.com/twofold/twofold/cmd/twofold")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build twofold:", err)
		return 1
	}
	return m.Run()
}

const password = "correct horse battery"

// cluster is one database and key file with server processes on it.
type cluster struct {
	dsn, keyFile, dir string
	flags             []string // more settings for the servers
	nodes             []*node
}

// node is one `twofold serve` process.
type node struct {
	name   string
	url    string
	cmd    *exec.Cmd
	stdout *testenv.Buffer // every line the process printed
	stderr *testenv.Buffer
	exited chan struct{}
}

// newCluster creates the database, the key file and the first account's
// schema with `twofold user add`, then starts n servers on it; flags are
// more settings for the servers.
func newCluster(t *testing.T, dsn string, n int, flags ...string) *cluster {
	t.Helper()
	c := &cluster{dsn: dsn, dir: t.TempDir(), flags: flags}
	c.keyFile = filepath.Join(c.dir, "twofold.key")
	// The first command creates the database, the schema and the key file
	// (--create: the administration commands refuse a database that does
	// not exist), so that the servers start on both and never race to
	// create them.
	c.run(t, password+"\n", append([]string{"user", "add", "operator", "--create"}, c.passwords()...)...)
	for i := range n {
		c.nodes = append(c.nodes, c.serve(t, string(rune('A'+i))))
	}
	return c
}

// store are the options every command gets: the shared database and key
// file (each command refuses the settings it does not read).
func (c *cluster) store() []string {
	return []string{"--db", c.dsn, "--key-file", c.keyFile}
}

// passwords are the options of the commands that hash passwords (serve,
// user add): cheap Argon2, so that password logins do not dominate.
func (c *cluster) passwords() []string {
	return append(c.store(), "--argon2-memory", "8192", "--argon2-iterations", "1")
}

// common are the options of the servers: those above and the cluster's own.
func (c *cluster) common() []string {
	return append(c.passwords(), c.flags...)
}

// env is the process environment without TWOFOLD_* settings, so that only
// the flags given here configure the servers.
func env() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "TWOFOLD_") {
			out = append(out, kv)
		}
	}
	return out
}

// run runs a twofold command to completion and returns its standard output.
func (c *cluster) run(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = c.dir, env(), strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("twofold %s: %v\n%s%s", strings.Join(args, " "), err, stdout.String(), stderr.String())
	}
	return stdout.String()
}

func (c *cluster) addUser(t *testing.T, name string) {
	t.Helper()
	c.run(t, password+"\n", append([]string{"user", "add", name}, c.passwords()...)...)
}

var listening = regexp.MustCompile(`twofold listening on (http://\S+)`)

// serve starts `twofold serve` on 127.0.0.1:0 and waits for the address it
// prints. The process is stopped with SIGTERM when the test ends.
func (c *cluster) serve(t *testing.T, name string) *node {
	t.Helper()
	args := append([]string{"serve", "--listen", "127.0.0.1:0", "--login-rate", "0", "--log-level", "warn", "--shutdown-timeout", "5s"}, c.common()...)
	n := &node{name: name, cmd: exec.Command(binary, args...), stdout: &testenv.Buffer{}, stderr: &testenv.Buffer{}, exited: make(chan struct{})}
	n.cmd.Dir, n.cmd.Env, n.cmd.Stderr = c.dir, env(), n.stderr
	stdout, err := n.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := n.cmd.Start(); err != nil {
		t.Fatalf("start server %s: %v", name, err)
	}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			fmt.Fprintln(n.stdout, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case urls <- m[1]:
				default:
				}
			}
		}
		io.Copy(io.Discard, stdout)
		n.cmd.Wait()
		close(n.exited)
	}()
	t.Cleanup(func() {
		n.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-n.exited:
		case <-time.After(time.Minute): // a bound against a hang on a loaded machine
			n.cmd.Process.Kill()
			<-n.exited
			t.Errorf("server %s did not stop within a minute of SIGTERM", name)
		}
		if t.Failed() {
			t.Logf("server %s stderr:\n%s", name, n.stderr.String())
		}
	})
	select {
	case n.url = <-urls:
	case <-n.exited:
		t.Fatalf("server %s exited before listening:\n%s", name, n.stderr.String())
	case <-time.After(time.Minute): // a bound against a hang on a loaded machine
		t.Fatalf("server %s did not print its address within a minute:\n%s", name, n.stderr.String())
	}
	return n
}

func (n *node) client() *testenv.Client { return testenv.NewClient(n.url) }

// now returns the server's time from GET /v1/time. In the last 3 seconds of
// a 30 s step it first waits for the next step, so that a code computed for
// the returned time is still current when it arrives.
func (n *node) now(t *testing.T) time.Time {
	t.Helper()
	for range 3 {
		r := n.client().Do(t, "GET", "/v1/time", nil)
		unix, ok := r.JSON["unix"].(float64)
		if r.Status != 200 || !ok {
			t.Fatalf("GET /v1/time on %s: got %d %s", n.name, r.Status, r.Body)
		}
		sec := int64(unix)
		left := 30 - sec%30
		if left > 3 {
			return time.Unix(sec, 0)
		}
		time.Sleep(time.Duration(left)*time.Second + 100*time.Millisecond) // until the next step starts
	}
	t.Fatalf("%s: could not get a time away from a step boundary", n.name)
	return time.Time{}
}

// code returns the current TOTP code of secret by n's clock, from oathtool.
func (n *node) code(t *testing.T, secret string) string {
	t.Helper()
	return testenv.TOTP(t, secret, n.now(t))
}

// sharedCode reports whether code is also the code of a factor other than
// factors[r] within a step either side of now.
func sharedCode(t *testing.T, now time.Time, code string, factors []factor, r int) bool {
	t.Helper()
	for j, f := range factors {
		for _, d := range []time.Duration{-30 * time.Second, 0, 30 * time.Second} {
			if j != r && testenv.TOTP(t, f.secret, now.Add(d)) == code {
				return true
			}
		}
	}
	return false
}

// factor is an enrolled TOTP factor.
type factor struct {
	id, secret string
}

// account is a user with one or more active TOTP factors.
type account struct {
	name    string
	token   string // a password-only session made before the first factor: never elevated
	factors []factor
	codes   []string // recovery codes from the first confirmation
}

// enrol creates user name and enrols k TOTP factors through n, confirming
// each with the code of the previous time step (still inside the ±1 window)
// so that the current step's code is left for the test to use.
func (c *cluster) enrol(t *testing.T, n *node, name string, k int) account {
	t.Helper()
	c.addUser(t, name)
	a := account{name: name}
	r := n.client().Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "authenticated" {
		t.Fatalf("login %s: got %d %s, want authenticated", name, r.Status, r.Body)
	}
	a.token = r.String("token")
	cl := n.client()
	cl.Token = a.token
	for i := range k {
		r := cl.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": fmt.Sprintf("device %d", i)})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s, want 201", r.Status, r.Body)
		}
		f := factor{id: r.JSON["factor"].(map[string]any)["id"].(string), secret: r.String("secret")}
		code := testenv.TOTP(t, f.secret, n.now(t).Add(-30*time.Second))
		r = cl.Do(t, "POST", "/v1/me/factors/"+f.id+"/confirm", map[string]string{"code": code})
		if r.Status != 200 {
			t.Fatalf("confirm: got %d %s, want 200", r.Status, r.Body)
		}
		if rc, ok := r.JSON["recovery_codes"].([]any); ok {
			for _, x := range rc {
				a.codes = append(a.codes, x.(string))
			}
			// Every further factor needs an elevated session; the paper
			// key gives one without spending a code or a recovery code.
			// With one factor the session stays as a login left it.
			if k > 1 {
				r = cl.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": r.String("paper_key")})
				if r.Status != 200 {
					t.Fatalf("elevate: got %d %s, want 200", r.Status, r.Body)
				}
			}
		}
		a.factors = append(a.factors, f)
	}
	return a
}

// startLogin checks the password on n and returns the login transaction.
func startLogin(t *testing.T, n *node, name string) string {
	t.Helper()
	r := n.client().Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "second_factor_required" {
		t.Fatalf("login %s on %s: got %d %s, want second_factor_required", name, n.name, r.Status, r.Body)
	}
	return r.String("login_id")
}

func verify(t *testing.T, n *node, loginID string, body map[string]string) testenv.Response {
	t.Helper()
	return n.client().Do(t, "POST", "/v1/login/"+loginID+"/verify", body)
}

func want(t *testing.T, what string, r testenv.Response, status int, problem string) {
	t.Helper()
	if r.Status != status || (problem != "" && r.Problem() != problem) {
		t.Fatalf("%s: got %d %q (%s), want %d %q", what, r.Status, r.Problem(), r.Body, status, problem)
	}
}

// wrongCode returns a code that no step near t accepts for secret.
func wrongCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := otp.DecodeSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	p := otp.DefaultParams()
	near := map[string]bool{}
	for d := -3; d <= 3; d++ {
		near[otp.TOTP(key, at.Add(time.Duration(d)*p.Period), p)] = true
	}
	for i := 0; ; i++ {
		if c := fmt.Sprintf("%06d", 123456+i*7919); !near[c] {
			return c
		}
	}
}

// TestCluster runs two server processes on one database of each kind and
// proves they behave as one server.
func TestCluster(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCluster(t, dsn(t), 2)
			a, b := c.nodes[0], c.nodes[1]

			t.Run("LoginMovesBetweenInstances", func(t *testing.T) {
				u := c.enrol(t, a, "ann", 1)
				code := b.code(t, u.factors[0].secret)
				// Started on A, finished on B.
				l1 := startLogin(t, a, u.name)
				r := verify(t, b, l1, map[string]string{"method": "totp", "code": code})
				want(t, "verify on B of a login started on A", r, 200, "")
				if r.String("token") == "" {
					t.Fatalf("got no session token: %s", r.Body)
				}
				// The login is used up everywhere.
				want(t, "the same login again on A", verify(t, a, l1, map[string]string{"method": "totp", "code": code}), 410, "login-expired")
				// The code B accepted is refused by A, on a fresh login.
				l2 := startLogin(t, b, u.name)
				want(t, "B's accepted code on A", verify(t, a, l2, map[string]string{"method": "totp", "code": code}), 401, "invalid-code")
			})

			t.Run("APIKeysAndReceiptsAreShared", func(t *testing.T) {
				u := c.enrol(t, a, "cia", 1)
				onA := a.client()
				onA.Token = u.token
				want(t, "elevate on A", onA.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": u.codes[0]}), 200, "")
				r := onA.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "script",
					"permits": []map[string]any{{"service": "account", "resource": "*", "actions": []string{"read"}}}})
				want(t, "make a key on A", r, 201, "")
				id := r.JSON["api_key"].(map[string]any)["id"].(string)
				keyOnB := b.client()
				keyOnB.Token = id + ":" + r.String("secret")
				want(t, "A's key on B", keyOnB.Do(t, "GET", "/v1/me", nil), 200, "")
				// A token issued by B works on A until A revokes the key.
				req, _ := http.NewRequest("POST", b.url+"/v1/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(id, r.String("secret"))
				res, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				var tok struct {
					AccessToken string `json:"access_token"`
				}
				json.NewDecoder(res.Body).Decode(&tok)
				res.Body.Close()
				tokOnA := a.client()
				tokOnA.Token = tok.AccessToken
				want(t, "B's token of the key on A", tokOnA.Do(t, "GET", "/v1/me", nil), 200, "")
				want(t, "revoke the key on A", onA.Do(t, "DELETE", "/v1/me/api-keys/"+id, nil), 204, "")
				want(t, "the revoked key on B", keyOnB.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
				want(t, "the revoked key's token on A", tokOnA.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")

				// An auth receipt of the Identity API from A, completed on B.
				body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"cia","domain":{"id":"default"},"password":"` + password + `"}}}}}`
				res, err = http.Post(a.url+"/v3/auth/tokens", "application/json", strings.NewReader(body))
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				receipt := res.Header.Get("Openstack-Auth-Receipt")
				if res.StatusCode != 401 || receipt == "" {
					t.Fatalf("password alone on A: %d, receipt %q", res.StatusCode, receipt)
				}
				body = `{"auth":{"identity":{"methods":["totp"],"totp":{"user":{"name":"cia","domain":{"id":"default"},"passcode":"` + b.code(t, u.factors[0].secret) + `"}}}}}`
				req, _ = http.NewRequest("POST", b.url+"/v3/auth/tokens", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Openstack-Auth-Receipt", receipt)
				res, err = http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if res.StatusCode != 201 || res.Header.Get("X-Subject-Token") == "" {
					t.Fatalf("A's receipt completed on B: %d", res.StatusCode)
				}
			})

			t.Run("SessionsElevationRecoveryCodesAreShared", func(t *testing.T) {
				u := c.enrol(t, a, "bea", 1)
				// Confirming the factor elevated the enrolling session; a
				// session that is not elevated is one signed in with the
				// password alone, while two-factor is off at sign-in.
				enroller := a.client()
				enroller.Token = u.token
				want(t, "two-factor off at sign-in", enroller.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}), 200, "")
				r := a.client().Do(t, "POST", "/v1/login", map[string]string{"username": u.name, "password": password})
				if r.Status != 200 || r.String("status") != "authenticated" {
					t.Fatalf("password alone: got %d %s, want authenticated", r.Status, r.Body)
				}
				want(t, "two-factor on at sign-in", enroller.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": true}), 200, "")
				onA, onB := a.client(), b.client()
				onA.Token, onB.Token = r.String("token"), r.String("token")
				// A session made on A works on B.
				r = onB.Do(t, "GET", "/v1/me", nil)
				want(t, "GET /v1/me on B with A's session", r, 200, "")
				if r.String("username") != u.name {
					t.Fatalf("got username %q, want %q", r.String("username"), u.name)
				}
				// Not elevated yet, anywhere; elevated on A, then elevated on B.
				want(t, "regenerate recovery codes on B before elevation", onB.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
				want(t, "elevate on A", onA.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": a.code(t, u.factors[0].secret)}), 200, "")
				r = onB.Do(t, "POST", "/v1/me/recovery-codes", nil)
				want(t, "regenerate recovery codes on B after elevation on A", r, 200, "")
				codes, _ := r.JSON["codes"].([]any)
				if len(codes) != 10 {
					t.Fatalf("got %d recovery codes, want 10: %s", len(codes), r.Body)
				}
				// The set B made voided the first set on A too.
				want(t, "a voided recovery code on A", verify(t, a, startLogin(t, a, u.name), map[string]string{"method": "recovery_code", "code": u.codes[0]}), 401, "invalid-code")
				// Logging out on B ends the session on A.
				if r := onB.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
					t.Fatalf("logout on B: got %d %s, want 204", r.Status, r.Body)
				}
				want(t, "GET /v1/me on A after logout on B", onA.Do(t, "GET", "/v1/me", nil), 401, "")
				// A recovery code used on A is refused on B.
				rc := codes[0].(string)
				want(t, "recovery code on A", verify(t, a, startLogin(t, a, u.name), map[string]string{"method": "recovery_code", "code": rc}), 200, "")
				want(t, "the same recovery code on B", verify(t, b, startLogin(t, b, u.name), map[string]string{"method": "recovery_code", "code": rc}), 401, "invalid-code")
			})

			t.Run("RecoveryEndsSessionsOnEveryInstance", func(t *testing.T) {
				u := c.enrol(t, a, "dee", 1)
				old := b.client()
				old.Token = u.token // made on A
				want(t, "A's session on B", old.Do(t, "GET", "/v1/me", nil), 200, "")
				// A sign-in with the app's code on B ends nothing.
				r := verify(t, b, startLogin(t, b, u.name), map[string]string{"method": "totp", "code": b.code(t, u.factors[0].secret)})
				want(t, "sign-in with the app on B", r, 200, "")
				app := a.client()
				app.Token = r.String("token")
				want(t, "A's session on B after a sign-in with the app", old.Do(t, "GET", "/v1/me", nil), 200, "")
				want(t, "the app's session on A", app.Do(t, "GET", "/v1/me", nil), 200, "")
				// A recovery on A ends both on B and on A at once.
				r = verify(t, a, startLogin(t, a, u.name), map[string]string{"method": "recovery_code", "code": u.codes[0]})
				want(t, "sign-in with a recovery code on A", r, 200, "")
				if r.JSON["other_sessions_ended"] != float64(2) {
					t.Fatalf("sign-in with a recovery code on A: %s, want other_sessions_ended 2", r.Body)
				}
				want(t, "the first session on B right after the recovery on A", old.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
				want(t, "the app's session on A after the recovery", app.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
				onB := b.client()
				onB.Token = r.String("token")
				want(t, "the recovered session on B", onB.Do(t, "GET", "/v1/me", nil), 200, "")
			})

			t.Run("ThrottlingCountsEveryInstance", func(t *testing.T) {
				u := c.enrol(t, a, "cat", 1)
				login := startLogin(t, a, u.name)
				bad := wrongCode(t, u.factors[0].secret, a.now(t))
				// Alternate A, B, A, …: a lock after 3 failures counted on both
				// comes by the 6th attempt; one instance alone would have seen
				// only 3 of them by then and refused none, since it locks after
				// its own 3rd failure and A's 4th attempt is the 7th.
				throttled := 0
				for i := 1; i <= 10 && throttled == 0; i++ {
					n := c.nodes[(i-1)%2]
					r := verify(t, n, login, map[string]string{"method": "totp", "code": bad})
					switch {
					case r.Status == 429:
						if r.Header.Get("Retry-After") == "" {
							t.Fatalf("attempt %d on %s: 429 without Retry-After", i, n.name)
						}
						throttled = i
					case r.Status != 401 || r.Problem() != "invalid-code":
						t.Fatalf("attempt %d on %s: got %d %s, want 401 invalid-code or 429", i, n.name, r.Status, r.Body)
					}
				}
				t.Logf("first 429 at attempt %d", throttled)
				if throttled == 0 || throttled > 6 {
					t.Fatalf("first 429 at attempt %d of wrong codes alternating between A and B, want one by the 6th", throttled)
				}
			})

			t.Run("SameCodeRacedOnBothInstances", func(t *testing.T) {
				// A code is one factor's, used once: 50 rounds need 50 codes,
				// so five accounts have 10 factors each (an account may have
				// 20) and round r races the current code of one factor,
				// each instance on its own login transaction.
				const rounds, perAccount = 50, 10
				users := make([]account, rounds/perAccount)
				for i := range users {
					users[i] = c.enrol(t, a, fmt.Sprintf("dan%d", i), perAccount)
				}
				hc := &http.Client{Timeout: 30 * time.Second}
				won, refused := map[string]int{}, map[int]int{}
				for r := range rounds {
					u, k := users[r/perAccount], r%perAccount
					la, lb := startLogin(t, a, u.name), startLogin(t, b, u.name)
					code := a.code(t, u.factors[k].secret)
					if sharedCode(t, a.now(t), code, u.factors, k) {
						// Six digits of 10 factors over three steps: now and
						// then one string is two factors' codes, which two
						// attempts may each use once.
						t.Logf("round %d: the code is also another factor's; skipped", r)
						continue
					}
					body := `{"method":"totp","code":"` + code + `"}`
					start := make(chan struct{})
					var wg sync.WaitGroup
					status := make([]int, 2)
					errs := make([]error, 2)
					for i, target := range []string{a.url + "/v1/login/" + la + "/verify", b.url + "/v1/login/" + lb + "/verify"} {
						wg.Add(1)
						go func() {
							defer wg.Done()
							<-start
							res, err := hc.Post(target, "application/json", strings.NewReader(body))
							if err != nil {
								errs[i] = err
								return
							}
							io.Copy(io.Discard, res.Body)
							res.Body.Close()
							status[i] = res.StatusCode
						}()
					}
					close(start)
					wg.Wait()
					for i, err := range errs {
						if err != nil {
							t.Fatalf("round %d: request to %s: %v", r, c.nodes[i].name, err)
						}
					}
					wins := 0
					for i, s := range status {
						switch s {
						case 200:
							wins++
							won[c.nodes[i].name]++
						case 401, 429: // refused as replayed, or the slot was taken by the other attempt
							refused[s]++
						default:
							t.Fatalf("round %d: %s answered %d", r, c.nodes[i].name, s)
						}
					}
					if wins != 1 {
						t.Fatalf("round %d: got %d successes (A %d, B %d) for one code raced on both instances, want exactly 1", r, wins, status[0], status[1])
					}
				}
				t.Logf("%d rounds: A won %d, B won %d; the other got 401 %d times, 429 %d times", rounds, won["A"], won["B"], refused[401], refused[429])
			})

			t.Run("KeyRotationWhileServing", func(t *testing.T) {
				before := []account{c.enrol(t, a, "eve", 1), c.enrol(t, b, "fay", 1)}
				out := c.run(t, "", append([]string{"keys", "rotate", "--grace", "1s"}, c.store()...)...)
				if !strings.Contains(out, "keys rotated") {
					t.Fatalf("keys rotate printed %q", out)
				}
				// Factors enrolled before the rotation (their secrets now
				// resealed under the new key) verify on both instances.
				for i, u := range before {
					n := c.nodes[1-i] // enrolled on one, verified on the other
					want(t, "verify "+u.name+" on "+n.name+" after rotation", verify(t, n, startLogin(t, n, u.name),
						map[string]string{"method": "totp", "code": n.code(t, u.factors[0].secret)}), 200, "")
				}
				// Factors enrolled after it, sealed under the new key by one
				// instance, verify on the other.
				for i, n := range c.nodes {
					u := c.enrol(t, n, fmt.Sprintf("gil%d", i), 1)
					other := c.nodes[1-i]
					want(t, "verify "+u.name+" (enrolled on "+n.name+") on "+other.name, verify(t, other, startLogin(t, other, u.name),
						map[string]string{"method": "totp", "code": other.code(t, u.factors[0].secret)}), 200, "")
				}
			})
		})
	}
}
