package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// smsAccount makes an account whose one factor is the phone e164, texted
// through g, and returns the factor's id.
func smsAccount(t *testing.T, ts *testenv.Server, g *testenv.SMSGateway, username, e164 string) string {
	t.Helper()
	account(t, ts, username, false, false)
	return confirmPhone(t, ts, g, sessionOf(t, ts, username, ""), e164).Factor.ID
}

// TestSentCodeStaysWithTheBrowser: a code a browser asked for, for its
// sign-in or to confirm it's the holder, is not replaced by one asked for
// with the login id alone or a copy of the session cookie (409), and the
// browser's own "Send a new code" (its cookie holds the code_secret) does
// replace it. A code someone else asked for first is refused to the browser
// with a page that says so and asks for that code, which went to the
// owner's phone all the same: typed there, it signs in. On SQLite and
// PostgreSQL.
func TestSentCodeStaysWithTheBrowser(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const e164 = "+447400123456"
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			base := "http://" + ts.Addr()
			factorID := smsAccount(t, ts, g, "sid", e164)
			sendCode := func(c *client) reply {
				t.Helper()
				return c.post("/login/verify/send", url.Values{"method": {"sms"}, "factor_id": {factorID}})
			}
			sentTo := func(r reply) bool {
				return strings.Contains(r.body, `id="sent-to"`) && strings.Contains(r.body, `id="code"`)
			}

			c := newClient(t, base)
			c.signIn("sid")
			loginID := loginIDOf(t, c, base)
			if r := sendCode(c); r.status != http.StatusOK || !sentTo(r) {
				t.Fatalf("sending a code: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
			first := g.LastCode(t, e164)
			texts := len(g.Messages())
			body := `{"method":"sms","factor_id":"` + factorID + `"}`
			if st := apiPost(t, base, "/v1/login/"+loginID+"/challenge", "", body); st != http.StatusConflict {
				t.Fatalf("a code asked for with the login id alone: %d, want 409", st)
			}
			if n := len(g.Messages()); n != texts {
				t.Fatalf("the refused send texted %d messages", n-texts)
			}
			// The browser's own "Send a new code" replaces its code.
			if r := sendCode(c); r.status != http.StatusOK || !sentTo(r) {
				t.Fatalf("sending a new code: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
			if n := len(g.Messages()); n != texts+1 {
				t.Fatalf("gateway got %d messages, want %d", n, texts+1)
			}
			if fresh := g.LastCode(t, e164); fresh != first {
				if r := c.post("/login/verify", url.Values{"method": {"sms"}, "code": {first}}); r.url.Path == "/settings/security" {
					t.Fatal("the replaced code signed in")
				}
			}
			if r := c.post("/login/verify", url.Values{"method": {"sms"}, "code": {g.LastCode(t, e164)}}); r.url.Path != "/settings/security" {
				t.Fatalf("the browser's new code: at %s: %s", r.url, pageError(r.body))
			}

			// Confirming it's the holder: a copy of the session cookie
			// cannot replace the browser's code; the browser's "Send
			// another" can.
			ts.Clock.Add(11 * time.Minute)
			copied := jarCookie(t, c, "twofold_session")
			elevate := url.Values{"elevate_method": {"sms"}, "elevate_factor": {factorID}, "return": {"/settings/security/password?method=sms"}}
			if r := c.post("/settings/security/elevate/send", elevate); r.url.Path != "/settings/security/password" {
				t.Fatalf("sending a code to confirm it's her: at %s: %s", r.url, pageError(r.body))
			}
			if st := apiPost(t, base, "/v1/me/elevate/challenge", copied, body); st != http.StatusConflict {
				t.Fatalf("a code asked for with a copy of the session cookie: %d, want 409", st)
			}
			texts = len(g.Messages())
			if r := c.post("/settings/security/elevate/send", elevate); r.url.Path != "/settings/security/password" {
				t.Fatalf("sending another code to confirm it's her: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if n := len(g.Messages()); n != texts+1 {
				t.Fatalf("gateway got %d messages, want %d", n, texts+1)
			}

			// Someone else's code first: the page says so, and the code
			// they asked for, which went to the phone, signs in.
			ts.Clock.Add(time.Hour) // the number's sign-in codes refill
			c2 := newClient(t, base)
			c2.signIn("sid")
			if st := apiPost(t, base, "/v1/login/"+loginIDOf(t, c2, base)+"/challenge", "", body); st != http.StatusAccepted {
				t.Fatalf("the stranger's send: %d, want 202", st)
			}
			theirs := g.LastCode(t, e164)
			r := sendCode(c2)
			if r.status != http.StatusConflict || !sentTo(r) || !strings.Contains(pageError(r.body), "not at this browser's asking") {
				t.Fatalf("the browser's send while another's code lives: %d, code field %v, page says %q", r.status, sentTo(r), pageError(r.body))
			}
			if r := c2.post("/login/verify", url.Values{"method": {"sms"}, "code": {theirs}}); r.url.Path != "/settings/security" {
				t.Fatalf("the code someone else asked for, typed in the browser: at %s: %s", r.url, pageError(r.body))
			}
			if jarCookie(t, c2, "twofold_session") == "" {
				t.Fatal("signed in with no session cookie")
			}
		})
	}
}

// TestBrowserSentCodeStaysWithTheBrowser: in Chromium, a code the second
// step's "Text me a code" asked for is not replaced by one asked for with
// the login id alone (409), and "Send a new code" (whose cookie holds the
// code_secret) replaces it; when someone else asked first, the page says
// so and asks for that code, which signs in.
func TestBrowserSentCodeStaysWithTheBrowser(t *testing.T) {
	const e164 = "+447400123456"
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	factorID := smsAccount(t, ts, g, "sol", e164)
	body := `{"method":"sms","factor_id":"` + factorID + `"}`
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	loginID := func() string {
		t.Helper()
		res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{ts.URL() + "/login/verify"}})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range res.Cookies {
			if c.Name == "twofold_login" {
				return cookieLoginID(t, c.Value)
			}
		}
		t.Fatal("no login cookie after the password")
		return ""
	}

	p.signIn("sol", testPassword)
	p.wantPath("/login/verify")
	p.click("button[id^=send-]")
	if got := p.text("#sent-to"); !strings.Contains(got, "+44 •••• ••3456") {
		t.Fatalf("after sending, the page says %q", got)
	}
	texts := len(g.Messages())
	if st := apiPost(t, ts.URL(), "/v1/login/"+loginID()+"/challenge", "", body); st != http.StatusConflict {
		t.Fatalf("a code asked for with the login id alone: %d, want 409", st)
	}
	p.click("button[id^=send-]") // "Send a new code"
	if n := len(g.Messages()); n != texts+1 {
		t.Fatalf("gateway got %d messages, want %d: the browser's new code was not sent", n, texts+1)
	}
	if p.exists("#error") {
		t.Fatalf("sending a new code: the page says %q", p.text("#error"))
	}
	p.fillAndSubmit("#code", g.LastCode(t, e164), "button[type=submit].primary")
	p.wantPath("/settings/security")

	// Someone else asked first.
	p.click("form[action='/logout'] button")
	ts.Clock.Add(time.Hour) // the number's sign-in codes refill
	p.signIn("sol", testPassword)
	p.wantPath("/login/verify")
	if st := apiPost(t, ts.URL(), "/v1/login/"+loginID()+"/challenge", "", body); st != http.StatusAccepted {
		t.Fatalf("the stranger's send: %d, want 202", st)
	}
	p.click("button[id^=send-]")
	if got := p.text("#error"); !strings.Contains(got, "not at this browser's asking") {
		t.Fatalf("the browser's send while another's code lives: the page says %q", got)
	}
	p.screenshot("verify-sms-someone-else")
	p.fillAndSubmit("#code", g.LastCode(t, e164), "button[type=submit].primary")
	p.wantPath("/settings/security")
}
