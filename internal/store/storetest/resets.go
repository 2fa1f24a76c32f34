package storetest

import (
	"fmt"
	"strings"
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
	// Requested after the factors were confirmed (at t0 + 1 minute), and
	// none used since.
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(time.Hour), Due: t0.Add(73 * time.Hour)}
	if err := s.AddTwoFactorReset(ctx, r); err != nil {
		t.Fatalf("AddTwoFactorReset: %v", err)
	}
	wantCode(t, "a second AddTwoFactorReset", s.AddTwoFactorReset(ctx, r), twofold.CodeConflict)
	if all, err := s.TwoFactorResets(ctx, 10); err != nil || len(all) != 1 || all[0].AccountID != a.ID {
		t.Fatalf("TwoFactorResets: got %v, %v; want alice's", all, err)
	}
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
	if _, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due.Add(-time.Microsecond)); err != nil || out != twofold.ResetNotDue {
		t.Fatalf("ResetTwoFactor before due: got %v, %v", out, err)
	}
	if len(factorIDs(t, s, a.ID)) != 2 {
		t.Fatal("ResetTwoFactor before due removed factors")
	}

	due, err := s.DueTwoFactorResets(ctx, r.Due, 10)
	if err != nil || len(due) != 1 || due[0].AccountID != a.ID {
		t.Fatalf("DueTwoFactorResets at due: got %v, %v; want alice's", due, err)
	}
	got, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due)
	if err != nil || out != twofold.ResetDone {
		t.Fatalf("ResetTwoFactor at due: got %v, %v", out, err)
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
	if _, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil || out != twofold.ResetNotDue {
		t.Errorf("ResetTwoFactor again: got %v, %v; want not due", out, err)
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
	if _, out, _ := s.ResetTwoFactor(ctx, b.ID, r.Due); out != twofold.ResetNotDue {
		t.Error("a cancelled reset was carried out")
	}
	wantTwoFactor(t, s, b.ID, bob)
}

// testResetWithdrawn: a factor or recovery code used after the request
// withdraws the reset when it falls due, and nothing else changes.
func testResetWithdrawn(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for i, use := range []func(accountID string){
		func(accountID string) {
			if ok, err := s.AcceptStep(ctx, "f-"+accountID, 20, 0, t0.Add(time.Hour)); err != nil || !ok {
				t.Fatalf("AcceptStep: %v, %v", ok, err)
			}
		},
		func(accountID string) {
			if !useCode(t, s, accountID, []byte(accountID+"-code-0")) {
				t.Fatal("recovery code refused")
			}
		},
	} {
		a := newAccount(t, s, fmt.Sprint("user", i))
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, a.ID)
		r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(10 * time.Minute), Due: t0.Add(72 * time.Hour)}
		if err := s.AddTwoFactorReset(ctx, r); err != nil {
			t.Fatal(err)
		}
		if got, _, err := s.TwoFactorReset(ctx, a.ID); err != nil || got.Withdrawing {
			t.Fatalf("case %d: before any use the reset reads as withdrawing (%v)", i, err)
		}
		use(a.ID) // at t0 + 1 hour
		if got, _, err := s.TwoFactorReset(ctx, a.ID); err != nil || !got.Withdrawing {
			t.Errorf("case %d: after a use the reset does not read as withdrawing (%v)", i, err)
		}
		if all, err := s.TwoFactorResets(ctx, 10); err != nil || len(all) != 1 || !all[0].Withdrawing {
			t.Errorf("case %d: the list of waiting resets does not say it is withdrawing: %+v, %v", i, all, err)
		}
		after := twoFactorState(t, s, a.ID)
		if _, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil || out != twofold.ResetWithdrawn {
			t.Fatalf("case %d: ResetTwoFactor after a use: got %v, %v; want withdrawn", i, out, err)
		}
		if _, found, _ := s.TwoFactorReset(ctx, a.ID); found {
			t.Errorf("case %d: a withdrawn reset still waits", i)
		}
		if ids := factorIDs(t, s, a.ID); len(ids) != 1 {
			t.Errorf("case %d: factors after a withdrawn reset: %v", i, ids)
		}
		wantTwoFactor(t, s, a.ID, after)
	}
}

