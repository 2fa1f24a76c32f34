package keystone_test

import (
	"database/sql"
	"net/http"
	"strings"
	"testing"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"

	"github.com/twofold/twofold/internal/testenv"
)

// keystoneUser names a user by name in the default domain, with key (the
// password or the passcode) set to v.
func keystoneUser(name, key, v string) map[string]any {
	return map[string]any{"user": map[string]any{"name": name, "domain": map[string]any{"id": "default"}, key: v}}
}

// signInWith posts identity to /v3/auth/tokens.
func signInWith(t *testing.T, s *testenv.Server, identity map[string]any) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": identity}})
}

// TestTOTPMethodNeedsItsObject: the totp method listed beside the
// password without a totp object is Keystone's 400, for an account that
// requires two-factor and one that does not; it is no wrong code, so
// however often it is sent, nothing is counted against the account, which
// then signs in.
func TestTOTPMethodNeedsItsObject(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, secret := account(t, s, "tia", true)
		account(t, s, "uma", false)
		for _, name := range []string{"tia", "uma"} {
			for i := range 8 {
				r := signInWith(t, s, map[string]any{"methods": []string{"password", "totp"}, "password": keystoneUser(name, "password", password)})
				if e, _ := r.JSON["error"].(map[string]any); r.Status != http.StatusBadRequest || e["code"] != float64(400) {
					t.Fatalf("%s, totp without its object (%d): got %d %s, want Keystone's 400", name, i+1, r.Status, r.Body)
				}
			}
		}
		r := signInWith(t, s, map[string]any{"methods": []string{"password", "totp"}, "password": keystoneUser("tia", "password", password),
			"totp": keystoneUser("tia", "passcode", testenv.TOTP(t, secret, s.Clock.Now()))})
		if r.Status != http.StatusCreated {
			t.Fatalf("tia with password and code after: got %d %s, want 201", r.Status, r.Body)
		}
		if r := signInWith(t, s, map[string]any{"methods": []string{"password"}, "password": keystoneUser("uma", "password", password)}); r.Status != http.StatusCreated {
			t.Fatalf("uma with the password after: got %d %s, want 201", r.Status, r.Body)
		}
	})
}

// TestTOTPMethodNamesThePasswordsUser: the password and totp methods sent
// at once must name one user, as Keystone reconciles them; a code of the
// password's user under another user's name is the one 401 and is not
// spent. Naming the same user once by name and once by id is one user.
func TestTOTPMethodNamesThePasswordsUser(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		aliceID, secret := account(t, s, "alice", true)
		account(t, s, "bob", true)
		code := testenv.TOTP(t, secret, s.Clock.Now())
		pw := keystoneUser("alice", "password", password)
		r := signInWith(t, s, map[string]any{"methods": []string{"password", "totp"}, "password": pw, "totp": keystoneUser("bob", "passcode", code)})
		if r.Status != http.StatusUnauthorized || r.Header.Get("Openstack-Auth-Receipt") != "" {
			t.Fatalf("alice's password, bob's name on alice's code: got %d %s, want 401 without a receipt", r.Status, r.Body)
		}
		byID := map[string]any{"user": map[string]any{"id": aliceID, "passcode": code}}
		r = signInWith(t, s, map[string]any{"methods": []string{"password", "totp"}, "password": pw, "totp": byID})
		if r.Status != http.StatusCreated || !strings.EqualFold(r.JSON["token"].(map[string]any)["user"].(map[string]any)["name"].(string), "alice") {
			t.Fatalf("alice by name and by id, the same code: got %d %s, want alice's token", r.Status, r.Body)
		}
	})
}

// TestSubjectTokenFault: when the database fails while the token to
// validate is looked up, the answer is the server's 500, not 404 "Could
// not find token.", which a client would take for the token's end; once
// the database is back the same token validates.
func TestSubjectTokenFault(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := dsn(t)
			s := testenv.NewServer(t, d)
			userID, id, _ := signedIn(t, s, "vic")
			ac, err := applicationcredentials.Create(t.Context(), id, userID, applicationcredentials.CreateOpts{Name: "checker",
				AccessRules: []applicationcredentials.AccessRule{{Service: "dns", Method: "GET", Path: "/zones/example.com/**"}}}).Extract()
			if err != nil {
				t.Fatal(err)
			}
			app, err := identity(t, gophercloud.AuthOptions{IdentityEndpoint: s.URL() + "/v3/", ApplicationCredentialID: ac.ID, ApplicationCredentialSecret: ac.Secret})
			if err != nil {
				t.Fatal(err)
			}
			check := func() testenv.Response {
				c := testenv.NewClient(s.URL())
				c.Header = http.Header{"X-Auth-Token": {app.Token()}, "X-Subject-Token": {id.Token()}}
				return c.Do(t, "GET", "/v3/auth/tokens", nil)
			}
			if r := check(); r.Status != http.StatusOK {
				t.Fatalf("the session's token, checked by the credential's: got %d %s", r.Status, r.Body)
			}
			driver, source := "pgx", d
			if name == "sqlite" {
				driver, source = "sqlite", s.DBPath+"?_pragma=busy_timeout(10000)"
			}
			db, err := sql.Open(driver, source)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			exec := func(q string) {
				t.Helper()
				if _, err := db.ExecContext(t.Context(), q); err != nil {
					t.Fatal(err)
				}
			}
			exec(`ALTER TABLE sessions RENAME TO sessions_away`)
			r := check()
			exec(`ALTER TABLE sessions_away RENAME TO sessions`)
			if r.Status != http.StatusInternalServerError {
				t.Errorf("sessions unreadable: got %d %s, want 500", r.Status, r.Body)
			}
			if r := check(); r.Status != http.StatusOK {
				t.Errorf("sessions readable again: got %d %s, want 200", r.Status, r.Body)
			}
		})
	}
}
