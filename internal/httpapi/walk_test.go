package httpapi_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestLoginIgnoresCase: a username signs in typed in any case, as account
// creation compares names; wrong passwords typed in different cases count on
// one counter, so that changing the case buys no fresh guesses; and of two
// accounts whose names differ only in case (left from before migration
// 0012), each signs in by its exact name, while a name matching neither
// exactly gets the answer of a wrong password, even with either's password.
func TestLoginIgnoresCase(t *testing.T) {
	eachStoreWith(t, []testenv.ServerOption{behindProxy}, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		addUser(t, s, "alice")
		// signsInAs logs in as name with the password and returns the id
		// of the account the session is for.
		signsInAs := func(name string) string {
			t.Helper()
			c := testenv.NewClient(s.URL())
			r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
			if r.Status != 200 || r.String("status") != "authenticated" {
				t.Fatalf("login as %q: got %d %s, want 200 authenticated", name, r.Status, r.Body)
			}
			c.Token = r.String("token")
			return c.Do(t, "GET", "/v1/me", nil).String("id")
		}
		alice, err := s.Store.AccountByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"alice", "ALICE", "Alice", "aLiCe"} {
			if got := signsInAs(name); got != alice.ID {
				t.Errorf("login as %q: a session of account %q, want alice's %q", name, got, alice.ID)
			}
		}

		// Four wrong passwords pass unthrottled, the fifth locks: typed in
		// five cases, they still count on one counter.
		guesser := from(testenv.NewClient(s.URL()), "203.0.113.9")
		for _, name := range []string{"ALICE", "alice", "Alice", "aLICE", "alicE"} {
			r := guesser.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": "wrong guess"})
			wantProblem(t, r, 401, "invalid-credentials")
		}
		r := guesser.Do(t, "POST", "/v1/login", map[string]string{"username": "AlIcE", "password": password})
		wantProblem(t, r, 429, "throttled")
		retryAfter(t, r)

		// A pair from before migration 0012, written past CreateAccount's
		// check, with one password for both.
		addUser(t, s, "carol")
		carol, err := s.Store.AccountByUsername(ctx, "carol")
		if err != nil {
			t.Fatal(err)
		}
		upper := twofold.Account{ID: "acct-carol-upper", Username: "Carol", Email: "carol@example.org", PasswordHash: carol.PasswordHash, CreatedAt: carol.CreatedAt}
		if err := s.Store.InsertFixtures(ctx, []twofold.Account{upper}, nil); err != nil {
			t.Fatal(err)
		}
		if got := signsInAs("carol"); got != carol.ID {
			t.Errorf("login as carol: a session of %q, want %q", got, carol.ID)
		}
		if got := signsInAs("Carol"); got != upper.ID {
			t.Errorf("login as Carol: a session of %q, want %q", got, upper.ID)
		}
		for _, name := range []string{"CAROL", "cArOl"} {
			r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
			wantProblem(t, r, 401, "invalid-credentials")
		}
	})
}
