package core

import (
	"context"
	"fmt"
	"strings"

	"github.com/twofold/twofold"
)

// Notifier queues a message to an account holder's email address. It must not
// block on delivery: queueing is quick, sending happens elsewhere and is
// retried there (SPEC §1 story 10).
type Notifier interface {
	Enqueue(ctx context.Context, to, subject, body string) error
}

// notify tells the account holder about a security-relevant change. It never
// fails the request: a queueing error is logged.
func (s *Service) notify(ctx context.Context, accountID, subject string, lines ...string) {
	if s.notifier == nil {
		return
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, func(ctx context.Context) { s.notify(ctx, accountID, subject, lines...) })
		return
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		s.log.Error("notification not queued", "subject", subject, "err", err)
		return
	}
	if a.Email == "" {
		return
	}
	if err := s.notifier.Enqueue(ctx, a.Email, s.cfg.Issuer+": "+subject, s.mailBody(a, lines)); err != nil {
		s.log.Error("notification not queued", "subject", subject, "err", err)
	}
}

// mailBody is the text of a notice to account a's holder.
func (s *Service) mailBody(a twofold.Account, lines []string) string {
	return fmt.Sprintf("Hello %s,\n\n%s\n\nWhen: %s\n\nIf this was not you, log in, use a recovery code if you must, change your password and review your security settings.\n\n-- %s\n",
		a.Username, strings.Join(lines, "\n"), s.Now().Format("2006-01-02 15:04:05 MST"), s.cfg.Issuer)
}

// observe passes an audit event to the observer (metrics), if any.
func (s *Service) observe(e twofold.AuditEvent) {
	if s.onEvent != nil {
		s.onEvent(e)
	}
}

// SetObserver sets the function that sees every audit event (for metrics).
// Call it before the service handles requests.
func (s *Service) SetObserver(f func(twofold.AuditEvent)) { s.onEvent = f }
