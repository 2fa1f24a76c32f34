package core

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Resetting two-factor (SPEC §1 story 4): when a holder has lost every way
// to pass the second step, an operator who has confirmed who they are asks
// for a reset. It waits for the configured delay (Config.ResetDelay) before
// it is carried out, and the holder is told at once: someone who talked an
// operator into resetting another person's account must then also get past
// the real holder, who can cancel it until it is due. When due, the
// account's authenticators, recovery codes, paper key and SSH keys are removed,
// two-factor is no longer required, every session ends, and the holder signs
// in with the password alone and sets up two-factor again.

// DefaultResetDelay is how long an operator's reset of two-factor waits
// before it is carried out, unless configured otherwise.
const DefaultResetDelay = 72 * time.Hour

// RequestedReset is a reset of two-factor just asked for, with what the
// one who asked should know of it.
type RequestedReset struct {
	twofold.TwoFactorReset
	// EmailReplacedAt is when an operator last replaced the account's
	// address, within ReplacedEmailKeep of the request; zero when none
	// did. A new address and then a reset is how someone who talked an
	// operator into both would take the account over.
	EmailReplacedAt time.Time
	// FormerAddressesTold counts the addresses an operator replaced that
	// were told of the reset besides the account's address now.
	FormerAddressesTold int
	// ReplacedWithdrawing reports whether this reset took the place of one
	// that waited and was being withdrawn: one of the account's ways in
	// passed a check after it was asked for, so its holder may not have
	// lost every way in (ResetTwoFactorByName with immediately).
	ReplacedWithdrawing bool
	// Withdrawn reports, for a reset carried out at once, that it was
	// withdrawn instead: one of the account's ways in passed a check
	// recorded as after the request (by a server whose clock is ahead of
	// this one's, say), and everything stays as it was (carryOut).
	Withdrawn bool
	// Username is the account's username as stored, which the name it
	// was asked for by may differ from in case (accountNamed finds it as
	// sign-in does).
	Username string
}

// requireOperatorElevation refuses op unless they are an operator whose own
// account has two-factor and whose session is elevated: operator actions
// weaken another account's protection, so a stolen operator password or
// session must not be enough for them.
func (s *Service) requireOperatorElevation(ctx context.Context, op Auth, what string) error {
	if err := requireOperator(op); err != nil {
		return err
	}
	enabled, err := s.twoFactorEnabled(ctx, op.Account.ID)
	if err != nil {
		return err
	}
	if !enabled {
		return twofold.Errorf(twofold.CodeForbidden, "%s needs two-factor on your own account: add an authenticator first", what)
	}
	return s.requireElevation(op)
}

// RequestTwoFactorReset asks for a reset of the two-factor of account
// accountID, due after Config.ResetDelay (at once when that is zero): an
// operator's action, with the operator's own fresh second factor, audited,
// and the holder is told. A reset already waiting is a conflict, and so is
// a suspended account (a suspension cancels a waiting reset, see
// SetSuspended).
//
// An API key with admin resets write (or users write) may ask too, but only for a reset that
// waits and that the holder hears of: the waiting period and the notice
// are what stand, for a key, in the place of the operator's fresh second
// factor. A reset at once, or of a holder who cannot be told, takes an
// operator's session.
func (s *Service) RequestTwoFactorReset(ctx context.Context, op Auth, accountID string, m Meta) (RequestedReset, error) {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "resets", "resetting two-factor"); err != nil {
		return RequestedReset{}, err
	}
	if accountID == op.Account.ID {
		return RequestedReset{}, twofold.Errorf(twofold.CodeForbidden, "you cannot reset your own two-factor: another operator can, or use `twofold user reset-two-factor`")
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return RequestedReset{}, err
	}
	if err := s.keyMayActOn(ctx, op, a, "resetting its two-factor", m); err != nil {
		return RequestedReset{}, err
	}
	if a.Suspended {
		// A suspended holder cannot sign in to cancel it, nor withdraw it
		// by using a factor: the waiting period would protect nobody.
		return RequestedReset{}, twofold.Errorf(twofold.CodeConflict, "the account is suspended, so its holder could not cancel a reset: lift the suspension first")
	}
	if op.Key != nil {
		if s.cfg.ResetDelay <= 0 {
			return RequestedReset{}, twofold.Errorf(twofold.CodeForbidden, "this server carries resets of two-factor out at once, and an API key cannot ask for such a reset: an operator signed in with a fresh second factor can")
		}
		told, why, err := s.ResetNotice(ctx, a.ID)
		if err != nil {
			return RequestedReset{}, err
		}
		if !told {
			return RequestedReset{}, twofold.Errorf(twofold.CodeForbidden, "the holder cannot be told of a reset (%s), and an API key cannot ask for one they would not hear of: an operator signed in with a fresh second factor can", why)
		}
	}
	return s.scheduleReset(ctx, a, actor(op), s.cfg.ResetDelay, false, m)
}

