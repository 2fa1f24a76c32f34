package web_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCloseForm posts any form to the page that closes the browser's
// account for good (POST /settings/security/close) from one of three
// browsers: alice's signed in with her app, so elevated; another of
// hers, signed in before she added the app, so never elevated (its form
// may confirm it's her with the "confirm it's you" fields); and bob's (no
// authenticator, nothing to confirm). alice and bob have passwords of
// their own. Whatever the form:
//
//   - the answer is never a server error;
//   - an account is closed only by a browser of its own, with the
//     browser's CSRF token and the account's password, and, for alice's,
//     an elevated session or fields that confirm it's her with her app's
//     code, not used before; then the browser is signed out and lands on
//     the sign-in page that says the account is closed, none of the
//     account's browsers signs in any more, and the other account is
//     untouched;
//   - otherwise no page says an account was closed, and the database is as
//     it was (testenv.Snapshot), but for the session and the app of
//     alice's unelevated browser when its fields confirmed it's her (the
//     session elevated under a new cookie, the code used up);
//   - no password and no code of alice's app that the form sent comes back
//     in the page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace); a form without csrf gets the browser's own. The
// accounts are formHolders': an account closed, or whose
// browser the form elevated, is made anew under a new name (a closed
// account's name stays taken) with its browsers, before the next form;
// every counter is cleared before each form, so that a wrong password
// never locks the next out. The who byte picks the browser (mod 3:
// alice's elevated, alice's other, bob's). On SQLite;
// FuzzCloseFormPostgres is the same on PostgreSQL.
func FuzzCloseForm(f *testing.F) { closeForm(f, testenv.SQLiteDSN(f)) }

// FuzzCloseFormPostgres is FuzzCloseForm on PostgreSQL.
func FuzzCloseFormPostgres(f *testing.F) { closeForm(f, testenv.PostgresDSN(f)) }

func closeForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ctx := context.Background()

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"current_password=@alicepw@", 0},
		{"current_password=@alicepw@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@code@", 1},
		{"current_password=@alicepw@&elevate_code=@next@", 1},
		{"current_password=nope&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=nope&elevate_method=totp&elevate_code=@code@", 1},
		{"current_password=@alicepw@&elevate_method=totp&elevate_code=@last@", 1},
		{"current_password=@alicepw@&elevate_method=recovery_code&elevate_code=@code@", 1},
		{"current_password=@bobpw@", 2},
		{"current_password=@bobpw@", 0},
		{"current_password=@alicepw@", 2},
		{"current_password=@bobpw@&elevate_method=totp&elevate_code=@code@", 2},
		{"current_password=+@alicepw@", 0},
		{"current_password=@alicepw@&current_password=nope", 0},
		{"current_password=nope&current_password=@alicepw@", 0},
		{"current_password=@alicepw@&csrf=x", 0},
		{"current_password=", 0},
		{"password=@alicepw@", 0},
		{"", 0},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		_, c, _ := hs.browser(who)
		form = hs.replace(form, c, hs.ts.Clock.Now())
		p := hs.post(t, "/settings/security/close", form, who)
		closedPage := p.r.url.Path == "/login" && (p.r.url.Query().Get("m") == "account_closed" || p.r.url.Query().Get("m") == "account_closed_mailed")

		gone := map[*formHolder]bool{}
		for _, x := range hs.list {
			_, err := hs.ts.Store.AccountByID(ctx, x.id)
			if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Fatal(err)
			}
			gone[x] = err != nil
		}
		h := p.h
		if gone[hs.list[0]] || gone[hs.list[1]] {
			switch {
			case !gone[h]:
				t.Fatalf("%q by %d: closed another account than the browser's", form, p.caller)
			case gone[hs.list[0]] && gone[hs.list[1]]:
				t.Fatalf("%q by %d: closed both accounts", form, p.caller)
			case p.sent.Get("current_password") != h.password:
				t.Fatalf("%q by %d: closed %s's account without its password", form, p.caller, h.name)
			case !closedPage || jarValue(t, c, "/", "twofold_session") != "":
				t.Fatalf("%q by %d: closed %s's account, but the browser, at %s (%d), was not signed out to the page that says so",
					form, p.caller, h.name, p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "closed "+h.name+"'s account")
			for _, x := range h.browsers {
				if k := jarValue(t, x, "/", "twofold_session"); k != "" && signsIn(hs.ts, k) {
					t.Fatalf("%q by %d: a browser of the account closed still signs in", form, p.caller)
				}
			}
			h.id = ""
			return
		}
		if closedPage {
			t.Fatalf("%q by %d: nothing was closed, but the browser is at %s", form, p.caller, p.r.url)
		}
		hs.refused(t, p, "")
	})
}
