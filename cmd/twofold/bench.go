package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/store"
)

// The load tool (issue 6 item 2): `twofold bench` provisions accounts with
// TOTP factors straight through the store, then drives the real HTTP API over
// loopback with concurrent clients and reports throughput and latency.
//
// Bench accounts are named bench-0000000…, hold one shared password and one
// active TOTP factor whose secret is derived from the key file's hash key and
// the factor id, so that the tool can compute every code locally while nobody
// without the key file can. They are a backdoor into any database that
// serves real users, so bench refuses a database holding other accounts
// unless told --force.

const benchUsage = "bench [--db DSN] [--key-file PATH] [--accounts N] [--concurrency C] [--duration D | --requests R]\n" +
	"                    [--instances N | --target URL[,URL]] [--addresses N] [--phases baseline,verify,password] [--json] [--cpuprofile FILE]"

const (
	// benchDB and benchKeyFile are bench's database and key file when
	// --db and --key-file do not name others.
	benchDB      = "sqlite:bench.db"
	benchKeyFile = "bench.key"

	benchAccountPrefix = "bench-a-"
	benchFactorPrefix  = "bench-f-"
	benchUserPrefix    = "bench-"
	// benchPassword is every bench account's password.
	benchPassword = "twofold bench password"
	// benchBatch is how many accounts one provisioning transaction writes.
	benchBatch = 2000
)

func benchAccountID(i int) string { return fmt.Sprintf("%s%07d", benchAccountPrefix, i) }
func benchFactorID(i int) string  { return fmt.Sprintf("%s%07d", benchFactorPrefix, i) }
func benchUsername(i int) string  { return fmt.Sprintf("%s%07d", benchUserPrefix, i) }

// benchSecret derives bench factor i's TOTP secret (20 bytes, like an
// enrolment's) from the key file's hash key.
func benchSecret(hashKey []byte, i int) []byte {
	m := hmac.New(sha256.New, hashKey)
	m.Write([]byte("twofold bench factor secret\x00"))
	m.Write([]byte(benchFactorID(i)))
	return m.Sum(nil)[:20]
}

type benchOptions struct {
	accounts    int
	concurrency int
	duration    time.Duration
	requests    int
	pwDuration  time.Duration
	instances   int
	targets     []string
	phases      []string
	logins      int
	jsonOut     bool
	cpuprofile  string
	force       bool
	addresses   int
}

// BenchReport is what bench prints, as text or JSON.
type BenchReport struct {
	Dialect     string   `json:"dialect"`
	Instances   int      `json:"instances"`
	Targets     []string `json:"targets"`
	InProcess   bool     `json:"in_process"`
	Concurrency int      `json:"concurrency"`
	// Addresses is how many client addresses the load came from (the
	// tool's --addresses), 0 for the machine's own (127.0.0.1) alone.
	Addresses int            `json:"addresses"`
	Accounts  int            `json:"accounts"`
	CPUs      int            `json:"cpus"`
	Provision BenchProvision `json:"provision"`
	Phases    []BenchPhase   `json:"phases"`
	Process   *BenchProcess  `json:"process,omitempty"`
	Notes     []string       `json:"notes,omitempty"`
}

// BenchProvision says what provisioning found and did, and how long it took.
type BenchProvision struct {
	Created        int     `json:"created"`
	Existing       int     `json:"existing"`
	Seconds        float64 `json:"seconds"`
	Logins         int     `json:"logins_prepared"`
	LoginsSeconds  float64 `json:"logins_seconds"`
	LoginsPerAcct  int     `json:"logins_per_account"`
	AccountsInPlay int     `json:"accounts_with_logins"`
}

// BenchPhase is one measured load.
type BenchPhase struct {
	Name        string            `json:"name"`
	Endpoint    string            `json:"endpoint"`
	Requests    int               `json:"requests"`
	Errors      int               `json:"errors"`
	ErrorKinds  map[string]int    `json:"error_kinds,omitempty"`
	ErrorSample map[string]string `json:"error_samples,omitempty"`
	Seconds     float64           `json:"seconds"`
	RPS         float64           `json:"rps"` // answers of 200 a second; Errors are not in it
	P50ms       float64           `json:"p50_ms"`
	P90ms       float64           `json:"p90_ms"`
	P99ms       float64           `json:"p99_ms"`
	Maxms       float64           `json:"max_ms"`
	Ratio       float64           `json:"ratio_to_baseline,omitempty"`
	RanOut      bool              `json:"ran_out_of_accounts,omitempty"`
	// CPUBusy is the share of the machine's CPU time that was busy during
	// the phase, every process included (from /proc/stat; absent where
	// there is none). Well below 1, the limit was not the CPUs.
	CPUBusy *float64 `json:"cpu_busy,omitempty"`
	// Commits is what the servers' SQLite writers committed during the
	// phase, from their /metrics (absent on PostgreSQL).
	Commits *BenchCommits `json:"sqlite_commits,omitempty"`
}

// BenchCommits sums the group commits of the servers' SQLite writers over a
// phase: with one writer per database, commits per second times steps per
// commit is the ceiling of verifications per second.
type BenchCommits struct {
	Commits        int     `json:"commits"`
	Steps          int     `json:"steps"`
	StepsPerCommit float64 `json:"steps_per_commit"`
	MeanMs         float64 `json:"mean_commit_ms"`
}