// testRaceResetTwoFactor: of callers racing to carry out one due reset,
// exactly one does.
func testRaceResetTwoFactor(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "alice")
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(time.Hour), Due: t0.Add(time.Hour)}
	if err := s.AddTwoFactorReset(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	var done atomic.Int32
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			_, out, err := s.ResetTwoFactor(t.Context(), a.ID, r.Due)
			if err != nil {
				t.Error(err)
			}
			if out == twofold.ResetDone {
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

// testNoResetOfSuspended: a suspended account gets no waiting reset, which
// its holder could not cancel.
func testNoResetOfSuspended(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	if _, err := s.SetSuspended(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0, Due: t0.Add(time.Hour)}
	if err := s.AddTwoFactorReset(ctx, r); twofold.ErrorCode(err) != twofold.CodeConflict {
		t.Fatalf("a reset of a suspended account: got %v, want a conflict", err)
	}
	if _, err := s.SetSuspended(ctx, a.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTwoFactorReset(ctx, r); err != nil {
		t.Fatalf("after the suspension: %v", err)
	}
}

// testResetUseOutlivesRows: a second factor that passed a check while a
// reset waited withdraws it when it falls due even when the rows that show
// the use are gone by then (the factor or SSH key removed, the used
// recovery codes replaced by a new set), and for every kind of check: the
// use is recorded on the reset itself.
func testResetUseOutlivesRows(t *testing.T, s *store.Store) {
	ctx := t.Context()
	at := t0.Add(time.Hour) // the use, while the reset waits
	removeFactor := func(accountID, id string) {
		t.Helper()
		if _, err := s.DeleteFactor(ctx, accountID, id, twofold.FactorActive); err != nil {
			t.Fatalf("DeleteFactor(%q): %v", id, err)
		}
	}
	for _, tc := range []struct {
		name  string
		setUp func(accountID string) // before the reset is asked for
		use   func(accountID string) // while it waits; then erase the rows of the use
	}{{
		name:  "code of a factor, then the factor removed",
		setUp: func(id string) { activeFactor(t, s, id, "f2-"+id, 10, id+"-2") },
		use: func(id string) {
			if ok, err := s.AcceptStep(ctx, "f2-"+id, 20, 0, at); err != nil || !ok {
				t.Fatalf("AcceptStep: %v, %v", ok, err)
			}
			removeFactor(id, "f2-"+id)
		},
	}, {
		name:  "second step of a login, then the factor removed",
		setUp: func(id string) { activeFactor(t, s, id, "f2-"+id, 10, id+"-2") },
		use: func(id string) {
			l := twofold.Login{ID: "login-" + id, AccountID: id, CreatedAt: at, ExpiresAt: at.Add(5 * time.Minute)}
			if err := s.CreateLogin(ctx, l); err != nil {
				t.Fatal(err)
			}
			c := completion(id, l.ID, "f2-"+id, 20, 0, "s-"+id)
			c.Now, c.Event.At = at, at
			if got := complete(t, s, c); got != twofold.Completed {
				t.Fatalf("second step: got outcome %d, want Completed", got)
			}
			removeFactor(id, "f2-"+id)
		},
	}, {
		name: "recovery code, then a new set",
		use: func(id string) {
			if !useCode(t, s, id, []byte(id+"-code-0")) {
				t.Fatal("recovery code refused")
			}
			if err := s.ReplaceRecoveryCodes(ctx, id, codes(id+"-new", 3), at); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name: "SSH key, then the key removed",
		setUp: func(id string) {
			sshKey(t, s, id, "ssh-"+id, "SHA256:"+id)
			if ok, err := s.ActivateSSHKey(ctx, id, "ssh-"+id, t0.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("ActivateSSHKey: %v, %v", ok, err)
			}
		},
		use: func(id string) {
			if err := s.TouchSSHKey(ctx, "ssh-"+id, at); err != nil {
				t.Fatal(err)
			}
			if err := s.DeleteSSHKey(ctx, id, "ssh-"+id, twofold.FactorActive); err != nil {
				t.Fatal(err)
			}
		},
	}, {
		name:  "sent code, then the factor removed",
		setUp: func(id string) { smsFactor(t, s, id, "sms-"+id) },
		use: func(id string) {
			c := sentCode(id, "sms-"+id, "login:l-"+id, "h-"+id)
			c.CreatedAt, c.ExpiresAt = at, at.Add(10*time.Minute)
			putCode(t, s, c)
			if !useCodeAt(t, s, "sms-"+id, "login:l-"+id, "h-"+id, at) {
				t.Fatal("sent code refused")
			}
			removeFactor(id, "sms-"+id)
		},
	}, {
		name: "security key, then the key removed",
		setUp: func(id string) {
			pendingKey(t, s, id, "key-"+id)
			if ok, _, err := s.ActivateSecurityKey(ctx, securityKey(id, "key-"+id, "cred-"+id), activation(id, "key-"+id, -1, id+"-k")); err != nil || !ok {
				t.Fatalf("ActivateSecurityKey: %v, %v", ok, err)
			}
		},
		use: func(id string) {
			if ok, err := s.UseSecurityKey(ctx, "key-"+id, 8, twofold.FlagUserPresent, at); err != nil || !ok {
				t.Fatalf("UseSecurityKey: %v, %v", ok, err)
			}
			removeFactor(id, "key-"+id)
		},
	}, {
		name: "push approval, then the factor removed",
		setUp: func(id string) {
			pushFactor(t, s, id, "push-"+id, []byte("h-"+id))
			activate(t, s, activation(id, "push-"+id, -1, id+"-p"))
		},
		use: func(id string) {
			createPush(t, s, pushChallenge(id, "push-"+id, "c-"+id, "login:l-"+id, at), nil)
			if ok, err := s.AnswerPushChallenge(ctx, "c-"+id, "push-"+id, twofold.PushApproved, "", at, at.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("AnswerPushChallenge: %v, %v", ok, err)
			}
			if ok, err := s.UsePushApproval(ctx, id, "login:l-"+id, "", []byte("r-c-"+id), at); err != nil || !ok {
				t.Fatalf("UsePushApproval: %v, %v", ok, err)
			}
			removeFactor(id, "push-"+id)
		},
	}, {
		name: "paper key",
		use: func(id string) {
			if err := s.NoteFactorUse(ctx, id, at); err != nil {
				t.Fatal(err)
			}
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			a := newAccount(t, s, strings.NewReplacer(" ", "", ",", "").Replace(tc.name))
			activeFactor(t, s, a.ID, "f-"+a.ID, 10, a.ID)
			if tc.setUp != nil {
				tc.setUp(a.ID)
			}
			r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(10 * time.Minute), Due: t0.Add(72 * time.Hour)}
			if err := s.AddTwoFactorReset(ctx, r); err != nil {
				t.Fatal(err)
			}
			tc.use(a.ID)
			after := twoFactorState(t, s, a.ID)
			if _, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil || out != twofold.ResetWithdrawn {
				t.Fatalf("ResetTwoFactor after a use whose rows are gone: got %v, %v; want withdrawn", out, err)
			}
			if ids := factorIDs(t, s, a.ID); len(ids) == 0 {
				t.Error("the factors went with a withdrawn reset")
			}
			wantTwoFactor(t, s, a.ID, after)

			// The next reset starts with no use recorded.
			r.RequestedAt, r.Due = r.Due, r.Due.Add(time.Hour)
			if err := s.AddTwoFactorReset(ctx, r); err != nil {
				t.Fatal(err)
			}
			if _, out, err := s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil || out != twofold.ResetDone {
				t.Fatalf("ResetTwoFactor of the next reset, nothing used: got %v, %v; want done", out, err)
			}
		})
	}
}

// testRaceResetAgainstUse: a reset falling due while the account's
// recovery codes or SSH key pass a check ends one way or the other, with no
// error (PostgreSQL found a deadlock when the check locked the code's or
// key's row before the reset's and the reset the other way round): either
// the use came first and withdrew the reset, or the reset came first and
// the codes and keys were gone for the use.
func testRaceResetAgainstUse(t *testing.T, s *store.Store) {
	ctx := t.Context()
	const rounds, users = 10, 4
	for round := range rounds {
		a := newAccount(t, s, fmt.Sprintf("user%d", round))
		set := a.ID + "-set"
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, set)
		keys := make([]string, users)
		for i := range keys {
			keys[i] = fmt.Sprintf("ssh-%s-%d", a.ID, i)
			sshKey(t, s, a.ID, keys[i], "SHA256:"+keys[i])
			if ok, err := s.ActivateSSHKey(ctx, a.ID, keys[i], t0.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("ActivateSSHKey: %v, %v", ok, err)
			}
		}
		r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(time.Hour), Due: t0.Add(2 * time.Hour)}
		if err := s.AddTwoFactorReset(ctx, r); err != nil {
			t.Fatal(err)
		}
		byKey := round%2 == 1 // the SSH key in odd rounds, the recovery codes in even ones
		hashes := codes(set, users)
		var (
			wg   sync.WaitGroup
			used atomic.Int32
			out  twofold.ResetOutcome
		)
		start := make(chan struct{})
		for i := range users {
			wg.Go(func() {
				<-start
				if byKey {
					if err := s.TouchSSHKey(ctx, keys[i], r.Due); err != nil {
						t.Errorf("round %d: TouchSSHKey: %v", round, err)
					}
					return
				}
				ok, err := s.UseRecoveryCode(ctx, a.ID, hashes[i], r.Due)
				if err != nil {
					t.Errorf("round %d: UseRecoveryCode: %v", round, err)
				}
				if ok {
					used.Add(1)
				}
			})
		}
		wg.Go(func() {
			<-start
			var err error
			if _, out, err = s.ResetTwoFactor(ctx, a.ID, r.Due); err != nil {
				t.Errorf("round %d: ResetTwoFactor: %v", round, err)
			}
		})
		close(start)
		wg.Wait()
		if t.Failed() {
			t.FailNow()
		}
		ks, err := s.SSHKeys(ctx, a.ID)
		if err != nil {
			t.Fatal(err)
		}
		state := twoFactorState(t, s, a.ID)
		switch out {
		case twofold.ResetDone:
			if n := used.Load(); n != 0 {
				t.Errorf("round %d: reset carried out after %d recovery codes were accepted", round, n)
			}
			if len(ks) != 0 || state.Remaining != 0 || state.Required {
				t.Errorf("round %d: reset carried out, but %d SSH keys, %d codes left, required %v", round, len(ks), state.Remaining, state.Required)
			}
		case twofold.ResetWithdrawn:
			if !byKey && used.Load() == 0 {
				t.Errorf("round %d: reset withdrawn with no recovery code accepted", round)
			}
			touched := 0
			for _, k := range ks {
				if k.LastUsedAt != nil && k.LastUsedAt.Equal(r.Due) {
					touched++
				}
			}
			if len(ks) != users || !state.Required || (byKey && touched == 0) {
				t.Errorf("round %d: reset withdrawn, but %d SSH keys (%d used), required %v", round, len(ks), touched, state.Required)
			}
		default:
			t.Errorf("round %d: reset due: got outcome %d, want done or withdrawn", round, out)
		}
	}
}
