package keystone_test

import (
	"encoding/base64"
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestAmbientCredentialsIgnored: the Identity API takes a caller only from
// X-Auth-Token (and a sign-in's body), which a browser never sends by
// itself; what a browser does send by itself, the pages' session cookie
// and an API key as HTTP Basic, is no credential here: with either, a read
// and a revocation are 401, and the token named stays valid. So /v3 needs
// no cross-site refusal (httpapi.NotCrossSite) of its own.
func TestAmbientCredentialsIgnored(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _ := account(t, s, "ivy", false)
		with := func(h http.Header) *testenv.Client {
			c := testenv.NewClient(s.URL())
			c.Header = h
			return c
		}
		lc := testenv.NewClient(s.URL())
		tok := lc.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password}).String("token")
		lc.Token = tok
		r := lc.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "reader",
			"permits": []map[string]any{{"service": "account", "resource": "*", "actions": []string{"read"}}}})
		if r.Status != 201 {
			t.Fatalf("making a key: got %d %s", r.Status, r.Body)
		}
		basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(r.JSON["api_key"].(map[string]any)["id"].(string)+":"+r.String("secret")))
		if r := with(http.Header{"Authorization": {basic}}).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the key on /v1: got %d %s", r.Status, r.Body)
		}
		for name, h := range map[string]http.Header{
			"the session cookie":  {"Cookie": {"twofold_session=" + tok + "; __Host-twofold_session=" + tok}},
			"a key as HTTP Basic": {"Authorization": {basic}},
		} {
			for _, req := range []struct{ method, path string }{
				{"GET", "/v3/users/" + userID},
				{"DELETE", "/v3/auth/tokens"},
			} {
				h := h.Clone()
				h.Set("X-Subject-Token", tok)
				r := with(h).Do(t, req.method, req.path, nil)
				if r.Status != http.StatusUnauthorized {
					t.Errorf("%s %s with %s: got %d %s, want 401", req.method, req.path, name, r.Status, r.Body)
				}
			}
		}
		if r := with(http.Header{"X-Auth-Token": {tok}}).Do(t, "GET", "/v3/users/"+userID, nil); r.Status != 200 {
			t.Errorf("the token after: got %d %s, want it still valid", r.Status, r.Body)
		}
	})
}
