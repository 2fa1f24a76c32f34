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
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzElevateForm posts any "confirm it's you" fields to the form that does
// nothing else (POST /settings/teams/{id}/elevate), from a browser signed
// in as alice, with an authenticator app (Phone), recovery codes, a paper
// key and an SSH key, whose session is not elevated, with its form token
// (unless the form sends its own). Whatever the form:
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
// is the SSH key's signature of the session's challenge (asked for first).
// Alice's counters are cleared before each form. On SQLite;
// FuzzElevateFormPostgres is the same on PostgreSQL.
func FuzzElevateForm(f *testing.F) { elevateForm(f, testenv.SQLiteDSN(f)) }

// FuzzElevateFormPostgres is FuzzElevateForm on PostgreSQL.
func FuzzElevateFormPostgres(f *testing.F) { elevateForm(f, testenv.PostgresDSN(f)) }

func elevateForm(f *testing.F, dsn string) {
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
	team, err := ts.Service.CreateTeam(ctx, core.Auth{Account: alice}, "ops", core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	c := newClient(f, ts.URL())
	signInWithApp(f, c, ts, phone)
	kp := testenv.SSHKeygen(f, "ed25519", 0)
	addSSHKey(f, ts, sessionCookie(f, c), kp)
	path := "/settings/teams/" + team.ID + "/elevate"
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, form := range []string{
		"elevate_method=totp&elevate_code=@code@",
		"elevate_method=totp&elevate_code=@prev@&elevate_factor=@phone@",
		"elevate_method=totp&elevate_code=@code@&elevate_factor=nope",
		"elevate_method=totp&elevate_code=+@wide@+",
		"elevate_method=totp&elevate_code=@last@",
		"elevate_method=hotp&elevate_code=@code@",
		"elevate_method=sms&elevate_code=@code@",
		"elevate_method=email&elevate_code=@code@",
		"elevate_method=recovery_code&elevate_code=@recovery@",
		"elevate_method=recovery_code&elevate_code=+3.+@recovery@%0A",
		"elevate_method=recovery_code&elevate_code=@spent@",
		"elevate_method=totp&elevate_code=@recovery@",
		"elevate_method=paper_key&elevate_code=@paper@",
		"elevate_method=recovery_code&elevate_code=@paper@",
		"elevate_method=push&elevate_push=1",
		"elevate_method=ssh_key&elevate_signature=@sig@",
		"elevate_method=ssh_key&elevate_signature=-----BEGIN+SSH+SIGNATURE-----",
		"elevate_method=webauthn&elevate_credential=%7B%7D",
		"elevate_code=@code@",
		"elevate_method=totp&elevate_code=@code@&elevate_code=000000",
		"csrf=x&elevate_method=totp&elevate_code=@code@",
		"",
	} {
		f.Add(form)
	}

	used := true // the session is elevated: the next form needs it lapsed
	signedIn := ts.Clock.Now()
	f.Fuzz(func(t *testing.T, form string) {
		c.t = t
		if used {
			ts.Clock.Add(core.DefaultConfig().ElevationTTL + time.Second)
			if ts.Clock.Now().Sub(signedIn) > 11*time.Hour {
				signInWithApp(t, c, ts, phone)
				ts.Clock.Add(core.DefaultConfig().ElevationTTL + time.Second)
				signedIn = ts.Clock.Now()
			}
			// What lapsed as the clock moved goes now, not in the
			// server's next sweep while a form is judged.
			if err := ts.Service.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			used, alices.sig = false, ""
		}
		if strings.Contains(form, "@sig@") && alices.sig == "" {
			a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := ts.Service.ChallengeElevationSSH(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			alices.sig = testenv.SSHSign(t, kp.File, ch.Namespace, ch.Text)
		}
		now := ts.Clock.Now()
		form = alices.replace(form, now, c.csrf)
		for _, prefix := range []string{"2fa:" + alice.ID + ":", "recovery-failures:" + alice.ID} {
			if _, err := ts.Store.ResetThrottlePrefix(ctx, prefix); err != nil {
				t.Fatal(err)
			}
		}
		cookie := sessionCookie(t, c)
		before := snaps.Take(t)
		logged := len(logs.String())
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
		r := c.do(testenv.NewRequest(t, "POST", ts.URL()+path, form, h))
		newLog := logs.String()[logged:]
		if r.status >= 500 {
			t.Fatalf("%q: %d %s", form, r.status, pageError(r.body))
		}
		sent, parseErr := url.ParseQuery(form)
		alices.checkShown(t, form, r.status, r.body, newLog, now)

		if r.status == 200 && r.url.Path == "/settings/teams/"+team.ID && r.url.Query().Get("m") == "elevated" {
			used = true
			if parseErr != nil {
				t.Fatalf("%q: passed a form that does not parse: %v", form, parseErr)
			}
			alices.passed(t, form, sent.Get("elevate_method"), sent.Get("elevate_code"), sent.Get("elevate_factor"),
				sent.Get("elevate_signature"), now)
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
			if len(alices.recovery) < 4 { // a new set, by the session just elevated
				a, err := ts.Service.Authenticate(ctx, renewed)
				if err != nil {
					t.Fatal(err)
				}
				if alices.recovery, err = ts.Service.RegenerateRecoveryCodes(ctx, a, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			return
		}
		if r.status < 400 {
			t.Fatalf("%q: neither elevated nor refused: %d at %s", form, r.status, r.url)
		}

		if got := sessionCookie(t, c); got != cookie || !signsIn(ts, cookie) {
			t.Fatalf("%q: refused (%d), but the browser's cookie went from %q to %q, or no longer signs in", form, r.status, cookie, got)
		}
		checkCounted(t, ts, alice.ID, form, r.status, r.body, sent.Get("elevate_method"), sent.Get("elevate_factor"))
		if d := before.Diff(snaps.Take(t)); d != "" {
			t.Fatalf("%q: refused (%d %s), but the database changed:\n%s", form, r.status, pageError(r.body), d)
		}
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
