package storetest

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// testPasswordReset: a link is found by id until it lapses, a new one
// replaces the account's link before, and one use of any number wins.
func testPasswordReset(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	first := twofold.PasswordReset{ID: "r1", AccountID: a.ID, TokenHash: []byte("hash-1"), CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
	if err := s.PutPasswordReset(ctx, first); err != nil {
		t.Fatal(err)
	}
	got, err := s.PasswordReset(ctx, "r1", t0)
	if err != nil || got.AccountID != a.ID || string(got.TokenHash) != "hash-1" || !got.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("got %+v, %v; want the first link", got, err)
	}
	if _, err := s.PasswordReset(ctx, "r1", first.ExpiresAt); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("a lapsed link: got %v, want not-found", err)
	}
	second := first
	second.ID, second.TokenHash = "r2", []byte("hash-2")
	if err := s.PutPasswordReset(ctx, second); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasswordReset(ctx, "r1", t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("a replaced link: got %v, want not-found", err)
	}
	for _, c := range []struct {
		name string
		id   string
		hash string
		at   time.Time
		want bool
	}{
		{"replaced", "r1", "hash-1", t0, false},
		{"wrong hash", "r2", "hash-1", t0, false},
		{"lapsed", "r2", "hash-2", second.ExpiresAt, false},
		{"first use", "r2", "hash-2", t0, true},
		{"second use", "r2", "hash-2", t0, false},
	} {
		if ok, err := s.UsePasswordReset(ctx, c.id, []byte(c.hash), c.at); err != nil || ok != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, ok, err, c.want)
		}
	}
	if err := s.PutPasswordReset(ctx, first); err != nil {
		t.Fatal(err)
	}
	if err := s.DeletePasswordResets(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := s.PasswordReset(ctx, "r1", t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("after DeletePasswordResets: got %v, want not-found", err)
	}
}