// ResetTwoFactorByName asks for a reset of the two-factor of the account
// named username on behalf of whoever runs the command line, which holds the
// database and the master key: no operator account is needed, so that a
// sole operator who lost their phone can be helped. immediately carries it
// out at once instead of after Config.ResetDelay, a reset already waiting
// included.
func (s *Service) ResetTwoFactorByName(ctx context.Context, username string, immediately bool, m Meta) (RequestedReset, error) {
	a, err := s.accountNamed(ctx, username)
	if err != nil {
		return RequestedReset{}, err
	}
	delay := s.cfg.ResetDelay
	if immediately {
		delay = 0
	}
	r, err := s.scheduleReset(ctx, a, byCommandLine, delay, immediately, m)
	r.Username = a.Username
	return r, err
}

// CancelTwoFactorResetByName cancels the reset waiting for the account named
// username, for whoever runs the command line, and returns the account's
// username as stored.
func (s *Service) CancelTwoFactorResetByName(ctx context.Context, username string, m Meta) (string, error) {
	a, err := s.accountNamed(ctx, username)
	if err != nil {
		return "", err
	}
	return a.Username, s.cancelReset(ctx, a.ID, byCommandLine, m)
}

// accountNamed returns the account username names, as at login.
func (s *Service) accountNamed(ctx context.Context, username string) (twofold.Account, error) {
	a, found, _, err := s.accountForLogin(ctx, username)
	if err == nil && !found {
		err = twofold.Errorf(twofold.CodeNotFound, "no account is named %q", username)
	}
	return a, err
}

