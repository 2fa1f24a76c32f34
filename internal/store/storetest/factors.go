package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func testFactorRoundTrip(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	confirmed, used := t0.Add(time.Minute), t0.Add(time.Hour)
	tests := []struct {
		name string
		f    twofold.Factor
	}{
		{"Pending", pendingFactor(a.ID, "f-pending", t0)},
		{"Full", twofold.Factor{
			ID:           "f-full",
			AccountID:    a.ID,
			Type:         twofold.FactorHOTP,
			Label:        "YubiKey 5 «office»",
			Status:       twofold.FactorActive,
			SecretKeyID:  "key-7",
			SealedSecret: []byte{0, 1, 2, 0xff, 0xfe, 0},
			Algorithm:    "SHA512",
			Digits:       8,
			Period:       60 * time.Second,
			LastStep:     1 << 40,
			Drift:        -3,
			CreatedAt:    t0.Add(time.Microsecond),
			ConfirmedAt:  &confirmed,
			LastUsedAt:   &used,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.CreateFactor(t.Context(), tt.f); err != nil {
				t.Fatalf("CreateFactor: %v", err)
			}
			if diff := cmp.Diff(tt.f, getFactor(t, s, a.ID, tt.f.ID)); diff != "" {
				t.Errorf("Factor (-want +got):\n%s", diff)
			}
		})
	}
}

// testFactorPendingSession: a pending factor keeps the session that started
// its setup, read back by Factor and Factors, kept apart from another
// pending factor's; activating it forgets the session.
func testFactorPendingSession(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	ctx := t.Context()
	mine, theirs, unknown := pendingFactor(a.ID, "f-mine", t0), pendingFactor(a.ID, "f-theirs", t0), pendingFactor(a.ID, "f-unknown", t0)
	mine.PendingSessionID, theirs.PendingSessionID = "session-1", "session-2"
	for _, f := range []twofold.Factor{mine, theirs, unknown} {
		if err := s.CreateFactor(ctx, f); err != nil {
			t.Fatalf("CreateFactor(%q): %v", f.ID, err)
		}
	}
	for _, f := range []twofold.Factor{mine, theirs, unknown} {
		if got := getFactor(t, s, a.ID, f.ID).PendingSessionID; got != f.PendingSessionID {
			t.Errorf("Factor(%q): got setup session %q, want %q", f.ID, got, f.PendingSessionID)
		}
	}
	fs, err := s.Factors(ctx, a.ID)
	if err != nil {
		t.Fatalf("Factors: %v", err)
	}
	if diff := cmp.Diff([]twofold.Factor{mine, theirs, unknown}, fs); diff != "" {
		t.Errorf("Factors (-want +got):\n%s", diff)
	}

	activate(t, s, activation(a.ID, mine.ID, 10, "first"))
	if got := getFactor(t, s, a.ID, mine.ID); got.Status != twofold.FactorActive || got.PendingSessionID != "" {
		t.Errorf("after ActivateFactor: got status %q, setup session %q; want %q and none", got.Status, got.PendingSessionID, twofold.FactorActive)
	}
	if got := getFactor(t, s, a.ID, theirs.ID).PendingSessionID; got != "session-2" {
		t.Errorf("the other pending factor after ActivateFactor: got setup session %q, want %q", got, "session-2")
	}
}

func testFactorsOrder(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	ctx := t.Context()
	got, err := s.Factors(ctx, a.ID)
	if err != nil {
		t.Fatalf("Factors: %v", err)
	}
	if len(got) != 0 {
		t.Fatalf("Factors of an account without factors: got %d, want 0", len(got))
	}
	// Created out of order; equal creation times fall back to the id.
	in := []twofold.Factor{
		pendingFactor(a.ID, "f-c", t0.Add(2*time.Second)),
		pendingFactor(a.ID, "f-b", t0),
		pendingFactor(other.ID, "f-other", t0.Add(time.Second)),
		pendingFactor(a.ID, "f-d", t0.Add(time.Second)),
		pendingFactor(a.ID, "f-a", t0),
	}
	for _, f := range in {
		if err := s.CreateFactor(ctx, f); err != nil {
			t.Fatalf("CreateFactor(%q): %v", f.ID, err)
		}
	}
	got, err = s.Factors(ctx, a.ID)
	if err != nil {
		t.Fatalf("Factors: %v", err)
	}
	want := []twofold.Factor{in[4], in[1], in[3], in[0]}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Factors (-want +got):\n%s", diff)
	}
}

