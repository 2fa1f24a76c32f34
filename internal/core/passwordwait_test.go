package core_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
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

func (s *orderedStore) TakeSlotUnderWay(ctx context.Context, key string, seen int, lockUntil, now, underWayUntil time.Time) (bool, error) {
	ok, err := s.Store.TakeSlotUnderWay(ctx, key, seen, lockUntil, now, underWayUntil)
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

// instanceStore is one instance's store in the tests of password waits
// across instances: it can hold the attempt marked hold after it took its
// slot (as a slow password check would), swallow the end of the attempt
// marked crash (as if its instance had stopped), and tells when an attempt
// first asks for the slots under way on other instances.
type instanceStore struct {
	core.Store
	took     chan struct{} // closed once the attempt marked hold took its slot
	release  chan struct{} // closed to let it go on
	polled   chan struct{} // closed at the first SlotsUnderWay
	polls    atomic.Int32
	atPoll   func(n int32) // when set (before use), runs at each SlotsUnderWay, n its number, before the read
	tookOnce sync.Once
	pollOnce sync.Once
	// lockRead, when set, runs once, after the attempt marked meanwhile
	// first read its counter locked and before that read is returned.
	lockRead     func()
	lockReadOnce sync.Once
}

func newInstanceStore(st core.Store) *instanceStore {
	return &instanceStore{Store: st, took: make(chan struct{}), release: make(chan struct{}), polled: make(chan struct{})}
}

func (s *instanceStore) held(ctx context.Context, ok bool) {
	if ok && ctx.Value(signInKey{}) == "hold" {
		s.tookOnce.Do(func() { close(s.took) })
		<-s.release
	}
}

func (s *instanceStore) TakeSlot(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error) {
	ok, err := s.Store.TakeSlot(ctx, key, seen, lockUntil, now)
	s.held(ctx, ok)
	return ok, err
}

func (s *instanceStore) TakeSlotUnderWay(ctx context.Context, key string, seen int, lockUntil, now, underWayUntil time.Time) (bool, error) {
	ok, err := s.Store.TakeSlotUnderWay(ctx, key, seen, lockUntil, now, underWayUntil)
	s.held(ctx, ok)
	return ok, err
}

func (s *instanceStore) Throttle(ctx context.Context, key string) (int, time.Time, error) {
	f, until, err := s.Store.Throttle(ctx, key)
	if err == nil && !until.IsZero() && s.lockRead != nil && ctx.Value(signInKey{}) == "meanwhile" {
		s.lockReadOnce.Do(s.lockRead)
	}
	return f, until, err
}

func (s *instanceStore) EndSlot(ctx context.Context, key string, taken time.Time) error {
	if ctx.Value(signInKey{}) == "crash" {
		return nil
	}
	return s.Store.EndSlot(ctx, key, taken)
}

func (s *instanceStore) SlotsUnderWay(ctx context.Context, key string) (int, time.Time, time.Time, error) {
	n := s.polls.Add(1)
	s.pollOnce.Do(func() { close(s.polled) })
	if s.atPoll != nil {
		s.atPoll(n)
	}
	return s.Store.SlotsUnderWay(ctx, key)
}

// passwordInstances returns two services on one fresh database of the
// dialect dsn makes, each with a store (and pool) of its own, as two
// instances behind a load balancer have, on the clock now, and the store of
// each, with an account "pia" whose password is testPassword.
func passwordInstances(t *testing.T, dsn string, now func() time.Time) ([2]*core.Service, [2]*instanceStore, testDB) {
	t.Helper()
	db := openStore(t, dsn)
	st, err := store.Open(t.Context(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	other := testDB{Store: st, keyFile: db.keyFile}
	stores := [2]*instanceStore{newInstanceStore(db.Store), newInstanceStore(st)}
	svcs := [2]*core.Service{newService(t, stores[0], db, now, nil), newService(t, stores[1], other, now, nil)}
	if _, err := svcs[0].CreateAccount(t.Context(), core.NewAccount{Username: "pia", Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return svcs, stores, db
}

// TestPasswordWaitAcrossInstances: the owner's sign-in with the right
// password on instance B meets the lock set by the slot of the owner's
// sign-in on instance A, still checking its password: B waits for A's
// outcome, and signs in once A's success has cleared the counter, instead
// of being refused as if someone had guessed wrong. On SQLite (two
// connections to one file) and PostgreSQL.
func TestPasswordWaitAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Now()
			svcs, stores, _ := passwordInstances(t, dsn(t), func() time.Time { return now })
			m := core.Meta{Source: "192.0.2.7"}
			for range 4 {
				if _, err := svcs[0].Login(ctx, "pia", "wrong password!!", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: %v", err)
				}
			}
			var errA, errB error
			aDone, bDone := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(aDone)
				_, errA = svcs[0].Login(context.WithValue(ctx, signInKey{}, "hold"), "pia", testPassword, m)
			}()
			select {
			case <-stores[0].took: // A holds the fifth slot, which locks the counter
			case <-aDone:
				t.Fatalf("A ended without taking a slot: %v", errA)
			}
			go func() {
				defer close(bDone)
				_, errB = svcs[1].Login(ctx, "pia", testPassword, m)
			}()
			select {
			case <-stores[1].polled: // B waits for A
			case <-bDone: // B gave up while A held its slot
			}
			close(stores[0].release)
			<-aDone
			<-bDone
			if errA != nil {
				t.Fatalf("A: %v", errA)
			}
			if errB != nil {
				t.Errorf("B, the owner's sign-in with the right password on another instance while A checked its own: %v", errB)
			}
		})
	}
}

