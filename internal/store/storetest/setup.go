package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func addSetupToken(tb testing.TB, s *store.Store, hash string) {
	tb.Helper()
	// Tokens made before since do not hold a new one back: each is
	// stored beside those before it (as tokens of earlier starts are).
	if ok, err := s.AddSetupToken(tb.Context(), []byte(hash), t0, t0.Add(time.Microsecond)); err != nil || !ok {
		tb.Fatalf("AddSetupToken(%q) = %v, %v; want true", hash, ok, err)
	}
}

func setupTokenValid(tb testing.TB, s *store.Store, hash string) bool {
	tb.Helper()
	ok, err := s.SetupTokenValid(tb.Context(), []byte(hash), t0)
	if err != nil {
		tb.Fatalf("SetupTokenValid(%q): %v", hash, err)
	}
	return ok
}

func countAccounts(tb testing.TB, s *store.Store) int {
	tb.Helper()
	n, err := s.CountAccounts(tb.Context())
	if err != nil {
		tb.Fatalf("CountAccounts: %v", err)
	}
	return n
}

func operator(username string) twofold.Account {
	return twofold.Account{ID: "acct-" + username, Username: username, PasswordHash: "x", Operator: true, CreatedAt: t0}
}

func testFirstAccount(t *testing.T, s *store.Store) {
	addSetupToken(t, s, "token-1")
	addSetupToken(t, s, "token-2")
	// The steps run in order against one store.
	tests := []struct {
		name      string
		token     string
		account   twofold.Account
		want      bool
		wantCount int
	}{
		{"UnknownToken", "token-nothing", operator("mallory"), false, 0},
		{"First", "token-1", operator("root"), true, 1},
		{"SameTokenAgain", "token-1", operator("again"), false, 1},
		{"OtherToken", "token-2", operator("second"), false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.CreateFirstAccount(t.Context(), []byte(tt.token), t0, tt.account)
			if err != nil {
				t.Fatalf("CreateFirstAccount: %v", err)
			}
			if ok != tt.want {
				t.Errorf("CreateFirstAccount(%q): got %v, want %v", tt.token, ok, tt.want)
			}
			if got := countAccounts(t, s); got != tt.wantCount {
				t.Errorf("CountAccounts: got %d, want %d", got, tt.wantCount)
			}
			_, err = s.AccountByID(t.Context(), tt.account.ID)
			if tt.want && err != nil {
				t.Errorf("AccountByID of the first account: %v", err)
			}
			if !tt.want && twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("AccountByID of a refused account: got %v, want code %q", err, twofold.CodeNotFound)
			}
		})
	}
	if diff := cmp.Diff(operator("root"), getAccount(t, s, "acct-root")); diff != "" {
		t.Errorf("first account (-want +got):\n%s", diff)
	}
	for _, tok := range []string{"token-1", "token-2"} {
		if setupTokenValid(t, s, tok) {
			t.Errorf("SetupTokenValid(%q) after the first account: got true, want false", tok)
		}
	}
}

func testSetupTokenValid(t *testing.T, s *store.Store) {
	if setupTokenValid(t, s, "token-1") {
		t.Errorf("SetupTokenValid before AddSetupToken: got true, want false")
	}
	addSetupToken(t, s, "token-1")
	tests := []struct {
		token string
		want  bool
	}{
		{"token-1", true},
		{"token-2", false},
		{"token-", false},
	}
	for _, tt := range tests {
		if got := setupTokenValid(t, s, tt.token); got != tt.want {
			t.Errorf("SetupTokenValid(%q): got %v, want %v", tt.token, got, tt.want)
		}
	}
	// A token made before since has expired, for checking and for use.
	later := t0.Add(time.Microsecond)
	if ok, err := s.SetupTokenValid(t.Context(), []byte("token-1"), later); err != nil || ok {
		t.Errorf("SetupTokenValid of an expired token: got %v, %v, want false, nil", ok, err)
	}
	if ok, err := s.CreateFirstAccount(t.Context(), []byte("token-1"), later, operator("late")); err != nil || ok {
		t.Errorf("CreateFirstAccount with an expired token: got %v, %v, want false, nil", ok, err)
	}
	if got := countAccounts(t, s); got != 0 {
		t.Errorf("accounts after an expired token: got %d, want 0", got)
	}
	alice := newAccount(t, s, "alice") // any account ends setup
	if setupTokenValid(t, s, "token-1") {
		t.Errorf("SetupTokenValid once an account exists: got true, want false")
	}
	// For good: with that account deleted again (no account left, the
	// token still young), the link of a start before it stays void.
	if err := s.DeleteAccount(t.Context(), alice.ID, t0); err != nil {
		t.Fatal(err)
	}
	if setupTokenValid(t, s, "token-1") {
		t.Errorf("SetupTokenValid once the account made meanwhile is deleted: got true, want false")
	}
	newAccount(t, s, "bob")
	ok, err := s.CreateFirstAccount(t.Context(), []byte("token-1"), t0, operator("root"))
	if err != nil || ok {
		t.Errorf("CreateFirstAccount once an account exists: got %v, %v, want false, nil", ok, err)
	}
	if got := countAccounts(t, s); got != 1 {
		t.Errorf("CountAccounts: got %d, want 1", got)
	}
}

