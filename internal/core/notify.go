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
	s.mail(ctx, accountID, subject, securityFooter, lines)
}

// inform mails the account holder something that is not a change of their
// account (an invitation), without the footer telling them what to do if
// the change was not theirs.
func (s *Service) inform(ctx context.Context, accountID, subject string, lines ...string) {
	s.mail(ctx, accountID, subject, "", lines)
}

// keysStillWork tells a holder whose sessions were ended (a password reset
// or change, an operator's reset of two-factor) that their API keys were
// not: scripts keep running, so a key that may have leaked must be revoked
// by hand.
const keysStillWork = "Your API keys were not revoked and still work, so that your scripts keep running. If one may have leaked, revoke it in your security settings under API keys (/settings/security/api-keys)."

// securityFooter ends every notice of a security-relevant change.
const securityFooter = "If this was not you, log in, use a recovery code if you must, change your password and review your security settings."

// mail queues a message to the account holder: lines, then footer when it
// is not "".
func (s *Service) mail(ctx context.Context, accountID, subject, footer string, lines []string) {
	if s.notifier == nil {
		return
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, func(ctx context.Context) { s.mail(ctx, accountID, subject, footer, lines) })
		return
	}
	ctx, cancel := afterCommit(ctx) // the change is committed: tell its holder even if the caller has gone
	defer cancel()
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		s.log.Error("notification not queued", "subject", subject, "err", err)
		return
	}
	if a.Email == "" {
		return
	}
	if err := s.notifier.Enqueue(ctx, a.Email, s.cfg.Issuer+": "+subject, s.mailBody(a, footer, lines)); err != nil {
		s.log.Error("notification not queued", "subject", subject, "err", err)
	}
}

// mailBody is the text of a message to account a's holder.
func (s *Service) mailBody(a twofold.Account, footer string, lines []string) string {
	if footer != "" {
		footer += "\n\n"
	}
	return fmt.Sprintf("Hello %s,\n\n%s\n\nWhen: %s\n\n%s-- %s\n",
		a.Username, strings.Join(lines, "\n"), s.Now().Format("2006-01-02 15:04:05 MST"), footer, s.cfg.Issuer)
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
