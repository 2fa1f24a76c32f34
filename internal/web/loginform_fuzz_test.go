package web_test

import (
	"context"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzLoginForm posts any fields to the pages' second step (POST
// /login/verify) from a browser that signed in with alice's password and
// holds her login's cookie, with its form token (unless the form sends its
// own); alice has an authenticator app (Phone), a phone that gets texted
// codes (Mobile), her address that gets mailed codes (Mailbox), a push
// device (Pocket), a security key (Yubi), recovery codes, a paper key and
// an SSH key. Whatever the form:
//
//   - the answer is never a server error;
//   - it signs in only for fields whose method and proof are one of
//     alice's that stands at that moment, as FuzzSecondStep in
//     internal/httpapi reads them (testenv.TypedKey); the browser then
//     holds a session of alice's and no longer the login's cookie, and it
//     lands on a page of this server;
//   - a refused proof (401) counts exactly one failure on one of alice's
//     counters (the form names no factor); a push not sent and any other
//     refusal count none;
//   - a refusal writes nothing (testenv.Snapshot), queues no mail, gives
//     no session and leaves the login's cookie as it was;
//   - no proof sent comes back in the page or goes to the log.
//
// In a form, placeholders stand for alice's proofs (proofs.replace); @sig@
// is the SSH key's signature of the login's challenge, asked for and
// fetched as the page does (POST /login/verify/ssh, GET
// /login/verify/challenge.txt), and @sms@ and @email@ the codes sent for
// it ("Send a code", POST /login/verify/send), @elsewhere@ a code mailed
// for another sign-in, which never passes this one; with @approved@ the
// browser has sent a push ("Send a push", POST /login/verify/push) that
// Pocket approved, and only then does method=push sign in, once;
// @assertion@ is Yubi's answer to the options the page's script asks for
// (POST /login/verify/webauthn), which signs in once, and
// @otherassertion@ its answer to another sign-in's, which never does. A
// refusal by webauthn may use up the step's ceremony (an answer Yubi
// signed does),
// and the next form asks anew. When a
// send limit refuses a code or a push, the clock moves past the wait and
// the form goes to a new login. Alice's counters are
// cleared before each form; after a sign-in the next form goes to a new
// login, a step later.
// On SQLite; FuzzLoginFormPostgres is the same on PostgreSQL.
func FuzzLoginForm(f *testing.F) { loginForm(f, testenv.SQLiteDSN(f)) }

// FuzzLoginFormPostgres is FuzzLoginForm on PostgreSQL.
func FuzzLoginFormPostgres(f *testing.F) { loginForm(f, testenv.PostgresDSN(f)) }

// pushNumber finds the number of the push sent on the second step's page.
var pushNumber = regexp.MustCompile(`id="push-number">([0-9]{2})<`)

func loginForm(f *testing.F, dsn string) {
	p := newPagesTarget(f, dsn)
	ts, alices := p.ts, p.alices
	ctx := context.Background()

	for _, form := range []string{
		"method=totp&code=@code@",
		"method=totp&code=@prev@",
		"method=totp&code=+@wide@+",
		"method=totp&code=@last@",
		"method=totp&code=@code@&next=%2Fsettings%2Fsessions",
		"method=totp&code=@code@&next=https%3A%2F%2Fevil.example%2F",
		"method=totp&code=@code@&next=%2F%2Fevil.example",
		"method=hotp&code=@code@",
		"method=sms&code=@code@",
		"method=email&code=@code@",
		"method=totp&code=@sms@",
		"method=sms&code=@code@",
		"method=sms&code=+@sms@+",
		"method=sms&code=@sms@&x=1",
		"method=totp&code=@email@",
		"method=email&code=@code@",
		"method=email&code=+@email@+",
		"method=email&code=@elsewhere@",
		"method=email&code=@elsewhere@&x=@email@",
		// Four more texts in a few minutes: the send limits refuse the
		// sixth.
		"method=sms&code=@sms@",
		"method=sms&code=@sms@+",
		"method=sms&code=+@sms@",
		"method=sms&code=%09@sms@",
		"method=recovery_code&code=@recovery@",
		"method=recovery_code&code=+3.+@recovery@%0A",
		"method=recovery_code&code=@spent@",
		"method=totp&code=@recovery@",
		"method=paper_key&code=@paper@",
		"method=recovery_code&code=@paper@",
		"method=push",
		"method=push@approved@",
		"method=push&number=42&label=Pocket@approved@",
		"method=totp&code=@code@@approved@",
		"method=push&code=@code@@approved@",
		"method=ssh_key&signature=@sig@",
		"method=ssh_key&signature=-----BEGIN+SSH+SIGNATURE-----",
		"method=webauthn&credential=%7B%7D",
		"method=webauthn",
		"method=webauthn&credential=@assertion@",
		"method=webauthn&credential=@otherassertion@",
		"method=webauthn&credential=@assertion@&code=@code@",
		"method=totp&code=@code@&credential=@assertion@",
		"method=webauthn&credential=@assertion@x",
		"method=webauthn&credential=@assertion@&credential=@otherassertion@",
		"code=@code@",
		"method=totp&code=@code@&code=000000",
		"method=totp&code=@code@&factor_id=@phone@",
		"csrf=x&method=totp&code=@code@",
		"",
	} {
		f.Add(form)
	}

	// newLogin signs in with alice's password from a new browser, a step
	// later.
	newLogin := func(t *testing.T) {
		p.sweep(t, 30*time.Second) // a new step: the last one may be spent
		p.c = newClient(t, ts.URL())
		if r := p.c.signIn("alice"); r.url.Path != "/login/verify" {
			t.Fatalf("alice's password: at %s: %s", r.url, pageError(r.body))
		}
		alices.sig = ""
		alices.forget()
	}
	used := true // the login was spent: the next form needs a new one
	f.Fuzz(func(t *testing.T, form string) {
		if used {
			newLogin(t)
			used = false
		}
		p.c.t = t
		button := func(sc *testenv.SentCode) func() (int, string, string) {
			return p.byButton("/login/verify/send", url.Values{"method": {sc.Method}, "factor_id": {sc.FactorID}})
		}
		number := func(r reply) string {
			if m := pushNumber.FindStringSubmatch(r.body); m != nil {
				return m[1]
			}
			return ""
		}
		for !p.sendCodes(t, form, testPassword, button) ||
			!p.approvePush(t, form, "/login/verify/push", url.Values{"factor_id": {alices.pocket}}, number) {
			newLogin(t)
			p.c.t = t
		}
		c := p.c
		p.askAssertions(t, form, testPassword, func() reply { return c.post("/login/verify/webauthn", url.Values{}) })
		if strings.Contains(form, "@sig@") && alices.sig == "" {
			c.post("/login/verify/ssh", url.Values{})
			ch := c.get("/login/verify/challenge.txt")
			if ch.status != 200 {
				t.Fatalf("the login's SSH challenge: %d %s", ch.status, pageError(ch.body))
			}
			alices.sig = testenv.SSHSign(t, p.kp.File, sshkey.Namespace, ch.body)
		}
		now := ts.Clock.Now()
		login := jarValue(t, c, "/login", "twofold_login")
		if login == "" || jarValue(t, c, "/", "twofold_session") != "" {
			t.Fatal("the browser holds no login, or a session already")
		}
		form, r, _, before := p.post(t, "/login/verify", form)
		sent, parseErr := url.ParseQuery(form)

		if token := jarValue(t, c, "/", "twofold_session"); token != "" {
			used = true
			if parseErr != nil {
				t.Fatalf("%q: signed in with a form that does not parse: %v", form, parseErr)
			}
			alices.passed(t, form, sent.Get("method"), sent.Get("code"), "", sent.Get("signature"), sent.Get("credential"), now)
			a, err := ts.Service.Authenticate(ctx, token)
			if err != nil || a.Account.ID != p.alice.ID {
				t.Fatalf("%q: signed in, but the session is not alice's (%v)", form, err)
			}
			if jarValue(t, c, "/login", "twofold_login") != "" {
				t.Fatalf("%q: signed in, but the browser still holds the login's cookie", form)
			}
			if base, _ := url.Parse(ts.URL()); r.url.Host != base.Host {
				t.Fatalf("%q: signed in, and sent to %s", form, r.url)
			}
			p.refillRecovery(t, token)
			return
		}
		if got := jarValue(t, c, "/login", "twofold_login"); got != login {
			t.Fatalf("%q: refused (%d), but the login's cookie went from %q to %q", form, r.status, login, got)
		}
		p.refused(t, form, r, sent.Get("method"), "", before)
	})
}
