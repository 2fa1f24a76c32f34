package storetest

import (
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
)

// formMade returns what FormMade says of the form hash of sessionID.
func formMade(tb testing.TB, s *store.Store, hash, sessionID, purpose string) (string, bool) {
	tb.Helper()
	made, ok, err := s.FormMade(tb.Context(), []byte(hash), sessionID, purpose)
	if err != nil {
		tb.Fatalf("FormMade(%q): %v", hash, err)
	}
	return made, ok
}

func claimForm(tb testing.TB, s *store.Store, hash, sessionID string) bool {
	tb.Helper()
	ok, err := s.ClaimForm(tb.Context(), []byte(hash), sessionID, "api-key", t0, t0.Add(time.Hour))
	if err != nil {
		tb.Fatalf("ClaimForm(%q): %v", hash, err)
	}
	return ok
}

// testFormOnce: a form token is claimed once; what its first sending made
// is kept for the later ones, and a sending that made nothing is released
// so that the next one goes ahead. Rows go with their session, and when
// they expire.
func testFormOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newSession(t, s, session(a.ID, "sess-1"))
	newSession(t, s, session(a.ID, "sess-2"))

	if !claimForm(t, s, "form-1", "sess-1") {
		t.Fatal("first ClaimForm: got false, want true")
	}
	if claimForm(t, s, "form-1", "sess-1") {
		t.Fatal("second ClaimForm of one form: got true, want false")
	}
	if made, ok := formMade(t, s, "form-1", "sess-1", "api-key"); !ok || made != "" {
		t.Errorf("FormMade while at work: got %q, %v; want \"\", true", made, ok)
	}
	if _, ok := formMade(t, s, "form-1", "sess-2", "api-key"); ok {
		t.Error("FormMade for another session: found")
	}
	if _, ok := formMade(t, s, "form-1", "sess-1", "enrol"); ok {
		t.Error("FormMade for another purpose: found")
	}
	if err := s.SetFormMade(ctx, []byte("form-1"), "sess-1", "key-1"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetFormMade(ctx, []byte("form-1"), "sess-1", "key-2"); err != nil {
		t.Fatal(err)
	}
	if made, _ := formMade(t, s, "form-1", "sess-1", "api-key"); made != "key-1" {
		t.Errorf("FormMade: got %q, want the first sending's key-1", made)
	}
	// A sending that made something is not released.
	if err := s.ReleaseForm(ctx, []byte("form-1"), "sess-1"); err != nil {
		t.Fatal(err)
	}
	if made, _ := formMade(t, s, "form-1", "sess-1", "api-key"); made != "key-1" {
		t.Errorf("FormMade after ReleaseForm of a form that made something: got %q, want key-1", made)
	}

	// One that made nothing is, and the form goes ahead again, once.
	claimForm(t, s, "form-2", "sess-1")
	if err := s.ReleaseForm(ctx, []byte("form-2"), "sess-1"); err != nil {
		t.Fatal(err)
	}
	if _, ok := formMade(t, s, "form-2", "sess-1", "api-key"); ok {
		t.Error("FormMade after ReleaseForm: still found")
	}
	if wins := race(t, func(int) (bool, error) {
		return s.ClaimForm(ctx, []byte("form-2"), "sess-1", "api-key", t0, t0.Add(time.Hour))
	}); wins != 1 {
		t.Errorf("ClaimForm raced by %d: got %d winners, want 1", racers, wins)
	}

	// Rows go when they expire, and with their session.
	claimForm(t, s, "form-3", "sess-2")
	if _, err := s.DeleteSession(ctx, "sess-2"); err != nil {
		t.Fatal(err)
	}
	if _, ok := formMade(t, s, "form-3", "sess-2", "api-key"); ok {
		t.Error("FormMade after its session was deleted: still found")
	}
	if err := s.DeleteExpired(ctx, t0.Add(time.Hour+time.Second), ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := formMade(t, s, "form-1", "sess-1", "api-key"); ok {
		t.Error("FormMade after it expired: still found")
	}
}
