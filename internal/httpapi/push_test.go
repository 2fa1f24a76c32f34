package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// pushDevice is an enrolled push device for a test server: the real device
// client, on the server's clock.
func pushDevice(t testing.TB, s *testenv.Server, st pushdevice.State) *pushdevice.Client {
	return &pushdevice.Client{State: st, HTTP: &http.Client{Timeout: 30 * time.Second}, Now: s.Clock.Now}
}

// startPush adds a push factor through the API and returns the answer.
func startPush(t testing.TB, c *testenv.Client, label string) testenv.Response {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": label})
	if r.Status != 201 {
		t.Fatalf("enrol push: got %d %s, want 201", r.Status, r.Body)
	}
	return r
}

// withPushDevice adds the user name with an authenticator app, elevates
// by the paper key the app's confirmation gave, and enrols a push device
// labelled "phone". It returns the session, the app and the device.
func withPushDevice(t *testing.T, s *testenv.Server, name string) (*testenv.Client, enrolled, *pushdevice.Client) {
	t.Helper()
	addUser(t, s, name)
	c := login(t, s, name)
	app := enrol(t, s, c, map[string]any{"type": "totp", "label": "app"})
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": app.paperKey}); r.Status != 200 {
		t.Fatalf("elevate: %d %s", r.Status, r.Body)
	}
	d, _ := enrolPush(t, s, c, "phone")
	return c, app, d
}

// pushUser adds the user name, signs it in and enrols a push device
// labelled "phone", its only factor: it returns the session and the
// device.
func pushUser(t *testing.T, s *testenv.Server, name string) (*testenv.Client, *pushdevice.Client) {
	t.Helper()
	addUser(t, s, name)
	c := login(t, s, name)
	d, _ := enrolPush(t, s, c, "phone")
	return c, d
}

// enrolPush adds a push factor and enrols the device client with its URI.
func enrolPush(t testing.TB, s *testenv.Server, c *testenv.Client, label string) (*pushdevice.Client, pushdevice.Enrolled) {
	t.Helper()
	r := startPush(t, c, label)
	st, e, err := pushdevice.Enrol(context.Background(), http.DefaultClient, r.String("enrolment_uri"))
	if err != nil {
		t.Fatalf("device enrol: %v", err)
	}
	if e.Status != "active" || e.FactorID != st.DeviceID {
		t.Fatalf("enrolled %+v, want active factor %s", e, st.DeviceID)
	}
	return pushDevice(t, s, st), e
}

func pushChallenge(t *testing.T, s *testenv.Server, loginID string) testenv.Response {
	t.Helper()
	return wantPushSent(t, challenge(t, s, loginID, map[string]string{"method": "push"}))
}

// pushResend sends the push of answer prev for a login again.
func pushResend(t *testing.T, s *testenv.Server, loginID string, prev testenv.Response) testenv.Response {
	t.Helper()
	return wantPushSent(t, challenge(t, s, loginID, resend(prev)))
}

func wantPushSent(t *testing.T, r testenv.Response) testenv.Response {
	t.Helper()
	if r.Status != 202 || len(r.String("number")) != 2 || r.String("challenge_id") == "" || len(r.String("push_secret")) < 32 {
		t.Fatalf("push challenge: got %d %s, want 202 with a two-digit number and a push secret", r.Status, r.Body)
	}
	return r
}

// pushProof is the second step by push with the secret of the answer ch
// that sent the push.
func pushProof(ch testenv.Response) map[string]string {
	return map[string]string{"method": "push", "push_secret": ch.String("push_secret")}
}

// approvedPush starts a sign-in of username, sends it a push and approves
// that on device d: it returns the login and the answer that sent the push.
func approvedPush(t *testing.T, s *testenv.Server, d *pushdevice.Client, username string) (loginID string, ch testenv.Response) {
	t.Helper()
	loginID, _ = startLogin(t, s, username)
	ch = pushChallenge(t, s, loginID)
	if st, err := d.Approve(context.Background(), waiting(t, d).ID, ch.String("number")); err != nil || st != "approved" {
		t.Fatalf("approve: %q, %v", st, err)
	}
	return loginID, ch
}

// waiting returns the one request the device has waiting.
func waiting(t *testing.T, d *pushdevice.Client) pushdevice.Challenge {
	t.Helper()
	cs, err := d.Challenges(context.Background(), 0)
	if err != nil {
		t.Fatalf("device poll: %v", err)
	}
	if len(cs) != 1 {
		t.Fatalf("device sees %d requests, want 1: %+v", len(cs), cs)
	}
	return cs[0]
}

func otherNumber(n string) string {
	if n == "42" {
		return "43"
	}
	return "42"
}

func eventTypes(t *testing.T, c *testenv.Client) []string {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me/events?limit=200", nil)
	var out []string
	for _, e := range r.JSON["events"].([]any) {
		out = append(out, e.(map[string]any)["type"].(string))
	}
	return out
}

