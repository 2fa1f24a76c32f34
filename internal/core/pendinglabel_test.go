package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// labelRacingStore stores, once armed, a factor of its own just before
// the next transaction begins: another request that added a factor of the
// same name after the checks made before a setup is stored, and before
// its write.
type labelRacingStore struct {
	*store.Store
	armed atomic.Bool
	rival twofold.Factor
}

func (s *labelRacingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if s.armed.CompareAndSwap(true, false) {
		fs, err := s.Store.Factors(ctx, s.rival.AccountID)
		if err != nil || len(fs) == 0 {
			return fmt.Errorf("rival factor: no factor to copy a sealed secret from (%v)", err)
		}
		r := s.rival
		r.SecretKeyID, r.SealedSecret = fs[0].SecretKeyID, fs[0].SealedSecret
		if err := s.Store.CreateFactor(ctx, r); err != nil {
			return err
		}
	}
	return s.Store.InTx(ctx, fn)
}

// countingTexts counts the text messages sent.
type countingTexts struct{ n atomic.Int32 }

func (c *countingTexts) SendText(context.Context, string, string) error {
	c.n.Add(1)
	return nil
}

// TestPendingSetupNameConflictAtWrite: a push device or phone
// whose name another factor took after the checks made before it is
// stored (a request racing it) is refused when it is stored, with
// nothing of it left: no factor, no push device, no text sent. On SQLite
// and PostgreSQL.
func TestPendingSetupNameConflictAtWrite(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			st := &labelRacingStore{Store: db.Store}
			now := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
			texts := &countingTexts{}
			cfg := cheapConfig()
			svc := newServiceOpts(t, st, db, core.Options{Config: cfg, Now: func() time.Time { return now }, Texts: texts})
			a := signedIn(t, svc, "ada")
			if _, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "Laptop"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			for i, tc := range []struct {
				name string
				add  func(label string) error
			}{
				{"push", func(label string) error {
					_, err := svc.EnrolPush(ctx, a, label, "https://twofold.example", core.Meta{})
					return err
				}},
				{"sms", func(label string) error {
					_, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorSMS, Phone: "+44 7400 123456", Label: label}, core.Meta{})
					return err
				}},
			} {
				t.Run(tc.name, func(t *testing.T) {
					label := "Desk " + tc.name
					st.rival = twofold.Factor{ID: "0000000000000000000000000" + string(rune('a'+i)), AccountID: a.Account.ID, Type: twofold.FactorTOTP,
						Label: strings.ToUpper(label), Status: twofold.FactorPending, Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second, LastStep: -1, CreatedAt: now}
					before := texts.n.Load()
					st.armed.Store(true)
					err := tc.add(label)
					if got := twofold.ErrorCode(err); got != twofold.CodeConflict {
						t.Fatalf("adding %q as %q is stored: got %q (%v), want %q", label, st.rival.Label, got, err, twofold.CodeConflict)
					}
					fs, err := db.Store.Factors(ctx, a.Account.ID)
					if err != nil {
						t.Fatal(err)
					}
					for _, f := range fs {
						if f.ID != st.rival.ID && strings.EqualFold(f.Label, label) {
							t.Errorf("the refused %s setup was stored: %+v", f.Type, f)
						}
					}
					if got := texts.n.Load(); got != before {
						t.Errorf("the refused setup sent %d texts", got-before)
					}
				})
			}
		})
	}
}
