package core_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// slotTakingStore, once armed, lets a concurrent wrong code win the
// account's code counter between a second step's read and its write: the
// winner takes the slot the read saw and sets lock; the second step then
// decides on the count as read before, and its write loses the slot.
type slotTakingStore struct {
	*store.Store
	armed atomic.Bool
	key   string
	lock  func() time.Time
	now   func() time.Time
}

func (s *slotTakingStore) DecideSecondStep(ctx context.Context, loginID string, keys twofold.StepKeys, decide func(st twofold.SecondStep, found bool) twofold.Verdict) (twofold.Outcome, error) {
	if !s.armed.CompareAndSwap(true, false) {
		return s.Store.DecideSecondStep(ctx, loginID, keys, decide)
	}
	seen, until, err := s.Store.Throttle(ctx, s.key)
	if err != nil {
		return 0, err
	}
	if ok, err := s.Store.TakeSlot(ctx, s.key, seen, s.lock(), s.now()); err != nil || !ok {
		return 0, errors.Join(err, errors.New("fixture: the winner took no slot"))
	}
	return s.Store.DecideSecondStep(ctx, loginID, keys, func(st twofold.SecondStep, found bool) twofold.Verdict {
		st.Failures, st.LockedUntil = seen, until // as read before the winner wrote
		return decide(st, found)
	})
}

// TestLostSlotWaitsForTheWinnersLock: a wrong code whose slot a concurrent
// wrong code took, the winner setting a lock, is answered 429 with a
// Retry-After as long as that lock, not a second (a retry after a second
// met the lock and was refused again).
func TestLostSlotWaitsForTheWinnersLock(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			ss := &slotTakingStore{Store: st.Store, now: clock}
			svc := newService(t, ss, st, clock, nil)
			auth := signedIn(t, svc, "ada")
			ss.key = "2fa:" + auth.Account.ID + ":codes"
			_, code := confirmedTOTP(t, svc, auth, &now)
			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{})
			if err != nil || res.LoginID == "" {
				t.Fatalf("login: %+v, %v", res, err)
			}
			wrong := core.SecondFactor{Method: twofold.MethodTOTP, Code: "000000"} // no factor named: the hot path
			if code() == wrong.Code {
				wrong.Code = "111111"
			}
			for _, lock := range []time.Duration{0, 15 * time.Minute} {
				ss.lock = func() time.Time {
					if lock == 0 {
						return time.Time{}
					}
					return now.Add(lock)
				}
				ss.armed.Store(true)
				_, err := svc.VerifyLogin(ctx, res.LoginID, wrong, core.Meta{})
				if ss.armed.Load() {
					t.Fatal("fixture: no second step read the login")
				}
				var te *twofold.Error
				if !errors.As(err, &te) || te.Code != twofold.CodeThrottled {
					t.Fatalf("a wrong code that lost its slot (winner's lock %v): got %v, want throttled", lock, err)
				}
				if want := max(lock, time.Second); te.RetryAfter < want {
					t.Errorf("a wrong code that lost its slot to one that locked for %v: Retry-After %v, want at least %v", lock, te.RetryAfter, want)
				}
			}
		})
	}
}
