package httpapi_test

import (
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// wantDetail checks that r is a 400 invalid problem whose detail holds each
// of parts.
func wantDetail(t *testing.T, what string, r testenv.Response, parts ...string) {
	t.Helper()
	if r.Status != 400 || r.Problem() != "invalid" {
		t.Errorf("%s: got %d %s, want 400 invalid", what, r.Status, r.Body)
		return
	}
	for _, p := range parts {
		if !strings.Contains(r.String("detail"), p) {
			t.Errorf("%s: detail %q, want it to hold %q", what, r.String("detail"), p)
		}
	}
}

// TestFieldNamesAreExact: a body's field names match the documented ones
// exactly, in case too, and once each at any depth; otherwise the body is
// refused naming the field, as unknown fields are, and nothing is done. (With
// encoding/json alone "PassWord" was password, and of "permits" and
// "Permits" the last won: a control panel that checked "permits" and passed
// the body on would have made a broader key than it approved.)
func TestFieldNamesAreExact(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "uma")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": f.codes[0]}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		anon := testenv.NewClient(s.URL())
		for _, tc := range []struct{ name, body, want string }{
			{"names in upper case", `{"USERNAME":"uma","PassWord":"` + password + `"}`, `unknown field "USERNAME": field names are case-sensitive, did you mean "username"?`},
			{"a second password in another case", `{"username":"uma","password":"wrong","Password":"` + password + `"}`, `unknown field "Password"`},
			{"a repeated name", `{"username":"uma","password":"wrong","password":"` + password + `"}`, `field "password" appears more than once`},
		} {
			wantDetail(t, tc.name, anon.Do(t, "POST", "/v1/login", tc.body), tc.want)
		}

		narrow := `[{"service":"dns","resource":"example.com/_acme-challenge/TXT","actions":["write"]}]`
		broad := `[{"service":"dns","resource":"*","actions":["read","write"]}]`
		for _, tc := range []struct{ name, body, want string }{
			{"permits then Permits", `{"name":"certbot","permits":` + narrow + `,"Permits":` + broad + `}`, `unknown field "Permits"`},
			{"permits twice", `{"name":"certbot","permits":` + narrow + `,"permits":` + broad + `}`, `field "permits" appears more than once`},
			{"a permit's resource twice", `{"name":"certbot","permits":[{"service":"dns","resource":"example.com/_acme-challenge/TXT","actions":["write"],"resource":"*"}]}`,
				`field "permits[0].resource" appears more than once`},
			{"a permit's field in another case", `{"name":"certbot","permits":[{"service":"dns","resource":"example.com/_acme-challenge/TXT","Resource":"*","actions":["write"]}]}`,
				`unknown field "permits[0].Resource"`},
			{"an unknown field in a permit", `{"name":"certbot","permits":[{"service":"dns","resource":"*","actions":["write"],"zone":"x"}]}`,
				`unknown field "permits[0].zone"`},
		} {
			wantDetail(t, tc.name, c.Do(t, "POST", "/v1/me/api-keys", tc.body), tc.want)
		}
		if keys := c.Do(t, "GET", "/v1/me/api-keys", nil).JSON["api_keys"].([]any); len(keys) != 0 {
			t.Fatalf("a refused body made keys: %v", keys)
		}
		// The exact names still work.
		if r := c.Do(t, "POST", "/v1/me/api-keys", `{"name":"certbot","permits":`+narrow+`}`); r.Status != 201 {
			t.Fatalf("make key: got %d %s, want 201", r.Status, r.Body)
		}
	})
}

