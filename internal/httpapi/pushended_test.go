package httpapi_test

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// pushEndedFixture is dave of newResetFixture, elevated, with a push
// device enrolled by the real device client.
func pushEndedFixture(t *testing.T, dsn string) (resetFixture, *pushdevice.Client) {
	t.Helper()
	f := newResetFixture(t, dsn)
	f.s.Clock.Add(30 * time.Second)
	if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, f.s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	d, _ := enrolPush(t, f.s, f.user, "push phone")
	return f, d
}

// totpLogin signs dave in anew with his TOTP, at the next time step.
func totpLogin(t *testing.T, s *testenv.Server, f resetFixture) *testenv.Client {
	t.Helper()
	s.Clock.Add(30 * time.Second)
	loginID, _ := startLogin(t, s, "dave")
	v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())})
	if v.Status != 200 {
		t.Fatalf("sign in with TOTP: got %d %s", v.Status, v.Body)
	}
	return login2(t, s, v.String("token"))
}

// wantNoPushAnswers checks that no answer of the device was recorded on
// the account, nor a denial counted against it.
func wantNoPushAnswers(t *testing.T, f resetFixture) {
	t.Helper()
	for _, typ := range []string{"push.approved", "push.denied", "push.locked"} {
		if n := countEvents(t, f.s, f.userID, typ); n != 0 {
			t.Errorf("got %d %s events, want none", n, typ)
		}
	}
	if n, err := f.s.Store.PushDenials(context.Background(), f.userID, f.s.Clock.Now().Add(-time.Hour)); err != nil || n != 0 {
		t.Errorf("push denials counted: %d, %v, want 0", n, err)
	}
}

// TestPushEndsWithSuspension: a suspension ends the push requests of the
// sign-ins and sessions it ends. While suspended, the device is refused as
// a sign-in with the password is (403, so that `device watch` waits rather
// than telling its owner to enrol again); once the suspension is lifted,
// the device sees none of those requests, and answering one (approve with
// the right number, or deny) is refused as an expired request is (409),
// recording no approval or denial and counting none against the account.
func TestPushEndsWithSuspension(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		loginID, _ := startLogin(t, s, "dave")
		ch := pushChallenge(t, s, loginID)
		ec := f.user.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
		if ec.Status != 202 {
			t.Fatalf("elevation push: got %d %s", ec.Status, ec.Body)
		}
		if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 2 {
			t.Fatalf("device sees %+v (%v), want the two requests", cs, err)
		}

		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		if _, err := d.Challenges(ctx, 0); !isProblem(err, 403, "forbidden") {
			t.Fatalf("poll of a suspended account's device: %v, want 403 forbidden", err)
		}
		if _, err := d.Approve(ctx, ch.String("challenge_id"), ch.String("number")); !isProblem(err, 403, "forbidden") {
			t.Fatalf("approve by a suspended account's device: %v, want 403 forbidden", err)
		}
		wantNoPushAnswers(t, f)

		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unsuspend", nil); r.Status != 200 {
			t.Fatalf("unsuspend: got %d %s", r.Status, r.Body)
		}
		if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 0 {
			t.Fatalf("after the suspension, the device sees %+v (%v), want none", cs, err)
		}
		if _, err := d.Approve(ctx, ch.String("challenge_id"), ch.String("number")); !isProblem(err, 409, "conflict") {
			t.Fatalf("approve the ended sign-in's request: %v, want 409 conflict", err)
		}
		if _, err := d.Deny(ctx, ec.String("challenge_id")); !isProblem(err, 409, "conflict") {
			t.Fatalf("deny the ended session's request: %v, want 409 conflict", err)
		}
		wantNoPushAnswers(t, f)
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")
	})
}

// TestPushEndsWithSessions: signing out everywhere ends the push requests
// of the account's waiting sign-ins, and signing one session out ends
// its elevation's: the device neither sees nor answers them, and nothing
// of them is recorded or counted. A request of a sign-in that still
// waits is unaffected.
func TestPushEndsWithSessions(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()

		// One session signed out: its elevation's request ends.
		other := totpLogin(t, s, f)
		ec := other.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
		if ec.Status != 202 {
			t.Fatalf("elevation push: got %d %s", ec.Status, ec.Body)
		}
		if r := other.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 0 {
			t.Fatalf("after the session's sign-out, the device sees %+v (%v), want none", cs, err)
		}
		// Ended once found, so that it no longer wakes the device's polls.
		if c, err := s.Store.PushChallenge(ctx, ec.String("challenge_id")); err != nil || c.Status != twofold.PushEnded {
			t.Errorf("the signed-out session's request: %q, %v, want ended", c.Status, err)
		}
		if _, err := d.Deny(ctx, ec.String("challenge_id")); !isProblem(err, 409, "conflict") {
			t.Fatalf("deny the signed-out session's request: %v, want 409 conflict", err)
		}
		wantNoPushAnswers(t, f)

		// Signed out everywhere by an operator: the waiting sign-in's
		// request ends.
		loginID, _ := startLogin(t, s, "dave")
		ch := pushChallenge(t, s, loginID)
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/logout", nil); r.Status != 200 && r.Status != 204 {
			t.Fatalf("sign dave out: got %d %s", r.Status, r.Body)
		}
		wantPushEnded(t, f, d, ch, "after the sign-out everywhere")
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")

		// A sign-in begun since is pushed to, and approved, as ever.
		loginID, ch = approvedPush(t, s, d, "dave")
		if v := verify(t, s, loginID, pushProof(ch)); v.Status != 200 {
			t.Fatalf("verify: got %d %s", v.Status, v.Body)
		}
	})
}

// TestSuspensionVoidsEmailChange: a change of address waiting for its
// code does not outlive a suspension, as password-reset links do not:
// whoever started it cannot finish it once the suspension is lifted.
func TestSuspensionVoidsEmailChange(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s := f.s
		s.Clock.Add(30 * time.Second)
		if r := f.user.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, f.phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		const next = "dave@new.example"
		if r := f.user.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next, "password": password}); r.Status != 202 {
			t.Fatalf("change of address: got %d %s", r.Status, r.Body)
		}
		_, body := mailTo(t, f.mailbox, 1, next)
		code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/suspend", nil); r.Status != 200 {
			t.Fatalf("suspend: got %d %s", r.Status, r.Body)
		}
		if r := f.opc.Do(t, "POST", "/v1/admin/users/"+f.userID+"/unsuspend", nil); r.Status != 200 {
			t.Fatalf("unsuspend: got %d %s", r.Status, r.Body)
		}
		c := totpLogin(t, s, f)
		wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}), 404, "not-found")
		if r := c.Do(t, "GET", "/v1/me", nil); r.String("email") == next {
			t.Fatalf("the address became %q", next)
		}
	})
}

// TestCommandLineResetNamesAnOperator: the holder is told that "an
// operator" asked for a reset made with `twofold user reset-two-factor`,
// as for one an operator asked for through the API.
func TestCommandLineResetNamesAnOperator(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		if _, err := f.s.Service.ResetTwoFactorByName(context.Background(), "dave", false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		r := f.user.Do(t, "GET", "/v1/me", nil)
		reset, _ := r.JSON["two_factor"].(map[string]any)["reset"].(map[string]any)
		if reset == nil || reset["requested_by"] != "an operator" {
			t.Fatalf("the holder's view of the reset: %s, want requested_by \"an operator\"", r.Body)
		}
	})
}
