package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

func behindProxy(c *config.Config) { c.TrustedProxies = []string{"127.0.0.1/32"} }

func from(c *testenv.Client, addr string) *testenv.Client {
	c.Header.Set("X-Forwarded-For", addr)
	return c
}

func retryAfter(t *testing.T, r testenv.Response) int {
	t.Helper()
	n, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || n < 1 {
		t.Fatalf("got Retry-After %q, want a positive number of seconds", r.Header.Get("Retry-After"))
	}
	return n
}

// TestStrangerCannotLockOwnerOut: wrong passwords from one address throttle
// that address only; the owner logs in from another, and their second factor
// is untouched (SPEC §1 story 9).
func TestStrangerCannotLockOwnerOut(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t), behindProxy)
			addUser(t, s, "olive")
			owner := from(testenv.NewClient(s.URL()), "198.51.100.7")
			r := owner.Do(t, "POST", "/v1/login", map[string]string{"username": "olive", "password": password})
			owner.Token = r.String("token")
			f := enrol(t, s, owner, map[string]any{"type": "totp", "label": "phone"})

			// The proxy writes the stranger's port too, as some balancers do.
			stranger := from(testenv.NewClient(s.URL()), "203.0.113.5:4444")
			var throttledAt int
			for i := 1; i <= 12; i++ {
				r := stranger.Do(t, "POST", "/v1/login", map[string]string{"username": "olive", "password": "guess " + strconv.Itoa(i)})
				if r.Status == 429 {
					throttledAt = i
					retryAfter(t, r)
					break
				}
				wantProblem(t, r, 401, "invalid-credentials")
			}
			if throttledAt == 0 || throttledAt > 10 {
				t.Fatalf("stranger throttled at attempt %d, want by the 10th", throttledAt)
			}
			// Even the right password is refused from the stranger's address while locked.
			wantProblem(t, stranger.Do(t, "POST", "/v1/login", map[string]string{"username": "olive", "password": password}), 429, "throttled")

			// The owner, elsewhere, logs in with password and code.
			s.Clock.Add(30 * time.Second)
			r = owner.Do(t, "POST", "/v1/login", map[string]string{"username": "olive", "password": password})
			if r.String("status") != "second_factor_required" {
				t.Fatalf("owner login: got %d %s", r.Status, r.Body)
			}
			v := owner.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())})
			if v.Status != 200 {
				t.Fatalf("owner verify: got %d %s", v.Status, v.Body)
			}
			// The audit log shows the stranger's address, taken from X-Forwarded-For.
			owner.Token = v.String("token")
			found := false
			for _, e := range owner.Do(t, "GET", "/v1/me/events?limit=100", nil).JSON["events"].([]any) {
				ev := e.(map[string]any)
				found = found || (ev["type"] == "login.password_failed" && ev["source"] == "203.0.113.5")
			}
			if !found {
				t.Fatal("no login.password_failed event from 203.0.113.5")
			}
		})
	}
}

// TestSecondStepThrottle: wrong codes lead to 429 within 10 attempts, across
// login transactions; then even the right code is refused until the lock
// passes; at the hard cap only a recovery path works.
func TestSecondStepThrottle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "pat")

		wrong := func() testenv.Response {
			loginID, _ := startLogin(t, s, "pat") // a fresh login transaction every time
			return verify(t, s, loginID, map[string]string{"method": "totp", "code": "000000"})
		}
		n := 0
		var r testenv.Response
		for n = 1; n <= 10; n++ {
			if r = wrong(); r.Status == 429 {
				break
			}
			wantProblem(t, r, 401, "invalid-code")
		}
		if r.Status != 429 {
			t.Fatalf("no 429 after 10 wrong codes")
		}
		wait := retryAfter(t, r)
		// The right code is refused too while locked: a locked answer reveals nothing.
		loginID, _ := startLogin(t, s, "pat")
		right := testenv.TOTP(t, f.secret, s.Clock.Now())
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": right}), 429, "throttled")
		// Elevation shares the account's counter.
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": right}), 429, "throttled")

		// Keep failing, waiting out each lock, up to the hard cap.
		failures := n - 1
		s.Clock.Add(time.Duration(wait) * time.Second)
		for failures < core.HardCap {
			r := wrong()
			if r.Status == 429 {
				s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
				continue
			}
			wantProblem(t, r, 401, "invalid-code")
			failures++
		}
		s.Clock.Add(2 * time.Hour)
		loginID, _ = startLogin(t, s, "pat")
		r = verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())})
		wantProblem(t, r, 429, "throttled")
		if !strings.Contains(r.String("detail"), "recovery code") {
			t.Fatalf("hard-cap answer %q does not point to the recovery path", r.String("detail"))
		}
		// Elevation meets the same hard cap, with the same pointer.
		r = c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())})
		wantProblem(t, r, 429, "throttled")
		if !strings.Contains(r.String("detail"), "recovery code") {
			t.Fatalf("hard-cap answer to elevation %q does not point to the recovery path", r.String("detail"))
		}
		// The recovery code still works and clears the lock.
		if r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": f.codes[0]}); r.Status != 200 {
			t.Fatalf("recovery code at hard cap: got %d %s", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		loginID, _ = startLogin(t, s, "pat")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("code after recovery: got %d %s", r.Status, r.Body)
		}
	})
}

