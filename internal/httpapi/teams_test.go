package httpapi_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// makeTeam creates a team through c and returns its id.
func makeTeam(t *testing.T, c *testenv.Client, name string) string {
	t.Helper()
	r := c.Do(t, "POST", "/v1/teams", map[string]string{"name": name})
	if r.Status != 201 {
		t.Fatalf("create team: got %d %s, want 201", r.Status, r.Body)
	}
	team := r.JSON["team"].(map[string]any)
	if team["role"] != "owner" || team["require_two_factor"] != false {
		t.Fatalf("new team: got %v, want the creator as owner and no policy", team)
	}
	if loc := r.Header.Get("Location"); loc != "/v1/teams/"+team["id"].(string) {
		t.Errorf("create team: Location %q, want the new team's address", loc)
	}
	return team["id"].(string)
}

// invite invites username to the team with role through c, wanting 201,
// and returns the invitation's id.
func invite(t *testing.T, c *testenv.Client, team, username, role string) string {
	t.Helper()
	r := c.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": username, "role": role})
	if r.Status != 201 {
		t.Fatalf("invite %s as %s: got %d %s, want 201", username, role, r.Status, r.Body)
	}
	return r.JSON["invitation"].(map[string]any)["id"].(string)
}

// addMember invites username through c and accepts as invitee, username's
// client.
func addMember(t *testing.T, c, invitee *testenv.Client, team, username, role string) {
	t.Helper()
	id := invite(t, c, team, username, role)
	r := invitee.Do(t, "POST", "/v1/me/invitations/"+id+"/accept", nil)
	if r.Status != 200 || r.JSON["team"].(map[string]any)["role"] != role {
		t.Fatalf("%s accepts: got %d %s, want 200 as %s", username, r.Status, r.Body, role)
	}
}

// roles returns username → role of the team's members as c sees them.
func roles(t *testing.T, c *testenv.Client, team string) map[string]string {
	t.Helper()
	r := c.Do(t, "GET", "/v1/teams/"+team, nil)
	if r.Status != 200 {
		t.Fatalf("get team: got %d %s", r.Status, r.Body)
	}
	out := map[string]string{}
	for _, m := range r.JSON["members"].([]any) {
		m := m.(map[string]any)
		out[m["username"].(string)] = m["role"].(string)
	}
	return out
}

func elevateWith(t *testing.T, c *testenv.Client, code string) {
	t.Helper()
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": code}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
}

