package core_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// denyWhileAsked is a store whose first read, once armed, of whether a
// scope's push was denied runs deny right after it: as if the owner
// denied the push on the device between that check and the new push's
// transaction.
type denyWhileAsked struct {
	testDB
	armed atomic.Bool
	deny  func()
}

func (d *denyWhileAsked) PushScopeDenied(ctx context.Context, accountID, scope string) (bool, error) {
	denied, err := d.testDB.PushScopeDenied(ctx, accountID, scope)
	if d.armed.CompareAndSwap(true, false) {
		d.deny()
	}
	return denied, err
}

// TestPushDeniedMeanwhile: a push request for a sign-in whose push the
// owner denies while the request is being made (after its first check
// that none was denied) is refused as after a denial, and nothing reaches
// the device: a denial ends push for that sign-in, for everyone.
func TestPushDeniedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			h := newHolder(t, dsn(t))
			dev := pushDevice(t, h)
			res, err := h.svc.Login(ctx, "bob", testPassword, core.Meta{Source: "192.0.2.10"})
			if err != nil {
				t.Fatal(err)
			}
			owners, err := h.svc.PushLogin(ctx, res.LoginID, "", "", core.Meta{Source: "192.0.2.10"})
			if err != nil {
				t.Fatal(err)
			}
			// The stranger's requests go through a second instance on the
			// same database.
			d := &denyWhileAsked{testDB: h.db}
			cfg := cheapConfig()
			cfg.ResetDelay = resetDelay
			other := newServiceOpts(t, d, h.db, core.Options{Config: cfg, Now: h.clock.Now, Notifier: &mailbox{}})
			d.deny = func() {
				if _, err := h.svc.AnswerPush(ctx, dev, owners.ChallengeID, false, "", core.Meta{}); err != nil {
					t.Errorf("the owner denies: %v", err)
				}
			}
			d.armed.Store(true)
			_, err = other.PushLogin(ctx, res.LoginID, "", "", core.Meta{Source: "203.0.113.7"})
			if !errors.Is(err, core.ErrPushEnded) {
				t.Fatalf("a push asked for as the owner denied one: got %v, want push ended", err)
			}
			if d.armed.Load() {
				t.Fatal("the request never checked for a denial")
			}
			cs, err := h.svc.PushRequests(ctx, dev, 0)
			if err != nil {
				t.Fatal(err)
			}
			if len(cs) != 0 {
				t.Errorf("the device shows %d requests after the denial, want none", len(cs))
			}
		})
	}
}
