package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserClaimToken: in Chromium, a user adds the hardware tokens an
// operator imported, by their serials and the codes they show (oathtool
// is the tokens): the first, an HOTP key fob, from the security page's add
// form, which shows the recovery codes; the second, a TOTP token, once the
// elevation lapsed, with a code from the first. A wrong code is told on the
// page, which keeps what was typed.
func TestBrowserClaimToken(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	fob, desk := []byte("office key fob seed!"), []byte("desk token seed, twenty")
	seeds, err := otp.ParseOATHCSV([]byte(fmt.Sprintf("FOB-77,%x,hotp,6,0\nDESK-3,%x,totp,6,30\n", fob, desk)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.ImportTokens(context.Background(), seeds, core.Meta{Source: "cli"}); err != nil {
		t.Fatal(err)
	}
	account(t, ts, "xena", false, false)
	fobCode := func(n uint64) string { return testenv.HOTP(t, otp.EncodeSecret(fob), n) }

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("xena", testPassword)
	p.wantPath("/settings/security")
	p.fill("#label", "Office fob")
	p.do(chromedp.SetValue(chromedp.CSS("#type"), "token"))
	p.click("#add-totp")
	p.wantPath("/settings/security/token")
	if got := p.attr("#label", "value"); got != "Office fob" {
		t.Errorf("the claim page's name field holds %q", got)
	}
	p.fill("#serial", "FOB-77")
	p.fill("#code", otherCode(fobCode(1)))
	p.click("#claim")
	p.wantPath("/settings/security/token")
	if got := p.text(".flash"); !strings.Contains(got, "not accepted") {
		t.Errorf("a wrong code: page says %q", got)
	}
	if got := p.attr("#serial", "value"); got != "FOB-77" {
		t.Errorf("after a wrong code the serial field holds %q", got)
	}
	p.screenshot("claim-token")
	p.fill("#code", fobCode(1))
	p.click("#claim")
	if got := p.texts("#recovery-codes code"); len(got) != 10 {
		t.Fatalf("recovery codes shown after the first authenticator: %q", got)
	}
	p.open("/settings/security")
	if got := p.texts(".factor-label"); len(got) != 1 || got[0] != "Office fob" {
		t.Fatalf("authenticators after the claim: %q", got)
	}

	// The second token, once the elevation of the first claim lapsed.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security/token?label=Desk")
	if got := p.attr("input[name=elevate_method]", "value"); got != "hotp" {
		t.Fatalf("the claim page asks to confirm with %q, want hotp", got)
	}
	p.fill("#serial", "DESK-3")
	p.fill("#code", testenv.TOTP(t, otp.EncodeSecret(desk), ts.Clock.Now()))
	p.fill("#elevate_code", fobCode(2))
	p.click("#claim")
	p.wantPath("/settings/security")
	if got := p.texts(".factor-label"); len(got) != 2 || got[1] != "Desk" {
		t.Fatalf("authenticators after the second claim: %q", got)
	}
	if got := p.text("#events"); !strings.Contains(got, "Hardware token added") {
		t.Errorf("recent events lack the claim:\n%s", got)
	}
}
