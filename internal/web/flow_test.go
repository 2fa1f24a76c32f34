package web_test

import (
	"context"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserFlow is issue 5's walk through the pages in a real headless
// Chromium, on SQLite and on PostgreSQL: first-run setup by the printed link,
// enabling TOTP from the secret on the page, confirming with a code from the
// real oathtool, saving the recovery codes, signing out and in with a code and
// with a recovery code, and removing the factor after a fresh code. The
// SQLite run saves screenshots of the main pages, narrow and wide.
func TestBrowserFlow(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			p := newPage(t, ts.URL())
			if name == "sqlite" {
				p.shots = artifactsDir(t)
			}
			runFlow(t, ts, p)
		})
	}
}

var codePattern = regexp.MustCompile(`^[a-z2-7]{4}(-[a-z2-7]{4}){3}$`)

func runFlow(t *testing.T, ts *testenv.Server, p *page) {
	const password = "correct horse battery staple"

	// First run: the link printed by `twofold serve` opens the setup page.
	if ts.SetupURL == "" {
		t.Fatal("a server on an empty database has no setup link")
	}
	if st := p.open(ts.SetupURL); st != 200 {
		t.Fatalf("setup link: status %d", st)
	}
	p.wantPath("/setup")
	p.screenshot("setup")
	p.fill("#username", "alice")
	p.fill("#email", "alice@example.com")
	p.fill("#password", password)
	p.fill("#password2", password)
	p.click(`button[type=submit]`)
	p.wantPath("/settings/security?m=welcome")
	if got := p.text("#status h2"); got != "Two-factor is off" {
		t.Errorf("status after setup: got %q, want two-factor off", got)
	}
	p.screenshot("security-off")
	if st := p.open(ts.SetupURL); st != 404 {
		t.Errorf("setup link after setup: status %d, want 404", st)
	}

	// Enable TOTP: the page shows a QR code, the secret and the otpauth link.
	p.open("/settings/security")
	p.fill("#label", "Phone")
	p.click("#add-totp")
	p.wantPath("/settings/security/totp/")
	secret := strings.Join(strings.Fields(p.text("#secret")), "")
	if len(secret) != 32 {
		t.Fatalf("secret on the page: %q, want 32 base32 characters", secret)
	}
	uri := p.attr("#otpauth", "href")
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" || u.Query().Get("secret") != secret {
		t.Fatalf("otpauth link %q does not carry the secret shown", uri)
	}
	if got := scanQR(t, p); got != "" && got != uri {
		t.Errorf("QR code reads %q, want the otpauth link %q", got, uri)
	}
	p.screenshot("enrol")

	// A wrong code is refused, and the page says so without detail.
	now := ts.Clock.Now()
	code := testenv.TOTP(t, secret, now)
	if st := p.fillAndSubmit("#code", otherCode(code), "#confirm"); st != 401 {
		t.Errorf("wrong confirmation code: status %d, want 401", st)
	}
	if got := p.text("#error"); !strings.Contains(got, "not accepted") {
		t.Errorf("wrong confirmation code: error %q", got)
	}

	// The right code activates it and shows the recovery codes, once.
	p.fillAndSubmit("#code", code, "#confirm")
	codes := p.texts("#recovery-codes code")
	if len(codes) != core.RecoveryCodeCount {
		t.Fatalf("recovery codes on the page: %q, want %d", codes, core.RecoveryCodeCount)
	}
	for _, c := range codes {
		if !codePattern.MatchString(c) {
			t.Errorf("recovery code %q has an unexpected shape", c)
		}
	}
	if p.text("#paper-key") == "" {
		t.Error("the first authenticator shows no paper key")
	}
	p.screenshot("recovery-codes")
	p.media("print")
	if got := eval[string](p, `getComputedStyle(document.querySelector(".codes-card .actions")).display`); got != "none" {
		t.Errorf("printed, the codes page shows its buttons (display %q)", got)
	}
	p.screenshot("recovery-codes-printed")
	p.media("")
	name, body := p.download("#download")
	if !strings.HasSuffix(name, ".txt") {
		t.Errorf("download name %q, want a .txt file", name)
	}
	for _, c := range codes {
		if !strings.Contains(string(body), c) {
			t.Errorf("downloaded file lacks code %s:\n%s", c, body)
		}
	}
	// The print sheet (a new tab in real use; here the same one).
	eval[bool](p, `document.querySelector("form[target]").removeAttribute("target") === undefined`)
	p.click("#print")
	if got := p.texts(".print-sheet .codes code"); strings.Join(got, " ") != strings.Join(codes, " ") {
		t.Errorf("print sheet shows %q, want %q", got, codes)
	}
	p.screenshot("print")
	p.open("/settings/security")
	if got := p.text("#status h2"); got != "Two-factor is on" {
		t.Errorf("status after enrolment: got %q", got)
	}
	if got := p.texts(".factor-label"); len(got) != 1 || got[0] != "Phone" {
		t.Errorf("factors listed: %q, want [Phone]", got)
	}
	if got := p.text("#codes-left strong"); got != "10" {
		t.Errorf("recovery codes left: %q, want 10", got)
	}
	p.screenshot("security-on")

	// The session cookie is the core token: HttpOnly, SameSite=Lax; not
	// Secure over plain HTTP.
	for _, c := range p.cookies() {
		if c.Name == "twofold_session" && (!c.HTTPOnly || c.SameSite != "Lax" || c.Secure) {
			t.Errorf("session cookie: HttpOnly %v, SameSite %q, Secure %v", c.HTTPOnly, c.SameSite, c.Secure)
		}
	}

	// Sign out, and in again with a code.
	p.click(".nav-button")
	p.wantPath("/login")
	p.screenshot("login")
	p.signIn("alice", password)
	p.wantPath("/login/verify")
	if ac, im := p.attr("#code", "autocomplete"), p.attr("#code", "inputmode"); ac != "one-time-code" || im != "numeric" {
		t.Errorf("code field: autocomplete %q inputmode %q", ac, im)
	}
	p.screenshot("verify")
	ts.Clock.Add(30 * time.Second) // the confirmation used the current code
	code = testenv.TOTP(t, secret, ts.Clock.Now())
	if st := p.fillAndSubmit("#code", otherCode(code), "button[type=submit]"); st != 401 {
		t.Errorf("wrong code at sign-in: status %d, want 401", st)
	}
	if got := p.text("#error"); got != "That code was not accepted. Check it and try again." {
		t.Errorf("wrong code at sign-in: error %q", got)
	}
	p.screenshot("verify-error")
	p.fillAndSubmit("#code", code, "button[type=submit]")
	p.wantPath("/settings/security")

	// A replayed code is refused, like any wrong one.
	p.click(".nav-button")
	p.signIn("alice", password)
	if st := p.fillAndSubmit("#code", code, "button[type=submit]"); st != 401 {
		t.Errorf("replayed code: status %d, want 401", st)
	}

	// Sign in with a recovery code: it works once; nine are left.
	p.click("#use-recovery_code")
	p.wantPath("/login/verify?method=recovery_code")
	p.fillAndSubmit("#code", strings.ToUpper(codes[0]), "button[type=submit]")
	p.wantPath("/settings/security?m=recovery_used")
	if got := p.text("#codes-left strong"); got != "9" {
		t.Errorf("recovery codes left after one used: %q, want 9", got)
	}

	// Rename the factor in place.
	p.do(chromedp.Click(chromedp.CSS(".rename summary")))
	p.fillAndSubmit(".rename input[name=label]", "Work phone", ".rename button[type=submit]")
	p.wantPath("/settings/security?m=renamed")
	if got := p.texts(".factor-label"); len(got) != 1 || got[0] != "Work phone" {
		t.Errorf("factors after renaming: %q", got)
	}

	// The recovery-code sign-in elevated the session: new codes need no
	// further check; the old ones stop working.
	p.click(`a[href="/settings/security/recovery-codes"]`)
	if p.exists("#elevate_code") {
		t.Error("an elevated session is asked for a code before new recovery codes")
	}
	p.click("#confirm")
	fresh := p.texts("#recovery-codes code")
	if len(fresh) != core.RecoveryCodeCount || fresh[0] == codes[0] {
		t.Fatalf("new recovery codes: %q", fresh)
	}
	p.open("/settings/security")
	if got := p.text("#codes-left strong"); got != "10" {
		t.Errorf("recovery codes left after a new set: %q, want 10", got)
	}

	// Removing the factor needs a fresh code once the elevation has lapsed.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security")
	p.click(".factor a.danger-outline")
	p.wantPath("/settings/security/factors/")
	if !p.exists("#elevate_code") {
		t.Fatal("removing a factor without a fresh check shows no code field")
	}
	p.screenshot("confirm-remove")
	if !eval[bool](p, `document.querySelector("#elevate_code").validity.valueMissing`) {
		t.Error("the code field is not required: the form could be sent without a code")
	}
	p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "#confirm")
	p.wantPath("/settings/security?m=factor_removed")
	if p.exists(".factor") {
		t.Errorf("factor still listed after removal: %q", p.texts(".factor-label"))
	}
	if got := p.text("#status h2"); got != "Two-factor is off" {
		t.Errorf("status after removing the only factor: %q", got)
	}

	// The operator's pages.
	ctx := context.Background()
	for _, n := range []string{"bob", "carol.smith", "dave@example.org"} {
		if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: n, Password: password}, core.Meta{Source: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	p.open("/admin/users")
	if got := p.texts("table.users tbody td:first-child a"); strings.Join(got, ",") != "alice,bob,carol.smith,dave@example.org" {
		t.Errorf("users listed: %q", got)
	}
	p.screenshot("admin-users")
	p.open("/admin/users?q=CAROL")
	if got := p.texts("table.users tbody td:first-child a"); len(got) != 1 || got[0] != "carol.smith" {
		t.Errorf("search for CAROL: %q", got)
	}
	p.open("/admin/users")
	p.click(`table.users a[href^="/admin/users/"]`)
	p.wantPath("/admin/users/")
	if !strings.Contains(p.text(".events"), "Authenticator removed") {
		t.Errorf("operator's view of alice shows no removal event: %q", p.text(".events"))
	}
	p.screenshot("admin-user")
}

