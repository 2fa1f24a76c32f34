package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzResetForm posts any fields to the pages' form for a new password
// (POST /new-password) from a browser that asked for a link to reset
// alice's password ("Forgot your password?") and opened the link mailed,
// with its form token (unless the form sends its own); alice has an
// authenticator app (Phone), a phone that gets texted codes (Mobile), her
// address that gets mailed codes (Mailbox), a push device (Pocket), a
// security key (Yubi), recovery codes, a paper key and an SSH key.
// Whatever the form:
//
//   - the answer is never a server error;
//   - it changes the password only with both password fields the same
//     and a proof of alice's that stands and a reset takes (an app's code,
//     a code texted for the link, a recovery code not used yet, the paper
//     key; never an SSH key, a push, a security key or a mailed code);
//     then the browser lands on the sign-in page without the link's
//     cookie, the old password no longer signs in and the new one does,
//     and the session from before the reset is ended;
//   - a refused proof (401) counts exactly one failure on one of alice's
//     counters (the form names no factor); any other refusal none;
//   - a refusal writes nothing (testenv.Snapshot), queues no mail and
//     leaves the link's cookie as it was;
//   - no proof sent, no password and not the link's token comes back in
//     the page or goes to the log.
//
// In a form, placeholders stand for alice's proofs (proofs.replace), and
// @newpass@ for a password that is not hers; @sms@ is a code texted by
// the page's "Send a code" (POST /new-password/send), and @email@ one
// mailed for another sign-in, as the page sends none; @assertion@ and
// @otherassertion@ are Yubi's answers to other sign-ins' options. Alice's
// counters are
// cleared before each form; after a reset the next form goes with a new
// link, the clock moved past the pace of links. On SQLite;
// FuzzResetFormPostgres is the same on PostgreSQL.
func FuzzResetForm(f *testing.F) { resetForm(f, testenv.SQLiteDSN(f)) }

// FuzzResetFormPostgres is FuzzResetForm on PostgreSQL.
func FuzzResetFormPostgres(f *testing.F) { resetForm(f, testenv.PostgresDSN(f)) }

