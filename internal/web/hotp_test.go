package web_test

import (
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserHardwareToken: in Chromium, a user adds a hardware token
// (HOTP) from the security page, programs it (oathtool is the token) and
// confirms it, then signs in with its next code and confirms a sensitive
// change with the one after.
func TestBrowserHardwareToken(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "tara", false, false)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("tara", testPassword)
	p.wantPath("/settings/security")
	p.fill("#label", "Key fob")
	p.do(chromedp.SetValue(chromedp.CSS("#type"), "hotp"))
	p.click("#add-totp")
	p.wantPath("/settings/security/totp/")
	if got := p.text(".enrol h2"); !strings.Contains(got, "Load the key into your token") {
		t.Errorf("enrol page heading %q, want the token's", got)
	}
	if got := p.text(".params"); !strings.Contains(got, "Counter-based (HOTP)") {
		t.Errorf("enrol page parameters %q", got)
	}
	if uri := p.attr("#otpauth", "href"); !strings.HasPrefix(uri, "otpauth://hotp/") {
		t.Errorf("otpauth link %q, want an hotp one", uri)
	}
	p.screenshot("enrol-hotp")
	secret := strings.Join(strings.Fields(p.text("#secret")), "")
	p.fillAndSubmit("#code", testenv.HOTP(t, secret, 0), "#confirm")
	if got := p.texts("#recovery-codes code"); len(got) != 10 {
		t.Fatalf("recovery codes shown after the first authenticator: %q", got)
	}
	p.open("/settings/security")
	if got := p.texts(".factor-label"); len(got) != 1 || got[0] != "Key fob" {
		t.Fatalf("authenticators after confirming: %q", got)
	}

	// Sign in again: the token is the way offered first.
	p.click("form[action='/logout'] button")
	p.signIn("tara", testPassword)
	p.wantPath("/login/verify")
	if got := p.text("h1"); got != "Enter your token's code" {
		t.Errorf("second step heading %q", got)
	}
	if got := p.text(".auth p:nth-of-type(2)"); !strings.Contains(got, "Key fob") {
		t.Errorf("second step names %q, want the token's label", got)
	}
	p.screenshot("verify-hotp")
	p.fillAndSubmit("#code", testenv.HOTP(t, secret, 1), "button[type=submit]")
	p.wantPath("/settings/security")

	// A sensitive change after the elevation lapsed asks for the token's next code.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security/two-factor")
	if got := p.attr("input[name=elevate_method]", "value"); got != "hotp" {
		t.Fatalf("elevation asks for %q, want hotp", got)
	}
	if got := p.text("label[for=elevate_code]"); got != "Code from your hardware token" {
		t.Errorf("elevation field label %q", got)
	}
	if p.exists(`a[href*="method=paper_key"]`) == false {
		t.Error("the paper key, which the account has, is not offered")
	}
}

// TestAddAnotherTokenKeepsItsKind: adding a hardware token to an account
// with two-factor on asks for a code first; the page, and its links to the
// other ways to confirm, keep the kind chosen, and the setup that follows is
// a token's.
func TestAddAnotherTokenKeepsItsKind(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, c := signedIn(t, ts, "uma", false)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	r := c.post("/settings/security/totp", url.Values{"label": {"Key fob"}, "type": {"hotp"}})
	if !strings.Contains(r.body, `name="type" value="hotp"`) {
		t.Fatalf("the add-another page loses the kind: %s", pageError(r.body))
	}
	if link := methodLink(t, r.body, "recovery_code"); !strings.Contains(c.get(link.RequestURI()).body, `name="type" value="hotp"`) {
		t.Fatalf("the page its link to a recovery code (%s) leads to loses the kind", link)
	}
	r = c.post("/settings/security/totp", url.Values{"label": {"Key fob"}, "type": {"hotp"},
		"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") || !strings.Contains(r.body, "Counter-based (HOTP)") {
		t.Fatalf("after confirming: at %s: %s", r.url, pageError(r.body))
	}
}
