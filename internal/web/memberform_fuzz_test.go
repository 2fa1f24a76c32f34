package web_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzMemberForm posts any form to a team page's forms: a member's role
// (POST /settings/teams/{id}/members/{username}/role), a member's removal
// or leaving (…/remove), and the team's settings (POST
// /settings/teams/{id}: its name, whether it requires two-factor), with
// any team and name, from the browsers of formHolders (alice's elevated,
// alice's never elevated, bob's, who has no authenticator). Two teams:
// Ops, not requiring two-factor, with alice and dave owners, bob an admin
// and carol ops; Web, requiring it, with dave its owner, alice an admin,
// bob ops and carol billing. Whatever the form:
//
//   - the answer is never a server error;
//   - only the team and member the path names change, with the browser's
//     CSRF token: a role becomes the form's, or a member goes, only by an
//     owner or admin of that team (an admin never makes, changes or
//     removes an owner) whose session passed a second factor when the team
//     requires one and is elevated when the account has one; anyone may
//     leave, alice with an elevated session; a team keeps an owner; the
//     member changed or removed by someone else is mailed; a team's name
//     becomes the form's (trimmed), and its policy what the form says ("on"
//     or "off"), only by its owner, the policy with an elevated session;
//     the browser is told what it did;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff), and no mail is queued;
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 3: role, removal, settings).
// In a team, @ops@ and @web@ stand for the teams' ids; in a name, @alice@,
// @bob@, @carol@ and @dave@ for the accounts' names; in a form,
// placeholders stand for the passwords and alice's app's codes
// (formHolders.replace). The teams are made anew after a change, and when
// an account was. The who byte picks the browser. A path the mux cleans to
// another form's route is skipped (servedSegments). On SQLite;
// FuzzMemberFormPostgres is the same on PostgreSQL.
func FuzzMemberForm(f *testing.F) { memberForm(f, testenv.SQLiteDSN(f)) }

// FuzzMemberFormPostgres is FuzzMemberForm on PostgreSQL.
func FuzzMemberFormPostgres(f *testing.F) { memberForm(f, testenv.PostgresDSN(f)) }

// fuzzTeamState is what FuzzMemberForm reads of a team: its name, policy
// and members' roles by account id.
type fuzzTeamState struct {
	name    string
	require bool
	roles   map[string]twofold.Role
}

func memberForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	w := newTeamWorld(f, hs, dsn, []worldTeam{
		{name: "Ops", owner: worldAlice, members: map[int]twofold.Role{worldDave: twofold.RoleOwner, worldBob: twofold.RoleAdmin, worldCarol: twofold.RoleOps}},
		{name: "Web", require: true, owner: worldDave, members: map[int]twofold.Role{worldAlice: twofold.RoleAdmin, worldBob: twofold.RoleOps, worldCarol: twofold.RoleBilling}},
	}, nil)
	carol, dave, teams := w.carol, w.dave, w.ids
	state := func(t *testing.T, id string) fuzzTeamState {
		tm, err := ts.Store.Team(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		members, err := ts.Store.TeamMembers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		s := fuzzTeamState{name: tm.Name, require: tm.RequireTwoFactor, roles: map[string]twofold.Role{}}
		for _, m := range members {
			s.roles[m.AccountID] = m.Role
		}
		return s
	}

	for _, in := range []struct {
		which            uint8
		team, name, form string
		who              uint8
	}{
		{0, "@ops@", "@carol@", "role=admin", 0},
		{0, "@ops@", "@carol@", "role=admin", 1},
		{0, "@ops@", "@carol@", "role=billing", 2},
		{0, "@ops@", "@carol@", "role=owner", 2},
		{0, "@ops@", "@dave@", "role=ops", 2},
		{0, "@ops@", "@dave@", "role=ops", 0},
		{0, "@ops@", "@alice@", "role=read-only", 0},
		{0, "@ops@", "@bob@", "role=+ops+", 0},
		{0, "@ops@", "@carol@", "role=chief", 0},
		{0, "@web@", "@carol@", "role=ops", 0},
		{0, "@web@", "@carol@", "role=ops", 2},
		{0, "@web@", "@dave@", "role=ops", 0},
		{0, "@ops@", "%40carol%40", "role=admin&csrf=x", 0},
		{0, "@ops@", "CAROL", "role=admin", 0},
		{1, "@ops@", "@carol@", "", 2},
		{1, "@ops@", "@dave@", "", 2},
		{1, "@ops@", "@dave@", "", 0},
		{1, "@ops@", "@alice@", "", 0},
		{1, "@ops@", "@alice@", "", 1},
		{1, "@ops@", "@bob@", "", 2},
		{1, "@web@", "@bob@", "", 0},
		{1, "@web@", "@carol@", "", 2},
		{1, "@web@", "@alice@", "", 0},
		{2, "@ops@", "", "name=Ops+team", 1},
		{2, "@ops@", "", "name=+Ops+2+", 0},
		{2, "@ops@", "", "require_two_factor=on", 0},
		{2, "@ops@", "", "require_two_factor=on", 1},
		{2, "@ops@", "", "require_two_factor=", 0},
		{2, "@ops@", "", "name=Renamed", 2},
		{2, "@web@", "", "require_two_factor=off", 0},
		{2, "@web@", "", "name=Mine", 0},
		{2, "@ops@", "", "name=Ops&csrf=x", 0},
	} {
		f.Add(in.which, in.team, in.name, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, team, name, form string, who uint8) {
		if made := hs.ready(t); slices.Contains(made, true) {
			w.make(t)
			teams = w.ids
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // rationing (of changes, of notices) is another test's
		alice, bob := hs.list[0], hs.list[1]
		h, c, caller := hs.browser(who)
		self := h.id // mayAct may mark it to be made anew
		usernames := map[string]string{}
		for _, id := range []string{alice.id, bob.id, carol, dave} {
			a, err := ts.Store.AccountByID(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			usernames[id] = a.Username
		}
		team = strings.NewReplacer("@ops@", teams[0], "@web@", teams[1]).Replace(team)
		name = strings.NewReplacer("@alice@", usernames[alice.id], "@bob@", usernames[bob.id], "@carol@", "carol", "@dave@", "dave").Replace(name)
		var path, suffix string
		switch which % 3 {
		case 0:
			suffix = "/role"
		case 1:
			suffix = "/remove"
		}
		if suffix != "" {
			path = "/settings/teams/" + team + "/members/" + name + suffix
		} else {
			path = "/settings/teams/" + team
		}
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		// What the path names as the mux serves it.
		var namedTeam, namedMember string
		if suffix != "" {
			parts := servedSegments(req.URL, "/settings/teams/", "", "members", "", suffix[1:])
			if parts == nil {
				return // another form's
			}
			namedTeam, namedMember = parts[0], parts[2]
		} else {
			parts := servedSegments(req.URL, "/settings/teams/", "")
			if parts == nil {
				return // another form's
			}
			namedTeam = parts[0]
		}
		before := []fuzzTeamState{state(t, teams[0]), state(t, teams[1])}
		form = hs.replace(form, c, ts.Clock.Now())
		p := hs.post(t, path, form, who)
		after := []fuzzTeamState{state(t, teams[0]), state(t, teams[1])}

		var changed []int
		for i := range teams {
			if fmt.Sprint(before[i]) != fmt.Sprint(after[i]) {
				changed = append(changed, i)
			}
		}
		if len(changed) == 0 {
			hs.refused(t, p, path)
			return
		}
		i := changed[0]
		b, a := before[i], after[i]
		role := b.roles[self] // the caller's in the team, before
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s %q by %d: %s changed (%v to %v), but %s", path, form, caller, []string{"Ops", "Web"}[i], b, a, fmt.Sprintf(format, args...))
		}
		switch {
		case len(changed) > 1:
			fail("so did the other team")
		case teams[i] != namedTeam:
			fail("the path names another team")
		case p.parseErr != nil || p.sent.Get("csrf") != c.csrf:
			fail("the form has another CSRF token")
		}
		var diffs []string // the members whose roles changed or who went
		for id, r := range b.roles {
			if a.roles[id] != r {
				diffs = append(diffs, id)
			}
		}
		for id := range a.roles {
			if _, ok := b.roles[id]; !ok {
				fail("a member joined")
			}
		}
		if !slices.ContainsFunc(slices.Collect(maps.Values(a.roles)), func(r twofold.Role) bool { return r == twofold.RoleOwner }) {
			fail("the team has no owner left")
		}
		// A manager's change: an owner or admin of the team, an elevated
		// session when the account has a factor, a second factor passed
		// when the team requires one; an owner only by an owner.
		managed := func(old, now twofold.Role) {
			t.Helper()
			switch {
			case !role.ManagesMembers():
				fail("the browser's account is %q in it", role)
			case b.require && !h.withApp:
				fail("the team requires two-factor and the browser's account has none")
			case role != twofold.RoleOwner && (old == twofold.RoleOwner || now == twofold.RoleOwner):
				fail("an admin made, changed or removed an owner")
			}
			hs.mayAct(t, p, "a team's member changed")
		}
		wantAt, wantM := "/settings/teams/"+teams[i], ""
		switch which % 3 {
		case 0:
			if len(diffs) != 1 || a.roles[diffs[0]] == "" || !strings.EqualFold(strings.TrimSpace(namedMember), usernames[diffs[0]]) {
				fail("the form is about the role of %q", namedMember)
			}
			if string(a.roles[diffs[0]]) != strings.TrimSpace(p.sent.Get("role")) {
				fail("the form's role is %q", p.sent.Get("role"))
			}
			managed(b.roles[diffs[0]], a.roles[diffs[0]])
			if diffs[0] != self && !strings.Contains(p.before.Diff(hs.snaps.Take(t)), "+ mail queued") {
				fail("the member was not told")
			}
			wantM = "role_changed"
		case 1:
			if len(diffs) != 1 || a.roles[diffs[0]] != "" || !strings.EqualFold(strings.TrimSpace(namedMember), usernames[diffs[0]]) {
				fail("the form is about the removal of %q", namedMember)
			}
			if diffs[0] == self {
				hs.mayAct(t, p, "a team left") // leaving may turn the second step off
				wantAt, wantM = "/settings/teams", "team_left"
				break
			}
			managed(b.roles[diffs[0]], "")
			if !strings.Contains(p.before.Diff(hs.snaps.Take(t)), "+ mail queued") {
				fail("the member removed was not told")
			}
			wantM = "member_removed"
		default:
			switch {
			case len(diffs) > 0:
				fail("the settings form changed members")
			case role != twofold.RoleOwner:
				fail("the browser's account is %q in it", role)
			case a.name != b.name && a.name != strings.TrimSpace(p.sent.Get("name")):
				fail("the form's name is %q", p.sent.Get("name"))
			case a.require != b.require && p.sent.Get("require_two_factor") != map[bool]string{true: "on", false: "off"}[a.require]:
				fail("the form's require_two_factor is %q", p.sent.Get("require_two_factor"))
			case a.require != b.require && !p.wasElevated:
				fail("the policy changed from a session not elevated")
			case b.require && !h.withApp:
				fail("the team requires two-factor and the browser's account has none")
			}
			wantM = "team_updated"
		}
		if p.r.url.Path != wantAt || p.r.url.Query().Get("m") != wantM {
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		// Nothing else: the team's rows, the mail, and the elevation
		// alice's unelevated browser's fields made.
		elevated := !p.wasElevated && hs.elevated(t, c)
		for _, l := range strings.Split(p.before.Diff(hs.snaps.Take(t)), "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch kind {
			case "- teams", "+ teams", "- team_members", "+ team_members":
			case "- sessions", "+ sessions", "- factors", "+ factors":
				if !elevated {
					fail("more changed: %s", l)
				}
			default:
				if !strings.HasPrefix(l, "+ mail queued") {
					fail("more changed: %s", l)
				}
			}
		}
		w.make(t)
		teams = w.ids
	})
}
