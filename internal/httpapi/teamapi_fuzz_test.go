package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTeamAPI sends any body to the team API's writes: a member's role
// (PATCH /v1/teams/{team_id}/members/{username}), a member's removal or
// leaving (DELETE …/members/{username}), the team's settings (PATCH
// /v1/teams/{team_id}: name, require_two_factor) and the team's deletion
// (DELETE /v1/teams/{team_id}), with any team and name, by one of four
// callers: alice's elevated session (she has an app), another of her
// sessions that is not elevated and never passed a second factor, bob's
// session (no factor), and an API key of alice's. Three teams: Ops, not
// requiring two-factor, with alice and dave owners, bob an admin and carol
// ops; Web, requiring it, with dave its owner, alice an admin, bob ops
// and carol billing; Lab, with bob its owner and alice ops; Vault,
// requiring two-factor, with bob its owner and carol ops. Whatever the
// request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - only the team the path names changes, by a person's session (never
//     a key), whose session passed a second factor when the team requires
//     one, and is elevated when the account has a factor for anything but
//     a name: a role becomes the body's, or a member goes, only by an owner
//     or admin of the team (an admin never makes, changes or removes an
//     owner), and the member is mailed (unless the caller); anyone may
//     leave; a team keeps an owner; a team's name and policy become the
//     body's, and the team is deleted, only by its owner;
//   - every row that changed is the named team's (or mail queued);
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 4, in the order above).
// In a team, @ops@, @web@, @lab@ and @vault@ stand for the teams' ids. The teams
// are made anew after a change. The who byte picks the caller (its value
// mod 4). On SQLite; FuzzTeamAPIPostgres is the same on PostgreSQL.
func FuzzTeamAPI(f *testing.F) { teamAPI(f, testenv.SQLiteDSN(f)) }

// FuzzTeamAPIPostgres is FuzzTeamAPI on PostgreSQL.
func FuzzTeamAPIPostgres(f *testing.F) { teamAPI(f, testenv.PostgresDSN(f)) }

// apiTeam is a team FuzzTeamAPI makes: its name, policy, and roles by
// username.
type apiTeam struct {
	name    string
	require bool
	roles   map[string]twofold.Role
}

// teamState is what FuzzTeamAPI reads of a team ("" name: gone).
type teamState struct {
	name    string
	require bool
	roles   map[string]twofold.Role // by username
}

func teamAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	ids, callers, who := teamCallers(f, s, []string{"account * read", "keys * write"}, "carol", "dave")

	teams := []apiTeam{
		{name: "Ops", roles: map[string]twofold.Role{"alice": twofold.RoleOwner, "dave": twofold.RoleOwner, "bob": twofold.RoleAdmin, "carol": twofold.RoleOps}},
		{name: "Web", require: true, roles: map[string]twofold.Role{"dave": twofold.RoleOwner, "alice": twofold.RoleAdmin, "bob": twofold.RoleOps, "carol": twofold.RoleBilling}},
		{name: "Lab", roles: map[string]twofold.Role{"bob": twofold.RoleOwner, "alice": twofold.RoleOps}},
		{name: "Vault", require: true, roles: map[string]twofold.Role{"bob": twofold.RoleOwner, "carol": twofold.RoleOps}},
	}
	var teamIDs []string
	made := 0
	makeTeams := func(t testing.TB) { teamIDs = makeAPITeams(t, s, dsn, teams, ids, teamIDs, &made) }
	makeTeams(f)
	usernames := map[string]string{}
	for name, id := range ids {
		usernames[id] = name
	}
	state := func(t *testing.T, id string) teamState {
		tm, err := s.Store.Team(ctx, id)
		if twofold.ErrorCode(err) == twofold.CodeNotFound {
			return teamState{}
		}
		if err != nil {
			t.Fatal(err)
		}
		members, err := s.Store.TeamMembers(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		st := teamState{name: tm.Name, require: tm.RequireTwoFactor, roles: map[string]twofold.Role{}}
		for _, m := range members {
			st.roles[usernames[m.AccountID]] = m.Role
		}
		return st
	}

	for _, in := range []struct {
		which            uint8
		team, name, body string
		who              uint8
	}{
		{0, "@ops@", "carol", `{"role":"admin"}`, 0},
		{0, "@ops@", "carol", `{"role":"admin"}`, 1},
		{0, "@ops@", "carol", `{"role":"billing"}`, 2},
		{0, "@ops@", "carol", `{"role":"owner"}`, 2},
		{0, "@ops@", "dave", `{"role":"ops"}`, 2},
		{0, "@ops@", "dave", `{"role":"ops"}`, 0},
		{0, "@ops@", "alice", `{"role":"read-only"}`, 0},
		{0, "@ops@", "bob", `{"role":" ops "}`, 0},
		{0, "@ops@", "carol", `{"role":"chief"}`, 0},
		{0, "@web@", "carol", `{"role":"ops"}`, 0},
		{0, "@web@", "carol", `{"role":"ops"}`, 2},
		{0, "@web@", "dave", `{"role":"ops"}`, 0},
		{0, "@ops@", "CAROL", `{"role":"admin"}`, 0},
		{0, "@ops@", "carol", `{"role":"admin"}`, 3},
		{0, "@lab@", "alice", `{"role":"admin"}`, 2},
		{1, "@ops@", "carol", "", 2},
		{1, "@ops@", "dave", "", 2},
		{1, "@ops@", "dave", "", 0},
		{1, "@ops@", "alice", "", 0},
		{1, "@ops@", "alice", "", 1},
		{1, "@ops@", "bob", "", 2},
		{1, "@web@", "bob", "", 0},
		{1, "@web@", "carol", "", 2},
		{1, "@web@", "alice", "", 0},
		{1, "@lab@", "alice", "", 2},
		{1, "@lab@", "bob", "", 2},
		{1, "@ops@", "carol", "", 3},
		{2, "@ops@", "", `{"name":"Ops team"}`, 1},
		{2, "@ops@", "", `{"name":" Ops 2 "}`, 0},
		{2, "@ops@", "", `{"require_two_factor":true}`, 0},
		{2, "@ops@", "", `{"require_two_factor":true}`, 1},
		{2, "@ops@", "", `{}`, 0},
		{2, "@ops@", "", `{"name":"Renamed"}`, 2},
		{2, "@web@", "", `{"require_two_factor":false}`, 0},
		{2, "@lab@", "", `{"name":"Bob's lab","require_two_factor":true}`, 2},
		{2, "@ops@", "", `{"name":"Ops","x":1}`, 0},
		{2, "@ops@", "", `{"name":"Ops"}`, 3},
		{3, "@ops@", "", "", 0},
		{3, "@ops@", "", "", 1},
		{3, "@ops@", "", "", 2},
		{3, "@web@", "", "", 0},
		{3, "@lab@", "", "", 2},
		{3, "@lab@", "", "", 0},
		{3, "@ops@", "", "", 3},
		{3, "@vault@", "", "", 2},
		{2, "@vault@", "", `{"name":"Safe"}`, 2},
		{1, "@vault@", "carol", "", 2},
		{0, "@vault@", "carol", `{"role":"admin"}`, 2},
	} {
		f.Add(in.which, in.team, in.name, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, team, name, body string, whoByte uint8) {
		caller := int(whoByte % 4)
		c, self := callers[caller], who[caller]
		team = strings.NewReplacer("@ops@", teamIDs[0], "@web@", teamIDs[1], "@lab@", teamIDs[2], "@vault@", teamIDs[3]).Replace(team)
		op := int(which % 4)
		method, path, shape := "PATCH", "/v1/teams/"+team+"/members/"+name, []string{"", "members", ""}
		switch op {
		case 1:
			method = "DELETE"
		case 2:
			path, shape = "/v1/teams/"+team, []string{""}
		case 3:
			method, path, shape = "DELETE", "/v1/teams/"+team, []string{""}
		}
		req, err := http.NewRequest(method, s.URL()+path, strings.NewReader(body))
		if err != nil || !testenv.Sendable(req) {
			return // no request a client could send
		}
		named, ok := teamSegments(req.URL, shape)
		if !ok {
			return // another route's
		}
		asCaller(req, c)

		var was, now []teamState
		for _, id := range teamIDs {
			was = append(was, state(t, id))
		}
		input := fmt.Sprintf("%s %s %q by %d", method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		for _, id := range teamIDs {
			now = append(now, state(t, id))
		}
		var changed []int
		for i := range teamIDs {
			if fmt.Sprint(was[i]) != fmt.Sprint(now[i]) {
				changed = append(changed, i)
			}
		}
		if len(changed) == 0 {
			if d != "" {
				t.Fatalf("%s: answered %d, no team changed, but the database did:\n%s", input, r.Status, d)
			}
			return // done, and nothing to do (a role given again, a name kept)
		}
		i := changed[0]
		b, a := was[i], now[i]
		role := b.roles[self] // the caller's in the team, before
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s: %s changed (%v to %v), but %s\n%s", input, teams[i].name, b, a, fmt.Sprintf(format, args...), d)
		}
		var sent struct {
			Role    string  `json:"role"`
			Name    *string `json:"name"`
			Require *bool   `json:"require_two_factor"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		hasApp, elevatedSession := self == "alice", caller == 0
		switch {
		case len(changed) > 1:
			fail("so did another team")
		case teamIDs[i] != named[0]:
			fail("the path names another team")
		case caller == 3:
			fail("an API key did it")
		case b.require && caller != 0:
			fail("the team requires two-factor and the caller's session passed none")
		}
		rowsOf(t, input, d, teamIDs[i])
		var diffs []string // the members whose roles changed or who went
		for n, r := range b.roles {
			if a.roles[n] != r {
				diffs = append(diffs, n)
			}
		}
		for n := range a.roles {
			if _, ok := b.roles[n]; !ok {
				fail("a member joined")
			}
		}
		if a.name != "" && !slices.Contains(slices.Collect(maps.Values(a.roles)), twofold.RoleOwner) {
			fail("the team has no owner left")
		}
		mailed := strings.Contains(d, "+ mail queued")
		// A manager's change: an owner or admin of the team, an elevated
		// session when the account has a factor; an owner only by an owner;
		// the member told, when not the caller.
		managed := func(member string, old, now twofold.Role) {
			t.Helper()
			switch {
			case !role.ManagesMembers():
				fail("the caller is %q in it", role)
			case hasApp && !elevatedSession:
				fail("the caller's session is not elevated")
			case role != twofold.RoleOwner && (old == twofold.RoleOwner || now == twofold.RoleOwner):
				fail("an admin made, changed or removed an owner")
			case member != self && !mailed:
				fail("the member was not told")
			}
		}
		switch op {
		case 0:
			if len(diffs) != 1 || a.roles[diffs[0]] == "" || !strings.EqualFold(strings.TrimSpace(named[2]), diffs[0]) {
				fail("the request is about the role of %q", named[2])
			}
			if string(a.roles[diffs[0]]) != strings.TrimSpace(sent.Role) {
				fail("the body's role is %q", sent.Role)
			}
			managed(diffs[0], b.roles[diffs[0]], a.roles[diffs[0]])
		case 1:
			if len(diffs) != 1 || a.roles[diffs[0]] != "" || !strings.EqualFold(strings.TrimSpace(named[2]), diffs[0]) {
				fail("the request is about the removal of %q", named[2])
			}
			if diffs[0] == self {
				if hasApp && !elevatedSession {
					fail("alice left from a session not elevated")
				}
				break
			}
			managed(diffs[0], b.roles[diffs[0]], "")
		case 2:
			switch {
			case len(diffs) > 0:
				fail("the settings changed members")
			case role != twofold.RoleOwner:
				fail("the caller is %q in it", role)
			case a.name != b.name && (sent.Name == nil || a.name != strings.TrimSpace(*sent.Name)):
				fail("the body's name is %v", sent.Name)
			case a.require != b.require && (sent.Require == nil || *sent.Require != a.require):
				fail("the body's require_two_factor is %v", sent.Require)
			case a.require != b.require && hasApp && !elevatedSession:
				fail("the policy changed from a session not elevated")
			}
		case 3:
			switch {
			case a.name != "":
				fail("the team was not deleted")
			case role != twofold.RoleOwner:
				fail("the caller is %q in it", role)
			case hasApp && !elevatedSession:
				fail("the team was deleted from a session not elevated")
			}
		}
		makeTeams(t)
	})
}

// teamSegments are the segments of u after /v1/teams/, shaped as shape
// ("" for any), as the server reads them; ok is false when the server
// would serve another path (cleaned) or the path has another shape.
func teamSegments(u *url.URL, shape []string) ([]string, bool) {
	first, ok := adminSegment(u, "/v1/teams/", shape)
	if !ok {
		return nil, false
	}
	rest := strings.Split(strings.TrimPrefix(u.EscapedPath(), "/v1/teams/"), "/")
	for i := range rest {
		rest[i], _ = url.PathUnescape(rest[i])
	}
	rest[0] = first
	return rest, true
}

// teamCallers adds alice, with an app, bob, without, and the accounts
// others, and returns the accounts' ids by username, FuzzTeamAPI's and
// FuzzShareAPI's callers (alice's elevated session, another of hers
// signed in before her app, so never elevated nor past a second factor,
// bob's session, and alice's API key with keyPermits), and whose each
// caller is.
func teamCallers(f *testing.F, s *testenv.Server, keyPermits []string, others ...string) (map[string]string, []*testenv.Client, []string) {
	ids := map[string]string{}
	for _, name := range append([]string{"alice", "bob"}, others...) {
		addUser(f, s, name)
		ids[name] = accountID(f, s, name)
	}
	other := login(f, s, "alice")
	elevated := login(f, s, "alice")
	enrol(f, s, elevated, map[string]any{"type": "totp", "label": "Phone"}) // confirming it elevates the session
	key, _ := fuzzKey(f, s, elevated, keyPermits...)
	return ids, []*testenv.Client{elevated, other, login(f, s, "bob"), key}, []string{"alice", "alice", "bob", "alice"}
}

// makeAPITeams deletes the teams old and makes teams anew, with their
// members (ids: account ids by username), and returns their ids; made
// counts the teams made, for their ids.
func makeAPITeams(t testing.TB, s *testenv.Server, dsn string, teams []apiTeam, ids map[string]string, old []string, made *int) []string {
	ctx := context.Background()
	testenv.DeleteTeams(t, dsn, old...)
	var out []string
	now := s.Clock.Now()
	for _, tm := range teams {
		*made++
		id := fmt.Sprintf("apiteam%019d", *made)
		owner := ""
		for name, r := range tm.roles {
			if r == twofold.RoleOwner && (owner == "" || name < owner) {
				owner = name
			}
		}
		if err := s.Store.CreateTeam(ctx, twofold.Team{ID: id, Name: tm.name, RequireTwoFactor: tm.require, CreatedAt: now}, ids[owner], 100); err != nil {
			t.Fatal(err)
		}
		for name, r := range tm.roles {
			if name == owner {
				continue
			}
			if err := s.Store.AddTeamMember(ctx, id, ids[name], r, now); err != nil {
				t.Fatal(err)
			}
		}
		out = append(out, id)
	}
	return out
}