// TestPushStory walks SPEC §2 push approval over HTTP with the real device
// client: enrolment by URI (also read from the QR code by zbarimg) as the
// first factor, the login's methods, a push with number matching, "still
// waiting", approval, one-time use, and elevation by push.
func TestPushStory(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "pat")
		c := login(t, s, "pat")
		r := startPush(t, c, "phone")
		f := r.JSON["factor"].(map[string]any)
		if f["status"] != "pending" || f["type"] != "push" || r.String("enrolment_token") == "" {
			t.Fatalf("enrolment %s, want a pending push factor and a token", r.Body)
		}
		uri := r.String("enrolment_uri")
		png, err := base64.StdEncoding.DecodeString(r.String("qr_png"))
		if err != nil {
			t.Fatal(err)
		}
		if got := zbarimg(t, png); got != uri {
			t.Fatalf("QR code holds %q, want the enrolment URI %q", got, uri)
		}
		e, err := push.ParseURI(uri)
		if err != nil || e.Server != s.URL() || e.DeviceID != f["id"] || e.Token != r.String("enrolment_token") || e.Account != "pat" {
			t.Fatalf("enrolment URI %q parses as %+v (%v)", uri, e, err)
		}
		// Not usable before the device enrols, and confirmed by no code.
		if lr := c.Do(t, "POST", "/v1/login", map[string]string{"username": "pat", "password": password}); lr.String("status") != "authenticated" {
			t.Fatalf("login before enrolment: %s, want password only", lr.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.DeviceID+"/confirm", map[string]string{"code": "123456"}), 400, "invalid")
		wantProblem(t, c.Do(t, "GET", "/v1/me/factors/"+e.DeviceID+"/qr.png", nil), 404, "not-found")

		st, en, err := pushdevice.Enrol(context.Background(), http.DefaultClient, zbarimg(t, png))
		if err != nil {
			t.Fatalf("device enrol: %v", err)
		}
		if len(en.RecoveryCodes) != 10 || en.PaperKey == "" {
			t.Fatalf("first factor enrolled without recovery codes: %+v", en)
		}
		// The token works once.
		if _, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, uri); !isProblem(err, 401, "invalid-code") {
			t.Fatalf("second enrolment with one token: %v, want 401 invalid-code", err)
		}
		d := pushDevice(t, s, st)

		loginID, lr := startLogin(t, s, "pat")
		m := lr.JSON["methods"].([]any)[0].(map[string]any)
		if m["method"] != "push" || m["factor_id"] != st.DeviceID || m["label"] != "phone" {
			t.Fatalf("methods %v, want push first", lr.JSON["methods"])
		}
		// Nothing sent yet: no approval.
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "push"}), 401, "invalid-code")
		ch := pushChallenge(t, s, loginID)
		number := ch.String("number")
		v := verify(t, s, loginID, pushProof(ch))
		wantProblem(t, v, 409, "push-pending")
		if v.Header.Get("Retry-After") == "" {
			t.Errorf("push-pending without Retry-After")
		}
		req := waiting(t, d)
		if req.ID != ch.String("challenge_id") || req.What != "sign in" || req.Account != "pat" || req.Source != "127.0.0.1" || req.UserAgent == "" {
			t.Errorf("device sees %+v, want the sign-in's context", req)
		}
		// The device's view never holds the number: the person types it.
		if raw := signedRequest(t, s, deviceKey(t, d), st.DeviceID, "GET", "/v1/push/challenges", nil, s.Clock.Now(), "nonce-story-0000000000", ""); raw.Status != 200 || bytes.Contains(raw.Body, []byte(`"number"`)) {
			t.Fatalf("device poll: %d %s, want 200 without the number", raw.Status, raw.Body)
		}
		if status, err := d.Approve(context.Background(), req.ID, number); err != nil || status != "approved" {
			t.Fatalf("approve: %q %v", status, err)
		}
		// Answered once.
		if _, err := d.Deny(context.Background(), req.ID); !isProblem(err, 409, "conflict") {
			t.Fatalf("second answer: %v, want 409", err)
		}
		v = verify(t, s, loginID, pushProof(ch))
		if v.Status != 200 || v.String("token") == "" {
			t.Fatalf("verify after approval: got %d %s", v.Status, v.Body)
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 410, "login-expired")
		// The approval was used: a new login needs a new push.
		loginID2, _ := startLogin(t, s, "pat")
		wantProblem(t, verify(t, s, loginID2, pushProof(ch)), 401, "invalid-code")

		// Elevation by push.
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
		ec := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
		if ec.Status != 202 {
			t.Fatalf("elevation push: got %d %s", ec.Status, ec.Body)
		}
		if req := waiting(t, d); req.What != "confirm it's you" {
			t.Errorf("elevation request shows %q", req.What)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", pushProof(ec)), 409, "push-pending")
		if _, err := d.Approve(context.Background(), ec.String("challenge_id"), ec.String("number")); err != nil {
			t.Fatal(err)
		}
		// An elevation's approval is no login's.
		loginID3, _ := startLogin(t, s, "pat")
		wantProblem(t, verify(t, s, loginID3, pushProof(ec)), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/elevate", pushProof(ec)); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/recovery-codes", nil); r.Status != 200 {
			t.Fatalf("recovery codes after elevating: got %d %s", r.Status, r.Body)
		}
		ev := eventTypes(t, c)
		for _, want := range []string{"push.enrolled", "push.sent", "push.approved", "factor.confirmed"} {
			if !slices.Contains(ev, want) {
				t.Errorf("events %v lack %s", ev, want)
			}
		}
		// Revoking the device is deleting its factor: it can no longer poll.
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+st.DeviceID, nil); r.Status != 204 {
			t.Fatalf("delete push factor: got %d %s", r.Status, r.Body)
		}
		if _, err := d.Challenges(context.Background(), 0); !isProblem(err, 401, "unauthorized") {
			t.Fatalf("poll after removal: %v, want 401", err)
		}
	})
}

func isProblem(err error, status int, problem string) bool {
	var pe *pushdevice.Error
	return errors.As(err, &pe) && pe.Status == status && pe.Problem() == problem
}

