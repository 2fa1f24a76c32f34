package keystone_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestUserRefRefused: a user that cannot be named (by name without a
// domain, with neither id nor name, missing or null, a domain with neither
// id nor name) is Keystone's 400 in the password method, in the totp
// method beside the password or beside a receipt, and in the
// application_credential method alike, before anything is checked: the
// receipt's code stays unspent and no wrong password is counted. The same
// request with the user named as Keystone wants it signs in.
func TestUserRefRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, secret := account(t, s, "alice", true)
		def := map[string]any{"id": "default"}
		named := func(extra string, v string) map[string]any {
			return map[string]any{"name": "alice", "domain": def, extra: v}
		}
		const absent = "absent"
		users := []struct {
			what string
			user any // absent: no "user" member
		}{
			{"a user name without a domain", map[string]any{"name": "alice"}},
			{"a user with neither id nor name", map[string]any{"domain": def}},
			{"an empty user", map[string]any{}},
			{"a null user", nil},
			{"no user", absent},
			{"a domain with neither id nor name", map[string]any{"name": "alice", "domain": map[string]any{}}},
		}
		// with returns the method object {"user": u, key: v}, the secret
		// beside the user as each method carries it.
		with := func(u any, key, v string) map[string]any {
			if u == absent {
				return map[string]any{}
			}
			if m, ok := u.(map[string]any); ok {
				c := map[string]any{key: v}
				for k, x := range m {
					c[k] = x
				}
				u = c
			}
			return map[string]any{"user": u}
		}
		signIn := func(c *testenv.Client, identity map[string]any) testenv.Response {
			t.Helper()
			return c.Do(t, "POST", "/v3/auth/tokens", map[string]any{"auth": map[string]any{"identity": identity}})
		}
		wantBadRequest := func(what string, r testenv.Response) {
			t.Helper()
			e, _ := r.JSON["error"].(map[string]any)
			if r.Status != http.StatusBadRequest || e["code"] != float64(http.StatusBadRequest) || e["title"] != "Bad Request" {
				t.Errorf("%s: got %d %s, want Keystone's 400", what, r.Status, r.Body)
			}
		}

		// The password alone gives the receipt of the login waiting for
		// its code.
		c := testenv.NewClient(s.URL())
		r := signIn(c, map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": named("password", password)}})
		receipt := r.Header.Get("Openstack-Auth-Receipt")
		if r.Status != http.StatusUnauthorized || receipt == "" {
			t.Fatalf("the password alone: got %d %s, want 401 with a receipt", r.Status, r.Body)
		}
		withReceipt := testenv.NewClient(s.URL())
		withReceipt.Header.Set("Openstack-Auth-Receipt", receipt)
		code := testenv.TOTP(t, secret, s.Clock.Now())

		for _, u := range users {
			// A wrong password each time: were any checked, the fifth
			// would lock the account.
			wantBadRequest("password: "+u.what, signIn(c, map[string]any{"methods": []string{"password"}, "password": with(u.user, "password", "wrong password!")}))
			wantBadRequest("password and totp, the password's "+u.what, signIn(c, map[string]any{"methods": []string{"password", "totp"},
				"password": with(u.user, "password", "wrong password!"), "totp": map[string]any{"user": named("passcode", code)}}))
			wantBadRequest("password and totp, the totp's "+u.what, signIn(c, map[string]any{"methods": []string{"password", "totp"},
				"password": map[string]any{"user": named("password", "wrong password!")}, "totp": with(u.user, "passcode", code)}))
			wantBadRequest("totp beside the receipt: "+u.what, signIn(withReceipt, map[string]any{"methods": []string{"totp"}, "totp": with(u.user, "passcode", code)}))
			wantBadRequest("password beside the receipt: "+u.what, signIn(withReceipt, map[string]any{"methods": []string{"password", "totp"},
				"password": with(u.user, "password", password), "totp": map[string]any{"user": named("passcode", code)}}))
			ac := with(u.user, "password", "")
			ac["name"], ac["secret"] = "ci", "x"
			if m, ok := ac["user"].(map[string]any); ok {
				delete(m, "password")
			}
			wantBadRequest("application_credential: "+u.what, signIn(c, map[string]any{"methods": []string{"application_credential"}, "application_credential": ac}))
		}

		// Nothing was counted or spent: the code completes the receipt,
		// the user named by name and domain.
		r = signIn(withReceipt, map[string]any{"methods": []string{"totp"}, "totp": map[string]any{"user": named("passcode", code)}})
		if r.Status != http.StatusCreated || r.Header.Get("X-Subject-Token") == "" {
			t.Errorf("the receipt's code after the refusals: got %d %s, want 201 with a token", r.Status, r.Body)
		}
		// A domain by name is a domain too.
		s.Clock.Add(30 * time.Second)
		r = signIn(c, map[string]any{"methods": []string{"password", "totp"},
			"password": map[string]any{"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}, "password": password}},
			"totp":     map[string]any{"user": map[string]any{"name": "alice", "domain": map[string]any{"name": "Default"}, "passcode": testenv.TOTP(t, secret, s.Clock.Now())}}})
		if r.Status != http.StatusCreated {
			t.Errorf("password and totp, the domain by name: got %d %s, want 201", r.Status, r.Body)
		}
	})
}
