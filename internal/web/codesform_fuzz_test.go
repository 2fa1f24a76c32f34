package web_test

import (
	"context"
	"html"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCodesForm posts any form to the page that makes new recovery codes
// (POST /settings/security/recovery-codes) from the browsers of
// formHolders (alice's elevated, alice's never elevated, bob's, who has no
// authenticator and so no codes). Whatever the form:
//
//   - the answer is never a server error;
//   - new codes are made only for the browser's own account, with the
//     browser's CSRF token, a one-time token that is absent or the one the
//     browser's page gives, and an elevated session or fields that confirm
//     it's alice with her app's code not used before; then the page shows
//     them, each of them confirms it's her, and none of the codes before
//     does any more;
//   - otherwise the page shows no codes, and the database is as it was
//     (testenv.Snapshot) but for the elevation alice's unelevated
//     browser's fields made (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace), @once@ for the one-time token of the browser's
// page. An account given new codes is made anew with its browsers before
// the next form. The who byte picks the browser. On SQLite;
// FuzzCodesFormPostgres is the same on PostgreSQL.
func FuzzCodesForm(f *testing.F) { codesForm(f, testenv.SQLiteDSN(f)) }

// FuzzCodesFormPostgres is FuzzCodesForm on PostgreSQL.
func FuzzCodesFormPostgres(f *testing.F) { codesForm(f, testenv.PostgresDSN(f)) }

// codeShown finds a recovery code on the page that shows new ones.
var codeShown = regexp.MustCompile(`<li><code>([^<]+)</code>`)

func codesForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const path = "/settings/security/recovery-codes"

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"once=@once@", 0},
		{"", 0},
		{"once=@once@", 1},
		{"once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{"elevate_method=totp&elevate_code=@code@", 1},
		{"elevate_method=recovery_code&elevate_code=@next@", 1},
		{"once=@once@", 2},
		{"", 2},
		{"once=x", 0},
		{"once=@once@&once=@once@", 0},
		{"csrf=x", 0},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		_, c, caller := hs.browser(who)
		once, _ := hs.onceTokens(form, who, path)
		alice := hs.list[0]
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once)
		p := hs.post(t, path, form, who)
		var shown []string
		for _, m := range codeShown.FindAllStringSubmatch(p.r.body, -1) {
			shown = append(shown, html.UnescapeString(m[1]))
		}
		d := p.before.Diff(hs.snaps.Take(t))
		made := strings.Contains(d, "+ recovery_codes:")
		if !made {
			if len(shown) > 0 {
				t.Fatalf("%q by %d: no codes were made, but the page (%d) shows %d", form, caller, p.r.status, len(shown))
			}
			hs.refused(t, p, "")
			return
		}
		switch {
		case caller == 2 || strings.Contains(d, "+ recovery_codes: account_id="+hs.list[1].id+" "):
			t.Fatalf("%q by %d: codes made for bob's account:\n%s", form, caller, d)
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			t.Fatalf("%q by %d: codes made by a form whose one-time token is not its page's", form, caller)
		case len(shown) != core.RecoveryCodeCount:
			t.Fatalf("%q by %d: codes made, but the page (%d) shows %d", form, caller, p.r.status, len(shown))
		}
		hs.mayAct(t, p, "new recovery codes made")
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, alice.browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		for _, old := range alice.codes {
			if _, err := ts.Service.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: old}, core.Meta{}); err == nil {
				t.Fatalf("%q by %d: a recovery code from before the new ones still confirms it's alice", form, caller)
			}
		}
		if _, err := ts.Store.ResetThrottlePrefix(ctx, ""); err != nil {
			t.Fatal(err)
		}
		for _, code := range shown {
			if slices.Contains(alice.codes, code) {
				t.Fatalf("%q by %d: a new code is an old one", form, caller)
			}
			if _, err := ts.Service.Elevate(ctx, a, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: code}, core.Meta{}); err != nil {
				t.Fatalf("%q by %d: a new recovery code shown does not confirm it's alice: %v", form, caller, err)
			}
		}
		alice.id = ""
	})
}
