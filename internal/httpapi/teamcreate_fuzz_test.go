package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	twofold "github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzTeamCreate sends any body to POST /v1/teams, which makes a team
// whose owner is the caller, by one of five callers: alice's elevated
// session (she has an app), another of hers that is not elevated, an API
// key of hers, bob's session (no factor), and dave's, who is in as many
// teams as an account may be. Whatever the body:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - a team is made (201) only by a person's session (never a key) of an
//     account in fewer teams than the limit, named as the body names it
//     (trimmed: at most 64 characters, on one line, without control
//     characters, not blank); then it is the only team made, its only
//     member is the caller's account, as its owner, it does not require
//     two-factor, the answer says so and where it is, and nothing else
//     changes;
//   - a refusal writes nothing (testenv.Snapshot).
//
// A team made is deleted before the next body, and every send limit is
// cleared. The who byte picks the caller (its value mod 5). On SQLite;
// FuzzTeamCreatePostgres is the same on PostgreSQL.
func FuzzTeamCreate(f *testing.F) { teamCreate(f, testenv.SQLiteDSN(f)) }

// FuzzTeamCreatePostgres is FuzzTeamCreate on PostgreSQL.
func FuzzTeamCreatePostgres(f *testing.F) { teamCreate(f, testenv.PostgresDSN(f)) }

func teamCreate(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	elevated, other, _ := holderWithApp(f, s, "alice")
	key, _ := fuzzKey(f, s, elevated, "account * read", "keys * write")
	addUser(f, s, "bob")
	addUser(f, s, "dave")
	callers := []*testenv.Client{elevated, other, key, login(f, s, "bob"), login(f, s, "dave")}
	names := []string{"alice", "alice", "alice", "bob", "dave"}
	ids := accountIDs(f, s, "alice", "bob", "dave")
	for i := range core.MaxTeamsPerAccount {
		testenv.Exec(f, dsn, `DELETE FROM rate_buckets`)
		if r := callers[4].Do(f, "POST", "/v1/teams", map[string]string{"name": fmt.Sprintf("Team %d", i)}); r.Status != 201 {
			f.Fatalf("dave's team %d: %d %s", i, r.Status, r.Body)
		}
	}
	teamsOf := func(t testing.TB, name string) []twofold.Membership {
		ms, err := s.Store.Memberships(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		return ms
	}
	s.Service.Wait()

	for _, in := range []struct {
		body string
		who  uint8
	}{
		{`{"name":"Ops"}`, 0},
		{`{"name":" Ops "}`, 1},
		{`{"name":"Ops"}`, 2},
		{`{"name":"Ops"}`, 3},
		{`{"name":"Ops"}`, 4},
		{`{"name":""}`, 0},
		{`{"name":"   "}`, 0},
		{`{"name":"Ops\nDev"}`, 0},
		{`{"name":"Ops\u202eved"}`, 0},
		{`{"name":"\u0301\u0301"}`, 0},
		{`{"name":"` + strings.Repeat("é", 64) + `"}`, 3},
		{`{"name":"` + strings.Repeat("é", 65) + `"}`, 3},
		{`{"name":"Ops","x":1}`, 0},
		{`{"name":"Ops","name":"Dev"}`, 0},
		{`{"name":["Ops"]}`, 0},
		{`{}`, 0},
		{``, 0},
	} {
		f.Add(in.body, in.who)
	}

	f.Fuzz(func(t *testing.T, body string, who uint8) {
		caller := int(who % 5)
		name := names[caller]
		before := len(teamsOf(t, name))
		req := testenv.NewRequest(t, "POST", s.URL()+"/v1/teams", body, nil)
		asCaller(req, callers[caller])
		input := fmt.Sprintf("%s by %d", body, caller)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			return // refused, and nothing written
		}
		var sent struct {
			Name string `json:"name"`
		}
		_ = json.Unmarshal([]byte(body), &sent)
		want := strings.TrimSpace(sent.Name)
		var made []twofold.Membership
		for _, m := range teamsOf(t, name) {
			if m.Team.Name == want && strings.Contains(d, m.Team.ID) {
				made = append(made, m)
			}
		}
		switch {
		case caller == 2:
			t.Fatalf("%s: answered %d %s to an API key:\n%s", input, r.Status, r.Body, d)
		case before >= core.MaxTeamsPerAccount:
			t.Fatalf("%s: a team made by an account in %d teams already", input, before)
		case want == "" || utf8.RuneCountInString(want) > 64 || !utf8.ValidString(want) || strings.ContainsFunc(want, unicode.IsControl):
			t.Fatalf("%s: a team named %q", input, want)
		case r.Status != 201 || len(made) != 1:
			t.Fatalf("%s: answered %d %s; %d teams of the caller named so are new:\n%s", input, r.Status, r.Body, len(made), d)
		}
		tm := made[0]
		team, _ := r.JSON["team"].(map[string]any)
		switch {
		case tm.Role != twofold.RoleOwner || tm.Team.RequireTwoFactor:
			t.Fatalf("%s: the caller is the new team's %s, which requires two-factor: %v", input, tm.Role, tm.Team.RequireTwoFactor)
		case r.Header.Get("Location") != "/v1/teams/"+tm.Team.ID || team["id"] != tm.Team.ID || team["name"] != want:
			t.Fatalf("%s: answered %s at %s for team %s", input, r.Body, r.Header.Get("Location"), tm.Team.ID)
		}
		members, err := s.Store.TeamMembers(ctx, tm.Team.ID)
		if err != nil {
			t.Fatal(err)
		}
		if len(members) != 1 || members[0].AccountID != ids[name] {
			t.Fatalf("%s: the new team's members are %+v, not the caller's account alone", input, members)
		}
		for _, l := range strings.Split(d, "\n") {
			if kind, _, _ := strings.Cut(l, ":"); (kind != "+ teams" && kind != "+ team_members") || !strings.Contains(l, tm.Team.ID) {
				t.Fatalf("%s: more changed than the team made: %s\n%s", input, l, d)
			}
		}
		testenv.DeleteTeams(t, dsn, tm.Team.ID)
	})
}
