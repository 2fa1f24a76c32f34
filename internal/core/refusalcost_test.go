package core_test

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRefusalCostsTheCostliestHashInUse: after the Argon2id parameters were
// lowered, an account whose hash was made before (costlier) must not be
// refused slower than an unknown username or another account, or the time
// of a refusal tells which usernames exist. Every refusal is padded to the
// costliest hash in store, read as the server starts and by the sweep
// (not per login): the unknown username's check of the hash made with the
// configured parameters, and an account's of its own. The costly account's
// next sign-in makes its hash again with the configured parameters, and
// the next read after that lowers every refusal to the configured cost. A
// costlier hash written by another writer meanwhile (a CLI with other
// flags) counts from the sweep's next read on. The hashes run are counted
// with their parameters (a hook), not timed. On SQLite and PostgreSQL.
func TestRefusalCostsTheCostliestHashInUse(t *testing.T) {
	conf := credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 1}
	strong := credhash.Params{Memory: 16384, Iterations: 2, Parallelism: 1}
	work := func(ps []credhash.Params) float64 {
		var w float64
		for _, p := range ps {
			w += float64(p.Memory) * float64(p.Iterations) / float64(p.Parallelism)
		}
		return w
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testenv.NewClock(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
			st := openStore(t, dsn(t))
			cfg := core.DefaultConfig()
			create := func(params credhash.Params, username string) {
				t.Helper()
				c := cfg
				c.PasswordParams = params
				if _, err := newServiceWith(t, st, st, c).CreateAccount(ctx, core.NewAccount{Username: username, Password: testPassword}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			create(strong, "sam") // before the parameters were lowered
			create(conf, "tia")
			cfg.PasswordParams = conf
			svc := newServiceOpts(t, st, st, core.Options{Config: cfg, Now: clock.Now})
			var (
				mu   sync.Mutex
				runs []credhash.Params
			)
			core.SetArgonHook(svc, func(p credhash.Params) {
				mu.Lock()
				defer mu.Unlock()
				runs = append(runs, p)
			})
			ran := func() []credhash.Params {
				mu.Lock()
				defer mu.Unlock()
				r := runs
				runs = nil
				return r
			}
			svc.Warm()
			if got := ran(); !slices.Equal(got, []credhash.Params{conf}) {
				t.Errorf("warming ran %v, want the unknown usernames' hash with %v", got, conf)
			}
			if got := core.RefusalParams(svc); got != strong {
				t.Fatalf("refusals padded to %v, want the costliest hash in store, %v", got, strong)
			}
			source := 0
			refuse := func(username string) []credhash.Params {
				t.Helper()
				source++ // each from an address of its own: no throttling between
				m := core.Meta{Source: "192.0.2." + strconv.Itoa(source)}
				if _, err := svc.Login(ctx, username, "wrong horse battery", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("%s, a wrong password: got %v, want invalid credentials", username, err)
				}
				return ran()
			}
			// padded checks that a refusal ran the check of a hash with
			// first, then padding to about the work of one with to.
			padded := func(what string, got []credhash.Params, first, to credhash.Params) {
				t.Helper()
				if len(got) != 2 || got[0] != first {
					t.Fatalf("%s ran %v, want a check with %v and its padding", what, got, first)
				}
				if got[1].Memory > to.Memory {
					t.Errorf("%s: the padding %v takes more memory than the costliest hash, %v", what, got[1], to)
				}
				if w, want := work(got), work([]credhash.Params{to}); w < want || w > want+float64(to.Memory) {
					t.Errorf("%s ran %v: %.0f blocks per lane, want about %.0f", what, got, w, want)
				}
			}
			padded("unknown username", refuse("nobody"), conf, strong)
			padded("an account hashed with the configured parameters", refuse("tia"), conf, strong)
			if got := refuse("sam"); !slices.Equal(got, []credhash.Params{strong}) {
				t.Errorf("the costliest account ran %v, want its own check alone", got)
			}

			// Its owner signs in: the hash is made again, with the
			// configured parameters.
			if _, err := svc.Login(ctx, "sam", testPassword, core.Meta{Source: "192.0.2.100"}); err != nil {
				t.Fatal(err)
			}
			if got := ran(); !slices.Equal(got, []credhash.Params{strong, conf}) {
				t.Errorf("sign-in ran %v, want the check with %v and a new hash with %v", got, strong, conf)
			}
			sam, err := st.AccountByUsername(ctx, "sam")
			if err != nil {
				t.Fatal(err)
			}
			if p, err := credhash.ParamsOf(sam.PasswordHash); err != nil || p != conf {
				t.Errorf("sam's hash after signing in: %v, %v, want %v", p, err, conf)
			}
			// Until the next read, refusals still cost the old hash's.
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if got := core.RefusalParams(svc); got != strong {
				t.Errorf("before the next read: refusals padded to %v, want still %v", got, strong)
			}
			clock.Add(core.RefusalCostEvery)
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if got := core.RefusalParams(svc); got != conf {
				t.Fatalf("once no costlier hash is left: refusals padded to %v, want %v", got, conf)
			}
			for _, u := range []string{"nobody", "tia", "sam"} {
				if got := refuse(u); !slices.Equal(got, []credhash.Params{conf}) {
					t.Errorf("%s: refusal ran %v, want one check with %v", u, got, conf)
				}
			}

			// A costlier hash made by another writer counts from the
			// sweep's next read on.
			create(strong, "uma")
			clock.Add(core.RefusalCostEvery)
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if got := core.RefusalParams(svc); got != strong {
				t.Errorf("after a costlier hash was made: refusals padded to %v, want %v", got, strong)
			}
			padded("unknown username after the read", refuse("nobody"), conf, strong)
		})
	}
}

// TestRefusalCostIgnoresHashesOutOfRange: a hash whose parameters Twofold
// would never make (written to the database from outside) does not set the
// cost of every refusal: padding to it would let one row slow down every
// sign-in.
func TestRefusalCostIgnoresHashesOutOfRange(t *testing.T) {
	ctx := context.Background()
	st := openStore(t, testenv.SQLiteDSN(t))
	cfg := cheapConfig()
	svc := newServiceWith(t, st, st, cfg)
	a, err := svc.CreateAccount(ctx, core.NewAccount{Username: "vic", Password: testPassword}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := st.ReplacePasswordHash(ctx, a.ID, a.PasswordHash, "$argon2id$v=19$m=8192,t=1000,p=1$c2FsdHNhbHRzYWx0$c3Vt"); err != nil || !ok {
		t.Fatalf("replace hash: %v, %v", ok, err)
	}
	svc.Warm()
	if got := core.RefusalParams(svc); got != cfg.PasswordParams {
		t.Errorf("refusals padded to %v, want the configured %v", got, cfg.PasswordParams)
	}
}
