package store_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestResetAgainstUseLockOrder: on PostgreSQL, a check of a recovery code
// or SSH key that waits behind ResetTwoFactor for the account's reset does
// not deadlock with it (the check once locked the code's or key's row
// first, the reset the reverse). The order is forced: a third session holds
// the reset's row, the reset queues for it, then the check; the holder lets
// go. The reset is then carried out and the check finds nothing to use.
func TestResetAgainstUseLockOrder(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	due := t0.Add(2 * time.Hour)
	for _, tc := range []struct {
		name string
		use  func(s *store.Store, accountID string) (bool, error)
	}{
		{"RecoveryCode", func(s *store.Store, accountID string) (bool, error) {
			return s.UseRecoveryCode(t.Context(), accountID, []byte("code-1"), due)
		}},
		{"SSHKey", func(s *store.Store, accountID string) (bool, error) {
			return false, s.TouchSSHKey(t.Context(), "ssh-1", due)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			s, db, a := postgresWithAlice(t, t0)
			// Her first factor, with its recovery code.
			if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "key-1", MasterID: "m", Wrapped: []byte("wrapped"), Created: t0}); err != nil {
				t.Fatal(err)
			}
			f := twofold.Factor{ID: "f-1", AccountID: a.ID, Type: twofold.FactorTOTP, Label: "phone", Status: twofold.FactorPending,
				SecretKeyID: "key-1", SealedSecret: []byte("sealed"), Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, LastStep: -1, CreatedAt: t0}
			if err := s.CreateFactor(ctx, f); err != nil {
				t.Fatal(err)
			}
			if ok, _, err := s.ActivateFactor(ctx, twofold.Activation{AccountID: a.ID, FactorID: f.ID, Step: 1, Now: t0,
				RecoveryHashes: [][]byte{[]byte("code-1")}, PaperKeyHash: []byte("paper")}); err != nil || !ok {
				t.Fatalf("ActivateFactor: %v, %v", ok, err)
			}
			k := twofold.SSHKey{ID: "ssh-1", AccountID: a.ID, Label: "key", Type: "ssh-ed25519", Fingerprint: "SHA256:1",
				PublicKey: "ssh-ed25519 AAAA1", Status: twofold.FactorPending, CreatedAt: t0}
			if err := s.CreateSSHKey(ctx, k); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ActivateSSHKey(ctx, a.ID, k.ID, t0); err != nil || !ok {
				t.Fatalf("ActivateSSHKey: %v, %v", ok, err)
			}
			r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: "operator carol", RequestedAt: t0.Add(time.Hour), Due: due}
			if err := s.AddTwoFactorReset(ctx, r); err != nil {
				t.Fatal(err)
			}

			holder, err := db.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback()
			if _, err := holder.ExecContext(ctx, `SELECT 1 FROM two_factor_resets WHERE account_id = $1 FOR UPDATE`, a.ID); err != nil {
				t.Fatal(err)
			}

			type resetResult struct {
				out twofold.ResetOutcome
				err error
			}
			resetDone := make(chan resetResult, 1)
			go func() {
				_, out, err := s.ResetTwoFactor(ctx, a.ID, due)
				resetDone <- resetResult{out, err}
			}()
			testenv.AwaitLockWaiters(t, db, 1, resetDone)
			type useResult struct {
				ok  bool
				err error
			}
			useDone := make(chan useResult, 1)
			go func() {
				ok, err := tc.use(s, a.ID)
				useDone <- useResult{ok, err}
			}()
			testenv.AwaitLockWaiters(t, db, 2, useDone)
			if err := holder.Rollback(); err != nil {
				t.Fatal(err)
			}

			rr, ur := <-resetDone, <-useDone
			if rr.err != nil || rr.out != twofold.ResetDone {
				t.Errorf("ResetTwoFactor: got outcome %d, %v; want done, nil", rr.out, rr.err)
			}
			if ur.err != nil || ur.ok {
				t.Errorf("use after the reset: got %v, %v; want false, nil", ur.ok, ur.err)
			}
			if n, err := s.RecoveryCodesRemaining(ctx, a.ID); err != nil || n != 0 {
				t.Errorf("recovery codes after the reset: got %d, %v; want 0", n, err)
			}
			if ks, err := s.SSHKeys(ctx, a.ID); err != nil || len(ks) != 0 {
				t.Errorf("SSH keys after the reset: got %d, %v; want none", len(ks), err)
			}
		})
	}
}
