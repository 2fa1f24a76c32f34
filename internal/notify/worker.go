package notify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/idna"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// Worker defaults and the retry schedule.
const (
	DefaultPoll        = time.Second      // how often a worker looks for due mail
	DefaultLease       = 5 * time.Minute  // how long a claim lasts; longer than a send may take
	DefaultSendTimeout = time.Minute      // one attempt to send
	FirstRetry         = 30 * time.Second // the wait after the first failure, doubling each time…
	MaxRetry           = time.Hour        // …up to this
	DefaultGiveUp      = 24 * time.Hour   // a message still failing this long after it was queued is dropped
	bookkeepingTimeout = 10 * time.Second // one outbox update after an attempt
)

// Outcomes of an attempt, as Worker.Observe receives them.
const (
	OutcomeSent          = "sent"           // handed to the mail server
	OutcomeNotConfigured = "not_configured" // no mail server configured: logged, not sent
	OutcomeFailed        = "failed"         // not sent; retried later
	OutcomeGivenUp       = "given_up"       // not sent, and failing for longer than GiveUp: dropped
	OutcomeExpired       = "expired"        // a code mail whose code expired before it could be sent: dropped
	OutcomeVoided        = "voided"         // a code mail whose code was used, replaced or voided before it could be sent: dropped
)

// Unobserved are the kinds of code mail whose attempts Observe is not told
// of, and which the outbox's age on /metrics leaves out (store.OldestMail):
// the mails that a request naming an account queues only when the name
// has one (a password-reset link, the notice of a team invitation). The
// request is answered alike for a name nobody has; counted, these mails
// would tell whoever reads /metrics which names have accounts. Their
// attempts are logged like any other's.
var Unobserved = []twofold.MailedCodeKind{twofold.MailedPasswordReset, twofold.MailedTeamInvitation}

// Backoff returns how long to wait after the failed attempt number attempts
// (1 for the first): 30 s, 1 min, 2 min, … up to 1 h.
func Backoff(attempts int) time.Duration {
	d := FirstRetry
	for i := 1; i < attempts && d < MaxRetry; i++ {
		d *= 2
	}
	return min(d, MaxRetry)
}

// Worker sends queued mail in the background. Any number of workers, in one
// process or on many instances, may serve one outbox: each message is claimed
// by one of them at a time (store.ClaimMail).
//
// Set the fields, then Start; Close stops it. Zero durations take the
// defaults above.
type Worker struct {
	Queue  Queue
	Sender Sender
	Logger *slog.Logger     // nil: discard
	Now    func() time.Time // nil: time.Now
	// Wake receives when this process queued a message (Outbox.Wake), so that
	// it is sent at once rather than at the next poll. Nil: poll only.
	Wake <-chan struct{}
	// Keys opens the sealed bodies and recipients of code mails
	// (Outbox.EnqueueCode).
	Keys Sealer
	// Observe, when set, is told the outcome of each attempt (Outcome…), for
	// metrics, but for mails of the Unobserved kinds. An attempt interrupted
	// by Close has none.
	Observe     func(outcome string)
	Poll        time.Duration
	Lease       time.Duration
	SendTimeout time.Duration
	GiveUp      time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	// bookkeeping bounds each outbox update after an attempt (0:
	// bookkeepingTimeout); tests shorten it.
	bookkeeping time.Duration
}

// Start starts the worker's loop in the background.
func (w *Worker) Start() {
	if w.Logger == nil {
		w.Logger = slog.New(slog.DiscardHandler)
	}
	if w.Now == nil {
		w.Now = time.Now
	}
	w.Poll = or(w.Poll, DefaultPoll)
	w.Lease = or(w.Lease, DefaultLease)
	w.SendTimeout = or(w.SendTimeout, DefaultSendTimeout)
	w.GiveUp = or(w.GiveUp, DefaultGiveUp)
	ctx, cancel := context.WithCancel(context.Background())
	w.cancel, w.done = cancel, make(chan struct{})
	go w.run(ctx)
}

