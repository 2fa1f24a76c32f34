package httpapi_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/testenv"
)

// resend is a push request for the same login or elevation again, with the
// push_secret of the answer ch that sent the one before.
func resend(ch testenv.Response) map[string]string {
	return map[string]string{"method": "push", "push_secret": ch.String("push_secret")}
}

// wantPushBusy checks that r refuses a push while another requester's is
// live: 409 conflict, a Retry-After no later than that push's end, and no
// number or secret.
func wantPushBusy(t *testing.T, r testenv.Response, maxWait int) {
	t.Helper()
	wantProblem(t, r, 409, "conflict")
	if n := retryAfter(t, r); n > maxWait {
		t.Errorf("Retry-After %d, want at most %d", n, maxWait)
	}
	if r.String("push_secret") != "" || r.String("number") != "" || r.String("challenge_id") != "" {
		t.Errorf("a refused push answers %s", r.Body)
	}
}

// TestPushStaysWithItsRequester: whoever knows only a login id (it travels
// in URLs), or holds a copy of a session's token, cannot replace the push
// its owner sent: the new request is refused (409) while the owner's waits
// or is approved, so the device shows the owner's request only and the
// number the owner types from their own screen is checked against the
// owner's push. The owner sends theirs again with its push_secret. The
// refusal ends with the push's life, and the login's other methods work
// meanwhile; a request that is not theirs the owner denies on the device,
// which ends push for that login, to the stranger as well, and starts a new
// sign-in.
func TestPushStaysWithItsRequester(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, app, d := withPushDevice(t, s, "pat")
		owner := testenv.NewClient(s.URL())
		stranger := testenv.NewClient(s.URL())
		stranger.Header.Set("User-Agent", "stranger/1")
		send := func(cl *testenv.Client, loginID string, body map[string]string) testenv.Response {
			t.Helper()
			return cl.Do(t, "POST", "/v1/login/"+loginID+"/challenge", body)
		}
		sent := func(r testenv.Response) testenv.Response {
			t.Helper()
			if r.Status != 202 || len(r.String("push_secret")) < 32 {
				t.Fatalf("push: got %d %s, want 202", r.Status, r.Body)
			}
			return r
		}

		loginID, _ := startLogin(t, s, "pat")
		p1 := sent(send(owner, loginID, map[string]string{"method": "push"}))
		// Without a secret, with a made-up one, or with another login's.
		other, _ := startLogin(t, s, "pat")
		po := sent(send(owner, other, map[string]string{"method": "push"}))
		for _, body := range []map[string]string{{"method": "push"}, {"method": "push", "push_secret": ""},
			{"method": "push", "push_secret": "abcdefghijklmnopqrstuvwxyz234567"}, resend(po)} {
			wantPushBusy(t, send(stranger, loginID, body), 120)
		}
		cs, err := d.Challenges(context.Background(), 0)
		shown := []string{}
		for _, c := range cs {
			shown = append(shown, c.ID)
		}
		slices.Sort(shown)
		want := []string{p1.String("challenge_id"), po.String("challenge_id")}
		slices.Sort(want)
		if err != nil || !slices.Equal(shown, want) {
			t.Fatalf("device shows %+v (%v), want the owner's requests %s and %s only", cs, err, p1.String("challenge_id"), po.String("challenge_id"))
		}
		s.Clock.Add(2*time.Minute + time.Second) // the other login's push expires
		loginID, _ = startLogin(t, s, "pat")
		p1 = sent(send(owner, loginID, map[string]string{"method": "push"}))
		wantPushBusy(t, send(stranger, loginID, map[string]string{"method": "push"}), 120)
		// The owner sends theirs again: it replaces the first.
		s.Clock.Add(30 * time.Second)
		p2 := sent(send(owner, loginID, resend(p1)))
		if _, err := d.Approve(context.Background(), p1.String("challenge_id"), p1.String("number")); !isProblem(err, 409, "conflict") {
			t.Fatalf("approve the replaced request: %v, want 409", err)
		}
		wantPushBusy(t, send(stranger, loginID, resend(p1)), 120)
		wantPushBusy(t, send(stranger, loginID, map[string]string{"method": "push"}), 120)
		// Approved, it stays the owner's until used.
		if st, err := d.Approve(context.Background(), waiting(t, d).ID, p2.String("number")); err != nil || st != "approved" {
			t.Fatalf("approve: %q %v", st, err)
		}
		s.Clock.Add(100 * time.Second) // past the request's 2 minutes, within the approval's
		wantPushBusy(t, send(stranger, loginID, map[string]string{"method": "push"}), 120)
		if v := verify(t, s, loginID, pushProof(p2)); v.Status != 200 {
			t.Fatalf("the owner's verify: %d %s", v.Status, v.Body)
		}

		// A stranger who sends first holds the login's push for its 2
		// minutes at most; the owner meanwhile signs in another way.
		s.Clock.Add(3 * time.Minute)
		loginID, _ = startLogin(t, s, "pat")
		ps := sent(send(stranger, loginID, map[string]string{"method": "push"}))
		wantPushBusy(t, send(owner, loginID, map[string]string{"method": "push"}), 120)
		s.Clock.Add(2*time.Minute + time.Second)
		sent(send(owner, loginID, map[string]string{"method": "push"}))
		wantProblem(t, verify(t, s, loginID, pushProof(ps)), 401, "invalid-code")
		if v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); v.Status != 200 {
			t.Fatalf("TOTP: %d %s", v.Status, v.Body)
		}
		// Or the owner denies the request that is not theirs, which ends
		// push for that login, for everyone, and starts a new sign-in.
		loginID, _ = startLogin(t, s, "pat")
		ps = sent(send(stranger, loginID, map[string]string{"method": "push"}))
		wantPushBusy(t, send(owner, loginID, map[string]string{"method": "push"}), 120)
		if _, err := d.Deny(context.Background(), ps.String("challenge_id")); err != nil {
			t.Fatal(err)
		}
		for who, r := range map[string]testenv.Response{
			"the stranger":          send(stranger, loginID, map[string]string{"method": "push"}),
			"the stranger's resend": send(stranger, loginID, resend(ps)),
			"the owner":             send(owner, loginID, map[string]string{"method": "push"}),
		} {
			wantProblem(t, r, 409, "conflict")
			if r.Header.Get("Retry-After") != "" || r.String("push_secret") != "" {
				t.Errorf("%s's push after the denial: Retry-After %q, %s; want neither", who, r.Header.Get("Retry-After"), r.Body)
			}
		}
		loginID, _ = startLogin(t, s, "pat")
		p3 := sent(send(owner, loginID, map[string]string{"method": "push"}))
		if _, err := d.Approve(context.Background(), p3.String("challenge_id"), p3.String("number")); err != nil {
			t.Fatal(err)
		}
		v := verify(t, s, loginID, pushProof(p3))
		if v.Status != 200 {
			t.Fatalf("the owner's verify: %d %s", v.Status, v.Body)
		}

		// Elevation: a copy of the session's token does not replace the
		// push its holder sent; the holder sends it again.
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		cp := login2(t, s, c.Token)
		e1 := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
		if e1.Status != 202 {
			t.Fatalf("elevation push: %d %s", e1.Status, e1.Body)
		}
		wantPushBusy(t, cp.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"}), 120)
		e2 := c.Do(t, "POST", "/v1/me/elevate/challenge", resend(e1))
		if e2.Status != 202 {
			t.Fatalf("elevation push sent again: %d %s", e2.Status, e2.Body)
		}
		if req := waiting(t, d); req.ID != e2.String("challenge_id") {
			t.Fatalf("device shows %+v, want %s", req, e2.String("challenge_id"))
		}
		// A push for a login is no obstacle to one for an elevation.
		loginID, _ = startLogin(t, s, "pat")
		sent(send(stranger, loginID, map[string]string{"method": "push"}))
		if _, err := d.Approve(context.Background(), e2.String("challenge_id"), e2.String("number")); err != nil {
			t.Fatal(err)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", pushProof(e2)); r.Status != 200 {
			t.Fatalf("elevate: %d %s", r.Status, r.Body)
		}
		if ev := eventTypes(t, c); !slices.Contains(ev, "push.refused") {
			t.Errorf("events %v lack push.refused", ev)
		}
	})
}

