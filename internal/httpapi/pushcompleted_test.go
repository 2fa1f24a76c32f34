package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// addEmailFactor adds and confirms an email factor on the fixture's
// elevated session of dave, and returns its id.
func addEmailFactor(t *testing.T, f resetFixture) string {
	t.Helper()
	seen := len(f.mailbox.Messages())
	r := f.user.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
	if r.Status != 201 {
		t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
	}
	id := r.JSON["factor"].(map[string]any)["id"].(string)
	if r := f.user.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": f.mailbox.CodeAfter(t, seen)}); r.Status != 200 {
		t.Fatalf("confirm email: got %d %s", r.Status, r.Body)
	}
	return id
}

// TestPushEndsWhenItsSignInCompletesAnotherWay: a push request sent for a
// sign-in ends in the transaction that completes the sign-in by another
// method: the app's code (on SQLite through the batched writer, on
// PostgreSQL in the completion's one statement), the app's code for one
// factor (the general path), and an emailed code. Before the device looks
// again the request is ended and no longer wakes the device's polls; the
// device then sees nothing, and its approval is refused and recorded
// nowhere. A request approved and not yet used ends too, and the approval
// then signs nothing in. On SQLite and PostgreSQL, over HTTP.
func TestPushEndsWhenItsSignInCompletesAnotherWay(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		emailID := addEmailFactor(t, f)

		for _, tc := range []struct {
			name  string
			proof func(loginID string) map[string]string
		}{
			{"totp", func(string) map[string]string {
				return map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}
			}},
			{"totp of one factor", func(string) map[string]string {
				return map[string]string{"method": "totp", "factor_id": f.phone.id, "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}
			}},
			{"email", func(loginID string) map[string]string {
				seen := len(f.mailbox.Messages())
				if r := challenge(t, s, loginID, map[string]string{"method": "email", "factor_id": emailID}); r.Status != 202 {
					t.Fatalf("email challenge: got %d %s", r.Status, r.Body)
				}
				return map[string]string{"method": "email", "factor_id": emailID, "code": f.mailbox.CodeAfter(t, seen)}
			}},
		} {
			s.Clock.Add(30 * time.Second) // a TOTP code of a step not used yet
			loginID, _ := startLogin(t, s, "dave")
			ch := pushChallenge(t, s, loginID)
			if got := waiting(t, d); got.ID != ch.String("challenge_id") {
				t.Fatalf("%s: the device sees %+v, want the sign-in's request", tc.name, got)
			}
			if v := verify(t, s, loginID, tc.proof(loginID)); v.Status != 200 {
				t.Fatalf("%s: sign in: got %d %s", tc.name, v.Status, v.Body)
			}
			wantPushEnded(t, f, d, ch, tc.name)
			wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")
		}

		// Approved and not yet used: the approval ends with the sign-in
		// that the app's code completed, and signs nothing in.
		s.Clock.Add(30 * time.Second)
		loginID, ch := approvedPush(t, s, d, "dave")
		if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); v.Status != 200 {
			t.Fatalf("sign in with TOTP: got %d %s", v.Status, v.Body)
		}
		if got, err := s.Store.PushChallenge(ctx, ch.String("challenge_id")); err != nil || got.Status != twofold.PushEnded {
			t.Errorf("an approved request of a completed sign-in: %q (%v), want ended", got.Status, err)
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")
		if n := countEvents(t, s, f.userID, "login.succeeded"); n < 5 {
			t.Fatalf("got %d login.succeeded events, want the four sign-ins' and the fixture's", n)
		}

		// A sign-in by the push itself still works, and its request is
		// used, not ended.
		s.Clock.Add(30 * time.Second)
		loginID, ch = approvedPush(t, s, d, "dave")
		if v := verify(t, s, loginID, pushProof(ch)); v.Status != 200 {
			t.Fatalf("sign in by push: got %d %s", v.Status, v.Body)
		}
		if got, err := s.Store.PushChallenge(ctx, ch.String("challenge_id")); err != nil || got.Status != twofold.PushUsed {
			t.Errorf("the request that signed in: %q (%v), want used", got.Status, err)
		}
	})
}

// TestElevationCodesEndWithTheirSession: the codes sent by email for a
// session's elevation are deleted in the transaction that ends the session,
// whichever way it ends: its own sign-out (POST /v1/logout), the web
// sign-out by its cookie's token (LogoutToken), or ending it from another
// session's list (DELETE /v1/me/sessions/{id}). The code can no longer be
// used, and another session's elevation code stays. On SQLite and
// PostgreSQL, over HTTP.
func TestElevationCodesEndWithTheirSession(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, _ := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		emailID := addEmailFactor(t, f)

		// The elevation code of the fixture's own session, which stays.
		if r := f.user.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "email", "factor_id": emailID}); r.Status != 202 {
			t.Fatalf("elevation code of the other session: got %d %s", r.Status, r.Body)
		}
		userScope := "elevate:" + strings.Split(f.user.Token, ".")[0]

		for _, tc := range []struct {
			name string
			end  func(c *testenv.Client)
		}{
			{"own sign-out", func(c *testenv.Client) {
				if r := c.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
					t.Fatalf("logout: got %d %s", r.Status, r.Body)
				}
			}},
			{"web sign-out", func(c *testenv.Client) {
				if ended, err := s.Service.LogoutToken(ctx, c.Token, core.Meta{}); err != nil || !ended {
					t.Fatalf("web sign-out: %v, %v", ended, err)
				}
			}},
			{"ended from the sessions list", func(c *testenv.Client) {
				if r := f.user.Do(t, "DELETE", "/v1/me/sessions/"+strings.Split(c.Token, ".")[0], nil); r.Status != 204 {
					t.Fatalf("end the session from the list: got %d %s", r.Status, r.Body)
				}
			}},
		} {
			c := totpLogin(t, s, f)
			scope := "elevate:" + strings.Split(c.Token, ".")[0]
			seen := len(f.mailbox.Messages())
			if r := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "email", "factor_id": emailID}); r.Status != 202 {
				t.Fatalf("%s: elevation code: got %d %s", tc.name, r.Status, r.Body)
			}
			code := f.mailbox.CodeAfter(t, seen)
			if !hasSentCode(t, f, scope) {
				t.Fatalf("%s: no code stored for the session's elevation", tc.name)
			}
			tc.end(c)
			if hasSentCode(t, f, scope) {
				t.Errorf("%s: the session's elevation code is still stored", tc.name)
			}
			if !hasSentCode(t, f, userScope) {
				t.Errorf("%s: another session's elevation code was deleted", tc.name)
			}
			wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "email", "code": code}), 401, "unauthorized")
		}
	})
}

// hasSentCode reports whether a code is stored for dave's scope.
func hasSentCode(t *testing.T, f resetFixture, scope string) bool {
	t.Helper()
	cs, err := f.s.Store.SentCodes(context.Background(), f.userID)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Scope == scope {
			return true
		}
	}
	return false
}
