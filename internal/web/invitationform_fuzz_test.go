package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzInvitationForm posts any form to the pages' invitation forms:
// joining a team (POST /settings/invitations/{inv}/accept, with the join
// form's one-time token or another), declining (…/decline), revoking an
// invitation (POST /settings/teams/{id}/invitations/{inv}/revoke) and
// inviting (POST /settings/teams/{id}/invitations), with any team and
// invitation, from the browsers of formHolders (alice's elevated, alice's
// never elevated, bob's). dave owns the team Ops, where alice is an
// admin, and has invited bob to it as ops and carol as an owner; carol
// owns the team Web and has invited alice as an admin and bob as billing.
// Whatever the form:
//
//   - the answer is never a server error;
//   - something changes only with the browser's CSRF token: an invitation
//     is accepted or declined only by the account it invites, which then
//     is a member with the invitation's role (and is on the team's page),
//     or not (and on the teams page); an invitation is revoked only through
//     its own team's path, by an owner or admin of that team (it grants
//     nothing: no elevation is asked), one to be an owner by an owner only;
//     an invitation is made only by such a manager with an elevated session
//     when the account has a factor, to the form's name (trimmed) and role,
//     to be an owner by an owner only, for no member or invitee of the
//     team, and an invitee with an account is mailed; nothing else
//     changes;
//   - otherwise the database is as it was (testenv.Snapshot) but for the
//     elevation alice's unelevated browser's fields made
//     (formHolders.refusedDiff), and no mail is queued;
//   - no password or code of alice's app the form sent comes back in the
//     page, and none goes to the log.
//
// The which byte picks the form (its value mod 4: accept, decline, revoke,
// invite). In a team, @ops@ and @web@ stand for the teams' ids; in an
// invitation, @bobops@, @carolowner@, @aliceweb@ and @bobweb@ for the
// invitations' ids; in a form, @alice@ and @bob@ for the accounts' names,
// @join@ for the one-time token of the join form the browser's teams page
// shows for the invitation named, and placeholders for the passwords and
// alice's app's codes (formHolders.replace). The teams and invitations are
// made anew after a change, and when an account was. The who byte picks the
// browser. A path the mux cleans to another form's route is skipped
// (servedSegments). On SQLite; FuzzInvitationFormPostgres is the same on
// PostgreSQL.
func FuzzInvitationForm(f *testing.F) { invitationForm(f, testenv.SQLiteDSN(f)) }

// FuzzInvitationFormPostgres is FuzzInvitationForm on PostgreSQL.
func FuzzInvitationFormPostgres(f *testing.F) { invitationForm(f, testenv.PostgresDSN(f)) }

// pageInvitation is an invitation FuzzInvitationForm makes.
type pageInvitation struct {
	placeholder string
	team        int    // Ops 0, Web 1
	invitee     int    // the index in formHolders.list, or -1 for carol
	role        string // the role it gives
	id          string
}

// joinOnce finds the one-time token of a join form on the teams page,
// after its invitation's id.
func joinOnce(page, id string) string {
	m := regexp.MustCompile(`action="/settings/invitations/` + regexp.QuoteMeta(id) + `/accept"[^<]*<input[^>]*>\s*<input type="hidden" name="once" value="([^"]+)"`).FindStringSubmatch(page)
	if m == nil {
		return "none"
	}
	return m[1]
}