// TestDeviceReplayIsTheSenders: replaying one signed device request seen on
// the wire, again and again within its minute, is refused every time, costs
// the replaying address its request rate, and writes a few audit events at
// most; the real device's own ration is untouched, so its next poll works.
func TestDeviceReplayIsTheSenders(t *testing.T) {
	opts := []testenv.ServerOption{behindProxy, func(c *config.Config) { c.LoginBurst, c.LoginRate = 10, 0.001 }}
	eachStoreWith(t, opts, func(t *testing.T, s *testenv.Server) {
		c, d := pushUser(t, s, "fay")
		priv := deviceKey(t, d)
		id, now := d.State.DeviceID, s.Clock.Now()
		const path = "/v1/push/challenges"
		h := push.Sign(priv, id, "GET", path, now, "nonce-seen-on-the-wire1", nil)
		if r := signedRequest(t, s, priv, id, "GET", path, nil, now, "", h); r.Status != 200 {
			t.Fatalf("original: %d %s", r.Status, r.Body)
		}
		replayer := from(testenv.NewClient(s.URL()), "203.0.113.9")
		replayer.Header.Set("Authorization", h)
		codes := map[int]int{}
		for range 40 { // more than the device's ration of 30
			r := replayer.Do(t, "GET", path, nil)
			codes[r.Status]++
			if r.Status == 401 {
				wantDeviceReplayRefused(t, r)
			}
		}
		if codes[401] != 10 || codes[429] != 30 {
			t.Errorf("replays answered %v, want 10 refused, then 30 throttled by the address's rate", codes)
		}
		// The real device asks as often as its ration allows.
		for i := range 25 {
			if _, err := d.Challenges(context.Background(), 0); err != nil {
				t.Fatalf("the real device's poll %d after the replays: %v", i, err)
			}
		}
		n := 0
		for _, e := range eventTypes(t, c) {
			if e == "push.device_auth_failed" {
				n++
			}
		}
		if n < 1 || n > 3 {
			t.Errorf("%d push.device_auth_failed events, want 1 to 3", n)
		}
	})
}

