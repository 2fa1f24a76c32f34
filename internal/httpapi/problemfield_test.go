package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// wantInput checks that r is a 400 invalid problem naming the one input it
// refuses: a body member by JSON Pointer (pointer), or else a parameter by
// name and where it is (param, in); both "" for a problem about no one
// input, which then has none of those members.
func wantInput(t *testing.T, what string, r testenv.Response, pointer, param, in string) {
	t.Helper()
	if r.Status != http.StatusBadRequest || r.Problem() != "invalid" {
		t.Errorf("%s: got %d %s, want 400 invalid", what, r.Status, r.Body)
		return
	}
	wantMembers(t, what, r, pointer, param, in)
}

// wantMembers checks the members naming the refused input of problem r.
func wantMembers(t *testing.T, what string, r testenv.Response, pointer, param, in string) {
	t.Helper()
	for member, want := range map[string]string{"pointer": pointer, "parameter": param, "in": in} {
		got, ok := r.JSON[member]
		if want == "" && ok {
			t.Errorf("%s: problem has %q: %v, want none: %s", what, member, got, r.Body)
		}
		if want != "" && got != want {
			t.Errorf("%s: problem's %q is %v, want %q: %s", what, member, got, want, r.Body)
		}
	}
}

// TestProblemNamesTheInput: an invalid problem about one input of a /v1
// request names it, so that a form built on the API can mark that field: a
// member of the JSON body by JSON Pointer ("pointer"), a query parameter
// by name ("parameter", "in": "query"). It never quotes the value sent.
// Problems about no one input (a body that is not JSON, 401, 404, 409,
// 429) have none of those members.
func TestProblemNamesTheInput(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, op, user := f.s, f.opc, f.user
		anon := testenv.NewClient(s.URL())
		pending := startEnrol(t, user, map[string]any{"type": "totp", "label": "spare"})
		team := makeTeam(t, user, "crew")
		const secret = "Zq9-not-echoed"
		// An Ed25519 public key's and signature's sizes, in base64url.
		pub, sig := base64.RawURLEncoding.EncodeToString(make([]byte, 32)), base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		for _, tt := range []struct {
			name         string
			c            *testenv.Client
			method, path string
			body         any
			pointer      string
			param, in    string
		}{
			// JSON decoding: unknown member, wrong type, named twice (below), nested.
			{"unknown member", anon, "POST", "/v1/login", map[string]any{"username": "dave", "password": secret, "remember": true}, "/remember", "", ""},
			{"wrong type", anon, "POST", "/v1/login", map[string]any{"username": 5, "password": secret}, "/username", "", ""},
			{"member of the empty name", anon, "POST", "/v1/login", map[string]any{"": 1, "username": "dave", "password": secret}, "/", "", ""},
			{"nested member of the empty name", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{map[string]any{"": "x", "service": "dns", "resource": "example.com", "actions": []string{"read"}}}}, "/permits/0/", "", ""},
			{"member in another case", anon, "POST", "/v1/login", map[string]any{"Username": "dave", "password": secret}, "/Username", "", ""},
			{"nested unknown member", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{map[string]any{"service": "dns", "resorce": "example.com", "actions": []string{"read"}}}}, "/permits/0/resorce", "", ""},
			{"nested wrong type", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{map[string]any{"service": "dns", "resource": "example.com", "actions": "read"}}}, "/permits/0/actions", "", ""},
			// Missing, empty, malformed members.
			{"missing username", anon, "POST", "/v1/login", map[string]any{"password": secret}, "/username", "", ""},
			{"missing password", anon, "POST", "/v1/login", map[string]any{"username": "dave"}, "/password", "", ""},
			{"empty code", user, "POST", "/v1/me/factors/" + pending.id + "/confirm", map[string]any{"code": ""}, "/code", "", ""},
			{"digits", user, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "digits": 7}, "/digits", "", ""},
			{"factor type", user, "POST", "/v1/me/factors", map[string]any{"type": "carrier-pigeon", "label": "x"}, "/type", "", ""},
			{"label too long", user, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": strings.Repeat("l", 65)}, "/label", "", ""},
			{"phone", user, "POST", "/v1/me/factors", map[string]any{"type": "sms", "label": "x", "phone": "12" + secret}, "/phone", "", ""},
			{"email", user, "POST", "/v1/me/factors", map[string]any{"type": "email", "label": "x", "email": "not an address " + secret}, "/email", "", ""},
			{"new password", user, "PUT", "/v1/me/password", map[string]any{"current_password": password, "new_password": "short"}, "/new_password", "", ""},
			{"current password", user, "PUT", "/v1/me/password", map[string]any{"new_password": "a much longer new " + secret}, "/current_password", "", ""},
			{"permit action", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{
				map[string]any{"service": "dns", "resource": "example.com", "actions": []string{"read"}},
				map[string]any{"service": "dns", "resource": "example.com", "actions": []string{"fly" + secret}}}}, "/permits/1/actions", "", ""},
			{"permit service", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{map[string]any{"service": "mail", "resource": "*", "actions": []string{"read"}}}}, "/permits/0/service", "", ""},
			{"no permits", user, "POST", "/v1/me/api-keys", map[string]any{"name": "k", "permits": []any{}}, "/permits", "", ""},
			{"key name", user, "POST", "/v1/me/api-keys", map[string]any{"name": "", "permits": []any{map[string]any{"service": "dns", "resource": "example.com", "actions": []string{"read"}}}}, "/name", "", ""},
			{"team name", user, "POST", "/v1/teams", map[string]any{"name": ""}, "/name", "", ""},
			{"team role", user, "POST", "/v1/teams/" + team + "/invitations", map[string]any{"username": "carol", "role": "boss" + secret}, "/role", "", ""},
			{"new account's username", op, "POST", "/v1/admin/users", map[string]any{"username": "fr ank", "password": password}, "/username", "", ""},
			{"new account's password", op, "POST", "/v1/admin/users", map[string]any{"username": "frank", "password": "short"}, "/password", "", ""},
			{"new account's email", op, "POST", "/v1/admin/users", map[string]any{"username": "frank", "email": "not an address", "password": password}, "/email", "", ""},
			// An option of another factor, or one input of two required.
			{"option of another factor", user, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "phone": "+15550100"}, "/phone", "", ""},
			{"option of an authenticator", user, "POST", "/v1/me/factors", map[string]any{"type": "sms", "label": "x", "phone": "+15550100", "digits": 8}, "/digits", "", ""},
			{"option of a push device", user, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "x", "period": 60}, "/period", "", ""},
			{"option of a claim", user, "POST", "/v1/me/factors", map[string]any{"type": "totp", "serial": "YK-1", "code": "123456", "algorithm": "SHA256"}, "/algorithm", "", ""},
			{"resync without next code", user, "POST", "/v1/me/factors/" + f.phone.id + "/resync", map[string]any{"code": "123456"}, "/next_code", "", ""},
			{"push enrolment signature", anon, "POST", "/v1/push/enrol", map[string]any{"device_id": "d", "token": "t", "public_key": pub, "signature": "not base64url!"}, "/signature", "", ""},
			{"push enrolment key size", anon, "POST", "/v1/push/enrol", map[string]any{"device_id": "d", "token": "t", "public_key": "AAAA", "signature": sig}, "/public_key", "", ""},
			{"push enrolment device", anon, "POST", "/v1/push/enrol", map[string]any{"token": "t", "public_key": pub, "signature": sig}, "/device_id", "", ""},
			{"webhook url", op, "POST", "/v1/admin/webhooks", map[string]any{"url": "ftp://example.com/" + secret, "events": []string{"login.*"}}, "/url", "", ""},
			// Query parameters.
			{"limit", user, "GET", "/v1/me/events?limit=0", nil, "", "limit", "query"},
			{"unknown parameter", user, "GET", "/v1/me/events?befor=3", nil, "", "befor", "query"},
			{"parameter twice", user, "GET", "/v1/me/events?limit=2&limit=3", nil, "", "limit", "query"},
			{"event type", user, "GET", "/v1/me/events?type=no.such_type", nil, "", "type", "query"},
			{"before", op, "GET", "/v1/admin/events?before=x", nil, "", "before", "query"},
			{"cursor", op, "GET", "/v1/admin/users?after=" + secret, nil, "", "after", "query"},
			// About no one input.
			{"not JSON", anon, "POST", "/v1/login", "not an object", "", "", ""},
			{"two options of another factor", user, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "phone": "+15550100", "email": "dave@example.com"}, "", "", ""},
			{"resync without codes", user, "POST", "/v1/me/factors/" + f.phone.id + "/resync", map[string]any{}, "", "", ""},
			{"before and after", user, "GET", "/v1/me/events?before=5&after=2", nil, "", "", ""},
			{"malformed query", user, "GET", "/v1/me/events?limit=1;x", nil, "", "", ""},
		} {
			r := tt.c.Do(t, tt.method, tt.path, tt.body)
			wantInput(t, tt.name, r, tt.pointer, tt.param, tt.in)
			for _, member := range []string{"pointer", "parameter", "in"} {
				if v, _ := r.JSON[member].(string); strings.Contains(v, secret) {
					t.Errorf("%s: %q quotes the value sent: %s", tt.name, member, r.Body)
				}
			}
		}
		r := anon.Do(t, "POST", "/v1/login", `{"username": "dave", "username": "dave", "password": "x"}`)
		wantInput(t, "member named twice", r, "/username", "", "")
		// A password reset of an account with two-factor on, without the
		// second factor's method.
		if r := askReset(t, s, "dave"); r.Status != http.StatusAccepted && r.Status != http.StatusOK {
			t.Fatalf("password reset: got %d %s", r.Status, r.Body)
		}
		token, _ := resetMail(t, s, f.mailbox, 1)
		wantInput(t, "reset without method", completeReset(t, s, map[string]string{"token": token, "password": "a fresh passphrase, long enough"}), "/method", "", "")

		// Errors about no one input name none, whatever the request sent.
		for _, tt := range []struct {
			name         string
			c            *testenv.Client
			method, path string
			body         any
			status       int
		}{
			{"unauthorized", anon, "GET", "/v1/me/events?limit=5", nil, 401},
			{"not found", op, "GET", "/v1/admin/users/no-such-account", nil, 404},
			{"conflict", op, "POST", "/v1/admin/users", map[string]any{"username": "DAVE", "password": password}, 409},
		} {
			r := tt.c.Do(t, tt.method, tt.path, tt.body)
			if r.Status != tt.status {
				t.Errorf("%s: got %d %s, want %d", tt.name, r.Status, r.Body, tt.status)
			}
			wantMembers(t, tt.name, r, "", "", "")
		}
		addUser(t, s, "gus")
		guesser := testenv.NewClient(s.URL())
		for range 50 {
			r := guesser.Do(t, "POST", "/v1/login", map[string]string{"username": "gus", "password": "wrong guess"})
			if r.Status == http.StatusTooManyRequests {
				wantMembers(t, "throttled", r, "", "", "")
				return
			}
		}
		t.Error("50 wrong passwords were never throttled")
	})
}
