package httpapi_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// raceAddresses is how many client addresses send a proof at once.
const raceAddresses = 6

// raceAddr is the i-th client address of a race.
func raceAddr(i int) string { return fmt.Sprintf("198.51.100.%d", 20+i) }

// atOnce sends n requests at the same moment, the i-th by send(i), and
// returns the answers with how long the slowest took (logged, not judged).
func atOnce(t *testing.T, n int, send func(i int) testenv.Response) []testenv.Response {
	t.Helper()
	start := make(chan struct{})
	out := make([]testenv.Response, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			out[i] = send(i)
		})
	}
	began := time.Now()
	close(start)
	wg.Wait()
	statuses := make([]int, n)
	for i, r := range out {
		statuses[i] = r.Status
	}
	t.Logf("statuses %v in %v", statuses, time.Since(began).Round(10*time.Millisecond))
	return out
}

// tally checks that no answer is a server error and counts the 200s; every
// other answer must be one of the problems allowed.
func tally(t *testing.T, what string, rs []testenv.Response, allowed ...string) int {
	t.Helper()
	won := 0
	for _, r := range rs {
		if r.Status == 200 {
			won++
			continue
		}
		ok := false
		for _, p := range allowed {
			ok = ok || r.Problem() == p
		}
		if !ok || r.Status >= 500 {
			t.Errorf("%s: got %d %s, want 200 or one of %v", what, r.Status, r.Body, allowed)
		}
	}
	return won
}

// TestRecoveryProofsAtOnceFromCountedAddresses: one right recovery code
// (and the paper key) sent at the same moment from several addresses, each
// of which already has a failure counted on its recovery counter, for a
// login, an elevation and a password reset: the code is spent exactly once
// and the others are refused cleanly; the reusable paper key lets one in,
// its sign-in voiding the others' logins. None is a server error (a success clearing the counters of every
// address must not lock against the attempts that hold their own).
func TestRecoveryProofsAtOnceFromCountedAddresses(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), behindProxy, mb.Option("Twofold <twofold@example.com>"))
			addUser(t, s, "rhea")
			e := enrol(t, s, login(t, s, "rhea"), map[string]any{"type": "totp", "label": "phone"})
			a, err := s.Store.AccountByUsername(context.Background(), "rhea")
			if err != nil {
				t.Fatal(err)
			}
			client := func(i int) *testenv.Client { return from(testenv.NewClient(s.URL()), raceAddr(i)) }
			startFrom := func(i int) string {
				r := client(i).Do(t, "POST", "/v1/login", map[string]string{"username": "rhea", "password": password})
				if r.Status != 200 || r.String("status") != "second_factor_required" {
					t.Fatalf("login from %s: got %d %s", raceAddr(i), r.Status, r.Body)
				}
				return r.String("login_id")
			}
			verifyFrom := func(i int, id string, body map[string]string) testenv.Response {
				return client(i).Do(t, "POST", "/v1/login/"+id+"/verify", body)
			}
			// prime counts one wrong recovery code on every address's
			// counter, sent by send, then lets any lock it set pass.
			prime := func(send func(i int) testenv.Response) {
				t.Helper()
				for i := range raceAddresses {
					wantProblem(t, send(i), 401, "invalid-code")
				}
				s.Clock.Add(time.Minute)
			}
			wrong := map[string]string{"method": "recovery_code", "code": "aaaa-bbbb-cccc"}
			primeLogins := func() {
				t.Helper()
				prime(func(i int) testenv.Response { return verifyFrom(i, startFrom(i), wrong) })
			}

			// A recovery code at login.
			primeLogins()
			ids := make([]string, raceAddresses)
			for i := range ids {
				ids[i] = startFrom(i)
			}
			rs := atOnce(t, raceAddresses, func(i int) testenv.Response {
				return verifyFrom(i, ids[i], map[string]string{"method": "recovery_code", "code": e.codes[0]})
			})
			// The losers find the code spent, or their login voided by the
			// winner's sign-in, a recovery that voids the account's logins
			// waiting for their second step.
			if won := tally(t, "recovery code at login", rs, "invalid-code", "login-expired"); won != 1 {
				t.Errorf("recovery code at login: %d answers accepted it, want exactly 1", won)
			}
			if got := countEvents(t, s, a.ID, "recovery_code.used"); got != 1 {
				t.Errorf("recovery_code.used events: got %d, want 1", got)
			}

			// The paper key at login, which is not spent: a sign-in by it is
			// a recovery too, so exactly one gets in and the others find
			// their login voided.
			primeLogins()
			for i := range ids {
				ids[i] = startFrom(i)
			}
			rs = atOnce(t, raceAddresses, func(i int) testenv.Response {
				return verifyFrom(i, ids[i], map[string]string{"method": "paper_key", "code": e.paperKey})
			})
			if won := tally(t, "paper key at login", rs, "login-expired"); won != 1 {
				t.Errorf("paper key at login: %d answers accepted it, want exactly 1", won)
			}

			// A session from each address, by the authenticator app (a
			// sign-in that ends no other session).
			var sessions []*testenv.Client
			for i := range raceAddresses {
				s.Clock.Add(30 * time.Second)
				r := verifyFrom(i, startFrom(i), map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())})
				if r.Status != 200 {
					t.Fatalf("authenticator app at login from %s: got %d %s, want 200", raceAddr(i), r.Status, r.Body)
				}
				c := client(i)
				c.Token = r.String("token")
				sessions = append(sessions, c)
			}

			// A recovery code for an elevation, from each address's session.
			prime(func(i int) testenv.Response { return sessions[i].Do(t, "POST", "/v1/me/elevate", wrong) })
			rs = atOnce(t, raceAddresses, func(i int) testenv.Response {
				return sessions[i].Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": e.codes[1]})
			})
			if won := tally(t, "recovery code for an elevation", rs, "invalid-code"); won != 1 {
				t.Errorf("recovery code for an elevation: %d answers accepted it, want exactly 1", won)
			}
			if got := countEvents(t, s, a.ID, "recovery_code.used"); got != 2 {
				t.Errorf("recovery_code.used events: got %d, want 2", got)
			}

			// A recovery code to complete a password reset, with one link.
			n := len(mb.Wait(t, 1, time.Minute))
			if r := askReset(t, s, "rhea"); r.Status != 202 {
				t.Fatalf("ask: got %d %s", r.Status, r.Body)
			}
			token, _ := resetMail(t, s, mb, n+1)
			complete := func(i int, method, code string) testenv.Response {
				return client(i).Do(t, "POST", "/v1/password-reset/complete",
					map[string]string{"token": token, "password": "a brand new passphrase", "method": method, "code": code})
			}
			prime(func(i int) testenv.Response { return complete(i, "recovery_code", wrong["code"]) })
			rs = atOnce(t, raceAddresses, func(i int) testenv.Response { return complete(i, "recovery_code", e.codes[2]) })
			if won := tally(t, "recovery code for a password reset", rs, "invalid-code", "login-expired"); won != 1 {
				t.Errorf("recovery code for a password reset: %d answers accepted it, want exactly 1", won)
			}
			if got := countEvents(t, s, a.ID, "recovery_code.used"); got != 3 {
				t.Errorf("recovery_code.used events: got %d, want 3", got)
			}
			if got := countEvents(t, s, a.ID, "password.reset"); got != 1 {
				t.Errorf("password.reset events: got %d, want 1", got)
			}
		})
	}
}
