package notify_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

var _ core.Notifier = (*notify.Outbox)(nil)

// lockedBuffer is a log destination that goroutines may share.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newLogger(w io.Writer) *slog.Logger { return slog.New(slog.NewTextHandler(w, nil)) }

func openStore(tb testing.TB, dsn string) *store.Store {
	tb.Helper()
	s, err := store.Open(tb.Context(), dsn)
	if err != nil {
		tb.Fatalf("store.Open: %v", err)
	}
	tb.Cleanup(func() { s.Close() })
	return s
}

// rig is an outbox on a test clock, with a real SMTP listener.
type rig struct {
	store  *store.Store
	smtp   *testenv.SMTPServer
	clock  *testenv.Clock
	outbox *notify.Outbox
	logs   *lockedBuffer
}

func newRig(tb testing.TB, dsn string) *rig {
	tb.Helper()
	r := &rig{store: openStore(tb, dsn), smtp: testenv.NewSMTPServer(tb), clock: testenv.NewClock(t0), logs: &lockedBuffer{}}
	r.outbox = notify.NewOutbox(r.store, r.clock.Now)
	return r
}

// start starts a worker on q that sends to the mail server at addr, giving
// up on a conversation after timeout, and polls every 10 ms, so that moving
// the clock takes effect at once. It is closed when the test ends.
func (r *rig) start(tb testing.TB, q notify.Queue, addr string, timeout time.Duration) *notify.Worker {
	tb.Helper()
	w := &notify.Worker{
		Queue:  q,
		Sender: &notify.SMTP{Addr: addr, From: "Twofold <twofold@example.com>", Timeout: timeout},
		Logger: newLogger(r.logs),
		Now:    r.clock.Now,
		Wake:   r.outbox.Wake(),
		Poll:   10 * time.Millisecond,
	}
	w.Start()
	tb.Cleanup(func() { w.Close() })
	return w
}

func (r *rig) mails(tb testing.TB) []store.Mail {
	tb.Helper()
	m, err := r.store.Outbox(tb.Context())
	if err != nil {
		tb.Fatalf("Outbox: %v", err)
	}
	return m
}

// released waits until the outbox's one mail failed its attempt number
// attempts and was rescheduled: no longer due at the end of a claim.
func (r *rig) released(tb testing.TB, attempts int) store.Mail {
	tb.Helper()
	var m []store.Mail
	eventually(tb, fmt.Sprintf("attempt %d to fail", attempts), func() bool {
		m = r.mails(tb)
		return len(m) == 1 && m[0].Attempts == attempts && m[0].DueAt.Before(r.clock.Now().Add(notify.DefaultLease))
	})
	return m[0]
}

// eventually polls cond until it holds, for at most a minute (a bound for a loaded machine, not a timing).
func eventually(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("waited a minute for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func eachDB(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, dsn(t))
		})
	}
}

// TestDeliver queues a message and finds it at the SMTP listener, with the
// time it was queued as its date, and the outbox empty.
func TestDeliver(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		r.start(t, r.store, r.smtp.Addr, time.Minute)
		if err := r.outbox.Enqueue(t.Context(), "Alice <alice@example.com>", "Twofold: a new authenticator was added", "Hello alice,\n\nThe authenticator \"phone\" was confirmed.\n"); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		got := r.smtp.Wait(t, 1, time.Minute)[0]
		msg, subject, body := parse(t, got)
		if strings.Join(got.To, ",") != "alice@example.com" || msg.Header.Get("To") != "<alice@example.com>" {
			t.Errorf("got RCPT TO %q, To %q; want alice@example.com", got.To, msg.Header.Get("To"))
		}
		if subject != "Twofold: a new authenticator was added" || !strings.Contains(body, "\"phone\" was confirmed") {
			t.Errorf("got subject %q, body %q", subject, body)
		}
		if d, err := msg.Header.Date(); err != nil || !d.Equal(t0) {
			t.Errorf("Date: got %v (%v), want the time it was queued, %v", d, err, t0)
		}
		eventually(t, "the outbox to empty", func() bool { return len(r.mails(t)) == 0 })
		eventually(t, "the log of the send", func() bool { return strings.Contains(r.logs.String(), "notification sent") })
		if logs := r.logs.String(); !strings.Contains(logs, "to_domain=example.com") || strings.Contains(logs, "alice@") {
			t.Errorf("logs: got %q, want the recipient's domain and not the address", logs)
		}
	})
}