// TestPushDenyWrongNumberExpiry: a denial, a wrong number and an expired
// request all fail the second step; requests of another login or another
// account are not the device's to answer or the login's to use.
func TestPushDenyWrongNumberExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "dan")
		addUser(t, s, "eve")
		d, _ := enrolPush(t, s, login(t, s, "dan"), "phone")
		de, _ := enrolPush(t, s, login(t, s, "eve"), "eve's phone")

		// Denied.
		loginID, _ := startLogin(t, s, "dan")
		ch := pushChallenge(t, s, loginID)
		if st, err := d.Deny(context.Background(), ch.String("challenge_id")); err != nil || st != "denied" {
			t.Fatalf("deny: %q %v", st, err)
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 401, "invalid-code")
		// A denial ends push for the login, even for the requester's resend.
		wantProblem(t, challenge(t, s, loginID, map[string]string{"method": "push"}), 409, "conflict")
		wantProblem(t, challenge(t, s, loginID, resend(ch)), 409, "conflict")

		// A wrong number is a denial, and cannot be corrected.
		loginID, _ = startLogin(t, s, "dan")
		ch = pushChallenge(t, s, loginID)
		if st, err := d.Approve(context.Background(), ch.String("challenge_id"), otherNumber(ch.String("number"))); err != nil || st != "denied" {
			t.Fatalf("approve with a wrong number: %q %v, want denied", st, err)
		}
		if _, err := d.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); !isProblem(err, 409, "conflict") {
			t.Fatalf("approve after a wrong number: %v, want 409", err)
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 401, "invalid-code")

		// Another account's device neither sees nor answers it.
		loginID, _ = startLogin(t, s, "dan")
		ch = pushChallenge(t, s, loginID)
		if cs, err := de.Challenges(context.Background(), 0); err != nil || len(cs) != 0 {
			t.Fatalf("eve's device sees %+v (%v)", cs, err)
		}
		if _, err := de.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); !isProblem(err, 404, "not-found") {
			t.Fatalf("eve's device answering dan's request: %v, want 404", err)
		}
		// Approved for one login, it completes no other.
		if _, err := d.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); err != nil {
			t.Fatal(err)
		}
		other, _ := startLogin(t, s, "dan")
		wantProblem(t, verify(t, s, other, pushProof(ch)), 401, "invalid-code")
		eveLogin, _ := startLogin(t, s, "eve")
		wantProblem(t, verify(t, s, eveLogin, pushProof(ch)), 401, "invalid-code")
		if v := verify(t, s, loginID, pushProof(ch)); v.Status != 200 {
			t.Fatalf("verify the approved login: %d %s", v.Status, v.Body)
		}

		// Expired: the device no longer sees it nor may answer, and the
		// login fails.
		loginID, _ = startLogin(t, s, "dan")
		ch = pushChallenge(t, s, loginID)
		s.Clock.Add(2*time.Minute + time.Second)
		if cs, err := d.Challenges(context.Background(), 0); err != nil || len(cs) != 0 {
			t.Fatalf("device sees %+v (%v) after expiry", cs, err)
		}
		if _, err := d.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); !isProblem(err, 409, "conflict") {
			t.Fatalf("approve after expiry: %v, want 409", err)
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 401, "invalid-code")

		// A newer push of the same requester replaces the older one of the
		// same login.
		first := pushChallenge(t, s, loginID)
		second := pushResend(t, s, loginID, first)
		if _, err := d.Approve(context.Background(), first.String("challenge_id"), first.String("number")); !isProblem(err, 409, "conflict") {
			t.Fatalf("approve a replaced request: %v, want 409", err)
		}
		if _, err := d.Approve(context.Background(), second.String("challenge_id"), second.String("number")); err != nil {
			t.Fatal(err)
		}
		// Only the newer one's secret uses it.
		wantProblem(t, verify(t, s, loginID, pushProof(first)), 401, "invalid-code")
		if v := verify(t, s, loginID, pushProof(second)); v.Status != 200 {
			t.Fatalf("verify: %d %s", v.Status, v.Body)
		}
	})
}

// TestPushApprovalNeedsItsSecret: a push's approval is used only with the
// push_secret of the answer that sent the push, which only its requester
// got. Without it, or with another, the second step reads as if no push
// had been sent (401, never push-pending, whether the push waits or was
// approved) and leaves the approval to its requester: the login id (which
// travels in URLs) finishes no login, and a copy of a session's token is
// not elevated by the push its holder sent. Nor does the secret show in
// the audit log.
func TestPushApprovalNeedsItsSecret(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, d := pushUser(t, s, "pia")
		wrong := []map[string]string{{"method": "push"}, {"method": "push", "push_secret": ""},
			{"method": "push", "push_secret": "abcdefghijklmnopqrstuvwxyz234567"}}

		loginID, _ := startLogin(t, s, "pia")
		ch := pushChallenge(t, s, loginID)
		if other := pushResend(t, s, loginID, ch); other.String("push_secret") == ch.String("push_secret") {
			t.Fatalf("two pushes with one secret %q", ch.String("push_secret"))
		} else {
			ch = other
		}
		for _, body := range wrong {
			wantProblem(t, verify(t, s, loginID, body), 401, "invalid-code")
		}
		wantProblem(t, verify(t, s, loginID, pushProof(ch)), 409, "push-pending")
		if _, err := d.Approve(context.Background(), ch.String("challenge_id"), ch.String("number")); err != nil {
			t.Fatal(err)
		}
		for _, body := range wrong {
			wantProblem(t, verify(t, s, loginID, body), 401, "invalid-code")
		}
		long := pushProof(ch)
		long["push_secret"] = strings.Repeat("a", 129)
		wantProblem(t, verify(t, s, loginID, long), 400, "invalid")
		v := verify(t, s, loginID, pushProof(ch))
		if v.Status != 200 || v.String("token") == "" {
			t.Fatalf("verify with the push's secret: %d %s", v.Status, v.Body)
		}

		// Elevation: a copy of the token, polling, cannot take the
		// approval its holder's push gets.
		c.Token = v.String("token")
		s.Clock.Add(11 * time.Minute)
		cp := testenv.NewClient(s.URL())
		cp.Token = c.Token
		ec := c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"})
		if ec.Status != 202 || len(ec.String("push_secret")) < 32 {
			t.Fatalf("elevation push: %d %s", ec.Status, ec.Body)
		}
		for _, body := range wrong {
			wantProblem(t, cp.Do(t, "POST", "/v1/me/elevate", body), 401, "invalid-code")
		}
		if _, err := d.Approve(context.Background(), ec.String("challenge_id"), ec.String("number")); err != nil {
			t.Fatal(err)
		}
		for _, body := range append(wrong, pushProof(ch)) {
			wantProblem(t, cp.Do(t, "POST", "/v1/me/elevate", body), 401, "invalid-code")
		}
		wantProblem(t, cp.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate", pushProof(ec)); r.Status != 200 {
			t.Fatalf("elevate with the push's secret: %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/recovery-codes", nil); r.Status != 200 {
			t.Fatalf("recovery codes after elevating: %d %s", r.Status, r.Body)
		}
		events := c.Do(t, "GET", "/v1/me/events?limit=200", nil)
		for _, sec := range []string{ch.String("push_secret"), ec.String("push_secret")} {
			if bytes.Contains(events.Body, []byte(sec)) {
				t.Errorf("the audit log holds a push secret: %s", events.Body)
			}
		}
	})
}

