package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCancelResetForm posts any form to the page where an account's holder
// cancels the reset of two-factor an operator asked for (POST
// /settings/security/reset/cancel), from the browsers of formHolders
// (alice's elevated, alice's never elevated, bob's, who has no
// two-factor and so no reset). A reset waits for alice's account.
// Whatever the form:
//
//   - the answer is never a server error;
//   - the reset is cancelled only with the browser's CSRF token, from
//     alice's browser with an elevated session or fields that confirm it's
//     her with her app's code not used before; then it is the only change
//     to the accounts' rows, her authenticator stays, she is mailed, and
//     the browser goes to her security page told so;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In a form, placeholders stand for the passwords and alice's app's codes
// (formHolders.replace). A reset is asked for anew after one is cancelled,
// and when alice's account is made anew. The who byte picks the browser. On
// SQLite; FuzzCancelResetFormPostgres is the same on PostgreSQL.
func FuzzCancelResetForm(f *testing.F) { cancelResetForm(f, testenv.SQLiteDSN(f)) }

// FuzzCancelResetFormPostgres is FuzzCancelResetForm on PostgreSQL.
func FuzzCancelResetFormPostgres(f *testing.F) { cancelResetForm(f, testenv.PostgresDSN(f)) }

func cancelResetForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const path = "/settings/security/reset/cancel"
	// askReset has a reset of alice's two-factor wait, as the command
	// line asks for one.
	askReset := func(t testing.TB) {
		alice := hs.list[0]
		if _, err := ts.Service.ResetTwoFactorByName(ctx, fmt.Sprintf("%s%d", alice.name, alice.made), false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		ts.Service.Wait() // she is told now, not while a form is judged
	}
	askReset(f)

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"", 0},
		{"", 1},
		{"elevate_method=totp&elevate_code=@next@", 1},
		{"elevate_method=totp&elevate_code=@code@", 1},
		{"elevate_method=totp&elevate_code=@last@", 1},
		{"", 2},
		{"csrf=x", 0},
		{"elevate_method=password&elevate_password=@alicepw@", 1},
	} {
		f.Add(in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		if hs.ready(t)[0] {
			askReset(t)
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // rationing of notices is another test's
		h, c, caller := hs.browser(who)
		alice := hs.list[0]
		aliceID := alice.id // mayAct may mark her to be made anew
		waiting := func() bool {
			_, found, err := ts.Store.TwoFactorReset(ctx, aliceID)
			if err != nil {
				t.Fatal(err)
			}
			return found
		}
		if !waiting() {
			t.Fatal("no reset waits for alice before the form")
		}
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, path, form, who)
		if waiting() {
			hs.refused(t, p, "")
			return
		}
		switch {
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%q by %d: the reset cancelled by a form with another CSRF token", form, caller)
		case h != alice:
			t.Fatalf("%q by %d: alice's reset cancelled from another account's browser", form, caller)
		case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "reset_cancelled":
			t.Fatalf("%q by %d: the browser is at %s (%d)", form, caller, p.r.url, p.r.status)
		}
		hs.mayAct(t, p, "the reset cancelled")
		factors, err := ts.Store.Factors(ctx, aliceID)
		if err != nil || len(factors) != 1 {
			t.Fatalf("%q by %d: alice's factors after the cancel: %v, %v", form, caller, factors, err)
		}
		selfElevated := alice.id == "" // mayAct marks her to be made anew then
		mailed := false
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch {
			case l == "":
			case strings.HasPrefix(l, "+ mail queued"):
				mailed = true
			case strings.HasSuffix(kind, " two_factor_resets") && strings.Contains(l, aliceID):
			case selfElevated && strings.Contains(l, aliceID) && (strings.HasSuffix(kind, " sessions") || strings.HasSuffix(kind, " factors")):
			default:
				t.Fatalf("%q by %d: more changed than the reset: %s", form, caller, l)
			}
		}
		if !mailed {
			t.Fatalf("%q by %d: alice was not told her reset was cancelled", form, caller)
		}
		if alice.id != "" {
			askReset(t)
		}
	})
}