// BenchProcess describes the bench process when it runs the servers itself:
// start-up to ready of each instance on the existing database, and resident
// memory (servers and clients together) after the verify load.
type BenchProcess struct {
	StartupMs []float64 `json:"startup_ms"`
	RSSMB     float64   `json:"rss_mb"`
	PeakRSSMB float64   `json:"peak_rss_mb"`
}

func (m *Main) bench(ctx context.Context, args []string) error {
	fs := m.flags("bench", benchUsage)
	var o benchOptions
	fs.IntVar(&o.accounts, "accounts", 10000, "bench accounts to provision and use")
	fs.IntVar(&o.concurrency, "concurrency", 16, "concurrent clients")
	fs.DurationVar(&o.duration, "duration", 10*time.Second, "how long each of the baseline and verify phases runs")
	fs.IntVar(&o.requests, "requests", 0, "requests per phase instead of --duration (also bounds the password phase)")
	fs.DurationVar(&o.pwDuration, "password-duration", 5*time.Second, "how long the password phase runs (Argon2-bound)")
	fs.IntVar(&o.instances, "instances", 1, "server instances to start in this process, each on 127.0.0.1:0 (1 to 4)")
	target := fs.String("target", "", "drive these already running servers (loopback URLs, comma-separated) instead of starting instances")
	phases := fs.String("phases", "baseline,verify,password", "phases to run, in order")
	fs.IntVar(&o.logins, "logins", 0, "login transactions to prepare for the verify phase (default: --requests, else up to 2 per account and 100000 in all)")
	fs.BoolVar(&o.jsonOut, "json", false, "print the report as JSON")
	fs.StringVar(&o.cpuprofile, "cpuprofile", "", "write a CPU profile of the verify phase to this file (servers included when in process)")
	fs.BoolVar(&o.force, "force", false, "provision even though the database holds accounts that are not bench accounts")
	fs.IntVar(&o.addresses, "addresses", 0, "send the load from N client addresses (X-Forwarded-For from 198.18.0.0/15) with the per-address login bucket on (0: from 127.0.0.1, bucket off)")
	// A database and key file of its own by default, never serve's
	// twofold.db and twofold.key: bench accounts have a known password, and
	// a serve started later on a database bench made would print no setup
	// link (it holds accounts).
	defaults := config.Default()
	defaults.DB, defaults.KeyFile = benchDB, benchKeyFile
	c, from, err := m.parseConfigSources(fs, args, defaults)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: bench takes no arguments", errUsage)
	}
	// Its database and key file only from its own command line: the
	// environment and the config file name serve's, where bench would
	// write accounts with a known password.
	for _, name := range []string{"db", "key-file"} {
		if src, ok := from[name]; ok && !strings.HasPrefix(src, "flag ") {
			return fmt.Errorf("%w: bench takes --%s from its command line alone, not from %s, which names the server's: its accounts have a known password; give --%s for a database of its own (default %s)", errUsage, name, src, name, map[string]string{"db": benchDB, "key-file": benchKeyFile}[name])
		}
	}
	if *target != "" {
		for _, u := range strings.Split(*target, ",") {
			u = strings.TrimRight(strings.TrimSpace(u), "/")
			if err := loopbackURL(u); err != nil {
				return fmt.Errorf("%w: --target %s", errUsage, err)
			}
			o.targets = append(o.targets, u)
		}
	}
	for _, p := range strings.Split(*phases, ",") {
		switch p = strings.TrimSpace(p); p {
		case "baseline", "verify", "password":
			o.phases = append(o.phases, p)
		case "":
		default:
			return fmt.Errorf("%w: --phases: unknown phase %q (want baseline, verify, password)", errUsage, p)
		}
	}
	switch {
	case o.accounts < 1 || o.accounts > 9_999_999:
		return fmt.Errorf("%w: --accounts must be 1 to 9999999", errUsage)
	case o.concurrency < 1 || o.concurrency > 1024:
		return fmt.Errorf("%w: --concurrency must be 1 to 1024", errUsage)
	case o.duration <= 0 || o.duration > time.Hour || o.pwDuration < 0 || o.pwDuration > time.Hour:
		return fmt.Errorf("%w: --duration and --password-duration must be positive and at most 1h", errUsage)
	case o.requests < 0 || o.requests > 10_000_000 || o.logins < 0 || o.logins > 10_000_000:
		return fmt.Errorf("%w: --requests and --logins must be 0 to 10000000", errUsage)
	case len(o.targets) == 0 && (o.instances < 1 || o.instances > 4):
		return fmt.Errorf("%w: --instances must be 1 to 4", errUsage)
	case o.addresses < 0 || o.addresses > benchAddressSpace:
		return fmt.Errorf("%w: --addresses must be 0 to %d", errUsage, benchAddressSpace)
	}
	rep, err := m.runBench(ctx, c, o)
	if err != nil {
		if ctx.Err() != nil {
			// Whatever failed, failed because of the interruption.
			return interrupted("no report; the accounts provisioned so far are kept, and the next run goes on from them")
		}
		return err
	}
	if o.jsonOut {
		enc := json.NewEncoder(m.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	rep.writeText(m.Stdout)
	return nil
}

// loopbackURL checks that u is an http URL of a loopback host: the load tool
// never sends its load anywhere else.
func loopbackURL(u string) error {
	p, err := url.Parse(u)
	if err != nil || p.Scheme != "http" && p.Scheme != "https" || p.Host == "" {
		return fmt.Errorf("%q is not an http URL", u)
	}
	h := p.Hostname()
	if ip := net.ParseIP(h); h != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return fmt.Errorf("%q is not on loopback (127.0.0.0/8, ::1 or localhost)", u)
	}
	return nil
}

