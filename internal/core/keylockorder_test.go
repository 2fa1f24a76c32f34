package core_test

import (
	"context"
	"errors"
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

// conflictCountingStore is a real store that counts the transactions the
// database ended in a conflict with a concurrent one (on PostgreSQL, the
// loser of a deadlock, found only after deadlock_timeout), each of which
// the service runs again.
type conflictCountingStore struct {
	*store.Store
	conflicts atomic.Int64
}

// conflictCounting wraps st in a conflictCountingStore, for newMeddled.
func conflictCounting(st *store.Store) *conflictCountingStore {
	return &conflictCountingStore{Store: st}
}

func (s *conflictCountingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	err := s.Store.InTx(ctx, fn)
	if errors.Is(err, twofold.ErrTxConflict) {
		s.conflicts.Add(1)
	}
	return err
}

// TestKeysOfOneAccountWriteAtOnce: two API keys of one account, each with
// a keys write permit, making keys and revoking them at the same instant,
// round after round, take the account's row in one order and never
// deadlock: no transaction of theirs ends in a conflict to be run again
// (on PostgreSQL a stall of a second each, or a 503 after five), and every
// write succeeds. On SQLite and PostgreSQL.
func TestKeysOfOneAccountWriteAtOnce(t *testing.T) {
	const rounds = 15
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			cs := &conflictCountingStore{Store: db.Store}
			svc := newService(t, cs, db, time.Now, nil)
			ada := signedIn(t, svc, "ada")
			acme := twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}
			var scripts [2]core.Auth
			for i := range scripts {
				k, secret, err := svc.CreateAPIKey(ctx, ada, core.NewAPIKey{Name: fmt.Sprintf("script %d", i),
					Permits: []twofold.Permit{acme, {Service: "keys", Resource: "*", Actions: []string{"write"}}}}, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if scripts[i], err = svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			cs.conflicts.Store(0)

			// atOnce runs write for each script, all let go at the same instant.
			atOnce := func(write func(i int) error) {
				start := make(chan struct{})
				var wg sync.WaitGroup
				for i := range scripts {
					wg.Go(func() {
						<-start
						if err := write(i); err != nil {
							t.Errorf("script %d: %v", i, err)
						}
					})
				}
				close(start)
				wg.Wait()
			}
			var made [2]string
			for r := range rounds {
				atOnce(func(i int) error {
					k, _, err := svc.CreateAPIKey(core.WithCaller(ctx, scripts[i]), scripts[i], core.NewAPIKey{Name: fmt.Sprintf("run %d", r), Permits: []twofold.Permit{acme}}, core.Meta{})
					made[i] = k.ID
					return err
				})
				atOnce(func(i int) error {
					return svc.RevokeAPIKey(core.WithCaller(ctx, scripts[i]), scripts[i], made[i], core.Meta{})
				})
				if t.Failed() {
					t.FailNow()
				}
			}
			if got := cs.conflicts.Load(); got != 0 {
				t.Errorf("got %d transactions ended in a conflict (each run again), want 0", got)
			}
			keys, err := svc.APIKeys(ctx, ada)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != len(scripts) {
				t.Errorf("got %d keys left, want %d (the scripts')", len(keys), len(scripts))
			}
		})
	}
}
