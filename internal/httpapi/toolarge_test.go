package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// maxBody is the bound of a /v1 request body (README "Using it").
const maxBody = 64 << 10

// ledger is testenv.Ledger of the account named username.
func ledger(t *testing.T, s *testenv.Server, username string) string {
	t.Helper()
	a, err := s.Store.AccountByUsername(context.Background(), username)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Ledger(t, s, a.ID)
}

// wantTooLarge checks that r is the 413 too-large problem.
func wantTooLarge(t *testing.T, what string, r testenv.Response) {
	t.Helper()
	if r.Status != http.StatusRequestEntityTooLarge || r.Problem() != "too-large" || r.Header.Get("Content-Type") != "application/problem+json" || r.JSON["status"] != float64(413) {
		t.Fatalf("%s: got %d %q (%s), want 413 too-large problem+json", what, r.Status, r.Problem(), r.Header.Get("Content-Type"))
	}
}

// TestBodyTooLargeSignIn: a sign-in or second step whose body is one byte
// over 64 KiB is 413 too-large, before anything is looked at: no password
// or code attempt is counted, no event written, and the code it held is
// still good. The same body with one byte of white space less (exactly
// 64 KiB) is taken.
func TestBodyTooLargeSignIn(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, f := phoneUser(t, s, "mia")
		anon := testenv.NewClient(s.URL())

		before := ledger(t, s, "mia")
		wrongPassword := `{"username":"mia","password":"not the password"}`
		wantTooLarge(t, "a sign-in over the bound", anon.Do(t, "POST", "/v1/login", testenv.Padded(t, wrongPassword, maxBody+1)))
		if after := ledger(t, s, "mia"); after != before {
			t.Errorf("a sign-in over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}

		right := `{"username":"mia","password":"` + password + `"}`
		r := anon.Do(t, "POST", "/v1/login", testenv.Padded(t, right, maxBody))
		if r.Status != http.StatusOK || r.String("status") != "second_factor_required" {
			t.Fatalf("a sign-in of exactly 64 KiB: got %d %s, want 200 second_factor_required", r.Status, r.Body)
		}
		loginID := r.String("login_id")

		code := `{"method":"totp","code":"` + testenv.TOTP(t, f.secret, s.Clock.Now()) + `"}`
		wrong := `{"method":"totp","code":"000000"}`
		before = ledger(t, s, "mia")
		for _, body := range []string{code, wrong} {
			wantTooLarge(t, "a second step over the bound", anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", testenv.Padded(t, body, maxBody+1)))
		}
		if after := ledger(t, s, "mia"); after != before {
			t.Errorf("a second step over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		// The login is still open and the code unspent.
		r = anon.Do(t, "POST", "/v1/login/"+loginID+"/verify", testenv.Padded(t, code, maxBody))
		if r.Status != http.StatusOK || r.String("token") == "" {
			t.Fatalf("the second step of exactly 64 KiB after the refusals: got %d %s, want 200 with a token", r.Status, r.Body)
		}
	})
}

// TestBodyTooLargeSignedIn: a request of a signed-in session whose body is
// over 64 KiB is 413 too-large and changes nothing; at 64 KiB it acts.
func TestBodyTooLargeSignedIn(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "ned")
		path := "/v1/me/factors/" + f.id
		before := ledger(t, s, "ned")
		wantTooLarge(t, "a rename over the bound", c.Do(t, "PATCH", path, testenv.Padded(t, `{"label":"tablet"}`, maxBody+1)))
		if after := ledger(t, s, "ned"); after != before {
			t.Errorf("a rename over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		if r := c.Do(t, "GET", path, nil); r.Status != http.StatusOK || r.JSON["factor"].(map[string]any)["label"] != "phone" {
			t.Fatalf("after the refused rename: got %d %s, want the label phone", r.Status, r.Body)
		}
		if r := c.Do(t, "PATCH", path, testenv.Padded(t, `{"label":"tablet"}`, maxBody)); r.Status != http.StatusOK {
			t.Fatalf("a rename of exactly 64 KiB: got %d %s, want 200", r.Status, r.Body)
		}
		if r := c.Do(t, "GET", path, nil); r.JSON["factor"].(map[string]any)["label"] != "tablet" {
			t.Fatalf("after the rename of 64 KiB: got %s, want the label tablet", r.Body)
		}
	})
}

// TestBodyTooLargeToken: POST /v1/token answers a form over 64 KiB with 413
// in OAuth's error form (as every answer there), and issues no token; a
// form of 64 KiB gets one.
func TestBodyTooLargeToken(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "ora")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": f.codes[0]}); r.Status != http.StatusOK {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		k := makeKey(t, c, "script", nil, "account * read")
		form := func(n int) string {
			head := url.Values{"grant_type": {"client_credentials"}, "client_id": {k.id}, "client_secret": {k.secret}}.Encode() + "&pad="
			return head + strings.Repeat("a", n-len(head))
		}
		tc := testenv.NewClient(s.URL())
		tc.Header.Set("Content-Type", "application/x-www-form-urlencoded")

		before := ledger(t, s, "ora")
		r := tc.Do(t, "POST", "/v1/token", form(maxBody+1))
		if r.Status != http.StatusRequestEntityTooLarge || r.String("error") != "invalid_request" || r.String("access_token") != "" {
			t.Fatalf("a token form over the bound: got %d %s, want 413 invalid_request", r.Status, r.Body)
		}
		if after := ledger(t, s, "ora"); after != before {
			t.Errorf("a token form over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		if r := tc.Do(t, "POST", "/v1/token", form(maxBody)); r.Status != http.StatusOK || r.String("access_token") == "" {
			t.Fatalf("a token form of exactly 64 KiB: got %d %s, want 200 with a token", r.Status, r.Body)
		}
	})
}

