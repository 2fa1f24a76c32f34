package core_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestExpiredKeysLeaveTheCap: a script that makes a short-lived key per
// run is not refused after its MaxAPIKeys-th: only live keys count. The
// expired keys stay listed for ExpiredKeyKeep, then the sweep deletes
// them; keys without expiry stay. On SQLite and PostgreSQL.
func TestExpiredKeysLeaveTheCap(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
			svc := newService(t, db, db, func() time.Time { return now }, nil)
			a := signedIn(t, svc, "ada")
			permits := []twofold.Permit{{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}}
			if _, _, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "forever", Permits: permits}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			for i := range core.MaxAPIKeys - 1 {
				end := now.Add(time.Hour)
				if _, _, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: fmt.Sprintf("renewal %d", i), Permits: permits, ExpiresAt: &end}, core.Meta{}); err != nil {
					t.Fatalf("key %d: %v", i, err)
				}
			}
			end := now.Add(3 * time.Hour)
			next := core.NewAPIKey{Name: "next renewal", Permits: permits, ExpiresAt: &end}
			if _, _, err := svc.CreateAPIKey(ctx, a, next, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict {
				t.Fatalf("a key beyond %d live ones: got %v, want code conflict", core.MaxAPIKeys, err)
			}

			now = now.Add(2 * time.Hour) // the renewal keys have expired
			if _, _, err := svc.CreateAPIKey(ctx, a, next, core.Meta{}); err != nil {
				t.Fatalf("a key beside %d expired ones and one live: %v", core.MaxAPIKeys-1, err)
			}
			keys, err := svc.APIKeys(ctx, a)
			if err != nil || len(keys) != core.MaxAPIKeys+1 {
				t.Fatalf("keys listed: got %d, %v, want %d (the expired ones still listed)", len(keys), err, core.MaxAPIKeys+1)
			}

			now = now.Add(core.ExpiredKeyKeep - 2*time.Hour) // an hour short of the keep
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			if keys, err := db.APIKeys(ctx, a.Account.ID); err != nil || len(keys) != core.MaxAPIKeys+1 {
				t.Errorf("keys before ExpiredKeyKeep ran out: got %d, %v, want %d", len(keys), err, core.MaxAPIKeys+1)
			}
			now = now.Add(2 * time.Hour)
			if err := svc.Sweep(ctx); err != nil {
				t.Fatal(err)
			}
			keys, err = db.APIKeys(ctx, a.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, k := range keys {
				names = append(names, k.Name)
			}
			if got, want := fmt.Sprint(names), "[forever next renewal]"; got != want {
				t.Errorf("keys after ExpiredKeyKeep: got %s, want %s", got, want)
			}
		})
	}
}