// TestTeamRoles walks who may do what in a team (SPEC §1 story 6): owners
// manage everything, admins every member but owners, the other roles no
// member; a team always keeps an owner; outsiders learn nothing of it.
func TestTeamRoles(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		for _, n := range []string{"alice", "bob", "carol", "dave", "eve"} {
			addUser(t, s, n)
		}
		alice, bob, carol, dave, eve := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol"), login(t, s, "dave"), login(t, s, "eve")
		team := makeTeam(t, alice, "Acme hosting")

		addMember(t, alice, bob, team, "bob", "admin")
		addMember(t, alice, carol, team, "carol", "ops")
		wantProblem(t, alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "Carol", "role": "ops"}), 409, "conflict")
		wantProblem(t, alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "dave", "role": "superuser"}), 400, "invalid")
		wantProblem(t, alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "no body", "role": "ops"}), 400, "invalid")

		// An admin invites and changes members, but never an owner.
		addMember(t, bob, dave, team, "dave", "billing")
		wantProblem(t, bob.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "eve", "role": "owner"}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "PATCH", "/v1/teams/"+team+"/members/alice", map[string]string{"role": "read-only"}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "PATCH", "/v1/teams/"+team+"/members/carol", map[string]string{"role": "owner"}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "DELETE", "/v1/teams/"+team+"/members/alice", nil), 403, "forbidden")
		if r := bob.Do(t, "PATCH", "/v1/teams/"+team+"/members/dave", map[string]string{"role": "read-only"}); r.Status != 200 {
			t.Fatalf("admin changes a role: got %d %s", r.Status, r.Body)
		}
		// Only owners change the team itself.
		wantProblem(t, bob.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"name": "Mine now"}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "DELETE", "/v1/teams/"+team, nil), 403, "forbidden")
		// Ops manage no members.
		wantProblem(t, carol.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "eve", "role": "read-only"}), 403, "forbidden")
		wantProblem(t, carol.Do(t, "GET", "/v1/teams/"+team+"/invitations", nil), 403, "forbidden")
		wantProblem(t, carol.Do(t, "DELETE", "/v1/teams/"+team+"/members/dave", nil), 403, "forbidden")

		// Outsiders learn nothing, not even that the team exists.
		for _, r := range []testenv.Response{
			eve.Do(t, "GET", "/v1/teams/"+team, nil),
			eve.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"name": "x"}),
			eve.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "eve", "role": "owner"}),
			eve.Do(t, "GET", "/v1/teams/"+team+"/invitations", nil),
			eve.Do(t, "DELETE", "/v1/teams/"+team+"/members/bob", nil),
		} {
			wantProblem(t, r, 404, "not-found")
		}
		if r := eve.Do(t, "GET", "/v1/teams", nil); r.Status != 200 || len(r.JSON["teams"].([]any)) != 0 {
			t.Fatalf("eve's teams: got %d %s, want none", r.Status, r.Body)
		}

		// The last owner can neither leave nor step down; with a second
		// owner both work.
		wantProblem(t, alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/alice", map[string]string{"role": "admin"}), 409, "conflict")
		wantProblem(t, alice.Do(t, "DELETE", "/v1/teams/"+team+"/members/alice", nil), 409, "conflict")
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/bob", map[string]string{"role": "owner"}); r.Status != 200 {
			t.Fatalf("make bob owner: got %d %s", r.Status, r.Body)
		}
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/alice", map[string]string{"role": "admin"}); r.Status != 200 {
			t.Fatalf("alice steps down: got %d %s", r.Status, r.Body)
		}
		// Any member may leave.
		if r := carol.Do(t, "DELETE", "/v1/teams/"+team+"/members/carol", nil); r.Status != 204 {
			t.Fatalf("carol leaves: got %d %s", r.Status, r.Body)
		}
		want := map[string]string{"alice": "admin", "bob": "owner", "dave": "read-only"}
		if got := roles(t, bob, team); !equalMaps(got, want) {
			t.Fatalf("members: got %v, want %v", got, want)
		}
		wantProblem(t, carol.Do(t, "GET", "/v1/teams/"+team, nil), 404, "not-found")

		// Renaming checks the name; deleting ends every membership.
		wantProblem(t, bob.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"name": "two\nlines"}), 400, "invalid")
		if r := bob.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"name": "Acme"}); r.Status != 200 || r.JSON["team"].(map[string]any)["name"] != "Acme" {
			t.Fatalf("rename: got %d %s", r.Status, r.Body)
		}
		if r := alice.Do(t, "GET", "/v1/teams", nil); r.Status != 200 || len(r.JSON["teams"].([]any)) != 1 {
			t.Fatalf("alice's teams: got %d %s, want one", r.Status, r.Body)
		}
		if r := bob.Do(t, "DELETE", "/v1/teams/"+team, nil); r.Status != 204 {
			t.Fatalf("delete team: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, alice.Do(t, "GET", "/v1/teams/"+team, nil), 404, "not-found")
		for who, typ := range map[string]string{"alice": "team.created", "dave": "team.joined", "carol": "team.left", "bob": "team.deleted"} {
			acct, err := s.Store.AccountByUsername(context.Background(), who)
			if err != nil {
				t.Fatal(err)
			}
			if n := countEvents(t, s, acct.ID, typ); n != 1 {
				t.Errorf("%s: got %d %s events, want 1", who, n, typ)
			}
		}
	})
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// TestTeamZones shares a DNS zone with a team: members reach its records as
// their roles allow, API keys of members too, and nobody once the sharing
// or the membership ends.
func TestTeamZones(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"alice", "bob", "carol", "dave", "eve"} {
			addUser(t, s, n)
		}
		for _, z := range []string{"example.com", "example.org"} {
			if _, err := s.Service.AddZone(ctx, z, "alice", core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		alice, bob, carol, dave := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol"), login(t, s, "dave")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, bob, team, "bob", "ops")
		addMember(t, alice, carol, team, "carol", "read-only")
		addMember(t, alice, dave, team, "dave", "billing")
		// Only the zone's owner shares it, and only with a team she manages.
		wantProblem(t, bob.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil), 404, "not-found")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != 1 {
			t.Fatalf("share zone: got %d %s", r.Status, r.Body)
		}

		rec := map[string]any{"records": []map[string]any{{"host": "www", "ttl": 300, "type": "A", "data": "192.0.2.1"}}}
		base := "/dns/v2/zones/example.com/records"
		if r := bob.Do(t, "POST", base, rec); r.Status != 200 {
			t.Fatalf("ops adds a record: got %d %s", r.Status, r.Body)
		}
		if r := carol.Do(t, "GET", base, nil); r.Status != 200 || len(r.JSON["records"].([]any)) != 1 {
			t.Fatalf("read-only reads: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, carol.Do(t, "POST", base, rec), 403, "forbidden")
		wantProblem(t, dave.Do(t, "GET", base, nil), 404, "not-found")
		// Billing sees the team, not its zones.
		if r := dave.Do(t, "GET", "/v1/teams/"+team, nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != 0 {
			t.Fatalf("billing's view of the team: got %d %s, want no zones", r.Status, r.Body)
		}
		// A manager of another team learns nothing of zones outside it.
		eve := login(t, s, "eve")
		own := makeTeam(t, eve, "Eve's")
		shared := eve.Do(t, "DELETE", "/v1/teams/"+own+"/zones/example.com", nil)
		missing := eve.Do(t, "DELETE", "/v1/teams/"+own+"/zones/no-such-zone.com", nil)
		wantProblem(t, shared, 404, "not-found")
		wantProblem(t, missing, 404, "not-found")
		if shared.JSON["detail"] != missing.JSON["detail"] {
			t.Fatalf("an existing zone answers %q, a missing one %q: they must not differ", shared.JSON["detail"], missing.JSON["detail"])
		}
		wantProblem(t, bob.Do(t, "GET", "/dns/v2/zones/example.org/records", nil), 404, "not-found")
		for _, tt := range []struct {
			c    *testenv.Client
			want int
		}{{bob, 1}, {carol, 1}, {dave, 0}} {
			if r := tt.c.Do(t, "GET", "/dns/v2/zones", nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != tt.want {
				t.Fatalf("zones: got %d %s, want %d zones", r.Status, r.Body, tt.want)
			}
		}

		// A member's key reaches the team's zone within its permits.
		k := makeKey(t, bob, "acme", nil, "dns example.com/_acme-challenge/TXT write")
		kc := keyClient(s, k.id, k.secret)
		txt := map[string]any{"records": []map[string]any{{"host": "_acme-challenge", "ttl": 60, "type": "TXT", "data": "token"}}}
		if r := kc.Do(t, "POST", base+"/_acme-challenge/TXT", txt); r.Status != 200 {
			t.Fatalf("member's key: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, kc.Do(t, "POST", base+"/www/A", rec), 403, "forbidden")

		// Demoted, removed, or unshared: the access goes with it.
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/bob", map[string]string{"role": "read-only"}); r.Status != 200 {
			t.Fatalf("demote bob: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, kc.Do(t, "POST", base+"/_acme-challenge/TXT", txt), 403, "forbidden")
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/members/bob", nil); r.Status != 204 {
			t.Fatalf("remove bob: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, kc.Do(t, "GET", base+"/_acme-challenge/TXT", nil), 404, "not-found")
		wantProblem(t, bob.Do(t, "GET", base, nil), 404, "not-found")
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 204 {
			t.Fatalf("unshare: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, carol.Do(t, "GET", base, nil), 404, "not-found")
		if r := alice.Do(t, "GET", base, nil); r.Status != 200 || len(r.JSON["records"].([]any)) != 2 {
			t.Fatalf("the owner keeps her zone: got %d %s", r.Status, r.Body)
		}
		// Deleting a team leaves its zones with their owner.
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.org", nil); r.Status != 200 {
			t.Fatalf("share example.org: got %d %s", r.Status, r.Body)
		}
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team, nil); r.Status != 204 {
			t.Fatalf("delete team: got %d %s", r.Status, r.Body)
		}
		z, err := s.Store.Zone(ctx, "example.org")
		if err != nil || z.TeamID != "" || z.AccountID == "" {
			t.Fatalf("zone after its team went: got %+v, %v", z, err)
		}
	})
}

// TestTeamZoneKeyParts: a member's key that may only add records (one
// part of write, as an OpenStack POST rule makes) adds them to the team's
// zone but neither replaces nor removes them, and once its holder's role
// no longer changes the team's resources it adds nothing either.
func TestTeamZoneKeyParts(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		for _, n := range []string{"alice", "bob"} {
			addUser(t, s, n)
		}
		if _, err := s.Service.AddZone(context.Background(), "example.com", "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
		alice, bob := login(t, s, "alice"), login(t, s, "bob")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, bob, team, "bob", "ops")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
			t.Fatalf("share zone: got %d %s", r.Status, r.Body)
		}
		k := makeKey(t, bob, "acme", nil, "dns example.com/_acme-challenge/TXT add")
		kc := keyClient(s, k.id, k.secret)
		path := "/dns/v2/zones/example.com/records/_acme-challenge/TXT"
		txt := func(data string) map[string]any {
			return map[string]any{"records": []map[string]any{{"ttl": 60, "data": data}}}
		}
		if r := kc.Do(t, "POST", path, txt("one")); r.Status != 200 {
			t.Fatalf("add-only key adds: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, kc.Do(t, "PUT", path, txt("two")), 403, "forbidden")
		wantProblem(t, kc.Do(t, "DELETE", path, nil), 403, "forbidden")
		wantProblem(t, kc.Do(t, "GET", path, nil), 403, "forbidden")

		if r := alice.Do(t, "PATCH", "/v1/teams/"+team+"/members/bob", map[string]string{"role": "read-only"}); r.Status != 200 {
			t.Fatalf("demote bob: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, kc.Do(t, "POST", path, txt("three")), 403, "forbidden")
		// The role is checked first, as for a key that may write: nothing
		// of the request is looked at before.
		wantProblem(t, kc.Do(t, "POST", path, map[string]any{"records": []any{}}), 403, "forbidden")
		if r := alice.Do(t, "GET", path, nil); r.Status != 200 || len(r.JSON["records"].([]any)) != 1 {
			t.Fatalf("records: got %d %s, want the first alone", r.Status, r.Body)
		}
	})
}

// TestTeamZoneHiddenFromKeys: an API key with no permit in a team's zone
// gets the answer of a zone that does not exist, whatever its holder's role
// would say: it learns neither that the zone exists nor the team's name.
func TestTeamZoneHiddenFromKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"alice", "rob"} {
			addUser(t, s, n)
		}
		for z, owner := range map[string]string{"secret-project.com": "alice", "rob.com": "rob"} {
			if _, err := s.Service.AddZone(ctx, z, owner, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		alice, rob := login(t, s, "alice"), login(t, s, "rob")
		team := makeTeam(t, alice, "Internal Ops Team")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/secret-project.com", nil); r.Status != 200 {
			t.Fatalf("share zone: got %d %s", r.Status, r.Body)
		}
		addMember(t, alice, rob, team, "rob", "read-only")

		k := makeKey(t, rob, "acme", nil, "dns rob.com/_acme-challenge/TXT write")
		kc := keyClient(s, k.id, k.secret)
		for _, method := range []string{"GET", "DELETE"} {
			shared := kc.Do(t, method, "/dns/v2/zones/secret-project.com/records/_acme-challenge/TXT", nil)
			missing := kc.Do(t, method, "/dns/v2/zones/no-such-zone.com/records/_acme-challenge/TXT", nil)
			wantProblem(t, shared, 404, "not-found")
			wantProblem(t, missing, 404, "not-found")
			if shared.JSON["detail"] != missing.JSON["detail"] {
				t.Fatalf("%s: the team's zone answers %q, a missing one %q: they must not differ", method, shared.JSON["detail"], missing.JSON["detail"])
			}
		}
		// Rob himself, in a session, reads the zone as his role allows.
		if r := rob.Do(t, "GET", "/dns/v2/zones/secret-project.com/records", nil); r.Status != 200 {
			t.Fatalf("read-only member reads: got %d %s", r.Status, r.Body)
		}
	})
}

// TestTeamTwoFactorPolicy: a team that requires two-factor asks its
// members for the second step whatever they chose, keeps members without a
// factor (or in a session that passed none) out of its resources, and stops
// them from dropping their last factor; changing the policy needs a fresh
// second factor.
func TestTeamTwoFactorPolicy(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"alice", "bob", "carol"} {
			addUser(t, s, n)
		}
		if _, err := s.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
		alice, bob, carol := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, bob, team, "bob", "ops")
		addMember(t, alice, carol, team, "carol", "ops")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
			t.Fatalf("share: got %d %s", r.Status, r.Body)
		}

		// An owner without a second factor cannot turn the policy on, and
		// is told what to do first.
		policy := map[string]any{"require_two_factor": true}
		wantProblem(t, alice.Do(t, "PATCH", "/v1/teams/"+team, policy), 400, "invalid")
		af := enrol(t, s, alice, map[string]any{"type": "totp", "label": "phone"})
		// Carol has a factor but chose password-only login.
		cf := enrol(t, s, carol, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, carol, cf.codes[0])
		if r := carol.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != 200 {
			t.Fatalf("carol turns login 2FA off: got %d %s", r.Status, r.Body)
		}
		s.Clock.Add(time.Hour)
		wantProblem(t, alice.Do(t, "PATCH", "/v1/teams/"+team, policy), 403, "elevation-required")
		elevateWith(t, alice, af.codes[0])
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team, policy); r.Status != 200 || r.JSON["team"].(map[string]any)["require_two_factor"] != true {
			t.Fatalf("turn policy on: got %d %s", r.Status, r.Body)
		}

		// Bob has no factor: he is kept out of the zone and told why.
		base := "/dns/v2/zones/example.com/records"
		wantProblem(t, bob.Do(t, "GET", base, nil), 403, "forbidden")
		me := bob.Do(t, "GET", "/v1/me", nil)
		tf := me.JSON["two_factor"].(map[string]any)
		if tf["required"] != false || len(tf["required_by_teams"].([]any)) != 1 {
			t.Fatalf("bob's two_factor: got %v, want required_by_teams [Acme] and no second step yet", tf)
		}
		// Once he adds one, the code that confirmed it was a second-factor
		// check of the session that typed it: that lets him in.
		bf := enrol(t, s, bob, map[string]any{"type": "totp", "label": "phone"})
		if r := bob.Do(t, "GET", base, nil); r.Status != 200 {
			t.Fatalf("bob after confirming a factor: got %d %s", r.Status, r.Body)
		}
		// He may neither turn login 2FA off nor remove his only factor.
		wantProblem(t, bob.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "DELETE", "/v1/me/factors/"+bf.id, nil), 403, "forbidden")
		// Once his elevation has lapsed he is still told the team's rule,
		// not asked to elevate for a change it would refuse anyway.
		s.Clock.Add(time.Hour)
		wantProblem(t, bob.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}), 403, "forbidden")
		wantProblem(t, bob.Do(t, "DELETE", "/v1/me/factors/"+bf.id, nil), 403, "forbidden")

		// Carol's login asks for the second step although she chose not.
		loginID, _ := startLogin(t, s, "carol")
		s.Clock.Add(30 * time.Second)
		r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, cf.secret, s.Clock.Now())})
		if r.Status != 200 {
			t.Fatalf("carol's second step: got %d %s", r.Status, r.Body)
		}
		c2 := testenv.NewClient(s.URL())
		c2.Token = r.String("token")
		if r := c2.Do(t, "GET", base, nil); r.Status != 200 {
			t.Fatalf("carol after the second step: got %d %s", r.Status, r.Body)
		}

		// With the policy off, bob may remove his factor again.
		s.Clock.Add(time.Hour)
		elevateWith(t, alice, af.codes[1])
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": false}); r.Status != 200 {
			t.Fatalf("turn policy off: got %d %s", r.Status, r.Body)
		}
		elevateWith(t, bob, bf.codes[1])
		if r := bob.Do(t, "DELETE", "/v1/me/factors/"+bf.id, nil); r.Status != 204 {
			t.Fatalf("remove factor without the policy: got %d %s", r.Status, r.Body)
		}
		if r := bob.Do(t, "GET", base, nil); r.Status != 200 {
			t.Fatalf("bob without the policy: got %d %s", r.Status, r.Body)
		}
	})
}

