package web_test

import (
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
	if r := g.Refused(); len(r) > 0 {
		t.Errorf("the gateway refused requests: %q", r)
	}
}