// TestPasswordWaitAcrossInstancesSeesAnEndMeanwhile: the owner's sign-in
// with the right password on instance B reads the counter locked by the
// slot of the owner's sign-in on instance A; then, before B asks who is
// under way, A succeeds and clears the counter, its count under way with
// it. B must find the lock it met gone and sign in, not take "nobody
// under way" for a lock left by a failure and be refused. The end falls
// between B's two reads on every run here; in
// TestPasswordWaitAcrossInstances it does only now and then.
func TestPasswordWaitAcrossInstancesSeesAnEndMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			now := time.Now()
			svcs, stores, _ := passwordInstances(t, dsn(t), func() time.Time { return now })
			m := core.Meta{Source: "192.0.2.7"}
			for range 4 {
				if _, err := svcs[0].Login(ctx, "pia", "wrong password!!", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: %v", err)
				}
			}
			var errA error
			aDone := make(chan struct{})
			stores[1].lockRead = func() {
				close(stores[0].release)
				<-aDone
			}
			go func() {
				defer close(aDone)
				_, errA = svcs[0].Login(context.WithValue(ctx, signInKey{}, "hold"), "pia", testPassword, m)
			}()
			select {
			case <-stores[0].took: // A holds the fifth slot, which locks the counter
			case <-aDone:
				t.Fatalf("A ended without taking a slot: %v", errA)
			}
			_, errB := svcs[1].Login(context.WithValue(ctx, signInKey{}, "meanwhile"), "pia", testPassword, m)
			select {
			case <-aDone:
			default:
				close(stores[0].release)
				<-aDone
				t.Fatalf("B never read the counter locked by A's slot (B: %v)", errB)
			}
			if errA != nil {
				t.Fatalf("A: %v", errA)
			}
			if errB != nil {
				t.Errorf("B, the owner's sign-in with the right password on another instance, after A's success cleared the counter: %v", errB)
			}
		})
	}
}

