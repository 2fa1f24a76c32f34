package keystone_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"

	"github.com/twofold/twofold/internal/testenv"
)

// TestApplicationCredentialTokenIssuedAt: a credential's token says when
// it was issued, also when it ends early with a credential that expires
// within the hour (issued_at is not its expiry less an hour).
func TestApplicationCredentialTokenIssuedAt(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, id, _ := signedIn(t, s, "ivy")
		ends := s.Clock.Now().Add(10 * time.Minute).Truncate(time.Second)
		ac, err := applicationcredentials.Create(t.Context(), id, userID, applicationcredentials.CreateOpts{Name: "soon", ExpiresAt: &ends,
			AccessRules: []applicationcredentials.AccessRule{{Service: "dns", Method: "GET", Path: "/zones/example.com/**"}}}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		s.Clock.Add(2 * time.Minute)
		issued := s.Clock.Now().Truncate(time.Millisecond)
		app, err := identity(t, gophercloud.AuthOptions{IdentityEndpoint: s.URL() + "/v3/", ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
		if err != nil {
			t.Fatal(err)
		}
		c := testenv.NewClient(s.URL())
		c.Header = http.Header{"X-Auth-Token": {app.Token()}, "X-Subject-Token": {app.Token()}}
		r := c.Do(t, "GET", "/v3/auth/tokens", nil)
		tok, _ := r.JSON["token"].(map[string]any)
		if r.Status != http.StatusOK || tok == nil {
			t.Fatalf("the credential's token: got %d %s", r.Status, r.Body)
		}
		for field, want := range map[string]time.Time{"issued_at": issued, "expires_at": ends} {
			got, err := time.Parse(time.RFC3339Nano, tok[field].(string))
			if err != nil || !got.Equal(want) {
				t.Errorf("%s: got %v (%v), want %v", field, tok[field], err, want.UTC())
			}
		}
	})
}