func resetForm(f *testing.F, dsn string) {
	p := newPagesTarget(f, dsn)
	ts, alices, mb := p.ts, p.alices, p.mb
	alices.never = "email" // the link came by mail too
	for _, sc := range alices.codes {
		sc.Elsewhere = sc.Elsewhere || sc.Method == "email" // the page sends none: @email@ is mailed for a sign-in
	}
	for _, a := range alices.assertions {
		a.Elsewhere = true // the page asks for no key
	}
	ctx := context.Background()
	session := sessionCookie(f, p.c) // alice's session from before the next reset

	for _, form := range []string{
		"password=@newpass@&password2=@newpass@&method=totp&code=@code@",
		"password=@newpass@&password2=@newpass@&method=totp&code=@prev@",
		"password=@newpass@&password2=@newpass@&method=totp&code=+@wide@+",
		"password=@newpass@&password2=@newpass@&method=totp&code=@last@",
		"password=@newpass@&password2=@newpass@&code=@code@",
		"password=@newpass@&password2=@newpass@x&method=totp&code=@code@",
		"password=@newpass@&method=totp&code=@code@",
		"password=&password2=&method=totp&code=@code@",
		"password=short&password2=short&method=totp&code=@code@",
		"password=@newpass@&password2=@newpass@&method=hotp&code=@code@",
		"password=@newpass@&password2=@newpass@&method=sms&code=@code@",
		"password=@newpass@&password2=@newpass@&method=email&code=@code@",
		"password=@newpass@&password2=@newpass@&method=totp&code=@sms@",
		"password=@newpass@&password2=@newpass@&method=sms&code=@code@",
		"password=@newpass@&password2=@newpass@&method=sms&code=+@sms@+",
		"password=@newpass@&password2=@newpass@&method=email&code=@email@",
		"password=@newpass@&password2=@newpass@&method=totp&code=@email@",
		"password=@newpass@&password2=@newpass@&method=recovery_code&code=@recovery@",
		"password=@newpass@&password2=@newpass@&method=recovery_code&code=+3.+@recovery@%0A",
		"password=@newpass@&password2=@newpass@&method=recovery_code&code=@spent@",
		"password=@newpass@&password2=@newpass@&method=paper_key&code=@paper@",
		"password=@newpass@&password2=@newpass@&method=recovery_code&code=@paper@",
		"password=@newpass@&password2=@newpass@&method=push",
		"password=@newpass@&password2=@newpass@&method=ssh_key&signature=-----BEGIN+SSH+SIGNATURE-----",
		"password=@newpass@&password2=@newpass@&method=webauthn&credential=%7B%7D",
		"password=@newpass@&password2=@newpass@&method=webauthn&credential=@assertion@",
		"password=@newpass@&password2=@newpass@&method=totp&code=@code@&code=000000",
		"csrf=x&password=@newpass@&password2=@newpass@&method=totp&code=@code@",
		"",
	} {
		f.Add(form)
	}

	link := regexp.MustCompile(regexp.QuoteMeta(ts.BrowserURL()) + `(/password-reset/([a-z2-7]+\.[a-z2-7]+))\b`)
	pass := testPassword // alice's password
	newPass := resetPasswords[0]
	var token string // the link's
	used := true     // the link was used: the next form needs a new one
	// newLink asks for a link from a new browser and opens it, a step
	// and the pace of links later.
	newLink := func(t *testing.T) {
		p.sweep(t, 15*time.Minute+30*time.Second) // past the account's pace of links, and a new step
		p.c = newClient(t, ts.URL())
		seen := len(mb.Messages())
		if r := p.c.post("/password-reset", url.Values{"username": {"alice"}}); r.status != 200 {
			t.Fatalf("asking for a link: %d %s", r.status, pageError(r.body))
		}
		var path string
		for n := seen + 1; path == ""; n++ {
			for _, m := range mb.Wait(t, n, time.Minute)[seen:] {
				if l := link.FindStringSubmatch(mailBody(t, m)); l != nil && l[2] != token {
					path, token = l[1], l[2]
				}
			}
		}
		if r := p.c.get(path); r.status != 200 || r.url.Path != "/new-password" {
			t.Fatalf("the link: %d at %s: %s", r.status, r.url, pageError(r.body))
		}
		alices.forget()
	}
	f.Fuzz(func(t *testing.T, form string) {
		if used {
			newLink(t)
			used = false
		}
		p.c.t = t
		button := func(sc *testenv.SentCode) func() (int, string, string) {
			return p.byButton("/new-password/send", url.Values{"method": {sc.Method}, "factor_id": {sc.FactorID}})
		}
		for !p.sendCodes(t, form, pass, button) {
			newLink(t)
			p.c.t = t
		}
		p.askAssertions(t, form, pass, nil)
		c := p.c
		now := ts.Clock.Now()
		cookie := jarValue(t, c, "/new-password", "twofold_reset")
		if cookie == "" {
			t.Fatal("the browser holds no link")
		}
		form, r, newLog, before := p.post(t, "/new-password", strings.ReplaceAll(form, "@newpass@", url.QueryEscape(newPass)))
		sent, parseErr := url.ParseQuery(form)
		for _, sc := range []string{token, pass, newPass} {
			if testenv.HoldsWord(r.body, sc) || testenv.HoldsWord(newLog, sc) {
				t.Fatalf("%q: the page (%d) or the log holds the link's token or a password:\n%s", form, r.status, newLog)
			}
		}

		if r.status == 200 && r.url.Path == "/login" && r.url.Query().Get("m") == "password_reset" {
			used = true
			if parseErr != nil || sent.Get("password") != newPass || sent.Get("password2") != newPass {
				t.Fatalf("%q: reset, but not with the new password twice (%v)", form, parseErr)
			}
			alices.passed(t, form, sent.Get("method"), sent.Get("code"), "", sent.Get("signature"), sent.Get("credential"), now)
			if jarValue(t, c, "/new-password", "twofold_reset") != "" {
				t.Fatalf("%q: reset, but the browser still holds the link's cookie", form)
			}
			if _, err := ts.Service.Login(ctx, "alice", pass, core.Meta{}); err == nil {
				t.Fatalf("%q: reset, but the old password still signs in", form)
			}
			if signsIn(ts, session) {
				t.Fatalf("%q: reset, but the session from before it still works", form)
			}
			pass, newPass = newPass, pass
			if newPass == testPassword {
				newPass = resetPasswords[1]
			}
			session = signInWithPassword(t, ts, alices.phone, pass)
			p.refillRecovery(t, session)
			return
		}
		if r.status == http.StatusGone {
			t.Fatalf("%q: the link lapsed: %s", form, pageError(r.body))
		}
		if got := jarValue(t, c, "/new-password", "twofold_reset"); got != cookie {
			t.Fatalf("%q: refused (%d), but the link's cookie went from %q to %q", form, r.status, cookie, got)
		}
		p.refused(t, form, r, sent.Get("method"), "", before)
	})
}

