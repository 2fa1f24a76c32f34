package httpapi_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// wantPushEnded checks, before the device looks, that the push request
// challengeID was ended and the device has nothing waiting; then that the
// device (over HTTP) sees nothing and an approval of it is refused (409)
// and recorded nowhere.
func wantPushEnded(t *testing.T, f resetFixture, d *pushdevice.Client, ch testenv.Response, what string) {
	t.Helper()
	ctx := context.Background()
	id := ch.String("challenge_id")
	if c, err := f.s.Store.PushChallenge(ctx, id); err != nil || c.Status != twofold.PushEnded {
		t.Errorf("%s: before the device looks, its request is %q (%v), want ended", what, c.Status, err)
	}
	if ids, err := f.s.Store.PushFactorsWaiting(ctx, f.s.Clock.Now()); err != nil || slices.Contains(ids, d.State.DeviceID) {
		t.Errorf("%s: devices with a request waiting: %v (%v), want not the device", what, ids, err)
	}
	if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 0 {
		t.Errorf("%s: the device sees %+v (%v), want none", what, cs, err)
	}
	if _, err := d.Approve(ctx, id, ch.String("number")); !isProblem(err, 409, "conflict") {
		t.Errorf("%s: approving its request: %v, want 409 conflict", what, err)
	}
	wantNoPushAnswers(t, f)
}

// elevationPush signs dave in anew and sends a push to confirm it's him
// on that session.
func elevationPush(t *testing.T, f resetFixture) (*testenv.Client, testenv.Response) {
	t.Helper()
	c := totpLogin(t, f.s, f)
	ec := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
	if ec.Status != 202 {
		t.Fatalf("elevation push: got %d %s", ec.Status, ec.Body)
	}
	return c, ec
}

// TestPushEndsAtSignOutAtOnce: signing one session out ends the push
// request sent for its elevation in the same transaction, whichever way it
// is signed out: its own sign-out (POST /v1/logout), the web sign-out by
// its cookie's token (LogoutToken), or ending it from another session's
// list (DELETE /v1/me/sessions/{id}). Before the device looks again the
// request is ended and no longer wakes the device's polls; the device then
// sees nothing, and its approval is refused. An approved request not yet
// used ends too. On SQLite and PostgreSQL, over the device's HTTP API.
func TestPushEndsAtSignOutAtOnce(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		ctx := context.Background()

		c, ec := elevationPush(t, f)
		if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 1 {
			t.Fatalf("the device sees %+v (%v), want the request", cs, err)
		}
		if r := c.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		wantPushEnded(t, f, d, ec, "own sign-out")

		c, ec = elevationPush(t, f)
		if ended, err := f.s.Service.LogoutToken(ctx, c.Token, core.Meta{}); err != nil || !ended {
			t.Fatalf("web sign-out: %v, %v", ended, err)
		}
		wantPushEnded(t, f, d, ec, "web sign-out")

		c, ec = elevationPush(t, f)
		if r := f.user.Do(t, "DELETE", "/v1/me/sessions/"+strings.Split(c.Token, ".")[0], nil); r.Status != 204 {
			t.Fatalf("end the session from the list: got %d %s", r.Status, r.Body)
		}
		wantPushEnded(t, f, d, ec, "ended from the sessions list")

		// Approved and not yet used: the approval ends with the session.
		c, ec = elevationPush(t, f)
		if st, err := d.Approve(ctx, waiting(t, d).ID, ec.String("number")); err != nil || st != "approved" {
			t.Fatalf("approve: %q, %v", st, err)
		}
		if r := c.Do(t, "POST", "/v1/logout", nil); r.Status != 204 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		if got, err := f.s.Store.PushChallenge(ctx, ec.String("challenge_id")); err != nil || got.Status != twofold.PushEnded {
			t.Errorf("an approved request of a signed-out session: %q (%v), want ended", got.Status, err)
		}

		// A sign-out that ends nothing (a token of no session) ends no
		// other session's request.
		other, ec := elevationPush(t, f)
		if ended, err := f.s.Service.LogoutToken(ctx, strings.Split(other.Token, ".")[0]+".not-its-token", core.Meta{}); err != nil || ended {
			t.Fatalf("sign-out with a wrong token: %v, %v", ended, err)
		}
		if got := waiting(t, d); got.ID != ec.String("challenge_id") {
			t.Errorf("after a sign-out with a wrong token, the device sees %+v, want the live session's request", got)
		}
	})
}

// TestPushEndsWithItsLogin: a push request sent late in a sign-in expires
// with the sign-in, not PushTTL later: its answer and the device show the
// sign-in's expiry, and once the sign-in has expired nothing waits for the
// device, which sees nothing and whose approval is refused. On SQLite and
// PostgreSQL, over the device's HTTP API.
func TestPushEndsWithItsLogin(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f, d := pushEndedFixture(t, dsn)
		s, ctx := f.s, context.Background()
		loginID, r := startLogin(t, s, "dave")
		loginEnds, err := time.Parse(time.RFC3339Nano, r.String("expires_at"))
		if err != nil {
			t.Fatalf("login expires_at %q: %v", r.String("expires_at"), err)
		}
		s.Clock.Set(loginEnds.Add(-30 * time.Second))
		ch := pushChallenge(t, s, loginID)
		if got, err := time.Parse(time.RFC3339Nano, ch.String("expires_at")); err != nil || !got.Equal(loginEnds) {
			t.Errorf("push expires_at %s, want the login's %s", ch.String("expires_at"), loginEnds)
		}
		if got := waiting(t, d); !got.ExpiresAt.Equal(loginEnds) {
			t.Errorf("the device shows the request expiring at %s, want the login's %s", got.ExpiresAt, loginEnds)
		}

		s.Clock.Set(loginEnds.Add(time.Second))
		if ids, err := s.Store.PushFactorsWaiting(ctx, s.Clock.Now()); err != nil || slices.Contains(ids, d.State.DeviceID) {
			t.Errorf("once the login expired, devices with a request waiting: %v (%v), want not the device", ids, err)
		}
		if cs, err := d.Challenges(ctx, 0); err != nil || len(cs) != 0 {
			t.Errorf("once the login expired, the device sees %+v (%v), want none", cs, err)
		}
		if _, err := d.Approve(ctx, ch.String("challenge_id"), ch.String("number")); !isProblem(err, 409, "conflict") {
			t.Errorf("approving the expired login's request: %v, want 409 conflict", err)
		}
		wantNoPushAnswers(t, f)
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")
	})
}
