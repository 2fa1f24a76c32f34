package store_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// eachDialect runs f against a fresh store on SQLite and on PostgreSQL.
func eachDialect(t *testing.T, f func(t *testing.T, s *store.Store)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, err := store.Open(context.Background(), dsn(t))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			f(t, s)
		})
	}
}

func TestThrottleSlots(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		if ok, err := s.TakeSlot(ctx, "k", 0, time.Time{}, now); !ok || err != nil {
			t.Fatalf("first slot: got %v, %v", ok, err)
		}
		// A stale view of the failure count loses.
		if ok, _ := s.TakeSlot(ctx, "k", 0, time.Time{}, now); ok {
			t.Fatal("slot taken with a stale count")
		}
		if ok, _ := s.TakeSlot(ctx, "k", 1, now.Add(time.Minute), now); !ok {
			t.Fatal("second slot refused")
		}
		f, until, err := s.Throttle(ctx, "k")
		if err != nil || f != 2 || !until.Equal(now.Add(time.Minute)) {
			t.Fatalf("got %d, %v, %v; want 2 failures locked a minute", f, until, err)
		}
		// Locked: refused until the lock passes.
		if ok, _ := s.TakeSlot(ctx, "k", 2, time.Time{}, now.Add(30*time.Second)); ok {
			t.Fatal("slot taken while locked")
		}
		if ok, _ := s.TakeSlot(ctx, "k", 2, time.Time{}, now.Add(time.Minute)); !ok {
			t.Fatal("slot refused after the lock passed")
		}
		if err := s.ResetThrottle(ctx, "k"); err != nil {
			t.Fatal(err)
		}
		if f, _, _ := s.Throttle(ctx, "k"); f != 0 {
			t.Fatalf("got %d failures after reset, want 0", f)
		}
		s.TakeSlot(ctx, "2fa:a%b:1", 0, time.Time{}, now)
		s.TakeSlot(ctx, "2fa:a%b:2", 0, time.Time{}, now)
		s.TakeSlot(ctx, "2fa:axb:1", 0, time.Time{}, now)
		cs, err := s.Counters(ctx, "2fa:a%b:")
		if err != nil || len(cs) != 2 || cs[0].Key != "2fa:a%b:1" || cs[0].Failures != 1 || cs[1].Key != "2fa:a%b:2" {
			t.Fatalf("got counters %+v, %v; want the two under the prefix, %% not a wildcard", cs, err)
		}
		if n, err := s.ResetThrottlePrefix(ctx, "2fa:a%b:"); err != nil || n != 2 {
			t.Fatalf("got %d counters cleared, %v; want 2", n, err)
		}
		if n, err := s.ResetThrottlePrefix(ctx, "2fa:a%b:"); err != nil || n != 0 {
			t.Fatalf("got %d counters cleared the second time, %v; want 0", n, err)
		}
		if f, _, _ := s.Throttle(ctx, "2fa:axb:1"); f != 1 {
			t.Fatal("prefix reset treated % as a wildcard")
		}
		if f, _, _ := s.Throttle(ctx, "2fa:a%b:1"); f != 0 {
			t.Fatal("prefix reset missed its key")
		}
	})
}

