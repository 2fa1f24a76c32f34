package httpapi_test

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// poll reads path (which ends in "after=") from cursor on, page by page,
// calling between each two reads arrive, which adds events, until it has
// been called rounds times and a page comes back empty. It returns the
// events read, in order, failing on a page out of order or a next_after
// that is not the page's newest id (or the cursor, on an empty page).
func poll(t *testing.T, c *testenv.Client, path string, cursor int64, rounds int, arrive func(round int)) []map[string]any {
	t.Helper()
	var got []map[string]any
	for round := 0; ; round++ {
		if round > 4*rounds+20 {
			t.Fatal("polling does not end")
		}
		r := c.Do(t, "GET", path+strconv.FormatInt(cursor, 10), nil)
		if r.Status != 200 {
			t.Fatalf("poll %d: got %d %s", round, r.Status, r.Body)
		}
		if _, ok := r.JSON["next_before"]; ok {
			t.Fatalf("a page after an id with next_before: %s", r.Body)
		}
		evs := objects(t, r, "events")
		for _, e := range evs {
			id := int64(e["id"].(float64))
			if id <= cursor {
				t.Fatalf("poll %d: event %d at or before the cursor %d", round, id, cursor)
			}
			cursor = id
			got = append(got, e)
		}
		if next, ok := r.JSON["next_after"].(float64); !ok || int64(next) != cursor {
			t.Fatalf("poll %d: next_after %v, want %d", round, r.JSON["next_after"], cursor)
		}
		if round >= rounds && len(evs) == 0 {
			return got
		}
		if round < rounds {
			arrive(round)
		}
	}
}

// ids returns the ids of events, in their order.
func ids(evs []map[string]any) []int64 {
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		out = append(out, int64(e["id"].(float64)))
	}
	return out
}

// storedIDs returns the ids of the events q selects, oldest first.
func storedIDs(t *testing.T, s *testenv.Server, q twofold.EventQuery) []int64 {
	t.Helper()
	q.Limit = 1000
	evs, err := s.Store.QueryEvents(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.ID)
	}
	slices.Reverse(out)
	return out
}

// TestEventsPolling: a control panel polls GET /v1/admin/events, and a user
// GET /v1/me/events, for events of chosen types newer than the last id
// seen, oldest first: each such event comes exactly once, and none of
// another type, while new events of every kind arrive between polls.
func TestEventsPolling(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s := f.s
		newest := f.opc.Do(t, "GET", "/v1/admin/events?limit=1", nil)
		start := int64(objects(t, newest, "events")[0]["id"].(float64))
		addUser(t, s, "evan") // signs in with a password alone
		types := []string{"account.created", "login.password_failed"}
		// A wrong password is let through once its address's pause has
		// passed (passwordDelay: at most 15 minutes).
		wrong := func() {
			s.Clock.Add(16 * time.Minute)
			wrongPassword(t, s, "dave")
		}
		arrive := func(round int) {
			switch round % 3 {
			case 0:
				addUser(t, s, "u"+strconv.Itoa(round))
			case 1:
				wrong()
			case 2:
				login(t, s, "evan") // login.succeeded: not asked for
			}
		}
		got := poll(t, f.opc, "/v1/admin/events?type=account.created&type=login.password_failed&limit=2&after=", start, 12, arrive)
		want := storedIDs(t, s, twofold.EventQuery{Types: types})
		want = slices.DeleteFunc(want, func(id int64) bool { return id <= start }) // the fixture's
		if len(want) != 9 || !slices.Equal(ids(got), want) {
			t.Errorf("polled ids %v, want %v", ids(got), want)
		}
		for _, e := range got {
			if !slices.Contains(types, e["type"].(string)) {
				t.Errorf("an event of type %v, not asked for", e["type"])
			}
		}

		// One account, by the operator; and the user their own, from 0.
		got = poll(t, f.opc, "/v1/admin/events?account="+f.userID+"&type=login.password_failed&after=", 0, 2, func(int) { wrong() })
		want = storedIDs(t, s, twofold.EventQuery{AccountID: f.userID, Types: []string{"login.password_failed"}})
		if len(want) < 6 || !slices.Equal(ids(got), want) {
			t.Errorf("dave's failed passwords by the operator: ids %v, want %v", ids(got), want)
		}
		got = poll(t, f.user, "/v1/me/events?type=login.password_failed,login.succeeded&limit=3&after=", 0, 4, func(round int) {
			if round%2 == 0 {
				wrong()
			} else {
				login(t, s, "evan") // another account's: never dave's
			}
		})
		want = storedIDs(t, s, twofold.EventQuery{AccountID: f.userID, Types: []string{"login.password_failed", "login.succeeded"}})
		if !slices.Equal(ids(got), want) {
			t.Errorf("dave's own: ids %v, want %v", ids(got), want)
		}

		// Newest first by before, with a type, as before.
		r := f.opc.Do(t, "GET", "/v1/admin/events?type=account.created&limit=200", nil)
		all := storedIDs(t, s, twofold.EventQuery{Types: []string{"account.created"}})
		slices.Reverse(all)
		if !slices.Equal(ids(objects(t, r, "events")), all) || int64(r.JSON["next_before"].(float64)) != all[len(all)-1] {
			t.Errorf("newest first: %s, want ids %v", r.Body, all)
		}
		r = f.opc.Do(t, "GET", "/v1/admin/events?type=account.created&limit=2&before="+strconv.FormatInt(all[1], 10), nil)
		if !slices.Equal(ids(objects(t, r, "events")), all[2:4]) {
			t.Errorf("before %d: %s, want ids %v", all[1], r.Body, all[2:4])
		}
	})
}

