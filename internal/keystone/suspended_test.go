package keystone_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/applicationcredentials"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// operator makes an operator account with an authenticator app and
// returns it signed in with a fresh second factor, as suspending and
// closing accounts take.
func operator(t *testing.T, s *testenv.Server, name string) core.Auth {
	t.Helper()
	if _, err := s.Service.CreateAccount(t.Context(), core.NewAccount{Username: name, Email: name + "@example.com", Password: password, Operator: true}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	c := testenv.NewClient(s.URL())
	c.Token = c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password}).String("token")
	r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
	secret, id := r.String("secret"), r.JSON["factor"].(map[string]any)["id"].(string)
	if r := c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": testenv.TOTP(t, secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("confirm: %d %s", r.Status, r.Body)
	}
	s.Clock.Add(30 * time.Second)
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: %d %s", r.Status, r.Body)
	}
	s.Clock.Add(30 * time.Second)
	a, err := s.Service.Authenticate(t.Context(), c.Token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// holdings are what a user holds before the suspension or closing of
// their account: a session token (X-Subject-Token) from password and
// totp, a receipt from the password alone, an application credential and
// a token of it.
type holdings struct {
	session, receipt, appToken string
	app                        *applicationcredentials.ApplicationCredential
}

// hold signs name (two-factor required, with the authenticator secret) in
// every way the Identity API has, and returns what that gave.
func hold(t *testing.T, s *testenv.Server, userID, name, secret, appName string) holdings {
	t.Helper()
	opts := authOpts(s, name)
	opts.Passcode = testenv.TOTP(t, secret, s.Clock.Now())
	s.Clock.Add(30 * time.Second)
	id, err := identity(t, opts)
	if err != nil {
		t.Fatalf("password and totp: %v", err)
	}
	app, err := applicationcredentials.Create(t.Context(), id, userID, applicationcredentials.CreateOpts{Name: appName}).Extract()
	if err != nil {
		t.Fatalf("application credential: %v", err)
	}
	r := do(t, s, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["application_credential"],"application_credential":{"id":"`+app.ID+`","secret":"`+app.Secret+`"}}}}`, nil)
	if r.status != http.StatusCreated {
		t.Fatalf("application credential sign-in: %d %v", r.status, r.body)
	}
	h := holdings{session: id.Token(), appToken: r.header.Get("X-Subject-Token"), app: app}
	receipt := func() string {
		r := do(t, s, "POST", "/v3/auth/tokens", passwordBody(name), nil)
		if v := r.header.Get("Openstack-Auth-Receipt"); r.status == http.StatusUnauthorized && v != "" {
			return v
		}
		t.Fatalf("the password alone: %d %v, want a receipt", r.status, r.body)
		return ""
	}
	// A receipt finished as refused tries it: one that would work now.
	if _, err := tokensCreateWithReceipt(t, s, receipt(), name, testenv.TOTP(t, secret, s.Clock.Now())); err != nil {
		t.Fatalf("a receipt finished: %v", err)
	}
	s.Clock.Add(30 * time.Second)
	h.receipt = receipt()
	for _, tok := range []string{h.session, h.appToken} {
		if r := do(t, s, "GET", "/v3/auth/tokens", "", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}); r.status != http.StatusOK {
			t.Fatalf("a token before: %d %v", r.status, r.body)
		}
	}
	return h
}

// refused checks that nothing h holds, nor any sign-in of name, gets a
// token or a validation any more: password (want status signIn), password
// and totp, the receipt finished with a right code, the application
// credential, and GET and HEAD of the tokens.
func refused(t *testing.T, s *testenv.Server, name, secret string, h holdings, signIn int) {
	t.Helper()
	r := do(t, s, "POST", "/v3/auth/tokens", passwordBody(name), nil)
	if r.status != signIn || r.header.Get("X-Subject-Token") != "" || r.header.Get("Openstack-Auth-Receipt") != "" {
		t.Errorf("the password: %d %v, want %d and neither token nor receipt", r.status, r.body, signIn)
	}
	opts := authOpts(s, name)
	opts.Passcode = testenv.TOTP(t, secret, s.Clock.Now())
	s.Clock.Add(30 * time.Second)
	_, err := identity(t, opts)
	if !gophercloud.ResponseCodeIs(err, signIn) {
		t.Errorf("password and totp: got %v, want HTTP %d", err, signIn)
	}
	_, err = tokensCreateWithReceipt(t, s, h.receipt, name, testenv.TOTP(t, secret, s.Clock.Now()))
	if !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Errorf("the receipt finished: got %v, want HTTP 401", err)
	}
	s.Clock.Add(30 * time.Second)
	_, err = identity(t, gophercloud.AuthOptions{IdentityEndpoint: s.URL() + "/v3/", ApplicationCredentialID: h.app.ID, ApplicationCredentialSecret: h.app.Secret})
	if !gophercloud.ResponseCodeIs(err, http.StatusUnauthorized) {
		t.Errorf("the application credential: got %v, want HTTP 401", err)
	}
	for what, tok := range map[string]string{"session": h.session, "application credential's": h.appToken} {
		for _, method := range []string{"GET", "HEAD"} {
			r := do(t, s, method, "/v3/auth/tokens", "", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok})
			if r.status != http.StatusUnauthorized || r.header.Get("X-Subject-Token") != "" {
				t.Errorf("%s the %s token: %d %v, want 401", method, what, r.status, r.body)
			}
		}
	}
}

// TestSuspendedAndClosedAccounts: once an operator suspends an account,
// the Identity API lets it in no way /v1 would not: no sign-in (403 for the
// password, told only to whoever knows it, as on /v1), no receipt finished
// that was started before, no application credential sign-in, and no
// token issued before validates (GET and HEAD, 401). Lifting the
// suspension brings no session or receipt back, as on /v1, but the
// application credential works again, as a key does. Once the account is
// closed, the same holds with the 401 of an unknown user.
func TestSuspendedAndClosedAccounts(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		op := operator(t, s, "olga")
		userID, secret := account(t, s, "sid", true)
		h := hold(t, s, userID, "sid", secret, "before")

		if _, _, err := s.Service.SetSuspended(t.Context(), op, userID, true, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		refused(t, s, "sid", secret, h, http.StatusForbidden)

		if _, _, err := s.Service.SetSuspended(t.Context(), op, userID, false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		tok := h.session
		if r := do(t, s, "GET", "/v3/auth/tokens", "", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}); r.status != http.StatusUnauthorized {
			t.Errorf("the session token after the suspension was lifted: %d %v, want 401", r.status, r.body)
		}
		_, err := tokensCreateWithReceipt(t, s, h.receipt, "sid", testenv.TOTP(t, secret, s.Clock.Now()))
		wantStatus(t, "the receipt after the suspension was lifted", err, http.StatusUnauthorized)
		s.Clock.Add(30 * time.Second)
		if _, err := identity(t, gophercloud.AuthOptions{IdentityEndpoint: s.URL() + "/v3/", ApplicationCredentialID: h.app.ID, ApplicationCredentialSecret: h.app.Secret}); err != nil {
			t.Errorf("the application credential after the suspension was lifted: %v", err)
		}

		h = hold(t, s, userID, "sid", secret, "after")
		if err := s.Service.DeleteAccountFor(context.WithoutCancel(t.Context()), op, userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		refused(t, s, "sid", secret, h, http.StatusUnauthorized)
	})
}

// tokensCreateWithReceipt finishes receipt with the totp method alone, as
// gophercloud sends it, and returns the token.
func tokensCreateWithReceipt(t *testing.T, s *testenv.Server, receipt, name, code string) (string, error) {
	t.Helper()
	return tokens.Create(t.Context(), receiptClient(t, s, receipt), &tokens.AuthOptions{Username: name, DomainName: "Default", Passcode: code}).ExtractTokenID()
}
