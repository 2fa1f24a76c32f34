package notify_test

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestForeignMailKind: a mail of a kind this version does not know, as a
// newer release serving the same database queues it during a rolling
// upgrade, is left in the outbox untouched (not claimed, not sent, not
// dropped, not in the outbox's age) while mails queued after it go; it is
// dropped unsent with a log line, and no outcome observed, once past its
// discard time, or, with none, once it has waited store.ForeignMailKeep.
func TestForeignMailKind(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		ctx := t.Context()
		insert := `INSERT INTO outbox (recipient, subject, body, created_at, due_at, discard_at, code_kind, code_key, code_scope, code_hash)
			VALUES ($1, $2, '', $3, $3, $4, 'invented-kind', 'k1', 's1', $5)`
		at := t0.UnixMicro()
		testenv.Exec(t, dsn, insert, []any{"bob@example.com", "a newer notice", at, int64(0), []byte("h")},
			[]any{"carol@example.com", "a newer code", at, t0.Add(10 * time.Minute).UnixMicro(), []byte("h")})
		foreign := r.mails(t)
		var mu sync.Mutex
		var observed []string
		w := &notify.Worker{
			Queue:  r.store,
			Sender: &notify.SMTP{Addr: r.smtp.Addr, From: "Twofold <twofold@example.com>", Timeout: time.Minute},
			Logger: newLogger(r.logs),
			Now:    r.clock.Now,
			Wake:   r.outbox.Wake(),
			Poll:   10 * time.Millisecond,
			Observe: func(outcome string) {
				mu.Lock()
				defer mu.Unlock()
				observed = append(observed, outcome)
			},
		}
		w.Start()
		t.Cleanup(func() { w.Close() })
		if err := r.outbox.Enqueue(ctx, "alice@example.com", "Twofold: a notice", "Hello alice\n"); err != nil {
			t.Fatal(err)
		}
		r.smtp.Wait(t, 1, time.Minute)
		eventually(t, "the known mail to leave the outbox", func() bool { return len(r.mails(t)) == 2 })
		for i, m := range r.mails(t) {
			if m.ID != foreign[i].ID || m.Attempts != 0 || !m.DueAt.Equal(foreign[i].DueAt) || m.LastError != "" {
				t.Errorf("mail of an unknown kind: got %+v, want it untouched: %+v", m, foreign[i])
			}
		}
		if _, ok, err := r.store.OldestMail(ctx); err != nil || ok {
			t.Errorf("OldestMail: got %v, %v, want none (mails of unknown kinds left out)", ok, err)
		}
		if strings.Contains(r.logs.String(), "dropped") {
			t.Errorf("logs: got %q, want nothing dropped", r.logs.String())
		}

		// Past its discard time, the code mail is dropped; the notice waits.
		r.clock.Add(10 * time.Minute)
		eventually(t, "the code mail of an unknown kind to be dropped", func() bool { return len(r.mails(t)) == 1 })
		if m := r.mails(t)[0]; m.ID != foreign[0].ID || m.Attempts != 0 {
			t.Errorf("notice of an unknown kind: got %+v, want it untouched", m)
		}
		r.clock.Add(store.ForeignMailKeep - 10*time.Minute - time.Second)
		if err := r.outbox.Enqueue(ctx, "alice@example.com", "Twofold: another notice", "Hello alice\n"); err != nil {
			t.Fatal(err)
		}
		r.smtp.Wait(t, 2, time.Minute)
		eventually(t, "the second known mail to leave the outbox", func() bool { return len(r.mails(t)) == 1 })
		if m := r.mails(t)[0]; m.ID != foreign[0].ID || m.Attempts != 0 {
			t.Errorf("notice of an unknown kind a second short of ForeignMailKeep: got %+v, want it untouched", m)
		}
		r.clock.Add(time.Second)
		eventually(t, "the notice of an unknown kind to be dropped", func() bool { return len(r.mails(t)) == 0 })
		logs := r.logs.String()
		if n := strings.Count(logs, "mail of a kind this version does not know dropped unsent"); n != 2 || !strings.Contains(logs, "code=invented-kind") {
			t.Errorf("logs: got %q, want two drops of kind invented-kind", logs)
		}
		if got := len(r.smtp.Messages()); got != 2 {
			t.Errorf("mails sent: got %d, want the 2 known ones", got)
		}
		mu.Lock()
		defer mu.Unlock()
		if strings.Join(observed, ",") != "sent,sent" {
			t.Errorf("outcomes observed: got %q, want the 2 known mails' sent", observed)
		}
	})
}