// TestRecoveryGuessesNeverLockForLong: wrong recovery codes are throttled
// like codes (they cost a slot each, with growing delays), but never for
// more than 15 minutes and with no hard cap, so that a stranger who knows
// the password cannot keep the owner from the way back in (SPEC §1 stories
// 4 and 9).
func TestRecoveryGuessesNeverLockForLong(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, f := phoneUser(t, s, "rhea")
		failures := 0
		for failures < core.HardCap+5 {
			loginID, _ := startLogin(t, s, "rhea")
			r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"})
			if r.Status == 429 {
				wait := retryAfter(t, r)
				if wait > 15*60 {
					t.Fatalf("after %d wrong recovery codes: Retry-After %d s, more than 15 minutes", failures, wait)
				}
				s.Clock.Add(time.Duration(wait) * time.Second)
				continue
			}
			wantProblem(t, r, 401, "invalid-code")
			failures++
		}
		// The lock after the last failure passes, and the right code works.
		s.Clock.Add(15 * time.Minute)
		loginID, _ := startLogin(t, s, "rhea")
		if r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": f.codes[0]}); r.Status != 200 {
			t.Fatalf("right recovery code after %d wrong ones: got %d %s", failures, r.Status, r.Body)
		}
	})
}

// TestConfirmThrottle: wrong codes confirming a new authenticator are
// throttled on that authenticator (issue 4), the right code is refused as
// well while the lock lasts, and works once it has passed; an authenticator
// already confirmed cannot be confirmed again.
func TestConfirmThrottle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "cleo")
		c := login(t, s, "cleo")
		e := startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
		id, secret := e.id, e.secret
		confirm := func(code string) testenv.Response {
			return c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code})
		}
		right := func() string { return testenv.TOTP(t, secret, s.Clock.Now()) }
		var r testenv.Response
		n := 0
		for n = 1; n <= 10; n++ {
			if r = confirm(otherCode(right())); r.Status == 429 {
				break
			}
			wantProblem(t, r, 401, "invalid-code")
		}
		if r.Status != 429 {
			t.Fatal("no 429 after 10 wrong confirmation codes")
		}
		wait := retryAfter(t, r)
		wantProblem(t, confirm(right()), 429, "throttled")
		s.Clock.Add(time.Duration(wait) * time.Second)
		if r := confirm(right()); r.Status != 200 {
			t.Fatalf("right code after the lock: got %d %s", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		wantProblem(t, confirm(right()), 409, "conflict")
	})
}

