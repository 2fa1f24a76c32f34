package web_test

import (
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestNewCodesByRecoveryCode: new recovery codes made after confirming
// it's you with a recovery code void that code with the rest of the old
// set, so the page showing the new set says so, and never how many of the
// old set are "left", neither there nor on the next page. On SQLite and
// PostgreSQL.
func TestNewCodesByRecoveryCode(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "alice", false, false)
			k := enrolPhone(t, ts, "alice")
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "alice", k.secret)
			ts.Clock.Add(11 * time.Minute) // the sign-in's check no longer counts

			r := c.post("/settings/security/recovery-codes", url.Values{"elevate_method": {"recovery_code"}, "elevate_code": {k.codes[0]}})
			if n := strings.Count(r.body, "<li><code>"); n != core.RecoveryCodeCount {
				t.Fatalf("new codes: %d shown, want %d: %s", n, core.RecoveryCodeCount, pageError(r.body))
			}
			if recoveryLeft.MatchString(r.body) {
				t.Errorf("the page of the new codes says how many of the old set are left: %s", recoveryLeft.FindString(r.body))
			}
			m := regexp.MustCompile(`(?s)id="recovery-replaced">(.*?)</p>`).FindStringSubmatch(r.body)
			if m == nil || !strings.Contains(html.UnescapeString(m[1]), "the rest of your old set no longer work") {
				t.Errorf("the page of the new codes does not say the old set no longer works: %q", m)
			}
			if next := c.get("/settings/security"); recoveryLeft.MatchString(next.body) || strings.Contains(next.body, `id="recovery-replaced"`) {
				t.Error("the next page speaks of the recovery code used")
			}
		})
	}
}

// TestRecoverySignInNotices: a sign-in on the recovery path lands on the
// security page with a notice saying every other session was signed out
// and to replace a lost authenticator: with the paper key, and with a
// recovery code, whose notice says how many are left, and from 3 left to
// make a new set (SPEC §1 story 4). On SQLite and PostgreSQL.
func TestRecoverySignInNotices(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "rhea", false, false)
			k := enrolPhone(t, ts, "rhea")
			signIn := func(method, code string) string {
				t.Helper()
				ts.Clock.Add(11 * time.Minute)
				c := newClient(t, ts.URL())
				c.signIn("rhea")
				r := c.post("/login/verify", url.Values{"method": {method}, "code": {code}})
				if r.url.Path != "/settings/security" {
					t.Fatalf("sign-in with %s: at %s: %s", method, r.url, pageError(r.body))
				}
				notice := pageNotice(r.body)
				if notice == "" {
					t.Fatalf("sign-in with %s: no notice at %s", method, r.url)
				}
				return notice
			}

			got := signIn("paper_key", k.paperKey)
			for _, want := range []string{"paper key", "every other session of your account was signed out", "remove it and add a new one"} {
				if !strings.Contains(got, want) {
					t.Errorf("sign-in with the paper key: notice %q, want %q in it", got, want)
				}
			}
			for i, code := range k.codes[:7] {
				left := 9 - i
				got := signIn("recovery_code", code)
				count := fmt.Sprintf("%d codes are left", left)
				if left == 1 {
					count = "1 code is left"
				}
				want := []string{"recovery code", count, "Every other session of your account was signed out", "remove it and add a new one"}
				for _, w := range want {
					if !strings.Contains(got, w) {
						t.Errorf("sign-in with a recovery code, %d left: notice %q, want %q in it", left, got, w)
					}
				}
				if warned := strings.Contains(got, "Generate a new set"); warned != (left <= 3) {
					t.Errorf("sign-in with a recovery code, %d left: warned to make a new set %v, want %v: %q", left, warned, left <= 3, got)
				}
			}
		})
	}
}

// TestSecurityKeyWithoutJavaScript: the page that registers a security key
// shows its button only once its script runs (without JavaScript it would
// send no key), and a form sent without a key anyway (a browser without
// JavaScript) says what to do, not what the JSON API wants. On SQLite and
// PostgreSQL.
func TestSecurityKeyWithoutJavaScript(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			c := newClient(t, ts.URL())
			c.signIn("kim")
			page := c.get("/settings/security").body
			r := c.post("/settings/security/webauthn", url.Values{"label": {"YubiKey"}, "once": {onceOf(t, page, "/settings/security/webauthn")}})
			m := regexp.MustCompile(`action="(/settings/security/webauthn/[^"/]+)"`).FindStringSubmatch(r.body)
			if r.status != http.StatusOK || m == nil {
				t.Fatalf("adding a key: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
			r = c.post(m[1], url.Values{})
			if r.status != http.StatusBadRequest || pageError(r.body) != "Your browser sent no key: turn JavaScript on, or add an authenticator app instead." {
				t.Errorf("the form sent without a key: %d %q", r.status, pageError(r.body))
			}
			if !strings.Contains(r.body, "data-webauthn-create") {
				t.Errorf("the form sent without a key: the page offers no registration again")
			}

			// In Chromium with scripts off, the button is not shown.
			p := newPage(t, ts.URL())
			if _, err := chromedp.Call(p.ctx, emulation.SetScriptExecutionDisabled, emulation.SetScriptExecutionDisabledParams{Value: true}); err != nil {
				t.Fatal(err)
			}
			p.signIn("kim", testPassword)
			p.wantPath("/settings/security")
			p.fill("#key-label", "Titan")
			p.click("#add-key-button")
			if !p.exists("input[data-webauthn-create]") {
				t.Fatalf("no registration on the page: %s", p.text("main"))
			}
			if shown := eval[bool](p, `document.getElementById("webauthn-register").getClientRects().length > 0`); shown {
				t.Error("without JavaScript the page shows its button to register the key")
			}
			if got := p.text("noscript"); !strings.Contains(got, "needs JavaScript") {
				t.Errorf("without JavaScript the page does not say it needs it: %q", got)
			}
		})
	}
}
