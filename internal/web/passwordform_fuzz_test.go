package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzPasswordForm posts any form to the page that changes the browser's
// account's password (POST /settings/security/password: the current
// password, the new one twice, and the "confirm it's you" fields) from the
// browsers of formHolders (alice's elevated, alice's never elevated,
// bob's). Whatever the form:
//
//   - the answer is never a server error;
//   - a password changes only for the browser's own account, with the
//     browser's CSRF token, the account's current password, the same new
//     password twice, and for alice's an elevated session or fields that
//     confirm it's her with her app's code not used before; then the new
//     password signs in and the old one no longer does, the browser goes
//     on signed in under a new cookie to the page that says so, the
//     account's other browsers are signed out, and the other account is
//     untouched;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff), and no mail goes;
//   - no password, new or current, and no code of alice's app that the
//     form sent comes back in the page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace), @newpw@ for a new password nobody has had. An
// account whose password changed is made anew with its browsers before the
// next form, and every counter is cleared before each. The who byte picks
// the browser. On SQLite; FuzzPasswordFormPostgres is the same on
// PostgreSQL.
func FuzzPasswordForm(f *testing.F) { passwordForm(f, testenv.SQLiteDSN(f)) }

// FuzzPasswordFormPostgres is FuzzPasswordForm on PostgreSQL.
func FuzzPasswordFormPostgres(f *testing.F) { passwordForm(f, testenv.PostgresDSN(f)) }

func passwordForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@", 0},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@", 1},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=nope&new_password=@newpw@&new_password2=@newpw@&elevate_method=totp&elevate_code=@next@", 1},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@&elevate_method=totp&elevate_code=@code@", 1},
		{"current_password=@bobpw@&new_password=@newpw@&new_password2=@newpw@", 2},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@", 2},
		{"current_password=@bobpw@&new_password=@newpw@&new_password2=@newpw@", 0},
		{"current_password=nope&new_password=@newpw@&new_password2=@newpw@", 0},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@x", 0},
		{"current_password=@alicepw@&new_password=@newpw@", 0},
		{"current_password=@alicepw@&new_password=@alicepw@&new_password2=@alicepw@", 0},
		{"current_password=@alicepw@&new_password=short&new_password2=short", 0},
		{"current_password=@alicepw@&new_password=&new_password2=", 0},
		{"current_password=&new_password=@newpw@&new_password2=@newpw@", 0},
		{"current_password=@alicepw@&current_password=nope&new_password=@newpw@&new_password2=@newpw@", 0},
		{"current_password=@alicepw@&new_password=@newpw@&new_password2=@newpw@&csrf=x", 0},
		{"", 0},
	} {
		f.Add(in.form, in.who)
	}

	made := 0
	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		_, c, _ := hs.browser(who)
		made++
		newPassword := fmt.Sprintf("a fresh long passphrase number %d", made)
		form = hs.replace(form, c, ts.Clock.Now(), "@newpw@", newPassword)
		var hashes []string // the accounts' password hashes before
		for _, x := range hs.list {
			a, err := ts.Store.AccountByID(ctx, x.id)
			if err != nil {
				t.Fatal(err)
			}
			hashes = append(hashes, string(a.PasswordHash))
		}
		p := hs.post(t, "/settings/security/password", form, who, newPassword)
		h, i := p.h, p.caller/2
		var changed []bool
		for j, x := range hs.list {
			a, err := ts.Store.AccountByID(ctx, x.id)
			if err != nil {
				t.Fatal(err)
			}
			changed = append(changed, string(a.PasswordHash) != hashes[j])
		}
		if changed[0] || changed[1] {
			next := p.sent.Get("new_password")
			switch {
			case changed[1-i]:
				t.Fatalf("%q by %d: the password of another account than the browser's changed", form, p.caller)
			case p.sent.Get("current_password") != h.password:
				t.Fatalf("%q by %d: %s's password changed without the current one", form, p.caller, h.name)
			case p.sent.Get("new_password2") != next:
				t.Fatalf("%q by %d: %s's password changed with two new passwords that differ", form, p.caller, h.name)
			case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "password_changed":
				t.Fatalf("%q by %d: the password changed, but the browser is at %s (%d)", form, p.caller, p.r.url, p.r.status)
			case sessionCookie(t, p.c) == p.cookie || !signsIn(ts, sessionCookie(t, p.c)):
				t.Fatalf("%q by %d: the password changed, but the browser is not signed in under a new cookie", form, p.caller)
			}
			hs.mayAct(t, p, h.name+"'s password changed")
			name := fmt.Sprintf("%s%d", h.name, h.made)
			if _, err := ts.Service.Login(ctx, name, next, core.Meta{}); err != nil {
				t.Fatalf("%q by %d: the new password does not sign %s in: %v", form, p.caller, name, err)
			}
			if _, err := ts.Service.Login(ctx, name, h.password, core.Meta{}); err == nil {
				t.Fatalf("%q by %d: the old password still signs %s in", form, p.caller, name)
			}
			for _, x := range h.browsers {
				if x != p.c && signsIn(ts, sessionCookie(t, x)) {
					t.Fatalf("%q by %d: another browser of %s still signs in", form, p.caller, h.name)
				}
			}
			h.id = ""
			return
		}
		hs.refused(t, p, "")
	})
}