// scheduleReset stores a reset of account a's two-factor due after delay,
// and tells the holder in the same transaction: a reset whose notice could
// not be queued is not stored. The addresses an operator replaced on the
// account within ReplacedEmailKeep are told too, in the same way. With
// delay zero it is carried out in that transaction too. replace takes the
// place of a reset already waiting.
func (s *Service) scheduleReset(ctx context.Context, a twofold.Account, by string, delay time.Duration, replace bool, m Meta) (RequestedReset, error) {
	enabled, err := s.twoFactorEnabled(ctx, a.ID)
	if err != nil {
		return RequestedReset{}, err
	}
	if !enabled {
		return RequestedReset{}, twofold.Errorf(twofold.CodeInvalid, "this account has no two-factor to reset")
	}
	if a.Suspended {
		// The store refuses it too (AddTwoFactorReset), for a suspension
		// made meanwhile; said here as what it is.
		return RequestedReset{}, twofold.Errorf(twofold.CodeConflict, "the account is suspended, so its holder could not cancel a reset: lift the suspension first")
	}
	if !replace {
		// Said as what it is, with when it falls due and what to do,
		// rather than the store's refusal, which cannot tell it from a
		// suspension.
		w, found, err := s.store.TwoFactorReset(ctx, a.ID)
		if err != nil {
			return RequestedReset{}, err
		}
		if found {
			what := "cancel it first to ask for another"
			if by == byCommandLine {
				what = "--now carries it out at once, --cancel cancels it"
			}
			return RequestedReset{}, twofold.Errorf(twofold.CodeConflict, "a reset of this account's two-factor is already waiting, due %s: %s",
				w.Due.UTC().Format(time.RFC3339), what)
		}
	}
	now := s.Now()
	r := twofold.TwoFactorReset{AccountID: a.ID, RequestedBy: by, RequestedAt: now, Due: now.Add(delay)}
	var former []twofold.ReplacedEmail
	replacedWithdrawing, withdrawn := false, false
	err = s.inTx(locksAccount(ctx, a.ID), func(ctx context.Context) error {
		withdrawn = false
		if replace {
			w, found, err := s.store.TwoFactorReset(ctx, a.ID)
			if err != nil {
				return err
			}
			replacedWithdrawing = found && w.Withdrawing
			if _, err := s.store.CancelTwoFactorReset(ctx, a.ID); err != nil {
				return err
			}
		}
		if err := s.store.AddTwoFactorReset(ctx, r); err != nil {
			return err
		}
		var err error
		if former, err = s.formerAddresses(ctx, a, now.Add(-s.ReplacedEmailKeep())); err != nil {
			return err
		}
		if delay <= 0 {
			at := ", carried out at once"
			if replacedWithdrawing {
				at += ", in place of a waiting one that a second factor used since was withdrawing"
			}
			s.auditOperator(ctx, a.ID, "two_factor.reset_requested", m, isOperator(by), "by "+by+at, "by "+publicName(by)+at)
			out, err := s.carryOut(ctx, a.ID, m, isOperator(by))
			withdrawn = out == twofold.ResetWithdrawn
			return err
		}
		due := ", due " + r.Due.Format(time.RFC3339)
		s.auditOperator(ctx, a.ID, "two_factor.reset_requested", m, isOperator(by), "by "+by+due, "by "+publicName(by)+due)
		when := r.Due.UTC().Format("2006-01-02 15:04 MST")
		if err := s.tell(ctx, a, "a reset of your two-factor was requested",
			fmt.Sprintf("A reset of two-factor on your account was requested by %s.", publicName(by)),
			fmt.Sprintf("Unless it is cancelled, at %s your authenticators, recovery codes, paper key and SSH keys will be removed and you will be signed out everywhere. Your API keys will not be revoked. You can then sign in with your password alone and set up two-factor again. Signing in with one of your authenticators, a recovery code, the paper key or an SSH key before then withdraws it.", when),
			"If you did not ask for this, sign in now and cancel it on your security page, then change your password."); err != nil {
			return err
		}
		return s.tellFormer(ctx, a, former, true, "a reset of your two-factor was requested after your address was changed", formerFooterWaiting,
			fmt.Sprintf("A reset of two-factor on your account was requested by %s.", publicName(by)),
			fmt.Sprintf("Unless it is cancelled or withdrawn, at %s your authenticators, recovery codes, paper key and SSH keys will be removed: the account will then be protected by its password alone, and the password can be reset by whoever holds the new address. Signing in with one of your authenticators, a recovery code, the paper key or an SSH key before then withdraws the reset.", when))
	})
	if err != nil {
		return RequestedReset{}, err
	}
	out := RequestedReset{TwoFactorReset: r, FormerAddressesTold: len(former), ReplacedWithdrawing: replacedWithdrawing, Withdrawn: withdrawn}
	if s.notifier == nil {
		out.FormerAddressesTold = 0
	}
	if len(former) > 0 {
		out.EmailReplacedAt = former[0].ReplacedAt
	}
	return out, nil
}

// tell queues a notice to account a's holder within the caller's
// transaction and fails it when the notice cannot be queued, for a change
// whose safety rests on the holder hearing of it. An account without an
// email address is told nothing (ResetNotice says so beforehand).
func (s *Service) tell(ctx context.Context, a twofold.Account, subject string, lines ...string) error {
	if s.notifier == nil || a.Email == "" {
		return nil
	}
	if err := s.notifier.Enqueue(ctx, a.Email, s.cfg.Issuer+": "+subject, s.mailBody(a, s.footerText(footerSignIn), lines)); err != nil {
		return fmt.Errorf("queue notice %q: %w", subject, err)
	}
	return nil
}

// byCommandLine names whoever runs the command line (`twofold user
// reset-two-factor`), an operator of the server.
const byCommandLine = "the command line"

// publicName is how a holder is told who asked for a reset: "an operator",
// not an operator's user name, which would tell anyone who reads the
// notice an account worth attacking, nor how the operator asked.
func publicName(by string) string {
	if isOperator(by) || by == byCommandLine {
		return "an operator"
	}
	return by
}

// isOperator reports whether by, who asked for or cancelled a reset,
// names an operator, as actor does.
func isOperator(by string) bool { return strings.HasPrefix(by, "operator ") }

