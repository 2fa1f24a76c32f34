package httpapi_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/url"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// walk follows the pages of the operator's list at path (which has a
// query already) under key, limit entries a page, and returns the ids of
// every entry in the order given, checking that each page but the last
// is full and says more, with a next_after, and the last says neither.
// between, when set, runs after the first page.
func walk(t *testing.T, c *testenv.Client, path, key string, limit int, between func()) []string {
	t.Helper()
	var ids []string
	after := ""
	for page := 1; ; page++ {
		p := fmt.Sprintf("%s&limit=%d", path, limit)
		if after != "" {
			p += "&after=" + url.QueryEscape(after)
		}
		r := c.Do(t, "GET", p, nil)
		if r.Status != 200 {
			t.Fatalf("GET %s: got %d %s", p, r.Status, r.Body)
		}
		got := objects(t, r, key)
		for _, o := range got {
			ids = append(ids, o["id"].(string))
		}
		next, _ := r.JSON["next_after"].(string)
		if r.JSON["more"] == false {
			if next != "" {
				t.Fatalf("GET %s: the last page has a next_after: %s", p, r.Body)
			}
			return ids
		}
		if r.JSON["more"] != true || next == "" || len(got) != limit {
			t.Fatalf("GET %s: got %d entries, more %v, next_after %q; want %d, more true and a next_after", p, len(got), r.JSON["more"], next, limit)
		}
		if page > 1000 {
			t.Fatal("the pages never end")
		}
		after = next
		if page == 1 && between != nil {
			between()
		}
	}
}

// TestOperatorListsPage: the operator's lists of accounts and of teams come
// a page at a time beyond 200 entries, by name (teams of one name by id),
// each entry once, whatever is added meanwhile; the first page is the one
// a client that knows nothing of pages reads; a cursor that is not one, a
// limit out of range or an unknown parameter is a 400 problem.
func TestOperatorListsPage(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, op := f.s, f.opc
		ctx := context.Background()
		addAccount := func(name string) {
			t.Helper()
			if err := s.Store.CreateAccount(ctx, twofold.Account{ID: "id-" + name, Username: name, PasswordHash: "$argon2id$v=19$x", CreatedAt: s.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		addTeam := func(id, name string) {
			t.Helper()
			if err := s.Store.CreateTeam(ctx, twofold.Team{ID: id, Name: name, CreatedAt: s.Clock.Now()}, "id-u000", 1000); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 203 {
			addAccount(fmt.Sprintf("u%03d", i))
		}
		// Two teams of each name: the order is by name, then by id.
		for i := range 205 {
			addTeam(fmt.Sprintf("t%03d", 204-i), fmt.Sprintf("Team %03d", i/2))
		}
		accountIDs := func(query string) []string {
			t.Helper()
			accts, err := s.Store.Accounts(ctx, query, "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, a := range accts {
				ids = append(ids, a.ID)
			}
			return ids
		}
		teamIDs := func(query string) []string {
			t.Helper()
			ts, err := s.Store.TeamSummaries(ctx, query, "", "", 1000)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, tm := range ts {
				ids = append(ids, tm.Team.ID)
			}
			return ids
		}
		if n := len(accountIDs("")); n != 205 {
			t.Fatalf("%d accounts, want 205", n)
		}

		for _, tt := range []struct {
			name, path, key string
			limit           int
			want            func() []string
		}{
			{"accounts by 200", "/v1/admin/users?q=", "users", 200, func() []string { return accountIDs("") }},
			{"accounts by 7", "/v1/admin/users?q=", "users", 7, func() []string { return accountIDs("") }},
			{"accounts named u1 by 4", "/v1/admin/users?q=U1", "users", 4, func() []string { return accountIDs("u1") }},
			{"teams by 200", "/v1/admin/teams?q=", "teams", 200, func() []string { return teamIDs("") }},
			{"teams by 3", "/v1/admin/teams?q=", "teams", 3, func() []string { return teamIDs("") }},
			{"teams named 09 by 2", "/v1/admin/teams?q=09", "teams", 2, func() []string { return teamIDs("09") }},
		} {
			t.Run(tt.name, func(t *testing.T) {
				if diff := cmp.Diff(tt.want(), walk(t, op, tt.path, tt.key, tt.limit, nil)); diff != "" {
					t.Errorf("the pages (-want +got):\n%s", diff)
				}
			})
		}

		// Without parameters, the first 50, as before, saying there is more.
		for key, want := range map[string][]string{"users": accountIDs("")[:50], "teams": teamIDs("")[:50]} {
			r := op.Do(t, "GET", "/v1/admin/"+key, nil)
			var got []string
			for _, o := range objects(t, r, key) {
				got = append(got, o["id"].(string))
			}
			if diff := cmp.Diff(want, got); diff != "" || r.JSON["more"] != true || r.JSON["next_after"] == nil {
				t.Errorf("GET /v1/admin/%s: more %v, next_after %v, the entries (-want +got):\n%s", key, r.JSON["more"], r.JSON["next_after"], diff)
			}
		}

		// What is added while the pages are read comes once if after the
		// cursor, and not at all if before it.
		before := accountIDs("")
		got := walk(t, op, "/v1/admin/users?q=", "users", 10, func() { addAccount("a-early"); addAccount("zz-late") })
		if diff := cmp.Diff(append(before, "id-zz-late"), got); diff != "" {
			t.Errorf("accounts added between pages (-want +got):\n%s", diff)
		}
		beforeTeams := teamIDs("")
		got = walk(t, op, "/v1/admin/teams?q=", "teams", 10, func() { addTeam("t-early", "A team"); addTeam("t-late", "Zebra team") })
		if diff := cmp.Diff(append(beforeTeams, "t-late"), got); diff != "" {
			t.Errorf("teams added between pages (-want +got):\n%s", diff)
		}

		cursor := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		for _, path := range []string{
			"/v1/admin/users?after=not%20a%20cursor", "/v1/admin/teams?after=not%20a%20cursor",
			"/v1/admin/users?after=" + cursor("u001\x00id-u001"), "/v1/admin/teams?after=" + cursor("Team 001"),
			"/v1/admin/teams?after=" + cursor("Team 001\x00"), "/v1/admin/users?after=" + cursor("\xff"),
			"/v1/admin/users?limit=0", "/v1/admin/teams?limit=201", "/v1/admin/users?limit=many",
			"/v1/admin/users?cursor=" + cursor("u001"), "/v1/admin/teams?next_after=" + cursor("u001"),
		} {
			t.Run(path, func(t *testing.T) { wantProblem(t, op.Do(t, "GET", path, nil), 400, "invalid") })
		}
	})
}
