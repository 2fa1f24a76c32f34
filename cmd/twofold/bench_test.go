package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// benchMain returns a Main writing to buffers, with an empty environment.
func benchMain(stdout, stderr *bytes.Buffer) *Main {
	return &Main{
		Stdin: strings.NewReader(""), Stdout: stdout, Stderr: stderr,
		LookupEnv: func(string) (string, bool) { return "", false }, Now: time.Now,
		IsTerminal:   func() bool { return false },
		ReadPassword: func(context.Context) (string, error) { return "", errors.New("no terminal") },
	}
}

// runBenchJSON runs `twofold bench --json` with args and decodes its report.
func runBenchJSON(t *testing.T, args ...string) BenchReport {
	t.Helper()
	var stdout, stderr bytes.Buffer
	m := benchMain(&stdout, &stderr)
	args = append([]string{"bench", "--json", "--argon2-memory", "8192", "--argon2-iterations", "1"}, args...)
	if err := m.Run(context.Background(), args); err != nil {
		t.Fatalf("twofold %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	var rep BenchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("bench --json printed %q: %v", stdout.String(), err)
	}
	return rep
}

func benchPhase(t *testing.T, rep BenchReport, name string) BenchPhase {
	t.Helper()
	for _, p := range rep.Phases {
		if p.Name == name {
			return p
		}
	}
	t.Fatalf("report has no %s phase: %+v", name, rep.Phases)
	return BenchPhase{}
}

// TestBench runs the load tool against real servers on both stores: twice
// in-process (two instances, then one, the second run finding the accounts
// provisioned), then against a server started apart with --target.
func TestBench(t *testing.T) {
	for name, dsnFunc := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn, key := dsnFunc(t), filepath.Join(t.TempDir(), "twofold.key")
			common := []string{"--db", dsn, "--key-file", key, "--accounts", "400", "--concurrency", "4", "--requests", "50"}
			check := func(rep BenchReport, instances, created, existing int) {
				t.Helper()
				if rep.Instances != instances || rep.Dialect != name {
					t.Errorf("got %d instances on %s, want %d on %s", rep.Instances, rep.Dialect, instances, name)
				}
				if rep.Provision.Created != created || rep.Provision.Existing != existing {
					t.Errorf("provisioning: got %d created, %d existing; want %d, %d", rep.Provision.Created, rep.Provision.Existing, created, existing)
				}
				for _, ph := range []string{"baseline", "verify", "password"} {
					p := benchPhase(t, rep, ph)
					if p.Requests != 50 || p.Errors != 0 || p.RanOut {
						t.Errorf("%s: got %d requests, %d errors (%v, %v), ran out %v; want 50 and none", ph, p.Requests, p.Errors, p.ErrorKinds, p.ErrorSample, p.RanOut)
					}
					if p.RPS <= 0 || p.P50ms <= 0 || p.P99ms < p.P90ms || p.P90ms < p.P50ms {
						t.Errorf("%s: implausible figures %+v", ph, p)
					}
					if ph != "baseline" && p.Ratio <= 0 {
						t.Errorf("%s: no ratio to the baseline", ph)
					}
					if p.CPUBusy != nil && (*p.CPUBusy < 0 || *p.CPUBusy > 1) {
						t.Errorf("%s: CPU busy share %v out of range", ph, *p.CPUBusy)
					}
				}
				// Every verification is one step through the SQLite writer.
				switch c := benchPhase(t, rep, "verify").Commits; {
				case name != "sqlite" && c != nil:
					t.Errorf("verify on %s: got SQLite commits %+v", name, c)
				case name == "sqlite" && (c == nil || c.Steps != 50 || c.Commits < 1 || c.Commits > 50 || c.MeanMs <= 0):
					t.Errorf("verify: got SQLite commits %+v, want 50 steps in 1 to 50 commits", c)
				}
				// The password phase spans many clock ticks (Argon2id), so
				// its CPU share is always measured where /proc/stat exists.
				if p := benchPhase(t, rep, "password"); runtime.GOOS == "linux" && (p.CPUBusy == nil || *p.CPUBusy <= 0) {
					t.Errorf("password phase: got CPU busy %v, want a share above 0", p.CPUBusy)
				}
			}

			rep := runBenchJSON(t, append(common, "--instances", "2")...)
			check(rep, 2, 400, 0)
			if rep.Process == nil || len(rep.Process.StartupMs) != 2 || rep.Process.RSSMB <= 0 {
				t.Errorf("got process figures %+v, want start-up of 2 instances and RSS", rep.Process)
			}

			// Provisioned already; the codes of this time step used by the
			// first run are not sent again.
			check(runBenchJSON(t, append(common, "--instances", "1")...), 1, 0, 400)

			// A server started apart, on the real clock, with the per-address
			// bucket off (every bench client comes from 127.0.0.1).
			c := config.Default()
			c.Listen, c.DB, c.KeyFile, c.LoginRate = "127.0.0.1:0", dsn, key, 0
			c.Argon2Memory, c.Argon2Time = 8*1024, 1
			s := &server.Server{Config: c}
			if err := s.Open(context.Background()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			rep = runBenchJSON(t, append(common, "--target", s.URL())...)
			check(rep, 1, 0, 400)
			if rep.InProcess || rep.Process != nil {
				t.Errorf("got in-process figures %+v for a --target run", rep.Process)
			}
			// Again on the same server: only this run's commits are counted.
			check(runBenchJSON(t, append(common, "--target", s.URL())...), 1, 0, 400)

			// Behind a proxy that hides /metrics the run still counts; only
			// the commit figures are missing, and a note says why.
			target, _ := url.Parse(s.URL())
			proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/metrics" {
					http.NotFound(w, r)
					return
				}
				httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
			}))
			t.Cleanup(proxy.Close)
			rep = runBenchJSON(t, append(common, "--target", proxy.URL)...)
			if p := benchPhase(t, rep, "verify"); p.Requests != 50 || p.Errors != 0 || p.Commits != nil {
				t.Errorf("behind a proxy without /metrics: %d requests, %d errors, commits %+v; want 50, 0 and none", p.Requests, p.Errors, p.Commits)
			}
			if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "no SQLite commit figures") }) {
				t.Errorf("no note on the missing commit figures: %v", rep.Notes)
			}
		})
	}
}

