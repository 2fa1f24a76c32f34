package web_test

import (
	"context"
	"encoding/base32"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	twofold "github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzConfirmForm posts any form to the pages that confirm an
// authenticator being set up, POST /settings/security/totp/{id}/confirm
// (an app or a hardware token) and POST
// /settings/security/sent/{id}/confirm (a phone or an address), with any
// id, from one of three browsers: the one of alice's that started setting
// up four authenticators (an app, Laptop; a hardware token, Token; a phone
// that gets texted codes, Text, through a test gateway; her address, Mail,
// through a test SMTP server), another of alice's, and bob's, which
// started setting up an app of his, his first. Both of alice's are
// elevated (she signed in with her app, Phone), so the forms' "confirm
// it's you" fields are not read. Whatever the form:
//
//   - the answer is never a server error;
//   - an authenticator becomes active only when the id names one of the
//     browser's account's waiting to be confirmed, the browser's session
//     set it up, the form carries the browser's own CSRF token, its
//     one-time token is either absent or one made for this session's
//     confirm forms and not used before, and its code is one of that very
//     authenticator as people type it (an app's within the server's window
//     of steps around now, a token's within its look-ahead, the code last
//     texted or mailed to it while it has checks left); then only it is
//     active, and the page says it was added (alice's) or shows the
//     recovery codes of a first authenticator (bob's);
//   - otherwise nothing says an authenticator was added, and the database
//     is as it was (testenv.Snapshot) but for one check taken from the
//     code sent to the texted or mailed one the id names, when its
//     browser sent the form; at most one failure is counted, on the
//     browser's account's own counters;
//   - no code that would confirm an authenticator comes back in the page
//     when the form sent it, or goes to the log.
//
// In an id, @totp@, @hotp@, @sms@ and @email@ stand for alice's waiting
// authenticators' ids, @bobs@ for bob's, @active@ for Phone's. In a
// form, @totpcode@, @totpprev@ and @totpfar@ stand for Laptop's code of
// this step, of the one before and of the one before that, @hotpcode@
// and @hotpahead@ for Token's first code and its eighth, @textcode@ and
// @mailcode@ for the codes texted to Text and mailed to Mail, @activecode@
// for Phone's code of this step, @bobcode@ for the code of bob's app;
// @once@ for a one-time token made for the browser's session's confirm
// forms, @otheronce@ for one made for another session's, @spentonce@ for
// the one the last form that confirmed something carried. A form without
// csrf gets the browser's own. The page byte picks the page (even: an
// app's, odd: a phone's), the who byte the browser (mod 3: alice's that
// set up, alice's other, bob's). An authenticator confirmed is removed and
// set up anew for the next form, and a code sent is sent again before it
// runs out of checks. Every counter of both accounts is cleared before
// each form. On SQLite; FuzzConfirmFormPostgres is the same on
// PostgreSQL.
func FuzzConfirmForm(f *testing.F) { confirmForm(f, testenv.SQLiteDSN(f)) }

// FuzzConfirmFormPostgres is FuzzConfirmForm on PostgreSQL.
func FuzzConfirmFormPostgres(f *testing.F) { confirmForm(f, testenv.PostgresDSN(f)) }

// settingUp is an authenticator a FuzzConfirmForm browser set up and has
// not confirmed.
type settingUp struct {
	placeholder string         // what stands for its id
	owner       int            // the index of the browser that set it up
	setup       core.NewFactor // what it was set up as
	id          string         // "" until set up, and once confirmed
	secret      []byte         // an app's or a token's
	code        string         // the code texted or mailed to it last
	checks      int            // the checks refusals took from code
}

func confirmForm(f *testing.F, dsn string) {
	var logs testenv.Buffer
	g, mb := testenv.NewSMSGateway(f), testenv.NewSMTPServer(f)
	ts := testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(&logs), g.Option(), mb.Option("Twofold <twofold@example.com>"),
		func(c *config.Config) { c.LoginRate = 0 })
	ctx := context.Background()
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: testPassword}, core.Meta{}); err != nil {
		f.Fatal(err)
	}
	k := enrolPhone(f, ts, "alice")
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: "bob", Password: testPassword}, core.Meta{}); err != nil {
		f.Fatal(err)
	}
	var accounts []string
	for _, name := range []string{"alice", "bob"} {
		a, err := ts.Store.AccountByUsername(ctx, name)
		if err != nil {
			f.Fatal(err)
		}
		accounts = append(accounts, a.ID)
	}
	factors, err := ts.Store.Factors(ctx, accounts[0])
	if err != nil || len(factors) != 1 {
		f.Fatalf("alice's factors: %v, %v", factors, err)
	}
	phone := testenv.NewApp(f, factors[0].ID, k.secret)
	phone.Last = uint64(ts.Clock.Now().Unix()/30) - 1 // the confirming code's step
	browsers := []*client{newClient(f, ts.URL()), newClient(f, ts.URL()), newClient(f, ts.URL())}
	signInWithApp(f, browsers[0], ts, phone)
	signInWithApp(f, browsers[1], ts, phone)
	if r := browsers[2].signIn("bob"); r.url.Path != "/settings/security" {
		f.Fatalf("bob's sign-in: at %s: %s", r.url, pageError(r.body))
	}
	account := func(who int) string { return accounts[who/2] } // browsers 0 and 1 are alice's
	auth := func(t testing.TB, who int) core.Auth {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, browsers[who]))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	waiting := []*settingUp{
		{placeholder: "@totp@", setup: core.NewFactor{Type: twofold.FactorTOTP, Label: "Laptop"}},
		{placeholder: "@hotp@", setup: core.NewFactor{Type: twofold.FactorHOTP, Label: "Token"}},
		{placeholder: "@sms@", setup: core.NewFactor{Type: twofold.FactorSMS, Phone: mobileNumber, Label: "Text"}},
		{placeholder: "@email@", setup: core.NewFactor{Type: twofold.FactorEmail, Label: "Mail"}},
		{placeholder: "@bobs@", owner: 2, setup: core.NewFactor{Type: twofold.FactorTOTP, Label: "Bob's phone"}},
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	for _, in := range []struct {
		page     uint8
		id, form string
		who      uint8
	}{
		{0, "@totp@", "code=@totpcode@&once=@once@", 0},
		{0, "@totp@", "code=@totpcode@", 0},
		{0, "@totp@", "code=@totpprev@", 0},
		{0, "@totp@", "code=@totpfar@", 0},
		{0, "@totp@", "code=+@totpcode@+", 0},
		{0, "@totp@", "code=@activecode@", 0},
		{0, "@totp@", "code=@totpcode@&once=@once@", 1},
		{0, "@totp@", "code=@totpcode@", 2},
		{0, "@totp@", "code=@totpcode@&once=@otheronce@", 0},
		{0, "@totp@", "code=@totpcode@&once=@spentonce@", 0},
		{0, "@totp@", "code=@totpcode@&csrf=x", 0},
		{0, "@totp@", "code=@totpcode@&csrf=", 0},
		{0, "@bobs@", "code=@bobcode@&once=@once@", 2},
		{0, "@bobs@", "code=@bobcode@", 0},
		{0, "@hotp@", "code=@hotpcode@&once=@once@", 0},
		{0, "@hotp@", "code=@hotpahead@", 0},
		{0, "@hotp@", "code=@totpcode@", 0},
		{1, "@sms@", "code=@textcode@&once=@once@", 0},
		{1, "@sms@", "code=@mailcode@", 0},
		{1, "@sms@", "code=@textcode@", 1},
		{1, "@email@", "code=@mailcode@&once=@once@", 0},
		{1, "@email@", "code=@textcode@", 0},
		{1, "@email@", "code=@mailcode@", 2},
		{0, "@sms@", "code=@textcode@", 0},
		{1, "@totp@", "code=@totpcode@", 0},
		{0, "@active@", "code=@activecode@", 0},
		{0, "@totp@", "code=", 0},
		{0, "@totp@", "code=@totpcode@&code=000000", 0},
		{0, "@totp@", "code=000000&code=@totpcode@", 0},
		{0, "@totp@", "elevate_method=totp&elevate_code=@activecode@&code=@totpcode@", 0},
		{0, "@totp@", "", 0},
		{0, "@totp@x", "code=@totpcode@", 0},
		{0, "@totp@/..", "code=@totpcode@", 0},
		{0, "%40totp%40", "code=@totpcode@", 0},
	} {
		f.Add(in.page, in.id, in.form, in.who)
	}

	// clearSendLimits lets a code be sent whatever was sent before: the
	// send limits are the subject of other tests.
	clearSendLimits := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'send:%'`)
	}
	// sent reads the code last delivered to w, mail after the seen-th.
	sent := func(t testing.TB, w *settingUp, seen int) {
		if w.setup.Type == twofold.FactorSMS {
			w.code = g.LastCode(t, mobileNumber)
		} else {
			w.code = mb.CodeAfter(t, seen)
		}
		w.checks = 0
	}
	start := func(t testing.TB, w *settingUp) {
		clearSendLimits(t)
		seen := len(mb.Messages())
		e, err := ts.Service.EnrolFactor(ctx, auth(t, w.owner), w.setup, core.Meta{})
		if err != nil {
			t.Fatalf("set up %s: %v", w.setup.Label, err)
		}
		w.id = e.Factor.ID
		if w.setup.Type.SendsCodes() {
			sent(t, w, seen)
			return
		}
		if w.secret, err = base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(e.Secret)); err != nil {
			t.Fatalf("set up %s: a secret that is not base32: %v", w.setup.Label, err)
		}
	}
	resend := func(t testing.TB, w *settingUp) {
		clearSendLimits(t)
		seen := len(mb.Messages())
		if _, err := ts.Service.ResendConfirmation(ctx, auth(t, w.owner), w.id, "", core.Meta{}); err != nil {
			t.Fatalf("send %s's code again: %v", w.setup.Label, err)
		}
		sent(t, w, seen)
	}
	statuses := func(t testing.TB) []twofold.FactorStatus {
		var s []twofold.FactorStatus
		for _, w := range waiting {
			got, err := ts.Store.Factor(ctx, accounts[w.owner/2], w.id)
			if err != nil {
				t.Fatalf("%s: %v", w.setup.Label, err)
			}
			s = append(s, got.Status)
		}
		return s
	}
	spentOnce := "none yet"
	f.Fuzz(func(t *testing.T, page uint8, id, form string, who uint8) {
		for _, c := range browsers {
			c.t = t
		}
		for _, w := range waiting {
			if w.id == "" {
				start(t, w)
			} else if w.setup.Type.SendsCodes() && w.checks >= 3 {
				resend(t, w)
			}
		}
		caller := int(who % 3)
		c := browsers[caller]
		byName := map[string]*settingUp{}
		for _, w := range waiting {
			byName[w.placeholder] = w
		}
		now := ts.Clock.Now()
		app := func(w *settingUp, d int64) string {
			return otp.TOTP(w.secret, now.Add(time.Duration(d)*30*time.Second), otp.DefaultParams())
		}
		once, err := ts.Service.NewFormToken(auth(t, caller), core.FormConfirm)
		if err != nil {
			t.Fatal(err)
		}
		otherOnce, err := ts.Service.NewFormToken(auth(t, (caller+1)%2), core.FormConfirm) // alice's other, or alice's for bob
		if err != nil {
			t.Fatal(err)
		}
		esc := url.QueryEscape
		id = strings.NewReplacer("@totp@", byName["@totp@"].id, "@hotp@", byName["@hotp@"].id, "@sms@", byName["@sms@"].id,
			"@email@", byName["@email@"].id, "@bobs@", byName["@bobs@"].id, "@active@", phone.ID).Replace(id)
		form = strings.NewReplacer("@totpcode@", app(byName["@totp@"], 0), "@totpprev@", app(byName["@totp@"], -1),
			"@totpfar@", app(byName["@totp@"], -2),
			"@hotpcode@", otp.HOTP(byName["@hotp@"].secret, 0, otp.SHA1, 6), "@hotpahead@", otp.HOTP(byName["@hotp@"].secret, 7, otp.SHA1, 6),
			"@textcode@", esc(byName["@sms@"].code), "@mailcode@", esc(byName["@email@"].code),
			"@activecode@", phone.Code(now, 0), "@bobcode@", app(byName["@bobs@"], 0),
			"@once@", esc(once), "@otheronce@", esc(otherOnce), "@spentonce@", esc(spentOnce)).Replace(form)
		if !strings.Contains(form, "csrf=") {
			form = strings.TrimPrefix(form+"&csrf="+esc(c.csrf), "&")
		}
		kind := "/settings/security/totp/"
		if page%2 == 1 {
			kind = "/settings/security/sent/"
		}
		req, err := http.NewRequest("POST", ts.URL()+kind+id+"/confirm", strings.NewReader(form))
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Origin", ts.URL())
		named := servedID(req.URL, kind, "/confirm")

		for _, a := range accounts {
			if _, err := ts.Store.ResetThrottlePrefix(ctx, "2fa:"+a+":"); err != nil {
				t.Fatal(err)
			}
		}
		var passing []string // every code that would confirm an authenticator now
		for _, w := range waiting {
			passing = append(passing, testenv.ConfirmingCodes(w.setup.Type, w.secret, w.code, now,
				int64(core.DefaultConfig().TOTPWindow), core.HOTPLookAhead)...)
		}
		before, was := snaps.Take(t), statuses(t)
		logged := len(logs.String())
		r := c.do(req)
		newLog := logs.String()[logged:]
		if r.status >= 500 {
			t.Fatalf("%s %q: %d %s", kind+id, form, r.status, pageError(r.body))
		}
		sentForm, parseErr := url.ParseQuery(form)
		var values []string
		for _, vs := range sentForm {
			values = append(values, vs...)
		}
		for _, code := range passing {
			if code == "" {
				continue
			}
			if testenv.HoldsWord(newLog, code) {
				t.Fatalf("%s %q: a code that confirms an authenticator is in the log:\n%s", kind+id, form, newLog)
			}
			if slices.ContainsFunc(values, func(v string) bool { return strings.Contains(v, code) }) && testenv.HoldsWord(r.body, code) {
				t.Fatalf("%s %q: the page (%d) holds a code the form sent", kind+id, form, r.status)
			}
		}
		added := r.url.Path == "/settings/security" && r.url.Query().Get("m") == "factor_added" ||
			strings.Contains(r.body, `id="recovery-codes"`)

		now = ts.Clock.Now()
		got := statuses(t)
		i := slices.IndexFunc(waiting, func(w *settingUp) bool { return w.id == named })
		if !slices.Equal(got, was) {
			switch {
			case i < 0:
				t.Fatalf("%s %q: confirmed what the id does not name: %v", kind+id, form, got)
			case parseErr != nil:
				t.Fatalf("%s %q: confirmed by a form that does not parse: %v", kind+id, form, parseErr)
			}
			w := waiting[i]
			for j, s := range got {
				if want := was[j]; j == i && s != twofold.FactorActive || j != i && s != want {
					t.Fatalf("%s %q: confirming %s, %s went from %q to %q", kind+id, form, w.setup.Label, waiting[j].setup.Label, want, s)
				}
			}
			if caller != w.owner {
				t.Fatalf("%s %q: %s confirmed by a browser that did not set it up (%d)", kind+id, form, w.setup.Label, caller)
			}
			if sentForm.Get("csrf") != c.csrf {
				t.Fatalf("%s %q: %s confirmed by a form with another CSRF token", kind+id, form, w.setup.Label)
			}
			if o := sentForm.Get("once"); o != "" && o != once {
				t.Fatalf("%s %q: %s confirmed by a form whose one-time token is not a new one of this session's", kind+id, form, w.setup.Label)
			}
			if !w.passes(sentForm.Get("code"), now) {
				t.Fatalf("%s %q: %s confirmed without a code of its own", kind+id, form, w.setup.Label)
			}
			if !added {
				t.Fatalf("%s %q: %s confirmed, but the page (%d at %s) does not say so: %s", kind+id, form, w.setup.Label, r.status, r.url, pageError(r.body))
			}
			if o := sentForm.Get("once"); o != "" {
				spentOnce = o
			}
			// Room for the next: the authenticator goes, and the next
			// form finds another set up.
			if err := ts.Service.DeleteFactor(ctx, auth(t, w.owner), w.id, core.Meta{}); err != nil {
				t.Fatalf("removing %s: %v", w.setup.Label, err)
			}
			w.id, w.code = "", ""
			return
		}
		if added {
			t.Fatalf("%s %q: nothing was confirmed, but the page (%d at %s) says it was", kind+id, form, r.status, r.url)
		}
		for _, a := range accounts {
			own, byFactor, counted := testenv.CountedFailures(t, ts, a)
			if n := own + byFactor; n > 1 || n > 0 && a != account(caller) {
				t.Fatalf("%s %q: refused (%d), counted failures on %s's counters: %v (the browser's account is %s)", kind+id, form, r.status, a, counted, account(caller))
			}
		}
		d := before.Diff(snaps.Take(t))
		if i >= 0 && waiting[i].setup.Type.SendsCodes() && caller == waiting[i].owner {
			if rest := testenv.WithoutChecksTaken(d); rest != d {
				d = rest
				waiting[i].checks++
			}
		}
		if d != "" {
			t.Fatalf("%s %q: refused (%d %s), but the database changed:\n%s", kind+id, form, r.status, pageError(r.body), d)
		}
	})
}

// passes reports whether typed, as people type codes, is a code that
// confirms w at now.
func (w *settingUp) passes(typed string, now time.Time) bool {
	return testenv.ConfirmsFactor(w.setup.Type, w.secret, w.code, w.checks, typed, now, int64(core.DefaultConfig().TOTPWindow), core.HOTPLookAhead)
}

// servedID is the id in the path at which the server serves a request for
// u (testenv.ServedPath) between prefix and suffix, unescaped, or "" when
// that path is not of that shape.
func servedID(u *url.URL, prefix, suffix string) string {
	p, ok := strings.CutPrefix(testenv.ServedPath(u), prefix)
	escaped, found := strings.CutSuffix(p, suffix)
	if !ok || !found || strings.Contains(escaped, "/") {
		return ""
	}
	id, _ := url.PathUnescape(escaped)
	return id
}
