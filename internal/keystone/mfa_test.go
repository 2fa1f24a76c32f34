package keystone_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/twofold/twofold/internal/testenv"
)

// wrongCode returns a code that is not right.
func wrongCode(right string) string {
	if right == "000000" {
		return "111111"
	}
	return "000000"
}

// receiptClient returns an Identity v3 client, not signed in, that sends
// receipt with every request.
func receiptClient(t *testing.T, s *testenv.Server, receipt string) *gophercloud.ServiceClient {
	t.Helper()
	pc, err := openstack.NewClient(s.URL() + "/v3/")
	if err != nil {
		t.Fatal(err)
	}
	v3, err := openstack.NewIdentityV3(pc, gophercloud.EndpointOpts{})
	if err != nil {
		t.Fatal(err)
	}
	v3.MoreHeaders = map[string]string{"Openstack-Auth-Receipt": receipt}
	return v3
}

// errorMessage returns the status and error.message of a refused request.
func errorMessage(t *testing.T, err error) (int, string, http.Header) {
	t.Helper()
	var ue gophercloud.ErrUnexpectedResponseCode
	if !errors.As(err, &ue) {
		t.Fatalf("got %v, want an HTTP error", err)
	}
	var b struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(ue.Body, &b); err != nil {
		t.Fatalf("error body %s: %v", ue.Body, err)
	}
	return ue.Actual, b.Error.Message, ue.ResponseHeader
}

// TestTOTPWithoutTwoFactorRequired signs in with password and totp to an
// account that has an authenticator app but does not require two-factor
// at sign-in: every supplied method must hold, so a wrong code is the 401
// of a wrong code and counts as one (the fourth in a row waits), and a
// right one is spent and gives a token of both methods whose session is
// elevated. The password alone still signs in.
func TestTOTPWithoutTwoFactorRequired(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, secret := account(t, s, "carol", true)
		// Two-factor off at sign-in (a fresh second factor, as on /v1).
		id := signInWithTOTP(t, s, "carol", secret)
		me := testenv.NewClient(s.URL())
		me.Token = id.Token()
		if r := me.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != 200 {
			t.Fatalf("two-factor off: %d %s", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)

		// The password alone: a token, not elevated.
		plain, err := identity(t, authOpts(s, "carol"))
		if err != nil {
			t.Fatalf("the password alone: %v", err)
		}
		if got := tokenMethods(t, plain, plain.Token()); !slices.Equal(got, []string{"password"}) {
			t.Errorf("the password alone: methods %v, want [password]", got)
		}

		code := testenv.TOTP(t, secret, s.Clock.Now())
		bad := authOpts(s, "carol")
		bad.Passcode = wrongCode(code)
		for i := range 3 {
			_, err = identity(t, bad)
			wantStatus(t, "a wrong code "+string(rune('1'+i)), err, http.StatusUnauthorized)
		}
		_, err = identity(t, bad)
		wantStatus(t, "a fourth wrong code in a row", err, http.StatusTooManyRequests)

		s.Clock.Add(30 * time.Second)
		opts := authOpts(s, "carol")
		opts.Passcode = testenv.TOTP(t, secret, s.Clock.Now())
		both, err := identity(t, opts)
		if err != nil {
			t.Fatalf("password and the right code: %v", err)
		}
		if got := tokenMethods(t, both, both.Token()); !slices.Equal(got, []string{"password", "totp"}) {
			t.Errorf("password and the right code: methods %v, want [password totp]", got)
		}
		me.Token = both.Token()
		if r := me.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.JSON["elevated"] != true {
			t.Errorf("the token on /v1/me: %d %s, want elevated", r.Status, r.Body)
		}
		// The code is spent.
		_, err = identity(t, opts)
		wantStatus(t, "the same code again", err, http.StatusUnauthorized)
	})
}

// tokenMethods returns the methods of token, as its holder sees them.
func tokenMethods(t *testing.T, c *gophercloud.ServiceClient, token string) []string {
	t.Helper()
	var v struct {
		Methods []string `json:"methods"`
	}
	if err := tokens.Get(t.Context(), c, token).ExtractInto(&v); err != nil {
		t.Fatalf("tokens.Get: %v", err)
	}
	return v.Methods
}

