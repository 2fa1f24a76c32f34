package httpapi_test

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// FuzzInvitation answers team invitations with any ids, as any of five
// people: accepts (POST /v1/me/invitations/{id}/accept), declines (DELETE
// /v1/me/invitations/{id}) and revokes (DELETE
// /v1/teams/{team}/invitations/{id}). alice owns the team Ops, where erin
// is an admin; alice has invited bob to Ops as ops and carol as an owner;
// dave owns the team Web and has invited bob there as an admin. Whatever
// the input:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status (or a redirect to the cleaned path);
//   - an invitation is accepted (200) or declined (204) only by the person
//     it invites, and then it is gone, and an acceptance makes that person
//     a member of its team with its role, nothing else;
//   - an invitation is revoked (204) only through its own team's path, by
//     an owner or admin of that team, and one to be an owner by an owner
//     only; then it is gone, and nothing else changes;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail.
//
// In an id, @bobops@, @carolowner@ and @bobweb@ stand for the three
// invitations' ids; in a team, @ops@ and @web@ for the teams' ids. An
// invitation answered is made again (and a member who joined removed)
// before the next input; the counters of team changes are cleared before
// each. The op byte picks what is done (its value mod 3: accept, decline,
// revoke), the who byte who does it (mod 5: alice, erin, bob, carol,
// dave). On SQLite; FuzzInvitationPostgres is the same on PostgreSQL.
func FuzzInvitation(f *testing.F) { invitation(f, testenv.SQLiteDSN(f)) }

// FuzzInvitationPostgres is FuzzInvitation on PostgreSQL.
func FuzzInvitationPostgres(f *testing.F) { invitation(f, testenv.PostgresDSN(f)) }

// standingInvitation is an invitation FuzzInvitation made and its model.
type standingInvitation struct {
	placeholder   string
	team          *fuzzTeam
	invitee, role string
	id            string // "" once answered
	joined        int    // who joined by it (-1 for none)
}

// fuzzTeam is a team of FuzzInvitation and its members' roles by person.
type fuzzTeam struct {
	placeholder, id string
	roles           map[int]string
	owner           int // who makes its invitations and removes who joined
}