// testRaceFirstAccount races first-run setup with a different token each, as
// from several instances: exactly one account results.
func testRaceFirstAccount(t *testing.T, s *store.Store) {
	for i := range racers {
		addSetupToken(t, s, fmt.Sprintf("token-%d", i))
	}
	wins := race(t, func(i int) (bool, error) {
		return s.CreateFirstAccount(t.Context(), fmt.Appendf(nil, "token-%d", i), t0, operator(fmt.Sprintf("root%d", i)))
	})
	if wins != 1 {
		t.Errorf("CreateFirstAccount raced by %d: got %d winners, want 1", racers, wins)
	}
	if got := countAccounts(t, s); got != 1 {
		t.Errorf("CountAccounts: got %d, want 1", got)
	}
}

// testSetupOneOffer: a setup token is stored only while none made at since
// or later is, and no account exists; SetupOffered says when the one
// offered was made.
func testSetupOneOffer(t *testing.T, s *store.Store) {
	ctx := t.Context()
	if at, err := s.SetupOffered(ctx, t0); err != nil || !at.IsZero() {
		t.Errorf("SetupOffered before any token = %v, %v; want zero", at, err)
	}
	if ok, err := s.AddSetupToken(ctx, []byte("token-1"), t0, t0.Add(-time.Hour)); err != nil || !ok {
		t.Fatalf("first AddSetupToken = %v, %v; want true", ok, err)
	}
	later := t0.Add(time.Minute)
	if ok, err := s.AddSetupToken(ctx, []byte("token-2"), later, later.Add(-time.Hour)); err != nil || ok {
		t.Errorf("AddSetupToken while token-1 works = %v, %v; want false", ok, err)
	}
	if setupTokenValid(t, s, "token-2") {
		t.Errorf("token-2 was stored beside token-1")
	}
	if at, err := s.SetupOffered(ctx, later.Add(-time.Hour)); err != nil || !at.Equal(t0) {
		t.Errorf("SetupOffered = %v, %v; want %v", at, err, t0)
	}
	// Once token-1 is outdated, a new one is offered.
	if ok, err := s.AddSetupToken(ctx, []byte("token-3"), later, t0.Add(time.Second)); err != nil || !ok {
		t.Errorf("AddSetupToken once token-1 is outdated = %v, %v; want true", ok, err)
	}
	if ok, err := s.CreateFirstAccount(ctx, []byte("token-3"), t0, operator("root")); err != nil || !ok {
		t.Fatalf("CreateFirstAccount = %v, %v", ok, err)
	}
	if ok, err := s.AddSetupToken(ctx, []byte("token-4"), later, later); err != nil || ok {
		t.Errorf("AddSetupToken once an account exists = %v, %v; want false", ok, err)
	}
	if at, err := s.SetupOffered(ctx, t0.Add(-time.Hour)); err != nil || !at.IsZero() {
		t.Errorf("SetupOffered once an account exists = %v, %v; want zero", at, err)
	}
}

// testRaceSetupOffer races the setup offer of several instances started
// together on one database: exactly one stores its token.
func testRaceSetupOffer(t *testing.T, s *store.Store) {
	wins := race(t, func(i int) (bool, error) {
		return s.AddSetupToken(t.Context(), fmt.Appendf(nil, "token-%d", i), t0, t0.Add(-time.Hour))
	})
	if wins != 1 {
		t.Errorf("AddSetupToken raced by %d: got %d winners, want 1", racers, wins)
	}
}