// TestTOTPWithoutFactor: an account with no second factor signs in with
// the password alone, but a totp method it cannot have is not valid: 401,
// and no token.
func TestTOTPWithoutFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		account(t, s, "dan", false)
		if _, err := identity(t, authOpts(s, "dan")); err != nil {
			t.Fatalf("the password alone: %v", err)
		}
		opts := authOpts(s, "dan")
		opts.Passcode = "123456"
		_, err := identity(t, opts)
		wantStatus(t, "password and a passcode, no authenticator", err, http.StatusUnauthorized)
	})
}

// TestNoTOTPFactor: an account that requires two-factor but whose only
// second factor is not an authenticator app (here an HOTP token) gets, once
// the password is right, a clear 401 that sends it to /v1 or the pages
// instead of a receipt no totp can complete; its user shows no totp rule;
// and totp attempts are not counted as wrong codes (never throttled).
func TestNoTOTPFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, _ := account(t, s, "erin", false)
		c := testenv.NewClient(s.URL())
		c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": "erin", "password": password}).String("token")
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "hotp", "label": "token"})
		if r.Status != 201 {
			t.Fatalf("enrol hotp: %d %s", r.Status, r.Body)
		}
		fid := r.JSON["factor"].(map[string]any)["id"].(string)
		secret := r.String("secret")
		if r := c.Do(t, "POST", "/v1/me/factors/"+fid+"/confirm", map[string]string{"code": testenv.HOTP(t, secret, 1)}); r.Status != 200 {
			t.Fatalf("confirm hotp: %d %s", r.Status, r.Body)
		}

		wantNoTOTP := func(what string, err error) {
			t.Helper()
			status, msg, h := errorMessage(t, err)
			if status != http.StatusUnauthorized || !strings.Contains(msg, "/v1") || h.Get("Openstack-Auth-Receipt") != "" {
				t.Fatalf("%s: got %d %q (receipt %q), want 401 naming /v1 and no receipt", what, status, msg, h.Get("Openstack-Auth-Receipt"))
			}
		}
		_, err := identity(t, authOpts(s, "erin"))
		wantNoTOTP("the password alone", err)
		opts := authOpts(s, "erin")
		opts.Passcode = "123456"
		for i := range 5 {
			_, err = identity(t, opts)
			wantNoTOTP("password and a passcode "+string(rune('1'+i)), err)
		}
		// A wrong password is still the one 401 that says nothing.
		opts.Password = "wrong password!"
		_, err = identity(t, opts)
		if _, msg, _ := errorMessage(t, err); strings.Contains(msg, "/v1") {
			t.Fatalf("a wrong password: %q tells the account's factors", msg)
		}

		// The user shows two-factor on, with no totp rule to follow.
		// The /v1 session is a Keystone token too (X-Auth-Token).
		req, _ := http.NewRequest("GET", s.URL()+"/v3/users/"+userID, nil)
		req.Header.Set("X-Auth-Token", c.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var u struct {
			User struct {
				Options struct {
					Enabled bool       `json:"multi_factor_auth_enabled"`
					Rules   [][]string `json:"multi_factor_auth_rules"`
				} `json:"options"`
			} `json:"user"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&u); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET user: %d, %v", resp.StatusCode, err)
		}
		if !u.User.Options.Enabled || len(u.User.Options.Rules) != 0 {
			t.Errorf("user options: %+v, want enabled with no rules", u.User.Options)
		}
	})
}

// TestReceiptChecksPassword: a password sent beside a receipt is checked
// too (a wrong one is 401 and leaves the code unspent); with the right one
// the code completes the login.
func TestReceiptChecksPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, secret := account(t, s, "fay", true)
		_, err := identity(t, authOpts(s, "fay"))
		var ue gophercloud.ErrUnexpectedResponseCode
		if !errors.As(err, &ue) || ue.ResponseHeader.Get("Openstack-Auth-Receipt") == "" {
			t.Fatalf("the password alone: %v, want a receipt", err)
		}
		receipt := ue.ResponseHeader.Get("Openstack-Auth-Receipt")
		// The totp method named without its object is a malformed request
		// (400, as for the password method), not a sign-in that failed.
		if r := do(t, s, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["totp"]}}}`, map[string]string{"Openstack-Auth-Receipt": receipt}); r.status != http.StatusBadRequest {
			t.Errorf("the receipt and the totp method without its object: got %d %q, want 400", r.status, r.message())
		}
		v3 := receiptClient(t, s, receipt)
		code := testenv.TOTP(t, secret, s.Clock.Now())
		// Two receipts leave which sign-in the code completes a guess: 400,
		// and the code stays unspent for the sign-in that follows.
		twice, err := http.NewRequestWithContext(t.Context(), "POST", s.URL()+"/v3/auth/tokens", strings.NewReader(
			`{"auth":{"identity":{"methods":["password","totp"],"password":{"user":{"name":"fay","domain":{"id":"default"},"password":"`+password+`"}},"totp":{"user":{"name":"fay","domain":{"id":"default"},"passcode":"`+code+`"}}}}}`))
		if err != nil {
			t.Fatal(err)
		}
		twice.Header.Set("Content-Type", "application/json")
		twice.Header.Add("Openstack-Auth-Receipt", receipt)
		twice.Header.Add("Openstack-Auth-Receipt", receipt)
		if resp, err := http.DefaultClient.Do(twice); err != nil {
			t.Fatal(err)
		} else {
			var e struct{ Error struct{ Message string } }
			json.NewDecoder(resp.Body).Decode(&e)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !strings.Contains(e.Error.Message, "one Openstack-Auth-Receipt") {
				t.Errorf("two receipts: got %d %q, want 400 asking for one", resp.StatusCode, e.Error.Message)
			}
		}
		_, err = tokens.Create(t.Context(), v3, &tokens.AuthOptions{Username: "fay", DomainName: "Default", Password: "wrong password!", Passcode: code}).ExtractToken()
		wantStatus(t, "a wrong password, the receipt and the right code", err, http.StatusUnauthorized)
		tok, err := tokens.Create(t.Context(), v3, &tokens.AuthOptions{Username: "fay", DomainName: "Default", Password: password, Passcode: code}).ExtractTokenID()
		if err != nil || tok == "" {
			t.Fatalf("the right password, the receipt and the right code: %v", err)
		}
	})
}

