package keystone_test

import (
	"slices"
	"strings"
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
		userID, _, c := signedIn(t, s, "grace")
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

// TestUserSetSendsEnabled: `openstack user set --disable-multi-factor-auth`
// (and --enable-…) sends "enabled" as it read it beside the option, so
// "enabled": true, which changes nothing, is taken with the option; false,
// or anything not true, is still refused whole with 400.
func TestUserSetSendsEnabled(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "heidi") // elevated: turning MFA off needs it
		path := "/v3/users/" + userID
		mfa := func(r testenv.Response) any {
			u, _ := r.JSON["user"].(map[string]any)
			o, _ := u["options"].(map[string]any)
			return o["multi_factor_auth_enabled"]
		}
		for _, body := range []string{
			`{"user":{"enabled":false,"options":{"multi_factor_auth_enabled":false}}}`,
			`{"user":{"enabled":"true","options":{"multi_factor_auth_enabled":false}}}`,
			`{"user":{"enabled":null,"options":{"multi_factor_auth_enabled":false}}}`,
		} {
			if r := c.Do(t, "PATCH", path, body); r.Status != 400 {
				t.Errorf("%s: got %d %s, want 400", body, r.Status, r.Body)
			}
		}
		if r := c.Do(t, "GET", path, nil); mfa(r) != true {
			t.Fatalf("after refused PATCHes: got %d %s, want multi_factor_auth_enabled still true", r.Status, r.Body)
		}
		for _, on := range []bool{false, true} {
			body := `{"user":{"enabled":true,"options":{"multi_factor_auth_enabled":` + map[bool]string{false: "false", true: "true"}[on] + `}}}`
			if r := c.Do(t, "PATCH", path, body); r.Status != 200 || mfa(r) != on || mfa(c.Do(t, "GET", path, nil)) != on {
				t.Fatalf("%s: got %d %s, want 200 with multi_factor_auth_enabled %v", body, r.Status, r.Body, on)
			}
		}
	})
}

// TestApplicationCredentialRolesAndDescription: Twofold has no roles and
// keeps no description, so an application credential asked for with roles
// (`openstack application credential create --role reader`) or a
// description (`--description`) is refused with 400 and none is made,
// rather than made without them: one so asked for a reader's role would
// have read and written every zone. Empty ones are no request and pass.
func TestApplicationCredentialRolesAndDescription(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "ivan")
		path := "/v3/users/" + userID + "/application_credentials"
		for name, body := range map[string]string{
			"role by id":   `{"application_credential":{"name":"a","roles":[{"id":"reader"}],"unrestricted":false}}`,
			"role by name": `{"application_credential":{"name":"b","roles":[{"name":"reader"}]}}`,
			"description":  `{"application_credential":{"name":"c","description":"for acme"}}`,
		} {
			r := c.Do(t, "POST", path, body)
			if e, ok := r.JSON["error"].(map[string]any); r.Status != 400 || !ok || e["code"] != 400.0 {
				t.Errorf("%s: got %d %s, want the Identity API's 400", name, r.Status, r.Body)
			}
		}
		if r := c.Do(t, "GET", path, nil); r.Status != 200 || len(r.JSON["application_credentials"].([]any)) != 0 {
			t.Fatalf("after refused credentials: got %d %s, want none", r.Status, r.Body)
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

// TestListUsersByName: the openstack CLI finds a user given by name
// (`openstack credential create --type totp alice BLOB`, `openstack
// credential list --user alice`) with GET /v3/users?name=alice, and said
// there was no such user when that path was not served. The list holds the
// caller alone, when it passes the filters.
func TestListUsersByName(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "judy")
		account(t, s, "mallory", false)
		for query, want := range map[string][]string{
			"":                                    {userID},
			"?name=judy":                          {userID},
			"?name=judy&domain_id=default":        {userID},
			"?name=judy&enabled=true":             {userID},
			"?name=mallory":                       {},
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

// TestElevationSaidForIdentityClients: a change that needs a fresh second
// factor, asked for with a password-only token, is a 403 that says how an
// Identity API client gets one (a token of the password and totp methods),
// not core's "elevate the session", which names a step of /v1 that the
// openstack CLI has no command for.
func TestElevationSaidForIdentityClients(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _, c := signedIn(t, s, "leo")
		if r := c.Do(t, "PATCH", "/v3/users/"+userID, `{"user":{"options":{"multi_factor_auth_enabled":false}}}`); r.Status != 200 {
			t.Fatalf("two-factor off: got %d %s", r.Status, r.Body)
		}
		pw, err := identity(t, authOpts(s, "leo")) // password alone: not elevated
		if err != nil {
			t.Fatal(err)
		}
		c.Header.Set("X-Auth-Token", pw.Token())
		factor := c.Do(t, "GET", "/v3/credentials", nil).JSON["credentials"].([]any)[0].(map[string]any)["id"].(string)
		for what, r := range map[string]testenv.Response{
			"a TOTP credential added": c.Do(t, "POST", "/v3/credentials",
				`{"credential":{"type":"totp","user_id":"`+userID+`","blob":"GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"}}`),
			"a TOTP credential deleted": c.Do(t, "DELETE", "/v3/credentials/"+factor, nil),
		} {
			e, _ := r.JSON["error"].(map[string]any)
			msg, _ := e["message"].(string)
			if r.Status != 403 || !strings.Contains(msg, "password and totp") {
				t.Errorf("%s with a password-only token: got %d %s, want 403 naming the password and totp methods", what, r.Status, r.Body)
			}
		}
	})
}