// foreignAccounts is bench's refusal of a database that holds n accounts
// that are not its own.
func foreignAccounts(n int) error {
	return fmt.Errorf("the database holds %d %s: bench creates accounts with a known password, "+
		"so run it on a database of its own (or pass --force)", n, plural(n, "account that is not a bench account", "accounts that are not bench accounts"))
}

func (m *Main) runBench(ctx context.Context, c config.Config, o benchOptions) (*BenchReport, error) {
	rep := &BenchReport{Concurrency: o.concurrency, Addresses: o.addresses, Accounts: o.accounts, CPUs: runtime.GOMAXPROCS(0), Targets: o.targets}
	progress := func(format string, args ...any) {
		if !o.jsonOut {
			fmt.Fprintf(m.Stderr, format+"\n", args...)
		}
	}

	// Provision through the store, then close it: the servers open their own.
	// A key file that cannot be used is refused before the database is made.
	if err := keyring.CheckExisting(c.KeyFile); err != nil {
		return nil, err
	}
	// Before Open, which would migrate a database that servers of an
	// older release may still run on (README "Upgrading"): one with real
	// accounts is refused having changed nothing (provisionBench asks
	// again, once opened).
	if !o.force {
		if n, err := store.AccountsBesides(ctx, c.DB, benchAccountPrefix); err != nil {
			return nil, err
		} else if n > 0 {
			return nil, foreignAccounts(n)
		}
	}
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return nil, err
	}
	rep.Dialect = string(st.Dialect())
	kf, keys, _, err := keyring.OpenFile(ctx, c.KeyFile, &cachedDataKeys{Store: st})
	if err != nil {
		st.Close()
		return nil, err
	}
	params := credhash.Params{Memory: uint32(c.Argon2Memory), Iterations: uint32(c.Argon2Time), Parallelism: uint8(c.Argon2Threads)}
	rep.Provision, err = provisionBench(ctx, st, keys, kf.HashKey, o.accounts, params, o.force, progress)
	if err != nil {
		st.Close()
		return nil, err
	}
	progress("bench: %d %s ready (%d created, %d already there) in %.1fs",
		o.accounts, plural(o.accounts, "account", "accounts"), rep.Provision.Created, rep.Provision.Existing, rep.Provision.Seconds)

	var plan *verifyPlan
	if slices.Contains(o.phases, "verify") {
		plan, err = prepareVerify(ctx, st, kf.HashKey, o, &rep.Provision)
		if err != nil {
			st.Close()
			return nil, err
		}
		progress("bench: %d login %s prepared in %.1fs", rep.Provision.Logins, plural(rep.Provision.Logins, "transaction", "transactions"), rep.Provision.LoginsSeconds)
	}
	// Fixtures arrive faster than a database's background statistics follow
	// (and autovacuum may be off); without statistics, PostgreSQL keeps
	// planning every statement anew instead of reusing a generic plan.
	if err := st.Analyze(ctx); err != nil {
		st.Close()
		return nil, err
	}
	if err := st.Close(); err != nil {
		return nil, err
	}

	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{
		Proxy:               nil, // loopback only, never through a proxy from the environment
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        2 * o.concurrency,
		MaxIdleConnsPerHost: 2 * o.concurrency,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
	}}
	defer client.CloseIdleConnections()

	urls := o.targets
	if len(urls) == 0 {
		rep.InProcess = true
		rep.Process = &BenchProcess{}
		servers, err := startBenchServers(ctx, c, o.instances, o.addresses, client, rep.Process)
		defer func() {
			for _, s := range servers {
				s.Close()
			}
		}()
		if err != nil {
			return nil, err
		}
		for _, s := range servers {
			urls = append(urls, s.URL())
		}
		rep.Targets = urls
	}
	rep.Instances = len(urls)
	b := &bencher{client: client, urls: urls, o: o, from: benchAddresses(o.addresses)}
	if plan != nil {
		plan.offset = b.clockOffset(ctx)
		if d := plan.offset; d > 2*time.Second || d < -2*time.Second {
			rep.Notes = append(rep.Notes, fmt.Sprintf("the server's clock differs from this one by %s; codes follow the server's", d.Round(time.Second)))
		}
	}
	// Warm up: open the HTTP connections, and the servers' database pools
	// (/readyz pings the database).
	b.run(ctx, "warm-up", min(time.Second, o.duration), 0, func(ctx context.Context, w int) outcome {
		if w%2 == 0 {
			return b.get(ctx, b.urls[w%len(b.urls)]+"/readyz")
		}
		return b.timeOp(ctx, w)
	})

	for _, name := range o.phases {
		progress("bench: %s phase…", name)
		var ph BenchPhase
		switch name {
		case "baseline":
			ph = b.run(ctx, "baseline", o.duration, o.requests, b.timeOp)
			ph.Endpoint = "GET /v1/time"
		case "verify":
			// The writer's commits are a side figure: a server whose
			// /metrics cannot be read costs the figure, not the run.
			before, scrapeErr := b.commitTotals(ctx)
			var profile *os.File
			if o.cpuprofile != "" {
				f, err := os.Create(o.cpuprofile)
				if err != nil {
					return nil, err
				}
				if err := pprof.StartCPUProfile(f); err != nil {
					f.Close()
					return nil, err
				}
				profile = f
			}
			ph = b.run(ctx, "verify", o.duration, o.requests, b.verifyOp(plan))
			if o.cpuprofile != "" {
				pprof.StopCPUProfile()
				if err := profile.Close(); err != nil {
					return nil, err
				}
			}
			after, err := b.commitTotals(ctx)
			if err = cmp.Or(scrapeErr, err); err != nil {
				rep.Notes = append(rep.Notes, fmt.Sprintf("no SQLite commit figures: %v", err))
			} else {
				ph.Commits = after.since(before)
			}
			ph.Endpoint = "POST /v1/login/{id}/verify"
			ph.RanOut = plan.ranOut()
			if n := plan.collisions.Load(); n > 0 {
				rep.Notes = append(rep.Notes, fmt.Sprintf("verify skipped %d %s equal to the code of one of the two steps before", n, plural(n, "code", "codes")))
			}
			if ph.RanOut {
				rep.Notes = append(rep.Notes, fmt.Sprintf("verify ran out of unused (account, time step) pairs after %d %s: "+
					"each account's code is used once per 30 s step; use more --accounts (or --logins) for a longer run", ph.Requests, plural(ph.Requests, "request", "requests")))
			}
			if rep.Process != nil {
				rep.Process.RSSMB, rep.Process.PeakRSSMB = processRSS()
			}
		case "password":
			ph = b.run(ctx, "password", o.pwDuration, o.requests, b.passwordOp())
			ph.Endpoint = "POST /v1/login (Argon2id)"
		}
		rep.Phases = append(rep.Phases, ph)
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
	if rep.Process != nil && rep.Process.RSSMB == 0 {
		rep.Process.RSSMB, rep.Process.PeakRSSMB = processRSS()
	}
	var base float64
	for _, p := range rep.Phases {
		if p.Name == "baseline" {
			base = p.RPS
		}
	}
	for i := range rep.Phases {
		if base > 0 && rep.Phases[i].Name != "baseline" {
			rep.Phases[i].Ratio = rep.Phases[i].RPS / base
		}
		if rep.Phases[i].Errors > 0 && rep.Phases[i].ErrorKinds["429"] > 0 {
			if o.addresses > 0 {
				rep.Notes = append(rep.Notes, "429 answers: the per-address login bucket refused some of the load; use more --addresses or a higher --login-rate"+
					" (--target servers must trust 127.0.0.1 with --trusted-proxy 127.0.0.1/32, or every client is one address)")
			} else {
				rep.Notes = append(rep.Notes, "429 answers: run the target servers with --login-rate 0 (every bench client comes from one address)")
			}
		}
	}
	return rep, nil
}

