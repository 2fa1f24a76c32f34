package web_test

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserSecurityKey registers a security key and signs in with it in
// a real headless Chromium, whose virtual authenticator (CDP WebAuthn
// domain: a CTAP2 USB key that the user touches at once) plays the key:
// the security page adds it through webauthn.js, the first key brings the
// recovery codes, the same key cannot be registered twice (it is
// excluded), the second step signs in with it, and "confirm it's you"
// with it removes it. On SQLite and PostgreSQL.
func TestBrowserSecurityKey(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			if _, err := ts.Service.CreateAccount(t.Context(), core.NewAccount{Username: "kim", Email: "kim@example.com", Password: "correct horse battery staple"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			// WebAuthn works on localhost, never on 127.0.0.1: the test
			// server's relying party is localhost at its port.
			_, port, _ := net.SplitHostPort(ts.Addr())
			p := newPage(t, "http://localhost:"+port)
			runSecurityKey(t, ts, p)
		})
	}
}

func runSecurityKey(t *testing.T, ts *testenv.Server, p *page) {
	const password = "correct horse battery staple"
	p.open("/login")
	va := virtualAuthenticator(t, p)
	credentials := func() []*webauthn.Credential {
		t.Helper()
		res, err := chromedp.Call(p.ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: va})
		if err != nil {
			t.Fatal(err)
		}
		return res.Credentials
	}
	submit := p.submitKey

	p.fill("#username", "kim")
	p.fill("#password", password)
	p.click(`button[type=submit]`)
	p.wantPath("/settings/security")

	// Add a key: the page registers it; the first factor shows recovery codes.
	p.fill("#key-label", "YubiKey")
	p.click("#add-key-button")
	if !p.exists("input[data-webauthn-create]") {
		t.Fatalf("no registration on the page: %s", p.text("main"))
	}
	submit("#webauthn-register", "/settings/security/webauthn/")
	if n := len(p.texts("#recovery-codes li")); n != 10 {
		t.Fatalf("after registering the key: %d recovery codes shown, want 10; page: %s", n, p.text("main"))
	}
	creds := credentials()
	if len(creds) != 1 || creds[0].RpID != "localhost" {
		t.Fatalf("virtual authenticator holds %+v, want one credential for localhost", creds)
	}
	p.open("/settings/security")
	if got := p.texts(".factor .factor-label"); len(got) != 1 || got[0] != "YubiKey" {
		t.Fatalf("factors listed: %q", got)
	}

	// The same key again: excluded, so the authenticator refuses and the
	// page says so; nothing is added.
	// Adding a second factor needs "confirm it's you" first, with the key,
	// once the elevation that registering the first one gave has lapsed.
	ts.Clock.Add(11 * time.Minute)
	p.fill("#key-label", "YubiKey again")
	p.click("#add-key-button")
	if !p.exists("input[data-webauthn-get][name=elevate_credential]") {
		t.Fatalf("adding a second key: no security key to confirm it's you with: %s", p.text("main"))
	}
	submit("#confirm", "/settings/security/webauthn")
	if !p.exists("input[data-webauthn-create]") {
		t.Fatalf("no registration on the page after confirming: %s", p.text("main"))
	}
	submit("#webauthn-register", "/settings/security/webauthn")
	// The page says to use another key: trying this one again cannot help.
	if got := p.text(".webauthn-error"); !strings.Contains(got, "registered already") || strings.Contains(got, "Try again") {
		t.Fatalf("registering the same key twice: the page says %q", got)
	}
	if len(credentials()) != 1 {
		t.Fatal("the authenticator made a second credential for an excluded key")
	}
	p.open(p.attr(`#add-key a[href$="/remove"]`, "href")) // cancel the setup
	p.click("#confirm")

	// Sign out and in: the second step asks for the key.
	p.click(".nav-button")
	p.open("/login")
	p.fill("#username", "kim")
	p.fill("#password", password)
	p.click(`button[type=submit]`)
	p.wantPath("/login/verify")
	if !p.exists("input[data-webauthn-get]") {
		t.Fatalf("the second step offers no security key: %s", p.text("main"))
	}
	submit("#verify", "/settings/security")

	// Later, removing the key needs "confirm it's you": done with the key.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security")
	p.click(`.factor a[href$="/remove"]`)
	if !p.exists("input[data-webauthn-get][name=elevate_credential]") {
		t.Fatalf("confirm it's you offers no security key: %s", p.text("main"))
	}
	submit("#confirm", "/settings/security")
	if p.exists(".factor") {
		t.Fatalf("the key is still listed: %s", p.text("main"))
	}
}

