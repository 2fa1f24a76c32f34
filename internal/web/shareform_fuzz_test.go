package web_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzShareForm posts any form to a team page's forms about its zones and
// itself: sharing a zone with the team (POST /settings/teams/{id}/zones),
// no longer sharing one (…/zones/{zone}/unshare) and deleting the team
// (…/delete), with any team and zone, from the browsers of formHolders
// (alice's elevated, alice's never elevated, bob's, who has no
// authenticator). The teams: Ops, where alice is the owner and bob
// read-only; Web, which requires two-factor, where dave is the owner,
// alice ops and bob an admin; Dev, where bob is the owner and alice an
// admin. The zones: alice.test and bob.test, shared with none; ops.test,
// alice's, shared with Ops; web.test, dave's, shared with Web; dev.test,
// bob's, shared with Dev. Whatever the form:
//
//   - the answer is never a server error;
//   - something changes only with the browser's CSRF token: a zone is
//     shared only by its owner, with the team the path names, which the
//     owner manages (owner or admin), past the team's policy, and with an
//     elevated session when the account has a factor; a zone stops being
//     shared only with the team the path names, by the zone's owner, or by
//     a manager of the team who is let in so; a team is deleted only by its
//     owner, past its policy, elevated when the account has a factor, and
//     its zones are then shared with none; nothing else changes (but the
//     mail to the members of a team deleted) and the browser is told what
//     it did;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff), and no mail is queued;
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 3: share, unshare, delete).
// In a team, @ops@, @web@ and @dev@ stand for the teams' ids; in a zone and
// a form, the same for the zones' names; in a form, placeholders stand for
// the passwords and alice's app's codes (formHolders.replace). The teams
// and zones are made anew after a change, and when an account was. The who
// byte picks the browser. A path the mux cleans to another form's route is
// skipped (servedSegments). On SQLite; FuzzShareFormPostgres is the same on
// PostgreSQL.
func FuzzShareForm(f *testing.F) { shareForm(f, testenv.SQLiteDSN(f)) }

// FuzzShareFormPostgres is FuzzShareForm on PostgreSQL.
func FuzzShareFormPostgres(f *testing.F) { shareForm(f, testenv.PostgresDSN(f)) }

func shareForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	w := newTeamWorld(f, hs, dsn, []worldTeam{
		{name: "Ops", owner: worldAlice, members: map[int]twofold.Role{worldBob: twofold.RoleReadOnly}},
		{name: "Web", require: true, owner: worldDave, members: map[int]twofold.Role{worldAlice: twofold.RoleOps, worldBob: twofold.RoleAdmin}},
		{name: "Dev", owner: worldBob, members: map[int]twofold.Role{worldAlice: twofold.RoleAdmin}},
	}, []worldZone{{"alice.test", worldAlice, -1}, {"bob.test", worldBob, -1}, {"ops.test", worldAlice, 0},
		{"web.test", worldDave, 1}, {"dev.test", worldBob, 2}})

	for _, in := range []struct {
		which            uint8
		team, zone, form string
		who              uint8
	}{
		{0, "@ops@", "", "zone=@alice@", 0},
		{0, "@ops@", "", "zone=@alice@", 1},
		{0, "@ops@", "", "zone=@alice@&elevate_method=totp&elevate_code=@next@", 1},
		{0, "@dev@", "", "zone=@alice@", 0},
		{0, "@dev@", "", "zone=@ops@", 0},
		{0, "@ops@", "", "zone=@bob@", 2},
		{0, "@web@", "", "zone=@bob@", 2},
		{0, "@dev@", "", "zone=@bob@", 2},
		{0, "@web@", "", "zone=@alice@", 0},
		{0, "@ops@", "", "zone=+ALICE.test.+", 0},
		{0, "@dev@", "", "zone=@web@", 2},
		{0, "@dev@", "", "zone=@bob@", 0},
		{0, "@ops@", "", "zone=@alice@&csrf=x", 0},
		{1, "@ops@", "@ops@", "", 0},
		{1, "@ops@", "@ops@", "", 1},
		{1, "@ops@", "@ops@", "", 2},
		{1, "@web@", "@web@", "", 0},
		{1, "@web@", "@web@", "", 2},
		{1, "@dev@", "@dev@", "", 0},
		{1, "@dev@", "@dev@", "", 1},
		{1, "@dev@", "@dev@", "", 2},
		{1, "@ops@", "@dev@", "", 2},
		{2, "@ops@", "", "", 0},
		{2, "@ops@", "", "", 1},
		{2, "@dev@", "", "", 2},
		{2, "@dev@", "", "", 0},
		{2, "@web@", "", "", 2},
		{2, "@ops@", "", "csrf=x", 0},
	} {
		f.Add(in.which, in.team, in.zone, in.form, in.who)
	}

	type state struct {
		shares []string // each zone's team's id
		teams  []bool   // whether each team stands
	}
	read := func(t *testing.T) state {
		var s state
		for _, z := range w.zones {
			zz, err := ts.Store.Zone(ctx, z.name)
			if err != nil {
				t.Fatal(err)
			}
			s.shares = append(s.shares, zz.TeamID)
		}
		for _, id := range w.ids {
			_, err := ts.Store.Team(ctx, id)
			if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Fatal(err)
			}
			s.teams = append(s.teams, err == nil)
		}
		return s
	}

	f.Fuzz(func(t *testing.T, which uint8, team, zone, form string, who uint8) {
		if slices.Contains(hs.ready(t), true) {
			w.make(t)
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // rationing (of changes, of notices) is another test's
		h, c, caller := hs.browser(who)
		self := h.id // mayAct may mark it to be made anew
		team = strings.NewReplacer(w.placeholders(false)...).Replace(team)
		zones := strings.NewReplacer(w.placeholders(true)...)
		zone = zones.Replace(zone)
		var path string
		switch which % 3 {
		case 0:
			path = "/settings/teams/" + team + "/zones"
		case 1:
			path = "/settings/teams/" + team + "/zones/" + zone + "/unshare"
		default:
			path = "/settings/teams/" + team + "/delete"
		}
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		// What the path names as the mux serves it.
		shape := [][]string{{"", "zones"}, {"", "zones", "", "unshare"}, {"", "delete"}}[which%3]
		served := servedSegments(req.URL, "/settings/teams/", shape...)
		if served == nil {
			return // another form's
		}
		namedTeam := slices.Index(w.ids, served[0])
		form = zones.Replace(hs.replace(form, c, ts.Clock.Now()))
		var role twofold.Role // the browser's account's in the team named, before
		var require bool
		if namedTeam >= 0 {
			role, require = w.roleOf(t, w.ids[namedTeam], self)
		}
		before := read(t)
		p := hs.post(t, path, form, who)
		after := read(t)
		if fmt.Sprint(before) == fmt.Sprint(after) {
			hs.refused(t, p, path)
			return
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s %q by %d: %v became %v, but %s", path, form, caller, before, after, fmt.Sprintf(format, args...))
		}
		if p.parseErr != nil || p.sent.Get("csrf") != c.csrf {
			fail("the form has another CSRF token")
		}
		if namedTeam < 0 {
			fail("the path names no team")
		}
		if !before.teams[namedTeam] {
			fail("the team was gone before")
		}
		// A manager's change: past the team's policy (alice's elevated
		// browser passed a second factor), elevated when the account has a
		// factor.
		managed := func(what string) {
			t.Helper()
			if !role.ManagesMembers() || require && !(h.withApp && caller == 0) {
				fail("the browser's account is %q in the team", role)
			}
			hs.mayAct(t, p, what)
		}
		var changed []int // the zones whose sharing changed
		for i := range w.zones {
			if before.shares[i] != after.shares[i] {
				changed = append(changed, i)
			}
		}
		wantAt, wantM := "/settings/teams/"+w.ids[namedTeam], ""
		switch which % 3 {
		case 0:
			if len(changed) != 1 || slices.Contains(after.teams, false) {
				fail("the form shares one zone")
			}
			z := w.zones[changed[0]]
			switch {
			case after.shares[changed[0]] != w.ids[namedTeam]:
				fail("%s went to another team than the path's", z.name)
			case w.account(z.owner) != self:
				fail("%s is another account's", z.name)
			case !strings.EqualFold(strings.TrimSuffix(strings.TrimSpace(p.sent.Get("zone")), "."), z.name):
				fail("the form names the zone %q", p.sent.Get("zone"))
			}
			managed("a zone shared")
			wantM = "zone_shared"
		case 1:
			if len(changed) != 1 || slices.Contains(after.teams, false) {
				fail("the form stops sharing one zone")
			}
			i := changed[0]
			z := w.zones[i]
			switch {
			case before.shares[i] != w.ids[namedTeam] || after.shares[i] != "":
				fail("%s was taken from another team than the path's", z.name)
			case !strings.EqualFold(strings.TrimSuffix(served[2], "."), z.name):
				fail("the path names the zone %q", served)
			case w.account(z.owner) != self:
				managed("a zone no longer shared")
			}
			wantM = "zone_unshared"
		default:
			gone := slices.Index(after.teams, false)
			if gone != namedTeam || slices.Index(after.teams[gone+1:], false) >= 0 {
				fail("not the one team the path names went")
			}
			for i := range w.zones {
				if (before.shares[i] == w.ids[gone]) != slices.Contains(changed, i) || after.shares[i] != "" && slices.Contains(changed, i) {
					fail("the zones of the team deleted are shared with another, or another's changed")
				}
			}
			if role != twofold.RoleOwner || require && !(h.withApp && caller == 0) {
				fail("the browser's account is %q in the team", role)
			}
			hs.mayAct(t, p, "a team deleted")
			wantAt, wantM = "/settings/teams", "team_deleted"
		}
		if p.r.url.Path != wantAt || p.r.url.Query().Get("m") != wantM {
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		// Nothing else: the zones' teams, a team deleted with its members,
		// the mail, and the elevation alice's unelevated browser's fields
		// made.
		elevated := !p.wasElevated && hs.elevated(t, c)
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch kind {
			case "- dns_zones", "+ dns_zones":
			case "- teams", "- team_members":
				if which%3 != 2 {
					fail("more changed: %s", l)
				}
			case "- sessions", "+ sessions", "- factors", "+ factors":
				if !elevated {
					fail("more changed: %s", l)
				}
			default:
				if !strings.HasPrefix(l, "+ mail queued") || which%3 != 2 {
					fail("more changed: %s", l)
				}
			}
		}
		w.make(t)
	})
}
