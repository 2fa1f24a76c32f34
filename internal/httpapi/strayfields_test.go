package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestStrayProofFieldsRefused: a second step, an elevation or a password
// reset whose body holds a field of another method than the one it names
// (a signature beside a TOTP code, a code for ssh_key) is 400 naming the
// field, before anything is checked: no attempt is counted and the code is
// still good for the step sent right.
func TestStrayProofFieldsRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		e := enrol(t, s, login(t, s, "alice"), map[string]any{"type": "totp", "label": "Phone"})
		c := signInTOTP(t, s, "alice", e.secret)
		lapseElevation(s)
		loginID, _ := startLogin(t, s, "alice")
		code := testenv.TOTP(t, e.secret, s.Clock.Now())
		for _, tt := range []struct {
			body map[string]any
			says string
		}{
			{map[string]any{"method": "totp", "code": code, "signature": "-----BEGIN SSH SIGNATURE-----"}, "signature is for method ssh_key"},
			{map[string]any{"method": "totp", "code": code, "push_secret": "p"}, "push_secret is for method push"},
			{map[string]any{"method": "recovery_code", "code": e.codes[0], "credential": map[string]any{"id": "x"}}, "credential is for method webauthn"},
			{map[string]any{"method": "ssh_key", "code": code, "signature": "-----BEGIN SSH SIGNATURE-----"}, "ssh_key takes a signature, not a code"},
		} {
			for _, path := range []string{"/v1/login/" + loginID + "/verify", "/v1/me/elevate"} {
				client := testenv.NewClient(s.URL())
				if strings.HasPrefix(path, "/v1/me") {
					client = c
				}
				r := client.Do(t, "POST", path, tt.body)
				if r.Status != http.StatusBadRequest || r.Problem() != "invalid" || !strings.Contains(r.String("detail"), tt.says) {
					t.Errorf("%s %v: got %d %s, want 400 invalid saying %q", path, tt.body, r.Status, r.Body, tt.says)
				}
			}
		}
		// "credential": null is no credential.
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "totp", "code": code, "credential": nil}); r.Status != http.StatusOK {
			t.Fatalf("elevate with the code and a null credential: got %d %s, want 200", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())}); r.Status != http.StatusOK {
			t.Errorf("the second step sent right after the refusals: got %d %s, want 200", r.Status, r.Body)
		}
	})
}
