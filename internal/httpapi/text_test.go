package httpapi_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMalformedText: a NUL byte or bytes that are not UTF-8 in a path, a
// query, a JSON string or a credential never reach the database, which on
// PostgreSQL refuses them in text: the request is a 400 invalid problem
// (401 for a credential, as an unknown one), on both stores, with or
// without a login.
func TestMalformedText(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s := f.s
		anon := testenv.NewClient(s.URL())
		loginID, _ := startLogin(t, s, "dave")
		basic := func(id string) *testenv.Client {
			c := testenv.NewClient(s.URL())
			c.Header = http.Header{"Authorization": {"Basic " + base64.StdEncoding.EncodeToString([]byte(id+":secret"))}}
			return c
		}
		bearer := func(token string) *testenv.Client {
			c := testenv.NewClient(s.URL())
			c.Token = token
			return c
		}
		totp := func(factor string) map[string]string {
			return map[string]string{"method": "totp", "factor_id": factor, "code": "123456"}
		}
		for _, tc := range []struct {
			name         string
			c            *testenv.Client
			method, path string
			body         any
			status       int
			problem      string
		}{
			{"login id not UTF-8", anon, "POST", "/v1/login/%ff/verify", totp(""), 400, "invalid"},
			{"login id with NUL", anon, "POST", "/v1/login/a%00b/verify", totp(""), 400, "invalid"},
			{"HTTP Basic key id not UTF-8", basic("k\xff"), "GET", "/v1/me", nil, 401, "unauthorized"},
			{"HTTP Basic key id with NUL", basic("k\x00"), "GET", "/v1/me", nil, 401, "unauthorized"},
			{"Bearer key not UTF-8", bearer("k\xff:secret"), "GET", "/v1/me", nil, 401, "unauthorized"},
			{"Bearer session token not UTF-8", bearer("k\xff"), "GET", "/v1/me/factors", nil, 401, "unauthorized"},
			{"sms challenge factor with NUL", anon, "POST", "/v1/login/" + loginID + "/challenge", map[string]string{"method": "sms", "factor_id": "a\x00b"}, 400, "invalid"},
			{"totp factor with NUL", anon, "POST", "/v1/login/" + loginID + "/verify", totp("x\x00"), 400, "invalid"},
			{"sms factor with NUL", anon, "POST", "/v1/login/" + loginID + "/verify", map[string]string{"method": "sms", "factor_id": "x\x00", "code": "123456"}, 400, "invalid"},
			{"JSON not UTF-8", anon, "POST", "/v1/login/" + loginID + "/verify", `{"method":"totp","factor_id":"x` + "\xff" + `","code":"123456"}`, 400, "invalid"},
			{"reset check token with NUL", anon, "POST", "/v1/password-reset/check", map[string]string{"token": "a\x00b.c"}, 400, "invalid"},
			{"reset complete token with NUL", anon, "POST", "/v1/password-reset/complete", map[string]string{"token": "a\x00b.c", "password": password}, 400, "invalid"},
			{"elevate factor with NUL", f.user, "POST", "/v1/me/elevate", totp("a\x00b"), 400, "invalid"},
			{"delete factor with NUL", f.user, "DELETE", "/v1/me/factors/a%00b", nil, 400, "invalid"},
			{"rename factor with NUL", f.user, "PATCH", "/v1/me/factors/a%00b", map[string]string{"label": "x"}, 400, "invalid"},
			{"delete factor not UTF-8", f.user, "DELETE", "/v1/me/factors/%ff", nil, 400, "invalid"},
			{"QR of factor with NUL", f.user, "GET", "/v1/me/factors/a%00b/qr.png", nil, 400, "invalid"},
			{"events of account NUL", f.opc, "GET", "/v1/admin/events?account=%00", nil, 400, "invalid"},
			{"events of account not UTF-8", f.opc, "GET", "/v1/admin/events?account=%ff", nil, 400, "invalid"},
			{"user NUL", f.opc, "GET", "/v1/admin/users/%00", nil, 400, "invalid"},
			{"user not UTF-8", f.opc, "GET", "/v1/admin/users/%ff", nil, 400, "invalid"},
			{"sessions of user NUL", f.opc, "GET", "/v1/admin/users/%00/sessions", nil, 400, "invalid"},
			{"keys of user not UTF-8", f.opc, "GET", "/v1/admin/users/%ff/api-keys", nil, 400, "invalid"},
			{"webhook NUL", f.opc, "GET", "/v1/admin/webhooks/%00", nil, 400, "invalid"},
			{"team not UTF-8", f.opc, "GET", "/v1/admin/teams/%ff", nil, 400, "invalid"},
			{"search users NUL", f.opc, "GET", "/v1/admin/users?q=%00", nil, 400, "invalid"},
			{"search users not UTF-8", f.opc, "GET", "/v1/admin/users?q=%ff", nil, 400, "invalid"},
			{"search teams NUL", f.opc, "GET", "/v1/admin/teams?q=%00", nil, 400, "invalid"},
			{"query key not UTF-8", f.opc, "GET", "/v1/admin/users?%ff=1", nil, 400, "invalid"},
			{"DNS API zone not UTF-8", f.opc, "GET", "/dns/v2/zones/%ff/records", nil, 400, "invalid"},
			{"unknown path with NUL", anon, "GET", "/v1/no/%00", nil, 400, "invalid"},
		} {
			r := tc.c.Do(t, tc.method, tc.path, tc.body)
			if r.Status != tc.status || r.Problem() != tc.problem || r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("%s: %s %s: got %d %q (%s), want %d %q as a problem", tc.name, tc.method, tc.path, r.Status, r.Problem(), r.Body, tc.status, tc.problem)
			}
		}

		// Pages answer with a page, the Identity API in its own form.
		r := anon.Do(t, "GET", "/password-reset/a%00b.c", nil)
		if r.Status != 400 || !strings.HasPrefix(r.Header.Get("Content-Type"), "text/html") {
			t.Errorf("page with NUL in its path: got %d %q, want a 400 page", r.Status, r.Header.Get("Content-Type"))
		}
		r = anon.Do(t, "GET", "/v3/users/%ff", nil)
		if e, _ := r.JSON["error"].(map[string]any); r.Status != 400 || e["code"] != float64(400) {
			t.Errorf("Identity API path not UTF-8: got %d %s, want a 400 in its error form", r.Status, r.Body)
		}
		r = anon.Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"da\u0000ve","domain":{"id":"default"},"password":"x"}}}}}`)
		if e, _ := r.JSON["error"].(map[string]any); r.Status != 400 || e["code"] != float64(400) {
			t.Errorf("Identity API body with NUL: got %d %s, want a 400 in its error form", r.Status, r.Body)
		}
		ks := testenv.NewClient(s.URL())
		ks.Header = http.Header{"X-Auth-Token": {"t\xff"}}
		if r := ks.Do(t, "GET", "/v3/auth/tokens", nil); r.Status != 401 {
			t.Errorf("Identity API token not UTF-8: got %d %s, want 401", r.Status, r.Body)
		}

		// A search of 64 characters whose last is two bytes is cut
		// between characters, not inside one.
		r = f.opc.Do(t, "GET", "/v1/admin/users?q="+strings.Repeat("a", 63)+"%C3%A9", nil)
		if r.Status != 200 {
			t.Errorf("search of 63 a's and é: got %d %s, want 200", r.Status, r.Body)
		}
		r = f.opc.Do(t, "GET", "/v1/admin/teams?q="+strings.Repeat("a", 63)+"%C3%A9", nil)
		if r.Status != 200 {
			t.Errorf("team search of 63 a's and é: got %d %s, want 200", r.Status, r.Body)
		}

		// Nothing above was an error of the server's.
		if r := f.opc.Do(t, "GET", "/v1/admin/events?limit=200", nil); r.Status != 200 {
			t.Fatalf("events: got %d %s", r.Status, r.Body)
		}
	})
}

// TestMalformedPasskeyHandle: a passkey's user handle reaches the service
// inside the assertion, past the checks of paths and JSON strings; one that
// cannot be an id (not UTF-8, with a NUL) names no account, on both stores.
func TestMalformedPasskeyHandle(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kim")
		enrolPasskey(t, s, "kim")
		anon := testenv.NewClient(s.URL())
		stranger := testenv.NewPasskey(t, keyOrigin(t, s))
		stranger.UserHandle = []byte{0xff, 0x00}
		loginID, opts := passkeyOptions(t, anon)
		wantProblem(t, anon.Do(t, "POST", "/v1/login/passkey/finish", map[string]any{"login_id": loginID, "credential": stranger.Get(t, opts)}), 401, "invalid-credentials")
	})
}

// TestMalformedFactorTakesNoRequest: a request for a code to a factor id
// that cannot be one (not UTF-8, or with a NUL) names no factor, and is
// refused before it counts against the source's request rate.
func TestMalformedFactorTakesNoRequest(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{func(c *config.Config) { c.LoginBurst, c.LoginRate = 10, 0.001 }}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "lou")
		c := login(t, s, "lou")
		enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		lou, _ := startLogin(t, s, "lou")
		m := core.Meta{Source: "192.0.2.7"}
		for i := range 20 {
			for _, id := range []string{"a\x00b", "\xff"} {
				_, err := s.Service.ChallengeLogin(context.Background(), lou, twofold.MethodSMS, id, "", m)
				if code := twofold.ErrorCode(err); code != twofold.CodeNotFound {
					t.Fatalf("request %d for a code to factor %q: got %s (%v), want not-found", i, id, code, err)
				}
			}
		}
		// The source's requests are all there still.
		if _, err := s.Service.ChallengeLogin(context.Background(), lou, twofold.MethodSMS, "no-such-factor", "", m); twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatalf("a request for a code after them: got %v, want not-found", err)
		}
	})
}