func TestOperatorUnlocks(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, f := phoneUser(t, s, "quinn")
	var locked bool
	for range 10 {
		loginID, _ := startLogin(t, s, "quinn")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": "999999"}); r.Status == 429 {
			locked = true
			break
		}
	}
	if !locked {
		t.Fatal("not locked after 10 wrong codes")
	}
	ctx := context.Background()
	qa, err := s.Store.AccountByUsername(ctx, "quinn")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.UnlockAccount(ctx, core.Auth{Account: qa}, qa.ID, core.Meta{}); err == nil {
		t.Fatal("a non-operator unlocked an account")
	}
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "root", Password: password, Operator: true}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	// An operator needs two-factor, and a fresh check of it, to unlock:
	// else a stolen operator session could lift the limits on guessing.
	opc := login(t, s, "root")
	opAuth := func(c *testenv.Client) core.Auth {
		a, err := s.Service.Authenticate(ctx, c.Token)
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	if _, err := s.Service.UnlockAccount(ctx, opAuth(opc), qa.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeForbidden {
		t.Fatalf("unlock by an operator without two-factor: got %v, want forbidden", err)
	}
	opPhone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
	// Confirming the factor elevated the session; once that has lapsed
	// the session asks for a fresh check again.
	lapsed := opAuth(opc)
	lapsed.Session.ElevatedUntil = s.Clock.Now().Add(-time.Second)
	if _, err := s.Service.UnlockAccount(ctx, lapsed, qa.ID, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeElevationRequired {
		t.Fatalf("unlock by an operator whose session is not elevated: got %v, want elevation required", err)
	}
	if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": opPhone.paperKey}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	if cleared, err := s.Service.UnlockAccount(ctx, opAuth(opc), qa.ID, core.Meta{}); err != nil || !cleared {
		t.Fatalf("unlock: got %v, %v; want the locks cleared", cleared, err)
	}
	// Unlocking again finds nothing to clear: no event, no email.
	if cleared, err := s.Service.UnlockAccount(ctx, opAuth(opc), qa.ID, core.Meta{}); err != nil || cleared {
		t.Fatalf("second unlock: got %v, %v; want nothing cleared", cleared, err)
	}
	evs, err := s.Store.Events(ctx, qa.ID, 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	unlocks := 0
	for _, e := range evs {
		if e.Type == "account.unlocked" {
			unlocks++
		}
	}
	if unlocks != 1 {
		t.Fatalf("got %d account.unlocked events, want 1", unlocks)
	}
	loginID, _ := startLogin(t, s, "quinn")
	if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("after unlock: got %d %s", r.Status, r.Body)
	}
}

func TestAddressBucketAndMetrics(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t), behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 5, 0.5 })
	addUser(t, s, "rae")
	flood := from(testenv.NewClient(s.URL()), "192.0.2.9")
	for i := range 5 {
		if r := flood.Do(t, "POST", "/v1/login", map[string]string{"username": "x" + strconv.Itoa(i), "password": "whatever12"}); r.Status != 401 {
			t.Fatalf("request %d: got %d, want 401", i+1, r.Status)
		}
	}
	r := flood.Do(t, "POST", "/v1/login", map[string]string{"username": "rae", "password": password})
	wantProblem(t, r, 429, "throttled")
	retryAfter(t, r)
	// Another address is not affected.
	if r := from(testenv.NewClient(s.URL()), "192.0.2.10").Do(t, "POST", "/v1/login", map[string]string{"username": "rae", "password": password}); r.Status != 200 {
		t.Fatalf("other address: got %d", r.Status)
	}
	// The bucket refills.
	s.Clock.Add(2 * time.Second)
	if r := flood.Do(t, "POST", "/v1/login", map[string]string{"username": "rae", "password": password}); r.Status != 200 {
		t.Fatalf("after refill: got %d", r.Status)
	}

	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	for _, want := range []string{`twofold_events_total{cause="request_rate",type="login.throttled"} 1`,
		`twofold_events_total{cause="bad_credentials",type="login.password_failed"} 5`,
		`twofold_http_request_duration_seconds_bucket{route="POST /v1/login"`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(body), "unknown_username") || strings.Contains(string(body), "wrong_password") {
		t.Error("/metrics tells an unknown username from a wrong password")
	}
	if res.Header.Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id on the response")
	}
}

// TestSameCodeRace: the same valid code sent on several login transactions at
// the same moment is accepted exactly once (SPEC §1 story 8).
func TestSameCodeRace(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "sam")
		c := login(t, s, "sam")
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		for round := range 5 {
			s.Clock.Add(30 * time.Second)
			code := testenv.TOTP(t, f.secret, s.Clock.Now())
			won := 0
			for _, st := range verifyAtOnce(t, s, "sam", 6, func(int) string { return code }) {
				switch st {
				case 200:
					won++
				case 401, 429:
				default:
					t.Errorf("round %d: got status %d", round, st)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: %d requests accepted the same code, want exactly 1", round, won)
			}
		}
	})
}