// testFactorsOfType: the factors of one type, of every account and in every
// status, page by page in the order of their ids.
func testFactorsOfType(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	ctx := t.Context()
	sms := func(accountID, id string) twofold.Factor {
		f := pendingFactor(accountID, id, t0)
		f.Type, f.Algorithm, f.Digits, f.Period = twofold.FactorSMS, "", 0, 0
		return f
	}
	in := []twofold.Factor{sms(a.ID, "f-3"), pendingFactor(a.ID, "f-2", t0), sms(b.ID, "f-1"), sms(b.ID, "f-5"), sms(a.ID, "f-4")}
	for _, f := range in {
		if err := s.CreateFactor(ctx, f); err != nil {
			t.Fatalf("CreateFactor(%q): %v", f.ID, err)
		}
	}
	if _, _, err := s.ActivateFactor(ctx, activation(a.ID, "f-4", 0, "alice")); err != nil {
		t.Fatal(err)
	}
	var pages [][]string
	for after := ""; ; {
		got, err := s.FactorsOfType(ctx, twofold.FactorSMS, after, 2)
		if err != nil {
			t.Fatalf("FactorsOfType: %v", err)
		}
		var ids []string
		for _, f := range got {
			if diff := cmp.Diff(getFactor(t, s, f.AccountID, f.ID), f); diff != "" || f.Type != twofold.FactorSMS {
				t.Errorf("FactorsOfType: got %+v, want the stored sms factor (-stored +got):\n%s", f, diff)
			}
			ids = append(ids, f.ID)
		}
		pages = append(pages, ids)
		if len(got) < 2 {
			break
		}
		after = got[len(got)-1].ID
	}
	if diff := cmp.Diff([][]string{{"f-1", "f-3"}, {"f-4", "f-5"}, nil}, pages); diff != "" {
		t.Errorf("FactorsOfType pages (-want +got):\n%s", diff)
	}
}

func testFactorNotFound(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	newFactor(t, s, a.ID, "f-alice")
	ctx := t.Context()
	tests := []struct {
		name      string
		accountID string
		id        string
	}{
		{"OtherAccount", b.ID, "f-alice"},
		{"UnknownID", a.ID, "f-nothing"},
		{"UnknownAccount", "acct-nobody", "f-alice"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := s.Factor(ctx, tt.accountID, tt.id)
			wantCode(t, "Factor", err, twofold.CodeNotFound)
			_, err = s.RenameFactor(ctx, tt.accountID, tt.id, "stolen")
			wantCode(t, "RenameFactor", err, twofold.CodeNotFound)
			_, err = s.DeleteFactor(ctx, tt.accountID, tt.id, twofold.FactorActive)
			wantCode(t, "DeleteFactor", err, twofold.CodeNotFound)
		})
	}
	if got := getFactor(t, s, a.ID, "f-alice"); got.Label != "phone f-alice" {
		t.Errorf("label after renames through other accounts: got %q, want %q", got.Label, "phone f-alice")
	}
}

func testActivateFirst(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	f := newFactor(t, s, a.ID, "f-1")
	wantTwoFactor(t, s, a.ID, twoFactor{})

	act := activation(a.ID, f.ID, 1234, "first")
	if first := activate(t, s, act); !first {
		t.Errorf("ActivateFactor of the only factor: got first=false, want true")
	}
	want := f
	want.Status = twofold.FactorActive
	want.LastStep = act.Step
	want.Drift = act.Drift
	want.ConfirmedAt = &act.Now
	want.LastUsedAt = &act.Now
	if diff := cmp.Diff(want, getFactor(t, s, a.ID, f.ID)); diff != "" {
		t.Errorf("factor after activation (-want +got):\n%s", diff)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: len(act.RecoveryHashes), PaperKey: act.PaperKeyHash})
	for _, h := range act.RecoveryHashes {
		if !useCode(t, s, a.ID, h) {
			t.Errorf("UseRecoveryCode(%q) of the stored set: got false, want true", h)
		}
	}
}

