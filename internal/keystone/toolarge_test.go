package keystone_test

import (
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// maxBody is the bound of an Identity API body (README "OpenStack clients").
const maxBody = 64 << 10

// wantTooLarge checks that r is a 413 in the Identity API's error form,
// titled as Keystone titles its RequestTooLarge.
func wantTooLarge(t *testing.T, what string, r testenv.Response) {
	t.Helper()
	e, ok := r.JSON["error"].(map[string]any)
	if r.Status != http.StatusRequestEntityTooLarge || !ok || e["code"] != float64(413) || e["title"] != "Request is too large." || e["message"] == "" {
		t.Fatalf("%s: got %d %s, want 413 in the Identity API's error form", what, r.Status, r.JSON)
	}
}

// TestBodyTooLarge: an Identity API request whose body is one byte over
// 64 KiB is 413 in Keystone's error form, before anything is looked at: a
// sign-in issues no token (nor receipt), counts no attempt and leaves its
// TOTP code unspent; an application credential is not made. The same
// bodies at 64 KiB are taken.
func TestBodyTooLarge(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, secret := account(t, s, "ivy", true)
		c := testenv.NewClient(s.URL())
		signIn := `{"auth":{"identity":{"methods":["password","totp"],` +
			`"password":{"user":{"name":"ivy","domain":{"id":"default"},"password":"` + password + `"}},` +
			`"totp":{"user":{"name":"ivy","domain":{"id":"default"},"passcode":"` + testenv.TOTP(t, secret, s.Clock.Now()) + `"}}}}}`

		before := testenv.Ledger(t, s, userID)
		r := c.Do(t, "POST", "/v3/auth/tokens", testenv.Padded(t, signIn, maxBody+1))
		wantTooLarge(t, "a sign-in over the bound", r)
		if r.Header.Get("X-Subject-Token") != "" || r.Header.Get("Openstack-Auth-Receipt") != "" {
			t.Errorf("a sign-in over the bound gave a token or receipt: %v", r.Header)
		}
		if after := testenv.Ledger(t, s, userID); after != before {
			t.Errorf("a sign-in over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		r = c.Do(t, "POST", "/v3/auth/tokens", testenv.Padded(t, signIn, maxBody))
		tok := r.Header.Get("X-Subject-Token")
		if r.Status != http.StatusCreated || tok == "" {
			t.Fatalf("the sign-in of exactly 64 KiB, with the same code: got %d %s, want 201 with a token", r.Status, r.Body)
		}

		c.Header.Set("X-Auth-Token", tok)
		path := "/v3/users/" + userID + "/application_credentials"
		create := `{"application_credential":{"name":"acme"}}`
		before = testenv.Ledger(t, s, userID)
		wantTooLarge(t, "an application credential over the bound", c.Do(t, "POST", path, testenv.Padded(t, create, maxBody+1)))
		if after := testenv.Ledger(t, s, userID); after != before {
			t.Errorf("an application credential over the bound changed counters or events:\nbefore %s\nafter  %s", before, after)
		}
		if r := c.Do(t, "GET", path, nil); r.Status != http.StatusOK || len(r.JSON["application_credentials"].([]any)) != 0 {
			t.Fatalf("credentials after the refusal: got %d %s, want none", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", path, testenv.Padded(t, create, maxBody)); r.Status != http.StatusCreated {
			t.Fatalf("an application credential of exactly 64 KiB: got %d %s, want 201", r.Status, r.Body)
		}
	})
}
