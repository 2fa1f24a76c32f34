package web_test

import (
	"context"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
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

// addCredential is WebAuthn.addCredential with only the members of a
// credential that this Chromium knows: cdproto's Credential always sends
// generateCmtgKeyOnNextOperation, which it refuses ("CMTG is not supported").
var addCredential = cdp.Command[addCredentialParams, cdp.Empty]{Method: webauthn.CommandAddCredential}

type addCredentialParams struct {
	AuthenticatorID webauthn.AuthenticatorID `json:"authenticatorId"`
	Credential      residentCredential       `json:"credential"`
}

type residentCredential struct {
	CredentialID         []byte  `json:"credentialId"`
	IsResidentCredential bool    `json:"isResidentCredential"`
	RpID                 string  `json:"rpId"`
	PrivateKey           []byte  `json:"privateKey"` // PKCS#8
	UserHandle           []byte  `json:"userHandle"`
	SignCount            float64 `json:"signCount"`
}

// TestBrowserPasskeyNotRegistered: a passkey the device still offers but
// that this server no longer has (removed from the security page) is
// refused in words that say so, not "try again", which could never work:
// the page says it is not registered here, to remove it from the device
// and sign in another way, and its script tells the browser
// (PublicKeyCredential.signalUnknownCredential), whose virtual
// authenticator then deletes it. A passkey that was never registered here,
// carrying the handle of an account that exists, gets the very same page,
// and neither names the account. On SQLite and PostgreSQL.
func TestBrowserPasskeyNotRegistered(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			removed, _ := enrolPasskey(t, ts, "kim")
			stranger := testenv.NewPasskey(t, webauthnOrigin(ts))
			stranger.UserHandle = removed.UserHandle // kim's handle, a credential never registered
			p := newPage(t, webauthnOrigin(ts))
			p.open("/login")
			va := addAuthenticator(t, p, webauthn.AuthenticatorTransportInternal, true)
			held := func() int {
				t.Helper()
				res, err := chromedp.Call(p.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va})
				if err != nil {
					t.Fatal(err)
				}
				return len(res.Credentials)
			}
			offer := func(k *testenv.SecurityKey) {
				t.Helper()
				der, err := x509.MarshalPKCS8PrivateKey(k.Key)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := chromedp.Call(p.ctx, addCredential, addCredentialParams{AuthenticatorID: va, Credential: residentCredential{
					CredentialID: k.CredentialID, IsResidentCredential: true, RpID: "localhost", PrivateKey: der,
					UserHandle: k.UserHandle, SignCount: float64(k.Counter),
				}}); err != nil {
					t.Fatalf("WebAuthn.addCredential: %v", err)
				}
			}
			// refusal tries the passkey the device holds, and returns what the
			// page says once the device has forgotten it.
			refusal := func(what string) string {
				t.Helper()
				p.open("/login")
				p.submitKey("#passkey-button", "/login/passkey")
				got := p.text(".flash.err")
				if !strings.Contains(got, "not registered here") || !strings.Contains(got, "Remove it from this device") || strings.Contains(got, "Try again") {
					t.Errorf("%s: the page says %q, want it not registered here, to remove it from the device, no try again", what, got)
				}
				if strings.Contains(p.text("main"), "kim") || p.exists(`input[name=username][value="kim"]`) {
					t.Errorf("%s: the page names the account: %s", what, p.text("main"))
				}
				ctx, cancel := context.WithTimeout(p.ctx, 30*time.Second)
				defer cancel()
				for held() != 0 {
					select {
					case <-ctx.Done():
						t.Fatalf("%s: the device still holds the passkey: the page did not signal it unknown", what)
					case <-time.After(50 * time.Millisecond):
					}
				}
				return got
			}

			// The passkey signs in; removed from the security page, it is
			// refused as not registered, and the device forgets it.
			offer(removed)
			p.submitKey("#passkey-button", "/settings/security")
			p.click(`.factor a[href$="/remove"]`)
			p.click("#confirm")
			p.wantPath("/settings/security")
			if p.exists(".factor") {
				t.Fatalf("the passkey is still listed: %s", p.text("main"))
			}
			p.click(".nav-button")
			gone := refusal("a removed passkey")

			// One never registered reads the same.
			offer(stranger)
			if never := refusal("a passkey never registered"); never != gone {
				t.Errorf("a passkey never registered: the page says %q, a removed one %q: they differ", never, gone)
			}
		})
	}
}
