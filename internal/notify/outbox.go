package notify

import (
	"context"
	"errors"
	"fmt"
	"net/mail"
	"time"

	"github.com/twofold/twofold/internal/store"
)

// Queue is the outbox table shared by every instance; *store.Store implements it.
type Queue interface {
	EnqueueMail(ctx context.Context, m store.Mail) (int64, error)
	ClaimMail(ctx context.Context, now, until time.Time) (store.Mail, bool, error)
	DeleteMail(ctx context.Context, id int64) error
	RetryMail(ctx context.Context, id int64, attempts int, due time.Time, lastError string) (bool, error)
}

// Outbox queues notifications in the database for a Worker to send. It
// implements core.Notifier: Enqueue is one INSERT and never waits for a mail
// server.
type Outbox struct {
	queue Queue
	now   func() time.Time
	wake  chan struct{}
}

// NewOutbox returns an outbox over q; now is the clock (nil: time.Now).
func NewOutbox(q Queue, now func() time.Time) *Outbox {
	if now == nil {
		now = time.Now
	}
	return &Outbox{queue: q, now: now, wake: make(chan struct{}, 1)}
}

// Enqueue queues a message to the address to, due at once, and wakes this
// process's worker.
func (o *Outbox) Enqueue(ctx context.Context, to, subject, body string) error {
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("notification recipient: %w", err)
	}
	if subject == "" {
		return errors.New("notification subject is empty")
	}
	m := store.Mail{To: addr.Address, Subject: subject, Body: body, CreatedAt: o.now()}
	if _, err := o.queue.EnqueueMail(ctx, m); err != nil {
		return err
	}
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
	return nil
}

// Wake returns a channel that receives when a message was queued in this
// process; give it to the Worker as Worker.Wake.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }
