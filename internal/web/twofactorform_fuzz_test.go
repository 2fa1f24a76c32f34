package web_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTwoFactorForm posts any form to the page that turns two-factor login
// on or off (POST /settings/security/two-factor: required, and the
// "confirm it's you" fields) from the browsers of formHolders (alice's
// elevated, alice's never elevated, bob's, who has no authenticator).
// alice's two-factor login is on. Whatever the form:
//
//   - the answer is never a server error;
//   - two-factor login goes off only for the browser's own account, with
//     the browser's CSRF token, required "false", and an
//     elevated session or fields that confirm it's alice with her app's
//     code not used before; then her password alone signs her in, and the
//     browser is told it is off;
//   - it never goes on for an account without an authenticator;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace). An account whose two-factor login went off is made
// anew with its browsers before the next form. The who byte picks the
// browser. On SQLite; FuzzTwoFactorFormPostgres is the same on PostgreSQL.
func FuzzTwoFactorForm(f *testing.F) { twoFactorForm(f, testenv.SQLiteDSN(f)) }

// FuzzTwoFactorFormPostgres is FuzzTwoFactorForm on PostgreSQL.
func FuzzTwoFactorFormPostgres(f *testing.F) { twoFactorForm(f, testenv.PostgresDSN(f)) }

func twoFactorForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"required=false", 0},
		{"", 0},
		{"required=false", 1},
		{"required=false&elevate_method=totp&elevate_code=@next@", 1},
		{"required=false&elevate_method=totp&elevate_code=@code@", 1},
		{"required=true", 0},
		{"required=true", 2},
		{"required=false", 2},
		{"required=TRUE", 0},
		{"required=no", 0},
		{"required=false&required=", 0},
		{"required=true&required=false", 0},
		{"required=false&csrf=x", 0},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		_, c, caller := hs.browser(who)
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, "/settings/security/two-factor", form, who)
		var required []bool
		for _, x := range hs.list {
			a, err := ts.Store.AccountByID(ctx, x.id)
			if err != nil {
				t.Fatal(err)
			}
			required = append(required, a.TwoFactorRequired)
		}
		switch {
		case required[1]:
			t.Fatalf("%q by %d: two-factor login went on for bob, who has no authenticator", form, caller)
		case !required[0]:
			alice := hs.list[0]
			switch {
			case caller == 2:
				t.Fatalf("%q by %d: bob's browser turned alice's two-factor login off", form, caller)
			case p.sent.Get("required") != "false":
				t.Fatalf("%q by %d: two-factor login went off by a form that does not ask for it off", form, caller)
			case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "required_off":
				t.Fatalf("%q by %d: two-factor login went off, but the browser is at %s (%d)", form, caller, p.r.url, p.r.status)
			}
			hs.mayAct(t, p, "two-factor login turned off")
			name := fmt.Sprintf("%s%d", alice.name, alice.made)
			if res, err := ts.Service.Login(ctx, name, alice.password, core.Meta{}); err != nil || res.Token == "" {
				t.Fatalf("%q by %d: two-factor login is off, but alice's password alone does not sign her in (%v)", form, caller, err)
			}
			alice.id = ""
			return
		}
		hs.refused(t, p, "")
	})
}