// TestTeamTwoFactorPolicyManagers: a team that requires two-factor is
// managed only by managers its policy admits, as its zones are reached: a
// password alone must not let a manager without a factor bring new
// accounts into the team's zones, nor change roles, shares or the team.
// Leaving stays open to everyone.
func TestTeamTwoFactorPolicyManagers(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"alice", "bob", "dan", "gina"} {
			addUser(t, s, n)
		}
		for zone, owner := range map[string]string{"example.com": "bob", "gina.example": "gina"} {
			if _, err := s.Service.AddZone(ctx, zone, owner, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		alice, bob, dan, gina := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "dan"), login(t, s, "gina")
		team := makeTeam(t, bob, "Acme")
		bf := enrol(t, s, bob, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, bob, bf.codes[0])
		if r := bob.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": true}); r.Status != 200 {
			t.Fatalf("turn policy on: got %d %s", r.Status, r.Body)
		}
		if r := bob.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
			t.Fatalf("share: got %d %s", r.Status, r.Body)
		}
		addMember(t, bob, gina, team, "gina", "admin")
		addMember(t, bob, dan, team, "dan", "owner")
		addMember(t, bob, alice, team, "alice", "ops")
		pending := invite(t, bob, team, "erin", "ops")

		// Gina and Dan have no factor: their password-only sessions reach
		// neither the zone nor the team's management, and are told why.
		wantProblem(t, gina.Do(t, "GET", "/dns/v2/zones/example.com/records", nil), 403, "forbidden")
		base := "/v1/teams/" + team
		for _, c := range []struct {
			name         string
			client       *testenv.Client
			method, path string
			body         any
		}{
			{"invite", gina, "POST", base + "/invitations", map[string]string{"username": "mallory", "role": "ops"}},
			{"list invitations", gina, "GET", base + "/invitations", nil},
			{"revoke invitation", gina, "DELETE", base + "/invitations/" + pending, nil},
			{"change role", gina, "PATCH", base + "/members/alice", map[string]string{"role": "admin"}},
			{"remove member", gina, "DELETE", base + "/members/alice", nil},
			{"share zone", gina, "PUT", base + "/zones/gina.example", nil},
			{"unshare zone", gina, "DELETE", base + "/zones/example.com", nil},
			{"rename", dan, "PATCH", base, map[string]any{"name": "Mallory's"}},
			{"policy off", dan, "PATCH", base, map[string]any{"require_two_factor": false}},
			{"delete team", dan, "DELETE", base, nil},
		} {
			r := c.client.Do(t, c.method, c.path, c.body)
			wantProblem(t, r, 403, "forbidden")
			if !strings.Contains(r.String("detail"), "requires two-factor") {
				t.Errorf("%s: detail %q, want it to say the team requires two-factor", c.name, r.String("detail"))
			}
		}
		if got := roles(t, bob, team); got["alice"] != "ops" {
			t.Errorf("alice's role: got %q, want ops", got["alice"])
		}
		if r := gina.Do(t, "GET", base, nil); r.Status != 200 || len(r.JSON["invitations"].([]any)) != 0 {
			t.Errorf("gina's view of the team: got %d %s, want it without the invitations", r.Status, r.Body)
		}
		if r := bob.Do(t, "GET", base+"/invitations", nil); r.Status != 200 || len(r.JSON["invitations"].([]any)) != 1 {
			t.Errorf("the invitations after gina's refused changes: got %d %s, want erin's", r.Status, r.Body)
		}

		// Confirming a factor is a second-factor check of the session that
		// typed its code: that lets her manage the team.
		enrol(t, s, gina, map[string]any{"type": "totp", "label": "phone"})
		invite(t, gina, team, "mallory", "ops")

		// Leaving stays open to a member the policy keeps out.
		if r := dan.Do(t, "DELETE", base+"/members/dan", nil); r.Status != 204 {
			t.Fatalf("dan leaves: got %d %s", r.Status, r.Body)
		}
	})
}

