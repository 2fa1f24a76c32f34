package core_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSessionsListedWhateverTheClocks: three instances on one database, one
// whose clock is right, one three session lifetimes ahead and one three
// behind (or clocks stepped that far). Every session that works is listed
// by the instances it works on, with where and how it signed in, whoever
// recorded events meanwhile: made by a password alone, after a second step
// (TOTP) or with a recovery code. On SQLite and PostgreSQL.
func TestSessionsListedWhateverTheClocks(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC))
			lifetime := core.DefaultConfig().SessionTTL
			far := 3 * lifetime
			right := newService(t, db, db, clock.Now, nil)
			ahead := newService(t, db, db, func() time.Time { return clock.Now().Add(far) }, nil)
			behind := newService(t, db, db, func() time.Time { return clock.Now().Add(-far) }, nil)

			signedIn(t, right, "bob")
			others := func(svc *core.Service) { // bob's sign-ins, recorded between
				t.Helper()
				for range 10 {
					if _, err := svc.Login(ctx, "bob", testPassword, core.Meta{UserAgent: "bob's"}); err != nil {
						t.Fatal(err)
					}
				}
			}
			// want checks that the sessions a lists are those of agents,
			// each with its own sign-in's user agent and source.
			want := func(what string, svc *core.Service, a core.Auth, agents ...string) {
				t.Helper()
				ss, err := svc.Sessions(ctx, a)
				if err != nil {
					t.Fatal(err)
				}
				got := []string{}
				for _, s := range ss {
					got = append(got, s.UserAgent)
					if s.Source != "192.0.2.1 "+s.UserAgent {
						t.Errorf("%s: session of %s listed from %q", what, s.UserAgent, s.Source)
					}
				}
				if diff := cmp.Diff(agents, got); diff != "" {
					t.Errorf("%s: sessions by user agent (-want +got):\n%s", what, diff)
				}
			}
			meta := func(agent string) core.Meta { return core.Meta{Source: "192.0.2.1 " + agent, UserAgent: agent} }
			authenticate := func(svc *core.Service, token string) core.Auth {
				t.Helper()
				a, err := svc.Authenticate(ctx, token)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}

			// A clock far behind records events after ada signed in with
			// her password on the instance whose clock is right.
			if _, err := right.CreateAccount(ctx, core.NewAccount{Username: "ada", Email: "ada@example.com", Password: testPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			res, err := right.Login(ctx, "ada", testPassword, meta("laptop"))
			if err != nil {
				t.Fatal(err)
			}
			others(behind)
			want("clock behind: by the clock right", right, authenticate(right, res.Token), "laptop")
			want("clock behind: by it", behind, authenticate(behind, res.Token), "laptop")

			// cy signs in with a recovery code on the instance far ahead
			// (which signs out cy's other sessions, made before); the one
			// that is right records events and, two lifetimes and a half
			// later, signs cy in with TOTP: both sessions work there.
			cy := signedIn(t, right, "cy")
			e, err := right.EnrolFactor(ctx, cy, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			conf, err := right.ConfirmFactor(ctx, cy, e.Factor.ID, testenv.TOTP(t, e.Secret, right.Now()), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			clock.Add(2 * lifetime)
			signIn := func(svc *core.Service, agent string, p core.SecondFactor) string {
				t.Helper()
				res, err := svc.Login(ctx, "cy", testPassword, meta(agent))
				if err != nil || res.Authenticated {
					t.Fatalf("login: %+v, %v; want a second step", res, err)
				}
				v, err := svc.VerifyLogin(ctx, res.LoginID, p, meta(agent))
				if err != nil {
					t.Fatalf("second step: %v", err)
				}
				return v.Token
			}
			phone := signIn(ahead, "phone", core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: conf.RecoveryCodes[0]})
			others(right)
			clock.Add(5 * lifetime / 2)
			tablet := signIn(right, "tablet", core.SecondFactor{Method: twofold.MethodTOTP, Code: testenv.TOTP(t, e.Secret, right.Now())})
			authenticate(right, phone)
			want("clock ahead: by the clock right", right, authenticate(right, tablet), "tablet", "phone")
		})
	}
}
