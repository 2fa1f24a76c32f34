package core_test

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/testenv"
)

// allocated returns the bytes the process allocated while f ran.
func allocated(f func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	f()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// TestUnknownUsernameCostsAHash: a login with an unknown username runs an
// Argon2id hash as a wrong password does, so that the time of the answer
// does not tell whether the account exists (issue 4). Argon2id fills its
// memory parameter on every hash, so the bytes allocated show whether a hash
// ran, where a timed assertion could not be trusted. Not parallel: other
// tests' allocations would count too.
func TestUnknownUsernameCostsAHash(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "uma", Password: "correct horse battery"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	hashBytes := uint64(s.Config.Argon2Memory) * 1024
	login := func(username, password string) func() {
		return func() {
			if _, err := s.Service.Login(ctx, username, password, core.Meta{Source: "192.0.2.7"}); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
				t.Errorf("login %q: got %v, want invalid credentials", username, err)
			}
		}
	}
	s.Service.Warm() // the server warms it as it starts; this waits for that
	for name, tc := range map[string]struct {
		f    func()
		hash bool
	}{
		"unknown username": {login("nobody", "whatever it is"), true},
		"wrong password":   {login("uma", "wrong horse battery"), true},
		// Refused before any lookup: shows that the measure tells the two apart.
		"password too long": {login("uma", strings.Repeat("x", 10_000)), false},
	} {
		got := allocated(tc.f)
		if tc.hash && got < hashBytes {
			t.Errorf("%s: allocated %d bytes, less than one Argon2id hash (%d): no hash ran", name, got, hashBytes)
		}
		if !tc.hash && got >= hashBytes/4 {
			t.Errorf("%s: allocated %d bytes, want far less than a hash (%d)", name, got, hashBytes)
		}
	}
}