// virtualAuthenticator gives the page's tab a CDP virtual authenticator, a
// CTAP2 USB key that the user touches at once, and returns its id.
func virtualAuthenticator(t *testing.T, p *page) webauthn.AuthenticatorID {
	t.Helper()
	return addAuthenticator(t, p, webauthn.AuthenticatorTransportUsb, false)
}

// addAuthenticator gives the page's tab a CDP virtual CTAP2 authenticator
// on transport that verifies its user and is touched at once; resident
// says whether it keeps discoverable credentials (passkeys).
func addAuthenticator(t *testing.T, p *page, transport webauthn.AuthenticatorTransport, resident bool) webauthn.AuthenticatorID {
	t.Helper()
	if _, err := chromedp.Call(p.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	va, err := chromedp.Call(p.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: transport,
		HasResidentKey: resident, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	return va.AuthenticatorID
}

// submitKey clicks the submit button sel, whose form webauthn.js sends
// once the key has answered, and waits for the page that leads to.
func (p *page) submitKey(sel, wantPath string) {
	t := p.t
	t.Helper()
	before := p.path()
	eval[bool](p, `window.beforeSubmit = true`) // gone with the page that was here
	p.do(chromedp.Click(chromedp.CSS(sel)))
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	for {
		if eval[bool](p, `window.beforeSubmit !== true && document.readyState === "complete"`) || p.exists(".webauthn-error") {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("after %s the page stayed at %s: %s", sel, before, p.text("main"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	p.do(chromedp.WaitReady(chromedp.CSS("footer")))
	p.wantPath(wantPath)
}

// TestBrowserSecurityKeyFinishSetup: a security key's setup left unfinished
// is finished from the security page after the session's elevation has
// lapsed: "Finish setup" asks to confirm it's you (an app's code), then
// registers the key. Opening the page of the pending key by a GET, in
// another tab as a link from another site would, begins nothing: the
// registration under way in the first tab still succeeds. On SQLite and
// PostgreSQL.
func TestBrowserSecurityKeyFinishSetup(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "kim", false, true)
			p, _ := keyPage(t, ts)
			p.signInWithCode(ts, "kim", secret)

			// Begin adding a key, then leave it.
			p.fill("#key-label", "YubiKey")
			p.click("#add-key-button")
			if !p.exists("input[data-webauthn-create]") {
				t.Fatalf("no registration on the page: %s", p.text("main"))
			}
			id := strings.TrimPrefix(p.attr("#add-key form", "action"), "/settings/security/webauthn/")

			// Later: "Finish setup" asks to confirm it's you, then registers.
			ts.Clock.Add(11 * time.Minute)
			p.open("/settings/security")
			p.click("#finish-" + id)
			if got := p.attr("input[name=elevate_method]", "value"); got != "totp" {
				t.Fatalf("finishing the setup after the elevation lapsed: elevate_method %q, want a totp code; page: %s", got, p.text("main"))
			}
			if p.exists("input[data-webauthn-create]") {
				t.Fatal("a registration is offered before confirming it's you")
			}
			p.fill("#elevate_code", otherCode(testenv.TOTP(t, secret, ts.Clock.Now())))
			p.click("#confirm")
			if got := p.text(".flash"); !strings.Contains(got, "not accepted") || !p.exists("#elevate_code") {
				t.Fatalf("a wrong code: the page says %q", got)
			}
			p.fill("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()))
			p.click("#confirm")
			if !p.exists("input[data-webauthn-create]") {
				t.Fatalf("no registration after confirming it's you: %s", p.text("main"))
			}

			// The pending key's page opened by a GET in another tab shows
			// a button and begins no ceremony.
			q := p.newTab()
			if status := q.open("/settings/security/webauthn/" + id); status != 200 {
				t.Fatalf("GET of the pending key's page: status %d", status)
			}
			if q.exists("input[data-webauthn-create]") || !q.exists("#confirm") || q.exists("input[name=elevate_method]") {
				t.Fatalf("GET of the pending key's page: %s", q.text("main"))
			}

			// The first tab's registration still goes through.
			p.submitKey("#webauthn-register", "/settings/security")
			if got := p.texts(".factor .factor-label"); len(got) != 2 || got[1] != "YubiKey" {
				t.Fatalf("factors after finishing the setup: %q; page: %s", got, p.text("main"))
			}
			if p.exists(".pending") {
				t.Fatalf("a setup is still pending: %s", p.text(".pending"))
			}
		})
	}
}

// TestBrowserSecurityKeyElevationGET: showing a page whose "confirm it's
// you" asks for the security key begins no ceremony. With the password
// page open in Chromium and the key being asked (held back by the test
// until then), the same page is fetched with the session's cookie by
// another client, as a link from another site would open it (SameSite=Lax
// cookies go along with a top-level GET); the key's answer in the first
// tab still confirms it's you and the password is changed. On SQLite and
// PostgreSQL.
func TestBrowserSecurityKeyElevationGET(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			p, _ := keyPage(t, ts)
			p.signIn("kim", testPassword)
			p.wantPath("/settings/security")
			p.fill("#key-label", "YubiKey")
			p.click("#add-key-button")
			p.submitKey("#webauthn-register", "/settings/security/webauthn/")

			ts.Clock.Add(11 * time.Minute)
			const self = "/settings/security/password?method=webauthn"
			p.open(self)
			if !p.exists("input[data-webauthn-get][name=elevate_credential]") {
				t.Fatalf("the password page asks for no security key: %s", p.text("main"))
			}
			p.fill("#current_password", testPassword)
			p.fill("#new_password", "a new horse battery")
			p.fill("#new_password2", "a new horse battery")

			// Hold the key's touch back until the other client has been.
			eval[bool](p, `(function () {
				var get = navigator.credentials.get.bind(navigator.credentials);
				window.touch = new Promise(function (resolve) { window.letTouch = resolve; });
				navigator.credentials.get = function (o) { window.keyAsked = true; return window.touch.then(function () { return get(o); }); };
				window.beforeSubmit = true;
				return true;
			})()`)
			p.do(chromedp.Click(chromedp.CSS("#change-password")))
			p.waitFor(`window.keyAsked === true`)

			other := newClient(t, p.base)
			u, _ := url.Parse(p.base)
			for _, c := range p.cookies() {
				other.http.Jar.SetCookies(u, []*http.Cookie{{Name: c.Name, Value: c.Value, Path: c.Path}})
			}
			if r := other.get(self); r.status != http.StatusOK || r.url.Path != "/settings/security/password" || !strings.Contains(r.body, "elevate_credential") {
				t.Fatalf("the other client's GET of the page: %d at %s", r.status, r.url)
			}

			eval[bool](p, `window.letTouch(), true`)
			p.waitFor(`(window.beforeSubmit !== true && document.readyState === "complete") || !!document.querySelector(".webauthn-error")`)
			p.do(chromedp.WaitReady(chromedp.CSS("footer")))
			if p.exists(".webauthn-error") {
				t.Fatalf("the key's touch: %s", p.text(".webauthn-error"))
			}
			p.wantPath("/settings/security?m=password_changed")

			// The teams page's one "confirm it's you" box takes the key too.
			p.open("/settings/teams")
			p.fill("#team-name", "Ops")
			p.click("#create-team")
			p.wantPath("/settings/teams/")
			team := strings.SplitN(strings.TrimPrefix(p.path(), "/settings/teams/"), "?", 2)[0]
			ts.Clock.Add(11 * time.Minute)
			p.open("/settings/teams/" + team + "?method=webauthn")
			if !p.exists("#elevate input[data-webauthn-get][name=elevate_credential]") {
				t.Fatalf("the team page asks for no security key: %s", p.text("main"))
			}
			p.submitKey("#elevate-button", "/settings/teams/"+team+"?m=elevated")

			// When the options are refused (here the session has ended),
			// the page says why in the form and stays.
			ts.Clock.Add(11 * time.Minute)
			p.open("/settings/teams/" + team + "?method=webauthn")
			if _, err := chromedp.Call(p.ctx, network.DeleteCookies, network.DeleteCookiesParams{Name: "twofold_session", URL: p.base}); err != nil {
				t.Fatal(err)
			}
			p.do(chromedp.Click(chromedp.CSS("#elevate-button")))
			p.waitFor(`!!document.querySelector("#elevate .webauthn-error")`)
			if got := p.text("#elevate .webauthn-error"); !strings.Contains(got, "sign in again") {
				t.Fatalf("options refused without a session: the page says %q", got)
			}
			if got := p.path(); !strings.HasPrefix(got, "/settings/teams/"+team) {
				t.Fatalf("options refused: the page went to %s", got)
			}
		})
	}
}

// waitFor waits until the JavaScript expression cond is true in the page.
func (p *page) waitFor(cond string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	for !eval[bool](p, cond) {
		select {
		case <-ctx.Done():
			p.t.Fatalf("waiting for %s: the page is %s: %s", cond, p.path(), p.text("main"))
		case <-time.After(50 * time.Millisecond):
		}
	}
}
