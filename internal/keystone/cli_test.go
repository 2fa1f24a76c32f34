package keystone_test

import (
	"slices"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// The tests of this file send, by hand, requests of the openstack
// command-line client's forms that the client itself cannot be made to send
// (its other forms, an empty field), beside those of openstack_test.go,
// which runs the client.

// TestApplicationCredentialRolesAndDescription: Twofold has no roles and
// keeps no description, so an application credential asked for with roles
// or a description is refused with 400 and none is made, rather than made
// without them: one so asked for a reader's role would have read and
// written every zone. `openstack application credential create --role`
// names a role by id; by name it is refused alike. Empty ones are no
// request and pass.
func TestApplicationCredentialRolesAndDescription(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "ivan")
		path := "/v3/users/" + userID + "/application_credentials"
		r := c.Do(t, "POST", path, `{"application_credential":{"name":"b","roles":[{"name":"reader"}]}}`)
		if e, ok := r.JSON["error"].(map[string]any); r.Status != 400 || !ok || e["code"] != 400.0 {
			t.Errorf("a role by name: got %d %s, want the Identity API's 400", r.Status, r.Body)
		}
		if r := c.Do(t, "GET", path, nil); r.Status != 200 || len(r.JSON["application_credentials"].([]any)) != 0 {
			t.Fatalf("after a refused credential: got %d %s, want none", r.Status, r.Body)
		}
		for name, body := range map[string]string{
			"empty roles":       `{"application_credential":{"name":"d","roles":[]}}`,
			"empty description": `{"application_credential":{"name":"e","description":""}}`,
			"null description":  `{"application_credential":{"name":"f","description":null}}`,
		} {
			if r := c.Do(t, "POST", path, body); r.Status != 201 {
				t.Errorf("%s: got %d %s, want 201", name, r.Status, r.Body)
			}
		}
	})
}

// TestListUsersByName: GET /v3/users (which the openstack CLI asks, with
// ?name=, for a user given by name) lists the caller alone, when it passes
// the filters, the ones the CLI does not send too.
func TestListUsersByName(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "judy")
		for query, want := range map[string][]string{
			"?name=JUDY":                          {userID},
			"?name=judy&domain_id=default":        {userID},
			"?name=judy&enabled=true":             {userID},
			"?name=nobody":                        {},
			"?name=judy&domain_id=elsewhere":      {},
			"?name=judy&enabled=false":            {},
			"?name=judy&password_expires_at=gt:x": {userID},
		} {
			r := c.Do(t, "GET", "/v3/users"+query, nil)
			users, _ := r.JSON["users"].([]any)
			got := []string{}
			for _, u := range users {
				got = append(got, u.(map[string]any)["id"].(string))
			}
			if r.Status != 200 || !slices.Equal(got, want) {
				t.Errorf("GET /v3/users%s: got %d %s, want 200 with users %v", query, r.Status, r.Body, want)
			}
		}
		if r := (testenv.NewClient(s.URL())).Do(t, "GET", "/v3/users?name=judy", nil); r.Status != 401 {
			t.Errorf("without a token: got %d %s, want 401", r.Status, r.Body)
		}
	})
}