// TestBodyTooLargePushDevice: a push device's answer whose body is over
// 64 KiB is 413 too-large, before its signature is checked: the request
// stays unanswered, no failure is recorded, and its nonce is not spent,
// so that the answer signed again with the same nonce over a body of
// 64 KiB is taken. Enrolling a device with a body over the bound is 413
// too.
func TestBodyTooLargePushDevice(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, d := pushUser(t, s, "pia")
		key, id, now := deviceKey(t, d), d.State.DeviceID, s.Clock.Now()

		loginID, _ := startLogin(t, s, "pia")
		ch := pushChallenge(t, s, loginID)
		path := "/v1/push/challenges/" + ch.String("challenge_id")
		answer := `{"decision":"approve","number":"` + ch.String("number") + `"}`
		const nonce = "nonce-toolarge-aaaaaaaa"

		before := ledger(t, s, "pia")
		over := []byte(testenv.Padded(t, answer, maxBody+1))
		wantTooLarge(t, "a device's answer over the bound", signedRequest(t, s, key, id, "POST", path, over, now, nonce, ""))
		wantTooLarge(t, "a device enrolment over the bound", testenv.NewClient(s.URL()).Do(t, "POST", "/v1/push/enrol", testenv.Padded(t, `{"device_id":"x"}`, maxBody+1)))
		if after := ledger(t, s, "pia"); after != before {
			t.Errorf("device requests over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		if req := waiting(t, d); req.ID != ch.String("challenge_id") {
			t.Fatalf("after the refused answer the device sees %+v, want the request still waiting", req)
		}

		at := []byte(testenv.Padded(t, answer, maxBody))
		if r := signedRequest(t, s, key, id, "POST", path, at, now, nonce, ""); r.Status != http.StatusOK {
			t.Fatalf("the answer of exactly 64 KiB with the refused request's nonce: got %d %s, want 200", r.Status, r.Body)
		}
		if r := verify(t, s, loginID, pushProof(ch)); r.Status != http.StatusOK {
			t.Fatalf("the second step after the approval: got %d %s, want 200", r.Status, r.Body)
		}
	})
}
