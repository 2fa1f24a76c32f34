package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// benchEvents fills the audit log with n events of 1000 accounts, one in
// every 1000 of type account.suspended (a rare type), the others
// login.succeeded, and returns the newest id.
func benchEvents(b *testing.B, s *store.Store, n int) int64 {
	b.Helper()
	ctx := b.Context()
	now := time.Now().UTC()
	for done := 0; done < n; done += 10000 {
		err := s.InTx(ctx, func(ctx context.Context) error {
			for i := done; i < min(done+10000, n); i++ {
				typ := "login.succeeded"
				if i%1000 == 999 {
					typ = "account.suspended"
				}
				e := twofold.AuditEvent{AccountID: fmt.Sprintf("a%07d", i%1000), Type: typ, At: now, Source: "192.0.2.1", UserAgent: "bench"}
				if err := s.AddEvent(ctx, e); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Analyze(ctx); err != nil {
		b.Fatal(err)
	}
	evs, err := s.Events(ctx, "", 0, 1)
	if err != nil {
		b.Fatal(err)
	}
	return evs[0].ID
}

// BenchmarkEvents measures reading the audit log with a type filter, from
// 200,000 events, on each store: a poll for what is new (after an id 1000
// below the newest), the newest of a rare type of every account (read
// along the primary key until 20 are found: some 20,000 rows), and of one
// account.
func BenchmarkEvents(b *testing.B) {
	for name, dsn := range testenv.DSNs(b) {
		s := open(b, dsn(b))
		newest := benchEvents(b, s, 200000)
		queries := map[string]twofold.EventQuery{
			"poll":        {Types: []string{"account.suspended", "account.created"}, Forward: true, After: newest - 1000, Limit: 200},
			"rare":        {Types: []string{"account.suspended"}, Limit: 20},
			"rareAccount": {AccountID: "a0000999", Types: []string{"account.suspended"}, Limit: 20},
		}
		for qname, q := range queries {
			b.Run(name+"/"+qname, func(b *testing.B) {
				for b.Loop() {
					evs, err := s.QueryEvents(b.Context(), q)
					if err != nil || len(evs) == 0 {
						b.Fatalf("%d events, %v", len(evs), err)
					}
				}
			})
		}
	}
}