// TestTeamChangesAreRationed: inviting and revoking in a loop, which mails
// the invitee each time, is rationed per manager.
func TestTeamChangesAreRationed(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		addUser(t, s, "bob")
		alice := login(t, s, "alice")
		team := makeTeam(t, alice, "Acme")
		var r testenv.Response
		n, id := 0, ""
		for ; n < 80; n++ {
			if n%2 == 0 {
				r = alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "bob", "role": "ops"})
				if r.Status == 201 {
					id = r.JSON["invitation"].(map[string]any)["id"].(string)
				}
			} else {
				// Revoking grants nothing and mails nobody: not rationed.
				if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/invitations/"+id, nil); r.Status != 204 {
					t.Fatalf("revoke: got %d %s", r.Status, r.Body)
				}
			}
			if r.Status == 429 {
				break
			}
		}
		wantProblem(t, r, 429, "throttled")
		if n != 60 || r.Header.Get("Retry-After") == "" {
			t.Fatalf("throttled after %d changes (Retry-After %q), want after 30 invitations with Retry-After", n, r.Header.Get("Retry-After"))
		}
		s.Clock.Add(time.Minute)
		if r := alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "bob", "role": "ops"}); r.Status != 201 {
			t.Fatalf("a minute later: got %d %s", r.Status, r.Body)
		}
	})
}

