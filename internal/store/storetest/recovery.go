package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func remaining(tb testing.TB, s *store.Store, accountID string) int {
	tb.Helper()
	n, err := s.RecoveryCodesRemaining(tb.Context(), accountID)
	if err != nil {
		tb.Fatalf("RecoveryCodesRemaining: %v", err)
	}
	return n
}

func replaceCodes(tb testing.TB, s *store.Store, accountID string, hashes [][]byte) {
	tb.Helper()
	if err := s.ReplaceRecoveryCodes(tb.Context(), accountID, hashes, t0); err != nil {
		tb.Fatalf("ReplaceRecoveryCodes: %v", err)
	}
}

func testUseRecoveryCodeOnce(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	activeFactor(t, s, a.ID, "f-alice", 1, "first-alice")
	activeFactor(t, s, b.ID, "f-bob", 1, "first-bob")
	set := codes("alice", 3)
	replaceCodes(t, s, a.ID, set)
	replaceCodes(t, s, b.ID, codes("bob", 2))
	if got := remaining(t, s, a.ID); got != 3 {
		t.Fatalf("RecoveryCodesRemaining: got %d, want 3", got)
	}
	// The steps run in order against one account.
	tests := []struct {
		name          string
		accountID     string
		hash          []byte
		want          bool
		wantRemaining int
	}{
		{"First", a.ID, set[0], true, 2},
		{"SameAgain", a.ID, set[0], false, 2},
		{"Unknown", a.ID, []byte("not a code"), false, 2},
		{"OtherAccountsCode", a.ID, codes("bob", 1)[0], false, 2},
		{"ByOtherAccount", b.ID, set[1], false, 2},
		{"Second", a.ID, set[1], true, 1},
		{"Last", a.ID, set[2], true, 0},
		{"LastAgain", a.ID, set[2], false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := useCode(t, s, tt.accountID, tt.hash); got != tt.want {
				t.Errorf("UseRecoveryCode: got %v, want %v", got, tt.want)
			}
			if got := remaining(t, s, a.ID); got != tt.wantRemaining {
				t.Errorf("RecoveryCodesRemaining: got %d, want %d", got, tt.wantRemaining)
			}
		})
	}
	if got := remaining(t, s, b.ID); got != 2 {
		t.Errorf("RecoveryCodesRemaining of the other account: got %d, want 2", got)
	}
}

func testReplaceRecoveryCodes(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	// Without an active factor there is no two-factor to recover: refused,
	// nothing stored.
	newFactor(t, s, a.ID, "f-pending")
	if err := s.ReplaceRecoveryCodes(t.Context(), a.ID, codes("none", 2), t0); twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Fatalf("ReplaceRecoveryCodes without an active factor: %v, want invalid", err)
	}
	if got := remaining(t, s, a.ID); got != 0 {
		t.Fatalf("RecoveryCodesRemaining after the refusal: %d, want 0", got)
	}
	activeFactor(t, s, a.ID, "f-1", 1, "first")
	old := codes("old", 2)
	replaceCodes(t, s, a.ID, old)
	if !useCode(t, s, a.ID, old[0]) {
		t.Fatalf("UseRecoveryCode of the old set: got false, want true")
	}
	fresh := codes("new", 4)
	replaceCodes(t, s, a.ID, fresh)
	if got := remaining(t, s, a.ID); got != len(fresh) {
		t.Errorf("RecoveryCodesRemaining after replace: got %d, want %d", got, len(fresh))
	}
	for _, h := range old {
		if useCode(t, s, a.ID, h) {
			t.Errorf("UseRecoveryCode(%q) of the voided set: got true, want false", h)
		}
	}
	if !useCode(t, s, a.ID, fresh[3]) {
		t.Errorf("UseRecoveryCode of the new set: got false, want true")
	}
	// A used code may be issued again in a later set and is then unused.
	replaceCodes(t, s, a.ID, [][]byte{fresh[3]})
	if !useCode(t, s, a.ID, fresh[3]) {
		t.Errorf("UseRecoveryCode of a reissued code: got false, want true")
	}
	replaceCodes(t, s, a.ID, nil)
	if got := remaining(t, s, a.ID); got != 0 {
		t.Errorf("RecoveryCodesRemaining after replacing with none: got %d, want 0", got)
	}
}

// testReplaceRecoveryCodesAtOnce: of replacements at the same moment, the
// last voids the others' sets: exactly one set is left.
func testReplaceRecoveryCodesAtOnce(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 1, "first")
	for round := range 8 {
		var wg sync.WaitGroup
		errs := make(chan error, 6)
		for i := range 6 {
			wg.Go(func() {
				errs <- s.ReplaceRecoveryCodes(t.Context(), a.ID, codes(fmt.Sprintf("r%d-%d", round, i), 10), t0)
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("ReplaceRecoveryCodes: %v", err)
			}
		}
		if got := remaining(t, s, a.ID); got != 10 {
			t.Fatalf("round %d: RecoveryCodesRemaining after 6 replacements at once: got %d, want 10", round, got)
		}
	}
}