// signedRequest sends a device request signed by key as device id, at ts
// with nonce; header overrides the Authorization header when set.
func signedRequest(t *testing.T, s *testenv.Server, key ed25519.PrivateKey, id, method, path string, body []byte, ts time.Time, nonce, header string) testenv.Response {
	t.Helper()
	c := testenv.NewClient(s.URL())
	if header == "" {
		header = push.Sign(key, id, method, path, ts, nonce, body)
	}
	c.Header.Set("Authorization", header)
	var b any
	if body != nil {
		b = string(body)
	}
	return c.Do(t, method, path, b)
}

// TestPushDeviceSignatures: a device request signed by another key, at a
// stale time, sent twice, or with its body changed is refused; no bearer
// token stands in for the signature.
func TestPushDeviceSignatures(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, d := pushUser(t, s, "fay")
		priv := deviceKey(t, d)
		_, forged, _ := ed25519.GenerateKey(rand.Reader)
		id, now := d.State.DeviceID, s.Clock.Now()
		const path = "/v1/push/challenges"

		if r := signedRequest(t, s, priv, id, "GET", path, nil, now, "nonce-aaaaaaaaaaaaaaaa", ""); r.Status != 200 {
			t.Fatalf("a well signed request: got %d %s", r.Status, r.Body)
		}
		// The same request again is a replay: refused with a type of its
		// own, so that a device tells it from being no longer accepted.
		r := signedRequest(t, s, priv, id, "GET", path, nil, now, "nonce-aaaaaaaaaaaaaaaa", "")
		wantDeviceReplayRefused(t, r)
		wantDeviceRefused(t, signedRequest(t, s, forged, id, "GET", path, nil, now, "nonce-bbbbbbbbbbbbbbbb", ""))
		wantDeviceRefused(t, signedRequest(t, s, priv, id, "GET", path, nil, now.Add(-2*time.Minute), "nonce-cccccccccccccccc", ""))
		wantDeviceRefused(t, signedRequest(t, s, priv, id, "GET", path, nil, now.Add(2*time.Minute), "nonce-dddddddddddddddd", ""))
		// Signed for another path (the query is signed too).
		h := push.Sign(priv, id, "GET", path+"?wait=1s", now, "nonce-eeeeeeeeeeeeeeee", nil)
		wantDeviceRefused(t, signedRequest(t, s, priv, id, "GET", path, nil, now, "", h))
		// A changed body.
		loginID, _ := startLogin(t, s, "fay")
		ch := pushChallenge(t, s, loginID)
		apath := "/v1/push/challenges/" + ch.String("challenge_id")
		h = push.Sign(priv, id, "POST", apath, now, "nonce-ffffffffffffffff", []byte(`{"decision":"deny"}`))
		wantDeviceRefused(t, signedRequest(t, s, priv, id, "POST", apath, []byte(`{"decision":"approve","number":"`+ch.String("number")+`"}`), now, "", h))
		// A session token is no device's signature.
		c2 := testenv.NewClient(s.URL())
		c2.Token = c.Token
		wantDeviceRefused(t, c2.Do(t, "GET", path, nil))
		// Nothing was answered.
		if req := waiting(t, d); req.ID != ch.String("challenge_id") {
			t.Fatalf("waiting %+v", req)
		}
		if ev := eventTypes(t, c); !slices.Contains(ev, "push.device_auth_failed") {
			t.Errorf("events %v lack push.device_auth_failed", ev)
		}
	})
}

func wantDeviceRefused(t *testing.T, r testenv.Response) {
	t.Helper()
	wantDeviceRefusedAs(t, r, "unauthorized")
}

// wantDeviceReplayRefused: a device's request sent before is refused 401
// replayed-request.
func wantDeviceReplayRefused(t *testing.T, r testenv.Response) {
	t.Helper()
	wantDeviceRefusedAs(t, r, "replayed-request")
}

func wantDeviceRefusedAs(t *testing.T, r testenv.Response, problem string) {
	t.Helper()
	if r.Status != 401 || r.Problem() != problem || !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), push.AuthScheme) {
		t.Fatalf("got %d %s (WWW-Authenticate %q), want 401 %s with a %s challenge", r.Status, r.Body, r.Header.Get("WWW-Authenticate"), problem, push.AuthScheme)
	}
}