func invitationForm(f *testing.F, dsn string) {
	hs := newFormHolders(f, dsn)
	ts, ctx := hs.ts, context.Background()
	// dave and carol own the teams; they have browsers of their own.
	owners := map[string]*client{}
	ownerAuth := func(t testing.TB, name string) core.Auth {
		c := owners[name]
		if c != nil {
			c.t = t
			if token := jarValue(t, c, "/", "twofold_session"); token != "" {
				if a, err := ts.Service.Authenticate(ctx, token); err == nil {
					return a
				}
			}
		}
		c = newClient(t, ts.URL())
		c.post("/login", url.Values{"username": {name}, "password": {testPassword}})
		owners[name] = c
		a, err := ts.Service.Authenticate(ctx, sessionCookie(t, c))
		if err != nil {
			t.Fatalf("%s signs in: %v", name, err)
		}
		return a
	}
	w := newTeamWorld(f, hs, dsn, []worldTeam{
		{name: "Ops", owner: worldDave, members: map[int]twofold.Role{worldAlice: twofold.RoleAdmin}},
		{name: "Web", owner: worldCarol},
	}, nil)
	invitations := []*pageInvitation{
		{placeholder: "@bobops@", invitee: 1, role: "ops"},
		{placeholder: "@carolowner@", invitee: -1, role: "owner"},
		{placeholder: "@aliceweb@", team: 1, invitee: 0, role: "admin"},
		{placeholder: "@bobweb@", team: 1, invitee: 1, role: "billing"},
	}
	inviteeName := func(v *pageInvitation) string {
		if v.invitee < 0 {
			return "carol"
		}
		return hs.list[v.invitee].name + fmt.Sprint(hs.list[v.invitee].made)
	}
	// invite has dave and carol invite to their teams as made last.
	invite := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'team:%'`)
		auths := []core.Auth{ownerAuth(t, "dave"), ownerAuth(t, "carol")}
		for _, v := range invitations {
			inv, err := ts.Service.InviteTeamMember(ctx, auths[v.team], w.ids[v.team], inviteeName(v), v.role, core.Meta{})
			if err != nil {
				t.Fatalf("invite %s: %v", v.placeholder, err)
			}
			v.id = inv.ID
		}
		ts.Service.Wait() // the invitees are told now, not while a form is judged
	}
	// makeTeams deletes the teams and makes them anew, with their
	// invitations.
	makeTeams := func(t testing.TB) {
		w.make(t)
		invite(t)
	}
	invite(f)
	// standing reads the invitations of the teams and their members.
	type standing struct {
		invitations map[string]twofold.TeamInvitation // by id
		members     []map[string]twofold.Role         // by account id, per team
	}
	read := func(t *testing.T) standing {
		s := standing{invitations: map[string]twofold.TeamInvitation{}}
		for _, id := range w.ids {
			vs, err := ts.Store.TeamInvitations(ctx, id, ts.Clock.Now())
			if err != nil {
				t.Fatal(err)
			}
			for _, v := range vs {
				s.invitations[v.ID] = v
			}
			ms, err := ts.Store.TeamMembers(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			roles := map[string]twofold.Role{}
			for _, m := range ms {
				roles[m.AccountID] = m.Role
			}
			s.members = append(s.members, roles)
		}
		return s
	}

	for _, in := range []struct {
		which           uint8
		team, inv, form string
		who             uint8
	}{
		{0, "", "@bobops@", "once=@join@", 2},
		{0, "", "@bobops@", "", 2},
		{0, "", "@bobops@", "once=x", 2},
		{0, "", "@bobops@", "once=@join@", 0},
		{0, "", "@aliceweb@", "once=@join@", 1},
		{0, "", "@carolowner@", "", 0},
		{0, "", "@bobweb@", "csrf=x", 2},
		{1, "", "@bobweb@", "", 2},
		{1, "", "@aliceweb@", "", 0},
		{1, "", "@bobops@", "", 0},
		{2, "@ops@", "@bobops@", "", 0},
		{2, "@ops@", "@bobops@", "", 1},
		{2, "@ops@", "@carolowner@", "", 0},
		{2, "@ops@", "@bobweb@", "", 0},
		{2, "@web@", "@bobweb@", "", 0},
		{2, "@web@", "@bobweb@", "", 2},
		{2, "@ops@/..", "@bobops@", "", 0},
		{3, "@ops@", "", "username=erin&role=ops", 0},
		{3, "@ops@", "", "username=+erin+&role=+read-only+", 0},
		{3, "@ops@", "", "username=erin&role=ops", 1},
		{3, "@ops@", "", "username=erin&role=owner", 0},
		{3, "@ops@", "", "username=@bob@&role=ops", 0},
		{3, "@ops@", "", "username=dave&role=ops", 0},
		{3, "@ops@", "", "username=ERIN&role=ops", 0},
		{3, "@web@", "", "username=erin&role=ops", 0},
		{3, "@ops@", "", "username=erin&role=ops", 2},
		{3, "@ops@", "", "username=erin&role=ops&csrf=x", 0},
	} {
		f.Add(in.which, in.team, in.inv, in.form, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, team, inv, form string, who uint8) {
		before := read(t)
		rebuild := slices.Contains(hs.ready(t), true)
		for _, v := range invitations {
			rebuild = rebuild || before.invitations[v.id].ID == "" // lapsed, and swept
		}
		if rebuild {
			makeTeams(t)
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`) // rationing (of changes, of notices) is another test's
		h, c, caller := hs.browser(who)
		self := h.id // mayAct may mark it to be made anew
		for _, x := range owners {
			x.t = t
		}
		pairs := w.placeholders(false)
		for _, v := range invitations {
			pairs = append(pairs, v.placeholder, v.id)
		}
		fill := strings.NewReplacer(pairs...)
		team, inv = fill.Replace(team), fill.Replace(inv)
		var path, prefix, suffix string
		switch which % 4 {
		case 0:
			prefix, suffix = "/settings/invitations/", "/accept"
		case 1:
			prefix, suffix = "/settings/invitations/", "/decline"
		case 2:
			prefix, suffix = "/settings/teams/", "/revoke"
			inv = team + "/invitations/" + inv
		default:
			prefix, suffix, inv = "/settings/teams/", "/invitations", team
		}
		path = prefix + inv + suffix
		req, err := http.NewRequest("POST", ts.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a browser could send
		}
		// What the path names as the mux serves it.
		shape := [][]string{{"", "accept"}, {"", "decline"}, {"", "invitations", "", "revoke"}, {"", "invitations"}}[which%4]
		served := servedSegments(req.URL, prefix, shape...)
		if served == nil {
			return // another form's
		}
		join := "none"
		if strings.Contains(form, "@join@") && which%4 == 0 && len(served) == 2 &&
			slices.ContainsFunc(invitations, func(v *pageInvitation) bool { return v.id == served[0] }) {
			join = joinOnce(c.get("/settings/teams").body, served[0])
		}
		form = hs.replace(form, c, ts.Clock.Now(), "@join@", join, "@alice@", inviteeName(invitations[2]), "@bob@", inviteeName(invitations[0]))
		before = read(t)
		p := hs.post(t, path, form, who)
		after := read(t)
		d := p.before.Diff(hs.snaps.Take(t))

		var gone []*pageInvitation
		for _, v := range invitations {
			if after.invitations[v.id].ID == "" {
				gone = append(gone, v)
			}
		}
		var added []twofold.TeamInvitation
		for id, v := range after.invitations {
			if before.invitations[id].ID == "" {
				added = append(added, v)
			}
		}
		if len(gone) == 0 && len(added) == 0 && fmt.Sprint(before.members) == fmt.Sprint(after.members) {
			hs.refused(t, p, path)
			return
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s %q by %d: %s: invitations gone %d, made %d; members %v to %v; database:\n%s", path, form, caller,
				fmt.Sprintf(format, args...), len(gone), len(added), before.members, after.members, d)
		}
		if p.parseErr != nil || p.sent.Get("csrf") != c.csrf {
			fail("the form has another CSRF token")
		}
		wantAt, wantM := "", ""
		joined := -1 // the team the browser's account joined
		switch which % 4 {
		case 0, 1:
			if len(gone) != 1 || len(added) != 0 || len(served) != 2 || gone[0].id != served[0] {
				fail("not the one invitation the path names went")
			}
			v := gone[0]
			if v.invitee != caller/2 {
				fail("%s answered by someone it does not invite", v.placeholder)
			}
			wantAt, wantM = "/settings/teams", "invitation_declined"
			if which%4 == 0 {
				joined = v.team
				wantAt, wantM = "/settings/teams/"+w.ids[v.team], "invitation_accepted"
				if after.members[v.team][self] != twofold.Role(v.role) {
					fail("%s joined as %q", v.placeholder, after.members[v.team][self])
				}
			}
		case 2:
			if len(gone) != 1 || len(added) != 0 || len(served) != 4 || served[1] != "invitations" || gone[0].id != served[2] {
				fail("not the one invitation the path names went")
			}
			v := gone[0]
			role := before.members[v.team][self]
			switch {
			case served[0] != w.ids[v.team]:
				fail("%s revoked through another team's path", v.placeholder)
			case !role.ManagesMembers():
				fail("%s revoked by someone %q in its team", v.placeholder, role)
			case v.role == "owner" && role != twofold.RoleOwner:
				fail("%s, to be an owner, revoked by an admin", v.placeholder)
			}
			// Revoking grants nothing: no elevation asked.
			wantAt, wantM = "/settings/teams/"+w.ids[v.team], "invitation_revoked"
		default:
			if len(gone) != 0 || len(added) != 1 || len(served) != 2 {
				fail("not one invitation made")
			}
			v, i := added[0], slices.Index(w.ids, served[0])
			role := twofold.Role("")
			if i >= 0 {
				role = before.members[i][self]
			}
			switch {
			case i < 0 || v.TeamID != w.ids[i]:
				fail("an invitation made to another team than the path's")
			case !role.ManagesMembers():
				fail("an invitation made by someone %q in its team", role)
			case v.Username != strings.TrimSpace(p.sent.Get("username")) || string(v.Role) != strings.TrimSpace(p.sent.Get("role")):
				fail("the invitation is of %q as %q", v.Username, v.Role)
			case v.Role == twofold.RoleOwner && role != twofold.RoleOwner:
				fail("an invitation to be an owner made by an admin")
			}
			for id, r := range before.members[i] {
				if a, err := ts.Store.AccountByID(ctx, id); err != nil || strings.EqualFold(a.Username, v.Username) {
					fail("an invitation made for a member (%s, %v)", r, err)
				}
			}
			for _, w := range before.invitations {
				if w.TeamID == v.TeamID && strings.EqualFold(w.Username, v.Username) {
					fail("a second invitation made for %s", v.Username)
				}
			}
			if _, err := ts.Store.AccountByUsername(ctx, v.Username); err == nil && !strings.Contains(d, "+ mail queued") {
				fail("%s was not told of the invitation", v.Username)
			}
			hs.mayAct(t, p, "an invitation made")
			wantAt, wantM = "/settings/teams/"+w.ids[i], "invited"
		}
		for i := range w.ids {
			for id, r := range after.members[i] {
				if before.members[i][id] != r && !(i == joined && id == self) {
					fail("a member changed")
				}
			}
			if len(after.members[i]) < len(before.members[i]) {
				fail("a member went")
			}
		}
		if p.r.url.Path != wantAt || p.r.url.Query().Get("m") != wantM {
			fail("the browser is at %s (%d)", p.r.url, p.r.status)
		}
		// Nothing else changed but the invitations, the members, the mail
		// and the one-time token of a join form.
		for _, l := range strings.Split(d, "\n") {
			kind, _, _ := strings.Cut(l, ":")
			switch kind {
			case "- team_invitations", "+ team_invitations", "+ team_members", "+ form_uses", "- form_uses":
			default:
				if !strings.HasPrefix(l, "+ mail queued") {
					fail("more changed: %s", l)
				}
			}
		}
		makeTeams(t)
	})
}
