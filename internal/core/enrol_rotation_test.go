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
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// stallingStore runs a whole key rotation, old data keys deleted, between
// the moment an enrolment sealed its secret and the moment it stores it: the
// enrolment stalled for longer than the rotation's grace period.
type stallingStore struct {
	*store.Store
	on     string // the method that stalls: "InTx" (the transaction that stores a factor, or a webhook's secret)
	once   sync.Once
	rotate func() error
	err    error
}

// stall runs the rotation the first time method is called, if it is s.on.
func (s *stallingStore) stall(method string) error {
	if method != s.on {
		return nil
	}
	s.once.Do(func() { s.err = s.rotate() })
	return s.err
}

func (s *stallingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := s.stall("InTx"); err != nil {
		return err
	}
	return s.Store.InTx(ctx, fn)
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
			// Armed once the account is made: the factor is stored in a
			// transaction of its own, which the rotation comes just before.
			stalling := &stallingStore{Store: st, rotate: func() (err error) {
				rotated, err = keyring.Rotate(ctx, path, st, keyring.RotateOptions{})
				return err
			}}
			cfg := cheapConfig()
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
			stalling.on = "InTx"

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

// TestWebhookStalledPastRotation: a webhook secret sealed just before a key
// rotation deleted its data key is sealed again under the rotation's key
// and stored, when the webhook is created and when its secret is rotated:
// never stored under a deleted key, where no instance could open it.
func TestWebhookStalledPastRotation(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		for _, on := range []string{"CreateWebhook", "RotateWebhookSecret"} {
			t.Run(name+"/"+on, func(t *testing.T) {
				ctx := t.Context()
				st, err := store.Open(ctx, dsn(t))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				path := filepath.Join(t.TempDir(), "twofold.key")
				kf, keys, _, err := keyring.OpenFile(ctx, path, st)
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
				cfg := cheapConfig()
				svc, err := core.New(core.Options{Store: stalling, Keys: keys, Hasher: hasher, Config: cfg, Now: time.Now})
				if err != nil {
					t.Fatal(err)
				}
				var permits []twofold.Permit
				for _, line := range []string{"admin webhooks read,write", "admin events read"} {
					p, err := permit.Parse(line)
					if err != nil {
						t.Fatal(err)
					}
					permits = append(permits, p)
				}
				// A stored operator and key: each write of a key checks it
				// again in its transaction.
				opAcct := twofold.Account{ID: "acct-op", Username: "op", PasswordHash: "x", Operator: true, CreatedAt: time.Now().UTC()}
				if err := st.CreateAccount(ctx, opAcct); err != nil {
					t.Fatal(err)
				}
				opKey := twofold.APIKey{ID: "key-op", AccountID: opAcct.ID, Name: "hooks", SecretHash: []byte("unused"), Permits: permits, CreatedAt: time.Now().UTC()}
				if err := st.CreateAPIKey(ctx, opKey); err != nil {
					t.Fatal(err)
				}
				op := core.Auth{Account: opAcct, Key: &opKey}

				if on == "CreateWebhook" {
					stalling.on = "InTx"
				}
				w, secret, err := svc.CreateWebhook(ctx, op, core.NewWebhook{URL: "https://panel.example.com/hook"}, core.Meta{})
				if err != nil {
					t.Fatalf("CreateWebhook: %v", err)
				}
				if on == "RotateWebhookSecret" {
					stalling.on = "InTx"
					if w, secret, err = svc.RotateWebhookSecret(ctx, op, w.ID, core.Meta{}); err != nil {
						t.Fatalf("RotateWebhookSecret across a key rotation: %v", err)
					}
				}
				if rotated.DataKeysDeleted == 0 {
					t.Fatalf("fixture: the rotation deleted no data key (%+v): the webhook's secret did not meet a deleted key", rotated)
				}
				// A fresh instance, with the key file as the rotation left it.
				_, fresh, _, err := keyring.OpenFile(ctx, path, st)
				if err != nil {
					t.Fatal(err)
				}
				stored, err := st.Webhook(ctx, w.ID)
				if err != nil {
					t.Fatal(err)
				}
				got, err := fresh.Open(ctx, stored.SecretKeyID, stored.SealedSecret, keyring.AAD("webhooks", "secret", w.ID))
				if err != nil {
					t.Fatalf("the stored secret does not open (data key %s, the rotation's is %s): %v", stored.SecretKeyID, rotated.DataKey, err)
				}
				if string(got) != secret {
					t.Error("the stored secret is not the one shown")
				}
			})
		}
	}
}