// phoneUser adds user with a confirmed TOTP factor labelled "phone" and
// moves the clock to the next step, so that the confirming code is behind.
func phoneUser(t *testing.T, s *testenv.Server, user string) (*testenv.Client, enrolled) {
	t.Helper()
	addUser(t, s, user)
	c := login(t, s, user)
	f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
	s.Clock.Add(30 * time.Second)
	return c, f
}

// verifyAtOnce starts n logins of user, then sends the second step of all of
// them at the same moment, the i-th with TOTP code(i), and returns the
// statuses.
func verifyAtOnce(t *testing.T, s *testenv.Server, user string, n int, code func(i int) string) []int {
	t.Helper()
	ids := make([]string, n)
	for i := range ids {
		ids[i], _ = startLogin(t, s, user)
	}
	start := make(chan struct{})
	statuses := make([]int, n)
	var wg sync.WaitGroup
	for i, id := range ids {
		wg.Go(func() {
			<-start
			statuses[i] = verify(t, s, id, map[string]string{"method": "totp", "code": code(i)}).Status
		})
	}
	close(start)
	wg.Wait()
	return statuses
}

// TestTypedUsernameNotStored: a password typed into the username field must
// not land in the database (audit log or throttle counters).
func TestTypedUsernameNotStored(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "uma")
	const typed = "Uma-Secret-Passphrase-42"
	for range 5 {
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": typed, "password": "whatever12"}), 401, "invalid-credentials")
	}
	var db []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.DBPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	for _, needle := range []string{typed, strings.ToLower(typed)} {
		if strings.Contains(string(db), needle) {
			t.Fatalf("the database holds the typed username %q", needle)
		}
	}
	// The unknown-username failures were still counted: the 6th from this address is throttled.
	wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": typed, "password": "whatever12"}), 429, "throttled")
}

// TestParallelGuessesPayForSlots: guesses sent all at once get no more
// answers than the counter allows one at a time. With the clock standing
// still the third failure locks the account, so at most three of sixteen
// concurrent wrong codes are told "wrong"; the rest are told to wait.
func TestParallelGuessesPayForSlots(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		phoneUser(t, s, "gus")
		const guesses = 16
		answered := 0
		for _, st := range verifyAtOnce(t, s, "gus", guesses, func(i int) string { return fmt.Sprintf("%06d", 100000+i) }) {
			switch st {
			case 401:
				answered++
			case 429:
			default:
				t.Errorf("got status %d, want 401 or 429", st)
			}
		}
		if answered < 1 || answered > 3 {
			t.Errorf("%d of %d concurrent wrong codes were answered 401, want 1 to 3", answered, guesses)
		}
	})
}

// TestParallelPasswords: the owner's sign-ins sent all at once from one
// host with the right password all pass, however many more than the
// password budget lets run at once (automation signing in from several
// workers); wrong passwords sent all at once still get no more answers than
// one at a time would: with the clock standing still, five, after which the
// fifth failure's lock stands.
func TestParallelPasswords(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "pia")
		const logins = 12
		loginAtOnce := func(pw func(i int) string) map[int]int {
			t.Helper()
			start := make(chan struct{})
			statuses := make([]int, logins)
			var wg sync.WaitGroup
			for i := range statuses {
				wg.Go(func() {
					<-start
					statuses[i] = testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "pia", "password": pw(i)}).Status
				})
			}
			close(start)
			wg.Wait()
			got := map[int]int{}
			for _, st := range statuses {
				got[st]++
			}
			return got
		}
		if got := loginAtOnce(func(int) string { return password }); got[200] != logins {
			t.Errorf("%d concurrent sign-ins with the right password: got statuses %v, want all 200", logins, got)
		}
		got := loginAtOnce(func(i int) string { return fmt.Sprintf("guess %d", i) })
		if got[401] != 5 || got[429] != logins-5 {
			t.Errorf("%d concurrent wrong passwords: got statuses %v, want 5 answered 401 and the rest 429", logins, got)
		}
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "pia", "password": password}), 429, "throttled")
	})
}