// cachedDataKeys reads the data keys once: a Keyring reads them before every
// Seal, which for a million fixtures would be a million queries.
type cachedDataKeys struct {
	*store.Store
	mu   sync.Mutex
	keys []keyring.WrappedKey
}

func (c *cachedDataKeys) DataKeys(ctx context.Context) ([]keyring.WrappedKey, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.keys == nil {
		k, err := c.Store.DataKeys(ctx)
		if err != nil {
			return nil, err
		}
		c.keys = k
	}
	return c.keys, nil
}

func (c *cachedDataKeys) AddDataKey(ctx context.Context, k keyring.WrappedKey) error {
	c.mu.Lock()
	c.keys = nil
	c.mu.Unlock()
	return c.Store.AddDataKey(ctx, k)
}

func (c *cachedDataKeys) AddFirstDataKey(ctx context.Context, k keyring.WrappedKey) (bool, error) {
	c.mu.Lock()
	c.keys = nil
	c.mu.Unlock()
	return c.Store.AddFirstDataKey(ctx, k)
}

// provisionBench makes sure bench accounts 0…n-1 exist, each with its active
// TOTP factor, writing batches of benchBatch accounts in one transaction
// each. Batches already present are skipped, so it is idempotent, and a run
// that was interrupted is completed by the next.
func provisionBench(ctx context.Context, st *store.Store, keys *keyring.Keyring, hashKey []byte, n int,
	params credhash.Params, force bool, progress func(string, ...any)) (BenchProvision, error) {
	start := time.Now()
	var rep BenchProvision
	total, err := st.CountAccounts(ctx)
	if err != nil {
		return rep, err
	}
	present, err := st.CountAccountsWithIDPrefix(ctx, benchAccountPrefix)
	if err != nil {
		return rep, err
	}
	if total > present && !force {
		return rep, foreignAccounts(total - present)
	}
	hash, err := credhash.HashPassword(benchPassword, params)
	if err != nil {
		return rep, err
	}
	now := time.Now().UTC().Truncate(time.Microsecond)
	batches := (n + benchBatch - 1) / benchBatch
	workers := 1 // SQLite has one writer; a second would only wait for the lock
	if st.Dialect() == store.Postgres {
		workers = 4
	}
	var (
		next, created, existing atomic.Int64
		firstErr                error
		errOnce                 sync.Once
		wg                      sync.WaitGroup
		lastReport              atomic.Int64
	)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fail := func(err error) { errOnce.Do(func() { firstErr = err; cancel() }) }
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				bi := int(next.Add(1) - 1)
				if bi >= batches || ctx.Err() != nil {
					return
				}
				lo, hi := bi*benchBatch, min((bi+1)*benchBatch, n)
				have := 0
				if present > 0 {
					ids := make([]string, 0, hi-lo)
					for i := lo; i < hi; i++ {
						ids = append(ids, benchAccountID(i))
					}
					if have, err = st.CountAccountIDs(ctx, ids); err != nil {
						fail(err)
						return
					}
				}
				if have < hi-lo {
					if err := insertBenchBatch(ctx, st, keys, hashKey, hash, lo, hi, now); err != nil {
						fail(err)
						return
					}
				}
				existing.Add(int64(have))
				created.Add(int64(hi - lo - have))
				done := created.Load() + existing.Load()
				if step := done / 100000; n >= 200000 && step > lastReport.Load() {
					lastReport.Store(step)
					progress("bench: provisioned %d/%d %s (%.1fs)", done, n, plural(n, "account", "accounts"), time.Since(start).Seconds())
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return rep, fmt.Errorf("provision bench accounts: %w", firstErr)
	}
	rep.Created, rep.Existing = int(created.Load()), int(existing.Load())
	rep.Seconds = time.Since(start).Seconds()
	return rep, nil
}

