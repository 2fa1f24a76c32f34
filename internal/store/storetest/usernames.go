package storetest

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// testAccountsByUsernameFold: a username finds its account in any case, and
// every account of a pair that differs only in case (left from before
// migration 0012, so written here as fixtures, past CreateAccount's check),
// by id; other names find none.
func testAccountsByUsernameFold(t *testing.T, s *store.Store) {
	alice := newAccount(t, s, "alice")
	newAccount(t, s, "alicia")
	pair := []twofold.Account{
		{ID: "acct-bob-1", Username: "Bob", Email: "bob@example.com", PasswordHash: "$argon2id$v=19$Bob", CreatedAt: t0},
		{ID: "acct-bob-2", Username: "bob", Email: "bob@example.org", PasswordHash: "$argon2id$v=19$bob", CreatedAt: t0},
	}
	if err := s.InsertFixtures(t.Context(), pair, nil); err != nil {
		t.Fatalf("InsertFixtures: %v", err)
	}
	tests := []struct {
		name     string
		username string
		want     []twofold.Account
	}{
		{"Exact", "alice", []twofold.Account{alice}},
		{"Upper", "ALICE", []twofold.Account{alice}},
		{"Mixed", "aLiCe", []twofold.Account{alice}},
		{"Pair", "BOB", pair},
		{"PairExact", "bob", pair},
		{"Prefix", "ali", nil},
		{"Longer", "alice2", nil},
		{"Wildcard", "al_ce", nil},
		{"Unknown", "nobody", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.AccountsByUsernameFold(t.Context(), tt.username)
			if err != nil {
				t.Fatalf("AccountsByUsernameFold(%q): %v", tt.username, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("AccountsByUsernameFold(%q) (-want +got):\n%s", tt.username, diff)
			}
		})
	}
}
