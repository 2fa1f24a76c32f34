package web_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzElevateForm posts any "confirm it's you" fields to the form that does
// nothing else (POST /settings/teams/{id}/elevate), from a browser signed
// in as alice, with an authenticator app (Phone), a phone that gets texted
// codes (Mobile), her address that gets mailed codes (Mailbox), a push
// device (Pocket), a security key (Yubi), recovery codes, a paper key and
// an SSH key, whose
// session is not elevated, with its form token (unless the form sends its
// own). Whatever the form:
//
//   - the answer is never a server error;
//   - it passes (the team's page, "elevated") only for fields whose method
//     and proof are one of alice's that stands at that moment, as
//     FuzzSecondStep in internal/httpapi reads them (testenv.TypedKey);
//     then the session is elevated until ten minutes from now under a new
//     cookie, and the cookie it had no longer signs in anyone;
//   - a refused proof (401) counts exactly one failure on one of alice's
//     counters, and one more on a factor's own only when the form names a
//     factor; a push not sent and any other refusal count none;
//   - a refusal writes nothing (testenv.Snapshot), queues no mail and
//     leaves the browser's cookie working;
//   - no proof sent comes back in the page or goes to the log.
//
// In a form, placeholders stand for alice's proofs (proofs.replace); @sig@
// is the SSH key's signature of the session's challenge (asked for first)
// and @sms@ and @email@ codes sent by the fields' "Send a code",
// @elsewhere@ a code mailed for a sign-in, which never confirms it's
// alice here; with @approved@ the browser has sent a push by their "Send
// a push" (POST /settings/security/elevate/push) that Pocket approved,
// and only then does "I approved it" (elevate_method=push with
// elevate_push) pass, once; @assertion@ is Yubi's answer to the options
// the fields' script asks for (POST /settings/security/elevate/webauthn),
// which passes once, and @otherassertion@ its answer to a sign-in's, which
// never does; a refusal by webauthn may use up the session's ceremony (an
// answer Yubi signed does). When a send limit refuses a code or a push,
// the clock moves past the wait and to a new step. Alice's counters are
// cleared before each form. On SQLite; FuzzElevateFormPostgres is the
// same on PostgreSQL.
func FuzzElevateForm(f *testing.F) { elevateForm(f, testenv.SQLiteDSN(f)) }

// FuzzElevateFormPostgres is FuzzElevateForm on PostgreSQL.
func FuzzElevateFormPostgres(f *testing.F) { elevateForm(f, testenv.PostgresDSN(f)) }

