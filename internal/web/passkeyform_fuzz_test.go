package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPasskeyForm posts any fields to the login page's "Sign in with a
// passkey" (POST /login/passkey) from a browser that began a sign-in
// there, as the page's script does (POST /login/passkey/options, whose
// cookie holds the sign-in), with its form token (unless the form sends
// its own). alice has a passkey (Phone) and a security key that keeps a
// resident credential and verifies its user but was enrolled plainly
// (Yubi: never a way in on its own); bob has a passkey (Laptop). Whatever
// the form:
//
//   - the answer is never a server error;
//   - it signs in only with a passkey's answer to the options of the
//     browser's sign-in (the same signature), once; the browser then holds
//     a session of the passkey holder's and no longer the sign-in's
//     cookie, and it lands on a page of this server;
//   - a refusal writes nothing (testenv.Snapshot) but the end of the
//     browser's sign-in, which any answer uses up (README "Passkeys"),
//     queues no mail and gives no session; it counts at most one failure,
//     on the counter of passkey sign-ins from its address and claimed
//     account, and only a 401 counts;
//   - neither the sign-in's id nor the session's token goes to the log.
//
// In a form, @alice@, @bob@ and @plain@ stand for the answers of Phone,
// Laptop and Yubi (JSON, escaped) to the options of the browser's
// sign-in, @otheralice@ for Phone's answer to another browser's, and
// @spent@ for the answer used last. Each answer is made afresh after a
// sign-in, so that every one a form holds moves its key's counter
// forward; passkey counters are cleared before each form. After a
// sign-in, the next form comes from a new browser; after a refusal that
// used the sign-in up, the browser begins another. On SQLite;
// FuzzPasskeyFormPostgres is the same on PostgreSQL.
func FuzzPasskeyForm(f *testing.F) { passkeyForm(f, testenv.SQLiteDSN(f)) }

// FuzzPasskeyFormPostgres is FuzzPasskeyForm on PostgreSQL.
func FuzzPasskeyFormPostgres(f *testing.F) { passkeyForm(f, testenv.PostgresDSN(f)) }

// formSignIn is a sign-in with a passkey a browser began.
type formSignIn struct {
	challenge string
	options   []byte
}

// formAnswer is a key's answer to a sign-in's options, as a
// FuzzPasskeyForm form may carry it.
type formAnswer struct {
	sent    testenv.SentAssertion
	key     *testenv.SecurityKey
	holder  string // the key's account's id
	passkey bool   // enrolled as a passkey: its answer may sign in
	other   bool   // to another browser's sign-in
	to      *formSignIn
}