// TestPushStrangerCannotHoldLogin: someone who knows only a login id, whose
// refused requests cost nothing, sends a push for it again the moment the
// owner denies theirs. The denial ends push for that login, for the stranger
// too, however often they try; the owner, refused while the stranger's push
// was live, starts a new sign-in and gets a push at once; and one login's
// denial cannot add up to the pause of the account's pushes.
func TestPushStrangerCannotHoldLogin(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, _, d := withPushDevice(t, s, "pat")
		owner := testenv.NewClient(s.URL())
		stranger := testenv.NewClient(s.URL())
		loginID, _ := startLogin(t, s, "pat")
		push := map[string]string{"method": "push"}
		ps := stranger.Do(t, "POST", "/v1/login/"+loginID+"/challenge", push)
		if ps.Status != 202 {
			t.Fatalf("the stranger's push: %d %s", ps.Status, ps.Body)
		}
		wantPushBusy(t, owner.Do(t, "POST", "/v1/login/"+loginID+"/challenge", push), 120)
		if _, err := d.Deny(context.Background(), ps.String("challenge_id")); err != nil {
			t.Fatalf("deny: %v", err)
		}
		for round := range 5 { // the stranger tries again and again, as the login lives
			for _, body := range []map[string]string{push, resend(ps)} {
				if r := stranger.Do(t, "POST", "/v1/login/"+loginID+"/challenge", body); r.Status != 409 {
					t.Fatalf("round %d: the stranger's push after the denial: %d %s, want 409", round, r.Status, r.Body)
				}
			}
			if cs, err := d.Challenges(context.Background(), 0); err != nil || len(cs) != 0 {
				t.Fatalf("round %d: the device shows %+v (%v), want nothing", round, cs, err)
			}
			s.Clock.Add(30 * time.Second)
		}
		// The owner's new sign-in has its push at once, for each of three
		// logins whose stranger's push they denied.
		for round := range 3 {
			fresh, _ := startLogin(t, s, "pat")
			r := owner.Do(t, "POST", "/v1/login/"+fresh+"/challenge", push)
			if r.Status != 202 {
				t.Fatalf("round %d: the owner's push on a new sign-in: %d %s (Retry-After %s)", round, r.Status, r.Body, r.Header.Get("Retry-After"))
			}
			if _, err := d.Approve(context.Background(), r.String("challenge_id"), r.String("number")); err != nil {
				t.Fatal(err)
			}
			if v := verify(t, s, fresh, pushProof(r)); v.Status != 200 {
				t.Fatalf("round %d: the owner's verify: %d %s", round, v.Status, v.Body)
			}
			s.Clock.Add(time.Minute)
		}
	})
}
