package web_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// The people of a teamWorld, by index: formHolders' alice and bob, and
// carol and dave, who sign in nowhere.
const (
	worldAlice = iota
	worldBob
	worldCarol
	worldDave
)

// worldTeam is a team a teamWorld makes: its owner and other members by
// person.
type worldTeam struct {
	name    string
	require bool
	owner   int
	members map[int]twofold.Role
}

// worldZone is a zone a teamWorld makes: its owner, and the team (an
// index, -1 for none) it is shared with. Each holds an A record at www
// and a TXT record at _acme-challenge.
type worldZone struct {
	name  string
	owner int
	team  int
}

// teamWorld is the teams and zones a pages' fuzz target about them makes
// for formHolders' accounts, anew whenever the target asks.
type teamWorld struct {
	hs     *formHolders
	dsn    string
	carol  string // carol's account id
	dave   string // dave's account id
	teams  []worldTeam
	zones  []worldZone
	ids    []string // the teams' ids, as made last
	made   int
	shares []string // the zones' teams' ids, as made last
}

func newTeamWorld(f *testing.F, hs *formHolders, dsn string, teams []worldTeam, zones []worldZone) *teamWorld {
	w := &teamWorld{hs: hs, dsn: dsn, teams: teams, zones: zones}
	ctx := context.Background()
	for _, id := range []*string{&w.carol, &w.dave} {
		name := "carol"
		if id == &w.dave {
			name = "dave"
		}
		if _, err := hs.ts.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: name + "@example.com", Password: testPassword}, core.Meta{}); err != nil {
			f.Fatal(err)
		}
		a, err := hs.ts.Store.AccountByUsername(ctx, name)
		if err != nil {
			f.Fatal(err)
		}
		*id = a.ID
	}
	w.make(f)
	return w
}

// account is the account id of person i now.
func (w *teamWorld) account(i int) string {
	switch i {
	case worldAlice, worldBob:
		return w.hs.list[i].id
	case worldCarol:
		return w.carol
	}
	return w.dave
}

// make deletes the zones and teams and makes them anew.
func (w *teamWorld) make(t testing.TB) {
	ts, ctx := w.hs.ts, context.Background()
	for _, z := range w.zones {
		if _, err := ts.Store.DeleteZone(ctx, z.name); err != nil {
			t.Fatal(err)
		}
	}
	if len(w.ids) > 0 {
		testenv.DeleteTeams(t, w.dsn, w.ids...)
	}
	w.ids, w.shares = nil, nil
	now := ts.Clock.Now()
	for _, tm := range w.teams {
		w.made++
		id := fmt.Sprintf("fuzzteam%018d", w.made)
		if err := ts.Store.CreateTeam(ctx, twofold.Team{ID: id, Name: tm.name, RequireTwoFactor: tm.require, CreatedAt: now}, w.account(tm.owner), 100); err != nil {
			t.Fatal(err)
		}
		for who, role := range tm.members {
			if err := ts.Store.AddTeamMember(ctx, id, w.account(who), role, now); err != nil {
				t.Fatal(err)
			}
		}
		w.ids = append(w.ids, id)
	}
	for _, z := range w.zones {
		if err := ts.Store.CreateZone(ctx, twofold.Zone{Name: z.name, AccountID: w.account(z.owner), Serial: 1, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
		if err := ts.Store.AddRecords(ctx, z.name, []twofold.Record{{Host: "www", Type: "A", TTL: 300, Data: "192.0.2.1"},
			{Host: "_acme-challenge", Type: "TXT", TTL: 60, Data: `"token"`}}); err != nil {
			t.Fatal(err)
		}
		share := ""
		if z.team >= 0 {
			share = w.ids[z.team]
			testenv.Exec(t, w.dsn, fmt.Sprintf(`UPDATE dns_zones SET team_id = '%s' WHERE name = '%s'`, share, z.name))
		}
		w.shares = append(w.shares, share)
	}
}

// placeholders are the pairs for a strings.Replacer of the teams' and
// zones' placeholders: @ops@ for the team named Ops and the zone ops.test,
// and so on, lower case, a team's before a zone's.
func (w *teamWorld) placeholders(zones bool) []string {
	var pairs []string
	for i, tm := range w.teams {
		pairs = append(pairs, "@"+strings.ToLower(tm.name)+"@", w.ids[i])
	}
	if zones {
		pairs = nil
		for _, z := range w.zones {
			pairs = append(pairs, "@"+strings.TrimSuffix(z.name, ".test")+"@", z.name)
		}
	}
	return pairs
}

// roleOf is the role of the account id in the team id now ("" for none),
// and whether the team requires two-factor.
func (w *teamWorld) roleOf(t *testing.T, team, account string) (twofold.Role, bool) {
	ctx := context.Background()
	tm, err := w.hs.ts.Store.Team(ctx, team)
	if twofold.ErrorCode(err) == twofold.CodeNotFound {
		return "", false
	}
	if err != nil {
		t.Fatal(err)
	}
	members, err := w.hs.ts.Store.TeamMembers(ctx, team)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		if m.AccountID == account {
			return m.Role, tm.RequireTwoFactor
		}
	}
	return "", tm.RequireTwoFactor
}
