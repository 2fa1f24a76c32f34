package keystone_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// post sends body to path with the Content-Type fields cts (none when
// empty) and the other header pairs kv, and returns the status, the
// header and the decoded JSON answer.
func post(t *testing.T, s *testenv.Server, method, path string, cts []string, body string, kv ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for _, ct := range cts {
		req.Header.Add("Content-Type", ct)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(b) > 0 {
		if err := json.Unmarshal(b, &out); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %s", method, path, b)
		}
	}
	return res.StatusCode, res.Header, out
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
			status, h, body := post(t, s, "POST", "/v3/auth/tokens", cts, signIn)
			e, ok := body["error"].(map[string]any)
			if status != http.StatusBadRequest || !ok || e["code"] != float64(400) || h.Get("X-Subject-Token") != "" {
				t.Errorf("a sign-in sent as %q: got %d %v, want 400 in the Identity API's error form", cts, status, body)
			}
		}
		if after := testenv.Ledger(t, s, userID); after != before {
			t.Errorf("sign-ins sent as another type changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		status, h, body := post(t, s, "POST", "/v3/auth/tokens", []string{"application/json; charset=utf-8"}, signIn)
		tok := h.Get("X-Subject-Token")
		if status != http.StatusCreated || tok == "" {
			t.Fatalf("the sign-in as application/json; charset=utf-8 after the refusals: got %d %v, want 201 with a token", status, body)
		}

		// A PATCH of the user sent as another type changes nothing.
		path := "/v3/users/" + userID
		off := `{"user":{"options":{"multi_factor_auth_enabled":false}}}`
		if status, _, body := post(t, s, "PATCH", path, []string{"text/plain"}, off, "X-Auth-Token", tok); status != http.StatusBadRequest {
			t.Errorf("a PATCH sent as text/plain: got %d %v, want 400", status, body)
		}
		status, _, body = post(t, s, "GET", path, nil, "", "X-Auth-Token", tok)
		if opts, _ := body["user"].(map[string]any)["options"].(map[string]any); status != http.StatusOK || opts["multi_factor_auth_enabled"] != true {
			t.Fatalf("the user after the refused PATCH: got %d %v, want two-factor still on", status, body)
		}

		// What Keystone reads as JSON, Twofold does too.
		account(t, s, "kit", false)
		plain := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"kit","domain":{"id":"default"},"password":"` + password + `"}}}}}`
		for _, cts := range [][]string{nil, {""}, {"application/json"}, {"Application/JSON;charset=UTF-8"}, {"application/vnd.openstack.identity+json"}} {
			if status, h, body := post(t, s, "POST", "/v3/auth/tokens", cts, plain); status != http.StatusCreated || h.Get("X-Subject-Token") == "" {
				t.Errorf("a sign-in sent as %q: got %d %v, want 201 with a token", cts, status, body)
			}
		}
	})
}
