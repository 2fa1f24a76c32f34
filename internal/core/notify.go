package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Notifier queues a message to an account holder's email address. It must not
// block on delivery: queueing is quick, sending happens elsewhere and is
// retried there (SPEC §1 story 10).
type Notifier interface {
	Enqueue(ctx context.Context, to, subject, body string) error
}

// notify tells the account holder about a security-relevant change. It never
// fails the request: a queueing error is logged. Notices are bounded per
// account (see noticeAllowed); mails the holder asked for (codes,
// password-reset links, an invitation) are not notices and are never held
// back by the bound.
func (s *Service) notify(ctx context.Context, accountID, subject string, lines ...string) {
	s.mail(ctx, accountID, subject, securityFooter, lines)
}

// NoticeBurst and NoticeEvery bound the security notices one account is
// mailed: NoticeBurst at once, then one every NoticeEvery (10 an hour),
// shared by every instance (a token bucket in the database). A notice
// past the bound is not mailed; the first one past it in NoticeMoreEvery is
// replaced by one mail that says more changes were made and where they are
// listed (the account's security log, which records them all), so that
// whoever has the password or a session cannot bury the owner's mailbox,
// nor hide a notice among a flood of them unnoticed.
const (
	NoticeBurst     = 10
	NoticeEvery     = 6 * time.Minute
	NoticeMoreEvery = time.Hour
)

// noticeMoreSubject is the subject of the mail that stands for the
// notices past the bound.
const noticeMoreSubject = "more security changes to your account"

// keyCreatedSubject is the subject of the notice that an API key was made.
// The first such notice past the bound in NoticeMoreEvery gets a summary
// mail of its own, whatever other notices met the bound before it: a
// stolen key that makes keys is what the holder must hear of, even after a
// flood of other notices, and it costs at most one more mail an hour.
const keyCreatedSubject = "an API key was created"

// noticeAllowed reports whether a notice with subject may be mailed to
// accountID now, or, when not, whether the mail that stands for the
// notices past the bound is to go instead (more). A failure to read the
// bound lets the notice go: a notice too many is better than one lost.
func (s *Service) noticeAllowed(ctx context.Context, accountID, subject string) (ok, more bool) {
	now := s.Now()
	ok, err := s.store.TakeToken(ctx, "notice:"+accountID, NoticeBurst, 1/NoticeEvery.Seconds(), now)
	if err != nil {
		s.log.Error("notice bound unreadable", "err", err)
		return true, false
	}
	if ok {
		return true, false
	}
	bucket := "notice-more:" + accountID
	if subject == keyCreatedSubject {
		bucket += ":api-key-created" // its own summary (see keyCreatedSubject)
	}
	more, err = s.store.TakeToken(ctx, bucket, 1, 1/NoticeMoreEvery.Seconds(), now)
	if err != nil {
		s.log.Error("notice bound unreadable", "err", err)
		return true, false
	}
	return false, more
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
	if footer != "" { // a notice of a change, not a mail asked for
		ok, more := s.noticeAllowed(ctx, accountID, subject)
		if !ok && !more {
			s.log.Info("notice not mailed: over the account's bound", "subject", subject)
			return
		}
		if !ok {
			lines = []string{
				"More security-relevant changes were made to your account than are mailed one by one. The latest: " + subject + ".",
				"Until they slow down, you get at most one notice every few minutes, and this summary at most once an hour. Every change is listed in your security log (/settings/security/events).",
			}
			subject = noticeMoreSubject
		}
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
