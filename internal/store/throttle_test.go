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