// TestPushEnrolmentRefused: a wrong token, a signature by another key and
// an expired token enrol nothing; a renewed enrolment works.
func TestPushEnrolmentRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "gil")
		c := login(t, s, "gil")
		r := startPush(t, c, "phone")
		e, _ := push.ParseURI(r.String("enrolment_uri"))
		pub, priv, _ := ed25519.GenerateKey(rand.Reader)
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		post := func(token string, signer ed25519.PrivateKey) testenv.Response {
			return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/push/enrol", map[string]string{"device_id": e.DeviceID, "token": token,
				"public_key": push.Encode(pub), "signature": push.Encode(ed25519.Sign(signer, push.EnrolMessage(e.DeviceID, e.Challenge, pub)))})
		}
		wantProblem(t, post(e.Token+"x", priv), 401, "invalid-code")
		wantProblem(t, post(e.Token, other), 401, "invalid-code")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/push/enrol", map[string]string{"device_id": e.DeviceID, "token": e.Token,
			"public_key": "short", "signature": "x"}), 400, "invalid")
		s.Clock.Add(10*time.Minute + time.Second)
		wantProblem(t, post(e.Token, priv), 401, "invalid-code")
		// A new code for the same device.
		nr := c.Do(t, "POST", "/v1/me/factors/"+e.DeviceID+"/enrolment", nil)
		if nr.Status != 200 {
			t.Fatalf("renew: %d %s", nr.Status, nr.Body)
		}
		s.Clock.Add(time.Minute) // past the lock that three refusals set
		if _, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, r.String("enrolment_uri")); !isProblem(err, 401, "invalid-code") {
			t.Fatalf("the old URI after renewal: %v", err)
		}
		s.Clock.Add(time.Minute)
		if _, en, err := pushdevice.Enrol(context.Background(), http.DefaultClient, nr.String("enrolment_uri")); err != nil || en.Status != "active" {
			t.Fatalf("enrol with the new URI: %+v %v", en, err)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.DeviceID+"/enrolment", nil), 404, "not-found")
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "x", "digits": 6}), 400, "invalid")
	})
}

// TestPushEnrolmentWithoutSecondFactor: an enrolment code made by a
// session without a second-factor check, while the account had no factor,
// never enrols once the owner has turned two-factor on (else whoever had
// the password for a moment could keep the URI and add a device of their
// own later), and cannot be renewed without elevation; the owner, elevated,
// cannot renew it (it is the thief's session's setup) but cancels it while
// that session lasts, and adds a device as before.
func TestPushEnrolmentWithoutSecondFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ida")
		thief := login(t, s, "ida") // the password only
		uri := startPush(t, thief, "evil").String("enrolment_uri")
		e, _ := push.ParseURI(uri)

		owner := login(t, s, "ida")
		totp := enrol(t, s, owner, map[string]any{"type": "totp", "label": "phone"})
		if len(totp.codes) != 10 {
			t.Fatalf("the owner's TOTP got %d recovery codes, want 10: it is the first factor", len(totp.codes))
		}
		if _, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, uri); !isProblem(err, 401, "invalid-code") {
			t.Fatalf("the thief's device after two-factor was turned on: %v, want 401 invalid-code", err)
		}
		wantProblem(t, thief.Do(t, "POST", "/v1/me/factors/"+e.DeviceID+"/enrolment", nil), 403, "elevation-required")
		for _, f := range owner.Do(t, "GET", "/v1/me", nil).JSON["factors"].([]any) {
			if f := f.(map[string]any); f["type"] == "push" && f["status"] != "pending" {
				t.Fatalf("the thief's device is %v, want pending", f["status"])
			}
		}
		loginID, lr := startLogin(t, s, "ida")
		for _, m := range lr.JSON["methods"].([]any) {
			if m.(map[string]any)["method"] == "push" {
				t.Fatalf("methods %v, want no push", lr.JSON["methods"])
			}
		}
		s.Clock.Add(30 * time.Second)
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, totp.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("the owner's login: %d %s", r.Status, r.Body)
		}
		if got := eventTypes(t, owner); !slices.Contains(got, "push.enrol_failed") || slices.Contains(got, "push.enrolled") {
			t.Fatalf("events %v, want push.enrol_failed and no push.enrolled", got)
		}

		// The owner, elevated, cannot renew the thief's code: the setup is
		// the thief's session's (README "How two-factor behaves"). The
		// owner cancels it, without ending that session first; not
		// elevated (the elevation that confirming the TOTP factor gave
		// has lapsed), the owner could not.
		lapseElevation(s)
		wantProblem(t, owner.Do(t, "DELETE", "/v1/me/factors/"+e.DeviceID, nil), 404, "not-found")
		s.Clock.Add(30 * time.Second)
		if r := owner.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, totp.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: %d %s", r.Status, r.Body)
		}
		wantProblem(t, owner.Do(t, "POST", "/v1/me/factors/"+e.DeviceID+"/enrolment", nil), 404, "not-found")
		if r := owner.Do(t, "DELETE", "/v1/me/factors/"+e.DeviceID, nil); r.Status != http.StatusNoContent {
			t.Fatalf("cancelling the thief's device, elevated: %d %s", r.Status, r.Body)
		}
		// And a device added from the elevated session enrols at once.
		if _, en := enrolPush(t, s, owner, "tablet"); len(en.RecoveryCodes) != 0 {
			t.Fatalf("a second factor came with recovery codes: %+v", en)
		}
	})
}

