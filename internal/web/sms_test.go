package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserTextMessageCodes: in Chromium, a user adds a phone from the
// security page (a code is texted through the fake gateway and confirmed),
// then signs in by asking for a code with "Text me a code" and typing it.
func TestBrowserTextMessageCodes(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	account(t, ts, "sue", false, false)
	const e164 = "+447400123456"

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("sue", testPassword)
	p.wantPath("/settings/security")
	p.fill("#destination", "+44 7400 123456")
	p.click("#add-sent-button")
	p.wantPath("/settings/security/sent/")
	if got := p.text("#sent-to"); got != "+44 •••• ••3456" {
		t.Errorf("confirm page says the code went to %q, want the masked number", got)
	}
	p.screenshot("confirm-sms")
	// A new code replaces the first.
	first := g.LastCode(t, e164)
	p.click("#resend")
	p.wantPath("/settings/security/sent/")
	if n := len(g.Messages()); n != 2 {
		t.Fatalf("gateway got %d messages, want 2", n)
	}
	if second := g.LastCode(t, e164); second != first {
		p.fillAndSubmit("#code", first, "#confirm")
		if !strings.Contains(p.text(".flash"), "not accepted") {
			t.Errorf("the replaced code: page says %q", p.text(".flash"))
		}
	}
	p.fillAndSubmit("#code", g.LastCode(t, e164), "#confirm")
	if got := p.texts("#recovery-codes code"); len(got) != 10 {
		t.Fatalf("recovery codes shown after the first authenticator: %q", got)
	}
	p.open("/settings/security")
	if got := p.text(".factor-destination"); got != "+44 •••• ••3456" {
		t.Errorf("the security page shows the phone as %q", got)
	}

	p.click("form[action='/logout'] button")
	p.signIn("sue", testPassword)
	p.wantPath("/login/verify")
	if got := p.text("h1"); got != "Get a code by text message" {
		t.Errorf("second step heading %q", got)
	}
	if p.exists("#code") {
		t.Error("the second step asks for a code before one was sent")
	}
	p.screenshot("verify-sms")
	p.click("button[id^=send-]")
	if got := p.text("#sent-to"); !strings.Contains(got, "+44 •••• ••3456") {
		t.Errorf("after sending, the page says %q", got)
	}
	if n := len(g.Messages()); n != 3 {
		t.Fatalf("gateway got %d messages, want 3", n)
	}
	p.fillAndSubmit("#code", g.LastCode(t, e164), "button[type=submit].primary")
	p.wantPath("/settings/security")

	// Confirming it's her by a texted code, once the sign-in's elevation
	// has lapsed: the password page offers "Text me a code".
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security/password")
	if got := p.text("label[for=elevate_code]"); !strings.Contains(got, "Code we text to") {
		t.Fatalf("the password page's confirmation asks %q", got)
	}
	p.fill("#current_password", testPassword)
	p.click("#send-elevation-code")
	p.wantPath("/settings/security/password?method=sms")
	if n := len(g.Messages()); n != 4 {
		t.Fatalf("gateway got %d messages, want 4", n)
	}
	const newPassword = "another long passphrase"
	p.fill("#current_password", testPassword)
	p.fill("#new_password", newPassword)
	p.fill("#new_password2", newPassword)
	p.fillAndSubmit("#elevate_code", g.LastCode(t, e164), "button#change-password")
	p.wantPath("/settings/security?m=password_changed")

	// A second phone, whose confirmation waits past the check that added
	// it: the page asks to confirm it's her, here by a code texted to the
	// first phone, for a new code and then takes the new code.
	const e164b = "+447400654321"
	p.fill("#destination", e164b)
	p.click("#add-sent-button")
	p.wantPath("/settings/security/sent/")
	page := p.path()
	ts.Clock.Add(11 * time.Minute)
	p.open(page)
	if !p.exists("#elevate_code") {
		t.Fatal("the confirmation page after the check lapsed asks nothing to confirm it's her")
	}
	p.screenshot("confirm-sms-elevate")
	p.click("#send-elevation-code")
	p.wantPath(page + "?method=sms")
	p.fill("#elevate_code", g.LastCode(t, e164))
	p.click("#resend")
	p.wantPath(page + "?m=code_sent")
	if p.exists("#elevate_code") {
		t.Error("the confirmation page asks again right after the check")
	}
	p.fillAndSubmit("#code", g.LastCode(t, e164b), "#confirm")
	p.wantPath("/settings/security?m=factor_added")
	if got := p.texts(".factor-destination"); len(got) != 2 {
		t.Errorf("the security page shows the phones as %q, want two", got)
	}
	if r := g.Refused(); len(r) > 0 {
		t.Errorf("the gateway refused requests: %q", r)
	}
}

