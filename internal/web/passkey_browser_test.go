package web_test

import (
	"net"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserPasskey enrols a passkey on the security page and signs in
// with it alone in a real headless Chromium, whose virtual authenticator
// (CDP WebAuthn domain) keeps resident credentials and verifies its user:
// "Add a passkey" makes a discoverable credential through webauthn.js (the
// first factor brings the recovery codes) and the factor is listed as a
// passkey; after signing out, the login page's "Sign in with a passkey",
// with no username or password typed, signs in to an elevated session (a
// factor is removed without "confirm it's you"). On SQLite and PostgreSQL.
func TestBrowserPasskey(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			if _, err := ts.Service.CreateAccount(t.Context(), core.NewAccount{Username: "kim", Email: "kim@example.com", Password: testPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(ts.Addr())
			p := newPage(t, "http://localhost:"+port)
			runPasskey(t, p)
		})
	}
}

func runPasskey(t *testing.T, p *page) {
	p.open("/login")
	va := addAuthenticator(t, p, webauthn.AuthenticatorTransportInternal, true)
	p.signIn("kim", testPassword)
	p.wantPath("/settings/security")

	p.fill("#key-label", "Laptop")
	p.click("#add-passkey-button")
	p.fill("#current_password", testPassword) // a passkey signs in on its own: adding one takes the password
	p.click("#confirm")
	if !p.exists("input[data-webauthn-create]") {
		t.Fatalf("no registration on the page: %s", p.text("main"))
	}
	p.submitKey("#webauthn-register", "/settings/security/webauthn/")
	if n := len(p.texts("#recovery-codes li")); n != 10 {
		t.Fatalf("after registering the passkey: %d recovery codes shown, want 10; page: %s", n, p.text("main"))
	}
	res, err := chromedp.Call(p.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Credentials) != 1 || !res.Credentials[0].IsResidentCredential || res.Credentials[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator holds %+v, want one resident credential for localhost", res.Credentials)
	}
	p.open("/settings/security")
	if got := p.texts(".factor .tag"); len(got) != 1 || got[0] != "Passkey" {
		t.Fatalf("factor kinds listed: %q, want one Passkey", got)
	}

	// Sign out; sign in with the passkey button alone.
	p.click(".nav-button")
	p.open("/login")
	if p.exists(`input[name=username][value="kim"]`) {
		t.Fatal("the login page kept the username")
	}
	p.submitKey("#passkey-button", "/settings/security")
	if got := p.texts(".factor .factor-label"); len(got) != 1 || got[0] != "Laptop" {
		t.Fatalf("signed in with the passkey, factors listed: %q; page: %s", got, p.text("main"))
	}
	// The session is elevated: removing the passkey asks for no check.
	p.click(`.factor a[href$="/remove"]`)
	if p.exists(`input[name^=elevate]`) {
		t.Fatalf("a passkey sign-in's session is not elevated: %s", p.text("main"))
	}
}