// TestPushEnrolmentAfterSignOut: signing out everywhere, as a password
// change does, voids the enrolment codes the account's sessions made, so a
// thief's code kept from before does not outlive the thief's session; a
// code made afterwards enrols.
func TestPushEnrolmentAfterSignOut(t *testing.T) {
	for _, tt := range []struct {
		name string
		end  func(t *testing.T, owner *testenv.Client) // ends every session, leaving the owner's client signed in
	}{
		{"password change", func(t *testing.T, owner *testenv.Client) {
			r := owner.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": "a new horse battery staple"})
			if r.Status != 200 {
				t.Fatalf("change password: %d %s", r.Status, r.Body)
			}
			owner.Token = r.String("token")
		}},
		{"signing out everywhere", func(t *testing.T, owner *testenv.Client) {
			if r := owner.Do(t, "POST", "/v1/logout/everywhere", nil); r.Status != 204 {
				t.Fatalf("logout everywhere: %d %s", r.Status, r.Body)
			}
			r := owner.Do(t, "POST", "/v1/login", map[string]string{"username": "joe", "password": password})
			if r.Status != 200 || r.String("status") != "authenticated" {
				t.Fatalf("login: %d %s", r.Status, r.Body)
			}
			owner.Token = r.String("token")
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			eachStore(t, func(t *testing.T, s *testenv.Server) {
				addUser(t, s, "joe")
				thief := login(t, s, "joe")
				uri := startPush(t, thief, "evil").String("enrolment_uri")
				owner := login(t, s, "joe")
				tt.end(t, owner)
				wantProblem(t, thief.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
				if _, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, uri); !isProblem(err, 401, "invalid-code") {
					t.Fatalf("the thief's device after the sessions ended: %v, want 401 invalid-code", err)
				}
				if me := owner.Do(t, "GET", "/v1/me", nil); me.JSON["two_factor"].(map[string]any)["enabled"] != false {
					t.Fatalf("after the refused enrolment: %s, want two-factor off", me.Body)
				}
				s.Clock.Add(time.Minute) // past the pause a refused enrolment sets
				if _, en := enrolPush(t, s, owner, "phone"); len(en.RecoveryCodes) != 10 || en.PaperKey == "" {
					t.Fatalf("the owner's first device: %+v, want recovery codes and a paper key", en)
				}
			})
		})
	}
}

// TestPushBombing: denials on three sign-ins within 15 minutes pause push
// requests to the account (429 with Retry-After) and mail the owner, while
// the owner's TOTP still signs in; after the pause, pushes work again.
func TestPushBombing(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "hal")
		c := login(t, s, "hal")
		totp := enrol(t, s, c, map[string]any{"type": "totp", "label": "app"})
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": totp.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: %d %s", r.Status, r.Body)
		}
		d, _ := enrolPush(t, s, c, "phone")
		before := len(mb.Messages())

		var loginID string
		for i := range 3 {
			loginID, _ = startLogin(t, s, "hal")
			ch := pushChallenge(t, s, loginID)
			if _, err := d.Deny(context.Background(), ch.String("challenge_id")); err != nil {
				t.Fatalf("deny %d: %v", i, err)
			}
			s.Clock.Add(time.Minute)
		}
		r := challenge(t, s, loginID, map[string]string{"method": "push"})
		wantProblem(t, r, 429, "throttled")
		if r.Header.Get("Retry-After") == "" {
			t.Errorf("429 without Retry-After")
		}
		// Other mails (the new device's) may come first, in any order:
		// wait for one more at a time until the warning is among them.
		found := false
		for n := before + 1; !found && n <= before+5; n++ {
			msgs := mb.Wait(t, n, time.Minute)
			subject, _ := mailText(t, msgs[n-1])
			found = strings.Contains(subject, "someone who knows your password")
		}
		if !found {
			t.Errorf("no warning mail among the next 5 messages")
		}
		// The owner's other factor still works, on this login.
		step := s.Clock.Now()
		v := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, totp.secret, step)})
		if v.Status != 200 {
			t.Fatalf("TOTP while pushes are paused: %d %s", v.Status, v.Body)
		}
		// After the pause, a push goes out again.
		s.Clock.Add(31 * time.Minute)
		loginID, _ = startLogin(t, s, "hal")
		pushChallenge(t, s, loginID)
		ev := eventTypes(t, login2(t, s, v.String("token")))
		if !slices.Contains(ev, "push.locked") || !slices.Contains(ev, "push.denied") || !slices.Contains(ev, "push.throttled") {
			t.Errorf("events %v lack push.locked, push.denied or push.throttled", ev)
		}
	})
}

// TestPushBombingUnlock: an operator's unlock lifts the pause of pushes and
// forgets the denials before it, so that the next denial does not pause
// pushes again at once; three new denials within 15 minutes still do.
func TestPushBombingUnlock(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		addUser(t, s, "una")
		d, _ := enrolPush(t, s, login(t, s, "una"), "phone")
		acct, err := s.Store.AccountByUsername(ctx, "una")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "root", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		opc := login(t, s, "root")
		opPhone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
		if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": opPhone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: %d %s", r.Status, r.Body)
		}
		op, err := s.Service.Authenticate(ctx, opc.Token)
		if err != nil {
			t.Fatal(err)
		}
		locks := func() core.Locks {
			t.Helper()
			sum, err := s.Service.InspectAccount(ctx, op, acct.ID, 1)
			if err != nil {
				t.Fatal(err)
			}
			return sum.Locks
		}
		// deny sends a push for a new login and denies it on the device.
		deny := func(n int) {
			t.Helper()
			for i := range n {
				loginID, _ := startLogin(t, s, "una")
				ch := pushChallenge(t, s, loginID)
				if _, err := d.Deny(ctx, ch.String("challenge_id")); err != nil {
					t.Fatalf("deny %d: %v", i, err)
				}
				s.Clock.Add(time.Minute)
			}
		}
		paused := func() bool {
			t.Helper()
			loginID, _ := startLogin(t, s, "una")
			r := challenge(t, s, loginID, map[string]string{"method": "push"})
			switch r.Status {
			case 202:
				return false
			case 429:
				wantProblem(t, r, 429, "throttled")
				return true
			}
			t.Fatalf("push: got %d %s, want 202 or 429", r.Status, r.Body)
			return false
		}

		deny(3)
		if !paused() {
			t.Fatal("pushes not paused after 3 denials")
		}
		if l := locks(); l.PushDenials != 3 || l.PushPausedUntil.IsZero() || !l.Any() {
			t.Fatalf("operator sees %+v, want 3 push denials and a pause", l)
		}
		if cleared, err := s.Service.UnlockAccount(ctx, op, acct.ID, core.Meta{}); err != nil || !cleared {
			t.Fatalf("unlock: %v, %v; want cleared", cleared, err)
		}
		if l := locks(); l.Any() {
			t.Fatalf("operator sees %+v after the unlock, want nothing", l)
		}
		s.Clock.Add(time.Minute)
		if paused() {
			t.Fatal("pushes still paused after the unlock")
		}
		s.Clock.Add(time.Minute)
		// All within 15 minutes of the first denials: only those after the
		// unlock count.
		deny(1)
		if paused() {
			t.Fatal("one denial after the unlock paused pushes again")
		}
		s.Clock.Add(time.Minute)
		deny(2)
		if !paused() {
			t.Fatal("pushes not paused after 3 denials following the unlock")
		}
	})
}

