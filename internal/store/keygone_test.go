package store_test

import (
	"sync"
	"testing"

	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestAddFirstDataKeyRace: of instances starting together on a new
// database, each with its own master key, exactly one stores the first
// data key (SQLite: several handles on one file, as several processes).
func TestAddFirstDataKeyRace(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for round := range 5 {
				d := dsn(t)
				const n = 8
				stores := make([]*store.Store, n)
				for i := range stores {
					stores[i] = open(t, d)
				}
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					wins  int
					start = make(chan struct{})
				)
				for i, s := range stores {
					wg.Go(func() {
						<-start
						ok, err := s.AddFirstDataKey(t.Context(), keyring.WrappedKey{ID: "key-" + string(rune('a'+i)),
							MasterID: "master-" + string(rune('a'+i)), Wrapped: []byte{byte(i)}, Created: keysT0})
						if err != nil {
							t.Errorf("AddFirstDataKey: %v", err)
						}
						mu.Lock()
						defer mu.Unlock()
						if ok {
							wins++
						}
					})
				}
				close(start)
				wg.Wait()
				keys, err := stores[0].DataKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if wins != 1 || len(keys) != 1 {
					t.Fatalf("round %d: %d of %d instances stored a first data key, and %d are stored; want 1 and 1", round, wins, n, len(keys))
				}
				if ok, err := stores[0].AddFirstDataKey(t.Context(), keyring.WrappedKey{ID: "key-late", MasterID: "master-a", Wrapped: []byte{1}, Created: keysT0}); ok || err != nil {
					t.Fatalf("AddFirstDataKey with a key stored: got %v, %v; want false", ok, err)
				}
			}
		})
	}
}