// TestRetry has the mail server refuse twice with 451: the message stays in
// the outbox with the backoff schedule, and arrives once the clock reaches it.
func TestRetry(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		r.start(t, r.store, r.smtp.Addr, time.Minute)
		r.smtp.FailNext(2)
		if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "Twofold: a recovery code was used", "You have 2 recovery codes left."); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		for i, wait := range []time.Duration{notify.FirstRetry, 2 * notify.FirstRetry} {
			attempt := i + 1
			m := r.released(t, attempt)
			if n := r.smtp.Deliveries(); n != attempt {
				t.Fatalf("got %d deliveries, want %d", n, attempt)
			}
			if want := r.clock.Now().Add(wait); !m.DueAt.Equal(want) {
				t.Fatalf("after attempt %d: due at %v, want %v (%s later)", attempt, m.DueAt, want, wait)
			}
			if !strings.Contains(m.LastError, "451") {
				t.Errorf("last error: got %q, want the server's 451", m.LastError)
			}
			r.clock.Add(wait)
		}
		got := r.smtp.Wait(t, 1, time.Minute)
		if _, subject, _ := parse(t, got[0]); subject != "Twofold: a recovery code was used" {
			t.Errorf("got subject %q", subject)
		}
		eventually(t, "the outbox to empty", func() bool { return len(r.mails(t)) == 0 })
		if n := len(r.smtp.Messages()); n != 1 {
			t.Errorf("got %d messages, want 1", n)
		}
	})
}

// TestGiveUp checks that a message still failing a day after it was queued
// is dropped with an error in the log that names the domain only.
func TestGiveUp(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		r.start(t, r.store, r.smtp.Addr, time.Minute)
		r.smtp.FailNext(1000)
		if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "s", "b"); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		r.released(t, 1)
		r.clock.Add(notify.DefaultGiveUp)
		eventually(t, "the message to be dropped", func() bool { return len(r.mails(t)) == 0 })
		if n := r.smtp.Deliveries(); n != 2 {
			t.Errorf("got %d attempts, want 2", n)
		}
		logs := r.logs.String()
		if !strings.Contains(logs, "level=ERROR msg=\"notification given up\"") || !strings.Contains(logs, "to_domain=example.com") || strings.Contains(logs, "alice@") {
			t.Errorf("logs: got %q, want an error naming the domain only", logs)
		}
	})
}

// silentServer accepts connections and never says a word: the worst mail
// server, which only a timeout gets past.
func silentServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// TestUnreachable checks that a mail server that never answers, or is not
// there, blocks neither Enqueue nor Close, and that the messages wait in the
// outbox for a retry.
func TestUnreachable(t *testing.T) {
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := closed.Addr().String()
	closed.Close()
	for name, addr := range map[string]string{"silent": silentServer(t), "refused": refused} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			r := newRig(t, testenv.SQLiteDSN(t))
			w := r.start(t, r.store, addr, 300*time.Millisecond)
			// Enqueue is one INSERT: it must return even though the worker
			// is stuck on the mail server. The deadline only keeps a broken
			// Enqueue from hanging the test.
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			for range 5 {
				if err := r.outbox.Enqueue(ctx, "alice@example.com", "s", "b"); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
			}
			eventually(t, "every message to fail once", func() bool {
				for _, m := range r.mails(t) {
					if m.Attempts == 0 || m.LastError == "" {
						return false
					}
				}
				return true
			})
			for _, m := range r.mails(t) {
				if !m.DueAt.After(r.clock.Now()) {
					t.Errorf("mail %d: due at %v, want a retry later than now", m.ID, m.DueAt)
				}
			}
			if n := len(r.mails(t)); n != 5 {
				t.Errorf("got %d mails in the outbox, want 5", n)
			}
			if err := w.Close(); err != nil {
				t.Errorf("Close: %v", err)
			}
		})
	}
}

// TestCloseInterruptsSend stops a worker in the middle of a send to a silent
// server: Close returns, and the message is due again at once for the next
// worker rather than held until its claim runs out.
func TestCloseInterruptsSend(t *testing.T) {
	t.Parallel()
	addr := silentServer(t)
	r := newRig(t, testenv.SQLiteDSN(t))
	w := r.start(t, r.store, addr, time.Minute)
	if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "s", "b"); err != nil {
		t.Fatalf("Enqueue: %v", err)
	}
	eventually(t, "the message to be claimed", func() bool {
		m := r.mails(t)
		return len(m) == 1 && m[0].Attempts == 1
	})
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	m := r.mails(t)
	if len(m) != 1 || !m[0].DueAt.Equal(r.clock.Now()) {
		t.Fatalf("after Close: got %+v, want the message due now (%v)", m, r.clock.Now())
	}
	// Another worker, with a mail server that answers, sends it.
	r.start(t, r.store, r.smtp.Addr, time.Minute)
	r.smtp.Wait(t, 1, time.Minute)
}