// TestPushSendLimit: an account's push requests are rationed.
func TestPushSendLimit(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ivy")
		enrolPush(t, s, login(t, s, "ivy"), "phone")
		loginID, _ := startLogin(t, s, "ivy")
		ch := pushChallenge(t, s, loginID)
		for range 4 {
			ch = pushResend(t, s, loginID, ch)
		}
		wantProblem(t, challenge(t, s, loginID, resend(ch)), 429, "throttled")
		s.Clock.Add(time.Minute)
		pushResend(t, s, loginID, ch)
	})
}

// TestPushLongPoll: a device waiting in a long poll is answered when a push
// is made for it.
func TestPushLongPoll(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "joe")
		d, _ := enrolPush(t, s, login(t, s, "joe"), "phone")
		loginID, _ := startLogin(t, s, "joe")
		got := make(chan []pushdevice.Challenge, 1)
		errs := make(chan error, 1)
		go func() {
			cs, err := d.Challenges(context.Background(), 50*time.Second)
			got <- cs
			errs <- err
		}()
		ch := pushChallenge(t, s, loginID)
		cs := <-got
		if err := <-errs; err != nil || len(cs) != 1 || cs[0].ID != ch.String("challenge_id") {
			t.Fatalf("long poll: %+v %v", cs, err)
		}
		wantDeviceRefused(t, testenv.NewClient(s.URL()).Do(t, "GET", "/v1/push/challenges?wait=2h", nil))
		if _, err := d.Challenges(context.Background(), 2*time.Hour); !isProblem(err, 400, "invalid") {
			t.Errorf("wait=2h: %v, want 400", err)
		}
		// A shutting-down server answers its waiting polls at once.
		if _, err := d.Deny(context.Background(), ch.String("challenge_id")); err != nil {
			t.Fatal(err)
		}
		go func() {
			cs, err := d.Challenges(context.Background(), 55*time.Second)
			got <- cs
			errs <- err
		}()
		waitPolling(t, s)
		s.Service.EndPushWaits()
		if cs, err := <-got, <-errs; err != nil || len(cs) != 0 {
			t.Fatalf("poll at shutdown: %+v %v, want an empty answer", cs, err)
		}
	})
}

// waitPolling waits until a device's long poll is under way on s.
func waitPolling(t *testing.T, s *testenv.Server) {
	t.Helper()
	for i := 0; s.Service.PushPolls() == 0; i++ {
		if i > 3000 {
			t.Fatal("no long poll under way after 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func login2(t *testing.T, s *testenv.Server, token string) *testenv.Client {
	c := testenv.NewClient(s.URL())
	c.Token = token
	return c
}

// deviceKey returns the private key the device client keeps.
func deviceKey(t *testing.T, d *pushdevice.Client) ed25519.PrivateKey {
	t.Helper()
	seed, err := push.Decode(d.State.Key)
	if err != nil {
		t.Fatal(err)
	}
	return ed25519.NewKeyFromSeed(seed)
}

// TestDevicePollsAreBounded: a device holds one long poll at a time (a new
// one ends the one before), and a device asking far more often than a
// device does is rationed with 429, on its own key only.
func TestDevicePollsAreBounded(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, d := pushUser(t, s, "ida")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()

		first := make(chan error, 1)
		go func() {
			_, err := d.Challenges(ctx, time.Minute)
			first <- err
		}()
		for s.Service.PushPolls() == 0 {
			time.Sleep(10 * time.Millisecond) // until the first poll waits
		}
		second := make(chan error, 1)
		go func() {
			_, err := d.Challenges(ctx, time.Minute)
			second <- err
		}()
		// The first poll ends long before its minute: the second took over.
		if err := <-first; err != nil {
			t.Fatalf("the first poll: %v, want an empty answer once the second began", err)
		}
		s.Service.EndPushWaits()
		if err := <-second; err != nil {
			t.Fatalf("the second poll: %v", err)
		}

		// 30 at once (the two polls above took two), then one every 2 s.
		var err error
		n := 0
		for ; n < 40 && err == nil; n++ {
			_, err = d.Challenges(context.Background(), 0)
		}
		var pe *pushdevice.Error
		if !errors.As(err, &pe) || pe.Status != 429 || n != 29 {
			t.Fatalf("after %d requests: %v, want 429 at the 29th", n, err)
		}
		s.Clock.Add(time.Minute)
		if _, err := d.Challenges(context.Background(), 0); err != nil {
			t.Fatalf("a minute later: %v", err)
		}
	})
}

// TestPushLimitsPerAccount: an account has at most core.MaxPushDevices push
// devices, and its devices hold at most core.MaxAccountPushPolls long polls
// on one instance: a further device's poll is refused with 429 and
// Retry-After until one ends, while another account's device polls as
// before. So one account cannot take the instance's polls from the others.
func TestPushLimitsPerAccount(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "kim")
		elevate(t, s, c, f)
		devs := make([]*pushdevice.Client, core.MaxPushDevices)
		for i := range devs {
			devs[i], _ = enrolPush(t, s, c, fmt.Sprintf("phone %d", i))
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "one more"}), 409, "conflict")

		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Second)
		defer cancel()
		ends := make([]context.CancelFunc, core.MaxAccountPushPolls)
		polls := make(chan error, core.MaxAccountPushPolls)
		for i := range ends {
			pctx, end := context.WithCancel(ctx)
			ends[i] = end
			go func() {
				_, err := devs[i].Challenges(pctx, time.Minute)
				polls <- err
			}()
		}
		// The next device of the account is refused once those wait.
		for s.Service.PushPolls() < core.MaxAccountPushPolls && ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond) // until the polls above wait
		}
		extra := devs[core.MaxAccountPushPolls]
		_, err := extra.Challenges(ctx, 0)
		var pe *pushdevice.Error
		if !errors.As(err, &pe) || pe.Status != 429 || pe.Problem() != "throttled" || pe.RetryAfter == "" {
			t.Fatalf("device %d's poll beside %d: %v, want 429 with Retry-After", core.MaxAccountPushPolls+1, core.MaxAccountPushPolls, err)
		}

		// Another account's device is not held back.
		addUser(t, s, "lee")
		other, _ := enrolPush(t, s, login(t, s, "lee"), "phone")
		if _, err := other.Challenges(ctx, 0); err != nil {
			t.Fatalf("another account's device: %v", err)
		}

		// One poll ends (its device hung up): once the server has seen it
		// end, however long a loaded machine takes, the extra device polls.
		ends[0]()
		for s.Service.PushPolls() >= core.MaxAccountPushPolls {
			if ctx.Err() != nil {
				t.Fatalf("the hung-up poll still counted: %d polls under way", s.Service.PushPolls())
			}
			time.Sleep(10 * time.Millisecond)
		}
		if _, err = extra.Challenges(ctx, 0); err != nil {
			t.Fatalf("after a poll ended: %v", err)
		}
		s.Service.EndPushWaits()
		for range ends {
			<-polls
		}
	})
}

// TestPushWaitPastReadTimeout: a device's poll may wait up to a minute,
// past the HTTP server's 30 s read timeout, which must not end it: a push
// sent 32 s into a 45 s wait reaches the device on that poll. It takes 32 s
// of real time (the wait is the server's own), beside the package's other
// tests.
func TestPushWaitPastReadTimeout(t *testing.T) {
	t.Parallel()
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, d := pushUser(t, s, "wes")
	d.HTTP = &http.Client{Timeout: 90 * time.Second} // as twofold device watch: the wait and more
	loginID, _ := startLogin(t, s, "wes")
	sent := make(chan testenv.Response, 1)
	go func() {
		time.Sleep(32 * time.Second)
		sent <- testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/challenge", map[string]string{"method": "push"})
	}()
	cs, err := d.Challenges(t.Context(), 45*time.Second)
	ch := <-sent
	if ch.Status != http.StatusAccepted {
		t.Fatalf("push challenge: %d %s", ch.Status, ch.Body)
	}
	if err != nil {
		t.Fatalf("device poll with a 45 s wait: %v", err)
	}
	if len(cs) != 1 || cs[0].ID != ch.String("challenge_id") {
		t.Fatalf("the poll brought %+v, want the push sent 32 s into it (%s)", cs, ch.String("challenge_id"))
	}
}

// TestPushEnrolmentVoidOnceItsSessionEnds: a push setup is its session's
// (README "How two-factor behaves"), its device's enrolment too: once the
// session that began it is signed out (a thief's session, which the owner
// ends from the sessions list), the enrolment code enrols nothing, not
// even as the account's first factor; the owner's own setup enrols as
// before.
func TestPushEnrolmentVoidOnceItsSessionEnds(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "ivy")
		thief := login(t, s, "ivy") // the password only; no factor yet
		uri := startPush(t, thief, "evil").String("enrolment_uri")
		owner := login(t, s, "ivy")
		if r := owner.Do(t, "DELETE", "/v1/me/sessions/"+strings.Split(thief.Token, ".")[0], nil); r.Status != 204 {
			t.Fatalf("end the thief's session from the list: got %d %s", r.Status, r.Body)
		}
		if _, _, err := pushdevice.Enrol(context.Background(), http.DefaultClient, uri); !isProblem(err, 401, "invalid-code") {
			t.Fatalf("the thief's device once its session ended: %v, want 401 invalid-code", err)
		}
		for _, f := range owner.Do(t, "GET", "/v1/me", nil).JSON["factors"].([]any) {
			if f := f.(map[string]any); f["status"] == "active" {
				t.Fatalf("after the refusal the account has an active factor: %v", f)
			}
		}
		if got := eventTypes(t, owner); !slices.Contains(got, "push.enrol_failed") || slices.Contains(got, "push.enrolled") {
			t.Fatalf("events %v, want push.enrol_failed and no push.enrolled", got)
		}
		if _, en, err := pushdevice.Enrol(context.Background(), http.DefaultClient, startPush(t, owner, "mine").String("enrolment_uri")); err != nil || en.Status != "active" {
			t.Fatalf("the owner's own device: %+v, %v; want it active", en, err)
		}
	})
}
