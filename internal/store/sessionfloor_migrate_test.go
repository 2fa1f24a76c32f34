package store_test

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMigrationSessionEventFloor: sessions stored before migration 0069
// have no event floor; while they work they are listed, found by the search
// by time used before, beside the sessions stored since, which have one.
func TestMigrationSessionEventFloor(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			session := func(id string, made time.Time) {
				t.Helper()
				if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: "acct-alice", TokenHash: []byte(id), CreatedAt: made,
					ExpiresAt: made.Add(12 * time.Hour), ElevatedUntil: made}); err != nil {
					t.Fatal(err)
				}
				if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: "acct-alice", Type: "login.succeeded", At: made, SessionID: id}); err != nil {
					t.Fatal(err)
				}
			}
			for i := range 5 { // events before any session
				if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: "acct-alice", Type: "login.failed", At: t0.Add(time.Duration(i-10) * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			session("s-1-before", t0)
			remigrate(t, s, 69, `ALTER TABLE sessions DROP COLUMN event_floor`)
			session("s-2-after", t0.Add(time.Hour))
			for _, tc := range []struct {
				now  time.Time
				want []string
			}{
				{t0.Add(2 * time.Hour), []string{"s-2-after", "s-1-before"}},
				{t0.Add(12*time.Hour + time.Minute), []string{"s-2-after"}},
				{t0.Add(14 * time.Hour), []string{}},
			} {
				got, err := s.LiveSessions(ctx, "acct-alice", 0, tc.now, 10)
				if err != nil {
					t.Fatal(err)
				}
				ids := []string{}
				for _, l := range got {
					ids = append(ids, l.Session.ID)
				}
				if diff := cmp.Diff(tc.want, ids); diff != "" {
					t.Errorf("at %v: live sessions (-want +got):\n%s", tc.now.Sub(t0), diff)
				}
			}
		})
	}
}