// ResetNotice reports whether the holder of account accountID will hear of
// a reset of their two-factor when it is asked for, or of any other change
// an operator makes to the account (a suspension), and if not, why: the
// waiting period of a reset protects them only if they do.
func (s *Service) ResetNotice(ctx context.Context, accountID string) (told bool, why string, err error) {
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return false, "", err
	}
	switch {
	case a.Email == "":
		return false, "the account has no email address", nil
	case s.notifier == nil || !s.cfg.MailSent:
		return false, "this server sends no email (no --smtp-addr)", nil
	}
	return true, "", nil
}

// ResetNoticeQueued reports whether a notice to the holder of account
// accountID is queued when a reset of their two-factor is asked for, and
// if not, why: for the command line, which queues the notice in the
// database's outbox for the serving instances to send and cannot know
// whether they send mail (their --smtp-addr is not its own). ResetNotice
// answers for a serving instance, which knows.
func (s *Service) ResetNoticeQueued(ctx context.Context, accountID string) (queued bool, why string, err error) {
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return false, "", err
	}
	switch {
	case a.Email == "":
		return false, "the account has no email address", nil
	case s.notifier == nil:
		return false, "no notice is queued", nil
	}
	return true, "", nil
}

// CancelTwoFactorReset cancels the reset waiting for the caller's own
// account. While two-factor is on it needs elevation: the holder who still
// has a factor can stop a reset, a session without one cannot.
func (s *Service) CancelTwoFactorReset(ctx context.Context, a Auth, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return err
	}
	return s.cancelReset(ctx, a.Account.ID, "the account holder", m)
}

// CancelTwoFactorResetFor cancels the reset waiting for account accountID:
// an operator's action, with their own fresh second factor, or an API key's
// with admin resets write (never on an operator's account).
func (s *Service) CancelTwoFactorResetFor(ctx context.Context, op Auth, accountID string, m Meta) error {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "resets", "cancelling a reset"); err != nil {
		return err
	}
	if op.Key != nil {
		a, err := s.store.AccountByID(ctx, accountID)
		if err != nil {
			return err
		}
		if err := s.keyMayActOn(ctx, op, a, "cancelling its reset", m); err != nil {
			return err
		}
	}
	return s.cancelReset(ctx, accountID, actor(op), m)
}

func (s *Service) cancelReset(ctx context.Context, accountID, by string, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		r, found, err := s.store.TwoFactorReset(ctx, accountID)
		if err != nil {
			return err
		}
		if found {
			found, err = s.store.CancelTwoFactorReset(ctx, accountID)
			if err != nil {
				return err
			}
		}
		if !found {
			return twofold.Errorf(twofold.CodeNotFound, "no reset of two-factor is waiting for this account")
		}
		s.auditOperator(ctx, accountID, "two_factor.reset_cancelled", m, isOperator(by),
			"by "+by+"; it was requested by "+r.RequestedBy, "by "+publicName(by)+"; it was requested by "+publicName(r.RequestedBy))
		line := fmt.Sprintf("The reset of two-factor on your account that %s requested was cancelled by %s. Your authenticators, recovery codes, paper key and SSH keys stay as they are.", publicName(r.RequestedBy), publicName(by))
		s.notify(ctx, accountID, "the reset of your two-factor was cancelled", line)
		return s.tellFormerOf(ctx, accountID, r, "the reset of your two-factor was cancelled", line)
	})
}

// tellFormerOf mails the addresses an operator replaced on the account
// that reset r was told to (see scheduleReset) a notice of what became of
// it, after the transaction commits.
func (s *Service) tellFormerOf(ctx context.Context, accountID string, r twofold.TwoFactorReset, subject string, lines ...string) error {
	if s.notifier == nil {
		return nil
	}
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	former, err := s.formerAddresses(ctx, a, r.RequestedAt.Add(-s.ReplacedEmailKeep()))
	if err != nil {
		return err
	}
	return s.tellFormer(ctx, a, former, false, subject, formerFooterDone, lines...)
}

// carryOutReset carries out the account's reset if it is due, reporting
// whether it did; see carryOut.
func (s *Service) carryOutReset(ctx context.Context, accountID string, m Meta) (twofold.ResetOutcome, error) {
	var out twofold.ResetOutcome
	err := s.inTx(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.carryOut(ctx, accountID, m, false)
		return err
	})
	return out, err
}