// TestSweep: a running server removes expired logins and stale password
// counters by itself, and keeps a second-factor counter that still counts
// failures however long it waits.
func TestSweep(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		phoneUser(t, s, "sue")
		loginID, _ := startLogin(t, s, "sue")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": "000000"}), 401, "invalid-code")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "sue", "password": "wrong password"}), 401, "invalid-credentials")
		keys := func(prefix string) []string {
			t.Helper()
			k, err := s.Store.ThrottleKeys(t.Context(), prefix)
			if err != nil {
				t.Fatalf("ThrottleKeys: %v", err)
			}
			return k
		}
		if len(keys("pw:")) != 1 || len(keys("2fa:")) != 1 {
			t.Fatalf("counters before: got %v, want one password and one code counter", keys(""))
		}

		s.Clock.Add(core.StaleAfter + time.Hour)
		deadline := time.Now().Add(time.Minute) // a bound for a loaded machine, not a timing
		for {
			_, err := s.Store.Login(t.Context(), loginID)
			if twofold.ErrorCode(err) == twofold.CodeNotFound && len(keys("pw:")) == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("after a day: login %v, counters %v; want the login and the password counter swept", err, keys(""))
			}
			time.Sleep(20 * time.Millisecond)
		}
		if len(keys("2fa:")) != 1 {
			t.Errorf("the code counter with a failure was swept: counters left %v", keys(""))
		}
	})
}

// otherCode returns a code of the same length that differs from code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+5)%10
	return string(b)
}

// TestIPv6AddressesCountByPrefix: the addresses of one IPv6 /64, which one
// host commonly has, share the password counter and the request bucket;
// another /64 has its own.
func TestIPv6AddressesCountByPrefix(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 8, 0.5 }}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ivy")
		throttledAt := 0
		for i := 1; i <= 8; i++ {
			c := from(testenv.NewClient(s.URL()), fmt.Sprintf("2001:db8:1:2::%x", i))
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": "guess " + strconv.Itoa(i)})
			if r.Status == 429 {
				throttledAt = i
				break
			}
			wantProblem(t, r, 401, "invalid-credentials")
		}
		if throttledAt != 6 {
			t.Fatalf("wrong passwords from one /64, each from a new address: first 429 at attempt %d, want the 6th", throttledAt)
		}
		// Those 6 requests took 6 of the /64's 8 tokens: two more pass.
		c := from(testenv.NewClient(s.URL()), "2001:db8:1:2:ffff::1")
		for range 2 {
			wantProblem(t, c.Do(t, "POST", "/v1/login", map[string]string{"username": "someone", "password": "whatever12"}), 401, "invalid-credentials")
		}
		wantProblem(t, c.Do(t, "POST", "/v1/login", map[string]string{"username": "someone", "password": "whatever12"}), 429, "throttled")
		// Another /64 is another client.
		other := from(testenv.NewClient(s.URL()), "2001:db8:1:3::1")
		if r := other.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password}); r.Status != 200 {
			t.Fatalf("login from another /64: got %d %s", r.Status, r.Body)
		}
	})
}

// TestNoAttemptCostsNoSlot: a second step or an elevation with a method this
// server does not take, or without a code, is a 400 and takes no throttle
// slot: it is not a guess, and must not move the owner toward a lock.
func TestNoAttemptCostsNoSlot(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "noor")
		c := login(t, s, "noor")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		loginID, _ := startLogin(t, s, "noor")
		for range 12 {
			for _, body := range []map[string]string{
				{"code": "123456"}, {"method": "TOTP", "code": "123456"}, {"method": "push", "code": "123456"},
				{"method": "totp"}, {"method": "recovery_code", "code": "  "}, {"method": "paper_key"},
			} {
				wantProblem(t, verify(t, s, loginID, body), 400, "invalid")
				wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", body), 400, "invalid")
			}
		}
		s.Clock.Add(30 * time.Second)
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("the right code after 144 malformed attempts: got %d %s", r.Status, r.Body)
		}
	})
}

