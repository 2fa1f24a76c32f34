package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

type signInKey struct{}

// orderedStore orders two sign-ins, A and B: B starts once A holds its
// slot; B reads the counter (which A's slot has locked) and then waits
// until A's sign-in has ended, before it is refused.
type orderedStore struct {
	core.Store
	aTook, aDone chan struct{}
	tookOnce     sync.Once
	readOnce     sync.Once
}

func (s *orderedStore) TakeSlot(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error) {
	ok, err := s.Store.TakeSlot(ctx, key, seen, lockUntil, now)
	if ok && ctx.Value(signInKey{}) == "A" {
		s.tookOnce.Do(func() { close(s.aTook) })
	}
	return ok, err
}

func (s *orderedStore) Throttle(ctx context.Context, key string) (int, time.Time, error) {
	f, until, err := s.Store.Throttle(ctx, key)
	if ctx.Value(signInKey{}) == "B" {
		s.readOnce.Do(func() { <-s.aDone })
	}
	return f, until, err
}

// TestPasswordWaitSeesAnEndMeanwhile: the owner's two sign-ins with the
// right password from one address, after four wrong ones: A holds the
// fifth slot (whose lock it set), B meets that lock, and A succeeds and
// clears the counter before B gives up. B must try again and sign in, not
// be refused: the end of A happened while B tried, with no attempt left
// under way for B to wait for.
func TestPasswordWaitSeesAnEndMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			os := &orderedStore{Store: st.Store, aTook: make(chan struct{}), aDone: make(chan struct{})}
			now := time.Now()
			svc := newService(t, os, st, func() time.Time { return now }, nil)
			if _, err := svc.CreateAccount(ctx, core.NewAccount{Username: "pia", Password: testPassword}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			m := core.Meta{Source: "192.0.2.7"}
			for range 4 {
				if _, err := svc.Login(ctx, "pia", "wrong password!!", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: %v", err)
				}
			}
			var errA error
			go func() {
				defer close(os.aDone)
				_, errA = svc.Login(context.WithValue(ctx, signInKey{}, "A"), "pia", testPassword, m)
			}()
			select {
			case <-os.aTook:
			case <-os.aDone:
				t.Fatalf("A ended without taking a slot: %v", errA)
			}
			_, errB := svc.Login(context.WithValue(ctx, signInKey{}, "B"), "pia", testPassword, m)
			<-os.aDone
			if errA != nil {
				t.Fatalf("A: %v", errA)
			}
			if errB != nil {
				t.Errorf("B, the owner's second sign-in with the right password: %v (A's success had cleared the counter)", errB)
			}
		})
	}
}
