package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzShareAPI sends any body to the team API's zone shares: share a DNS
// zone with a team (PUT /v1/teams/{team_id}/zones/{zone}) and stop sharing
// it (DELETE …), with any team and zone, by one of four callers: alice's
// elevated session (she has an app), another of her sessions that is not
// elevated and never passed a second factor, bob's session (no factor),
// and an API key of alice's. The teams: Ops, where alice is the owner and
// bob read-only; Web, which requires two-factor, where dave is the owner,
// alice ops and bob an admin; Dev, where bob is the owner and alice an
// admin. The zones: alice.test and bob.test, shared with none; ops.test,
// alice's, shared with Ops; web.test, dave's, shared with Web; dev.test,
// bob's, shared with Dev. Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status or a redirect;
//   - a zone is shared only by a person's session (never a key) of its
//     owner, with the team the path names, which the owner manages (owner
//     or admin), past the team's policy, elevated when the account has a
//     factor; a zone stops being shared only with the team the path names,
//     by a person's session of the zone's owner, or of a manager of the
//     team whom its policy lets in, elevated when the account has a
//     factor; only that zone's row changes (and mail);
//   - a refusal writes nothing (testenv.Snapshot).
//
// The which byte picks the request (its value mod 2: share, stop). In a
// team, @ops@, @web@ and @dev@ stand for the teams' ids. The teams and
// zones are made anew after a change. The who byte picks the caller (its
// value mod 4). On SQLite; FuzzShareAPIPostgres is the same on PostgreSQL.
func FuzzShareAPI(f *testing.F) { shareAPI(f, testenv.SQLiteDSN(f)) }

// FuzzShareAPIPostgres is FuzzShareAPI on PostgreSQL.
func FuzzShareAPIPostgres(f *testing.F) { shareAPI(f, testenv.PostgresDSN(f)) }

