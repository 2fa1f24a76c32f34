package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// racers is how many goroutines race for one thing.
const racers = 8

// race runs fn(i) for i in [0, racers) at once and returns how many reported
// true. Errors fail the test.
func race(tb testing.TB, fn func(i int) (bool, error)) int {
	tb.Helper()
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		wins  int
		start = make(chan struct{})
		errs  []error
	)
	for i := range racers {
		wg.Go(func() {
			<-start
			ok, err := fn(i)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if ok {
				wins++
			}
		})
	}
	close(start)
	wg.Wait()
	for _, err := range errs {
		tb.Errorf("racer: %v", err)
	}
	return wins
}

func testRaceAcceptStep(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	for step := int64(11); step <= 15; step++ {
		wins := race(t, func(i int) (bool, error) {
			return s.AcceptStep(t.Context(), "f-1", step, int64(i), t0.Add(time.Minute))
		})
		if wins != 1 {
			t.Errorf("AcceptStep(%d) raced by %d: got %d winners, want 1", step, racers, wins)
		}
		if got := getFactor(t, s, a.ID, "f-1").LastStep; got != step {
			t.Errorf("LastStep: got %d, want %d", got, step)
		}
	}
}

func testRaceUseRecoveryCode(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 1, "first")
	set := codes("alice", 5)
	replaceCodes(t, s, a.ID, set)
	for n, h := range set {
		wins := race(t, func(int) (bool, error) {
			return s.UseRecoveryCode(t.Context(), a.ID, h, t0)
		})
		if wins != 1 {
			t.Errorf("UseRecoveryCode(%q) raced by %d: got %d winners, want 1", h, racers, wins)
		}
		if got, want := remaining(t, s, a.ID), len(set)-n-1; got != want {
			t.Errorf("RecoveryCodesRemaining: got %d, want %d", got, want)
		}
	}
}

func testRaceFinishLogin(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	for round := range 3 {
		l := newLogin(t, s, a.ID, fmt.Sprintf("login-%d", round))
		name := func(i int) string { return fmt.Sprintf("sess-%d-%d", round, i) }
		wins := race(t, func(i int) (bool, error) {
			return s.FinishLogin(t.Context(), l.ID, t0.Add(time.Minute), session(a.ID, name(i)))
		})
		if wins != 1 {
			t.Errorf("FinishLogin raced by %d: got %d winners, want 1", racers, wins)
		}
		found := 0
		for i := range racers {
			if _, ok := sessionAt(t, s, session(a.ID, name(i)).ID, t0); ok {
				found++
			}
		}
		if found != 1 {
			t.Errorf("sessions after a raced FinishLogin: got %d, want 1", found)
		}
	}
}

// rounds is how many times a race on a fresh account is run, to give a
// missing lock more chances to show.
const rounds = 4

// testRaceActivateFactor races the confirmation of several pending factors of
// one account: exactly one is first, and its recovery codes and paper key are
// the ones kept.
func testRaceActivateFactor(t *testing.T, s *store.Store) {
	for round := range rounds {
		a := newAccount(t, s, fmt.Sprintf("alice%d", round))
		id := func(i int) string { return fmt.Sprintf("f-%d-%d", round, i) }
		for i := range racers {
			newFactor(t, s, a.ID, id(i))
		}
		var (
			mu     sync.Mutex
			winner = -1
		)
		oks := race(t, func(i int) (bool, error) {
			ok, first, err := s.ActivateFactor(t.Context(), activation(a.ID, id(i), 10, fmt.Sprintf("set-%d", i)))
			if first {
				mu.Lock()
				defer mu.Unlock()
				if winner >= 0 {
					return ok, fmt.Errorf("factors %d and %d both activated first", winner, i)
				}
				winner = i
			}
			return ok, err
		})
		if oks != racers {
			t.Errorf("ActivateFactor: got %d activated, want %d", oks, racers)
		}
		if winner < 0 {
			t.Fatalf("ActivateFactor raced: no activation was first")
		}
		set := fmt.Sprintf("set-%d", winner)
		wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: 3, PaperKey: []byte("paper-" + set)})
		if !useCode(t, s, a.ID, codes(set, 1)[0]) {
			t.Errorf("UseRecoveryCode of the first activation's set: got false, want true")
		}
	}
}

// testRaceDeleteFactor races the removal of every active factor of one
// account: exactly one removal is the last, and two-factor is reset.
func testRaceDeleteFactor(t *testing.T, s *store.Store) {
	for round := range rounds {
		a := newAccount(t, s, fmt.Sprintf("alice%d", round))
		id := func(i int) string { return fmt.Sprintf("f-%d-%d", round, i) }
		for i := range racers {
			activeFactor(t, s, a.ID, id(i), 10, "set")
		}
		last := race(t, func(i int) (bool, error) {
			return s.DeleteFactor(t.Context(), a.ID, id(i), twofold.FactorActive)
		})
		if last != 1 {
			t.Errorf("DeleteFactor raced: got %d reporting lastGone, want 1", last)
		}
		wantTwoFactor(t, s, a.ID, twoFactor{})
	}
}
