package web_test

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserPush: in Chromium, a user adds a push device from the security
// page (zbarimg reads the QR code drawn on the page, and the real device
// client enrols with it), then signs in with "Send a push": the page shows
// the number, "I approved it" too early says so, and after the device
// approves with that number the sign-in completes; a denied push does not.
func TestBrowserPush(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "pam", false, false)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("pam", testPassword)
	p.wantPath("/settings/security")
	p.fill("#push-label", "Work laptop")
	p.click("#add-push-button")
	uri := p.text("#enrol-uri")
	if !strings.HasPrefix(uri, "twofold-push://enrol?") || !strings.Contains(p.text("#enrol-command"), "twofold device enrol --state work-laptop.json") {
		t.Fatalf("enrolment page shows %q and %q", uri, p.text("#enrol-command"))
	}
	png, err := chromedp.Run(p.ctx, chromedp.ScreenshotScale(chromedp.CSS("#qr"), 2))
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "qr.png")
	if err := os.WriteFile(file, png, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("zbarimg", "--quiet", "--raw", file).Output()
	if err != nil {
		t.Fatalf("zbarimg: %v", err)
	}
	if got := strings.TrimSpace(string(out)); got != uri {
		t.Fatalf("the QR code on the page holds %q, want the enrolment URI %q", got, uri)
	}
	p.screenshot("push-enrol")
	st, en, err := pushdevice.Enrol(context.Background(), http.DefaultClient, uri)
	if err != nil || len(en.RecoveryCodes) != 10 {
		t.Fatalf("device enrol: %+v %v", en, err)
	}
	d := &pushdevice.Client{State: st, HTTP: http.DefaultClient, Now: ts.Clock.Now}
	p.click("#push-done")
	p.wantPath("/settings/security")
	if got := p.text("#factor-" + st.DeviceID + " .tag"); got != "Push device" {
		t.Errorf("security page lists the device as %q", got)
	}
	p.click("form[action='/logout'] button")

	p.signIn("pam", testPassword)
	p.wantPath("/login/verify")
	if got := p.text("h1"); got != "Approve on your device" {
		t.Fatalf("second step heading %q", got)
	}
	p.click("#push-" + st.DeviceID)
	number := p.text("#push-number")
	if !regexp.MustCompile(`^[1-9][0-9]$`).MatchString(number) {
		t.Fatalf("the page shows %q, want a two-digit number", number)
	}
	p.screenshot("verify-push")
	p.click("#push-approved")
	if got := p.text(".flash"); !strings.Contains(got, "Not approved yet") || p.text("#push-number") != number {
		t.Fatalf("early “I approved it”: page says %q with number %q", got, p.text("#push-number"))
	}
	cs, err := d.Challenges(context.Background(), time.Second)
	if err != nil || len(cs) != 1 || cs[0].What != "sign in" || !strings.Contains(cs[0].UserAgent, "Chrome") {
		t.Fatalf("device sees %+v (%v), want the browser's sign-in", cs, err)
	}
	if status, err := d.Approve(context.Background(), cs[0].ID, number); err != nil || status != "approved" {
		t.Fatalf("approve: %q %v", status, err)
	}
	p.click("#push-approved")
	p.wantPath("/settings/security")

	// Past the sign-in's elevation, adding an app asks to confirm it's her:
	// by push, with the number shown on the page.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security")
	p.fill("#label", "Phone app")
	p.click("#add-totp")
	p.wantPath("/settings/security/totp")
	p.click("#send-elevation-push")
	number = p.text("#elevate-number")
	if !regexp.MustCompile(`^[1-9][0-9]$`).MatchString(number) {
		t.Fatalf("the confirm page shows %q, want a two-digit number", number)
	}
	p.screenshot("elevate-push")
	cs, err = d.Challenges(context.Background(), time.Second)
	if err != nil || len(cs) != 1 || cs[0].What != "confirm it's you" {
		t.Fatalf("device sees %+v (%v), want a request to confirm it's her", cs, err)
	}
	// A link cannot make a page of the site show a number of its choosing
	// (an attacker's own sign-in's): only the push this session sent.
	other := "42"
	if number == other {
		other = "43"
	}
	confirmPage := p.path()
	p.open("/settings/security/password?method=push&sent=1&number=" + other)
	if got := p.text("#elevate-number"); got != number {
		t.Fatalf("a linked page shows number %q, want the session's own %q", got, number)
	}
	p.open(confirmPage)
	if got := p.text("#elevate-number"); got != number {
		t.Fatalf("back on the confirm page: number %q, want %q", got, number)
	}
	// Continuing before the approval says so and keeps the number.
	p.click("#confirm")
	if p.text("#elevate-number") != number || !strings.Contains(p.text(".flash"), "not answered yet") {
		t.Fatalf("continuing before approval: page says %q, number %q", p.text(".flash"), p.text("#elevate-number"))
	}
	if _, err := d.Approve(context.Background(), cs[0].ID, number); err != nil {
		t.Fatal(err)
	}
	p.click("#confirm")
	p.wantPath("/settings/security/totp/")

	// Denied on the device: the sign-in does not complete.
	p.click("form[action='/logout'] button")
	p.signIn("pam", testPassword)
	p.click("#push-" + st.DeviceID)
	cs, err = d.Challenges(context.Background(), time.Second)
	if err != nil || len(cs) != 1 {
		t.Fatalf("device sees %+v (%v)", cs, err)
	}
	if _, err := d.Deny(context.Background(), cs[0].ID); err != nil {
		t.Fatal(err)
	}
	p.click("#push-approved")
	p.wantPath("/login/verify")
	if got := p.text(".flash"); !strings.Contains(got, "not accepted") {
		t.Fatalf("after a denial the page says %q", got)
	}
}