// TestTwoWorkers has two instances' workers (two Stores on one database)
// drain one outbox into one mail server: every message arrives exactly once.
func TestTwoWorkers(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		const n = 40
		for i := range n {
			if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "message "+strings.Repeat("x", i%3)+string(rune('A'+i)), "b"); err != nil {
				t.Fatalf("Enqueue: %v", err)
			}
		}
		w1, w2 := r.start(t, r.store, r.smtp.Addr, time.Minute), r.start(t, openStore(t, dsn), r.smtp.Addr, time.Minute)
		r.smtp.Wait(t, n, time.Minute)
		eventually(t, "the outbox to empty", func() bool { return len(r.mails(t)) == 0 })
		w1.Close()
		w2.Close()
		seen := map[string]int{}
		for _, m := range r.smtp.Messages() {
			_, subject, _ := parse(t, m)
			seen[subject]++
		}
		if len(seen) != n {
			t.Errorf("got %d different messages, want %d", len(seen), n)
		}
		for s, c := range seen {
			if c != 1 {
				t.Errorf("%q arrived %d times, want once", s, c)
			}
		}
	})
}

// TestEnqueueRejects checks the outbox's own checks: a recipient that is not
// an address and an empty subject are refused, and nothing is queued.
func TestEnqueueRejects(t *testing.T) {
	t.Parallel()
	s := openStore(t, testenv.SQLiteDSN(t))
	o := notify.NewOutbox(s, nil)
	for _, tc := range []struct{ name, to, subject string }{
		{"not an address", "alice", "s"},
		{"two addresses", "a@example.com, b@example.com", "s"},
		{"header injection", "a@example.com\r\nBcc: b@example.com", "s"},
		{"empty subject", "a@example.com", ""},
	} {
		if err := o.Enqueue(t.Context(), tc.to, tc.subject, "b"); err == nil {
			t.Errorf("%s: got no error", tc.name)
		}
	}
	if m, _ := s.Outbox(t.Context()); len(m) != 0 {
		t.Errorf("got %d mails queued, want 0", len(m))
	}
}

// TestDeliverWithoutSMTP: with no SMTP server configured the worker takes
// the mail out of the outbox, and the log says it was not sent, never that
// it was.
func TestDeliverWithoutSMTP(t *testing.T) {
	r := newRig(t, testenv.SQLiteDSN(t))
	w := &notify.Worker{Queue: r.store, Sender: notify.Log{Logger: newLogger(r.logs)}, Logger: newLogger(r.logs),
		Now: r.clock.Now, Wake: r.outbox.Wake(), Poll: 10 * time.Millisecond}
	w.Start()
	t.Cleanup(func() { w.Close() })
	if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "Twofold: a new authenticator was added", "Hello alice"); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for len(r.mails(t)) > 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := len(r.mails(t)); n != 0 {
		t.Fatalf("%d mails left in the outbox", n)
	}
	out := r.logs.String()
	if !strings.Contains(out, "notification not sent: no SMTP server configured") || strings.Contains(out, `msg="notification sent"`) {
		t.Errorf("log %q: want that it was not sent, and no claim that it was", out)
	}
}

// slowSender is a mail relay that takes wait before each conversation.
type slowSender struct {
	notify.Sender
	wait time.Duration
}

func (s slowSender) Send(ctx context.Context, m notify.Message) error {
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	return s.Sender.Send(ctx, m)
}