func testActivateSecond(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "first")
	newFactor(t, s, a.ID, "f-2")
	act := activation(a.ID, "f-2", 20, "second")
	if first := activate(t, s, act); first {
		t.Errorf("ActivateFactor of a second factor: got first=true, want false")
	}
	if got := getFactor(t, s, a.ID, "f-2"); got.Status != twofold.FactorActive || got.LastStep != 20 {
		t.Errorf("second factor: got status %q step %d, want %q step 20", got.Status, got.LastStep, twofold.FactorActive)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: 3, PaperKey: []byte("paper-first")})
	if !useCode(t, s, a.ID, codes("first", 1)[0]) {
		t.Errorf("UseRecoveryCode of the first set: got false, want true")
	}
	if useCode(t, s, a.ID, codes("second", 1)[0]) {
		t.Errorf("UseRecoveryCode of the second activation's set: got true, want false")
	}
}

func testActivateNotPending(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	activeFactor(t, s, a.ID, "f-active", 10, "first")
	newFactor(t, s, b.ID, "f-bob")
	before := twoFactorState(t, s, a.ID)
	beforeBob := twoFactorState(t, s, b.ID)
	factor := getFactor(t, s, a.ID, "f-active")
	bobFactor := getFactor(t, s, b.ID, "f-bob")

	tests := []struct {
		name string
		act  twofold.Activation
	}{
		{"AlreadyActive", activation(a.ID, "f-active", 99, "again")},
		{"Unknown", activation(a.ID, "f-nothing", 99, "again")},
		{"OtherAccount", activation(a.ID, "f-bob", 99, "again")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, first, err := s.ActivateFactor(t.Context(), tt.act)
			if err != nil {
				t.Fatalf("ActivateFactor: %v", err)
			}
			if ok || first {
				t.Errorf("ActivateFactor: got ok=%v first=%v, want false false", ok, first)
			}
			wantTwoFactor(t, s, a.ID, before)
			wantTwoFactor(t, s, b.ID, beforeBob)
			if diff := cmp.Diff(factor, getFactor(t, s, a.ID, "f-active")); diff != "" {
				t.Errorf("active factor changed (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(bobFactor, getFactor(t, s, b.ID, "f-bob")); diff != "" {
				t.Errorf("other account's factor changed (-want +got):\n%s", diff)
			}
		})
	}
}

func testActivateAfterReset(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "old")
	if gone, err := s.DeleteFactor(t.Context(), a.ID, "f-1", twofold.FactorActive); err != nil || !gone {
		t.Fatalf("DeleteFactor: got %v, %v, want true, nil", gone, err)
	}
	newFactor(t, s, a.ID, "f-2")
	if first := activate(t, s, activation(a.ID, "f-2", 10, "new")); !first {
		t.Errorf("ActivateFactor after the last factor went: got first=false, want true")
	}
	wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: 3, PaperKey: []byte("paper-new")})
	if useCode(t, s, a.ID, codes("old", 1)[0]) {
		t.Errorf("UseRecoveryCode of the old set: got true, want false")
	}
}

func testAcceptStep(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set") // last step 10
	activeFactor(t, s, a.ID, "f-2", 50, "set") // a neighbour that must not move
	neighbour := getFactor(t, s, a.ID, "f-2")
	// The steps run in order against one factor.
	tests := []struct {
		name     string
		step     int64
		want     bool
		wantLast int64
	}{
		{"SameAsActivation", 10, false, 10},
		{"Lower", 9, false, 10},
		{"Higher", 11, true, 11},
		{"SameTwice", 11, false, 11},
		{"Jump", 1000, true, 1000},
		{"BackAfterJump", 999, false, 1000},
		{"Negative", -1, false, 1000},
		{"Large", 1 << 40, true, 1 << 40},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(time.Duration(i+2) * time.Minute)
			drift := int64(i)
			before := getFactor(t, s, a.ID, "f-1")
			got, err := s.AcceptStep(t.Context(), "f-1", tt.step, drift, now)
			if err != nil {
				t.Fatalf("AcceptStep(%d): %v", tt.step, err)
			}
			if got != tt.want {
				t.Errorf("AcceptStep(%d): got %v, want %v", tt.step, got, tt.want)
			}
			want := before
			if tt.want {
				want.LastStep, want.Drift, want.LastUsedAt = tt.step, drift, &now
			}
			if diff := cmp.Diff(want, getFactor(t, s, a.ID, "f-1")); diff != "" {
				t.Errorf("factor after AcceptStep(%d) (-want +got):\n%s", tt.step, diff)
			}
			if got := getFactor(t, s, a.ID, "f-1").LastStep; got != tt.wantLast {
				t.Errorf("LastStep: got %d, want %d", got, tt.wantLast)
			}
		})
	}
	if diff := cmp.Diff(neighbour, getFactor(t, s, a.ID, "f-2")); diff != "" {
		t.Errorf("neighbouring factor changed (-want +got):\n%s", diff)
	}
}

