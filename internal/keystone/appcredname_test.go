package keystone_test

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// appCredSignIn posts an application_credential sign-in of ac (its id,
// name, secret and user, as given) and returns the answer.
func appCredSignIn(t *testing.T, s *testenv.Server, ac map[string]any) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": map[string]any{
		"methods": []string{"application_credential"}, "application_credential": ac}}})
}

// TestApplicationCredentialByName signs in with an application credential
// found by its name and its user, as gophercloud, keystoneauth and
// clouds.yaml send it: the user by id, or by name and the default domain
// by id or by name. An unknown name, user or domain, another user's
// credential, a wrong secret and an expired credential all get the one
// 401 of a wrong secret by id, byte for byte; a wrong secret is recorded
// as by id, never with the secret. What cannot name a credential or user
// is 400, as Keystone answers it; an id beside a name wins, as in Keystone.
func TestApplicationCredentialByName(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		carolID, _ := account(t, s, "carol", false)
		daveID, _ := account(t, s, "dave", false)
		carol, err := identity(t, authOpts(s, "carol"))
		if err != nil {
			t.Fatal(err)
		}
		dave, err := identity(t, authOpts(s, "dave"))
		if err != nil {
			t.Fatal(err)
		}
		ac, err := applicationcredentials.Create(t.Context(), carol, carolID, applicationcredentials.CreateOpts{Name: "ci"}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		short, err := applicationcredentials.Create(t.Context(), carol, carolID, applicationcredentials.CreateOpts{Name: "short",
			ExpiresAt: new(s.Clock.Now().Add(time.Hour))}).Extract()
		if err != nil {
			t.Fatal(err)
		}
		// dave has a credential of the same name: the user says whose.
		daves, err := applicationcredentials.Create(t.Context(), dave, daveID, applicationcredentials.CreateOpts{Name: "ci"}).Extract()
		if err != nil {
			t.Fatal(err)
		}

		// gophercloud's real client, by user id and by user name.
		endpoint := s.URL() + "/v3/"
		for what, opts := range map[string]gophercloud.AuthOptions{
			"user id":                     {UserID: carolID},
			"user name, domain name":      {Username: "carol", DomainName: "Default"},
			"user name, domain id":        {Username: "carol", DomainID: "default"},
			"dave's, by dave's user name": {Username: "dave", DomainName: "Default"},
		} {
			opts.IdentityEndpoint, opts.ApplicationCredentialName, opts.ApplicationCredentialSecret = endpoint, "ci", ac.Secret
			want := ac.ID
			if opts.Username == "dave" {
				opts.ApplicationCredentialSecret, want = daves.Secret, daves.ID
			}
			app, err := identity(t, opts)
			if err != nil {
				t.Fatalf("%s: sign in by name: %v", what, err)
			}
			var got struct {
				AppCred struct {
					ID string `json:"id"`
				} `json:"application_credential"`
			}
			if err := tokens.Get(t.Context(), app, app.Token()).ExtractInto(&got); err != nil || got.AppCred.ID != want {
				t.Errorf("%s: the token's application credential: %+v, %v; want %s", what, got, err, want)
			}
		}

		// Every refusal is the one 401 of a wrong secret by id.
		wrong := appCredSignIn(t, s, map[string]any{"id": ac.ID, "secret": ac.Secret + "x"})
		if wrong.Status != http.StatusUnauthorized {
			t.Fatalf("a wrong secret by id: %d %s, want 401", wrong.Status, wrong.Body)
		}
		byID := map[string]any{"id": carolID}
		byName := func(name string, domain map[string]any) map[string]any {
			return map[string]any{"name": name, "domain": domain}
		}
		def := map[string]any{"id": "default"}
		for _, tt := range []struct {
			what string
			ac   map[string]any
		}{
			{"a wrong secret", map[string]any{"name": "ci", "secret": ac.Secret + "x", "user": byID}},
			{"a wrong secret, user by name", map[string]any{"name": "ci", "secret": ac.Secret + "x", "user": byName("carol", def)}},
			{"an unknown name", map[string]any{"name": "cd", "secret": ac.Secret, "user": byID}},
			{"a name differing in case", map[string]any{"name": "CI", "secret": ac.Secret, "user": byID}},
			{"an unknown user id", map[string]any{"name": "ci", "secret": ac.Secret, "user": map[string]any{"id": strings.Repeat("z", 26)}}},
			{"an unknown user name", map[string]any{"name": "ci", "secret": ac.Secret, "user": byName("nobody", def)}},
			{"another domain by id", map[string]any{"name": "ci", "secret": ac.Secret, "user": byName("carol", map[string]any{"id": "other"})}},
			{"another domain by name", map[string]any{"name": "ci", "secret": ac.Secret, "user": byName("carol", map[string]any{"name": "Other"})}},
			{"another user's credential", map[string]any{"name": "ci", "secret": daves.Secret, "user": byID}},
			{"an empty secret", map[string]any{"name": "ci", "secret": "", "user": byID}},
		} {
			r := appCredSignIn(t, s, tt.ac)
			if r.Status != wrong.Status || !bytes.Equal(r.Body, wrong.Body) || r.Header.Get("WWW-Authenticate") != wrong.Header.Get("WWW-Authenticate") {
				t.Errorf("%s: got %d %s, want the 401 of a wrong secret by id: %s", tt.what, r.Status, r.Body, wrong.Body)
			}
		}

		// Keystone's 400s for what names no credential or user.
		for _, tt := range []struct {
			what string
			ac   map[string]any
		}{
			{"neither id nor name", map[string]any{"secret": ac.Secret, "user": byID}},
			{"a name without a user", map[string]any{"name": "ci", "secret": ac.Secret}},
			{"a null user", map[string]any{"name": "ci", "secret": ac.Secret, "user": nil}},
			{"a user without id or name", map[string]any{"name": "ci", "secret": ac.Secret, "user": map[string]any{}}},
			{"a user name without a domain", map[string]any{"name": "ci", "secret": ac.Secret, "user": map[string]any{"name": "carol"}}},
			{"a domain without id or name", map[string]any{"name": "ci", "secret": ac.Secret, "user": byName("carol", map[string]any{})}},
		} {
			r := appCredSignIn(t, s, tt.ac)
			e, _ := r.JSON["error"].(map[string]any)
			if r.Status != http.StatusBadRequest || e["code"] != float64(http.StatusBadRequest) || e["title"] != "Bad Request" {
				t.Errorf("%s: got %d %s, want Keystone's 400", tt.what, r.Status, r.Body)
			}
		}

		r := testenv.NewClient(s.URL()).Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["application_credential"]}}}`)
		if r.Status != http.StatusBadRequest {
			t.Errorf("the method without its object: got %d %s, want Keystone's 400", r.Status, r.Body)
		}

		// An id beside a name is the credential, as Keystone finds it.
		if r := appCredSignIn(t, s, map[string]any{"id": ac.ID, "name": "nothing of the kind", "secret": ac.Secret}); r.Status != http.StatusCreated {
			t.Errorf("an id beside another name: %d %s, want 201", r.Status, r.Body)
		}

		// A wrong secret by name is recorded as by id: api_key.refused,
		// the key named, the cause said, the secret nowhere.
		person := testenv.NewClient(s.URL())
		person.Token = carol.Token()
		ev := person.Do(t, "GET", "/v1/me/events?type=api_key.refused", nil)
		found := false
		for _, e := range ev.JSON["events"].([]any) {
			sub, _ := e.(map[string]any)["subject"].(map[string]any)
			found = found || sub["id"] == ac.ID && sub["cause"] == "wrong secret"
		}
		if !found {
			t.Errorf("events: %s, want api_key.refused of %s for a wrong secret", ev.Body, ac.ID)
		}
		if all := person.Do(t, "GET", "/v1/me/events", nil); bytes.Contains(all.Body, []byte(ac.Secret)) {
			t.Error("the secret is in the account's events")
		}

		// Expired, it is refused as a wrong secret is.
		s.Clock.Add(2 * time.Hour)
		if r := appCredSignIn(t, s, map[string]any{"name": "short", "secret": short.Secret, "user": byID}); r.Status != wrong.Status || !bytes.Equal(r.Body, wrong.Body) {
			t.Errorf("an expired credential by name: %d %s, want the 401 of a wrong secret", r.Status, r.Body)
		}
		// A suspended account's credential signs in by name no more.
		op := operator(t, s, "olga")
		if _, _, err := s.Service.SetSuspended(t.Context(), op, carolID, true, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if r := appCredSignIn(t, s, map[string]any{"name": "ci", "secret": ac.Secret, "user": byID}); r.Status != wrong.Status || !bytes.Equal(r.Body, wrong.Body) {
			t.Errorf("a suspended account's credential by name: %d %s, want the 401 of a wrong secret", r.Status, r.Body)
		}
	})
}

// TestApplicationCredentialByNameShared: keys made on /v1 may share a name
// that an application credential has; by name, the secret says which of
// the user's live keys of that name signs in.
func TestApplicationCredentialByNameShared(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		carolID, _ := account(t, s, "carol", false)
		c := testenv.NewClient(s.URL())
		c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": "carol", "password": password}).String("token")
		ids, secrets := []string{}, []string{}
		for range 2 {
			r := c.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "ci", "permits": []map[string]any{{"service": "dns", "resource": "*", "actions": []string{"read"}}}})
			if r.Status != http.StatusCreated && r.Status != http.StatusOK {
				t.Fatalf("make a key: %d %s", r.Status, r.Body)
			}
			k, _ := r.JSON["api_key"].(map[string]any)
			id, _ := k["id"].(string)
			ids, secrets = append(ids, id), append(secrets, r.String("secret"))
		}
		for i := range 2 {
			r := appCredSignIn(t, s, map[string]any{"name": "ci", "secret": secrets[i], "user": map[string]any{"id": carolID}})
			if r.Status != http.StatusCreated {
				t.Fatalf("key %d by name: %d %s, want 201", i, r.Status, r.Body)
			}
			if got := r.JSON["token"].(map[string]any)["application_credential"].(map[string]any)["id"]; got != ids[i] {
				t.Errorf("key %d by name signed in as %v, want %s", i, got, ids[i])
			}
		}
	})
}

// TestOtherUserForbidden: a token reading or changing another user gets
// Keystone's answer to a token that is not an administrator's, 403, the
// same whether that user exists or not, so that no account's id can be
// probed; under that user's application credentials too.
func TestOtherUserForbidden(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		account(t, s, "carol", false)
		daveID, _ := account(t, s, "dave", false)
		carol, err := identity(t, authOpts(s, "carol"))
		if err != nil {
			t.Fatal(err)
		}
		c := testenv.NewClient(s.URL())
		c.Header = http.Header{"X-Auth-Token": {carol.Token()}}
		none := strings.Repeat("z", 26)
		for _, tt := range []struct{ method, path, body string }{
			{"GET", "/v3/users/%s", ""},
			{"PATCH", "/v3/users/%s", `{"user":{"options":{"multi_factor_auth_enabled":true}}}`},
			{"GET", "/v3/users/%s/application_credentials", ""},
			{"POST", "/v3/users/%s/application_credentials", `{"application_credential":{"name":"x"}}`},
		} {
			var body any
			if tt.body != "" {
				body = tt.body
			}
			existing := c.Do(t, tt.method, strings.Replace(tt.path, "%s", daveID, 1), body)
			missing := c.Do(t, tt.method, strings.Replace(tt.path, "%s", none, 1), body)
			e, _ := existing.JSON["error"].(map[string]any)
			if existing.Status != http.StatusForbidden || e["code"] != float64(http.StatusForbidden) {
				t.Errorf("%s %s of another user: got %d %s, want 403", tt.method, tt.path, existing.Status, existing.Body)
			}
			if missing.Status != existing.Status || !bytes.Equal(missing.Body, existing.Body) {
				t.Errorf("%s %s: no such user got %d %s, another user %d %s; want the same", tt.method, tt.path, missing.Status, missing.Body, existing.Status, existing.Body)
			}
		}
	})
}
