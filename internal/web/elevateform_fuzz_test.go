package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
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
// In a form, @code@ and @prev@ stand for Phone's code of this step and of
// the one before, @wide@ for this step's in full-width digits with a
// no-break space, @last@ for Phone's code last used, @phone@ for its id,
// @recovery@ for a recovery code not used yet, @spent@ for the one used
// last, @paper@ for the paper key and @sig@ for the SSH key's signature of
// the session's challenge (asked for first). Alice's counters are cleared
// before each form. On SQLite; FuzzElevateFormPostgres is the same on
// PostgreSQL.
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
	team, err := ts.Service.CreateTeam(ctx, core.Auth{Account: alice}, "ops", core.Meta{})
	if err != nil {
		f.Fatal(err)
	}
	recovery := slices.Clone(k.codes)
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

	sig := ""           // the SSH key's signature of the session's challenge
	spent := "none yet" // the recovery code used last
	used := true        // the session is elevated: the next form needs it lapsed
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
			used, sig = false, ""
		}
		if strings.Contains(form, "@sig@") && sig == "" {
			a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
			if err != nil {
				t.Fatal(err)
			}
			ch, err := ts.Service.ChallengeElevationSSH(ctx, a)
			if err != nil {
				t.Fatal(err)
			}
			sig = testenv.SSHSign(t, kp.File, ch.Namespace, ch.Text)
		}
		now := ts.Clock.Now()
		esc := url.QueryEscape
		form = strings.NewReplacer("@code@", esc(phone.Code(now, 0)), "@prev@", esc(phone.Code(now, -1)),
			"@wide@", esc(testenv.Wide(phone.Code(now, 0))), "@last@", esc(phone.LastCode()), "@phone@", esc(phone.ID),
			"@recovery@", esc(recovery[0]), "@spent@", esc(spent), "@paper@", esc(k.paperKey),
			"@sig@", esc(sig)).Replace(form)
		if !strings.Contains(form, "csrf=") {
			form = strings.TrimPrefix(form+"&csrf="+c.csrf, "&")
		}
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

		// What the form could reveal: every proof of alice's it may hold.
		secrets := append([]string{k.paperKey}, recovery...)
		for d := int64(-testenv.TypedWindow); d <= testenv.TypedWindow; d++ {
			secrets = append(secrets, phone.Code(now, d))
		}
		for _, line := range strings.Split(sig, "\n") {
			if line != "" && !strings.HasPrefix(line, "-----") {
				secrets = append(secrets, line) // the form holds each line of the signature as it is
			}
		}
		var values []string
		for _, vs := range sent {
			values = append(values, vs...)
		}
		for _, sc := range secrets {
			asValue := slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, sc) })
			if asValue && testenv.HoldsWord(r.body, sc) {
				t.Fatalf("%q: the page (%d) holds a proof sent", form, r.status)
			}
			if (asValue || strings.Contains(form, sc)) && testenv.HoldsWord(newLog, sc) {
				t.Fatalf("%q: the log holds a proof sent:\n%s", form, newLog)
			}
		}

		if r.status == 200 && r.url.Path == "/settings/teams/"+team.ID && r.url.Query().Get("m") == "elevated" {
			used = true
			method, code := sent.Get("elevate_method"), sent.Get("elevate_code")
			if parseErr != nil {
				t.Fatalf("%q: passed a form that does not parse: %v", form, parseErr)
			}
			switch method {
			case "totp":
				if factor := sent.Get("elevate_factor"); factor != "" && factor != phone.ID || !phone.Spend(now, code) {
					t.Fatalf("%q: passed without a standing code of the app named", form)
				}
			case "recovery_code":
				i := slices.IndexFunc(recovery, func(k string) bool { return testenv.TypedKey(code, k) })
				if i < 0 {
					t.Fatalf("%q: passed without a recovery code not used yet", form)
				}
				spent = recovery[i]
				recovery = slices.Delete(recovery, i, i+1)
			case "paper_key":
				if !testenv.TypedKey(code, k.paperKey) {
					t.Fatalf("%q: passed without the paper key", form)
				}
			case "ssh_key":
				got, made := testenv.SignatureBytes(sent.Get("elevate_signature")), testenv.SignatureBytes(sig)
				if got == nil || string(got) != string(made) {
					t.Fatalf("%q: passed without the signature of the session's challenge", form)
				}
			default:
				t.Fatalf("%q: passed by method %q, which alice has no factor of", form, method)
			}
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
			if len(recovery) < 4 { // a new set, by the session just elevated
				a, err := ts.Service.Authenticate(ctx, renewed)
				if err != nil {
					t.Fatal(err)
				}
				if recovery, err = ts.Service.RegenerateRecoveryCodes(ctx, a, core.Meta{}); err != nil {
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
		wantCounted := 0
		if r.status == http.StatusUnauthorized && sent.Get("elevate_method") != "push" {
			wantCounted = 1
		}
		own, byFactor, counted := testenv.CountedFailures(t, ts, alice.ID)
		switch {
		case own != wantCounted:
			t.Fatalf("%q: refused (%d %s), counted on %d of alice's counters, want %d: %v", form, r.status, pageError(r.body), own, wantCounted, counted)
		case byFactor > 0 && (own == 0 || byFactor > 1 || sent.Get("elevate_factor") == ""):
			t.Fatalf("%q: refused (%d), counted on %d factors' counters: %v", form, r.status, byFactor, counted)
		}
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
	u, err := url.Parse(c.base)
	if err != nil {
		tb.Fatal(err)
	}
	for _, k := range c.http.Jar.Cookies(u) {
		if k.Name == "twofold_session" {
			return k.Value
		}
	}
	tb.Fatal("the browser holds no session cookie")
	return ""
}

// signsIn reports whether the session token is a live session's, as the
// core reads it: a browser's request with the token a session had just
// before its renewal would end the session (core.EndLostRenewal).
func signsIn(ts *testenv.Server, token string) bool {
	_, err := ts.Service.Authenticate(context.Background(), token)
	return err == nil
}