// TestTeamTwoFactorPolicyKeys: a team that requires two-factor refuses an
// API key made without a second factor, and the keys and tokens it made,
// even once its holder has a factor, and tells the holder to make a new
// key; a key made from a session that passed a second factor, and the keys
// it makes, reach the team's zone.
func TestTeamTwoFactorPolicyKeys(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		for _, n := range []string{"alice", "carol"} {
			addUser(t, s, n)
		}
		if _, err := s.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
		alice, carol := login(t, s, "alice"), login(t, s, "carol")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, carol, team, "carol", "ops")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/example.com", nil); r.Status != 200 {
			t.Fatalf("share: got %d %s", r.Status, r.Body)
		}
		// Carol, without a factor, makes a key in her password-only
		// session, and that key makes another.
		old := makeKey(t, carol, "old", nil, "dns * read,write", "keys * read,write")
		oldc := keyClient(s, old.id, old.secret)
		child := makeKey(t, oldc, "old-child", nil, "dns * read,write")
		_, _, tok := token(t, s, old.id, old.secret, url.Values{"grant_type": {"client_credentials"}})
		tokc := testenv.NewClient(s.URL())
		tokc.Token, _ = tok["access_token"].(string)
		if tokc.Token == "" {
			t.Fatalf("token of the old key: got %v", tok)
		}
		for _, k := range carol.Do(t, "GET", "/v1/me/api-keys", nil).JSON["api_keys"].([]any) {
			if k := k.(map[string]any); k["second_factor"] != false {
				t.Fatalf("key %v made without a second factor: got second_factor %v, want false", k["name"], k["second_factor"])
			}
		}

		// Carol confirms her factor on another session of hers: the code
		// she typed there is a second-factor check of that session alone,
		// so this one has still passed none.
		cf := enrol(t, s, login(t, s, "carol"), map[string]any{"type": "totp", "label": "phone"})
		af := enrol(t, s, alice, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, alice, af.codes[0])
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": true}); r.Status != 200 {
			t.Fatalf("turn policy on: got %d %s", r.Status, r.Body)
		}

		base := "/dns/v2/zones/example.com/records"
		rec := map[string]any{"records": []map[string]any{{"host": "www", "ttl": 300, "type": "A", "data": "192.0.2.1"}}}
		wantProblem(t, carol.Do(t, "GET", base, nil), 403, "forbidden")
		for name, c := range map[string]*testenv.Client{"old key": oldc, "its child": keyClient(s, child.id, child.secret), "its token": tokc} {
			r := c.Do(t, "GET", base, nil)
			wantProblem(t, r, 403, "forbidden")
			if d, _ := r.JSON["detail"].(string); !strings.Contains(d, "make a new key") {
				t.Errorf("%s: detail %q does not tell the holder to make a new key", name, d)
			}
			wantProblem(t, c.Do(t, "POST", base+"/www/A", rec), 403, "forbidden")
		}

		// A key made with a second factor, and the keys it makes, reach
		// the zone.
		elevateWith(t, carol, cf.codes[0])
		fresh := makeKey(t, carol, "fresh", nil, "dns * read,write", "keys * read,write")
		freshc := keyClient(s, fresh.id, fresh.secret)
		grand := makeKey(t, freshc, "fresh-child", nil, "dns * read,write")
		for name, c := range map[string]*testenv.Client{"new key": freshc, "its child": keyClient(s, grand.id, grand.secret)} {
			if r := c.Do(t, "POST", base+"/www/A", rec); r.Status != 200 {
				t.Fatalf("%s writes: got %d %s", name, r.Status, r.Body)
			}
			if r := c.Do(t, "GET", base, nil); r.Status != 200 {
				t.Fatalf("%s reads: got %d %s", name, r.Status, r.Body)
			}
		}
		want := map[string]any{"old": false, "old-child": false, "fresh": true, "fresh-child": true}
		for _, k := range carol.Do(t, "GET", "/v1/me/api-keys", nil).JSON["api_keys"].([]any) {
			k := k.(map[string]any)
			if k["second_factor"] != want[k["name"].(string)] {
				t.Errorf("key %v: got second_factor %v, want %v", k["name"], k["second_factor"], want[k["name"].(string)])
			}
		}
	})
}

