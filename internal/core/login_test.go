package core_test

import (
	"context"
	"fmt"
	"runtime"
	"strings"
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
