package keystone_test

import (
	"net/http"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// The tests of this file hold what the openstack command-line client
// (python-openstackclient with keystoneauth1) needs of the Identity API
// beyond what gophercloud does, found by running it against Twofold; they
// send the client's requests as it sends them, without the client.

// TestUserHasLinks: a user, read or patched, has links.self, an absolute
// URL of itself, as Keystone's users have; `openstack user show` and
// `openstack user set` fail without it (KeyError: 'links').
func TestUserHasLinks(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, secret := account(t, s, "grace", true)
		id := signInWithTOTP(t, s, "grace", secret)
		c := testenv.NewClient(s.URL())
		c.Header = http.Header{"X-Auth-Token": {id.Token()}}
		want := s.URL() + "/v3/users/" + userID
		for _, r := range []testenv.Response{
			c.Do(t, "GET", "/v3/users/"+userID, nil),
			c.Do(t, "PATCH", "/v3/users/"+userID, `{"user":{"options":{"multi_factor_auth_enabled":true}}}`),
		} {
			u, _ := r.JSON["user"].(map[string]any)
			links, _ := u["links"].(map[string]any)
			if r.Status != 200 || links["self"] != want {
				t.Errorf("got %d %s, want 200 with links.self %s", r.Status, r.Body, want)
			}
		}
	})
}
