package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// loginFrom starts a login of name from addr and returns its id.
func loginFrom(t *testing.T, s *testenv.Server, name, addr string) string {
	t.Helper()
	r := from(testenv.NewClient(s.URL()), addr).Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "second_factor_required" {
		t.Fatalf("login from %s: got %d %s, want second_factor_required", addr, r.Status, r.Body)
	}
	return r.String("login_id")
}

// failFrom sends n refused second steps of name from addr, each on a fresh
// login with the proof made by proof(loginID), waiting out every lock it
// meets.
func failFrom(t *testing.T, s *testenv.Server, name, addr string, n int, proof func(loginID string) map[string]any) {
	t.Helper()
	c := from(testenv.NewClient(s.URL()), addr)
	for failures := 0; failures < n; {
		s.Clock.Add(3 * time.Second) // the address's request bucket refills
		id := loginFrom(t, s, name, addr)
		r := c.Do(t, "POST", "/v1/login/"+id+"/verify", proof(id))
		if r.Status == 429 {
			s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
			continue
		}
		wantProblem(t, r, 401, "invalid-code")
		failures++
	}
}

// TestStrangerCannotLockOwnerOutOfSecondStep: whoever has the password and
// fills every counter from an address of their own (wrong codes, recovery
// codes, paper keys, security-key assertions) locks the codes, which are
// counted per account, and the rest only for their own address: the owner,
// elsewhere, still signs in with a security key, elevates with the paper
// key and cancels a waiting reset, and signs in with a recovery code (SPEC
// §1 stories 4 and 9).
func TestStrangerCannotLockOwnerOutOfSecondStep(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, behindProxy)
		s, ctx := f.s, context.Background()
		owner := from(f.user, "198.51.100.7")
		s.Clock.Add(30 * time.Second)
		elevateWith(t, owner, f.phone.codes[0])
		origin := keyOrigin(t, s)
		r := owner.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey"})
		if r.Status != 201 {
			t.Fatalf("enrol key: got %d %s", r.Status, r.Body)
		}
		key := testenv.NewSecurityKey(t, origin)
		if cr := owner.Do(t, "POST", "/v1/me/factors/"+r.JSON["factor"].(map[string]any)["id"].(string)+"/confirm", map[string]any{"credential": key.Create(t, options(t, r))}); cr.Status != 200 {
			t.Fatalf("confirm key: got %d %s", cr.Status, cr.Body)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(11 * time.Minute) // the owner's elevation runs out

		const stranger = "203.0.113.5"
		keyChallenge := func(c *testenv.Client, loginID string) json.RawMessage {
			t.Helper()
			r := c.Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "webauthn"})
			if r.Status != 200 {
				t.Fatalf("challenge: got %d %s", r.Status, r.Body)
			}
			return options(t, r)
		}
		sc := from(testenv.NewClient(s.URL()), stranger)
		failFrom(t, s, "dave", stranger, 10, func(id string) map[string]any {
			return map[string]any{"method": "webauthn", "credential": testenv.NewSecurityKey(t, origin).Get(t, keyChallenge(sc, id))}
		})
		failFrom(t, s, "dave", stranger, 10, func(string) map[string]any { return map[string]any{"method": "totp", "code": "000000"} })
		failFrom(t, s, "dave", stranger, 10, func(string) map[string]any {
			return map[string]any{"method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"}
		})
		// From the stranger's address even the right proofs now wait.
		s.Clock.Add(2 * time.Second)
		id := loginFrom(t, s, "dave", stranger)
		wantProblem(t, sc.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "recovery_code", "code": f.phone.codes[1]}), 429, "throttled")
		wantProblem(t, sc.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "paper_key", "code": f.phone.paperKey}), 429, "throttled")

		// The owner's codes are locked: they are counted per account.
		id = loginFrom(t, s, "dave", "198.51.100.7")
		wantProblem(t, owner.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}), 429, "throttled")
		// The security key is not: its signature cannot be guessed.
		if v := owner.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "webauthn", "credential": key.Get(t, keyChallenge(owner, id))}); v.Status != 200 {
			t.Fatalf("owner's security key: got %d %s", v.Status, v.Body)
		}
		// Nor is the recovery path, from the owner's address.
		wantProblem(t, owner.Do(t, "DELETE", "/v1/me/two-factor/reset", nil), 403, "elevation-required")
		if r := owner.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": f.phone.paperKey}); r.Status != 200 {
			t.Fatalf("owner's paper key: got %d %s", r.Status, r.Body)
		}
		if r := owner.Do(t, "DELETE", "/v1/me/two-factor/reset", nil); r.Status != 204 {
			t.Fatalf("cancel the reset: got %d %s", r.Status, r.Body)
		}
		id = loginFrom(t, s, "dave", "198.51.100.7")
		if v := owner.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "recovery_code", "code": f.phone.codes[2]}); v.Status != 200 {
			t.Fatalf("owner's recovery code: got %d %s", v.Status, v.Body)
		}
		// The owner's recovery cleared the counters of every address,
		// which have done their work (a recovery code cannot be guessed):
		// the stranger's next wrong one is counted anew.
		s.Clock.Add(3 * time.Second)
		id = loginFrom(t, s, "dave", stranger)
		wantProblem(t, sc.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"}), 401, "invalid-code")
	})
}