// TestRefusalCostsTheConfiguredHash: a wrong password costs at least the
// Argon2id work of a check against a hash made with the configured
// parameters, as an unknown username's does, whatever parameters the
// account's hash was made with: a weaker hash of an account that has not
// signed in since the parameters were raised is padded out to that cost,
// where it would be refused faster than an unknown username and tell that
// the account exists. The hashes run are counted with their parameters (a
// hook), not timed. A hash stronger than the configuration is not padded
// (it is the costliest in store, which every refusal is padded to; see
// TestRefusalCostsTheCostliestHashInUse), and neither is a success, whose
// hash is made again at the configured cost.
func TestRefusalCostsTheConfiguredHash(t *testing.T) {
	conf := credhash.Params{Memory: 16384, Iterations: 2, Parallelism: 2}
	work := func(p credhash.Params) float64 {
		return float64(p.Memory) * float64(p.Iterations) / float64(p.Parallelism)
	}
	for _, tc := range []struct {
		name   string
		made   credhash.Params // zero: no account, the username is unknown
		padded bool
	}{
		{"unknown username", credhash.Params{}, false},
		{"same parameters", conf, false},
		{"less memory", credhash.Params{Memory: 8192, Iterations: 2, Parallelism: 2}, true},
		{"fewer iterations", credhash.Params{Memory: 16384, Iterations: 1, Parallelism: 2}, true},
		{"more lanes", credhash.Params{Memory: 16384, Iterations: 2, Parallelism: 4}, true},
		{"more memory, fewer iterations", credhash.Params{Memory: 24576, Iterations: 1, Parallelism: 2}, true},
		{"stronger", credhash.Params{Memory: 32768, Iterations: 2, Parallelism: 1}, false},
	} {
		for name, dsn := range testenv.DSNs(t) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				st := openStore(t, dsn(t))
				cfg := core.DefaultConfig()
				if tc.made != (credhash.Params{}) {
					cfg.PasswordParams = tc.made
					old := newServiceWith(t, st, st, cfg)
					if _, err := old.CreateAccount(ctx, core.NewAccount{Username: "dora", Password: testPassword}, core.Meta{}); err != nil {
						t.Fatal(err)
					}
				}
				cfg.PasswordParams = conf
				svc := newServiceWith(t, st, st, cfg)
				var (
					mu   sync.Mutex
					runs []credhash.Params
				)
				core.SetArgonHook(svc, func(p credhash.Params) {
					mu.Lock()
					defer mu.Unlock()
					runs = append(runs, p)
				})
				svc.Warm() // the hash of unknown usernames, made as a server starts
				ran := func() []credhash.Params {
					mu.Lock()
					defer mu.Unlock()
					r := runs
					runs = nil
					return r
				}
				ran()
				if _, err := svc.Login(ctx, "dora", "wrong horse battery", core.Meta{Source: "192.0.2.8"}); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: got %v, want invalid credentials", err)
				}
				got := ran()
				var total float64
				for _, p := range got {
					total += work(p)
					if p.Memory > max(conf.Memory, tc.made.Memory) {
						t.Errorf("a hash with %d KiB ran, more than the account's or the configured hash's", p.Memory)
					}
				}
				if total < work(conf) {
					t.Errorf("refusal ran %v: %.0f blocks per lane, less than a configured hash's %.0f", got, total, work(conf))
				}
				if want := 1 + btoi(tc.padded); len(got) != want {
					t.Errorf("refusal ran %d hashes %v, want %d", len(got), got, want)
				}
				if tc.padded && total > work(conf)+float64(conf.Memory)/float64(conf.Parallelism) {
					t.Errorf("refusal ran %v: %.0f blocks per lane, far more than a configured hash's %.0f", got, total, work(conf))
				}
				if tc.made == (credhash.Params{}) {
					return
				}
				if _, err := svc.Login(ctx, "dora", testPassword, core.Meta{Source: "192.0.2.8"}); err != nil {
					t.Fatal(err)
				}
				want := []credhash.Params{tc.made} // the check, unpadded
				if tc.made != conf {
					want = append(want, conf) // and the hash made again
				}
				if got := ran(); !slices.Equal(got, want) {
					t.Errorf("success ran %v, want %v", got, want)
				}
			})
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// TestPasswordHashFollowsTheConfiguration: an account whose hash was made
// with other Argon2id parameters (by a CLI with other flags, or before the
// configuration changed) gets a hash with the configured ones at its next
// login, whichever way they differ, so that its logins cost what an unknown
// username's does (checked against a hash of the configured parameters):
// a stronger hash kept after the configuration was lowered would make an
// existing account's wrong password measurably slower to refuse than an
// unknown username, telling which usernames exist.
func TestPasswordHashFollowsTheConfiguration(t *testing.T) {
	base := credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 1}
	for _, tc := range []struct {
		name       string
		made, conf credhash.Params
	}{
		{"more iterations", base, credhash.Params{Memory: 8192, Iterations: 2, Parallelism: 1}},
		{"more memory", base, credhash.Params{Memory: 16384, Iterations: 1, Parallelism: 1}},
		{"fewer iterations", credhash.Params{Memory: 8192, Iterations: 3, Parallelism: 1}, base},
		{"less memory", credhash.Params{Memory: 16384, Iterations: 1, Parallelism: 1}, base},
		{"more lanes", base, credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 2}},
		{"fewer lanes", credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 4}, base},
	} {
		for name, dsn := range testenv.DSNs(t) {
			t.Run(tc.name+"/"+name, func(t *testing.T) {
				t.Parallel()
				ctx := t.Context()
				st := openStore(t, dsn(t))
				cfg := core.DefaultConfig()
				cfg.PasswordParams = tc.made
				old := newServiceWith(t, st, st, cfg)
				if _, err := old.CreateAccount(ctx, core.NewAccount{Username: "olga", Password: testPassword}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				phc := func(p credhash.Params) string {
					return fmt.Sprintf("$m=%d,t=%d,p=%d$", p.Memory, p.Iterations, p.Parallelism)
				}
				cfg.PasswordParams = tc.conf
				svc := newServiceWith(t, st, st, cfg)
				if _, err := svc.Login(ctx, "olga", "wrong horse battery", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: %v", err)
				}
				a, _ := st.AccountByUsername(ctx, "olga")
				if !strings.Contains(a.PasswordHash, phc(tc.made)) {
					t.Fatalf("a wrong password changed the hash: %s", a.PasswordHash)
				}
				if _, err := svc.Login(ctx, "olga", testPassword, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				a, _ = st.AccountByUsername(ctx, "olga")
				if !strings.Contains(a.PasswordHash, phc(tc.conf)) {
					t.Errorf("hash after a login with %s configured: %s", phc(tc.conf), a.PasswordHash)
				}
				if _, err := svc.Login(ctx, "olga", testPassword, core.Meta{}); err != nil {
					t.Errorf("login with the new hash: %v", err)
				}
			})
		}
	}
}