func passkeyForm(f *testing.F, dsn string) {
	logs := &testenv.Buffer{}
	mb := testenv.NewSMTPServer(f)
	ts := testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(logs), mb.Option("Twofold <twofold@example.com>"),
		func(c *config.Config) { c.LoginRate = 0 }) // no per-address bucket: every form is answered
	alice, phone, yubi := passkeyHolder(f, ts, "alice", true)
	bob, laptop, _ := passkeyHolder(f, ts, "bob", false)
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, form := range []string{
		"credential=@alice@",
		"credential=@bob@",
		"credential=@plain@",
		"credential=@otheralice@",
		"credential=@spent@",
		"credential=@alice@&next=%2Fsettings%2Fsessions",
		"credential=@alice@&next=https%3A%2F%2Fevil.example%2F",
		"credential=@alice@&credential=@bob@",
		"credential=+@alice@",
		"credential=@alice@x",
		"credential=%7B%7D",
		"credential=",
		"csrf=x&credential=@alice@",
		"",
	} {
		f.Add(form)
	}

	var c *client                  // the browser
	var current, other *formSignIn // c's, and another browser's (never used)
	spent := "{}"
	answers := map[string]*formAnswer{
		"@alice@":      {key: phone, holder: alice, passkey: true},
		"@bob@":        {key: laptop, holder: bob, passkey: true},
		"@plain@":      {key: yubi, holder: alice},
		"@otheralice@": {key: phone, holder: alice, passkey: true, other: true},
	}
	names := []string{"@alice@", "@bob@", "@plain@", "@otheralice@"}
	begin := func(t *testing.T, c *client) *formSignIn {
		r := c.post("/login/passkey/options", url.Values{})
		var o struct {
			PublicKey struct {
				Challenge string `json:"challenge"`
			} `json:"publicKey"`
		}
		if err := json.Unmarshal([]byte(r.body), &o); r.status != http.StatusOK || err != nil || o.PublicKey.Challenge == "" {
			t.Fatalf("beginning a sign-in with a passkey: %d %s", r.status, r.body)
		}
		return &formSignIn{challenge: o.PublicKey.Challenge, options: []byte(r.body)}
	}
	f.Fuzz(func(t *testing.T, form string) {
		ctx := context.Background()
		if c == nil {
			c = newClient(t, ts.URL())
		}
		c.t = t
		if current == nil {
			current = begin(t, c)
		}
		if other == nil && strings.Contains(form, "@otheralice@") {
			other = begin(t, newClient(t, ts.URL()))
		}
		for _, name := range names {
			a := answers[name]
			to := current
			if a.other {
				to = other
			}
			if strings.Contains(form, name) && (a.sent.Credential == nil || a.to != to) {
				a.sent.Answer(t, a.key, to.options)
				a.to = to
			}
		}
		form = strings.ReplaceAll(form, "@spent@", url.QueryEscape(spent))
		for _, name := range names {
			form = strings.ReplaceAll(form, name, url.QueryEscape(string(answers[name].sent.Credential)))
		}
		if !strings.Contains(form, "csrf=") {
			form = strings.TrimPrefix(form+"&csrf="+c.csrf, "&")
		}
		signIn, _, _ := strings.Cut(jarValue(t, c, "/login", "twofold_passkey"), ".")
		if signIn == "" {
			t.Fatal("the browser holds no sign-in with a passkey")
		}

		if _, err := ts.Store.ResetThrottlePrefix(ctx, "passkey:"); err != nil {
			t.Fatal(err)
		}
		before := snaps.Take(t)
		logged := len(logs.String())
		h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}, "Origin": {ts.URL()}}
		r := c.do(testenv.NewRequest(t, "POST", ts.URL()+"/login/passkey", form, h))
		newLog := logs.String()[logged:]
		if r.status >= 500 {
			t.Fatalf("%q: %d %s", form, r.status, pageError(r.body))
		}
		if strings.Contains(newLog, signIn) {
			t.Fatalf("%q: the log holds the sign-in's id:\n%s", form, newLog)
		}
		sent, parseErr := url.ParseQuery(form)

		if token := jarValue(t, c, "/", "twofold_session"); token != "" {
			i := slices.IndexFunc(names, func(n string) bool {
				a := answers[n]
				return a.passkey && a.to == current && a.sent.Carried([]byte(sent.Get("credential")))
			})
			if parseErr != nil || i < 0 {
				t.Fatalf("%q: signed in without a passkey's answer to the options of the browser's sign-in (%v)", form, parseErr)
			}
			a, err := ts.Service.Authenticate(ctx, token)
			if err != nil || a.Account.ID != answers[names[i]].holder {
				t.Fatalf("%q: signed in, but the session is not the passkey holder's (%v)", form, err)
			}
			if strings.Contains(newLog, token) {
				t.Fatalf("%q: the log holds the session's token:\n%s", form, newLog)
			}
			if jarValue(t, c, "/login", "twofold_passkey") != "" {
				t.Fatalf("%q: signed in, but the browser still holds the sign-in's cookie", form)
			}
			if base, _ := url.Parse(ts.URL()); r.url.Host != base.Host {
				t.Fatalf("%q: signed in, and sent to %s", form, r.url)
			}
			spent = string(answers[names[i]].sent.Credential)
			// A new browser, and every answer made anew, after the counter
			// the sign-in stored: an older one would be a copied key's.
			c, current = nil, nil
			for _, a := range answers {
				a.sent.Credential = nil
			}
			return
		}

		if r.status < 400 {
			t.Fatalf("%q: neither signed in nor refused: %d at %s: %s", form, r.status, r.url, pageError(r.body))
		}
		if failures, counters := testenv.PasskeyFailures(t, ts); failures > 1 || failures == 1 && r.status != http.StatusUnauthorized {
			t.Fatalf("%q: refused %d, counted %d failures: %v", form, r.status, failures, counters)
		}
		d, _ := testenv.WithoutRowGone(before.Diff(snaps.Take(t)), "passkey_logins", "challenge", current.challenge)
		if d != "" {
			t.Fatalf("%q: refused (%d %s), but the database changed:\n%s", form, r.status, pageError(r.body), d)
		}
		if jarValue(t, c, "/login", "twofold_passkey") == "" {
			current = nil // the form used the sign-in up, or its cookie: the browser begins again
		}
	})
}

// passkeyHolder creates username with a passkey (Phone) through the core,
// and, with plain, a security key enrolled plainly (Yubi) that keeps a
// resident credential and verifies its user as a passkey would; it
// returns the account's id and the keys.
func passkeyHolder(tb testing.TB, ts *testenv.Server, username string, plain bool) (id string, phone, yubi *testenv.SecurityKey) {
	tb.Helper()
	ctx := context.Background()
	account(tb, ts, username, false, false)
	res, err := ts.Service.Login(ctx, username, testPassword, core.Meta{})
	if err != nil {
		tb.Fatal(err)
	}
	a, err := ts.Service.Authenticate(ctx, res.Token)
	if err != nil {
		tb.Fatal(err)
	}
	var codes []string // the recovery codes the first key brought
	add := func(f core.NewFactor) *testenv.SecurityKey {
		if codes != nil { // the first key ended the session's elevation
			if _, err := ts.Service.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: codes[0]}, core.Meta{}); err != nil {
				tb.Fatal(err)
			}
			if a, err = ts.Service.Authenticate(ctx, res.Token); err != nil {
				tb.Fatal(err)
			}
		}
		k := testenv.NewPasskey(tb, webauthnOrigin(ts))
		e, err := ts.Service.EnrolFactor(ctx, a, f, core.Meta{})
		if err != nil {
			tb.Fatal(err)
		}
		c, err := ts.Service.ConfirmSecurityKey(ctx, a, e.Factor.ID, k.Create(tb, e.Options), core.Meta{})
		if err != nil {
			tb.Fatal(err)
		}
		if codes == nil {
			codes = c.RecoveryCodes
		}
		return k
	}
	phone = add(core.NewFactor{Type: twofold.FactorWebAuthn, Label: "Phone", Passkey: true, Password: testPassword})
	if plain {
		yubi = add(core.NewFactor{Type: twofold.FactorWebAuthn, Label: "Yubi"})
	}
	return a.Account.ID, phone, yubi
}