// TestHardCapHolds: at the hard cap codes are refused however long one
// waits, so guesses stop at HardCap (SPEC §1.9); the owner is mailed, and
// the recovery path lifts it.
func TestHardCapHolds(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		_, f := phoneUser(t, s, "hal")
		wrong := func() testenv.Response {
			loginID, _ := startLogin(t, s, "hal")
			return verify(t, s, loginID, map[string]string{"method": "totp", "code": otherCode(testenv.TOTP(t, f.secret, s.Clock.Now()))})
		}
		for failures := 0; failures < core.HardCap; {
			r := wrong()
			if r.Status == 429 {
				s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
				continue
			}
			wantProblem(t, r, 401, "invalid-code")
			failures++
		}
		// The mail and the answers name only the ways past the cap that
		// hal has: recovery codes and the paper key, no SSH or security key.
		if body := mailWith(t, mb, "codes refused after failed attempts"); !strings.Contains(body, "a recovery code or your paper key, or an operator") ||
			strings.Contains(body, "SSH key") || strings.Contains(body, "security key") {
			t.Errorf("the hard-cap notice does not name just hal's ways in:\n%s", body)
		}
		for range 5 {
			s.Clock.Add(25 * time.Hour)
			r := wrong()
			wantProblem(t, r, 429, "throttled")
			if n := retryAfter(t, r); n > 24*3600 {
				t.Fatalf("Retry-After %d s, more than a day", n)
			}
			if got, want := r.String("detail"), "too many wrong codes: use a recovery code or the paper key, or ask an operator to unlock the account"; got != want {
				t.Fatalf("hard-cap answer %q, want %q (the recovery path hal has, nothing else)", got, want)
			}
		}
		a, err := s.Store.AccountByUsername(context.Background(), "hal")
		if err != nil {
			t.Fatal(err)
		}
		if n, _, err := s.Store.Throttle(context.Background(), "2fa:"+a.ID+":codes"); err != nil || n != core.HardCap {
			t.Fatalf("code counter at %d (%v), want it to stop at %d", n, err, core.HardCap)
		}
		loginID, _ := startLogin(t, s, "hal")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}), 429, "throttled")
		if r := verify(t, s, loginID, map[string]string{"method": "paper_key", "code": f.paperKey}); r.Status != 200 {
			t.Fatalf("paper key at the hard cap: got %d %s", r.Status, r.Body)
		}
		loginID, _ = startLogin(t, s, "hal")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("code after the paper key: got %d %s", r.Status, r.Body)
		}
	})
}