// TestBenchAddresses: with --addresses the load comes from that many client
// addresses, each with its own per-address login bucket, which stays on: a
// bucket of 5 refuses none of 50 second steps spread over 50 addresses
// (were the forwarded addresses not believed, all would share 127.0.0.1's
// bucket), then, from the first of them alone, all but the 4 tokens it has
// left.
func TestBenchAddresses(t *testing.T) {
	for name, dsnFunc := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dsn, key := dsnFunc(t), filepath.Join(t.TempDir(), "twofold.key")
			common := []string{"--db", dsn, "--key-file", key, "--accounts", "200", "--concurrency", "4", "--requests", "50",
				"--phases", "verify", "--login-burst", "5", "--login-rate", "0.001"}
			rep := runBenchJSON(t, append(common, "--addresses", "50")...)
			if p := benchPhase(t, rep, "verify"); rep.Addresses != 50 || p.Requests != 50 || p.Errors != 0 {
				t.Errorf("50 addresses: got %d addresses, %d requests, errors %v; want none", rep.Addresses, p.Requests, p.ErrorKinds)
			}
			rep = runBenchJSON(t, append(common, "--addresses", "1")...)
			p := benchPhase(t, rep, "verify")
			if rep.Addresses != 1 || p.Requests != 50 || p.Errors != 46 || p.ErrorKinds["429"] != 46 {
				t.Errorf("one address with 4 tokens left: got %d addresses, %d requests, errors %v; want 46 × 429", rep.Addresses, p.Requests, p.ErrorKinds)
			}
			// The rate is of the 4 verifications that passed, not of the
			// 50 answers.
			if want := 4 / p.Seconds; math.Abs(p.RPS-want) > want*1e-9 {
				t.Errorf("rps %v with 4 answers of 200 in %vs, want %v", p.RPS, p.Seconds, want)
			}
			if !slices.ContainsFunc(rep.Notes, func(n string) bool { return strings.Contains(n, "use more --addresses") }) {
				t.Errorf("no note on the refused load: %v", rep.Notes)
			}
		})
	}
}

// TestBenchRefusesAForeignDatabase: bench accounts have a known password, so
// bench will not add them beside real accounts unless forced, and says how
// many there are ("1 account", not "1 accounts"); it refuses before it
// migrates anything, since servers of an older release may run on that
// database (here: the last migration not yet applied stays so). On SQLite
// and PostgreSQL.
func TestBenchRefusesAForeignDatabase(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			db := dsn(t)
			s := testenv.NewServer(t, db)
			if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "alice", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			ms := testenv.Migrations(t, db)
			last := ms[len(ms)-1]
			testenv.RemoveMigration(t, db, last)
			var stdout, stderr bytes.Buffer
			err := benchMain(&stdout, &stderr).Run(context.Background(), []string{"bench", "--db", db, "--key-file", s.Config.KeyFile, "--accounts", "10"})
			if err == nil || !strings.Contains(err.Error(), "--force") || !strings.Contains(err.Error(), "the database holds 1 account that is not a bench account: ") {
				t.Fatalf("got %v, want a refusal naming --force and the 1 account", err)
			}
			if ms := testenv.Migrations(t, db); slices.Contains(ms, last) {
				t.Errorf("after the refusal, migration %d is applied: bench migrated the database", last)
			}
		})
	}
}