func testAcceptStepPending(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	f := newFactor(t, s, a.ID, "f-1")
	for _, step := range []int64{-1, 0, 1, 1 << 40} {
		ok, err := s.AcceptStep(t.Context(), f.ID, step, 0, t0)
		if err != nil {
			t.Fatalf("AcceptStep(%d): %v", step, err)
		}
		if ok {
			t.Errorf("AcceptStep(%d) of a pending factor: got true, want false", step)
		}
	}
	ok, err := s.AcceptStep(t.Context(), "f-nothing", 5, 0, t0)
	if err != nil || ok {
		t.Errorf("AcceptStep of an unknown factor: got %v, %v, want false, nil", ok, err)
	}
	if diff := cmp.Diff(f, getFactor(t, s, a.ID, f.ID)); diff != "" {
		t.Errorf("pending factor changed (-want +got):\n%s", diff)
	}
}

func testSetFactorSync(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 100, "set")
	tests := []struct {
		name      string
		step      int64
		drift     int64
		want      bool
		wantStep  int64
		wantDrift int64
	}{
		{"Forward", 130, 30, true, 130, 30},
		{"Backward", 120, -10, false, 130, 30},
		{"Same", 130, 0, false, 130, 30},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.SetFactorSync(t.Context(), "f-1", tt.step, tt.drift, t0.Add(time.Hour))
			if err != nil {
				t.Fatalf("SetFactorSync: %v", err)
			}
			if got != tt.want {
				t.Errorf("SetFactorSync(%d): got %v, want %v", tt.step, got, tt.want)
			}
			f := getFactor(t, s, a.ID, "f-1")
			if f.LastStep != tt.wantStep || f.Drift != tt.wantDrift {
				t.Errorf("step, drift: got %d, %d, want %d, %d", f.LastStep, f.Drift, tt.wantStep, tt.wantDrift)
			}
		})
	}
}

func testRenameFactor(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	f := newFactor(t, s, a.ID, "f-1")
	other := newFactor(t, s, a.ID, "f-2")
	for _, label := range []string{"work phone", "work phone", "Work phone", "", "ünïcödé 🔑", "it's"} {
		was := getFactor(t, s, a.ID, f.ID).Label
		if changed, err := s.RenameFactor(t.Context(), a.ID, f.ID, label); err != nil || changed != (label != was) {
			t.Fatalf("RenameFactor(%q) of %q: changed %v, %v", label, was, changed, err)
		}
		want := f
		want.Label = label
		if diff := cmp.Diff(want, getFactor(t, s, a.ID, f.ID)); diff != "" {
			t.Errorf("factor after RenameFactor(%q) (-want +got):\n%s", label, diff)
		}
	}
	if diff := cmp.Diff(other, getFactor(t, s, a.ID, other.ID)); diff != "" {
		t.Errorf("other factor changed (-want +got):\n%s", diff)
	}
}

func testDeleteLastActive(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	newFactor(t, s, a.ID, "f-pending")
	activeFactor(t, s, b.ID, "f-bob", 10, "bob")
	bob := twoFactorState(t, s, b.ID)

	gone, err := s.DeleteFactor(t.Context(), a.ID, "f-1", twofold.FactorActive)
	if err != nil {
		t.Fatalf("DeleteFactor: %v", err)
	}
	if !gone {
		t.Errorf("DeleteFactor of the last active factor: got lastGone=false, want true")
	}
	wantTwoFactor(t, s, a.ID, twoFactor{})
	_, err = s.Factor(t.Context(), a.ID, "f-1")
	wantCode(t, "Factor after DeleteFactor", err, twofold.CodeNotFound)
	if got := getFactor(t, s, a.ID, "f-pending").Status; got != twofold.FactorPending {
		t.Errorf("pending factor: got status %q, want %q", got, twofold.FactorPending)
	}
	wantTwoFactor(t, s, b.ID, bob)
}