func insertBenchBatch(ctx context.Context, st *store.Store, keys *keyring.Keyring, hashKey []byte, hash string, lo, hi int, now time.Time) error {
	accounts := make([]twofold.Account, 0, hi-lo)
	factors := make([]twofold.Factor, 0, hi-lo)
	for i := lo; i < hi; i++ {
		a := twofold.Account{ID: benchAccountID(i), Username: benchUsername(i), PasswordHash: hash, TwoFactorRequired: true, CreatedAt: now}
		fid := benchFactorID(i)
		keyID, sealed, err := keys.SealContext(ctx, benchSecret(hashKey, i), keyring.AAD("factors", "secret", fid))
		if err != nil {
			return fmt.Errorf("seal: %w", err)
		}
		accounts = append(accounts, a)
		factors = append(factors, twofold.Factor{
			ID: fid, AccountID: a.ID, Type: twofold.FactorTOTP, Label: "bench", Status: twofold.FactorActive,
			SecretKeyID: keyID, SealedSecret: sealed, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second,
			LastStep: -1, CreatedAt: now, ConfirmedAt: &now,
		})
	}
	return st.InsertFixtures(ctx, accounts, factors)
}

// verifyPlan hands out the verify phase's work: a login transaction and an
// account whose code for the current time step has not been used yet, so
// that every code sent is valid and sent once (SPEC §1 story 8). Accounts are
// taken round-robin in a random order; an account is used at most once per
// time step.
type verifyPlan struct {
	hashKey    []byte
	offset     time.Duration // server clock minus this clock
	params     otp.Params
	collisions atomic.Int64 // codes not sent because they equal an earlier step's

	mu      sync.Mutex
	n       int      // accounts in play, 0…n-1
	acct    []int    // bench account number of each account in play
	per     int      // logins per account
	logins  []string // account a's logins are logins[a*per : a*per+per]
	used    []uint8  // logins used, per account
	last    []int64  // last step used (or accepted before this run), per account
	cursor  int
	outOfIt bool
}

// next reserves an account and login for a code at now, returning the bench
// account number. It reports false when every account with a login left has
// been used in now's time step.
func (p *verifyPlan) next(now time.Time) (login string, account int, ok bool) {
	step := int64(otp.Step(now, p.params.Period))
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.outOfIt {
		return "", 0, false
	}
	for range p.n {
		a := p.cursor
		p.cursor = (p.cursor + 1) % p.n
		if p.last[a] < step && int(p.used[a]) < p.per {
			p.last[a] = step
			login = p.logins[a*p.per+int(p.used[a])]
			p.used[a]++
			return login, p.acct[a], true
		}
	}
	p.outOfIt = true
	return "", 0, false
}

func (p *verifyPlan) ranOut() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.outOfIt
}

// prepareVerify creates the verify phase's login transactions through the
// store (so that the phase measures the second step, not Argon2). It learns
// which bench factors accepted a code of the current time step already (in
// an earlier run) and puts the others in play first.
func prepareVerify(ctx context.Context, st *store.Store, hashKey []byte, o benchOptions, rep *BenchProvision) (*verifyPlan, error) {
	start := time.Now()
	hasher, err := credhash.NewHasher(hashKey)
	if err != nil {
		return nil, err
	}
	total := o.logins
	if total == 0 {
		total = o.requests
	}
	if total == 0 {
		total = min(2*o.accounts, 100000)
	}
	n := min(o.accounts, total)
	per := min((total+n-1)/n, 255)
	p := &verifyPlan{hashKey: hashKey, params: otp.DefaultParams(), n: n, per: per,
		acct: make([]int, 0, n), logins: make([]string, n*per), used: make([]uint8, n), last: make([]int64, 0, n)}
	now := time.Now().UTC().Truncate(time.Microsecond)
	step := int64(otp.Step(now, p.params.Period))
	recent, err := st.FactorsUsedSince(ctx, step-2)
	if err != nil {
		return nil, err
	}
	lastStep := func(i int) int64 {
		if s, ok := recent[benchFactorID(i)]; ok {
			return s
		}
		return -1
	}
	var busy []int // used in this step already: last in line
	for i := 0; i < o.accounts && len(p.acct) < n; i++ {
		if lastStep(i) >= step {
			busy = append(busy, i)
			continue
		}
		p.acct, p.last = append(p.acct, i), append(p.last, lastStep(i))
	}
	// Logins come from accounts in no particular order, as on a real server:
	// accounts taken in the order they were created would keep each batch
	// of writes on neighbouring rows and pages.
	fresh := len(p.acct)
	mrand.Shuffle(fresh, func(i, j int) {
		p.acct[i], p.acct[j] = p.acct[j], p.acct[i]
		p.last[i], p.last[j] = p.last[j], p.last[i]
	})
	for _, i := range busy[:min(len(busy), n-len(p.acct))] {
		p.acct, p.last = append(p.acct, i), append(p.last, lastStep(i))
	}
	expires := now.Add(o.duration + o.pwDuration + 15*time.Minute)
	batch := make([]twofold.Login, 0, 5000)
	flush := func() error {
		// In key order, the rows go into the primary key's B-tree page by page.
		slices.SortFunc(batch, func(a, b twofold.Login) int { return strings.Compare(a.ID, b.ID) })
		err := st.InsertLogins(ctx, batch)
		batch = batch[:0]
		return err
	}
	for a, i := range p.acct {
		for j := range per {
			id, err := randomID()
			if err != nil {
				return nil, err
			}
			// The client holds the id, the store only its key.
			p.logins[a*per+j] = id
			batch = append(batch, twofold.Login{ID: core.LoginKey(hasher, id), AccountID: benchAccountID(i), CreatedAt: now, ExpiresAt: expires})
			if len(batch) == cap(batch) {
				if err := flush(); err != nil {
					return nil, err
				}
			}
		}
	}
	if len(batch) > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	rep.Logins, rep.LoginsPerAcct, rep.AccountsInPlay = n*per, per, n
	rep.LoginsSeconds = time.Since(start).Seconds()
	return p, nil
}