// TestFastAndSlowPathsRaced: the second step by the hot path (no factor_id)
// and by the general one (with factor_id) lock the factor, the login and the
// throttle in different orders, so on PostgreSQL two of them at once for one
// account can deadlock. The one PostgreSQL ends wrote nothing and runs again:
// every round has exactly one success and no 500.
func TestFastAndSlowPathsRaced(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, phone := phoneUser(t, s, "dora")
		// Each round's success clears the counter its refusal moved: no lock.
		for round := range 20 {
			s.Clock.Add(30 * time.Second)
			code := testenv.TOTP(t, phone.secret, s.Clock.Now())
			fast, _ := startLogin(t, s, "dora")
			slow, _ := startLogin(t, s, "dora")
			var wg sync.WaitGroup
			statuses := make([]int, 2)
			wg.Go(func() {
				statuses[0] = verify(t, s, fast, map[string]string{"method": "totp", "code": code}).Status
			})
			wg.Go(func() {
				statuses[1] = verify(t, s, slow, map[string]string{"method": "totp", "factor_id": phone.id, "code": code}).Status
			})
			wg.Wait()
			won := 0
			for _, st := range statuses {
				switch st {
				case 200:
					won++
				case 401, 429:
				default:
					t.Fatalf("round %d: statuses %v, want one 200 and a refusal", round, statuses)
				}
			}
			if won != 1 {
				t.Fatalf("round %d: statuses %v, want exactly one 200", round, statuses)
			}
		}
	})
}

// TestReplayIsRecordedAsSuch: a code used once and sent again is refused
// like a wrong one (the same 401), and the audit log records the real cause,
// on the hot path and on the general one (with factor_id).
func TestReplayIsRecordedAsSuch(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, phone := phoneUser(t, s, "remy")
		code := testenv.TOTP(t, phone.secret, s.Clock.Now())
		first, _ := startLogin(t, s, "remy")
		if r := verify(t, s, first, map[string]string{"method": "totp", "code": code}); r.Status != 200 {
			t.Fatalf("first use: got %d %s", r.Status, r.Body)
		}
		for _, body := range []map[string]string{
			{"method": "totp", "code": code},
			{"method": "totp", "factor_id": phone.id, "code": code},
			{"method": "totp", "code": otherCode(code)},
		} {
			l, _ := startLogin(t, s, "remy")
			wantProblem(t, verify(t, s, l, body), 401, "invalid-code")
		}
		var details []string
		for _, e := range c.Do(t, "GET", "/v1/me/events?limit=10", nil).JSON["events"].([]any) {
			if ev := e.(map[string]any); ev["type"] == "login.second_factor_failed" {
				details = append(details, ev["detail"].(string))
			}
		}
		if len(details) != 3 || !strings.Contains(details[0], "wrong code") || !strings.Contains(details[1], "replayed code") || !strings.Contains(details[2], "replayed code") {
			t.Errorf("failure details, newest first: %q; want wrong, replayed, replayed", details)
		}
	})
}

// TestHotPathClearsTheFactorCounter: wrong codes that named the factor count
// against it too; a right code of that factor without naming it (the hot
// path) clears that count as well as the account's, so that failures never
// pile up across the owner's successes.
func TestHotPathClearsTheFactorCounter(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, phone := phoneUser(t, s, "fern")
		a, err := s.Store.AccountByUsername(context.Background(), "fern")
		if err != nil {
			t.Fatal(err)
		}
		loginID, _ := startLogin(t, s, "fern")
		wrong := otherCode(testenv.TOTP(t, phone.secret, s.Clock.Now()))
		for range 2 {
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "factor_id": phone.id, "code": wrong}), 401, "invalid-code")
		}
		counter := func() int {
			cs, err := s.Store.Counters(context.Background(), "2fa:"+a.ID+":factor:")
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range cs {
				n += c.Failures
			}
			return n
		}
		if n := counter(); n != 2 {
			t.Fatalf("the factor's counter after two wrong codes naming it: %d, want 2", n)
		}
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("the right code: %d %s", r.Status, r.Body)
		}
		if n := counter(); n != 0 {
			t.Errorf("the factor's counter after a right code by the hot path: %d, want 0", n)
		}
	})
}

// TestPasskeyBeginsCountBySite: a sign-in with a passkey stores a row for
// anyone who asks, so begins spread over the /64s of one IPv6 /48 are
// counted together too, at 16 clients' worth; another /48 is unaffected.
func TestPasskeyBeginsCountBySite(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 2, 0.01 }}, func(t *testing.T, s *testenv.Server) {
		begin := func(addr string) testenv.Response {
			return from(testenv.NewClient(s.URL()), addr).Do(t, "POST", "/v1/login/passkey", nil)
		}
		for i := range 32 { // 16 /64s of 2 each: the /48's 32
			if r := begin(fmt.Sprintf("2001:db8:1:%x::1", i/2)); r.Status != 200 {
				t.Fatalf("begin %d: got %d %s", i, r.Status, r.Body)
			}
		}
		wantProblem(t, begin("2001:db8:1:ff::1"), 429, "throttled")
		if r := begin("2001:db8:2::1"); r.Status != 200 {
			t.Fatalf("from another /48: got %d %s", r.Status, r.Body)
		}
	})
}