// TestSlowRelay has a relay slower than the bound of the outbox updates
// after an attempt: a sent mail is still deleted, so it is sent once and not
// again at every lease; a failed one is still rescheduled, and one failing
// for longer than GiveUp still dropped.
func TestSlowRelay(t *testing.T) {
	const bound = 500 * time.Millisecond
	for _, tc := range []struct {
		name    string
		fail    int
		age     time.Duration // how long the mail was queued before its attempt
		outcome string        // what Observe is told
	}{
		{"sent", 0, 0, notify.OutcomeSent},
		{"retried", 1, 0, notify.OutcomeFailed},
		{"given up", 1, notify.DefaultGiveUp, notify.OutcomeGivenUp},
	} {
		t.Run(tc.name, func(t *testing.T) {
			eachDB(t, func(t *testing.T, dsn string) {
				r := newRig(t, dsn)
				r.smtp.FailNext(tc.fail)
				var mu sync.Mutex
				var outcomes []string
				w := &notify.Worker{
					Observe: func(o string) {
						mu.Lock()
						defer mu.Unlock()
						outcomes = append(outcomes, o)
					},
					Queue:  r.store,
					Sender: slowSender{&notify.SMTP{Addr: r.smtp.Addr, From: "twofold@example.com", Timeout: time.Minute}, 2 * bound},
					Logger: newLogger(r.logs), Now: r.clock.Now, Wake: r.outbox.Wake(), Poll: 10 * time.Millisecond,
				}
				notify.SetBookkeeping(w, bound)
				if err := r.outbox.Enqueue(t.Context(), "alice@example.com", "s", "b"); err != nil {
					t.Fatalf("Enqueue: %v", err)
				}
				r.clock.Add(tc.age)
				w.Start()
				t.Cleanup(func() { w.Close() })
				// The attempt is over when its outcome is logged: for a
				// retry, when the outbox holds it rescheduled or a failed
				// update says why not.
				eventually(t, "the attempt to end", func() bool {
					logs := r.logs.String()
					if strings.Contains(logs, "outbox:") || strings.Contains(logs, "notification sent") || strings.Contains(logs, "given up") {
						return true
					}
					m := r.mails(t)
					return len(m) == 1 && m[0].LastError != ""
				})
				w.Close()
				if logs := r.logs.String(); strings.Contains(logs, "outbox:") {
					t.Fatalf("an outbox update failed: %s", logs)
				}
				if n := r.smtp.Deliveries(); n != 1 {
					t.Errorf("got %d deliveries, want 1", n)
				}
				mu.Lock()
				if len(outcomes) != 1 || outcomes[0] != tc.outcome {
					t.Errorf("Observe was told %q, want %q", outcomes, tc.outcome)
				}
				mu.Unlock()
				m := r.mails(t)
				switch {
				case tc.name == "retried":
					if len(m) != 1 || m[0].Attempts != 1 || !m[0].DueAt.Equal(r.clock.Now().Add(notify.FirstRetry)) {
						t.Errorf("outbox: got %+v, want the mail due again in %s", m, notify.FirstRetry)
					}
				case len(m) != 0:
					t.Errorf("outbox: got %+v, want it empty", m)
				}
			})
		})
	}
}

// TestInternationalRecipient: a notice to an address whose local part is
// beyond ASCII, through a mail server that does not offer SMTPUTF8, fails
// with a reason in the outbox and the log that says so and names neither
// the address nor its local part, and is retried like any failure; once the
// relay offers SMTPUTF8, the retry arrives.
func TestInternationalRecipient(t *testing.T) {
	eachDB(t, func(t *testing.T, dsn string) {
		r := newRig(t, dsn)
		w := r.start(t, r.store, r.smtp.Addr, time.Minute)
		if err := r.outbox.Enqueue(t.Context(), "jöran@example.com", "Twofold: a test", "b"); err != nil {
			t.Fatalf("Enqueue: %v", err)
		}
		m := r.released(t, 1)
		if !strings.Contains(m.LastError, "SMTPUTF8") || strings.Contains(m.LastError, "jöran") {
			t.Errorf("last error: got %q, want SMTPUTF8 named and not the address", m.LastError)
		}
		eventually(t, "the log of the failure", func() bool { return strings.Contains(r.logs.String(), "SMTPUTF8") })
		if logs := r.logs.String(); strings.Contains(logs, "jöran") || strings.Contains(logs, `j\xc3\xb6ran`) || !strings.Contains(logs, "to_domain=example.com") {
			t.Errorf("logs: got %q, want the domain and not the address", logs)
		}
		if n := r.smtp.Deliveries(); n != 0 {
			t.Errorf("got %d deliveries, want none", n)
		}

		// The relay now offers SMTPUTF8: the retry arrives.
		w.Close()
		utf8 := testenv.NewSMTPServer(t, testenv.SMTPUTF8())
		r.start(t, r.store, utf8.Addr, time.Minute)
		r.clock.Add(notify.FirstRetry)
		if got := utf8.Wait(t, 1, time.Minute)[0]; !got.UTF8 || strings.Join(got.To, ",") != "jöran@example.com" {
			t.Errorf("got RCPT TO %q, SMTPUTF8 %v; want jöran@example.com with SMTPUTF8", got.To, got.UTF8)
		}
		eventually(t, "the outbox to empty", func() bool { return len(r.mails(t)) == 0 })
	})
}