// TestBenchOwnDatabase: bench without --db and --key-file provisions its
// accounts (with their known password) into bench.db with bench.key, never
// into serve's defaults twofold.db and twofold.key, where a later serve
// would run on them and print no setup link.
func TestBenchOwnDatabase(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	var stdout, stderr bytes.Buffer
	args := []string{"bench", "--accounts", "3", "--concurrency", "1", "--requests", "3", "--phases", "baseline", "--json"}
	if err := benchMain(&stdout, &stderr).Run(context.Background(), args); err != nil {
		t.Fatalf("bench: %v\n%s", err, stderr.String())
	}
	for _, name := range []string{"twofold.db", "twofold.key"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("bench made %s (%v)", name, err)
		}
	}
	st, err := store.Open(context.Background(), "sqlite:"+filepath.Join(dir, "bench.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if n, err := st.CountAccounts(context.Background()); err != nil || n != 3 {
		t.Errorf("accounts in bench.db: got %d, %v; want 3", n, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "bench.key")); err != nil {
		t.Errorf("bench.key: %v", err)
	}
}

// TestBenchDNSAddr: --dns-addr (from a configuration shared with serve)
// does not stop a run of two instances, which could not both bind it: the
// instances answer no DNS, which no phase asks, so they bind nothing there,
// not even the one address held here meanwhile.
func TestBenchDNSAddr(t *testing.T) {
	held, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	heldUDP, err := net.ListenPacket("udp", held.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer heldUDP.Close()
	dir := t.TempDir()
	rep := runBenchJSON(t, "--db", "sqlite:"+filepath.Join(dir, "db"), "--key-file", filepath.Join(dir, "key"), "--accounts", "5",
		"--concurrency", "1", "--requests", "5", "--phases", "baseline", "--instances", "2", "--dns-addr", held.Addr().String())
	if rep.Instances != 2 || benchPhase(t, rep, "baseline").Errors != 0 {
		t.Errorf("got %d instances, baseline %+v; want 2 and no errors", rep.Instances, benchPhase(t, rep, "baseline"))
	}
}

func TestBenchUsage(t *testing.T) {
	for name, args := range map[string][]string{
		"remote target":  {"--target", "http://192.0.2.1:8080"},
		"not a URL":      {"--target", "127.0.0.1:8080"},
		"no accounts":    {"--accounts", "0"},
		"five instances": {"--instances", "5"},
		"unknown phase":  {"--phases", "baseline,nap"},
		"an argument":    {"extra"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			dir := t.TempDir()
			args = append([]string{"bench", "--db", "sqlite:" + filepath.Join(dir, "db"), "--key-file", filepath.Join(dir, "key")}, args...)
			if err := benchMain(&stdout, &stderr).Run(context.Background(), args); !errors.Is(err, errUsage) {
				t.Fatalf("got %v, want a usage error", err)
			}
		})
	}
}

