package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	twofold "github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzResendForm posts any form to the page's button that sends a new code
// to an address or a phone being set up as an authenticator (POST
// /settings/security/sent/{id}/resend), with any id, from the browsers of
// formHolders (alice's elevated, alice's never elevated, bob's, who has no
// authenticator). alice's elevated browser and bob's each began setting
// up their account's address, through a test SMTP server, and a phone of
// their own, through a test SMS gateway. Whatever the form:
//
//   - the answer is never a server error;
//   - a code is sent again only with the browser's CSRF token, for the
//     address or phone the path names that the browser's own session
//     began setting up, by alice's with an elevated session (bob needs
//     none); then every row that changed is the account's or the
//     authenticator's, the browser goes back to the page that asks for the
//     code, told it was sent, a new code goes to that address or phone and
//     nowhere else, and it confirms the authenticator while the code
//     before no longer does;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff), no code is sent, and the browser is not
//     told one was (formHolders.judge);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In the id, @mail@, @bobmail@, @phone@, @bobphone@ and @app@ stand for
// alice's address and phone being set up, bob's, and alice's app; in the
// form, placeholders for the passwords and alice's app's codes
// (formHolders.replace). An account whose authenticator got a new code is
// made anew. The who byte picks the browser. A path the mux cleans to
// another form's route is skipped (servedSegments). On SQLite;
// FuzzResendFormPostgres is the same on PostgreSQL.
func FuzzResendForm(f *testing.F) { resendForm(f, testenv.SQLiteDSN(f)) }

// FuzzResendFormPostgres is FuzzResendForm on PostgreSQL.
func FuzzResendFormPostgres(f *testing.F) { resendForm(f, testenv.PostgresDSN(f)) }

func resendForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const prefix = "/settings/security/sent/"
	// settingUp is an authenticator being set up: to is a phone's number,
	// "" for an address.
	type settingUp struct{ id, code, to string }
	phones := []string{"+447400123401", "+447400123402"}
	waiting := make([][]settingUp, len(hs.list)) // alice's, bob's: the address, the phone
	auth := func(t testing.TB, c *client) core.Auth {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// start has the first browser of account i begin setting up its
	// address and a phone, and reads the codes sent there.
	start := func(t testing.TB, i int) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // send limits are another test's
		a := auth(t, hs.list[i].browsers[0])
		seen := len(hs.mb.Messages())
		e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorEmail, Label: "Mail"}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		mail := settingUp{id: e.Factor.ID, code: hs.mb.CodeAfter(t, seen)}
		if e, err = ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorSMS, Label: "Mobile", Phone: phones[i]}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		waiting[i] = []settingUp{mail, {id: e.Factor.ID, code: hs.sms.LastCode(t, phones[i]), to: phones[i]}}
		ts.Service.Wait()
	}
	for i := range hs.list {
		start(f, i)
	}

	for _, in := range []struct {
		id, form string
		who      uint8
	}{
		{"@mail@", "", 0},
		{"@phone@", "", 0},
		{"@mail@", "", 1},
		{"@phone@", "", 1},
		{"@mail@", "elevate_method=totp&elevate_code=@next@", 1},
		{"@mail@", "", 2},
		{"@bobmail@", "", 2},
		{"@bobmail@", "", 0},
		{"@bobphone@", "", 2},
		{"@bobphone@", "", 0},
		{"@phone@", "", 2},
		{"@app@", "", 0},
		{"@mail@", "csrf=x", 0},
		{"@mail@x", "", 0},
		{"@mail@/..", "", 0},
	} {
		f.Add(in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, id, form string, who uint8) {
		for i, made := range hs.ready(t) {
			if made {
				start(t, i)
			}
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`)
		h, c, _ := hs.browser(who)
		alice := hs.list[0]
		id = strings.NewReplacer("@mail@", waiting[0][0].id, "@bobmail@", waiting[1][0].id,
			"@phone@", waiting[0][1].id, "@bobphone@", waiting[1][1].id, "@app@", alice.app.ID).Replace(id)
		path := prefix + id + "/resend"
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		served := servedSegments(req.URL, prefix, "", "resend")
		if served == nil {
			return // another form's (a path cleaned to another route)
		}
		form = hs.replace(form, c, ts.Clock.Now())
		mailed, texted := len(hs.mb.Messages()), len(hs.sms.Messages())
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		fail := hs.judge(t, p, path, did)
		newTexts := hs.sms.Messages()[texted:]
		if fail == nil {
			if len(newTexts) > 0 {
				t.Fatalf("%s %q by %d: refused, but a text went to %s", path, form, who, newTexts[0].To)
			}
			return // refused, and nothing written
		}
		i := 0
		if h != alice {
			i = 1
		}
		k := slices.IndexFunc(waiting[i], func(w settingUp) bool { return w.id == served[0] })
		switch {
		case k < 0:
			fail("the path names nothing the browser's account is setting up")
		case c != h.browsers[0]:
			fail("the browser did not begin setting it up")
		case p.r.url.Path != prefix+served[0] || p.r.url.Query().Get("m") != "code_sent":
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		w := waiting[i][k]
		hs.mayAct(t, p, "a code sent again")
		for _, l := range did {
			if !strings.Contains(l, h.id) && !strings.Contains(l, w.id) && (w.to != "" || !strings.HasPrefix(l, "+ mail queued")) {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		var code string
		if w.to == "" {
			code = hs.mb.CodeAfter(t, mailed)
			if len(newTexts) > 0 {
				fail("a new code for the address, and a text to %s", newTexts[0].To)
			}
		} else {
			if len(newTexts) != 1 || newTexts[0].To != w.to {
				fail("a new code for the phone, and %d texts: %+v", len(newTexts), newTexts)
			}
			code = hs.sms.LastCode(t, w.to)
		}
		a := auth(t, c)
		if _, err := ts.Service.ConfirmFactor(ctx, a, w.id, w.code, core.Meta{}); err == nil {
			fail("the code before still confirms it")
		}
		if _, err := ts.Service.ConfirmFactor(ctx, a, w.id, code, core.Meta{}); err != nil {
			fail("the new code does not confirm it: %v", err)
		}
		h.id = "" // made anew for the next form
	})
}