// TestBodylessRoutesRefuseABody: a route that takes no body refuses one
// (400, before it acts), so that a body that is not even UTF-8 is never
// passed over in silence; an empty JSON object counts as no body.
func TestBodylessRoutesRefuseABody(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, f := phoneUser(t, s, "ugo")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": f.codes[0]}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		junk := "\xff\xfe{not json"
		wantDetail(t, "regenerate recovery codes", c.Do(t, "POST", "/v1/me/recovery-codes", junk), "POST /v1/me/recovery-codes takes no request body")
		wantDetail(t, "sign out everywhere", c.Do(t, "POST", "/v1/logout/everywhere", junk), "takes no request body")
		wantDetail(t, "GET /v1/me", c.Do(t, "GET", "/v1/me", `{"id":"x"}`), "takes no request body")
		wantDetail(t, "delete a factor", c.Do(t, "DELETE", "/v1/me/factors/"+f.id, `{"force":true}`), "takes no request body")
		// Nothing was done: the session works, the factor is there, and the
		// old recovery codes were not replaced.
		if r := c.Do(t, "GET", "/v1/me/factors", nil); r.Status != 200 || len(r.JSON["factors"].([]any)) != 1 {
			t.Fatalf("factors: got %d %s, want the one factor", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": f.codes[1]}); r.Status != 200 {
			t.Fatalf("elevate with an old recovery code: got %d %s, want 200", r.Status, r.Body)
		}
		// An empty object, and no body, are no body.
		if r := c.Do(t, "POST", "/v1/me/recovery-codes", " {\n} "); r.Status != 200 {
			t.Fatalf("regenerate with {}: got %d %s, want 200", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/logout/everywhere", nil); r.Status != 204 {
			t.Fatalf("sign out everywhere: got %d %s, want 204", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
	})
}

// TestFieldErrorsSayWhatTheyTake: a value of the wrong kind is refused
// naming the field and what it takes (an RFC 3339 time, an integer), and a
// challenge of the wrong method names every method a challenge takes.
func TestFieldErrorsSayWhatTheyTake(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, _ := phoneUser(t, s, "una")
		permits := `"permits":[{"service":"account","resource":"*","actions":["read"]}]`
		for _, tc := range []struct{ name, path, body, want string }{
			{"a date without a time", "/v1/me/api-keys", `{"name":"k",` + permits + `,"expires_at":"2027-01-01"}`, `field "expires_at" must be an RFC 3339 time`},
			{"a time as a number", "/v1/me/api-keys", `{"name":"k",` + permits + `,"expires_at":12345}`, `field "expires_at" must be an RFC 3339 time`},
			{"actions as a string", "/v1/me/api-keys", `{"name":"k","permits":[{"service":"account","resource":"*","actions":"read"}]}`, `field "permits[0].actions" must be an array`},
			{"digits with a fraction", "/v1/me/factors", `{"type":"totp","label":"z","digits":6.5}`, `field "digits" must be an integer`},
			{"digits as a string", "/v1/me/factors", `{"type":"totp","label":"z","digits":"6"}`, `field "digits" must be an integer`},
		} {
			wantDetail(t, tc.name, c.Do(t, "POST", tc.path, tc.body), tc.want)
		}

		loginID, _ := startLogin(t, s, "una")
		wantDetail(t, "challenge totp", challenge(t, s, loginID, map[string]string{"method": "totp"}), "sms, email, push, webauthn or ssh_key")
		wantDetail(t, "challenge sms without factor_id", challenge(t, s, loginID, map[string]string{"method": "sms"}), "factor_id is required")
		wantDetail(t, "push to an account without a device", challenge(t, s, loginID, map[string]string{"method": "push"}), "no active push device")
		wantDetail(t, "elevate by push without a device", c.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "push"}), "no active push device")
	})
}

// TestDeepBodiesAreRefused: a body nested deeper than any request needs is
// refused with a 400 that says so, before a login's second step, a passkey
// sign-in or the Identity API reads it, without signing in; those take any
// JSON in a field (a credential) or skip unknown fields, which the checker
// still walks.
func TestDeepBodiesAreRefused(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		anon := testenv.NewClient(s.URL())
		deep := strings.Repeat("[", 5000) + strings.Repeat("]", 5000)
		for _, tc := range []struct{ path, body string }{
			{"/v1/login/nosuch/verify", `{"method":"totp","code":"123456","credential":` + deep + `}`},
			{"/v1/login/passkey/finish", `{"login_id":"x","credential":` + deep + `}`},
		} {
			wantDetail(t, tc.path, anon.Do(t, "POST", tc.path, tc.body), "more than 32 deep")
		}
		// The Identity API answers in its own form of error.
		r := anon.Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],"extra":`+deep+`}}}`)
		if r.Status != 400 || !strings.Contains(string(r.Body), "more than 32 deep") {
			t.Errorf("/v3/auth/tokens: got %d %s, want 400 saying the body nests too deep", r.Status, r.Body)
		}
	})
}