// TestTeamMemberTakesZones: a member who is removed from a team, or leaves
// it, takes the zones they shared with it along: the team's members, owners
// and keys lose them at once, both sides have the events of the unsharing,
// and the member's mail says so.
func TestTeamMemberTakesZones(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		ctx := context.Background()
		for _, n := range []string{"alice", "bob", "carol", "dave"} {
			addUser(t, s, n)
		}
		for z, owner := range map[string]string{"alice.com": "alice", "bob.net": "bob", "dave.org": "dave"} {
			if _, err := s.Service.AddZone(ctx, z, owner, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		alice, bob, carol, dave := login(t, s, "alice"), login(t, s, "bob"), login(t, s, "carol"), login(t, s, "dave")
		team := makeTeam(t, alice, "Acme")
		addMember(t, alice, bob, team, "bob", "admin")
		addMember(t, alice, carol, team, "carol", "ops")
		addMember(t, alice, dave, team, "dave", "admin")
		for c, z := range map[*testenv.Client]string{alice: "alice.com", bob: "bob.net", dave: "dave.org"} {
			if r := c.Do(t, "PUT", "/v1/teams/"+team+"/zones/"+z, nil); r.Status != 200 {
				t.Fatalf("share %s: got %d %s", z, r.Status, r.Body)
			}
		}
		ck := makeKey(t, carol, "carol", nil, "dns * read,write")
		carolKey := keyClient(s, ck.id, ck.secret)
		rec := map[string]any{"records": []map[string]any{{"host": "www", "ttl": 300, "type": "A", "data": "192.0.2.1"}}}
		for _, z := range []string{"bob.net", "dave.org"} {
			if r := alice.Do(t, "PUT", "/dns/v2/zones/"+z+"/records/www/A", rec); r.Status != 200 {
				t.Fatalf("the owner writes %s while shared: got %d %s", z, r.Status, r.Body)
			}
		}

		// The owner removes bob; then dave leaves.
		if r := alice.Do(t, "DELETE", "/v1/teams/"+team+"/members/bob", nil); r.Status != 204 {
			t.Fatalf("remove bob: got %d %s", r.Status, r.Body)
		}
		if r := dave.Do(t, "DELETE", "/v1/teams/"+team+"/members/dave", nil); r.Status != 204 {
			t.Fatalf("dave leaves: got %d %s", r.Status, r.Body)
		}
		for _, z := range []string{"bob.net", "dave.org"} {
			wantProblem(t, alice.Do(t, "PUT", "/dns/v2/zones/"+z+"/records/www/A", rec), 404, "not-found")
			wantProblem(t, carolKey.Do(t, "GET", "/dns/v2/zones/"+z+"/records", nil), 404, "not-found")
			wantProblem(t, carol.Do(t, "GET", "/dns/v2/zones/"+z+"/records", nil), 404, "not-found")
		}
		if r := carolKey.Do(t, "GET", "/dns/v2/zones/alice.com/records", nil); r.Status != 200 {
			t.Fatalf("the owner's own zone stays shared: got %d %s", r.Status, r.Body)
		}
		if r := alice.Do(t, "GET", "/v1/teams/"+team, nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != 1 {
			t.Fatalf("the team's zones: got %d %s, want alice.com alone", r.Status, r.Body)
		}
		if r := bob.Do(t, "GET", "/dns/v2/zones/bob.net/records", nil); r.Status != 200 {
			t.Fatalf("bob keeps his zone: got %d %s", r.Status, r.Body)
		}

		details := func(name, typ string) []string {
			t.Helper()
			acc, err := s.Store.AccountByUsername(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			evs, err := s.Store.Events(ctx, acc.ID, 0, 200)
			if err != nil {
				t.Fatal(err)
			}
			var out []string
			for _, e := range evs {
				if e.Type == typ {
					out = append(out, e.Detail)
				}
			}
			return out
		}
		want := map[string]string{
			"alice": "zone bob.net no longer shared with team " + team,
			"bob":   "zone bob.net no longer shared with team " + team + ", by alice",
			"dave":  "zone dave.org no longer shared with team " + team,
		}
		for name, detail := range want {
			if got := details(name, "dns.zone_unshared"); len(got) != 1 || got[0] != detail {
				t.Errorf("%s's dns.zone_unshared events: got %q, want [%q]", name, got, detail)
			}
		}
		if body := mailWith(t, mb, "you were removed from a team"); !strings.Contains(body, "no longer shared with it: bob.net.") {
			t.Errorf("bob's mail does not say his zone went with him:\n%s", body)
		}
		if body := mailWith(t, mb, "you left a team"); !strings.Contains(body, "no longer shared with it: dave.org.") {
			t.Errorf("dave's mail does not say his zone went with him:\n%s", body)
		}
	})
}

// TestLeavingTeamNeedsElevation: a member who chose password-only login,
// in a team that requires two-factor, cannot lift the second step at login
// by leaving the team from a session that passed no fresh second factor
// (403 elevation-required, SPEC §1 story 5); once elevated, leaving works
// and password logins no longer ask for the second step.
func TestLeavingTeamNeedsElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		addUser(t, s, "carol")
		alice, carol := login(t, s, "alice"), login(t, s, "carol")
		af := enrol(t, s, alice, map[string]any{"type": "totp", "label": "phone"})
		cf := enrol(t, s, carol, map[string]any{"type": "totp", "label": "phone"})
		elevateWith(t, alice, af.codes[0])
		elevateWith(t, carol, cf.codes[0])
		if r := carol.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}); r.Status != 200 {
			t.Fatalf("carol turns login 2FA off: got %d %s", r.Status, r.Body)
		}
		team := makeTeam(t, alice, "Acme")
		if r := alice.Do(t, "PATCH", "/v1/teams/"+team, map[string]any{"require_two_factor": true}); r.Status != 200 {
			t.Fatalf("turn policy on: got %d %s", r.Status, r.Body)
		}
		addMember(t, alice, carol, team, "carol", "ops")
		passwordLogin := func() string {
			t.Helper()
			r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "carol", "password": password})
			if r.Status != 200 {
				t.Fatalf("carol's password login: got %d %s", r.Status, r.Body)
			}
			return r.String("status")
		}
		if got := passwordLogin(); got != "second_factor_required" {
			t.Fatalf("carol's password login in the team: %q, want second_factor_required", got)
		}
		s.Clock.Add(time.Hour) // carol's elevation lapses
		wantProblem(t, carol.Do(t, "PUT", "/v1/me/two-factor", map[string]bool{"required": false}), 403, "forbidden")
		wantProblem(t, carol.Do(t, "DELETE", "/v1/teams/"+team+"/members/carol", nil), 403, "elevation-required")
		if got := passwordLogin(); got != "second_factor_required" {
			t.Fatalf("carol's password login after a refused leave: %q, want second_factor_required", got)
		}
		elevateWith(t, carol, cf.codes[1])
		if r := carol.Do(t, "DELETE", "/v1/teams/"+team+"/members/carol", nil); r.Status != 204 {
			t.Fatalf("carol leaves elevated: got %d %s", r.Status, r.Body)
		}
		if got := passwordLogin(); got != "authenticated" {
			t.Errorf("carol's password login after leaving: %q, want authenticated", got)
		}
	})
}

