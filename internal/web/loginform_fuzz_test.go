package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzLoginForm posts any fields to the pages' second step (POST
// /login/verify) from a browser that signed in with alice's password and
// holds her login's cookie, with its form token (unless the form sends its
// own); alice has an authenticator app (Phone), recovery codes, a paper
// key and an SSH key. Whatever the form:
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
// /login/verify/challenge.txt). Alice's counters are cleared before each
// form; after a sign-in the next form goes to a new login, a step later.
// On SQLite; FuzzLoginFormPostgres is the same on PostgreSQL.
func FuzzLoginForm(f *testing.F) { loginForm(f, testenv.SQLiteDSN(f)) }

// FuzzLoginFormPostgres is FuzzLoginForm on PostgreSQL.
func FuzzLoginFormPostgres(f *testing.F) { loginForm(f, testenv.PostgresDSN(f)) }

func loginForm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	ts := testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(&logs),
		func(c *config.Config) { c.LoginRate = 0 }) // no per-address bucket: every form is answered
	ctx := context.Background()
	k := accountWithKeys(f, ts, "alice")
	alice, err := ts.Store.AccountByUsername(ctx, "alice")
	if err != nil {
		f.Fatal(err)
	}
	factors, err := ts.Store.Factors(ctx, alice.ID)
	if err != nil || len(factors) != 1 {
		f.Fatalf("alice's factors: %v, %v", factors, err)
	}
	phone := testenv.NewApp(f, factors[0].ID, k.secret)
	phone.Last = uint64(ts.Clock.Now().Unix()/30) - 1 // the confirming code's step
	alices := newProofs(k, phone)
	c := newClient(f, ts.URL())
	signInWithApp(f, c, ts, phone)
	kp := testenv.SSHKeygen(f, "ed25519", 0)
	addSSHKey(f, ts, sessionCookie(f, c), kp)
	snaps := testenv.OpenSnapshots(f, dsn)

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
		"method=recovery_code&code=@recovery@",
		"method=recovery_code&code=+3.+@recovery@%0A",
		"method=recovery_code&code=@spent@",
		"method=totp&code=@recovery@",
		"method=paper_key&code=@paper@",
		"method=recovery_code&code=@paper@",
		"method=push",
		"method=ssh_key&signature=@sig@",
		"method=ssh_key&signature=-----BEGIN+SSH+SIGNATURE-----",
		"method=webauthn&credential=%7B%7D",
		"method=webauthn",
		"code=@code@",
		"method=totp&code=@code@&code=000000",
		"method=totp&code=@code@&factor_id=@phone@",
		"csrf=x&method=totp&code=@code@",
		"",
	} {
		f.Add(form)
	}

	used := true // the login was spent: the next form needs a new one
	f.Fuzz(func(t *testing.T, form string) {
		if used {
			ts.Clock.Add(30 * time.Second) // a new step: the last one may be spent
			// What lapsed as the clock moved goes now, not in the
			// server's next sweep while a form is judged.
			if err := ts.Service.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			c = newClient(t, ts.URL())
			if r := c.signIn("alice"); r.url.Path != "/login/verify" {
				t.Fatalf("alice's password: at %s: %s", r.url, pageError(r.body))
			}
			used, alices.sig = false, ""
		}
		c.t = t
		if strings.Contains(form, "@sig@") && alices.sig == "" {
			c.post("/login/verify/ssh", url.Values{})
			ch := c.get("/login/verify/challenge.txt")
			if ch.status != 200 {
				t.Fatalf("the login's SSH challenge: %d %s", ch.status, pageError(ch.body))
			}
			alices.sig = testenv.SSHSign(t, kp.File, sshkey.Namespace, ch.body)
		}
		now := ts.Clock.Now()
		form = alices.replace(form, now, c.csrf)
		for _, prefix := range []string{"2fa:" + alice.ID + ":", "recovery-failures:" + alice.ID} {
			if _, err := ts.Store.ResetThrottlePrefix(ctx, prefix); err != nil {
				t.Fatal(err)
			}
		}
		login := jarValue(t, c, "/login", "twofold_login")
		if login == "" || jarValue(t, c, "/", "twofold_session") != "" {
			t.Fatal("the browser holds no login, or a session already")
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
		r := c.do(testenv.NewRequest(t, "POST", ts.URL()+"/login/verify", form, h))
		newLog := logs.String()[logged:]
		if r.status >= 500 {
			t.Fatalf("%q: %d %s", form, r.status, pageError(r.body))
		}
		sent, parseErr := url.ParseQuery(form)
		alices.checkShown(t, form, r.status, r.body, newLog, now)

		if token := jarValue(t, c, "/", "twofold_session"); token != "" {
			used = true
			if parseErr != nil {
				t.Fatalf("%q: signed in with a form that does not parse: %v", form, parseErr)
			}
			alices.passed(t, form, sent.Get("method"), sent.Get("code"), "", sent.Get("signature"), now)
			a, err := ts.Service.Authenticate(ctx, token)
			if err != nil || a.Account.ID != alice.ID {
				t.Fatalf("%q: signed in, but the session is not alice's (%v)", form, err)
			}
			if jarValue(t, c, "/login", "twofold_login") != "" {
				t.Fatalf("%q: signed in, but the browser still holds the login's cookie", form)
			}
			if base, _ := url.Parse(ts.URL()); r.url.Host != base.Host {
				t.Fatalf("%q: signed in, and sent to %s", form, r.url)
			}
			if len(alices.recovery) < 4 { // a new set, by the session just made
				if alices.recovery, err = ts.Service.RegenerateRecoveryCodes(ctx, a, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			return
		}
		if r.status < 400 {
			t.Fatalf("%q: neither signed in nor refused: %d at %s: %s", form, r.status, r.url, pageError(r.body))
		}
		if got := jarValue(t, c, "/login", "twofold_login"); got != login {
			t.Fatalf("%q: refused (%d), but the login's cookie went from %q to %q", form, r.status, login, got)
		}
		checkCounted(t, ts, alice.ID, form, r.status, r.body, sent.Get("method"), "")
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("%q: refused (%d %s), but the database changed:\n%s", form, r.status, pageError(r.body), d)
		}
	})
}
