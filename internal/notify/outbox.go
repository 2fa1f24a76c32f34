package notify

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

// Queue is the outbox table shared by every instance; *store.Store implements it.
type Queue interface {
	EnqueueMail(ctx context.Context, m store.Mail) (int64, error)
	ClaimMail(ctx context.Context, now, until time.Time) (store.Mail, bool, error)
	DeleteMail(ctx context.Context, id int64) error
	RetryMail(ctx context.Context, id int64, attempts int, due time.Time, lastError string) (bool, error)
}

// Sealer seals the bodies of code mails and opens them again;
// *keyring.Keyring implements it.
type Sealer interface {
	SealContext(ctx context.Context, plaintext, aad []byte) (keyID string, ciphertext []byte, err error)
	Open(ctx context.Context, keyID string, ciphertext, aad []byte) ([]byte, error)
}

// Outbox queues notifications in the database for a Worker to send. It
// implements core.Notifier: Enqueue is one INSERT and never waits for a mail
// server.
type Outbox struct {
	queue Queue
	now   func() time.Time
	wake  chan struct{}
	// Keys seals the bodies of code mails (EnqueueCode); nil refuses them.
	Keys Sealer
	// Rand makes the references code mails are bound to; nil is crypto/rand.
	Rand io.Reader
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
	o.poke()
	return nil
}

// bodyAAD binds a sealed body to its outbox row's seal_ref.
func bodyAAD(ref string) []byte { return keyring.AAD("outbox", "body", ref) }

// recipientAAD binds a sealed recipient to its outbox row's seal_ref.
func recipientAAD(ref string) []byte { return keyring.AAD("outbox", "recipient", ref) }

// EnqueueCode queues a message that carries a one-time code or link, code:
// its body and its recipient are stored sealed by Keys, never in the clear
// (the recipient may be an email factor's address, which is secret at rest
// too), and the message is dropped unsent once code no longer works (used,
// replaced or voided: store.ClaimMail) or discardAt has passed.
func (o *Outbox) EnqueueCode(ctx context.Context, to, subject, body string, code twofold.MailedCode, discardAt time.Time) error {
	if o.Keys == nil {
		return errors.New("outbox: no keys to seal a code mail with")
	}
	addr, err := mail.ParseAddress(to)
	if err != nil {
		return fmt.Errorf("code mail recipient: %w", err)
	}
	r := o.Rand
	if r == nil {
		r = rand.Reader
	}
	b := make([]byte, 16)
	if _, err := io.ReadFull(r, b); err != nil {
		return err
	}
	ref := hex.EncodeToString(b)
	m := store.Mail{Subject: subject, CreatedAt: o.now(), SealRef: ref, Code: code, DiscardAt: discardAt}
	// A key rotation may delete the data key the body was just sealed under
	// before it is stored: then the queue refuses it (keyring.ErrKeyGone),
	// and sealing again picks the current key, up to three times.
	for attempt := 1; ; attempt++ {
		if m.BodyKeyID, m.SealedBody, err = o.Keys.SealContext(ctx, []byte(body), bodyAAD(ref)); err != nil {
			return fmt.Errorf("seal code mail: %w", err)
		}
		if m.ToKeyID, m.SealedTo, err = o.Keys.SealContext(ctx, []byte(addr.Address), recipientAAD(ref)); err != nil {
			return fmt.Errorf("seal code mail recipient: %w", err)
		}
		_, err = o.queue.EnqueueMail(ctx, m)
		if err == nil {
			break
		}
		if !errors.Is(err, keyring.ErrKeyGone) || attempt == 3 {
			return err
		}
	}
	o.poke()
	return nil
}

func (o *Outbox) poke() {
	select {
	case o.wake <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// Wake returns a channel that receives when a message was queued in this
// process; give it to the Worker as Worker.Wake.
func (o *Outbox) Wake() <-chan struct{} { return o.wake }
