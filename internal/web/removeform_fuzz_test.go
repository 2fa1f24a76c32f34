package web_test

import (
	"context"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzRemoveForm posts any form to the page that removes an authenticator,
// or cancels one's setup (POST /settings/security/factors/{id}/remove),
// with any id, from the browsers of formHolders (alice's elevated, alice's
// never elevated, bob's). alice has two apps, Phone and Laptop, and one
// being set up by her elevated browser, Tablet; bob has one being set up
// by his browser. Whatever the form:
//
//   - the answer is never a server error;
//   - an authenticator goes only when the id names one of the browser's
//     account's, with the browser's CSRF token and a one-time token that
//     is absent or the one the browser's remove page gives, and, when it
//     is active or another session's setup, an elevated session or fields
//     that confirm it's alice with her app's code not used before; then
//     only it goes, and the browser is told it was removed (or its setup
//     cancelled);
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In an id, @phone@, @laptop@, @tablet@ and @bobs@ stand for the
// authenticators' ids; in a form, placeholders stand for the passwords and
// alice's app's codes (formHolders.replace), @once@ for the one-time
// token of the remove page of the authenticator the id names, as the
// browser gets it. An account that lost an authenticator is made anew
// with its browsers and authenticators before the next form. The who byte
// picks the browser. On SQLite; FuzzRemoveFormPostgres is the same on
// PostgreSQL.
func FuzzRemoveForm(f *testing.F) { removeForm(f, testenv.SQLiteDSN(f)) }

// FuzzRemoveFormPostgres is FuzzRemoveForm on PostgreSQL.
func FuzzRemoveFormPostgres(f *testing.F) { removeForm(f, testenv.PostgresDSN(f)) }

// removable is an authenticator FuzzRemoveForm may remove.
type removable struct {
	placeholder string
	holder      int    // the index of its account in formHolders.list
	id          string // set up for the account's browsers now
	active      bool
}

// onceValue finds a form's one-time token.
var onceValue = regexp.MustCompile(`name="once" value="([^"]+)"`)

// onceAfter finds the one-time token of the form on a page whose action is
// path.
func onceAfter(path string) *regexp.Regexp {
	return regexp.MustCompile(`action="` + regexp.QuoteMeta(path) + `"[^>]*>(?:\s*<input[^>]*>)*?\s*<input type="hidden" name="once" value="([^"]+)"`)
}

// pageOnce is the first one-time token of the page at path as c gets it,
// or "none".
func pageOnce(c *client, path string) string {
	if m := onceValue.FindStringSubmatch(c.get(path).body); m != nil {
		return m[1]
	}
	return "none"
}

func removeForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	factors, setUp := newRemovables(f, hs)

	for _, in := range []struct {
		id, form string
		who      uint8
	}{
		{"@laptop@", "once=@once@", 0},
		{"@laptop@", "", 0},
		{"@phone@", "once=@once@", 0},
		{"@tablet@", "once=@once@", 0},
		{"@laptop@", "once=@once@", 1},
		{"@laptop@", "once=@once@&elevate_method=totp&elevate_code=@next@", 1},
		{"@laptop@", "elevate_method=totp&elevate_code=@code@", 1},
		{"@tablet@", "once=@once@", 1},
		{"@tablet@", "elevate_method=totp&elevate_code=@next@", 1},
		{"@bobs@", "once=@once@", 2},
		{"@bobs@", "", 0},
		{"@laptop@", "", 2},
		{"@laptop@", "once=x", 0},
		{"@laptop@", "once=@once@&once=@once@", 0},
		{"@laptop@", "csrf=x", 0},
		{"@laptop@x", "", 0},
		{"@laptop@/..", "", 0},
		{"%40laptop%40", "", 0},
	} {
		f.Add(in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, id, form string, who uint8) {
		path, named, ok := factorForm(t, hs, factors, setUp, id, "/remove")
		if !ok {
			return // no request a browser could send
		}
		_, c, caller := hs.browser(who)
		i := slices.IndexFunc(factors, func(x *removable) bool { return x.id == named })
		once := "none"
		if strings.Contains(form, "@once@") && i >= 0 && factors[i].holder == caller/2 {
			once = pageOnce(c, path)
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once)
		p := hs.post(t, path, form, who)

		var gone []*removable
		for _, x := range factors {
			if _, err := ts.Store.Factor(ctx, hs.list[x.holder].id, x.id); twofold.ErrorCode(err) == twofold.CodeNotFound {
				gone = append(gone, x)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if len(gone) > 0 {
			x := gone[0]
			switch {
			case len(gone) > 1:
				t.Fatalf("%s %q by %d: %d authenticators went", path, form, caller, len(gone))
			case x.id != named:
				t.Fatalf("%s %q by %d: %s went, which the id does not name", path, form, caller, x.placeholder)
			case x.holder != caller/2:
				t.Fatalf("%s %q by %d: another account's authenticator went", path, form, caller)
			case p.sent.Get("once") != "" && p.sent.Get("once") != once:
				t.Fatalf("%s %q by %d: removed by a form whose one-time token is not its page's", path, form, caller)
			}
			want := "setup_cancelled"
			if x.active {
				want = "factor_removed"
			}
			if p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != want {
				t.Fatalf("%s %q by %d: %s went, but the browser is at %s (%d)", path, form, caller, x.placeholder, p.r.url, p.r.status)
			}
			hs.mayAct(t, p, x.placeholder+" removed")
			hs.list[x.holder].id = ""
			return
		}
		hs.refused(t, p, path)
	})
}

// factorForm readies formHolders for t's form (setUp gives an account
// made anew its authenticators), puts the authenticators' ids in id, and
// returns the path of the form suffix about it and the id the mux serves
// it with ("" for none); ok is false for a request no browser could send.
func factorForm(t *testing.T, hs *formHolders, factors []*removable, setUp func(testing.TB, int), id, suffix string) (path, named string, ok bool) {
	for i, made := range hs.ready(t) {
		if made {
			setUp(t, i)
		}
	}
	var pairs []string
	for _, x := range factors {
		pairs = append(pairs, x.placeholder, x.id)
	}
	path = "/settings/security/factors/" + strings.NewReplacer(pairs...).Replace(id) + suffix
	req, err := http.NewRequest("POST", hs.ts.URL()+path, nil)
	if err != nil || !testenv.Sendable(req) {
		return "", "", false
	}
	return path, servedID(req.URL, "/settings/security/factors/", suffix), true
}

// newRemovables gives formHolders' accounts the authenticators of
// FuzzRemoveForm and FuzzRenameForm: alice's app Phone; Laptop and Tablet
// set up by alice's elevated browser, Laptop confirmed; bob's set up by
// his browser. It returns them and the function that gives the account of
// holder, made anew, its own again.
func newRemovables(f *testing.F, hs *formHolders) ([]*removable, func(testing.TB, int)) {
	ts, ctx := hs.ts, context.Background()
	factors := []*removable{{placeholder: "@phone@", active: true}, {placeholder: "@laptop@", active: true},
		{placeholder: "@tablet@"}, {placeholder: "@bobs@", holder: 1}}
	setUp := func(t testing.TB, holder int) {
		h := hs.list[holder]
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, h.browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		enrol := func(label string) core.Enrolment {
			e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: label}, core.Meta{})
			if err != nil {
				t.Fatalf("set up %s: %v", label, err)
			}
			return e
		}
		if holder == 1 {
			factors[3].id = enrol("Bob's").Factor.ID
			return
		}
		factors[0].id = h.app.ID
		laptop := enrol("Laptop")
		if _, err := ts.Service.ConfirmFactor(ctx, a, laptop.Factor.ID, testenv.TOTP(t, laptop.Secret, ts.Clock.Now()), core.Meta{}); err != nil {
			t.Fatalf("confirm Laptop: %v", err)
		}
		factors[1].id, factors[2].id = laptop.Factor.ID, enrol("Tablet").Factor.ID
	}
	setUp(f, 0)
	setUp(f, 1)
	return factors, setUp
}
