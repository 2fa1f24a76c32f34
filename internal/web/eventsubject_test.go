package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// addPhoneTo adds the phone e164, texted through g, as a confirmed factor
// of username (whose app's secret is secret), and returns its id.
func addPhoneTo(t *testing.T, ts *testenv.Server, g *testenv.SMSGateway, username, secret, e164 string) string {
	t.Helper()
	id := confirmPhone(t, ts, g, sessionOf(t, ts, username, secret), e164).Factor.ID
	ts.Clock.Add(30 * time.Second) // the sign-in's code is used up
	return id
}

// TestEventsPageNamesKeys: the user's events say which API key was used,
// and which was refused what by its permits (a 403 to a script), by the
// key's name; never its secret.
func TestEventsPageNamesKeys(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "kim", false, true)
	api := apiSession(t, ts, "kim", secret)
	r := api.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "deploy",
		"permits": []map[string]any{{"service": "account", "resource": "*", "actions": []string{"read"}}}})
	if r.Status != 201 {
		t.Fatalf("making a key: %d %s", r.Status, r.Body)
	}
	id, keySecret := r.JSON["api_key"].(map[string]any)["id"].(string), r.String("secret")
	key := testenv.NewClient(ts.URL())
	key.Header = map[string][]string{"Authorization": {"Basic " + basic(id, keySecret)}}
	if r := key.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
		t.Fatalf("the key reads the profile: %d %s", r.Status, r.Body)
	}
	if r := key.Do(t, "GET", "/v1/admin/users", nil); r.Status != 403 {
		t.Fatalf("the key lists users: %d %s, want 403", r.Status, r.Body)
	}

	// A key made past the account's bound is refused and recorded as
	// core writes it: the key that asked is named as such.
	me := api.Do(t, "GET", "/v1/me", nil)
	if err := ts.Store.AddEvent(t.Context(), twofold.AuditEvent{AccountID: me.String("id"), Type: "api_key.create_throttled", At: ts.Clock.Now(),
		Detail: "key " + id + ` "deploy": too many API keys were made for this account in a short time`}); err != nil {
		t.Fatal(err)
	}

	ts.Clock.Add(30 * time.Second) // the API sign-in's code is used up
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "kim", secret)
	body := c.get("/settings/security/events").body
	for _, want := range []string{
		`API key not made: too many made in a short time <span class="ev-factor">asked by “deploy”</span>`,
		`API key used <span class="ev-factor">“deploy”</span>`,
		`API key refused <span class="ev-factor">“deploy”: not permitted to GET /v1/admin/users (`,
		`API key created <span class="ev-factor">“deploy”</span>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the events page lacks %q", want)
		}
	}
	if strings.Contains(body, keySecret) {
		t.Error("the events page shows the key's secret")
	}
}

// TestConfirmingFirstFactorElevatesPage: confirming the first
// authenticator on the pages proves it, so the security page that follows
// offers new recovery codes without asking for a code again.
func TestConfirmingFirstFactorElevatesPage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "lee", false, false)
	c := newClient(t, ts.URL())
	c.signIn("lee")
	r := c.post("/settings/security/totp", url.Values{"label": {"Phone"}})
	secret, confirm := setupKey(r.body), r.url.Path+"/confirm"
	if secret == "" {
		t.Fatalf("setup: at %s: %s", r.url, pageError(r.body))
	}
	r = c.post(confirm, url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "once": {onceOf(t, r.body, confirm)}})
	if !strings.Contains(r.body, `id="recovery-codes"`) {
		t.Fatalf("confirming: at %s: %s", r.url, pageError(r.body))
	}
	f, ok := postForms(c.get("/settings/security/recovery-codes").body)["/settings/security/recovery-codes"]
	if !ok || f.Get("elevate_method") != "" {
		t.Errorf("right after the first authenticator, new recovery codes ask to confirm it's you: found %v, fields %v", ok, f)
	}
	ts.Clock.Add(11 * time.Minute)
	if f := postForms(c.get("/settings/security/recovery-codes").body)["/settings/security/recovery-codes"]; f.Get("elevate_method") == "" {
		t.Error("the elevation of the confirmation never lapses")
	}
}

// TestSignInByTextedCodeInsteadOfApp: a sign-in with a code texted to the
// account's phone when it has an app too takes the recovery path, and the
// page it lands on says so, as it does for a recovery code or the paper
// key.
func TestSignInByTextedCodeInsteadOfApp(t *testing.T) {
	const e164 = "+447400123456"
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	secret := account(t, ts, "max", false, true)
	phone := addPhoneTo(t, ts, g, "max", secret, e164)
	c := newClient(t, ts.URL())
	c.signIn("max")
	if r := c.post("/login/verify/send", url.Values{"method": {"sms"}, "factor_id": {phone}}); !strings.Contains(r.body, `id="code"`) {
		t.Fatalf("sending a code: at %s: %s", r.url, pageError(r.body))
	}
	r := c.post("/login/verify", url.Values{"method": {"sms"}, "code": {g.LastCode(t, e164)}})
	if r.url.Path != "/settings/security" || r.url.Query().Get("m") != "sms_recovery_used" {
		t.Fatalf("signed in by a texted code: at %s, want the security page with its notice: %s", r.url, pageError(r.body))
	}
	if !strings.Contains(r.body, "You signed in with a code texted to your phone") {
		t.Error("the page does not say how the account was signed in")
	}
}

// TestSignInByEmailedCodeInsteadOfApp: a sign-in with a code sent by email
// when the account has an app too takes the recovery path as a texted code
// does: every other session is signed out, and the page it lands on says
// so. On SQLite and PostgreSQL.
func TestSignInByEmailedCodeInsteadOfApp(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			const address = "max.codes@example.net"
			mb := testenv.NewSMTPServer(t)
			ts := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			k := mailedAccount(t, ts, "max", true)
			// codeAfter is the code mailed to address after the first
			// from messages of the mailbox.
			codeAfter := func(from int) string {
				t.Helper()
				for n := from + 1; ; n++ {
					for _, m := range mb.Wait(t, n, time.Minute)[from:] {
						if len(m.To) == 1 && m.To[0] == address {
							if c := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(mailBody(t, m)); c != "" {
								return c
							}
						}
					}
				}
			}
			ctx := context.Background()
			a := sessionOf(t, ts, "max", k.secret)
			from := len(mb.Messages())
			e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorEmail, Email: address}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, codeAfter(from), core.Meta{}); err != nil {
				t.Fatal(err)
			}
			ts.Clock.Add(30 * time.Second) // the sign-in's code is used up

			before := newClient(t, ts.URL())
			before.signInWithCode(ts, "max", k.secret)
			c := newClient(t, ts.URL())
			c.signIn("max")
			from = len(mb.Messages())
			if r := c.post("/login/verify/send", url.Values{"method": {"email"}, "factor_id": {e.Factor.ID}}); !strings.Contains(r.body, `id="code"`) {
				t.Fatalf("sending a code: at %s: %s", r.url, pageError(r.body))
			}
			r := c.post("/login/verify", url.Values{"method": {"email"}, "code": {codeAfter(from)}})
			if r.url.Path != "/settings/security" || r.url.Query().Get("m") != "email_recovery_used" {
				t.Fatalf("signed in by an emailed code: at %s, want the security page with its notice: %s", r.url, pageError(r.body))
			}
			if !strings.Contains(r.body, "You signed in with a code sent by email") || !strings.Contains(r.body, "every other session of your account was signed out") {
				t.Error("the page does not say how the account was signed in and that the other sessions were signed out")
			}
			if r := before.get("/settings/security"); r.url.Path != "/login" {
				t.Errorf("the session from before: at %s, want the sign-in page", r.url)
			}
		})
	}
}

// TestHardCapOffersWaysThatWork: once the account's codes reach the hard
// cap, the second step offers only the ways in that still work (here a
// recovery code and the paper key), never an app's code or a texted one,
// which are refused whatever is typed.
func TestHardCapOffersWaysThatWork(t *testing.T) {
	const e164 = "+447400123456"
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	secret := account(t, ts, "ned", false, true)
	addPhoneTo(t, ts, g, "ned", secret, e164)
	ctx := context.Background()
	c := newClient(t, ts.URL())
	c.signIn("ned")
	if r := c.get("/login/verify"); !strings.Contains(r.body, `id="use-sms"`) {
		t.Fatalf("before any failure the second step does not offer the phone: %s", pageError(r.body))
	}
	for range core.HardCap {
		res, err := ts.Service.Login(ctx, "ned", testPassword, core.Meta{Source: "192.0.2.7"})
		if err != nil {
			t.Fatal(err)
		}
		wrong := otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))
		if _, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodTOTP, Code: wrong}, core.Meta{Source: "192.0.2.7"}); twofold.ErrorCode(err) != twofold.CodeInvalidCode {
			t.Fatalf("a wrong code: %v", err)
		}
		ts.Clock.Add(16 * time.Minute) // past each lock short of the cap
	}
	c = newClient(t, ts.URL())
	c.signIn("ned")
	r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	if !strings.Contains(r.body, "Too many wrong codes") {
		t.Fatalf("a code after 20 wrong ones: %d: %s", r.status, pageError(r.body))
	}
	for _, page := range []reply{r, c.get("/login/verify"), c.get("/login/verify?method=sms"), c.get("/login/verify?method=totp")} {
		if strings.Contains(page.body, `id="use-sms"`) || strings.Contains(page.body, `id="use-totp"`) || strings.Contains(page.body, "Text me a code") ||
			strings.Contains(page.body, "Enter your code") || strings.Contains(page.body, "Get a code by text message") {
			t.Errorf("at the hard cap, %s offers a code: %s", page.url, pageError(page.body))
		}
		if !strings.Contains(page.body, `name="method" value="recovery_code"`) && !strings.Contains(page.body, `id="use-recovery_code"`) {
			t.Errorf("at the hard cap, %s does not offer a recovery code", page.url)
		}
	}
	if r := c.get("/login/verify"); !strings.Contains(r.body, `id="codes-refused"`) {
		t.Error("the second step after the cap does not say codes are refused")
	}
}