func testDeleteOneOfTwo(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	activeFactor(t, s, a.ID, "f-2", 10, "ignored")
	want := twoFactorState(t, s, a.ID)

	gone, err := s.DeleteFactor(t.Context(), a.ID, "f-1", twofold.FactorActive)
	if err != nil {
		t.Fatalf("DeleteFactor: %v", err)
	}
	if gone {
		t.Errorf("DeleteFactor of one of two active factors: got lastGone=true, want false")
	}
	wantTwoFactor(t, s, a.ID, want)
	fs, err := s.Factors(t.Context(), a.ID)
	if err != nil {
		t.Fatalf("Factors: %v", err)
	}
	if len(fs) != 1 || fs[0].ID != "f-2" {
		t.Errorf("Factors after DeleteFactor: got %d factors, want only f-2", len(fs))
	}

	gone, err = s.DeleteFactor(t.Context(), a.ID, "f-2", twofold.FactorActive)
	if err != nil || !gone {
		t.Errorf("DeleteFactor of the remaining factor: got %v, %v, want true, nil", gone, err)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{})
}

func testDeletePendingBesideActive(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	newFactor(t, s, a.ID, "f-pending")
	want := twoFactorState(t, s, a.ID)
	gone, err := s.DeleteFactor(t.Context(), a.ID, "f-pending", twofold.FactorPending)
	if err != nil {
		t.Fatalf("DeleteFactor: %v", err)
	}
	if gone {
		t.Errorf("DeleteFactor of a pending factor beside an active one: got lastGone=true, want false")
	}
	wantTwoFactor(t, s, a.ID, want)
}

func testDeleteFactorNotFound(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	want := twoFactorState(t, s, a.ID)
	_, err := s.DeleteFactor(t.Context(), b.ID, "f-1", twofold.FactorActive)
	wantCode(t, "DeleteFactor of another account's factor", err, twofold.CodeNotFound)
	wantTwoFactor(t, s, a.ID, want)
	getFactor(t, s, a.ID, "f-1")
}

func testReseal(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	fb := newFactor(t, s, b.ID, "f-b")
	fa := newFactor(t, s, a.ID, "f-a")
	ctx := t.Context()

	got, err := s.SealedSecrets(ctx)
	if err != nil {
		t.Fatalf("SealedSecrets: %v", err)
	}
	want := []twofold.Factor{
		{ID: fa.ID, SecretKeyID: "key-1", SealedSecret: fa.SealedSecret},
		{ID: fb.ID, SecretKeyID: "key-1", SealedSecret: fb.SealedSecret},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("SealedSecrets (-want +got):\n%s", diff)
	}

	resealed := []byte("sealed under key-2")
	tests := []struct {
		name    string
		id      string
		oldKey  string
		newKey  string
		sealed  []byte
		want    bool
		wantKey string
		wantSec []byte
	}{
		{"Current", fa.ID, "key-1", "key-2", resealed, true, "key-2", resealed},
		{"StaleOldKey", fa.ID, "key-1", "key-3", []byte("lost update"), false, "key-2", resealed},
		{"UnknownFactor", "f-nothing", "key-1", "key-2", resealed, false, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ok, err := s.ResealSecret(ctx, tt.id, tt.oldKey, tt.newKey, tt.sealed)
			if err != nil {
				t.Fatalf("ResealSecret: %v", err)
			}
			if ok != tt.want {
				t.Errorf("ResealSecret: got %v, want %v", ok, tt.want)
			}
			if tt.wantKey == "" {
				return
			}
			f := getFactor(t, s, a.ID, tt.id)
			if f.SecretKeyID != tt.wantKey || string(f.SealedSecret) != string(tt.wantSec) {
				t.Errorf("secret: got key %q sealed %q, want key %q sealed %q", f.SecretKeyID, f.SealedSecret, tt.wantKey, tt.wantSec)
			}
		})
	}
	if diff := cmp.Diff(fb, getFactor(t, s, b.ID, fb.ID)); diff != "" {
		t.Errorf("other factor changed (-want +got):\n%s", diff)
	}
}