// carryOut, inside a transaction, carries out the account's reset if it is
// due: the factors, recovery codes and paper key go, every session ends,
// the second-factor counters are cleared, and the holder is told. When a
// factor, recovery code, SSH key or the paper key of the account passed a check since the request (the paper key by its paper_key.used event),
// the holder has not lost every way in: the reset is withdrawn instead. Of
// concurrent callers on any instances exactly one does either. byOperator
// reports whether m is the operator's, whose request carries it out at once.
func (s *Service) carryOut(ctx context.Context, accountID string, m Meta, byOperator bool) (twofold.ResetOutcome, error) {
	r, out, err := s.store.ResetTwoFactor(ctx, accountID, s.Now())
	if err != nil || out == twofold.ResetNotDue {
		return twofold.ResetNotDue, err
	}
	if out == twofold.ResetWithdrawn {
		s.auditOperator(ctx, accountID, "two_factor.reset_cancelled", m, byOperator,
			"withdrawn: a second factor was used after "+r.RequestedBy+" requested it",
			"withdrawn: a second factor was used after "+publicName(r.RequestedBy)+" requested it")
		line := fmt.Sprintf("The reset of two-factor on your account that %s requested was withdrawn, because one of your authenticators, recovery codes, SSH keys or the paper key was used after it was requested. Everything stays as it is.", publicName(r.RequestedBy))
		s.notify(ctx, accountID, "the reset of your two-factor was withdrawn", line, "If you still need the reset, ask again.")
		return out, s.tellFormerOf(ctx, accountID, r, "the reset of your two-factor was withdrawn", line)
	}
	if _, err := s.store.EndSessions(ctx, accountID); err != nil {
		return 0, err
	}
	if _, err := s.store.ResetThrottlePrefix(ctx, "2fa:"+accountID+":"); err != nil {
		return 0, err
	}
	at := " at " + r.RequestedAt.Format(time.RFC3339)
	s.auditOperator(ctx, accountID, "two_factor.reset", m, byOperator, "requested by "+r.RequestedBy+at, "requested by "+publicName(r.RequestedBy)+at)
	done := fmt.Sprintf("As %s requested, your authenticators, recovery codes, paper key and SSH keys were removed, and you were signed out everywhere.", publicName(r.RequestedBy))
	s.warn(ctx, accountID, "two-factor on your account was reset", footerNoRecovery, done, s.keysStillWork(),
		"Sign in with your password and set up two-factor again.")
	return out, s.tellFormerOf(ctx, accountID, r, "two-factor on your account was reset after your address was changed", done,
		"The account is now protected by its password alone until two-factor is set up again.")
}

// carryOutDueResets carries out up to a batch of the resets that are due;
// one that fails is reported and the others go on.
func (s *Service) carryOutDueResets(ctx context.Context) error {
	due, err := s.store.DueTwoFactorResets(ctx, s.Now(), 100)
	if err != nil {
		return err
	}
	var errs []error
	for _, r := range due {
		if _, err := s.carryOutReset(ctx, r.AccountID, Meta{}); err != nil {
			errs = append(errs, fmt.Errorf("two-factor reset of %s: %w", r.AccountID, err))
		}
	}
	return errors.Join(errs...)
}

// resetIfDue carries out the reset of account a if one is due, and returns
// the account as it is now, read after the reset was looked for: a holder
// who signs in at the moment the reset falls due need not wait for the next
// sweep, and a login racing a sweep that carries it out makes its session
// with the account's new epoch.
func (s *Service) resetIfDue(ctx context.Context, a twofold.Account, m Meta) (twofold.Account, error) {
	r, found, err := s.store.TwoFactorReset(ctx, a.ID)
	if err != nil {
		return a, err
	}
	if found && !s.Now().Before(r.Due) {
		if _, err := s.carryOutReset(ctx, a.ID, m); err != nil {
			return a, err
		}
	}
	return s.store.AccountByID(ctx, a.ID)
}

