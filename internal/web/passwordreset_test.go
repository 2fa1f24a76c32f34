package web_test

import (
	"bytes"
	"context"
	"html"
	"io"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// resetLinkPath waits until the mailbox holds n messages and returns the
// path of the password-reset link in the newest one.
func resetLinkPath(t *testing.T, ts *testenv.Server, mb *testenv.SMTPServer, n int) string {
	t.Helper()
	link := regexp.MustCompile(regexp.QuoteMeta(ts.BrowserURL()) + `(/password-reset/[a-z2-7]+\.[a-z2-7]+)\b`)
	for ; ; n++ { // other mails (notices) may come first
		msgs := mb.Wait(t, n, time.Minute)
		for i := len(msgs) - 1; i >= 0; i-- {
			if l := link.FindStringSubmatch(mailBody(t, msgs[i])); l != nil {
				return l[1]
			}
		}
	}
}

// mailBody returns the decoded body of a received message.
func mailBody(t testing.TB, msg testenv.SMTPMessage) string {
	t.Helper()
	m, err := mail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// mailedAccount creates username with an email address; with totp, it also
// enrols a TOTP factor and returns its keys.
func mailedAccount(t *testing.T, ts *testenv.Server, username string, totp bool) keys {
	t.Helper()
	n := core.NewAccount{Username: username, Email: username + "@example.com", Password: testPassword}
	if _, err := ts.Service.CreateAccount(context.Background(), n, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if !totp {
		return keys{}
	}
	return enrolPhone(t, ts, username)
}

// TestBrowserPasswordReset: in Chromium, a holder with two-factor on asks
// for a link from the sign-in page, opens the mailed link, sets a new
// password confirmed by a code, and signs in with it, second step included.
func TestBrowserPasswordReset(t *testing.T) {
	const newPassword = "a brand new passphrase"
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	k := mailedAccount(t, ts, "alice", true)
	sent := len(mb.Wait(t, 1, time.Minute)) // the notice of the new authenticator

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.open("/login")
	p.click("#forgot-password")
	p.wantPath("/password-reset")
	p.fillAndSubmit("#username", "alice", "#send-link")
	if got := p.text("#reset-sent"); !strings.Contains(got, "alice") {
		t.Errorf("after asking, the page says %q", got)
	}
	p.screenshot("reset-asked")

	p.open(resetLinkPath(t, ts, mb, sent+1))
	p.wantPath("/new-password")
	if !p.exists("#code") {
		t.Fatal("the form asks for no second factor on an account with two-factor on")
	}
	p.fill("#password", newPassword)
	p.fill("#password2", newPassword)
	p.fillAndSubmit("#code", otherCode(testenv.TOTP(t, k.secret, ts.Clock.Now())), "#set-password")
	if got := p.text("#error"); !strings.Contains(got, "code was not accepted") {
		t.Errorf("a wrong code: the page says %q", got)
	}
	p.screenshot("reset-new")
	p.fill("#password", newPassword)
	p.fill("#password2", newPassword)
	p.fillAndSubmit("#code", testenv.TOTP(t, k.secret, ts.Clock.Now()), "#set-password")
	p.wantPath("/login?m=password_reset")
	if got := p.text(".flash.ok"); !strings.Contains(got, "Sign in with the new password") {
		t.Errorf("notice after the reset: %q", got)
	}
	ts.Clock.Add(30 * time.Second)
	p.signIn("alice", newPassword)
	p.wantPath("/login/verify")
	p.fillAndSubmit("#code", testenv.TOTP(t, k.secret, ts.Clock.Now()), "button[type=submit]")
	p.wantPath("/settings/security")
}

// TestNoForgotLinkWithoutMail: a server that cannot mail a link offers no
// "Forgot your password?" on the sign-in page, nor a change of address
// confirmed by mail; one that can, does.
func TestNoForgotLinkWithoutMail(t *testing.T) {
	quiet := testenv.NewServer(t, testenv.SQLiteDSN(t))
	if r := newClient(t, quiet.URL()).get("/login"); strings.Contains(r.body, "forgot-password") {
		t.Error("a server without mail offers a password reset by mail")
	}
	account(t, quiet, "quiet", false, false)
	c := newClient(t, quiet.URL())
	c.signIn("quiet")
	if r := c.get("/settings/security"); strings.Contains(r.body, `id="change-email"`) || !strings.Contains(r.body, `id="email-needs-mail"`) {
		t.Error("a server without mail offers to change the address by a mailed code")
	}
	mb := testenv.NewSMTPServer(t)
	mailing := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	if r := newClient(t, mailing.URL()).get("/login"); !strings.Contains(r.body, "forgot-password") {
		t.Error("a server with mail offers no password reset")
	}
}

// TestPasswordResetPages: without JavaScript, asking for an unknown name
// shows the same page as for a known one; the link's token leaves the
// address bar; a recovery code confirms the new password; and the link then
// is gone.
func TestPasswordResetPages(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			ts := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			k := mailedAccount(t, ts, "bob", true)
			sent := len(mb.Wait(t, 1, time.Minute))

			c := newClient(t, ts.URL())
			known := c.post("/password-reset", url.Values{"username": {"bob"}})
			unknown := c.post("/password-reset", url.Values{"username": {"nobody"}})
			strip := regexp.MustCompile(`name="csrf" value="[^"]+"|nobody|bob`)
			if known.status != 200 || strip.ReplaceAllString(known.body, "") != strip.ReplaceAllString(unknown.body, "") {
				t.Fatalf("asking for bob and for nobody give different pages (%d, %d)", known.status, unknown.status)
			}
			link := resetLinkPath(t, ts, mb, sent+1)
			r := c.get(link)
			if r.url.Path != "/new-password" || strings.Contains(r.url.String(), strings.TrimPrefix(link, "/password-reset/")) {
				t.Fatalf("the link leads to %s", r.url)
			}
			r = c.get("/new-password?method=recovery_code")
			if !strings.Contains(r.body, `name="method" value="recovery_code"`) {
				t.Fatalf("the form does not ask for a recovery code:\n%s", pageError(r.body))
			}
			// A password manager saves the new password under the account's
			// name, which the link, not the browser, says.
			if !strings.Contains(r.body, `<input type="hidden" name="username" value="bob" autocomplete="username">`) {
				t.Errorf("the form has no hidden username field for password managers:\n%s", r.body)
			}
			if got := pageTitle(r.body); got != "Choose a new password · Twofold" {
				t.Errorf("the form's title: %q", got)
			}
			form := url.Values{"password": {"a brand new passphrase"}, "password2": {"another passphrase"}, "method": {"recovery_code"}, "code": {k.codes[0]}}
			if r := c.post("/new-password", form); r.status != http.StatusBadRequest {
				t.Fatalf("two different passwords: status %d", r.status)
			} else if got := pageTitle(r.body); got != "Error: Choose a new password · Twofold" {
				t.Errorf("the form refused: title %q, want it to begin with Error:", got)
			}
			form.Set("password2", "a brand new passphrase")
			if r := c.post("/new-password", form); r.url.Path != "/login" || r.url.Query().Get("m") != "password_reset" {
				t.Fatalf("the reset: at %s: %s", r.url, pageError(r.body))
			}
			if r := c.get(link); r.status != http.StatusGone {
				t.Errorf("the used link: status %d, want 410", r.status)
			} else if title, h1 := pageTitle(r.body), pageHeading(r.body); title != "Link expired · Twofold" || h1 != "Link expired" {
				t.Errorf("the used link: title %q, heading %q, want both to say the link expired", title, h1)
			}
			r = c.post("/login", url.Values{"username": {"bob"}, "password": {"a brand new passphrase"}})
			if r.url.Path != "/login/verify" {
				t.Errorf("the new password: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}

// mailCode waits until the mailbox holds n messages and returns the 6-digit
// code in the newest one to address.
func mailCode(t *testing.T, mb *testenv.SMTPServer, n int, address string) string {
	t.Helper()
	for ; ; n++ { // other mails (notices) may come first
		msgs := mb.Wait(t, n, time.Minute)
		for i := len(msgs) - 1; i >= 0; i-- {
			if len(msgs[i].To) == 1 && msgs[i].To[0] == address {
				if c := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(mailBody(t, msgs[i])); c != "" {
					return c
				}
			}
		}
	}
}

// TestBrowserEmailChange: in Chromium, a holder changes the account's
// address from the security page: the code mailed to the new address makes
// the change.
func TestBrowserEmailChange(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), mb.Option("Twofold <twofold@example.com>"))
	k := mailedAccount(t, ts, "alice", true)
	sent := len(mb.Wait(t, 1, time.Minute))

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("alice", testPassword)
	p.fillAndSubmit("#code", testenv.TOTP(t, k.secret, ts.Clock.Now()), "button[type=submit]")
	if got := p.text("#account-email"); got != "alice@example.com" {
		t.Errorf("the security page shows the address %q", got)
	}
	p.click("#change-email")
	p.wantPath("/settings/security/email")
	p.fill("#email", "alice@new.example")
	p.fillAndSubmit("#current_password", testPassword, "#send-email-code")
	if got := p.text("#sent-to"); !strings.Contains(got, "a•••@new.example") {
		t.Errorf("after sending, the page says %q", got)
	}
	p.screenshot("email-code")
	// The current address is told at once, and the new one gets the code.
	code := mailCode(t, mb, sent+2, "alice@new.example")
	p.fillAndSubmit("#code", otherCode(code), "#confirm-email")
	if got := p.text("#error"); !strings.Contains(got, "code was not accepted") {
		t.Errorf("a wrong code: the page says %q", got)
	}
	p.fillAndSubmit("#code", code, "#confirm-email")
	p.wantPath("/settings/security?m=email_changed")
	if got := p.text("#account-email"); got != "alice@new.example" {
		t.Errorf("after the change the security page shows %q", got)
	}
}

// TestEmailChangePageAsksForAFreshCode: without JavaScript, once the
// sign-in's elevation has lapsed, the page asks for a code with the new
// address, and nothing is sent without it; the page asking for the code
// it sends is a GET, reloaded without sending again.
func TestEmailChangePageAsksForAFreshCode(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			ts := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			k := mailedAccount(t, ts, "bob", true)
			sent := len(mb.Wait(t, 1, time.Minute))
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "bob", k.secret)
			ts.Clock.Add(11 * time.Minute)
			r := c.get("/settings/security/email")
			if !strings.Contains(r.body, `name="elevate_code"`) {
				t.Fatalf("the page asks for no code once the elevation has lapsed:\n%s", pageError(r.body))
			}
			if r := c.post("/settings/security/email", url.Values{"email": {"bob@new.example"}, "current_password": {testPassword}}); r.status != http.StatusForbidden {
				t.Fatalf("without a code: status %d, want 403", r.status)
			}
			r = c.post("/settings/security/email", url.Values{"email": {"bob@new.example"}, "current_password": {testPassword}, "elevate_method": {"totp"},
				"elevate_code": {testenv.TOTP(t, k.secret, ts.Clock.Now())}})
			if !strings.Contains(r.body, `id="sent-to"`) {
				t.Fatalf("with a code: %d %s", r.status, pageError(r.body))
			}
			// The page asking for the code answers a GET: reloading it
			// sends nothing again.
			if r.method != http.MethodGet || r.url.Path != "/settings/security/email" {
				t.Errorf("the page asking for the code answers a %s of %s, want a GET (a reload would send another code)", r.method, r.url)
			}
			for range 3 {
				if r := c.get(r.url.RequestURI()); !strings.Contains(r.body, `id="sent-to"`) {
					t.Fatalf("reloaded: %d %s", r.status, pageError(r.body))
				}
			}
			code := mailCode(t, mb, sent+2, "bob@new.example")
			if r := c.post("/settings/security/email/confirm", url.Values{"code": {code}}); r.url.Query().Get("m") != "email_changed" {
				t.Fatalf("confirm: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}

// pageTitle returns the text of a page's title element.
func pageTitle(body string) string {
	m := regexp.MustCompile(`<title>([^<]*)</title>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// pageHeading returns the text of a page's first h1 element.
func pageHeading(body string) string {
	m := regexp.MustCompile(`<h1[^>]*>([^<]*)</h1>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}