// TestSecondFactorChecksTakeFromAddressBucket: elevating, resynchronising
// and confirming a factor take from the client address's request bucket, as
// the second step of a login does.
func TestSecondFactorChecksTakeFromAddressBucket(t *testing.T) {
	opts := []testenv.ServerOption{behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 4, 0.001 }}
	eachStoreWith(t, opts, func(t *testing.T, s *testenv.Server) {
		user := func(name, addr string, factor bool) (*testenv.Client, enrolled) {
			t.Helper()
			addUser(t, s, name)
			c := from(testenv.NewClient(s.URL()), addr)
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
			c.Token = r.String("token")
			if !factor {
				return c, startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
			}
			return c, enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		}
		for i, tc := range []struct {
			name   string
			factor bool
			try    func(c *testenv.Client, f enrolled) testenv.Response
		}{
			{"elevate", true, func(c *testenv.Client, f enrolled) testenv.Response {
				return c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": otherCode(testenv.TOTP(t, f.secret, s.Clock.Now()))})
			}},
			{"resync", true, func(c *testenv.Client, f enrolled) testenv.Response {
				return c.Do(t, "POST", "/v1/me/factors/"+f.id+"/resync", map[string]string{"code": "000000", "next_code": "000001"})
			}},
			{"confirm", false, func(c *testenv.Client, f enrolled) testenv.Response {
				return c.Do(t, "POST", "/v1/me/factors/"+f.id+"/confirm", map[string]string{"code": otherCode(testenv.TOTP(t, f.secret, s.Clock.Now()))})
			}},
		} {
			c, f := user(tc.name, fmt.Sprintf("192.0.2.%d", 10+i), tc.factor)
			from(c, fmt.Sprintf("198.51.100.%d", 20+i))
			for n := range 4 {
				s.Clock.Add(70 * time.Second) // past the counters' short waits, not a token's refill
				if r := tc.try(c, f); r.Status != 401 {
					t.Fatalf("%s %d: got %d %s, want 401", tc.name, n+1, r.Status, r.Body)
				}
			}
			s.Clock.Add(70 * time.Second)
			r := tc.try(c, f)
			wantProblem(t, r, 429, "throttled")
			if n := retryAfter(t, r); n != 1000 {
				t.Fatalf("%s: Retry-After %d, want the bucket's 1000 s", tc.name, n)
			}
		}
	})
}

// TestLockoutBookkeeping: failed proofs nobody can guess, counted per
// address, mail the owner nothing (they lock nothing of the owner's) and go
// from every address when the owner passes the recovery path; failed
// resynchronisations take the code counter and warn the owner as wrong
// codes do.
func TestLockoutBookkeeping(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, behindProxy)
		s, ctx := f.s, context.Background()
		for _, addr := range []string{"203.0.113.5", "203.0.113.6"} {
			failFrom(t, s, "dave", addr, 10, func(string) map[string]any {
				return map[string]any{"method": "recovery_code", "code": "aaaa-bbbb-cccc-dddd"}
			})
		}
		prefix := "2fa:" + f.userID + ":recovery:"
		if keys, err := s.Store.ThrottleKeys(ctx, prefix); err != nil || len(keys) != 2 {
			t.Fatalf("recovery counters %v (%v), want one per address", keys, err)
		}
		owner := from(testenv.NewClient(s.URL()), "198.51.100.7")
		id := loginFrom(t, s, "dave", "198.51.100.7")
		if v := owner.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]any{"method": "recovery_code", "code": f.phone.codes[0]}); v.Status != 200 {
			t.Fatalf("owner's recovery code: got %d %s", v.Status, v.Body)
		} else {
			f.user.Token = v.String("token") // a recovery sign-in ends the other sessions
		}
		if keys, err := s.Store.ThrottleKeys(ctx, prefix); err != nil || len(keys) != 0 {
			t.Errorf("recovery counters after the owner's recovery code: %v (%v), want none", keys, err)
		}
		mailWith(t, f.mailbox, "a recovery code was used")
		for _, m := range f.mailbox.Messages() {
			if subject, _ := mailText(t, m); strings.Contains(subject, "locked") {
				t.Errorf("mail %q after wrong recovery codes, which lock nothing of the owner's", subject)
			}
		}

		for failures := 0; failures < 10; {
			r := f.user.Do(t, "POST", "/v1/me/factors/"+f.phone.id+"/resync", map[string]string{"code": "000000", "next_code": "000001"})
			if r.Status == 429 {
				s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
				continue
			}
			wantProblem(t, r, 401, "invalid-code")
			failures++
		}
		mailWith(t, f.mailbox, "second step locked after failed attempts")
	})
}