// TestSlotsUnderWay: slots taken by TakeSlotUnderWay count as under way,
// on the counter every instance reads, until their attempts end or their
// time runs out; an end from a count that has ended meanwhile (cleared, or
// run out and started again) changes nothing in the next one.
func TestSlotsUnderWay(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		span := 5 * time.Second
		underWay := func(want int, wantUntil time.Time) {
			t.Helper()
			n, until, _, err := s.SlotsUnderWay(ctx, "pw")
			if err != nil || n != want || !until.Equal(wantUntil) {
				t.Fatalf("under way: got %d until %v, %v; want %d until %v", n, until, err, want, wantUntil)
			}
		}
		take := func(seen int, lock, now time.Time) {
			t.Helper()
			if ok, err := s.TakeSlotUnderWay(ctx, "pw", seen, lock, now, now.Add(span)); err != nil || !ok {
				t.Fatalf("TakeSlotUnderWay(%d): %v, %v", seen, ok, err)
			}
		}
		end := func(taken time.Time) {
			t.Helper()
			if err := s.EndSlot(ctx, "pw", taken); err != nil {
				t.Fatal(err)
			}
		}
		underWay(0, time.Time{})
		take(0, time.Time{}, t0)
		t1 := t0.Add(time.Second)
		take(1, t1.Add(time.Minute), t1)
		underWay(2, t1.Add(span))
		if f, until, err := s.Throttle(ctx, "pw"); err != nil || f != 2 || !until.Equal(t1.Add(time.Minute)) {
			t.Fatalf("counter: got %d locked until %v, %v; want 2 failures locked a minute", f, until, err)
		}
		// The lock comes with the count, from the same read.
		if _, _, locked, err := s.SlotsUnderWay(ctx, "pw"); err != nil || !locked.Equal(t1.Add(time.Minute)) {
			t.Fatalf("lock read with the count under way: got %v, %v; want %v", locked, err, t1.Add(time.Minute))
		}
		// Locked, or a stale count: no slot, and nothing counted under way.
		if ok, err := s.TakeSlotUnderWay(ctx, "pw", 2, time.Time{}, t1, t1.Add(span)); err != nil || ok {
			t.Fatalf("slot taken while locked: %v, %v", ok, err)
		}
		if ok, err := s.TakeSlotUnderWay(ctx, "pw", 1, time.Time{}, t1.Add(time.Hour), t1.Add(time.Hour+span)); err != nil || ok {
			t.Fatalf("slot taken with a stale count: %v, %v", ok, err)
		}
		underWay(2, t1.Add(span))
		end(t0)
		underWay(1, t1.Add(span))
		end(t1)
		underWay(0, t1.Add(span))
		end(t1) // once more: never below zero
		underWay(0, t1.Add(span))

		// A count whose attempt never ended runs out, and the next slot
		// starts another: the late end of the old attempt leaves it be.
		t2 := t1.Add(time.Minute)
		take(2, time.Time{}, t2)
		t3 := t2.Add(span)
		take(3, time.Time{}, t3)
		underWay(1, t3.Add(span))
		end(t2)
		underWay(1, t3.Add(span))
		end(t3)
		underWay(0, t3.Add(span))

		// A cleared counter takes the count with it; an attempt of the
		// count before it, ending, leaves the next count be.
		t4 := t3.Add(time.Second)
		take(4, time.Time{}, t4)
		if err := s.ResetThrottle(ctx, "pw"); err != nil {
			t.Fatal(err)
		}
		underWay(0, time.Time{})
		if _, _, locked, err := s.SlotsUnderWay(ctx, "pw"); err != nil || !locked.IsZero() {
			t.Fatalf("lock of a cleared counter: got %v, %v; want none", locked, err)
		}
		t5 := t4.Add(time.Second)
		take(0, time.Time{}, t5)
		end(t4)
		underWay(1, t5.Add(span))

		// TakeSlot counts nothing under way.
		if ok, err := s.TakeSlot(ctx, "other", 0, time.Time{}, t5); err != nil || !ok {
			t.Fatalf("TakeSlot: %v, %v", ok, err)
		}
		if n, _, _, err := s.SlotsUnderWay(ctx, "other"); err != nil || n != 0 {
			t.Fatalf("under way after TakeSlot: %d, %v; want 0", n, err)
		}
	})
}

func TestThrottleSlotRace(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		now := time.Now()
		var won atomic.Int32
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if ok, err := s.TakeSlot(context.Background(), "race", 0, time.Time{}, now); err == nil && ok {
					won.Add(1)
				}
			}()
		}
		wg.Wait()
		if got := won.Load(); got != 1 {
			t.Fatalf("got %d winners of one slot, want 1", got)
		}
	})
}

func TestTokenBucket(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		take := func(at time.Time) bool {
			t.Helper()
			ok, err := s.TakeToken(ctx, "ip:1", 3, 0.5, at)
			if err != nil {
				t.Fatal(err)
			}
			return ok
		}
		for i := range 3 {
			if !take(now) {
				t.Fatalf("token %d of a burst of 3 refused", i+1)
			}
		}
		if take(now) {
			t.Fatal("fourth token granted from a burst of 3")
		}
		if take(now.Add(time.Second)) {
			t.Fatal("token granted after 1 s at 0.5/s")
		}
		if !take(now.Add(2 * time.Second)) {
			t.Fatal("token refused after 2 s at 0.5/s")
		}
		// A long pause refills only up to the burst.
		later := now.Add(time.Hour)
		for i := range 3 {
			if !take(later) {
				t.Fatalf("token %d after refill refused", i+1)
			}
		}
		if take(later) {
			t.Fatal("bucket refilled beyond its burst")
		}
	})
}
