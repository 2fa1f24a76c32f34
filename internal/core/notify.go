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
	s.mail(ctx, accountID, subject, footerSignIn, true, lines)
}

// notifyEnd is notify with a footer of another kind than footerSignIn, for
// a change after which its advice cannot be followed.
func (s *Service) notifyEnd(ctx context.Context, accountID, subject string, f footer, lines ...string) {
	s.mail(ctx, accountID, subject, f, true, lines)
}

// warn tells the account holder of a change that whoever takes an account
// over would most want kept from them, because it locks the holder out or
// leaves them minutes to react: a change of address asked for, the
// password changed or reset, two-factor reset, the account suspended. It
// is never held back by the bound on notices (noticeAllowed), which anyone
// with a session can use up first with changes of little weight; each of
// these changes has a bound of its own (a fresh password, a code, an
// operator) or happens once.
func (s *Service) warn(ctx context.Context, accountID, subject string, f footer, lines ...string) {
	s.mail(ctx, accountID, subject, f, false, lines)
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
func (s *Service) keysStillWork() string {
	return "Your API keys were not revoked and still work, so that your scripts keep running. If one may have leaked, revoke it in your security settings under API keys (" + s.link("/settings/security/api-keys") + ")."
}

// origin says in a notice where the request that made the change came
// from, taken from that request (m) when the notice is written: its
// address and what its client called itself (ClientCalled: the user agent
// cleaned, shortened and quoted, so that a hostile one can neither run
// into the server's words nor fill the mail), as the sign-in mail says
// them; or, for an operator's request (the CLI, or an operator acting on
// the account), that an operator made it, since the operator's own
// address is none of the holder's business.
func origin(m Meta) string {
	if m.actor != "" || m.Source == "cli" {
		return "An operator of this server made this change."
	}
	src := CleanText(m.Source, 64)
	if src == "" {
		src = "an unknown address"
	}
	return fmt.Sprintf("This came from %s, with %s.", src, ClientCalled(m.UserAgent))
}

// link returns the address of the page at path (/settings/security) for a
// mail: under the server's public URL (SetLinkBase), or the bare path when
// the server knows none.
func (s *Service) link(path string) string { return s.linkBase + path }

// A footer ends a notice: what to do if the change was not the holder's.
// Most notices end in footerSignIn; the few after which its advice cannot
// be followed end in another.
type footer int

const (
	// footerSignIn: sign in, change the password, review the settings.
	footerSignIn footer = iota
	// footerNewPassword: the password was changed or reset, so the old one
	// no longer signs in: the reset by mail is the way back.
	footerNewPassword
	// footerNoRecovery: two-factor was reset, or its last authenticator
	// removed, so no recovery code or paper key is left to use.
	footerNoRecovery
	// footerSuspended: the holder cannot sign in at all.
	footerSuspended
	// footerOperator: an operator did it, not whoever may hold the account.
	footerOperator
)

// footerText is the text of footer f.
func (s *Service) footerText(f footer) string {
	at := "" // where to sign in
	if s.linkBase != "" {
		at = " at " + s.link("/login")
	}
	switch f {
	case footerNewPassword:
		return "If this was not you, your old password no longer works: choose a new one with \"Forgot your password?\" on the sign-in page" + at +
			" (the link comes to this address), then review your security settings (" + s.link("/settings/security") + "). If you cannot, contact your operator."
	case footerNoRecovery:
		return "If this was not you, sign in" + at + " with your password (you have no recovery codes or paper key left), change it at once, set up two-factor again and review your security settings (" +
			s.link("/settings/security") + "); if you cannot, contact your operator."
	case footerSuspended:
		return "If you did not expect this, contact your operator: nobody can sign in to the account until they lift the suspension."
	case footerOperator:
		return "An operator of this server did this. If you did not expect it, ask them why, and check your security log (" + s.link("/settings/security/events") + ") after signing in" + at + "."
	}
	return "If this was not you, sign in" + at + " (with a recovery code if you must), change your password and review your security settings (" + s.link("/settings/security") + ")."
}

// mail queues a notice to the account holder: lines, then the text of
// footer f. A bounded notice goes only as noticeAllowed lets it.
func (s *Service) mail(ctx context.Context, accountID, subject string, f footer, bounded bool, lines []string) {
	if s.notifier == nil {
		return
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, func(ctx context.Context) { s.mail(ctx, accountID, subject, f, bounded, lines) })
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
	if bounded {
		ok, more := s.noticeAllowed(ctx, accountID, subject)
		if !ok && !more {
			s.log.Info("notice not mailed: over the account's bound", "subject", subject)
			return
		}
		if !ok {
			lines = []string{
				"More security-relevant changes were made to your account than are mailed one by one. The latest: " + subject + ".",
				"Until they slow down, you get at most one notice every few minutes, and this summary at most once an hour. Every change is listed in your security log (" + s.link("/settings/security/events") + ").",
			}
			subject, f = noticeMoreSubject, footerSignIn
		}
	}
	if err := s.notifier.Enqueue(ctx, a.Email, s.cfg.Issuer+": "+subject, s.mailBody(a, s.footerText(f), lines)); err != nil {
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
