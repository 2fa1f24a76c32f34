package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	twofold "github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzResendForm posts any form to the page's button that sends a new code
// to an address being set up as an authenticator (POST
// /settings/security/sent/{id}/resend), with any id, from the browsers of
// formHolders (alice's elevated, alice's never elevated, bob's, who has no
// authenticator). alice's elevated browser and bob's each began setting
// up their account's address, through a test SMTP server. Whatever the
// form:
//
//   - the answer is never a server error;
//   - a code is sent again only with the browser's CSRF token, for the
//     address the path names that the browser's own session began setting
//     up, by alice's with an elevated session (bob needs none); then every
//     row that changed is the account's or the address's, the browser
//     goes back to the page that asks for the code, told it was sent, a
//     new code is mailed, and it confirms the address while the code
//     before no longer does;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In the id, @mail@, @bobmail@ and @app@ stand for alice's address being
// set up, bob's, and alice's app; in the form, placeholders for the
// passwords and alice's app's codes (formHolders.replace). An account whose
// address got a new code is made anew. The who byte picks the browser. A
// path the mux cleans to another form's route is skipped (servedSegments).
// On SQLite; FuzzResendFormPostgres is the same on PostgreSQL.
func FuzzResendForm(f *testing.F) { resendForm(f, testenv.SQLiteDSN(f)) }

// FuzzResendFormPostgres is FuzzResendForm on PostgreSQL.
func FuzzResendFormPostgres(f *testing.F) { resendForm(f, testenv.PostgresDSN(f)) }

func resendForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const prefix = "/settings/security/sent/"
	type settingUpMail struct{ id, code string }
	mails := make([]settingUpMail, len(hs.list)) // alice's, bob's
	auth := func(t testing.TB, c *client) core.Auth {
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
		if err != nil {
			t.Fatal(err)
		}
		return a
	}
	// start has the first browser of account i begin setting up its
	// address, and reads the code mailed there.
	start := func(t testing.TB, i int) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // send limits are another test's
		seen := len(hs.mb.Messages())
		e, err := ts.Service.EnrolFactor(ctx, auth(t, hs.list[i].browsers[0]), core.NewFactor{Type: twofold.FactorEmail, Label: "Mail"}, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		mails[i] = settingUpMail{id: e.Factor.ID, code: hs.mb.CodeAfter(t, seen)}
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
		{"@mail@", "", 1},
		{"@mail@", "elevate_method=totp&elevate_code=@next@", 1},
		{"@mail@", "", 2},
		{"@bobmail@", "", 2},
		{"@bobmail@", "", 0},
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
		id = strings.NewReplacer("@mail@", mails[0].id, "@bobmail@", mails[1].id, "@app@", alice.app.ID).Replace(id)
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
		seen := len(hs.mb.Messages())
		p := hs.post(t, path, form, who)
		did, _ := hs.changed(t, p)
		fail := hs.judge(t, p, path, did)
		if fail == nil {
			return // refused, and nothing written
		}
		i := 0
		if h != alice {
			i = 1
		}
		switch {
		case served[0] != mails[i].id:
			fail("the path names no address the browser's account is setting up")
		case c != h.browsers[0]:
			fail("the browser did not begin setting the address up")
		case p.r.url.Path != prefix+mails[i].id || p.r.url.Query().Get("m") != "code_sent":
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		hs.mayAct(t, p, "a code sent again")
		for _, l := range did {
			if !strings.Contains(l, h.id) && !strings.Contains(l, mails[i].id) && !strings.HasPrefix(l, "+ mail queued") {
				fail("a row not of the browser's account changed: %s", l)
			}
		}
		code := hs.mb.CodeAfter(t, seen)
		a := auth(t, c)
		if _, err := ts.Service.ConfirmFactor(ctx, a, mails[i].id, mails[i].code, core.Meta{}); err == nil {
			fail("the code before still confirms the address")
		}
		if _, err := ts.Service.ConfirmFactor(ctx, a, mails[i].id, code, core.Meta{}); err != nil {
			fail("the new code does not confirm the address: %v", err)
		}
		h.id = "" // made anew for the next form
	})
}
