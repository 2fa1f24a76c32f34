package storetest

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func testTwoFactorReset(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	newFactor(t, s, a.ID, "f-pending")
	activeFactor(t, s, b.ID, "f-bob", 10, "bob")
	bob := twoFactorState(t, s, b.ID)

	if _, found, err := s.TwoFactorReset(ctx, a.ID); err != nil || found {
		t.Fatalf("TwoFactorReset before any: got found=%v, %v", found, err)
	}
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0, Due: t0.Add(72 * time.Hour)}
	if err := s.AddTwoFactorReset(ctx, r); err != nil {
		t.Fatalf("AddTwoFactorReset: %v", err)
	}
	wantCode(t, "a second AddTwoFactorReset", s.AddTwoFactorReset(ctx, r), twofold.CodeConflict)
	got, found, err := s.TwoFactorReset(ctx, a.ID)
	if err != nil || !found {
		t.Fatalf("TwoFactorReset: got found=%v, %v", found, err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("TwoFactorReset (-want +got):\n%s", diff)
	}

	// Not due: nothing happens.
	if due, err := s.DueTwoFactorResets(ctx, r.Due.Add(-time.Microsecond), 10); err != nil || len(due) != 0 {
		t.Fatalf("DueTwoFactorResets before due: got %v, %v; want none", due, err)
	}
	if _, done, err := s.ResetTwoFactor(ctx, a.ID, r.Due.Add(-time.Microsecond)); err != nil || done {
		t.Fatalf("ResetTwoFactor before due: got done=%v, %v", done, err)
	}
	if len(factorIDs(t, s, a.ID)) != 2 {
		t.Fatal("ResetTwoFactor before due removed factors")
	}

	due, err := s.DueTwoFactorResets(ctx, r.Due, 10)
	if err != nil || len(due) != 1 || due[0].AccountID != a.ID {
		t.Fatalf("DueTwoFactorResets at due: got %v, %v; want alice's", due, err)
	}
	got, done, err := s.ResetTwoFactor(ctx, a.ID, r.Due)
	if err != nil || !done {
		t.Fatalf("ResetTwoFactor at due: got done=%v, %v", done, err)
	}
	if diff := cmp.Diff(r, got); diff != "" {
		t.Errorf("ResetTwoFactor returned (-want +got):\n%s", diff)
	}
	if ids := factorIDs(t, s, a.ID); len(ids) != 0 {
		t.Errorf("factors after the reset: got %v, want none", ids)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{})
	wantTwoFactor(t, s, b.ID, bob)
	if _, found, _ := s.TwoFactorReset(ctx, a.ID); found {
		t.Error("the reset still waits after it was carried out")
	}
	if _, done, err := s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil || done {
		t.Errorf("ResetTwoFactor again: got done=%v, %v; want false", done, err)
	}

	// Cancelled, it is gone and reports so once.
	r.AccountID = b.ID
	if err := s.AddTwoFactorReset(ctx, r); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.CancelTwoFactorReset(ctx, b.ID); err != nil || !ok {
		t.Fatalf("CancelTwoFactorReset: got %v, %v", ok, err)
	}
	if ok, err := s.CancelTwoFactorReset(ctx, b.ID); err != nil || ok {
		t.Fatalf("CancelTwoFactorReset again: got %v, %v; want false", ok, err)
	}
	if _, done, _ := s.ResetTwoFactor(ctx, b.ID, r.Due); done {
		t.Error("a cancelled reset was carried out")
	}
	wantTwoFactor(t, s, b.ID, bob)
}

// testRaceResetTwoFactor: of callers racing to carry out one due reset,
// exactly one does.
func testRaceResetTwoFactor(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0, Due: t0}
	if err := s.AddTwoFactorReset(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	var done atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, ok, err := s.ResetTwoFactor(t.Context(), a.ID, t0)
			if err != nil {
				t.Error(err)
			}
			if ok {
				done.Add(1)
			}
		})
	}
	wg.Wait()
	if n := done.Load(); n != 1 {
		t.Fatalf("got %d callers carrying out one reset, want 1", n)
	}
}

func factorIDs(tb testing.TB, s *store.Store, accountID string) []string {
	tb.Helper()
	fs, err := s.Factors(tb.Context(), accountID)
	if err != nil {
		tb.Fatalf("Factors: %v", err)
	}
	var ids []string
	for _, f := range fs {
		ids = append(ids, f.ID)
	}
	return ids
}