var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

func randomID() (string, error) {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return lowerBase32.EncodeToString(b), nil
}

// startBenchServers starts n servers in this process on the configured
// database, each on 127.0.0.1:0, and records how long each took from Open to
// its first ready answer.
func startBenchServers(ctx context.Context, c config.Config, n, addresses int, client *http.Client, rep *BenchProcess) ([]*server.Server, error) {
	c.Listen = "127.0.0.1:0"
	c.BaseURL = ""
	// /metrics beside the rest, where the phases scrape it (commitTotals);
	// n servers could not share one --metrics-addr either. Nor one
	// --dns-addr, which no phase asks: the instances answer no DNS.
	c.MetricsAddr, c.DNSAddr = "", ""
	if addresses == 0 {
		c.LoginRate = 0 // every client comes from 127.0.0.1: the per-address bucket would refuse the load
	} else {
		// The clients say where they come from as a proxy would: the
		// bucket of each address they name is taken as a real one's.
		c.TrustedProxies = append(slices.Clone(c.TrustedProxies), "127.0.0.1/32")
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var out []*server.Server
	for range n {
		start := time.Now()
		s := &server.Server{Config: c, Logger: log}
		if err := s.Open(ctx); err != nil {
			return out, fmt.Errorf("start server: %w", err)
		}
		out = append(out, s)
		for {
			res, err := client.Get(s.URL() + "/readyz")
			if err == nil {
				io.Copy(io.Discard, res.Body)
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					break
				}
			}
			if time.Since(start) > 30*time.Second {
				return out, fmt.Errorf("server %s not ready after 30s", s.URL())
			}
			time.Sleep(5 * time.Millisecond)
		}
		rep.StartupMs = append(rep.StartupMs, float64(time.Since(start).Microseconds())/1000)
	}
	return out, nil
}

// processRSS returns this process's resident and peak resident memory in MB
// (Linux /proc; zero elsewhere).
func processRSS() (rss, peak float64) {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || (k != "VmRSS" && k != "VmHWM") {
			continue
		}
		kb, _ := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
		if k == "VmRSS" {
			rss = kb / 1024
		} else {
			peak = kb / 1024
		}
	}
	return rss, peak
}

// bencher drives the servers at urls; client w talks to urls[w % len(urls)].
type bencher struct {
	client *http.Client
	urls   []string
	o      benchOptions
	// from are the client addresses the load is spread over (--addresses),
	// none for 127.0.0.1 alone; next picks the next request's.
	from []string
	next atomic.Uint64
}

// benchAddressSpace is how many addresses 198.18.0.0/15, the range set
// aside for benchmarks (RFC 2544), holds.
const benchAddressSpace = 1 << 17

// benchAddresses returns the first n addresses of 198.18.0.0/15.
func benchAddresses(n int) []string {
	out := make([]string, n)
	for k := range n {
		out[k] = fmt.Sprintf("198.%d.%d.%d", 18+k>>16, k>>8&0xff, k&0xff)
	}
	return out
}

// send sends req from the next client address (--addresses) and reads the
// whole answer.
func (b *bencher) send(req *http.Request) outcome {
	if len(b.from) > 0 {
		req.Header.Set("X-Forwarded-For", b.from[(b.next.Add(1)-1)%uint64(len(b.from))])
	}
	return b.do(req)
}

// outcome is one request's result; done means the worker has no more work.
type outcome struct {
	latency time.Duration
	status  int
	err     error
	body    []byte // of a failed request, for the report
	done    bool
}

