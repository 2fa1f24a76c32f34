package core_test

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/credhash"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// stallingStore runs a whole key rotation, old data keys deleted, between
// the moment an enrolment sealed its secret and the moment it stores it: the
// enrolment stalled for longer than the rotation's grace period.
type stallingStore struct {
	*store.Store
	once   sync.Once
	rotate func() error
	err    error
}

func (s *stallingStore) CreateFactor(ctx context.Context, f twofold.Factor) error {
	s.once.Do(func() { s.err = s.rotate() })
	if s.err != nil {
		return s.err
	}
	return s.Store.CreateFactor(ctx, f)
}

func TestEnrolStalledPastRotation(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st, err := store.Open(ctx, dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			path := filepath.Join(t.TempDir(), "twofold.key")
			kf, _, err := keyring.LoadOrCreateFile(path)
			if err != nil {
				t.Fatal(err)
			}
			keys, err := keyring.Open(ctx, kf, st)
			if err != nil {
				t.Fatal(err)
			}
			hasher, err := credhash.NewHasher(kf.HashKey)
			if err != nil {
				t.Fatal(err)
			}
			var rotated keyring.RotateResult
			stalling := &stallingStore{Store: st, rotate: func() (err error) {
				rotated, err = keyring.Rotate(ctx, path, st, keyring.RotateOptions{})
				return err
			}}
			cfg := core.DefaultConfig()
			cfg.PasswordParams = credhash.Params{Memory: 8192, Iterations: 1, Parallelism: 1}
			now := time.Now()
			svc, err := core.New(core.Options{Store: stalling, Keys: keys, Hasher: hasher, Config: cfg, Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			acct, err := svc.CreateAccount(ctx, core.NewAccount{Username: "ada", Password: "correct horse battery"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			auth := core.Auth{Account: acct}

			enr, err := svc.EnrolFactor(ctx, auth, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatalf("EnrolFactor across a rotation: %v", err)
			}
			if rotated.DataKeysDeleted == 0 {
				t.Fatalf("fixture: the rotation deleted no data key (%+v): the enrolment did not meet a deleted key", rotated)
			}
			stored, err := st.Factor(ctx, acct.ID, enr.Factor.ID)
			if err != nil {
				t.Fatal(err)
			}
			if stored.SecretKeyID != rotated.DataKey {
				t.Fatalf("stored under data key %q, want the rotation's %q", stored.SecretKeyID, rotated.DataKey)
			}
			// The secret shown to the user is the one stored: a code from it
			// confirms the factor.
			secret, err := otp.DecodeSecret(enr.Secret)
			if err != nil {
				t.Fatal(err)
			}
			p := otp.DefaultParams()
			code := otp.HOTP(secret, otp.Step(now, p.Period), p.Algorithm, p.Digits)
			if _, err := svc.ConfirmFactor(ctx, auth, enr.Factor.ID, code, core.Meta{}); err != nil {
				t.Fatalf("ConfirmFactor with a code from the shown secret: %v", err)
			}
		})
	}
}