// testDeleteFactorInAnotherStatus: a factor is deleted only in the status
// the caller checked; one that changed meanwhile stays, as a conflict.
func testDeleteFactorInAnotherStatus(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	newFactor(t, s, a.ID, "f-pending")
	want := twoFactorState(t, s, a.ID)
	_, err := s.DeleteFactor(t.Context(), a.ID, "f-1", twofold.FactorPending)
	wantCode(t, "DeleteFactor of an active factor as pending", err, twofold.CodeConflict)
	_, err = s.DeleteFactor(t.Context(), a.ID, "f-pending", twofold.FactorActive)
	wantCode(t, "DeleteFactor of a pending factor as active", err, twofold.CodeConflict)
	getFactor(t, s, a.ID, "f-1")
	getFactor(t, s, a.ID, "f-pending")
	wantTwoFactor(t, s, a.ID, want)
}

// testMarkFactorDamaged: MarkFactorDamaged sets the factor's DamagedAt, read
// back by every read of factors, keeps the first time it was found, and
// leaves the account's other factors alone.
func testMarkFactorDamaged(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	activeFactor(t, s, a.ID, "f-2", 10, "set")
	if f := getFactor(t, s, a.ID, "f-1"); f.DamagedAt != nil {
		t.Fatalf("a new factor: DamagedAt %v, want nil", f.DamagedAt)
	}
	for _, at := range []time.Time{t0.Add(time.Minute), t0.Add(time.Hour)} {
		if err := s.MarkFactorDamaged(t.Context(), "f-1", at); err != nil {
			t.Fatalf("MarkFactorDamaged: %v", err)
		}
	}
	if f := getFactor(t, s, a.ID, "f-1"); f.DamagedAt == nil || !f.DamagedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("DamagedAt: got %v, want the first mark, %v", f.DamagedAt, t0.Add(time.Minute))
	}
	fs, err := s.Factors(t.Context(), a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fs {
		if damaged := f.DamagedAt != nil; damaged != (f.ID == "f-1") {
			t.Errorf("Factors: %s DamagedAt %v, want it set on f-1 alone", f.ID, f.DamagedAt)
		}
	}
}

// testClearFactorDamaged: ClearFactorDamaged clears the mark a factor was
// read with, but not while the row holds another sealed secret (damaged
// again, or resealed, since the read) or another mark, and leaves the
// account's other factors' marks alone.
func testClearFactorDamaged(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	activeFactor(t, s, a.ID, "f-2", 10, "set")
	for _, id := range []string{"f-1", "f-2"} {
		if err := s.MarkFactorDamaged(t.Context(), id, t0.Add(time.Minute)); err != nil {
			t.Fatalf("MarkFactorDamaged(%s): %v", id, err)
		}
	}
	read := getFactor(t, s, a.ID, "f-1")
	if read.DamagedAt == nil {
		t.Fatal("f-1 read without its mark")
	}

	for _, tc := range []struct {
		name   string
		change func(f *twofold.Factor)
	}{
		{"another ciphertext", func(f *twofold.Factor) { f.SealedSecret = append(bytes.Clone(f.SealedSecret), 1) }},
		{"another data key", func(f *twofold.Factor) { f.SecretKeyID += "-other" }},
		{"another mark", func(f *twofold.Factor) { at := f.DamagedAt.Add(time.Second); f.DamagedAt = &at }},
		{"no mark", func(f *twofold.Factor) { f.DamagedAt = nil }},
	} {
		f := read
		tc.change(&f)
		if err := s.ClearFactorDamaged(t.Context(), f); err != nil {
			t.Fatalf("%s: ClearFactorDamaged: %v", tc.name, err)
		}
		if got := getFactor(t, s, a.ID, "f-1"); got.DamagedAt == nil {
			t.Errorf("%s: the mark was cleared, want it kept", tc.name)
		}
	}

	if err := s.ClearFactorDamaged(t.Context(), read); err != nil {
		t.Fatalf("ClearFactorDamaged: %v", err)
	}
	if f := getFactor(t, s, a.ID, "f-1"); f.DamagedAt != nil {
		t.Errorf("f-1 as read: DamagedAt %v, want it cleared", f.DamagedAt)
	}
	if f := getFactor(t, s, a.ID, "f-2"); f.DamagedAt == nil {
		t.Error("f-2: its mark was cleared with f-1's, want it kept")
	}
}