// run runs op on o.concurrency workers until d has passed or, when limit > 0,
// limit requests were made.
func (b *bencher) run(ctx context.Context, name string, d time.Duration, limit int, op func(ctx context.Context, worker int) outcome) BenchPhase {
	ph := BenchPhase{Name: name, ErrorKinds: map[string]int{}, ErrorSample: map[string]string{}}
	var (
		issued atomic.Int64
		mu     sync.Mutex
		wg     sync.WaitGroup
		lats   []time.Duration
	)
	cpu0, cpuOK := readCPUTimes()
	start := time.Now()
	deadline := start.Add(d)
	for w := range b.o.concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, 1024)
			kinds := map[string]int{}
			samples := map[string]string{}
			for ctx.Err() == nil {
				if limit > 0 {
					if issued.Add(1) > int64(limit) {
						break
					}
				} else if !time.Now().Before(deadline) {
					break
				}
				r := op(ctx, w)
				if r.done {
					break
				}
				mine = append(mine, r.latency)
				if r.err == nil && r.status == http.StatusOK {
					continue
				}
				kind := strconv.Itoa(r.status)
				if r.err != nil {
					kind = "transport"
					r.body = []byte(r.err.Error())
				}
				kinds[kind]++
				if _, ok := samples[kind]; !ok {
					samples[kind] = string(r.body[:min(len(r.body), 300)])
				}
			}
			mu.Lock()
			defer mu.Unlock()
			lats = append(lats, mine...)
			for k, v := range kinds {
				ph.ErrorKinds[k] += v
				ph.Errors += v
			}
			for k, v := range samples {
				ph.ErrorSample[k] = v
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if cpu1, ok := readCPUTimes(); ok && cpuOK {
		if busy, ok := cpu0.busyUntil(cpu1); ok {
			ph.CPUBusy = &busy
		}
	}
	ph.Requests = len(lats)
	ph.Seconds = elapsed.Seconds()
	if elapsed > 0 {
		// Answers of 200 only: a phase refused (429) or failing fast
		// must not read as more verifications a second.
		ph.RPS = float64(len(lats)-ph.Errors) / elapsed.Seconds()
	}
	slices.Sort(lats)
	ph.P50ms, ph.P90ms, ph.P99ms = percentile(lats, 50), percentile(lats, 90), percentile(lats, 99)
	if len(lats) > 0 {
		ph.Maxms = ms(lats[len(lats)-1])
	}
	if len(ph.ErrorKinds) == 0 {
		ph.ErrorKinds, ph.ErrorSample = nil, nil
	}
	return ph
}

// commitTotals are the servers' SQLite group commit histograms, summed over
// the servers.
type commitTotals struct {
	found                bool
	commits, steps, secs float64
}

// commitTotals scrapes every server's /metrics for its SQLite writer's
// commits so far.
func (b *bencher) commitTotals(ctx context.Context) (commitTotals, error) {
	var t commitTotals
	for _, u := range b.urls {
		req, err := http.NewRequestWithContext(ctx, "GET", u+"/metrics", nil)
		if err != nil {
			return t, err
		}
		res, err := b.client.Do(req)
		if err != nil {
			return t, fmt.Errorf("metrics of %s: %w", u, err)
		}
		if res.StatusCode != http.StatusOK {
			res.Body.Close()
			return t, fmt.Errorf("metrics of %s: status %d", u, res.StatusCode)
		}
		p := expfmt.NewTextParser(model.UTF8Validation)
		fams, err := p.TextToMetricFamilies(res.Body)
		res.Body.Close()
		if err != nil {
			return t, fmt.Errorf("metrics of %s: %w", u, err)
		}
		steps, took := fams["twofold_store_commit_steps"], fams["twofold_store_commit_duration_seconds"]
		if steps == nil || took == nil || len(steps.GetMetric()) == 0 || len(took.GetMetric()) == 0 {
			continue
		}
		t.found = true
		h := steps.GetMetric()[0].GetHistogram()
		t.commits += float64(h.GetSampleCount())
		t.steps += h.GetSampleSum()
		t.secs += took.GetMetric()[0].GetHistogram().GetSampleSum()
	}
	return t, nil
}

// since returns the commits between before and t, or nil when the servers
// have no SQLite writer.
func (t commitTotals) since(before commitTotals) *BenchCommits {
	if !t.found {
		return nil
	}
	c := &BenchCommits{Commits: int(t.commits - before.commits), Steps: int(t.steps - before.steps)}
	if c.Commits > 0 {
		c.StepsPerCommit = float64(c.Steps) / float64(c.Commits)
		c.MeanMs = 1000 * (t.secs - before.secs) / float64(c.Commits)
	}
	return c
}

// percentile returns the nearest-rank p-th percentile of sorted, in milliseconds.
func percentile(sorted []time.Duration, p int) float64 {
	if len(sorted) == 0 {
		return 0
	}
	rank := (p*len(sorted) + 99) / 100 // ceil(p/100 × n)
	return ms(sorted[max(rank, 1)-1])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// do sends req and reads the whole answer, so that the connection is reused.
func (b *bencher) do(req *http.Request) outcome {
	start := time.Now()
	res, err := b.client.Do(req)
	if err != nil {
		return outcome{latency: time.Since(start), err: err}
	}
	var body []byte
	if res.StatusCode == http.StatusOK {
		_, err = io.Copy(io.Discard, res.Body)
	} else {
		body, err = io.ReadAll(res.Body)
	}
	res.Body.Close()
	return outcome{latency: time.Since(start), status: res.StatusCode, err: err, body: body}
}

func (b *bencher) post(ctx context.Context, url string, body []byte) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "twofold-bench")
	return b.send(req)
}

func (b *bencher) get(ctx context.Context, url string) outcome {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return outcome{err: err}
	}
	req.Header.Set("User-Agent", "twofold-bench")
	return b.send(req)
}

// timeOp is the baseline: GET /v1/time, the cheapest endpoint of the same server.
func (b *bencher) timeOp(ctx context.Context, w int) outcome {
	return b.get(ctx, b.urls[w%len(b.urls)]+"/v1/time")
}

