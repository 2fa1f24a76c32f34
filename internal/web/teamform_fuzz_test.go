package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTeamForm posts any form to the page that makes a team (POST
// /settings/teams) from the browsers of formHolders (alice's elevated,
// alice's never elevated, bob's). Whatever the form:
//
//   - the answer is never a server error;
//   - a team is made only with the browser's CSRF token and a one-time
//     token that is absent or the one the browser's page gives; then it
//     is the only team made, its only member is the browser's account, as
//     its owner, it is named as the form names it (trimmed), it does not
//     require two-factor, and the browser goes to its page, told it was
//     made; nothing else changes;
//   - otherwise the database is as it was (testenv.Snapshot);
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// In a form, @once@ stands for the one-time token of the browser's teams
// page and @theirs@ for the one of the next browser's (the who byte plus
// one), and placeholders for the passwords and alice's app's codes
// (formHolders.replace). A team made is deleted before the next form. The
// who byte picks the browser. On SQLite; FuzzTeamFormPostgres is the same
// on PostgreSQL.
func FuzzTeamForm(f *testing.F) { teamForm(f, testenv.SQLiteDSN(f)) }

// FuzzTeamFormPostgres is FuzzTeamForm on PostgreSQL.
func FuzzTeamFormPostgres(f *testing.F) { teamForm(f, testenv.PostgresDSN(f)) }

func teamForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	const path = "/settings/teams"

	for _, in := range []struct {
		form string
		who  uint8
	}{
		{"name=Ops&once=@once@", 0},
		{"name=+Ops+", 1},
		{"name=Ops&once=@once@", 2},
		{"name=Ops&once=x", 0},
		{"name=Ops&once=@theirs@", 0},
		{"name=", 2},
		{"name=%E2%80%AEspO", 0},
		{"name=Ops&name=Web", 1},
		{"name=Ops&csrf=x", 2},
		{"name=" + strings.Repeat("x", 65), 0},
	} {
		f.Add(in.form, in.who)
	}

	// teamsOf reads the teams of formHolders' accounts, by id.
	teamsOf := func(t *testing.T) map[string]twofold.Membership {
		out := map[string]twofold.Membership{}
		for _, h := range hs.list {
			ms, err := ts.Store.Memberships(ctx, h.id)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				out[m.Team.ID] = m
			}
		}
		return out
	}

	f.Fuzz(func(t *testing.T, form string, who uint8) {
		hs.ready(t)
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'team:%'`) // rationing is another test's
		_, c, caller := hs.browser(who)
		once, theirs := hs.onceTokens(form, who, path)
		form = hs.replace(form, c, ts.Clock.Now(), "@once@", once, "@theirs@", theirs)
		before := teamsOf(t)
		p := hs.post(t, path, form, who)
		var made []twofold.Membership
		for id, m := range teamsOf(t) {
			if _, ok := before[id]; !ok {
				made = append(made, m)
			}
		}
		if len(made) == 0 {
			if d := p.before.Diff(hs.snaps.Take(t)); d != "" {
				t.Fatalf("%q by %d: refused (%d %s), but the database changed:\n%s", form, caller, p.r.status, pageError(p.r.body), d)
			}
			toldNothingDone(t, p, "")
			return
		}
		tm := made[0]
		switch {
		case len(made) > 1:
			t.Fatalf("%q by %d: %d teams made", form, caller, len(made))
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			t.Fatalf("%q by %d: a team made by a form with another CSRF token", form, caller)
		case p.sent.Get("once") != "" && p.sent.Get("once") != once:
			t.Fatalf("%q by %d: a team made by a form whose one-time token is not its page's", form, caller)
		case tm.Team.Name != strings.TrimSpace(p.sent.Get("name")):
			t.Fatalf("%q by %d: the team is named %q", form, caller, tm.Team.Name)
		case tm.Team.RequireTwoFactor:
			t.Fatalf("%q by %d: the new team requires two-factor", form, caller)
		case p.r.url.Path != path+"/"+tm.Team.ID || p.r.url.Query().Get("m") != "team_created":
			t.Fatalf("%q by %d: the browser is at %s (%d)", form, caller, p.r.url, p.r.status)
		}
		members, err := ts.Store.TeamMembers(ctx, tm.Team.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 1 || members[0].AccountID != p.h.id || members[0].Role != twofold.RoleOwner {
			t.Fatalf("%q by %d: the team's members are %+v, not the browser's account alone as its owner", form, caller, members)
		}
		// Nothing else: the team, its member, and the form's token.
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch {
			case l == "":
			case kind == "+ form_uses" || kind == "- form_uses":
			case (kind == "+ teams" || kind == "+ team_members") && strings.Contains(l, tm.Team.ID):
			default:
				t.Fatalf("%q by %d: more changed than the team made: %s", form, caller, l)
			}
		}
		testenv.DeleteTeams(t, dsn, tm.Team.ID)
	})
}