// resetPasswords are what @newpass@ stands for in FuzzResetForm: never
// alice's password at the time, so that a reset always changes it.
var resetPasswords = [2]string{"tall horse battery staple", "quiet copper lantern river"}

// otherSignIn starts another sign-in of alice's with password pass over
// the API, and returns its login's id.
func otherSignIn(t *testing.T, ts *testenv.Server, pass string) string {
	t.Helper()
	r := testenv.NewClient(ts.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": pass})
	if r.Status != 200 || r.String("login_id") == "" {
		t.Fatalf("another sign-in: %d %s", r.Status, r.Body)
	}
	return r.String("login_id")
}

// otherSignInMail is a send of askCode that starts another sign-in of
// alice's with password pass and has it mail a code to the factor
// mailbox.
func otherSignInMail(t *testing.T, ts *testenv.Server, mailbox, pass string) func() (int, string, string) {
	return func() (int, string, string) {
		r := testenv.NewClient(ts.URL()).Do(t, "POST", "/v1/login/"+otherSignIn(t, ts, pass)+"/challenge",
			map[string]string{"method": "email", "factor_id": mailbox})
		return r.Status, r.Header.Get("Retry-After"), string(r.Body)
	}
}

// otherSignInOptions starts another sign-in of alice's with password pass
// and returns the security key options it gives.
func otherSignInOptions(t *testing.T, ts *testenv.Server, pass string) []byte {
	t.Helper()
	r := testenv.NewClient(ts.URL()).Do(t, "POST", "/v1/login/"+otherSignIn(t, ts, pass)+"/challenge", map[string]string{"method": "webauthn"})
	options, err := json.Marshal(r.JSON["options"])
	if r.Status != http.StatusOK || err != nil {
		t.Fatalf("another sign-in's security key options: %d %s", r.Status, r.Body)
	}
	return options
}

// signInWithPassword signs alice in through the core with password pass
// and app's code of now, the next step app has not used, and returns the
// session's token.
func signInWithPassword(t *testing.T, ts *testenv.Server, app *testenv.App, pass string) string {
	t.Helper()
	ctx := context.Background()
	res, err := ts.Service.Login(ctx, "alice", pass, core.Meta{})
	if err != nil || res.LoginID == "" {
		t.Fatalf("alice's password %q: %+v, %v", pass, res, err)
	}
	for !app.Spend(ts.Clock.Now(), app.Code(ts.Clock.Now(), 0)) {
		ts.Clock.Add(30 * time.Second)
	}
	v, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: "totp", Code: app.Code(ts.Clock.Now(), 0)}, core.Meta{})
	if err != nil {
		t.Fatalf("alice's second step: %v", err)
	}
	return v.Token
}