func elevateForm(f *testing.F, dsn string) {
	p := newPagesTarget(f, dsn)
	ts, c, alices := p.ts, p.c, p.alices
	ctx := context.Background()
	team, err := ts.Service.CreateTeam(ctx, core.Auth{Account: p.alice}, "ops", core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	path := "/settings/teams/" + team.ID + "/elevate"

	for _, form := range []string{
		"elevate_method=totp&elevate_code=@code@",
		"elevate_method=totp&elevate_code=@prev@&elevate_factor=@phone@",
		"elevate_method=totp&elevate_code=@code@&elevate_factor=nope",
		"elevate_method=totp&elevate_code=+@wide@+",
		"elevate_method=totp&elevate_code=@last@",
		"elevate_method=hotp&elevate_code=@code@",
		"elevate_method=sms&elevate_code=@code@",
		"elevate_method=email&elevate_code=@code@",
		"elevate_method=totp&elevate_code=@sms@",
		"elevate_method=sms&elevate_code=@code@&elevate_factor=@mobile@",
		"elevate_method=sms&elevate_code=+@sms@+",
		"elevate_method=sms&elevate_code=@sms@&elevate_factor=@mobile@",
		"elevate_method=totp&elevate_code=@email@",
		"elevate_method=email&elevate_code=@code@&elevate_factor=@mailbox@",
		"elevate_method=email&elevate_code=+@email@+",
		"elevate_method=email&elevate_code=@elsewhere@",
		"elevate_method=email&elevate_code=@elsewhere@&x=@email@",
		"elevate_method=recovery_code&elevate_code=@recovery@",
		"elevate_method=recovery_code&elevate_code=+3.+@recovery@%0A",
		"elevate_method=recovery_code&elevate_code=@spent@",
		"elevate_method=totp&elevate_code=@recovery@",
		"elevate_method=paper_key&elevate_code=@paper@",
		"elevate_method=recovery_code&elevate_code=@paper@",
		"elevate_method=push&elevate_push=1",
		"elevate_method=push&elevate_push=1@approved@",
		"elevate_method=push&elevate_push=1&elevate_factor=@phone@@approved@",
		"elevate_method=push@approved@",
		"elevate_method=totp&elevate_code=@code@@approved@",
		"elevate_method=ssh_key&elevate_signature=@sig@",
		"elevate_method=ssh_key&elevate_signature=-----BEGIN+SSH+SIGNATURE-----",
		"elevate_method=webauthn&elevate_credential=%7B%7D",
		"elevate_method=webauthn&elevate_credential=@assertion@",
		"elevate_method=webauthn&elevate_credential=@assertion@&elevate_factor=@yubi@",
		"elevate_method=webauthn&elevate_credential=@assertion@&elevate_factor=@phone@",
		"elevate_method=webauthn&elevate_credential=@otherassertion@",
		"elevate_method=totp&elevate_code=@code@&elevate_credential=@assertion@",
		"elevate_method=webauthn&elevate_credential=@assertion@&elevate_code=@code@",
		"elevate_code=@code@",
		"elevate_method=totp&elevate_code=@code@&elevate_code=000000",
		"csrf=x&elevate_method=totp&elevate_code=@code@",
		"",
	} {
		f.Add(form)
	}

	signedIn := ts.Clock.Now()
	// newStep lets the session's elevation lapse, and signs in again
	// when the session grows old.
	newStep := func(t *testing.T) {
		p.sweep(t, core.DefaultConfig().ElevationTTL+time.Second)
		if ts.Clock.Now().Sub(signedIn) > 11*time.Hour {
			signInWithApp(t, c, ts, alices.phone)
			p.sweep(t, core.DefaultConfig().ElevationTTL+time.Second)
			signedIn = ts.Clock.Now()
		}
		alices.sig = ""
		alices.forget()
	}
	used := true // the session is elevated: the next form needs it lapsed
	f.Fuzz(func(t *testing.T, form string) {
		c.t = t
		if used {
			newStep(t)
			used = false
		}
		button := func(sc *testenv.SentCode) func() (int, string, string) {
			return p.byButton("/settings/security/elevate/send", url.Values{"elevate_method": {sc.Method}, "elevate_factor": {sc.FactorID}})
		}
		number := func(reply) string {
			// The number, before the push's secret, in the cookie that
			// binds both to the session.
			n, _, _ := strings.Cut(jarValue(t, c, "/", "twofold_push"), ".")
			return n
		}
		pushAsk := url.Values{"elevate_method": {"push"}, "elevate_factor": {alices.pocket}, "return": {"/settings/teams/" + team.ID}}
		for !p.sendCodes(t, form, testPassword, button) || !p.approvePush(t, form, "/settings/security/elevate/push", pushAsk, number) {
			newStep(t)
		}
		p.askAssertions(t, form, testPassword, func() reply { return c.post("/settings/security/elevate/webauthn", url.Values{}) })
		if strings.Contains(form, "@sig@") && alices.sig == "" {
			a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := ts.Service.ChallengeElevationSSH(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			alices.sig = testenv.SSHSign(t, p.kp.File, ch.Namespace, ch.Text)
		}
		now := ts.Clock.Now()
		cookie := sessionCookie(t, c)
		form, r, _, before := p.post(t, path, form)
		sent, parseErr := url.ParseQuery(form)

		if r.status == 200 && r.url.Path == "/settings/teams/"+team.ID && r.url.Query().Get("m") == "elevated" {
			used = true
			if parseErr != nil {
				t.Fatalf("%q: passed a form that does not parse: %v", form, parseErr)
			}
			alices.passed(t, form, sent.Get("elevate_method"), sent.Get("elevate_code"), sent.Get("elevate_factor"),
				sent.Get("elevate_signature"), sent.Get("elevate_credential"), now)
			renewed := sessionCookie(t, c)
			id, _, _ := strings.Cut(renewed, ".")
			if old, _, _ := strings.Cut(cookie, "."); renewed == cookie || id != old {
				t.Fatalf("%q: elevated, but the session's cookie went from %q to %q", form, cookie, renewed)
			}
			if s, err := ts.Store.Session(ctx, id, ts.Clock.Now()); err != nil || !s.ElevatedUntil.Equal(now.Add(core.DefaultConfig().ElevationTTL)) {
				t.Fatalf("%q: elevated, but the session is elevated until %v (%v)", form, s.ElevatedUntil, err)
			}
			if signsIn(ts, cookie) || !signsIn(ts, renewed) {
				t.Fatalf("%q: after the elevation the old cookie signs in, or the new one does not", form)
			}
			p.refillRecovery(t, renewed)
			return
		}
		if got := sessionCookie(t, c); got != cookie || !signsIn(ts, cookie) {
			t.Fatalf("%q: refused (%d), but the browser's cookie went from %q to %q, or no longer signs in", form, r.status, cookie, got)
		}
		p.refused(t, form, r, sent.Get("elevate_method"), sent.Get("elevate_factor"), before)
	})
}

// signInWithApp signs c in as alice with her password and app's code of
// now, the next step app has not used.
func signInWithApp(tb testing.TB, c *client, ts *testenv.Server, app *testenv.App) {
	tb.Helper()
	c.signIn("alice")
	for !app.Spend(ts.Clock.Now(), app.Code(ts.Clock.Now(), 0)) {
		ts.Clock.Add(30 * time.Second)
	}
	r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {app.Code(ts.Clock.Now(), 0)}})
	if r.url.Path != "/settings/security" {
		tb.Fatalf("alice's second step: at %s: %s", r.url, pageError(r.body))
	}
}

// addSSHKey adds kp's public key to the account of the session token and
// confirms it with its signature, through the core.
func addSSHKey(tb testing.TB, ts *testenv.Server, token string, kp testenv.SSHKeyPair) {
	tb.Helper()
	ctx := context.Background()
	a, err := ts.Service.Authenticate(ctx, token)
	if err != nil {
		tb.Fatal(err)
	}
	e, err := ts.Service.AddSSHKey(ctx, a, "Laptop", kp.Public, core.Meta{})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := ts.Service.ConfirmSSHKey(ctx, a, e.Key.ID, testenv.SSHSign(tb, kp.File, e.Challenge.Namespace, e.Challenge.Text), core.Meta{}); err != nil {
		tb.Fatal(err)
	}
}

// sessionCookie is the session token c holds.
func sessionCookie(tb testing.TB, c *client) string {
	tb.Helper()
	token := jarValue(tb, c, "/", "twofold_session")
	if token == "" {
		tb.Fatal("the browser holds no session cookie")
	}
	return token
}

// signsIn reports whether the session token is a live session's, as the
// core reads it: a browser's request with the token a session had just
// before its renewal would end the session (core.EndLostRenewal).
func signsIn(ts *testenv.Server, token string) bool {
	_, err := ts.Service.Authenticate(context.Background(), token)
	return err == nil
}
