package keystone_test

import (
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// sendAs sends body ("" for none) to path with the Content-Type fields
// cts, which replace the JSON one testenv.Client sends (nil: none at all),
// and the other header pairs kv.
func sendAs(t *testing.T, s *testenv.Server, method, path string, cts []string, body string, kv ...string) testenv.Response {
	t.Helper()
	c := testenv.NewClient(s.URL())
	c.Header["Content-Type"] = cts
	for i := 0; i+1 < len(kv); i += 2 {
		c.Header.Set(kv[i], kv[i+1])
	}
	if body == "" {
		return c.Do(t, method, path, nil)
	}
	return c.Do(t, method, path, body)
}

// TestContentTypeNotJSON: a body sent with another Content-Type than JSON
// is refused with 400 in the Identity API's error form, as Keystone
// refuses it, before it is read: a sign-in so refused issues no token,
// counts no attempt and leaves its code unspent; a PATCH changes nothing.
// application/json with parameters, another application/…+json type, and
// no Content-Type at all (as Keystone reads it) are JSON.
func TestContentTypeNotJSON(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, secret := account(t, s, "jo", true)
		signIn := `{"auth":{"identity":{"methods":["password","totp"],` +
			`"password":{"user":{"name":"jo","domain":{"id":"default"},"password":"` + password + `"}},` +
			`"totp":{"user":{"name":"jo","domain":{"id":"default"},"passcode":"` + testenv.TOTP(t, secret, s.Clock.Now()) + `"}}}}}`
		before := testenv.Ledger(t, s, userID)
		for _, cts := range [][]string{
			{"text/plain"},
			{"application/x-www-form-urlencoded"}, // curl -d without -H
			{"application/jsonx"},
			{"json"},
			{"application/json", "text/plain"},
		} {
			r := sendAs(t, s, "POST", "/v3/auth/tokens", cts, signIn)
			e, ok := r.JSON["error"].(map[string]any)
			if r.Status != http.StatusBadRequest || !ok || e["code"] != float64(400) || r.Header.Get("X-Subject-Token") != "" {
				t.Errorf("a sign-in sent as %q: got %d %s, want 400 in the Identity API's error form", cts, r.Status, r.Body)
			}
		}
		if after := testenv.Ledger(t, s, userID); after != before {
			t.Errorf("sign-ins sent as another type changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		r := sendAs(t, s, "POST", "/v3/auth/tokens", []string{"application/json; charset=utf-8"}, signIn)
		tok := r.Header.Get("X-Subject-Token")
		if r.Status != http.StatusCreated || tok == "" {
			t.Fatalf("the sign-in as application/json; charset=utf-8 after the refusals: got %d %s, want 201 with a token", r.Status, r.Body)
		}

		// A PATCH of the user sent as another type changes nothing.
		path := "/v3/users/" + userID
		off := `{"user":{"options":{"multi_factor_auth_enabled":false}}}`
		if r := sendAs(t, s, "PATCH", path, []string{"text/plain"}, off, "X-Auth-Token", tok); r.Status != http.StatusBadRequest {
			t.Errorf("a PATCH sent as text/plain: got %d %s, want 400", r.Status, r.Body)
		}
		r = sendAs(t, s, "GET", path, nil, "", "X-Auth-Token", tok)
		if opts, _ := r.JSON["user"].(map[string]any)["options"].(map[string]any); r.Status != http.StatusOK || opts["multi_factor_auth_enabled"] != true {
			t.Fatalf("the user after the refused PATCH: got %d %s, want two-factor still on", r.Status, r.Body)
		}

		// What Keystone reads as JSON, Twofold does too.
		account(t, s, "kit", false)
		plain := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"kit","domain":{"id":"default"},"password":"` + password + `"}}}}}`
		for _, cts := range [][]string{nil, {""}, {"application/json"}, {"Application/JSON;charset=UTF-8"}, {"application/vnd.openstack.identity+json"}} {
			if r := sendAs(t, s, "POST", "/v3/auth/tokens", cts, plain); r.Status != http.StatusCreated || r.Header.Get("X-Subject-Token") == "" {
				t.Errorf("a sign-in sent as %q: got %d %s, want 201 with a token", cts, r.Status, r.Body)
			}
		}
	})
}