// TestLockWarningSaysWhoTyped: the mail that tells the owner their second
// step is locked after ten wrong codes says what whoever typed them had,
// by what the codes were typed for (the password at login; a reset link
// mailed to the owner, which needs no password; a session, when elevating),
// and writes the lock's length in words.
func TestLockWarningSaysWhoTyped(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		token := "" // the reset link in use
		for i, tt := range []struct {
			purpose string
			attempt func(user string, c *testenv.Client, code string) testenv.Response
			want    []string // in the mail
		}{
			{"login", func(user string, _ *testenv.Client, code string) testenv.Response {
				id, _ := startLogin(t, s, user)
				return verify(t, s, id, map[string]string{"method": "totp", "code": code})
			}, []string{"Someone who knew your password typed 10 wrong codes", "locked for 15 minutes.", "change your password"}},
			{"password reset", func(user string, _ *testenv.Client, code string) testenv.Response {
				for {
					if token == "" {
						if r := askReset(t, s, user); r.Status != 202 {
							t.Fatalf("asking for a reset: got %d %s", r.Status, r.Body)
						}
						token, _ = resetMail(t, s, mb, len(mb.Messages())+1)
					}
					r := completeReset(t, s, map[string]string{"token": token, "password": "a brand new passphrase", "method": "totp", "code": code})
					if r.Status != 410 {
						return r
					}
					token = "" // the link lapsed while the second step was locked
				}
			}, []string{"Someone with a password-reset link mailed to you typed 10 wrong codes", "locked for 15 minutes.", "secure your email account"}},
			{"elevation", func(_ string, c *testenv.Client, code string) testenv.Response {
				return c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": code})
			}, []string{"Someone signed in to your account typed 10 wrong codes", "locked for 15 minutes.", "change your password"}},
		} {
			user := fmt.Sprintf("user%d", i)
			c, f := phoneUser(t, s, user)
			for failures := 0; failures < 10; {
				r := tt.attempt(user, c, otherCode(testenv.TOTP(t, f.secret, s.Clock.Now())))
				if r.Status == 429 {
					s.Clock.Add(time.Duration(retryAfter(t, r)) * time.Second)
					continue
				}
				wantProblem(t, r, 401, "invalid-code")
				failures++
			}
			body := lockMail(t, mb, i+1)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("%s: the lock's mail lacks %q:\n%s", tt.purpose, w, body)
				}
			}
			if tt.purpose != "login" && strings.Contains(body, "knew your password") {
				t.Errorf("%s: the lock's mail says someone knew the password:\n%s", tt.purpose, body)
			}
		}
	})
}

// lockMail waits for the n-th mail that says the second step is locked and
// returns its body.
func lockMail(t *testing.T, mb *testenv.SMTPServer, n int) string {
	t.Helper()
	for k := 1; ; k++ {
		var bodies []string
		for _, m := range mb.Wait(t, k, time.Minute) {
			if subject, body := mailText(t, m); strings.Contains(subject, "second step locked") {
				bodies = append(bodies, body)
			}
		}
		if len(bodies) >= n {
			return bodies[n-1]
		}
	}
}