// TestLockedFactorTakesNoAccountSlot: a code naming a factor whose own
// counter is locked, while the account's is not (the owner passed with
// another factor since), is answered 429 without counting on the
// account's counter: no code was checked, so it must not bring the owner
// nearer the warning mail and the hard cap.
func TestLockedFactorTakesNoAccountSlot(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, phone := phoneUser(t, s, "lola")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		tablet := enrol(t, s, c, map[string]any{"type": "totp", "label": "tablet"})
		s.Clock.Add(30 * time.Second)
		a, err := s.Store.AccountByUsername(context.Background(), "lola")
		if err != nil {
			t.Fatal(err)
		}
		failures := func(key string) int {
			t.Helper()
			cs, err := s.Store.Counters(context.Background(), key)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, c := range cs {
				n += c.Failures
			}
			return n
		}
		accountKey, phoneKey := "2fa:"+a.ID+":codes", "2fa:"+a.ID+":factor:"+phone.id
		wrong := map[string]string{"method": "totp", "factor_id": phone.id, "code": otherCode(testenv.TOTP(t, phone.secret, s.Clock.Now()))}
		loginID, _ := startLogin(t, s, "lola")
		for range 2 {
			wantProblem(t, verify(t, s, loginID, wrong), 401, "invalid-code")
		}
		// The owner signs in with the tablet: the account's counter is
		// cleared, the phone's keeps its two failures.
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "factor_id": tablet.id, "code": testenv.TOTP(t, tablet.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("sign-in with the tablet: got %d %s", r.Status, r.Body)
		}
		loginID, _ = startLogin(t, s, "lola")
		wantProblem(t, verify(t, s, loginID, wrong), 401, "invalid-code") // the phone's third: locked for a second
		if got, want := []int{failures(accountKey), failures(phoneKey)}, []int{1, 3}; got[0] != want[0] || got[1] != want[1] {
			t.Fatalf("account and phone counters: got %v, want %v", got, want)
		}
		for i := range 4 {
			wantProblem(t, verify(t, s, loginID, wrong), 429, "throttled")
			if n := failures(accountKey); n != 1 {
				t.Fatalf("after the %d-th refusal by the phone's lock, the account's counter is %d, want 1", i+1, n)
			}
		}
	})
}

// TestVerifyTakesAddressToken: the second step with a TOTP code and no
// factor named (the hot path, whose read takes the source address's token
// in the same statement on PostgreSQL) draws on the address's bucket as the
// password step does: with the bucket empty, even the right code is a 429
// with Retry-After that uses nothing up, and once the bucket refills the
// same code goes through.
func TestVerifyTakesAddressToken(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 3, 0.5 }}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "tia")
		phone := enrol(t, s, login(t, s, "tia"), map[string]any{"type": "totp", "label": "phone"})
		loginID, _ := startLogin(t, s, "tia")
		s.Clock.Add(30 * time.Second)
		right := testenv.TOTP(t, phone.secret, s.Clock.Now())
		flood := from(testenv.NewClient(s.URL()), "192.0.2.20")
		do := func(id, code string) testenv.Response {
			return flood.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "totp", "code": code})
		}
		// The address's three tokens: two wrong codes and an unknown login.
		for range 2 {
			wantProblem(t, do(loginID, otherCode(right)), 401, "invalid-code")
		}
		wantProblem(t, do("no-such-login", right), 410, "login-expired")
		r := do(loginID, right)
		wantProblem(t, r, 429, "throttled")
		retryAfter(t, r)
		s.Clock.Add(2 * time.Second)
		if r := do(loginID, right); r.Status != 200 || r.String("token") == "" {
			t.Fatalf("the right code once the bucket refilled: got %d %s, want 200 with a token", r.Status, r.Body)
		}
	})
}