func testNoPaperKey(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	for _, id := range []string{a.ID, "acct-nobody"} {
		h, err := s.PaperKeyHash(t.Context(), id)
		if err != nil || h != nil {
			t.Errorf("PaperKeyHash(%q): got %q, %v, want nil, nil", id, h, err)
		}
		if got := remaining(t, s, id); got != 0 {
			t.Errorf("RecoveryCodesRemaining(%q): got %d, want 0", id, got)
		}
	}
}

// paperKey returns what PaperKey says of the account.
func paperKey(tb testing.TB, s *store.Store, accountID string) ([]byte, time.Time) {
	tb.Helper()
	h, at, err := s.PaperKey(tb.Context(), accountID)
	if err != nil {
		tb.Fatalf("PaperKey(%q): %v", accountID, err)
	}
	return h, at
}

// testReplacePaperKey: a paper key is replaced only while its hash is the
// one given and the factor given is active, once of two replacements of one
// key; a key gone with the last factor is not brought back.
func testReplacePaperKey(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "first")
	newFactor(t, s, a.ID, "f-pending")
	h, at := paperKey(t, s, a.ID)
	if string(h) != "paper-first" || !at.Equal(activation(a.ID, "f-1", 10, "first").Now) {
		t.Fatalf("PaperKey: got %q at %v, want paper-first at the activation", h, at)
	}
	later := t0.Add(5 * time.Minute)
	for _, tc := range []struct {
		name, factor, old string
	}{
		{"WrongOld", "f-1", "paper-other"},
		{"PendingFactor", "f-pending", "paper-first"},
		{"UnknownFactor", "f-none", "paper-first"},
	} {
		ok, err := s.ReplacePaperKey(ctx, a.ID, tc.factor, []byte(tc.old), []byte("paper-new"), later)
		if err != nil || ok {
			t.Errorf("ReplacePaperKey %s: got %v, %v; want false", tc.name, ok, err)
		}
	}
	if h, _ := paperKey(t, s, a.ID); string(h) != "paper-first" {
		t.Fatalf("PaperKey after refused replacements: got %q", h)
	}
	if ok, err := s.ReplacePaperKey(ctx, a.ID, "f-1", []byte("paper-first"), []byte("paper-new"), later); err != nil || !ok {
		t.Fatalf("ReplacePaperKey: got %v, %v; want true", ok, err)
	}
	if h, at := paperKey(t, s, a.ID); string(h) != "paper-new" || !at.Equal(later) {
		t.Errorf("PaperKey after replacing: got %q at %v, want paper-new at %v", h, at, later)
	}
	if ok, err := s.ReplacePaperKey(ctx, a.ID, "f-1", []byte("paper-first"), []byte("paper-third"), later); err != nil || ok {
		t.Errorf("ReplacePaperKey of the replaced key: got %v, %v; want false", ok, err)
	}
	if _, err := s.DeleteFactor(ctx, a.ID, "f-1", twofold.FactorActive); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.ReplacePaperKey(ctx, a.ID, "f-1", []byte("paper-new"), []byte("paper-back"), later); err != nil || ok {
		t.Errorf("ReplacePaperKey after the last factor went: got %v, %v; want false", ok, err)
	}
	if h, _ := paperKey(t, s, a.ID); h != nil {
		t.Errorf("PaperKey after the last factor went: got %q, want none", h)
	}
}

// testReplaceRecoveryCodesLastFactorGone: new recovery codes made while
// the account's last factor is deleted (two tabs) either come first, and
// go with two-factor, or are refused: never codes on an account with no
// factor left.
func testReplaceRecoveryCodesLastFactorGone(t *testing.T, s *store.Store) {
	for round := range 8 {
		a := newAccount(t, s, fmt.Sprintf("alice%d", round))
		id := fmt.Sprintf("f-%d", round)
		activeFactor(t, s, a.ID, id, 1, fmt.Sprintf("first-%d", round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		var replaceErr, deleteErr error
		wg.Go(func() {
			<-start
			replaceErr = s.ReplaceRecoveryCodes(t.Context(), a.ID, codes(fmt.Sprintf("new-%d", round), 10), t0)
		})
		wg.Go(func() {
			<-start
			_, deleteErr = s.DeleteFactor(t.Context(), a.ID, id, twofold.FactorActive)
		})
		close(start)
		wg.Wait()
		if deleteErr != nil {
			t.Fatalf("DeleteFactor: %v", deleteErr)
		}
		if replaceErr != nil && twofold.ErrorCode(replaceErr) != twofold.CodeInvalid {
			t.Fatalf("ReplaceRecoveryCodes: %v", replaceErr)
		}
		if got := remaining(t, s, a.ID); got != 0 {
			t.Fatalf("round %d: %d recovery codes left on an account with no factor, want 0", round, got)
		}
	}
}