// TestTeamActionsForbiddenToMembers: every team action a member's role may
// not take answers 403 forbidden to that member, who sees the team (and,
// reading its zones, the zone), never 404 as if it did not exist; to
// someone outside the team, and for a zone a member does not see among the
// team's (billing), it answers 404. On SQLite and PostgreSQL.
func TestTeamActionsForbiddenToMembers(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		users := []string{"alice", "bob", "carol", "dave", "erin"}
		for _, n := range users {
			addUser(t, s, n)
			if _, err := s.Service.AddZone(ctx, n+".example", n, core.Meta{}); err != nil {
				t.Fatal(err)
			}
		}
		alice := login(t, s, "alice")
		c := map[string]*testenv.Client{"alice": alice}
		team := makeTeam(t, alice, "Acme")
		for n, role := range map[string]string{"bob": "ops", "carol": "read-only", "dave": "billing"} {
			c[n] = login(t, s, n)
			addMember(t, alice, c[n], team, n, role)
		}
		c["erin"] = login(t, s, "erin")
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/alice.example", nil); r.Status != 200 {
			t.Fatalf("share alice.example: got %d %s", r.Status, r.Body)
		}
		inv := invite(t, alice, team, "frank", "ops")

		base := "/v1/teams/" + team
		for _, tc := range []struct {
			name, method, path string
			body               any
			// want is the status bob (ops), carol (read-only), dave
			// (billing) and erin (no member) get, in that order.
			want [4]int
		}{
			{"read the team", "GET", base, nil, [4]int{200, 200, 200, 404}},
			{"rename it", "PATCH", base, map[string]string{"name": "Mine"}, [4]int{403, 403, 403, 404}},
			{"delete it", "DELETE", base, nil, [4]int{403, 403, 403, 404}},
			{"invite", "POST", base + "/invitations", map[string]string{"username": "grace", "role": "ops"}, [4]int{403, 403, 403, 404}},
			{"list invitations", "GET", base + "/invitations", nil, [4]int{403, 403, 403, 404}},
			{"withdraw an invitation", "DELETE", base + "/invitations/" + inv, nil, [4]int{403, 403, 403, 404}},
			{"change a role", "PATCH", base + "/members/alice", map[string]string{"role": "read-only"}, [4]int{403, 403, 403, 404}},
			{"remove a member", "DELETE", base + "/members/alice", nil, [4]int{403, 403, 403, 404}},
			{"unshare the team's zone", "DELETE", base + "/zones/alice.example", nil, [4]int{403, 403, 404, 404}},
			{"unshare a zone not the team's", "DELETE", base + "/zones/dave.example", nil, [4]int{404, 404, 404, 404}},
		} {
			for i, n := range []string{"bob", "carol", "dave", "erin"} {
				r := c[n].Do(t, tc.method, tc.path, tc.body)
				want, problem := tc.want[i], map[int]string{403: "forbidden", 404: "not-found"}[tc.want[i]]
				if r.Status != want || r.Problem() != problem {
					t.Errorf("%s by %s: got %d %s, want %d %s", tc.name, n, r.Status, r.Body, want, problem)
				}
			}
		}
		// Sharing a zone of one's own: a member whose role may not is
		// told so, someone outside the team is not.
		for n, want := range map[string]int{"bob": 403, "carol": 403, "dave": 403, "erin": 404} {
			r := c[n].Do(t, "PUT", base+"/zones/"+n+".example", nil)
			if problem := map[int]string{403: "forbidden", 404: "not-found"}[want]; r.Status != want || r.Problem() != problem {
				t.Errorf("%s shares %s.example: got %d %s, want %d %s", n, n, r.Status, r.Body, want, problem)
			}
		}
		// The 403 names the role and what it may not do; nothing changed.
		r := c["bob"].Do(t, "DELETE", base+"/zones/alice.example", nil)
		if d, _ := r.JSON["detail"].(string); !strings.Contains(d, "ops") {
			t.Errorf("unsharing as ops: detail %q does not name the role", d)
		}
		if r := alice.Do(t, "GET", base, nil); r.Status != 200 || len(r.JSON["zones"].([]any)) != 1 || len(r.JSON["members"].([]any)) != 4 {
			t.Errorf("the team after the refusals: got %d %s, want its zone and 4 members", r.Status, r.Body)
		}
	})
}