func invitation(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	names := []string{"alice", "erin", "bob", "carol", "dave"}
	const alice, erin, bob, carol, dave = 0, 1, 2, 3, 4
	people := make([]*testenv.Client, len(names))
	accounts := make([]string, len(names))
	for i, name := range names {
		addUser(f, s, name)
		people[i] = login(f, s, name)
		accounts[i] = accountID(f, s, name)
	}
	clearTeamLimits := func(t testing.TB) {
		testenv.Exec(t, dsn, `DELETE FROM rate_buckets WHERE key LIKE 'team:%'`) // rationing is another test's
	}
	makeTeam := func(owner int, placeholder, name string) *fuzzTeam {
		r := people[owner].Do(f, "POST", "/v1/teams", map[string]string{"name": name})
		if r.Status != 201 {
			f.Fatalf("make team %s: %d %s", name, r.Status, r.Body)
		}
		return &fuzzTeam{placeholder: placeholder, id: r.JSON["team"].(map[string]any)["id"].(string), roles: map[int]string{owner: "owner"}, owner: owner}
	}
	ops, web := makeTeam(alice, "@ops@", "Ops"), makeTeam(dave, "@web@", "Web")
	inviteTo := func(t testing.TB, team *fuzzTeam, invitee int, role string) string {
		clearTeamLimits(t)
		r := people[team.owner].Do(t, "POST", "/v1/teams/"+team.id+"/invitations", map[string]string{"username": names[invitee], "role": role})
		if r.Status != 201 {
			t.Fatalf("invite %s to %s as %s: %d %s", names[invitee], team.placeholder, role, r.Status, r.Body)
		}
		s.Service.Wait() // the invitee is told after the answer: not while an input is judged
		return r.JSON["invitation"].(map[string]any)["id"].(string)
	}
	erinsID := inviteTo(f, ops, erin, "admin")
	if r := people[erin].Do(f, "POST", "/v1/me/invitations/"+erinsID+"/accept", nil); r.Status != 200 {
		f.Fatalf("erin joins Ops: %d %s", r.Status, r.Body)
	}
	ops.roles[erin] = "admin"
	invitations := []*standingInvitation{
		{placeholder: "@bobops@", team: ops, invitee: "bob", role: "ops", joined: -1},
		{placeholder: "@carolowner@", team: ops, invitee: "carol", role: "owner", joined: -1},
		{placeholder: "@bobweb@", team: web, invitee: "bob", role: "admin", joined: -1},
	}
	snaps := testenv.OpenSnapshots(f, dsn)

	const (
		accept = iota
		decline
		revoke
	)
	for _, in := range []struct {
		op, who  uint8
		team, id string
	}{
		{accept, bob, "", "@bobops@"},
		{accept, carol, "", "@bobops@"},
		{accept, carol, "", "@carolowner@"},
		{accept, bob, "", "@bobweb@"},
		{accept, dave, "", "@bobweb@"},
		{decline, bob, "", "@bobweb@"},
		{decline, alice, "", "@bobops@"},
		{decline, carol, "", "@carolowner@"},
		{revoke, alice, "@ops@", "@carolowner@"},
		{revoke, erin, "@ops@", "@carolowner@"},
		{revoke, erin, "@ops@", "@bobops@"},
		{revoke, erin, "@ops@", "@bobweb@"},
		{revoke, dave, "@web@", "@bobops@"},
		{revoke, dave, "@ops@", "@bobops@"},
		{revoke, bob, "@ops@", "@bobops@"},
		{revoke, dave, "@web@", "@bobweb@"},
		{accept, bob, "", "@bobops@/.."},
		{accept, bob, "", "@bobops@x"},
		{revoke, alice, "@ops@/..", "@bobops@"},
		{accept, bob, "", ""},
	} {
		f.Add(in.op, in.who, in.team, in.id)
	}

	f.Fuzz(func(t *testing.T, op, who uint8, team, id string) {
		for _, v := range invitations {
			if v.joined >= 0 {
				clearTeamLimits(t)
				if r := people[v.team.owner].Do(t, "DELETE", "/v1/teams/"+v.team.id+"/members/"+names[v.joined], nil); r.Status != 204 {
					t.Fatalf("remove %s from %s: %d %s", names[v.joined], v.team.placeholder, r.Status, r.Body)
				}
				delete(v.team.roles, v.joined)
				v.joined = -1
			}
			if v.id == "" {
				v.id = inviteTo(t, v.team, slices.Index(names, v.invitee), v.role)
			}
		}
		fill := strings.NewReplacer("@bobops@", invitations[0].id, "@carolowner@", invitations[1].id, "@bobweb@", invitations[2].id,
			"@ops@", ops.id, "@web@", web.id)
		team, id = fill.Replace(team), fill.Replace(id)
		caller := int(who % 5)
		method, path, prefix, suffix := "POST", "/v1/me/invitations/"+id+"/accept", "/v1/me/invitations/", "/accept"
		switch op % 3 {
		case decline:
			method, path, suffix = "DELETE", "/v1/me/invitations/"+id, ""
		case revoke:
			method, path, prefix, suffix = "DELETE", "/v1/teams/"+team+"/invitations/"+id, "/v1/teams/", ""
		}
		req, err := http.NewRequest(method, s.URL()+path, nil)
		if err != nil || !testenv.Sendable(req) {
			return // no request a client could send
		}
		req.Header.Set("Authorization", "Bearer "+people[caller].Token)
		// The ids as the server reads them: the path's segments, unescaped.
		segments := strings.Split(strings.TrimSuffix(strings.TrimPrefix(req.URL.EscapedPath(), prefix), suffix), "/")
		for i := range segments {
			segments[i], _ = url.PathUnescape(segments[i])
		}
		clearTeamLimits(t)

		before := snaps.Take(t)
		r := testenv.Send(t, unredirected, req)
		input := fmt.Sprintf("%s %s by %s", method, path, names[caller])
		if r.Status >= 500 {
			t.Fatalf("%s: %d %s", input, r.Status, r.Body)
		}
		d := before.Diff(snaps.Take(t))
		if r.Status != 200 && r.Status != 204 {
			wantRefusal(t, r, input)
			if d != "" {
				t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", input, r.Status, r.Body, d)
			}
			return
		}

		var v *standingInvitation
		for _, x := range invitations {
			if x.id == segments[len(segments)-1] {
				v = x
			}
		}
		if v == nil {
			t.Fatalf("%s: answered %d %s for what is not a standing invitation", input, r.Status, r.Body)
		}
		switch op % 3 {
		case accept, decline:
			if names[caller] != v.invitee || len(segments) != 1 {
				t.Fatalf("%s: %s's invitation %s answered %d by someone else", input, v.invitee, v.placeholder, r.Status)
			}
		case revoke:
			role := v.team.roles[caller]
			if len(segments) != 3 || segments[0] != v.team.id || segments[1] != "invitations" || role != "owner" && role != "admin" || v.role == "owner" && role != "owner" {
				t.Fatalf("%s: %s revoked by %s (%q in its team)", input, v.placeholder, names[caller], role)
			}
		}
		if (op%3 == accept) != (r.Status == 200) {
			t.Fatalf("%s: answered %d", input, r.Status)
		}
		// What changed: the invitation gone, and on an acceptance the
		// invitee a member.
		for _, l := range strings.Split(d, "\n") {
			switch {
			case strings.HasPrefix(l, "- team_invitations: id="+v.id+" "):
			case op%3 == accept && strings.HasPrefix(l, "+ team_members: team_id="+v.team.id+" account_id="+accounts[caller]+" "):
			default:
				t.Fatalf("%s: answered %d, and changed more than %s:\n%s", input, r.Status, v.placeholder, d)
			}
		}
		if !strings.Contains(d, "- team_invitations: id="+v.id+" ") {
			t.Fatalf("%s: answered %d, but %s stands:\n%s", input, r.Status, v.placeholder, d)
		}
		if op%3 == accept {
			got := roles(t, people[v.team.owner], v.team.id)
			if got[names[caller]] != v.role {
				t.Fatalf("%s: %s joined %s as %q, invited as %s", input, names[caller], v.team.placeholder, got[names[caller]], v.role)
			}
			v.team.roles[caller], v.joined = v.role, caller
		}
		v.id = ""
	})
}
