package core_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// writeCountingStore is a real store that records the writes a refused
// sign-in makes: the buckets it takes tokens of (by kind, the part of the
// key before its first colon) and the events it adds.
type writeCountingStore struct {
	*store.Store
	mu     sync.Mutex
	writes []string
}

func (s *writeCountingStore) TakeToken(ctx context.Context, key string, burst, rate float64, now time.Time) (bool, error) {
	kind, _, _ := strings.Cut(key, ":")
	s.note("token " + kind)
	return s.Store.TakeToken(ctx, key, burst, rate, now)
}

func (s *writeCountingStore) AddEvent(ctx context.Context, e twofold.AuditEvent) error {
	s.note("event " + e.Type)
	return s.Store.AddEvent(ctx, e)
}

func (s *writeCountingStore) note(w string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.writes = append(s.writes, w)
}

// take returns the writes recorded since the last take, sorted.
func (s *writeCountingStore) take() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	w := s.writes
	s.writes = nil
	slices.Sort(w)
	return w
}

// TestRefusedNameWritesAlike: a wrong password for a name that exists and
// a sign-in with a name that does not make the same writes, the bucket of the event's bound
// included: one write more for a known name would tell, by the refusal's
// time, which names exist. On SQLite and PostgreSQL.
func TestRefusedNameWritesAlike(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			m := newMeddled(t, dsn(t), func(st *store.Store) *writeCountingStore { return &writeCountingStore{Store: st} }, false)
			for _, u := range []string{"alice"} {
				if _, err := m.svc.CreateAccount(ctx, core.NewAccount{Username: u, Password: testPassword}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			m.store.take()
			refused := func(username string) []string {
				t.Helper()
				// Each from an address of its own, at a time of its own, so
				// that no counter of an earlier attempt is in its way.
				m.clock.Add(time.Hour)
				_, err := m.svc.Login(ctx, username, "not the password", core.Meta{Source: "192.0.2.7"})
				if twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
					t.Fatalf("Login(%q) with a wrong password: got %v, want invalid credentials", username, err)
				}
				return m.store.take()
			}
			known := refused("alice")
			if !slices.Contains(known, "token events") {
				t.Fatalf("a known name's refusal took no token of its event bound: %q", known)
			}
			for _, u := range []string{"mallory", "ALICE", "Not a valid name!"} {
				if got := refused(u); !slices.Equal(got, known) {
					t.Errorf("refusal of %q wrote %q; a known name's wrote %q", u, got, known)
				}
			}
		})
	}
}