// TestBenchInterrupted: a bench stopped by SIGINT or SIGTERM (main cancels
// the context) says it was interrupted and what is kept, not "context
// canceled".
func TestBenchInterrupted(t *testing.T) {
	var stdout, stderr bytes.Buffer
	m := benchMain(&stdout, &stderr)
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := m.Run(ctx, []string{"bench", "--accounts", "1", "--db", "sqlite:" + filepath.Join(dir, "b.db"), "--key-file", filepath.Join(dir, "b.key")})
	if cerr := m.Close(); cerr != nil {
		t.Errorf("Close: %v", cerr)
	}
	if !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted: ") || exitCode(err) != 1 {
		t.Errorf("got %v, want an interruption (exit status 1) that says so", err)
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = i + 1
	}
	for _, tc := range []struct {
		name string
		in   []time.Duration
		p    int
		want float64
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7},
		{"median of four", ms(1, 2, 3, 4), 50, 2},
		{"p90 of 1..100", ms(hundred...), 90, 90},
		{"p99 of 1..100", ms(hundred...), 99, 99},
		{"p100", ms(1, 2, 3), 100, 3},
	} {
		if got := percentile(tc.in, tc.p); got != tc.want {
			t.Errorf("%s: got %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestVerifyPlan: every (account, time step) pair is handed out once, every
// login once, and the plan says when it has run out.
func TestVerifyPlan(t *testing.T) {
	p := &verifyPlan{params: otp.DefaultParams(), n: 3, acct: []int{4, 5, 6}, per: 2,
		logins: []string{"a1", "a2", "b1", "b2", "c1", "c2"}, used: make([]uint8, 3), last: []int64{-1, -1, -1}}
	t0 := time.Unix(1_800_000_000, 0)               // the start of a step
	p.last[1] = int64(otp.Step(t0, 30*time.Second)) // account 5 accepted this step's code before
	seen := map[string]bool{}
	var got []int
	take := func(at time.Time) bool {
		login, a, ok := p.next(at)
		if ok {
			if seen[login] {
				t.Fatalf("login %s handed out twice", login)
			}
			seen[login] = true
			got = append(got, a)
		}
		return ok
	}
	for take(t0) {
	}
	for take(t0.Add(30 * time.Second)) {
	}
	// Step 1: 4 and 6 (5 was used); then the plan has run out, and stays so.
	if want := []int{4, 6}; !equalInts(got, want) || !p.ranOut() {
		t.Fatalf("got accounts %v, ran out %v; want %v and ran out", got, p.ranOut(), want)
	}

	// Next steps: each account once per step until its two logins are gone.
	p.outOfIt, got = false, nil
	for take(t0.Add(30 * time.Second)) {
	}
	p.outOfIt = false
	for take(t0.Add(60 * time.Second)) {
	}
	if want := []int{4, 5, 6, 5}; !equalInts(got, want) {
		t.Fatalf("got accounts %v, want %v", got, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestBenchText: the text report, the form the README quotes, carries every
// figure of the JSON one: the phase table with ratio and CPU share, the SQLite
// writer's commits, error kinds, the process figures and the notes.
func TestBenchText(t *testing.T) {
	busy := 0.66
	rep := BenchReport{
		Dialect: "sqlite", Instances: 1, InProcess: true, Concurrency: 16, Accounts: 60000, CPUs: 2,
		Provision: BenchProvision{Created: 60000, Seconds: 1.25, Logins: 100000, LoginsSeconds: 2.5},
		Phases: []BenchPhase{
			{Name: "baseline", Requests: 240000, RPS: 40000, P50ms: 0.3, P90ms: 0.5, P99ms: 3.1, Maxms: 9.9},
			{Name: "verify", Requests: 42000, RPS: 7000, P50ms: 1.9, P90ms: 3, P99ms: 5.6, Maxms: 50, Errors: 2, Ratio: 0.175, CPUBusy: &busy,
				ErrorKinds: map[string]int{"429": 2}, ErrorSample: map[string]string{"429": "throttled\n"},
				Commits: &BenchCommits{Commits: 6000, Steps: 42000, StepsPerCommit: 7, MeanMs: 0.95}},
		},
		Process: &BenchProcess{StartupMs: []float64{5, 7}, RSSMB: 108.5, PeakRSSMB: 117.4},
		Notes:   []string{"something to know"},
	}
	var b bytes.Buffer
	rep.writeText(&b)
	out := b.String()
	for _, want := range []string{
		"twofold bench: sqlite, 1 in-process instance, 16 clients, 60000 accounts, 2 CPUs",
		"provisioning: 60000 created, 0 already there, 1.2s; 100000 login transactions prepared in 2.5s",
		"  verify: the SQLite writer committed 6000 times, 7.0 second steps and 0.95 ms per commit",
		"  verify: 2 × 429, e.g. throttled",
		"start-up to ready (existing database): 5 ms, 7 ms",
		"resident memory after the load (servers and clients in one process): 108.5 MB, peak 117.4 MB",
		"note: something to know",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text report lacks %q:\n%s", want, out)
		}
	}
	for _, row := range [][]string{
		{"baseline", "240000", "40000", "0.30", "0.50", "3.10", "9.90", "0", "-", "-"},
		{"verify", "42000", "7000", "1.90", "3.00", "5.60", "50.00", "2", "17.5%", "66%"},
	} {
		if !regexp.MustCompile(`(?m)^\s*` + strings.Join(row, `\s+`) + `\s*$`).MatchString(out) {
			t.Errorf("text report lacks the row %v:\n%s", row, out)
		}
	}

	// One of a thing is counted in the singular, two in the plural.
	one := BenchReport{
		Dialect: "sqlite", Instances: 2, InProcess: true, Concurrency: 1, Accounts: 1, CPUs: 1,
		Provision: BenchProvision{Created: 1, Logins: 1},
		Phases:    []BenchPhase{{Name: "verify", Requests: 1, Commits: &BenchCommits{Commits: 1, Steps: 1, StepsPerCommit: 1}}},
	}
	b.Reset()
	one.writeText(&b)
	for _, want := range []string{
		"twofold bench: sqlite, 2 in-process instances, 1 client, 1 account, 1 CPU\n",
		"; 1 login transaction prepared in ",
		"  verify: the SQLite writer committed 1 time, ",
	} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, b.String())
		}
	}
}