// Locks is what an operator sees of an account's failed-attempt counters.
type Locks struct {
	CodeFailures     int       // consecutive failed codes, the most of the account's code counters
	RecoveryFailures int       // consecutive failed proofs nobody can guess (recovery codes, paper key, SSH and security keys), the most from one address
	PasswordFailures int       // wrong passwords counted, over every address
	PasswordSources  int       // addresses (IPv6: /64s) with wrong passwords counted
	LockedUntil      time.Time // the latest lock of the second step (codes; the others from one address) that still holds, a century away at the hard cap; zero when none does
	// PasswordPausedUntil is the latest pause of passwords from one
	// address that still holds: it stops only that address, not the owner.
	PasswordPausedUntil time.Time
	// PushDenials counts the sign-ins and elevations with a push request
	// denied within PushDenialWindow, which count towards pausing pushes
	// (an unlock forgives them).
	PushDenials int
	// PushPausedUntil is the end of a pause of push requests after repeated
	// denials that still holds; zero when none does.
	PushPausedUntil time.Time
	// CodesCapped is whether the account's code counter is at the hard
	// cap: codes are refused until a recovery proof, a security key or an
	// unlock.
	CodesCapped bool
	// ClaimFailures counts the account's failed claims of hardware tokens
	// in a row; at ClaimCap its claims are refused until one succeeds or
	// an unlock.
	ClaimFailures int
	// ClaimsCapped is whether ClaimFailures is at ClaimCap.
	ClaimsCapped bool
}

// Any reports whether any failure or lock is counted.
func (l Locks) Any() bool {
	return l.CodeFailures > 0 || l.RecoveryFailures > 0 || l.PasswordFailures > 0 || l.ClaimFailures > 0 || !l.LockedUntil.IsZero() || !l.PasswordPausedUntil.IsZero() ||
		l.PushDenials > 0 || !l.PushPausedUntil.IsZero()
}

// locks reads the failed-attempt counters of account a.
func (s *Service) locks(ctx context.Context, a twofold.Account) (Locks, error) {
	var l Locks
	now := s.Now()
	codes, err := s.store.Counters(ctx, "2fa:"+a.ID+":")
	if err != nil {
		return l, err
	}
	pw, err := s.store.Counters(ctx, s.passwordPrefix(a.Username))
	if err != nil {
		return l, err
	}
	for _, c := range codes {
		if c.Key == s.pushKey(a.ID) {
			// Counts pauses, not failed codes.
			if c.LockedUntil.After(now) {
				l.PushPausedUntil = c.LockedUntil
			}
			continue
		}
		switch rest := strings.TrimPrefix(c.Key, "2fa:"+a.ID); {
		case rest == accountKeySuffix || strings.HasPrefix(rest, ":factor:") && !strings.HasSuffix(rest, ":confirm"):
			l.CodeFailures = max(l.CodeFailures, c.Failures)
			l.CodesCapped = l.CodesCapped || rest == accountKeySuffix && c.Failures >= HardCap && c.LockedUntil.After(now)
		case strings.HasPrefix(rest, ":recovery") || strings.HasPrefix(rest, ":webauthn:"):
			// ":recovery" alone: the account-wide counter of before the
			// counters per address; it goes with the next unlock.
			l.RecoveryFailures = max(l.RecoveryFailures, c.Failures)
		case rest == claimKeySuffix:
			l.ClaimFailures, l.ClaimsCapped = c.Failures, c.Failures >= ClaimCap
			continue // claims of hardware tokens: no lock of the second step
		default:
			continue // confirmations of a pending factor: no lock of the second step
		}
		if c.LockedUntil.After(l.LockedUntil) && c.LockedUntil.After(now) {
			l.LockedUntil = c.LockedUntil
		}
	}
	if l.PushDenials, err = s.store.PushDenials(ctx, a.ID, now.Add(-PushDenialWindow)); err != nil {
		return l, err
	}
	for _, c := range pw {
		if c.Failures > 0 {
			l.PasswordFailures += c.Failures
			l.PasswordSources++
		}
		if c.LockedUntil.After(l.PasswordPausedUntil) && c.LockedUntil.After(now) {
			l.PasswordPausedUntil = c.LockedUntil
		}
	}
	return l, nil
}

// ResetDelay is how long an operator's reset of two-factor waits before it
// is carried out.
func (s *Service) ResetDelay() time.Duration { return s.cfg.ResetDelay }
