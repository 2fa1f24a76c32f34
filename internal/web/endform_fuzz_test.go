package web_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzEndForm posts any form to the pages' forms that take power away and
// so ask for no code: revoking an API key (POST
// /settings/security/api-keys/{id}/revoke), ending a session (POST
// /settings/security/sessions/{id}/end), both with any id, and signing out
// everywhere (POST /logout/everywhere), from the browsers of formHolders
// (alice's elevated, alice's never elevated, bob's). alice has a key
// Maker, which may make keys, and a key Made that Maker made; bob has a
// key of his own. Whatever the form:
//
//   - the answer is never a server error;
//   - something ends only with the browser's CSRF token, and only what
//     the form names of the browser's own account: the key the id names
//     with the keys it made (and the browser is back on the keys page,
//     told so, with the form's fields when it asked to make the key anew),
//     or the session the id names (the browser's own: it is signed out and
//     on the sign-in page; another: it is told, and the account is mailed
//     a notice), or every session of the account (a new epoch of its
//     sessions; the browser is on the sign-in page); nothing else changes;
//   - otherwise the database is as it was (testenv.Snapshot) and no mail
//     is queued;
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 3: revoke, end, sign out
// everywhere; the last takes no id). In an id, @maker@, @made@ and @bobs@
// stand for the keys' ids, @s0@, @s1@ and @s2@ for the sessions of the
// browsers; in a form, placeholders stand for the passwords and alice's
// app's codes (formHolders.replace). Revoked keys are made anew before the
// next form, and an account whose session ended, with its browsers. The who
// byte picks the browser. A path the mux cleans to another form's route is
// skipped (servedSegments). On SQLite; FuzzEndFormPostgres is the same on
// PostgreSQL.
func FuzzEndForm(f *testing.F) { endForm(f, testenv.SQLiteDSN(f)) }

// FuzzEndFormPostgres is FuzzEndForm on PostgreSQL.
func FuzzEndFormPostgres(f *testing.F) { endForm(f, testenv.PostgresDSN(f)) }

// endable is a key or session FuzzEndForm may end.
type endable struct {
	placeholder string
	holder      int    // the index of its account in formHolders.list
	id          string // now
	session     bool
	madeBy      *endable // the key that made it, if any
}

func endForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	maker := &endable{placeholder: "@maker@"}
	things := []*endable{maker, {placeholder: "@made@", madeBy: maker}, {placeholder: "@bobs@", holder: 1},
		{placeholder: "@s0@", session: true}, {placeholder: "@s1@", session: true}, {placeholder: "@s2@", holder: 1, session: true}}
	// setUp gives the account of holder its keys (made anew) and learns
	// its sessions' ids.
	setUp := func(t testing.TB, holder int) {
		h := hs.list[holder]
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, h.browsers[0]))
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range h.browsers {
			s, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
			if err != nil {
				t.Fatal(err)
			}
			things[3+h.first+i].id = s.Session.ID
		}
		newKey := func(a core.Auth, name string, lines ...string) (twofold.APIKey, string) {
			n := core.NewAPIKey{Name: name}
			for _, l := range lines {
				p, err := permit.Parse(l)
				if err != nil {
					t.Fatal(err)
				}
				n.Permits = append(n.Permits, p)
			}
			k, secret, err := ts.Service.CreateAPIKey(ctx, a, n, core.Meta{})
			if err != nil {
				t.Fatalf("make key %s: %v", name, err)
			}
			return k, secret
		}
		if holder == 1 {
			k, _ := newKey(a, "Bob's", "account * read")
			things[2].id = k.ID
			return
		}
		k, secret := newKey(a, "Maker", "keys * write", "account * read")
		ka, err := ts.Service.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
		if err != nil {
			t.Fatal(err)
		}
		made, _ := newKey(ka, "Made", "account * read")
		things[0].id, things[1].id = k.ID, made.ID
	}
	setUp(f, 0)
	setUp(f, 1)

	for _, in := range []struct {
		which    uint8
		id, form string
		who      uint8
	}{
		{0, "@maker@", "", 0},
		{0, "@made@", "", 1},
		{0, "@made@", "again=1&name=ci&permits=account+*+read&expiry=1d", 0},
		{0, "@bobs@", "", 2},
		{0, "@bobs@", "", 0},
		{0, "@maker@", "", 2},
		{0, "@maker@", "csrf=x", 0},
		{0, "@maker@/", "", 0},
		{0, "x/../@maker@", "", 0},
		{1, "@s1@", "", 0},
		{1, "@s0@", "", 0},
		{1, "@s0@", "", 1},
		{1, "@s2@", "", 0},
		{1, "@s0@", "", 2},
		{1, "@s2@", "csrf=", 2},
		{1, "%40s1%40", "", 0},
		{2, "", "", 1},
		{2, "", "", 2},
		{2, "", "csrf=x", 0},
	} {
		f.Add(in.which, in.id, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, id, form string, who uint8) {
		for i, made := range hs.ready(t) {
			if made {
				setUp(t, i)
			}
		}
		_, c, caller := hs.browser(who)
		pairs := []string{}
		for _, x := range things {
			pairs = append(pairs, x.placeholder, x.id)
		}
		id = strings.NewReplacer(pairs...).Replace(id)
		var path, prefix, suffix string
		switch which % 3 {
		case 0:
			prefix, suffix = "/settings/security/api-keys/", "/revoke"
		case 1:
			prefix, suffix = "/settings/security/sessions/", "/end"
		default:
			prefix, id = "/logout/everywhere", ""
		}
		path = prefix + id + suffix
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		named := ""
		if suffix != "" {
			named = servedID(req.URL, prefix, suffix)
		}
		served := testenv.ServedPath(req.URL)
		if suffix != "" && named == "" || suffix == "" && served != "/logout/everywhere" {
			return // another form's (a path cleaned to another route), or none
		}
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, path, form, who)
		d := p.before.Diff(hs.snaps.Take(t))

		var ended []*endable
		for _, x := range things {
			var err error
			gone := false
			if x.session {
				// Deleted, or of an earlier epoch of its account's
				// sessions (a sign-out everywhere).
				var s twofold.Session
				var a twofold.Account
				if s, err = ts.Store.Session(ctx, x.id, ts.Clock.Now()); err == nil {
					a, err = ts.Store.AccountByID(ctx, s.AccountID)
					gone = err == nil && s.Epoch != a.SessionEpoch
				}
			} else {
				_, err = ts.Store.APIKey(ctx, x.id)
			}
			if gone || twofold.ErrorCode(err) == twofold.CodeNotFound {
				ended = append(ended, x)
			} else if err != nil {
				t.Fatal(err)
			}
		}
		if len(ended) == 0 {
			if d != "" {
				t.Fatalf("%s %q by %d: refused (%d %s), but the database changed:\n%s", path, form, caller, p.r.status, pageError(p.r.body), d)
			}
			toldNothingDone(t, p, path)
			return
		}
		switch {
		case p.parseErr != nil:
			t.Fatalf("%s %q by %d: ended by a form that does not parse: %v", path, form, caller, p.parseErr)
		case p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%s %q by %d: ended by a form with another CSRF token", path, form, caller)
		}
		// What the form should have ended, and where the browser should be.
		var want []*endable
		var at, m string
		switch {
		case served == "/logout/everywhere":
			for _, x := range things {
				if x.session && x.holder == caller/2 {
					want = append(want, x)
				}
			}
			at, m = "/login", "logged_out_everywhere"
		case suffix == "/revoke" && named != "":
			for _, x := range things {
				if !x.session && x.holder == caller/2 && (x.id == named || x.madeBy != nil && x.madeBy.id == named) {
					want = append(want, x)
				}
			}
			at, m = "/settings/security/api-keys", "api_key_revoked"
		case suffix == "/end" && named != "":
			for _, x := range things {
				if x.session && x.holder == caller/2 && x.id == named {
					want = append(want, x)
				}
			}
			at, m = "/settings/security/sessions", "session_ended"
			if named == things[3+caller].id {
				at, m = "/login", "logged_out"
			}
		}
		names := func(xs []*endable) (out []string) {
			for _, x := range xs {
				out = append(out, x.placeholder)
			}
			return out
		}
		if !slices.Equal(names(ended), names(want)) {
			t.Fatalf("%s %q by %d: %v ended, not %v", path, form, caller, names(ended), names(want))
		}
		if p.r.url.Path != at || p.r.url.Query().Get("m") != m {
			t.Fatalf("%s %q by %d: %v ended, but the browser is at %s (%d)", path, form, caller, names(ended), p.r.url, p.r.status)
		}
		if at == "/login" && jarValue(t, c, "/", "twofold_session") != "" {
			t.Fatalf("%s %q by %d: signed out, but the browser keeps its session cookie", path, form, caller)
		}
		if m == "api_key_revoked" {
			q, again := p.r.url.Query(), p.sent.Get("again") == "1"
			for _, field := range []string{"name", "permits", "expiry"} {
				if q.Has(field) != again || q.Get(field) != p.sent.Get(field) && again {
					t.Fatalf("%s %q by %d: the keys page is at %s after a revocation", path, form, caller, p.r.url)
				}
			}
		}
		// Nothing else changed: the rows of what ended, the account's
		// sign-out everywhere, and the notice of another session ended.
		for _, l := range strings.Split(d, "\n") {
			ok := strings.HasPrefix(l, "+ mail queued") && m == "session_ended" ||
				strings.HasPrefix(l, "+ accounts: id="+p.h.id+" ") && m == "logged_out_everywhere" ||
				strings.HasPrefix(l, "- accounts: id="+p.h.id+" ") && m == "logged_out_everywhere" ||
				slices.ContainsFunc(ended, func(x *endable) bool { return strings.HasPrefix(l, "- ") && strings.Contains(l, " id="+x.id+" ") })
			if !ok {
				t.Fatalf("%s %q by %d: %v ended, and more changed:\n%s", path, form, caller, names(ended), d)
			}
		}
		if m == "session_ended" && !strings.Contains(d, "+ mail queued") {
			t.Fatalf("%s %q by %d: another session ended, and the account was not told", path, form, caller)
		}
		if m == "api_key_revoked" {
			setUp(t, caller/2) // the sessions stand: the keys are made anew
		}
	})
}