// TestEventsQueryRefused: a query of the audit log that makes no sense is
// a 400 problem, on both routes: a type that is no event type's name, too
// many types, an id that is none, before and after together, a limit out
// of 1 to 200.
func TestEventsQueryRefused(t *testing.T) {
	f := newResetFixture(t, testenv.SQLiteDSN(t), adminDelay)
	names := core.EventTypes[:21] // 21 distinct types
	many := strings.Join(names[:20], ",")
	for _, base := range []string{"/v1/admin/events", "/v1/me/events"} {
		c := f.opc
		if base == "/v1/me/events" {
			c = f.user
		}
		for _, query := range []string{
			"type=login-failed", "type=login.failed,", "type=", "type=login%20failed", "type=login.failed1", "type=" + strings.Repeat("a", 65),
			"type=" + many + "&type=" + names[20],
			"after=-1", "after=x", "after=", "before=0", "before=x",
			"after=5&before=9", "type=login.failed&after=1&before=9",
			"limit=0", "limit=201", "after=1&limit=500",
		} {
			t.Run(base+"?"+query, func(t *testing.T) {
				wantProblem(t, c.Do(t, "GET", base+"?"+query, nil), 400, "invalid")
			})
		}
		// Twenty distinct types, with repeats, and 0 as a cursor, are fine.
		for _, query := range []string{"type=" + many + "&type=" + names[0], "after=0", "type=login.password_failed&after=0&limit=200"} {
			if r := c.Do(t, "GET", base+"?"+query, nil); r.Status != 200 {
				t.Errorf("%s?%s: got %d %s, want 200", base, query, r.Status, r.Body)
			}
		}
	}
}

// TestEventsUnknownType: a type that is the name of no event type Twofold
// writes (core.EventTypes), such as a misspelling or a prefix, is a 400
// problem naming it on both routes, as a webhook's events are, rather than
// an empty page that reads as "none happened".
func TestEventsUnknownType(t *testing.T) {
	f := newResetFixture(t, testenv.SQLiteDSN(t), adminDelay)
	for _, base := range []string{"/v1/admin/events", "/v1/me/events"} {
		c := f.opc
		if base == "/v1/me/events" {
			c = f.user
		}
		for _, tt := range []struct{ query, unknown string }{
			{"type=login.failed", "login.failed"},
			{"type=login.succeeded,login.suceeded", "login.suceeded"},
			{"type=login.succeeded&type=Login.Succeeded", "Login.Succeeded"},
			{"type=login", "login"},
			{"type=login.&after=0", "login."},
		} {
			t.Run(base+"?"+tt.query, func(t *testing.T) {
				r := c.Do(t, "GET", base+"?"+tt.query, nil)
				wantProblem(t, r, 400, "invalid")
				if !strings.Contains(string(r.Body), `\"`+tt.unknown+`\"`) {
					t.Errorf("got %s, want the detail to name %q", r.Body, tt.unknown)
				}
			})
		}
		if r := c.Do(t, "GET", base+"?type=login.succeeded", nil); r.Status != 200 {
			t.Errorf("%s?type=login.succeeded: got %d %s, want 200", base, r.Status, r.Body)
		}
	}
}

// TestQueryParameterRepeated: a query parameter given twice is a 400
// problem naming it, on both stores, rather than the first value winning
// while a proxy or log may read the last; type, documented as repeatable
// on the lists of events, still repeats.
func TestQueryParameterRepeated(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f := newResetFixture(t, dsn(t), adminDelay)
			for _, tt := range []struct {
				c           *testenv.Client
				path, param string
			}{
				{f.opc, "/v1/admin/events?account=" + f.userID + "&account=" + f.op.Account.ID, "account"},
				{f.opc, "/v1/admin/events?limit=1&limit=2", "limit"},
				{f.user, "/v1/me/events?after=1&after=99999", "after"},
				{f.user, "/v1/me/events?before=9&type=login.succeeded&before=5", "before"},
				{f.user, "/v1/me/events?limit=5&limit=5", "limit"},
			} {
				r := tt.c.Do(t, "GET", tt.path, nil)
				wantProblem(t, r, 400, "invalid")
				if !strings.Contains(string(r.Body), `\"`+tt.param+`\"`) {
					t.Errorf("%s: got %s, want the detail to name %q", tt.path, r.Body, tt.param)
				}
			}
			if r := f.user.Do(t, "GET", "/v1/me/events?type=login.succeeded&type=login.password_failed&limit=5", nil); r.Status != 200 {
				t.Errorf("repeated type: got %d %s, want 200", r.Status, r.Body)
			}
		})
	}
}
