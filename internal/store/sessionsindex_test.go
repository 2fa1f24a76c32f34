package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSessionsReadByAccount checks that the statements reading one
// account's live sessions ("Where you are signed in", the recovery
// sign-in's count of the sessions it ended) find them by the index of
// sessions by account (migration 0082), among the live sessions of 200
// accounts, rather than read every live session by the index of expiries
// and keep the account's (README "Where you are signed in").
func TestSessionsReadByAccount(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	byAccount := map[string]string{
		"sqlite":   "SEARCH sessions USING INDEX sessions_account_expires (account_id=? AND expires_at>?)",
		"postgres": "Index Scan using sessions_account_expires on sessions",
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			err := s.InTx(ctx, func(ctx context.Context) error {
				for a := range 200 {
					acct := fmt.Sprintf("acct-%03d", a)
					if err := s.CreateAccount(ctx, twofold.Account{ID: acct, Username: acct, PasswordHash: "x", CreatedAt: t0}); err != nil {
						return err
					}
					for i := range 5 {
						id := fmt.Sprintf("s-%03d-%d", a, i)
						if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: acct, TokenHash: []byte(id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
							return err
						}
						if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: acct, Type: "login.succeeded", At: t0, SessionID: id}); err != nil {
							return err
						}
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Analyze(ctx); err != nil {
				t.Fatal(err)
			}
			if n, err := s.SessionsOfEpoch(ctx, "acct-007", 0, t0); err != nil || n != 5 {
				t.Errorf("SessionsOfEpoch: got %d, %v, want 5", n, err)
			}
			if l, err := s.LiveSessions(ctx, "acct-007", 0, t0, 50); err != nil || len(l) != 5 {
				t.Errorf("LiveSessions: got %d sessions, %v, want 5", len(l), err)
			}
			plans, err := s.SessionPlansForTest(ctx, "acct-007", t0)
			if err != nil {
				t.Fatal(err)
			}
			for _, method := range []string{"liveSessionsFrom", "SessionsOfEpoch"} {
				plan := plans[method]
				if !strings.Contains(plan, byAccount[name]) {
					t.Errorf("plan of %s: got\n%s\nwant %q in it", method, plan, byAccount[name])
				}
				if name == "postgres" && !strings.Contains(plan, "Index Cond: ((account_id = 'acct-007'::text) AND (expires_at > ") {
					t.Errorf("plan of %s: got\n%s\nwant an index condition on account_id and expires_at", method, plan)
				}
			}
			for method, plan := range plans {
				if strings.Contains(plan, "sessions_expires") {
					t.Errorf("plan of %s: got\n%s\nwant no read of sessions by the index of expiries", method, plan)
				}
			}
		})
	}
}