func shareAPI(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	ids, callers, who := teamCallers(f, s, []string{"account * read", "keys * write", "dns * read,write"}, "dave")

	teams := []apiTeam{
		{name: "Ops", roles: map[string]twofold.Role{"alice": twofold.RoleOwner, "bob": twofold.RoleReadOnly}},
		{name: "Web", require: true, roles: map[string]twofold.Role{"dave": twofold.RoleOwner, "alice": twofold.RoleOps, "bob": twofold.RoleAdmin}},
		{name: "Dev", roles: map[string]twofold.Role{"bob": twofold.RoleOwner, "alice": twofold.RoleAdmin}},
	}
	zones := []struct {
		name, owner string
		team        int // -1: none
	}{{"alice.test", "alice", -1}, {"bob.test", "bob", -1}, {"ops.test", "alice", 0}, {"web.test", "dave", 1}, {"dev.test", "bob", 2}}
	var teamIDs []string
	made := 0
	makeWorld := func(t testing.TB) {
		for _, z := range zones {
			if _, err := s.Store.DeleteZone(ctx, z.name); err != nil {
				t.Fatal(err)
			}
		}
		teamIDs = makeAPITeams(t, s, dsn, teams, ids, teamIDs, &made)
		now := s.Clock.Now()
		for _, z := range zones {
			if err := s.Store.CreateZone(ctx, twofold.Zone{Name: z.name, AccountID: ids[z.owner], Serial: 1, CreatedAt: now}); err != nil {
				t.Fatal(err)
			}
			if z.team >= 0 {
				testenv.Exec(t, dsn, fmt.Sprintf(`UPDATE dns_zones SET team_id = '%s' WHERE name = '%s'`, teamIDs[z.team], z.name))
			}
		}
	}
	makeWorld(f)
	// shares is the team each zone is shared with now ("" for none).
	shares := func(t *testing.T) map[string]string {
		out := map[string]string{}
		for _, z := range zones {
			zone, err := s.Store.Zone(ctx, z.name)
			if err != nil {
				t.Fatal(err)
			}
			out[z.name] = zone.TeamID
		}
		return out
	}

	for _, in := range []struct {
		which            uint8
		team, zone, body string
		who              uint8
	}{
		{0, "@ops@", "alice.test", "", 0},
		{0, "@ops@", "alice.test", "", 1},
		{0, "@ops@", "alice.test", "", 3},
		{0, "@dev@", "alice.test", "", 0},
		{0, "@web@", "alice.test", "", 0},
		{0, "@ops@", "bob.test", "", 2},
		{0, "@dev@", "bob.test", "", 2},
		{0, "@web@", "bob.test", "", 2},
		{0, "@dev@", "web.test", "", 2},
		{0, "@ops@", "bob.test", "", 0},
		{0, "@dev@", "web.test", "", 0},
		{0, "@ops@", "ALICE.TEST", "", 0},
		{0, "@ops@", "alice.test.", "", 0},
		{1, "@ops@", "ops.test", "", 0},
		{1, "@ops@", "ops.test", "", 1},
		{1, "@ops@", "ops.test", "", 2},
		{1, "@ops@", "ops.test", "", 3},
		{1, "@web@", "web.test", "", 2},
		{1, "@web@", "web.test", "", 0},
		{1, "@dev@", "dev.test", "", 0},
		{1, "@dev@", "dev.test", "", 1},
		{1, "@dev@", "ops.test", "", 0},
		{1, "@ops@", "ops.test", "{}", 0},
	} {
		f.Add(in.which, in.team, in.zone, in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, which uint8, team, zone, body string, whoByte uint8) {
		caller := int(whoByte % 4)
		c, self := callers[caller], who[caller]
		team = strings.NewReplacer("@ops@", teamIDs[0], "@web@", teamIDs[1], "@dev@", teamIDs[2]).Replace(team)
		method := "PUT"
		if which%2 == 1 {
			method = "DELETE"
		}
		req, err := http.NewRequest(method, s.URL()+"/v1/teams/"+team+"/zones/"+zone, strings.NewReader(body))
		if err != nil || !testenv.Sendable(req) {
			return // no request a client could send
		}
		named, ok := teamSegments(req.URL, []string{"", "zones", ""})
		if !ok {
			return // another route's
		}
		asCaller(req, c)

		was := shares(t)
		input := fmt.Sprintf("%s %s %q by %d", method, req.URL.EscapedPath(), body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		now := shares(t)
		var changed []string
		for z, tm := range was {
			if now[z] != tm {
				changed = append(changed, z)
			}
		}
		if len(changed) == 0 {
			if d != "" {
				t.Fatalf("%s: answered %d, no share changed, but the database did:\n%s", input, r.Status, d)
			}
			return // done, and nothing to do (a zone shared with the team already)
		}
		z := changed[0]
		var owner string
		for _, x := range zones {
			if x.name == z {
				owner = x.owner
			}
		}
		i := -1
		for j, id := range teamIDs {
			if id == named[0] {
				i = j
			}
		}
		fail := func(format string, args ...any) {
			t.Helper()
			t.Fatalf("%s: %s went from team %q to %q, but %s\n%s", input, z, was[z], now[z], fmt.Sprintf(format, args...), d)
		}
		switch {
		case len(changed) > 1:
			fail("so did another zone")
		case i < 0:
			fail("the path names no team")
		case caller == 3:
			fail("an API key did it")
		case !strings.EqualFold(strings.TrimSuffix(named[2], "."), z):
			fail("the path names zone %q", named[2])
		}
		rowsOf(t, input, d, z)
		role := teams[i].roles[self]
		passed := caller == 0 // the caller's session passed a second factor
		if method == "PUT" {
			switch {
			case now[z] != named[0]:
				fail("the zone is shared with another team than the path's")
			case owner != self:
				fail("the caller does not own the zone")
			case !role.ManagesMembers():
				fail("the caller is %q in the team", role)
			case teams[i].require && !passed:
				fail("the team requires two-factor and the caller's session passed none")
			case self == "alice" && caller != 0:
				fail("the caller's session is not elevated")
			}
		} else {
			switch {
			case now[z] != "" || was[z] != named[0]:
				fail("the zone is no longer shared with another team than the path's")
			case owner == self:
			case !role.ManagesMembers():
				fail("the caller neither owns the zone nor manages the team (%q)", role)
			case teams[i].require && !passed:
				fail("the team requires two-factor and the caller's session passed none")
			case self == "alice" && caller != 0:
				fail("a manager's session is not elevated")
			}
		}
		makeWorld(t)
	})
}