// signIn submits the login form.
func (p *page) signIn(username, password string) {
	p.t.Helper()
	p.open("/login")
	p.fill("#username", username)
	p.fill("#password", password)
	p.click("button[type=submit]")
}

// signInWithCode signs username in with the password and a code from
// secret, and fails unless that lands on the security settings.
func (p *page) signInWithCode(ts *testenv.Server, username, secret string) {
	p.t.Helper()
	p.signIn(username, testPassword)
	p.fillAndSubmit("#code", testenv.TOTP(p.t, secret, ts.Clock.Now()), "button[type=submit]")
	p.wantPath("/settings/security")
}

// openFromMenu follows the menu's entry for path, and fails unless that
// lands on path with the entry marked as the current page.
func (p *page) openFromMenu(path string) {
	p.t.Helper()
	entry := `nav a[href="` + path + `"]`
	p.click(entry)
	p.wantPath(path)
	if got := p.attr(entry, "aria-current"); got != "page" {
		p.t.Errorf("menu entry of the page: aria-current %q", got)
	}
}

// fillAndSubmit types v into field and clicks the button submit.
func (p *page) fillAndSubmit(field, v, submit string) int64 {
	p.t.Helper()
	p.fill(field, v)
	return p.click(submit)
}

// otherCode returns a code of the same length that is not code.
func otherCode(code string) string {
	b := []byte(code)
	b[0] = '0' + (b[0]-'0'+1)%10
	return string(b)
}

// scanQR reads the QR code on the page with the real zbarimg, or returns ""
// when zbarimg is missing (a failure under CI).
func scanQR(t *testing.T, p *page) string {
	t.Helper()
	if _, err := exec.LookPath("zbarimg"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("zbarimg is not installed, and under CI the QR code must be read (apt-get install -y zbar-tools)")
		}
		t.Log("zbarimg not installed: QR code not read")
		return ""
	}
	png, err := chromedp.Run(p.ctx, chromedp.Screenshot(chromedp.CSS("#qr")))
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
	return strings.TrimSpace(string(out))
}
