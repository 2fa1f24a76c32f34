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

// testEmailChange: a change takes checks until none is left or it lapses,
// applies once, and a new one replaces the one before.
func testEmailChange(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	c := twofold.EmailChange{AccountID: a.ID, Email: "alice@new.example", CodeHash: []byte("hash-1"), ChecksLeft: 2,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
	if err := s.PutEmailChange(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeEmailChangeCheck(ctx, a.ID, c.ExpiresAt); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("a lapsed change: got %v, want not-found", err)
	}
	for want := 1; want >= 0; want-- {
		got, err := s.TakeEmailChangeCheck(ctx, a.ID, t0)
		if err != nil || got.ChecksLeft != want || got.Email != c.Email || string(got.CodeHash) != "hash-1" {
			t.Fatalf("take a check: got %+v, %v; want %d left", got, err, want)
		}
	}
	if _, err := s.TakeEmailChangeCheck(ctx, a.ID, t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("no checks left: got %v, want not-found", err)
	}
	c.Email, c.CodeHash, c.ChecksLeft = "alice@third.example", []byte("hash-2"), 5
	if err := s.PutEmailChange(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ApplyEmailChange(ctx, a.ID, []byte("hash-1")); ok || err != nil {
		t.Fatalf("apply a replaced change: got %v, %v; want false", ok, err)
	}
	if email, ok, err := s.ApplyEmailChange(ctx, a.ID, []byte("hash-2")); !ok || err != nil || email != c.Email {
		t.Fatalf("apply: got %q, %v, %v", email, ok, err)
	}
	if _, ok, _ := s.ApplyEmailChange(ctx, a.ID, []byte("hash-2")); ok {
		t.Fatal("a change applied twice")
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.Email != c.Email {
		t.Fatalf("account's address: got %q, %v; want %q", got.Email, err, c.Email)
	}
}
