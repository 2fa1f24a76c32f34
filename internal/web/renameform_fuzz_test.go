package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzRenameForm posts any form to the page that renames an authenticator
// (POST /settings/security/factors/{id}/rename), with any id, from the
// browsers of formHolders (alice's elevated, alice's never elevated,
// bob's), with FuzzRemoveForm's authenticators (newRemovables). Whatever
// the form:
//
//   - the answer is never a server error;
//   - an authenticator is renamed only when the id names one of the
//     browser's account's, with the browser's CSRF token, and not when it
//     is another session's setup; then only it changes, its name is the
//     form's label trimmed, which no other authenticator of the account
//     bears (in any case), and the browser is told it was renamed;
//   - otherwise the database is as it was (testenv.Snapshot);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In an id, @phone@, @laptop@, @tablet@ and @bobs@ stand for the
// authenticators' ids; in a form, placeholders stand for the passwords and
// alice's app's codes (formHolders.replace). An authenticator renamed gets
// its name back before the next form. The who byte picks the browser. A
// path the mux cleans to another form's route is skipped (servedSegments).
// On SQLite; FuzzRenameFormPostgres is the same on PostgreSQL.
func FuzzRenameForm(f *testing.F) { renameForm(f, testenv.SQLiteDSN(f)) }

// FuzzRenameFormPostgres is FuzzRenameForm on PostgreSQL.
func FuzzRenameFormPostgres(f *testing.F) { renameForm(f, testenv.PostgresDSN(f)) }

func renameForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	factors, setUp := newRemovables(f, hs)

	for _, in := range []struct {
		id, form string
		who      uint8
	}{
		{"@laptop@", "label=Work+laptop", 0},
		{"@laptop@", "label=+Work+laptop+", 1},
		{"@tablet@", "label=iPad", 0},
		{"@tablet@", "label=iPad", 1},
		{"@phone@", "label=LAPTOP", 0},
		{"@phone@", "label=Phone", 0},
		{"@phone@", "label=", 0},
		{"@bobs@", "label=Mine", 2},
		{"@bobs@", "label=Mine", 0},
		{"@laptop@", "label=Mine", 2},
		{"@laptop@", "label=Work&csrf=x", 0},
		{"@laptop@", "label=Work&label=Home", 0},
		{"@laptop@/..", "label=Work", 0},
		{"%40laptop%40", "label=Work", 0},
	} {
		f.Add(in.id, in.form, in.who)
	}

	labels := func(t *testing.T) map[string]twofold.Factor {
		out := map[string]twofold.Factor{}
		for _, h := range hs.list {
			fs, err := ts.Store.Factors(ctx, h.id)
			if err != nil {
				t.Fatal(err)
			}
			for _, x := range fs {
				out[x.ID] = x
			}
		}
		return out
	}

	f.Fuzz(func(t *testing.T, id, form string, who uint8) {
		path, named, ok := factorForm(t, hs, factors, setUp, id, "/rename")
		h, c, caller := hs.browser(who)
		if !ok || named == "" {
			return // another form's (a path cleaned to another route), or none
		}
		form = hs.replace(form, c, ts.Clock.Now())
		before := labels(t)
		p := hs.post(t, path, form, who)
		after := labels(t)
		var renamed []twofold.Factor
		for fid, x := range after {
			if before[fid].Label != x.Label {
				renamed = append(renamed, x)
			}
		}
		d := p.before.Diff(hs.snaps.Take(t))
		if len(renamed) == 0 {
			if d != "" {
				t.Fatalf("%s %q by %d: refused (%d %s), but the database changed:\n%s", path, form, caller, p.r.status, pageError(p.r.body), d)
			}
			toldNothingDone(t, p, path)
			return
		}
		x := renamed[0]
		var setupBy int = -1 // the browser whose session set it up, for a setup
		for _, r := range factors {
			if r.id == x.ID && !r.active {
				setupBy = 2 * r.holder
			}
		}
		switch {
		case len(renamed) > 1:
			t.Fatalf("%s %q by %d: %d authenticators renamed", path, form, caller, len(renamed))
		case x.ID != named:
			t.Fatalf("%s %q by %d: %s renamed, which the id does not name", path, form, caller, x.ID)
		case x.AccountID != h.id:
			t.Fatalf("%s %q by %d: another account's authenticator renamed", path, form, caller)
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%s %q by %d: renamed by a form with another CSRF token", path, form, caller)
		case setupBy >= 0 && setupBy != caller:
			t.Fatalf("%s %q by %d: another session's setup renamed", path, form, caller)
		case x.Label != strings.TrimSpace(p.sent.Get("label")):
			t.Fatalf("%s %q by %d: renamed %q", path, form, caller, x.Label)
		case p.r.url.Path != "/settings/security" || p.r.url.Query().Get("m") != "renamed":
			t.Fatalf("%s %q by %d: renamed, but the browser is at %s (%d)", path, form, caller, p.r.url, p.r.status)
		}
		for fid, y := range after {
			if fid != x.ID && y.AccountID == x.AccountID && strings.EqualFold(y.Label, x.Label) {
				t.Fatalf("%s %q by %d: renamed %q, which another authenticator of the account bears", path, form, caller, x.Label)
			}
		}
		for _, l := range strings.Split(d, "\n") {
			if !strings.Contains(l, " id="+x.ID+" ") {
				t.Fatalf("%s %q by %d: renamed, and more changed:\n%s", path, form, caller, d)
			}
		}
		if _, err := ts.Store.RenameFactor(ctx, x.AccountID, x.ID, before[x.ID].Label); err != nil {
			t.Fatal(err)
		}
	})
}