// verifyOp passes the second step of a prepared login with the account's
// current code, computed here.
func (b *bencher) verifyOp(p *verifyPlan) func(ctx context.Context, w int) outcome {
	return func(ctx context.Context, w int) outcome {
		for {
			now := time.Now().Add(p.offset)
			login, a, ok := p.next(now)
			if !ok {
				return outcome{done: true}
			}
			secret := benchSecret(p.hashKey, a)
			code := otp.TOTP(secret, now, p.params)
			// One code in a million equals the previous step's or the one
			// before: the server then matches the earlier step, which this
			// account may have used, and refuses the code as replayed. Such a
			// code is not sent; the login is left unused.
			if code == otp.TOTP(secret, now.Add(-p.params.Period), p.params) || code == otp.TOTP(secret, now.Add(-2*p.params.Period), p.params) {
				p.collisions.Add(1)
				continue
			}
			return b.post(ctx, b.urls[w%len(b.urls)]+"/v1/login/"+login+"/verify", []byte(`{"method":"totp","code":"`+code+`"}`))
		}
	}
}

// passwordOp starts logins with the right password, round-robin over the
// accounts: Argon2id-bound by design.
func (b *bencher) passwordOp() func(ctx context.Context, w int) outcome {
	var next atomic.Int64
	return func(ctx context.Context, w int) outcome {
		i := int(next.Add(1)-1) % b.o.accounts
		body, _ := json.Marshal(map[string]string{"username": benchUsername(i), "password": benchPassword})
		return b.post(ctx, b.urls[w%len(b.urls)]+"/v1/login", body)
	}
}

// clockOffset returns the first server's clock minus this one's, to the
// second (/v1/time's resolution); zero when it cannot tell.
func (b *bencher) clockOffset(ctx context.Context) time.Duration {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.urls[0]+"/v1/time", nil)
	if err != nil {
		return 0
	}
	res, err := b.client.Do(req)
	if err != nil {
		return 0
	}
	defer res.Body.Close()
	var t struct {
		Unix int64 `json:"unix"`
	}
	if err := json.NewDecoder(res.Body).Decode(&t); err != nil || t.Unix == 0 {
		return 0
	}
	d := time.Duration(t.Unix-time.Now().Unix()) * time.Second
	if d > -2*time.Second && d < 2*time.Second {
		return 0 // within /v1/time's resolution
	}
	return d
}

func (r *BenchReport) writeText(w io.Writer) {
	where := fmt.Sprintf("%d in-process %s", r.Instances, plural(r.Instances, "instance", "instances"))
	if !r.InProcess {
		where = "targets " + strings.Join(r.Targets, ", ")
	}
	fmt.Fprintf(w, "twofold bench: %s, %s, %d %s, %d %s, %d %s\n", r.Dialect, where, r.Concurrency, plural(r.Concurrency, "client", "clients"),
		r.Accounts, plural(r.Accounts, "account", "accounts"), r.CPUs, plural(r.CPUs, "CPU", "CPUs"))
	if r.Addresses > 0 {
		fmt.Fprintf(w, "load from %d client %s (X-Forwarded-For), per-address login bucket on\n", r.Addresses, plural(r.Addresses, "address", "addresses"))
	}
	fmt.Fprintf(w, "provisioning: %d created, %d already there, %.1fs; %d login %s prepared in %.1fs\n\n",
		r.Provision.Created, r.Provision.Existing, r.Provision.Seconds, r.Provision.Logins, plural(r.Provision.Logins, "transaction", "transactions"), r.Provision.LoginsSeconds)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "phase\trequests\treq/s\tp50 ms\tp90 ms\tp99 ms\tmax ms\terrors\tvs baseline\tcpu busy\t")
	for _, p := range r.Phases {
		ratio, cpu := "-", "-"
		if p.Ratio > 0 {
			ratio = fmt.Sprintf("%.1f%%", 100*p.Ratio)
		}
		if p.CPUBusy != nil {
			cpu = fmt.Sprintf("%.0f%%", 100**p.CPUBusy)
		}
		fmt.Fprintf(tw, "%s\t%d\t%.0f\t%.2f\t%.2f\t%.2f\t%.2f\t%d\t%s\t%s\t\n", p.Name, p.Requests, p.RPS, p.P50ms, p.P90ms, p.P99ms, p.Maxms, p.Errors, ratio, cpu)
	}
	tw.Flush()
	for _, p := range r.Phases {
		if c := p.Commits; c != nil && c.Commits > 0 {
			fmt.Fprintf(w, "  %s: the SQLite writer committed %d %s, %.1f second steps and %.2f ms per commit\n", p.Name, c.Commits, plural(c.Commits, "time", "times"), c.StepsPerCommit, c.MeanMs)
		}
		for k, n := range p.ErrorKinds {
			fmt.Fprintf(w, "  %s: %d × %s, e.g. %s\n", p.Name, n, k, strings.TrimSpace(p.ErrorSample[k]))
		}
	}
	if r.Process != nil {
		var ss []string
		for _, s := range r.Process.StartupMs {
			ss = append(ss, fmt.Sprintf("%.0f ms", s))
		}
		fmt.Fprintf(w, "\nstart-up to ready (existing database): %s\n", strings.Join(ss, ", "))
		fmt.Fprintf(w, "resident memory after the load (servers and clients in one process): %.1f MB, peak %.1f MB\n", r.Process.RSSMB, r.Process.PeakRSSMB)
	}
	for _, n := range r.Notes {
		fmt.Fprintln(w, "note:", n)
	}
}
