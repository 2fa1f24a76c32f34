package web_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzAdminUserForm posts any form to the operator's page that makes an
// account (POST /admin/users) from the browsers of formHolders, where
// alice is an operator (her elevated browser, her never elevated one) and
// bob is not. Whatever the form:
//
//   - the answer is never a server error;
//   - an account is made only with the browser's CSRF token, from alice's
//     browser with an elevated session or fields that confirm it's her
//     with her app's code not used before, with the password typed twice
//     alike; then it is the only account made, it has the form's username
//     and address as typed and is no operator's, the form's password signs
//     it in, and the browser is on its page, told so;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent, nor the new
//     account's password, comes back in the page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace). An account made is deleted, and its name freed,
// before the next form. The who byte picks the browser. On SQLite;
// FuzzAdminUserFormPostgres is the same on PostgreSQL.
func FuzzAdminUserForm(f *testing.F) { adminUserForm(f, testenv.SQLiteDSN(f)) }

// FuzzAdminUserFormPostgres is FuzzAdminUserForm on PostgreSQL.
func FuzzAdminUserFormPostgres(f *testing.F) { adminUserForm(f, testenv.PostgresDSN(f)) }

func adminUserForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	operator := func(t testing.TB) {
		testenv.Exec(t, dsn, fmt.Sprintf(`UPDATE accounts SET operator = TRUE WHERE id = '%s'`, hs.list[0].id))
	}
	operator(f)
	const pw = "a+far+better+secret+93"

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw, 0},
		{"username=erin&email=&password=" + pw + "&password2=" + pw, 0},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw, 1},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw + "&elevate_method=totp&elevate_code=@next@", 1},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw, 2},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=x" + pw, 0},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw + "&operator=1", 0},
		{"username=+erin&email=erin%40example.com&password=" + pw + "&password2=" + pw, 0},
		{"username=ERIN&email=erin%40example.com&password=" + pw + "&password2=" + pw, 0},
		{"username=bob1&email=erin%40example.com&password=" + pw + "&password2=" + pw, 0},
		{"username=erin&email=erin&password=" + pw + "&password2=" + pw, 0},
		{"username=erin&email=erin%40example.com&password=short&password2=short", 0},
		{"username=erin&email=erin%40example.com&password=erin&password2=erin", 0},
		{"username=erin&email=erin%40example.com&password=@alicepw@&password2=@alicepw@", 0},
		{"username=erin&email=erin%40example.com&password=" + pw + "&password2=" + pw + "&csrf=x", 0},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		if made := hs.ready(t); made[0] {
			operator(t)
		}
		h, c, caller := hs.browser(who)
		form = hs.replace(form, c, ts.Clock.Now())
		// The passwords the form sends, but those the page holds anyway
		// (a word of its own, the username or address typed, which come
		// back in their fields).
		var typed []string
		if v, err := url.ParseQuery(form); err == nil {
			page := c.get("/admin/users").body
			for _, pw := range v["password"] {
				if !testenv.HoldsWord(page, pw) && !strings.Contains(v.Get("username"), pw) && !strings.Contains(v.Get("email"), pw) {
					typed = append(typed, pw)
				}
			}
		}
		p := hs.post(t, "/admin/users", form, who, typed...)
		var made []string
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			if strings.HasPrefix(l, "+ accounts: id=") {
				id, _, _ := strings.Cut(strings.TrimPrefix(l, "+ accounts: id="), " ")
				if id != hs.list[0].id && id != hs.list[1].id {
					made = append(made, id)
				}
			}
		}
		if len(made) == 0 {
			hs.refused(t, p, "")
			return
		}
		a, err := ts.Store.AccountByID(ctx, made[0])
		if err != nil {
			t.Fatal(err)
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%q by %d: %d accounts made (%s, %s), but %s", form, caller, len(made), a.Username, a.Email, fmt.Sprintf(format, args...))
		}
		switch {
		case len(made) > 1:
			fail("one form makes one")
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			fail("the form has another CSRF token")
		case h != hs.list[0]:
			fail("the browser's account is no operator's")
		case p.sent.Get("password") != p.sent.Get("password2"):
			fail("the two passwords differ")
		case a.Username != p.sent.Get("username") || a.Email != p.sent.Get("email"):
			fail("the form says %q, %q", p.sent.Get("username"), p.sent.Get("email"))
		case a.Operator:
			fail("it is an operator's")
		case p.r.url.Path != "/admin/users/"+a.ID || p.r.url.Query().Get("m") != "account_created":
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		hs.mayAct(t, p, "an account made")
		if _, err := ts.Service.Login(ctx, a.Username, p.sent.Get("password"), core.Meta{}); err != nil {
			fail("the form's password does not sign it in: %v", err)
		}
		// Deleted with what it holds, and its name freed for the next form.
		if err := ts.Store.DeleteAccount(ctx, a.ID, ts.Clock.Now()); err != nil {
			t.Fatal(err)
		}
		testenv.Exec(t, dsn, fmt.Sprintf(`DELETE FROM deleted_accounts WHERE account_id = '%s'`, a.ID))
	})
}