// Close stops the worker and waits for it: a send in flight is interrupted
// and its message released, to be sent again by whichever worker runs next.
func (w *Worker) Close() error {
	if w.cancel == nil {
		return nil
	}
	w.cancel()
	<-w.done
	return nil
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func (w *Worker) run(ctx context.Context) {
	defer close(w.done)
	t := time.NewTicker(w.Poll)
	defer t.Stop()
	for {
		w.drain(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-w.Wake:
		}
	}
}

// drain sends every message that is due, one claim at a time.
func (w *Worker) drain(ctx context.Context) {
	for ctx.Err() == nil {
		now := w.Now()
		m, ok, err := w.Queue.ClaimMail(ctx, now, now.Add(w.Lease))
		if err != nil {
			if ctx.Err() == nil {
				w.Logger.Warn("outbox: cannot claim mail", "err", err)
			}
			return
		}
		if !ok {
			return
		}
		w.deliver(ctx, m)
	}
}

// deliver makes one attempt to send m, then deletes it (sent, failing for
// longer than GiveUp, a code mail whose code no longer works, or one of a
// kind this version does not know, claimed only once kept long enough for
// the release that knows it: store.ForeignMailKeep) or reschedules it. Logs name the recipient's domain only, never the address
// or the body.
func (w *Worker) deliver(ctx context.Context, m store.Mail) {
	log := w.Logger.With("outbox_id", m.ID, "attempt", m.Attempts)
	drop, outcome := "", OutcomeExpired
	switch {
	case m.Foreign:
		drop = "mail of a kind this version does not know dropped unsent: no instance of the newer release that queued it sent it in time"
	case m.Void:
		drop, outcome = "code mail dropped unsent: the code or link in it was used, replaced or voided", OutcomeVoided
	case !m.DiscardAt.IsZero() && !w.Now().Before(m.DiscardAt):
		drop = "code mail dropped unsent: the code in it has expired"
	}
	if drop != "" {
		log.Warn(drop, "code", m.Code.Kind)
		w.observe(m, outcome)
		bctx, cancel := w.bookkeepingContext(ctx)
		defer cancel()
		if err := w.Queue.DeleteMail(bctx, m.ID); err != nil {
			log.Error("outbox: dropped mail not removed", "err", err)
		}
		return
	}
	to, err := w.recipient(ctx, m)
	if err == nil {
		log = log.With("to_domain", domain(to))
		var body string
		if body, err = w.body(ctx, m); err == nil {
			sctx, cancel := context.WithTimeout(ctx, w.SendTimeout)
			err = w.Sender.Send(sctx, Message{To: to, Subject: m.Subject, Body: body, Date: m.CreatedAt})
			cancel()
		}
	}
	// Each update after the send has its time from when it starts: a send
	// may take up to SendTimeout, longer than an update's bound.
	bctx, cancel := w.bookkeepingContext(ctx)
	defer cancel()
	if err == nil {
		outcome := OutcomeSent
		_, discarded := w.Sender.(Log)
		if discarded {
			outcome = OutcomeNotConfigured
		}
		w.observe(m, outcome)
		if err := w.Queue.DeleteMail(bctx, m.ID); err != nil {
			log.Error("outbox: sent mail not removed; it will be sent again", "err", err)
			return
		}
		if !discarded { // Log said why it sent nothing
			log.Info("notification sent")
		}
		return
	}
	reason := err.Error()
	if to != "" {
		reason = redact(reason, to)
	}
	now := w.Now()
	due := now.Add(Backoff(m.Attempts))
	if !m.DiscardAt.IsZero() && m.DiscardAt.Before(due) {
		due = m.DiscardAt // a code mail is not kept past its code: then it is dropped
	}
	switch {
	case ctx.Err() != nil:
		due = now // interrupted by Close: due again at once
	case now.Sub(m.CreatedAt) >= w.GiveUp:
		log.Error("notification given up", "queued_at", m.CreatedAt, "err", reason)
		w.observe(m, OutcomeGivenUp)
		if err := w.Queue.DeleteMail(bctx, m.ID); err != nil {
			log.Error("outbox: failed mail not removed", "err", err)
		}
		return
	default:
		log.Warn("notification not sent; will retry", "retry_at", due, "err", reason)
		w.observe(m, OutcomeFailed)
	}
	ok, err := w.Queue.RetryMail(bctx, m.ID, m.Attempts, due, reason)
	if err != nil {
		log.Error("outbox: cannot reschedule mail; it is retried when its claim ends", "err", err)
	} else if !ok {
		log.Warn("outbox: claim ran out before the attempt ended; another worker has the mail")
	}
}

// observe tells Observe, if set, the outcome of an attempt to send m,
// unless m is of an Unobserved kind, or of a kind this version does not
// know (the newer release that queued it may not observe it).
func (w *Worker) observe(m store.Mail, outcome string) {
	if w.Observe != nil && !m.Foreign && !slices.Contains(Unobserved, m.Code.Kind) {
		w.Observe(outcome)
	}
}

// bookkeepingContext returns the context of one outbox update after an
// attempt: it outlives a stop, so that the claim is not left to expire, and
// its time starts now.
func (w *Worker) bookkeepingContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), or(w.bookkeeping, bookkeepingTimeout))
}

// recipient returns m's recipient, opened when it is sealed.
func (w *Worker) recipient(ctx context.Context, m store.Mail) (string, error) {
	if m.ToKeyID == "" {
		return m.To, nil
	}
	if w.Keys == nil {
		return "", errors.New("a code mail with a sealed recipient, and this worker has no keys to open it")
	}
	b, err := w.Keys.Open(ctx, m.ToKeyID, m.SealedTo, recipientAAD(m.SealRef))
	if err != nil {
		return "", fmt.Errorf("open sealed recipient: %w", err)
	}
	return string(b), nil
}

// body returns m's body, opened when it is sealed.
func (w *Worker) body(ctx context.Context, m store.Mail) (string, error) {
	if m.BodyKeyID == "" {
		return m.Body, nil
	}
	if w.Keys == nil {
		return "", errors.New("a sealed code mail, and this worker has no keys to open it")
	}
	b, err := w.Keys.Open(ctx, m.BodyKeyID, m.SealedBody, bodyAAD(m.SealRef))
	if err != nil {
		return "", fmt.Errorf("open sealed code mail: %w", err)
	}
	return string(b), nil
}

// redact replaces the recipient's address in a mail server's answer by its
// domain, so that logs and the outbox's last_error carry no address.
func redact(s, address string) string {
	forms := []string{address}
	// A non-ASCII domain goes out as its A-label (smtp.go), and a server's
	// refusal quotes the address in the form it was sent.
	local, dom := address[:strings.LastIndexByte(address, '@')+1], domain(address)
	if a, err := idna.Lookup.ToASCII(dom); err == nil && a != dom {
		forms = append(forms, local+a)
	}
	for _, f := range forms {
		s = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(f)).ReplaceAllLiteralString(s, "…@"+dom)
	}
	return s
}
