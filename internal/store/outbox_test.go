package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

var outboxT0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// TestOutbox walks a mail through the outbox: queued, claimed by one worker
// only, failed and rescheduled, claimed again, sent and deleted; and a
// worker whose claim ran out cannot reschedule a mail another worker holds.
func TestOutbox(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, ctx := open(t, dsn(t)), t.Context()
			const lease = 5 * time.Minute
			claim := func(now time.Time) (store.Mail, bool) {
				t.Helper()
				m, ok, err := s.ClaimMail(ctx, now, now.Add(lease))
				if err != nil {
					t.Fatalf("ClaimMail: %v", err)
				}
				return m, ok
			}
			retry := func(id int64, attempts int, due time.Time, reason string) bool {
				t.Helper()
				ok, err := s.RetryMail(ctx, id, attempts, due, reason)
				if err != nil {
					t.Fatalf("RetryMail: %v", err)
				}
				return ok
			}

			if _, ok := claim(outboxT0); ok {
				t.Fatal("ClaimMail on an empty outbox: got a mail")
			}
			first := store.Mail{To: "alice@example.com", Subject: "Twofold: factor confirmed", Body: "Hello alice,\n\nüñí\n", CreatedAt: outboxT0}
			second := store.Mail{To: "bob@example.org", Subject: "Twofold: factor removed", Body: "Hello bob\n", CreatedAt: outboxT0.Add(time.Second)}
			for _, m := range []*store.Mail{&first, &second} {
				id, err := s.EnqueueMail(ctx, *m)
				if err != nil {
					t.Fatalf("EnqueueMail: %v", err)
				}
				m.ID = id
			}
			if first.ID == second.ID {
				t.Fatalf("EnqueueMail: both mails got id %d", first.ID)
			}

			// Claimed in order of due time, each by one claim only.
			got, ok := claim(outboxT0)
			want := first
			want.Attempts, want.DueAt = 1, outboxT0.Add(lease)
			if !ok {
				t.Fatal("ClaimMail: got none, want the first mail")
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("ClaimMail (-want +got):\n%s", diff)
			}
			if m, ok := claim(outboxT0); ok {
				t.Fatalf("ClaimMail again: got mail %d; the first is claimed and the second not due", m.ID)
			}
			if m, ok := claim(outboxT0.Add(time.Second)); !ok || m.ID != second.ID {
				t.Fatalf("ClaimMail at the second's due time: got %d %v, want %d", m.ID, ok, second.ID)
			}

			// A failure reschedules the first; a stale claim number does not.
			if retry(first.ID, 0, outboxT0, "stale") {
				t.Error("RetryMail with a stale claim: got true, want false")
			}
			if !retry(first.ID, 1, outboxT0.Add(30*time.Second), "451 4.3.0 try later") {
				t.Fatal("RetryMail: got false, want true")
			}
			if _, ok := claim(outboxT0.Add(29 * time.Second)); ok {
				t.Fatal("ClaimMail before the retry is due: got a mail")
			}
			got, ok = claim(outboxT0.Add(30 * time.Second))
			if !ok || got.ID != first.ID || got.Attempts != 2 || got.LastError != "451 4.3.0 try later" {
				t.Fatalf("ClaimMail of the retry: got %+v %v, want mail %d, attempt 2, the last error", got, ok, first.ID)
			}
			if err := s.DeleteMail(ctx, first.ID); err != nil {
				t.Fatalf("DeleteMail: %v", err)
			}
			if retry(first.ID, 2, outboxT0, "gone") {
				t.Error("RetryMail of a deleted mail: got true, want false")
			}

			// The second's worker died: after its claim ends another takes it,
			// and the first worker can no longer reschedule it.
			late := outboxT0.Add(time.Second + lease)
			got, ok = claim(late)
			if !ok || got.ID != second.ID || got.Attempts != 2 {
				t.Fatalf("ClaimMail after the claim ended: got %+v %v, want mail %d, attempt 2", got, ok, second.ID)
			}
			if retry(second.ID, 1, late, "stale worker") {
				t.Error("RetryMail by the worker whose claim ran out: got true, want false")
			}
			all, err := s.Outbox(ctx)
			if err != nil {
				t.Fatalf("Outbox: %v", err)
			}
			want = second
			want.Attempts, want.DueAt = 2, late.Add(lease)
			if diff := cmp.Diff([]store.Mail{want}, all); diff != "" {
				t.Errorf("Outbox (-want +got):\n%s", diff)
			}
		})
	}
}

// TestOutboxRace has two instances (two Stores on one database) drain one
// outbox at once: every mail is claimed, and by one of them only.
func TestOutboxRace(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			d := dsn(t)
			a, b := open(t, d), open(t, d)
			const n = 60
			for i := range n {
				if _, err := a.EnqueueMail(t.Context(), store.Mail{To: "u@example.com", Subject: "s", Body: "b", CreatedAt: outboxT0.Add(time.Duration(i) * time.Millisecond)}); err != nil {
					t.Fatalf("EnqueueMail: %v", err)
				}
			}
			var (
				mu     sync.Mutex
				claims = map[int64]int{}
				wg     sync.WaitGroup
				start  = make(chan struct{})
			)
			for w := range 4 {
				s := []*store.Store{a, b}[w%2]
				wg.Go(func() {
					<-start
					now := outboxT0.Add(time.Second)
					for {
						m, ok, err := s.ClaimMail(t.Context(), now, now.Add(time.Hour))
						if err != nil {
							t.Errorf("ClaimMail: %v", err)
							return
						}
						if !ok {
							return
						}
						mu.Lock()
						claims[m.ID]++
						mu.Unlock()
						if err := s.DeleteMail(t.Context(), m.ID); err != nil {
							t.Errorf("DeleteMail: %v", err)
							return
						}
					}
				})
			}
			close(start)
			wg.Wait()
			if len(claims) != n {
				t.Errorf("got %d mails claimed, want %d", len(claims), n)
			}
			for id, c := range claims {
				if c != 1 {
					t.Errorf("mail %d claimed %d times, want once", id, c)
				}
			}
		})
	}
}

// TestOutboxCodesFirst: a code mail (DiscardAt set) is claimed before the
// notices due before it, so that a sign-in code does not wait behind them;
// among each kind the oldest goes first.
func TestOutboxCodesFirst(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s, ctx := open(t, dsn(t)), t.Context()
			add := func(subject string, created time.Time, code bool) int64 {
				t.Helper()
				m := store.Mail{To: "alice@example.com", Subject: subject, Body: "b", CreatedAt: created}
				if code {
					m.DiscardAt = created.Add(10 * time.Minute)
				}
				id, err := s.EnqueueMail(ctx, m)
				if err != nil {
					t.Fatalf("EnqueueMail: %v", err)
				}
				return id
			}
			n1 := add("notice 1", outboxT0, false)
			n2 := add("notice 2", outboxT0.Add(time.Second), false)
			c1 := add("code 1", outboxT0.Add(2*time.Second), true)
			n3 := add("notice 3", outboxT0.Add(3*time.Second), false)
			c2 := add("code 2", outboxT0.Add(4*time.Second), true)
			want := []int64{c1, c2, n1, n2, n3} // the order of claims
			now := outboxT0.Add(time.Minute)
			var got []int64
			for {
				m, ok, err := s.ClaimMail(ctx, now, now.Add(5*time.Minute))
				if err != nil {
					t.Fatalf("ClaimMail: %v", err)
				}
				if !ok {
					break
				}
				got = append(got, m.ID)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("order of claims (-want +got):\n%s", diff)
			}
		})
	}
}
