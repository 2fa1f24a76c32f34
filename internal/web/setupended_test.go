package web_test

import (
	"html"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestSetupOfAnEndedSession: a user who lost their phone signs in with a
// recovery code and starts to add a new authenticator app, and the session
// expires before they confirm it. Signed in again in the same browser, the
// setup page (reloaded, or its confirmation sent) goes to the security page
// with a notice saying that setup's session has ended and to cancel it and
// add the app again, as the page's listing of it says, not that another
// session started it and "if you did not start it" (which read as someone
// else's). On SQLite and PostgreSQL.
func TestSetupOfAnEndedSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "lou")
			c := newClient(t, ts.URL())
			recover := func(code string) {
				t.Helper()
				c.signIn("lou")
				if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {code}}); r.url.Path != "/settings/security" {
					t.Fatalf("sign-in with a recovery code: at %s: %s", r.url, pageError(r.body))
				}
			}
			recover(k.codes[0])
			r := c.post("/settings/security/totp", url.Values{"label": {"New phone"}})
			if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") || setupKey(r.body) == "" {
				t.Fatalf("starting the setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			setup, key := r.url.Path, setupKey(r.body)
			id := strings.TrimPrefix(setup, "/settings/security/totp/")

			ts.Clock.Add(13 * time.Hour) // the session expires
			if r := c.post(setup+"/confirm", url.Values{"code": {testenv.TOTP(t, key, ts.Clock.Now())}}); r.url.Path != "/login" {
				t.Fatalf("confirming after the session expired: at %s (%d)", r.url, r.status)
			}
			recover(k.codes[1])
			flash := regexp.MustCompile(`(?s)<p class="flash [a-z]+" role="status">(.*?)</p>`)
			for what, r := range map[string]reply{
				"the setup page":   c.get(setup),
				"its confirmation": c.post(setup+"/confirm", url.Values{"code": {testenv.TOTP(t, key, ts.Clock.Now())}}),
			} {
				if r.url.Path != "/settings/security" || r.url.Query().Get("m") != "enrol_ended" {
					t.Errorf("%s after signing in again: at %s (%d), want the security page with m=enrol_ended", what, r.url, r.status)
				}
				m := flash.FindStringSubmatch(r.body)
				if m == nil {
					t.Errorf("%s after signing in again: no notice", what)
					continue
				}
				got := html.UnescapeString(m[1])
				if strings.Contains(got, "another session") || strings.Contains(got, "did not start") || !strings.Contains(got, "has ended") {
					t.Errorf("%s after signing in again: notice %q, want it to say the setup's session has ended", what, got)
				}
				if !strings.Contains(r.body, `id="cancel-ended-`+id+`"`) {
					t.Errorf("%s after signing in again: the security page offers no cancel of the setup", what)
				}
			}
		})
	}
}

// TestPhoneSetupOfAnEndedSession: the same for a phone added in place of
// the lost one: its confirmation page, once the session that started it
// has expired and the user signed in again, offered a code field and "Send
// a new code" that could only fail (a refusal saying another session
// started it). It goes to the security page saying the setup's session has
// ended, with the cancel there; so does its form sent then. On SQLite and
// PostgreSQL.
func TestPhoneSetupOfAnEndedSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			k := accountWithKeys(t, ts, "lou")
			c := newClient(t, ts.URL())
			recover := func(code string) {
				t.Helper()
				c.signIn("lou")
				if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {code}}); r.url.Path != "/settings/security" {
					t.Fatalf("sign-in with a recovery code: at %s: %s", r.url, pageError(r.body))
				}
			}
			recover(k.codes[0])
			const e164 = "+447400123456"
			setup := addPhone(t, c, e164)
			id := strings.TrimPrefix(setup, "/settings/security/sent/")

			ts.Clock.Add(13 * time.Hour) // the session expires
			recover(k.codes[1])
			for what, r := range sentPagesGoTo(t, c, g, setup, e164, "enrol_ended") {
				if !strings.Contains(r.body, `id="cancel-ended-`+id+`"`) {
					t.Errorf("%s after signing in again: the security page offers no cancel of the setup", what)
				}
			}
		})
	}
}

// TestPhoneSetupOfAnotherLiveSession: a phone's setup started in one
// browser, opened in another browser of the account that is signed in too
// (its confirmation page, its code sent, a new code asked for), leads to
// the security page saying the setup is another session's, as an app's
// setup page does, rather than showing a code field and "Send a new code"
// that could only fail. Nothing more is texted. On SQLite and PostgreSQL.
func TestPhoneSetupOfAnotherLiveSession(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			k := accountWithKeys(t, ts, "ned")
			ts.Clock.Add(30 * time.Second) // the code that confirmed the app is spent
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "ned", k.secret)
			const e164 = "+447400123457"
			setup := addPhone(t, c, e164)

			ts.Clock.Add(30 * time.Second)
			other := newClient(t, ts.URL())
			other.signInWithCode(ts, "ned", k.secret)
			sentPagesGoTo(t, other, g, setup, e164, "enrol_elsewhere")
			// The browser that started it still finishes it.
			if r := c.post(setup+"/confirm", url.Values{"code": {g.LastCode(t, e164)}}); r.url.Path != "/settings/security" || r.url.Query().Get("m") == "enrol_elsewhere" {
				t.Errorf("its own browser confirming: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}

// addPhone starts adding the phone e164 from c's security page and returns
// the path of its confirmation page.
func addPhone(t *testing.T, c *client, e164 string) string {
	t.Helper()
	form := postForms(c.get("/settings/security").body)["/settings/security/sent"]
	form.Set("type", "sms")
	form.Set("destination", e164)
	r := c.post("/settings/security/sent", form)
	if !strings.HasPrefix(r.url.Path, "/settings/security/sent/") {
		t.Fatalf("adding a phone: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	return r.url.Path
}

// sentPagesGoTo opens, as c, the confirmation page of the phone setup at
// path setup, sends its code and asks for a new one, and checks each leads
// to the security page with notice m and that the gateway sent nothing
// after the first code. It returns the answers by what was done.
func sentPagesGoTo(t *testing.T, c *client, g *testenv.SMSGateway, setup, e164, m string) map[string]reply {
	t.Helper()
	rs := map[string]reply{
		"the confirmation page": c.get(setup),
		"its code":              c.post(setup+"/confirm", url.Values{"code": {g.LastCode(t, e164)}}),
		"a new code":            c.post(setup+"/resend", url.Values{}),
	}
	for what, r := range rs {
		if r.url.Path != "/settings/security" || r.url.Query().Get("m") != m {
			t.Errorf("%s: at %s (%d), want the security page with m=%s: %s", what, r.url, r.status, m, pageError(r.body))
		}
	}
	if n := len(g.Messages()); n != 1 {
		t.Errorf("the gateway got %d messages, want the first code alone", n)
	}
	return rs
}