// TestNoCatalogAndAbsoluteURLs: ?nocatalog leaves the catalog out of a
// token, at sign-in and validation; a 401's WWW-Authenticate and a
// credential's links.self are absolute URLs of the server, as Keystone's.
func TestNoCatalogAndAbsoluteURLs(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		account(t, s, "gus", false)
		signIn := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"gus","domain":{"id":"default"},"password":"` + password + `"}}}}}`
		r := do(t, s, "POST", "/v3/auth/tokens?nocatalog", signIn, nil)
		tok := r.header.Get("X-Subject-Token")
		if r.status != 201 || tok == "" {
			t.Fatalf("sign in: %d %v", r.status, r.body)
		}
		if _, ok := r.body["token"].(map[string]any)["catalog"]; ok {
			t.Errorf("POST ?nocatalog: the token has a catalog")
		}
		auth := map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}
		if v := do(t, s, "GET", "/v3/auth/tokens?nocatalog", "", auth).body; v["token"] == nil || v["token"].(map[string]any)["catalog"] != nil {
			t.Errorf("GET ?nocatalog: %v, want a token without catalog", v)
		}
		if v := do(t, s, "GET", "/v3/auth/tokens", "", auth).body; v["token"] == nil || v["token"].(map[string]any)["catalog"] == nil {
			t.Errorf("GET: %v, want a token with its catalog", v)
		}

		r = do(t, s, "GET", "/v3/credentials", "", nil)
		if got, want := r.header.Get("WWW-Authenticate"), `Keystone uri="`+s.URL()+`/v3"`; r.status != 401 || got != want {
			t.Errorf("no token: %d, WWW-Authenticate %q, want 401 and %q", r.status, got, want)
		}
		v := do(t, s, "GET", "/v3/credentials", "", map[string]string{"X-Auth-Token": tok}).body
		if got, want := v["links"].(map[string]any)["self"], s.URL()+"/v3/credentials"; got != want {
			t.Errorf("credentials links.self %v, want %v", got, want)
		}
	})
}

// TestWrongTOTPOpensNoSession: password and a wrong totp code to an account
// that does not require two-factor at sign-in check the code before any
// session is opened: the audit log shows the failed code alone (no sign-in,
// no session ended) and the account's sessions are the ones it had; a right
// code then opens one session, elevated, with the methods password and
// totp, recorded as made with the second factor.
func TestWrongTOTPOpensNoSession(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		userID, secret := account(t, s, "rhea", true)
		me := testenv.NewClient(s.URL())
		me.Token = do(t, s, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["password","totp"],`+
			`"password":{"user":{"name":"rhea","domain":{"id":"default"},"password":"`+password+`"}},`+
			`"totp":{"user":{"name":"rhea","domain":{"id":"default"},"passcode":"`+testenv.TOTP(t, secret, s.Clock.Now())+`"}}}}}`, nil).header.Get("X-Subject-Token")
		if r := me.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != 200 {
			t.Fatalf("two-factor off: %d %s", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		sessions := func() []map[string]any {
			t.Helper()
			r := me.Do(t, "GET", "/v1/me/sessions", nil)
			if r.Status != 200 {
				t.Fatalf("sessions: %d %s", r.Status, r.Body)
			}
			var out []map[string]any
			for _, x := range r.JSON["sessions"].([]any) {
				out = append(out, x.(map[string]any))
			}
			return out
		}
		// newest is the id of the account's newest event; since returns the
		// types of those after the event mark, oldest first.
		newest := func() int64 {
			t.Helper()
			evs, err := s.Store.Events(t.Context(), userID, 0, 1)
			if err != nil || len(evs) == 0 {
				t.Fatalf("events: %v, %v", evs, err)
			}
			return evs[0].ID
		}
		since := func(mark int64) []string {
			t.Helper()
			evs, err := s.Store.Events(t.Context(), userID, 0, 50)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range slices.Backward(evs) {
				if e.ID > mark {
					out = append(out, e.Type)
				}
			}
			return out
		}
		before := len(sessions())

		code := testenv.TOTP(t, secret, s.Clock.Now())
		bad := authOpts(s, "rhea")
		bad.Passcode = wrongCode(code)
		mark := newest()
		_, err := identity(t, bad)
		wantStatus(t, "a wrong code", err, http.StatusUnauthorized)
		if got, want := since(mark), []string{"login.second_factor_failed"}; !slices.Equal(got, want) {
			t.Errorf("events after a wrong code: %v, want %v (no session made or ended)", got, want)
		}
		if n := len(sessions()); n != before {
			t.Errorf("%d sessions after a wrong code, want %d", n, before)
		}

		good := authOpts(s, "rhea")
		good.Passcode = code
		mark = newest()
		both, err := identity(t, good)
		if err != nil {
			t.Fatalf("password and the right code: %v", err)
		}
		if got := tokenMethods(t, both, both.Token()); !slices.Equal(got, []string{"password", "totp"}) {
			t.Errorf("methods %v, want [password totp]", got)
		}
		if got, want := since(mark), []string{"login.succeeded"}; !slices.Equal(got, want) {
			t.Errorf("events after the right code: %v, want %v", got, want)
		}
		after := sessions()
		if len(after) != before+1 {
			t.Fatalf("%d sessions after the right code, want %d", len(after), before+1)
		}
		if how := after[0]["signed_in_with"]; how != "second factor: totp" || after[0]["elevated_until"] == nil {
			t.Errorf("the new session: %v, want made with the second factor and elevated", after[0])
		}
		bothMe := testenv.NewClient(s.URL())
		bothMe.Token = both.Token()
		if r := bothMe.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.JSON["elevated"] != true {
			t.Errorf("the token on /v1/me: %d %s, want elevated", r.Status, r.Body)
		}
		_, err = identity(t, good)
		wantStatus(t, "the spent code again", err, http.StatusUnauthorized)
	})
}