// TestUnshareOfAnotherTeamsZone: a team's owner who names, for her own
// team, a zone she does not own and the team does not have gets the 404 of
// a zone that does not exist, before anything else is checked: not asked
// to elevate when her elevation has lapsed, and never rationed, however
// often she tries, so that neither tells a zone that exists from one that
// does not.
func TestUnshareOfAnotherTeamsZone(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		addUser(t, s, "alice")
		addUser(t, s, "mallory")
		if _, err := s.Service.AddZone(ctx, "victim.example", "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
		addUser(t, s, "trudy") // without an authenticator: no elevation asked
		mallory, trudy := login(t, s, "mallory"), login(t, s, "trudy")
		teams := map[*testenv.Client]string{mallory: makeTeam(t, mallory, "Probe"), trudy: makeTeam(t, trudy, "Probe too")}
		enrol(t, s, mallory, map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(time.Hour) // her elevation lapses
		for c, own := range teams {
			for i := range 40 {
				shared := c.Do(t, "DELETE", "/v1/teams/"+own+"/zones/victim.example", nil)
				missing := c.Do(t, "DELETE", "/v1/teams/"+own+"/zones/no-such-zone.example", nil)
				if shared.Status != 404 || missing.Status != 404 || shared.JSON["detail"] != missing.JSON["detail"] {
					t.Fatalf("try %d: an existing zone answers %d %s, a missing one %d %s: they must not differ", i, shared.Status, shared.Body, missing.Status, missing.Body)
				}
			}
		}
	})
}

// TestTeamRefusedCostsNoToken: a team refused (the caller is in as many
// teams as an account may be) costs none of the account's team creations:
// once a team is left, the next is made at once, however many were
// refused before.
func TestTeamRefusedCostsNoToken(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		s := testenv.NewServer(t, dsn)
		addUser(t, s, "dave")
		dave := login(t, s, "dave")
		var first string
		for i := range core.MaxTeamsPerAccount {
			testenv.Exec(t, dsn, `DELETE FROM rate_buckets`)
			id := makeTeam(t, dave, "Team "+strconv.Itoa(i))
			if i == 0 {
				first = id
			}
		}
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets`)
		for range 15 {
			wantProblem(t, dave.Do(t, "POST", "/v1/teams", map[string]string{"name": "One more"}), 409, "conflict")
		}
		if r := dave.Do(t, "DELETE", "/v1/teams/"+first, nil); r.Status != 204 {
			t.Fatalf("delete a team: got %d %s", r.Status, r.Body)
		}
		makeTeam(t, dave, "One more")
	})
}