// loginsAtOnce signs in as pia n times at once from one address, alternately
// on each of svcs, with the password pw(i), and returns the errors.
func loginsAtOnce(t *testing.T, svcs [2]*core.Service, n int, pw func(i int) string) []error {
	t.Helper()
	start := make(chan struct{})
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			_, errs[i] = svcs[i%2].Login(t.Context(), "pia", pw(i), core.Meta{Source: "192.0.2.7"})
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// TestParallelPasswordsAcrossInstances: the owner's sign-ins sent all at
// once with the right password through two instances all pass, however
// many more than the password budget lets run at once, even after four
// wrong ones, when each slot taken locks the counter; wrong passwords
// sent all at once through both get no more answers than one after
// another would: with the clock standing still, five, after which the
// fifth failure's lock stands for the right password too.
func TestParallelPasswordsAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			now := time.Now()
			svcs, _, _ := passwordInstances(t, dsn(t), func() time.Time { return now })
			const logins = 12
			// Four wrong ones first: the first slot taken then locks the
			// counter, and the sign-ins on both instances meet its lock.
			for range 4 {
				if _, err := svcs[1].Login(t.Context(), "pia", "wrong password!!", core.Meta{Source: "192.0.2.7"}); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password: %v", err)
				}
			}
			for i, err := range loginsAtOnce(t, svcs, logins, func(int) string { return testPassword }) {
				if err != nil {
					t.Errorf("sign-in %d of %d at once with the right password, on instance %d: %v", i+1, logins, i%2+1, err)
				}
			}
			got := map[twofold.Code]int{}
			for _, err := range loginsAtOnce(t, svcs, logins, func(i int) string { return fmt.Sprintf("guess %d", i) }) {
				got[twofold.ErrorCode(err)]++
			}
			if got[twofold.CodeInvalidCredentials] != 5 || got[twofold.CodeThrottled] != logins-5 {
				t.Errorf("%d wrong passwords at once: got %v, want 5 answered as wrong and the rest throttled", logins, got)
			}
			for i, svc := range svcs {
				if _, err := svc.Login(t.Context(), "pia", testPassword, core.Meta{Source: "192.0.2.7"}); twofold.ErrorCode(err) != twofold.CodeThrottled {
					t.Errorf("right password on instance %d after five wrong ones: got %v, want throttled", i+1, err)
				}
			}
		})
	}
}

// TestPasswordWaitForACrashedAttempt: an attempt whose instance stopped after
// it took its slot never ends. The owner's sign-in meeting the lock that
// slot set waits for it for 5*time.Second at most (by the clock),
// then counts it as failed: with the tenth slot's lock of 15 minutes
// standing, it is refused at once, as after a tenth wrong password, rather
// than waiting on. And once that lock has passed, the owner signs in.
func TestPasswordWaitForACrashedAttempt(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			var clock atomic.Int64
			clock.Store(time.Now().UnixNano())
			now := func() time.Time { return time.Unix(0, clock.Load()) }
			advance := func(d time.Duration) { clock.Add(int64(d)) }
			svcs, stores, _ := passwordInstances(t, dsn(t), now)
			m := core.Meta{Source: "192.0.2.7"}
			for i := range 9 {
				if _, err := svcs[0].Login(ctx, "pia", "wrong password!!", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("wrong password %d: %v", i+1, err)
				}
				advance(16 * time.Second) // past the lock
			}
			// The tenth attempt takes its slot and never ends.
			if _, err := svcs[0].Login(context.WithValue(ctx, signInKey{}, "crash"), "pia", "wrong password!!", m); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
				t.Fatalf("the attempt that crashes: %v", err)
			}
			// The crashed attempt's time runs out at the owner's sign-in's
			// second poll, after one wait: within that poll, so that the
			// polls counted after it are those made once the time was up
			// however the goroutines are scheduled.
			var polls atomic.Int32
			stores[1].atPoll = func(n int32) {
				if n == 2 {
					advance(core.PasswordUnderWay)
					polls.Store(n)
				}
			}
			var errB error
			bDone := make(chan struct{})
			go func() {
				defer close(bDone)
				_, errB = svcs[1].Login(ctx, "pia", testPassword, m)
			}()
			select {
			case <-stores[1].polled:
			case <-bDone:
				t.Fatalf("the owner's sign-in did not wait for the attempt under way: %v", errB)
			}
			<-bDone
			if polls.Load() == 0 {
				t.Fatalf("the owner's sign-in asked once whether the crashed attempt was under way, want it to wait and ask again (%v)", errB)
			}
			if twofold.ErrorCode(errB) != twofold.CodeThrottled {
				t.Fatalf("the owner's sign-in once the crashed attempt's time was up: got %v, want throttled by its lock", errB)
			}
			if n := stores[1].polls.Load() - polls.Load(); n > 2 {
				t.Errorf("the owner's sign-in asked %d more times whether the crashed attempt was under way once its time was up, want 2 at most", n)
			}
			advance(15 * time.Minute)
			if _, err := svcs[1].Login(ctx, "pia", testPassword, m); err != nil {
				t.Errorf("the owner's sign-in once the lock passed: %v", err)
			}
		})
	}
}