// TestConfirmPhoneAfterElevationLapses: the code texted to a phone being
// added works for 10 minutes, and the check that added it lapses 10 minutes
// after it was made, often first. The confirmation page then asks to
// confirm it's you in its own form: confirming and sending a new code each
// work with a code from the app typed there, and neither without.
func TestConfirmPhoneAfterElevationLapses(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	secret, c := signedIn(t, ts, "tom", false)
	elevation := func(r reply) bool { return strings.Contains(r.body, `name="elevate_code"`) }
	appCode := func() url.Values {
		return url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}}
	}
	// add adds a phone 5 minutes into the check that the last step made,
	// then lets that check lapse, and returns the phone's page: its code
	// has 4 minutes left.
	add := func(e164 string) string {
		t.Helper()
		ts.Clock.Add(5 * time.Minute)
		r := c.post("/settings/security/sent", url.Values{"type": {"sms"}, "destination": {e164}, "label": {"Mobile " + e164[len(e164)-4:]}})
		page := r.url.Path
		if !strings.HasPrefix(page, "/settings/security/sent/") || elevation(r) {
			t.Fatalf("adding a phone within the last check: at %s, elevation fields %v: %s", r.url, elevation(r), pageError(r.body))
		}
		ts.Clock.Add(6 * time.Minute)
		if r := c.get(page); !elevation(r) {
			t.Fatal("the confirmation page after the check lapsed has no \"confirm it's you\" fields")
		}
		// Without a code from the app, neither a new code nor the confirmation.
		if r := c.post(page+"/resend", url.Values{}); r.status != http.StatusForbidden || !elevation(r) {
			t.Errorf("a new code without a fresh check: status %d, elevation fields %v; want 403 asking for them", r.status, elevation(r))
		}
		if r := c.post(page+"/confirm", url.Values{"code": {g.LastCode(t, e164)}}); r.status != http.StatusForbidden || !elevation(r) {
			t.Errorf("confirming without a fresh check: status %d, elevation fields %v; want 403 asking for them", r.status, elevation(r))
		}
		return page
	}

	// Confirming, with the app's code typed on the page.
	const phone1, phone2 = "+447400123456", "+447400654321"
	page := add(phone1)
	f := appCode()
	f.Set("code", g.LastCode(t, phone1))
	if r := c.post(page+"/confirm", f); r.url.Path != "/settings/security" || r.url.Query().Get("m") != "factor_added" {
		t.Fatalf("confirming with a fresh check: at %s: %s", r.url, pageError(r.body))
	}

	// A new code, with the app's code typed on the page.
	page = add(phone2)
	sent := len(g.Messages())
	if r := c.post(page+"/resend", appCode()); r.url.Path != page || r.url.Query().Get("m") != "code_sent" {
		t.Fatalf("a new code with a fresh check: at %s: %s", r.url, pageError(r.body))
	}
	if n := len(g.Messages()); n != sent+1 {
		t.Fatalf("gateway got %d messages, want %d", n, sent+1)
	}
	if r := c.post(page+"/confirm", url.Values{"code": {g.LastCode(t, phone2)}}); r.url.Query().Get("m") != "factor_added" {
		t.Fatalf("confirming the new code: at %s: %s", r.url, pageError(r.body))
	}
}
