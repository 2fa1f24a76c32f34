package core

import (
	"context"
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
// account's authenticators, recovery codes and paper key are removed,
// two-factor is no longer required, every session ends, and the holder signs
// in with the password alone and sets up two-factor again.

// DefaultResetDelay is how long an operator's reset of two-factor waits
// before it is carried out, unless configured otherwise.
const DefaultResetDelay = 72 * time.Hour

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
// and the holder is told. A reset already waiting is a conflict.
func (s *Service) RequestTwoFactorReset(ctx context.Context, op Auth, accountID string, m Meta) (twofold.TwoFactorReset, error) {
	if err := s.requireOperatorElevation(ctx, op, "resetting two-factor"); err != nil {
		return twofold.TwoFactorReset{}, err
	}
	if accountID == op.Account.ID {
		return twofold.TwoFactorReset{}, twofold.Errorf(twofold.CodeForbidden, "you cannot reset your own two-factor: another operator can, or use `twofold user reset-two-factor`")
	}
	return s.scheduleReset(ctx, accountID, "operator "+op.Account.Username, s.cfg.ResetDelay, m)
}

// ResetTwoFactorByName asks for a reset of the two-factor of the account
// named username on behalf of whoever runs the command line, which holds the
// database and the master key: no operator account is needed, so that a
// sole operator who lost their phone can be helped. immediately carries it
// out at once instead of after Config.ResetDelay.
func (s *Service) ResetTwoFactorByName(ctx context.Context, username string, immediately bool, m Meta) (twofold.TwoFactorReset, error) {
	a, err := s.store.AccountByUsername(ctx, username)
	if err != nil {
		return twofold.TwoFactorReset{}, err
	}
	delay := s.cfg.ResetDelay
	if immediately {
		delay = 0
	}
	return s.scheduleReset(ctx, a.ID, "the command line", delay, m)
}

func (s *Service) scheduleReset(ctx context.Context, accountID, by string, delay time.Duration, m Meta) (twofold.TwoFactorReset, error) {
	enabled, err := s.twoFactorEnabled(ctx, accountID)
	if err != nil {
		return twofold.TwoFactorReset{}, err
	}
	if !enabled {
		return twofold.TwoFactorReset{}, twofold.Errorf(twofold.CodeInvalid, "this account has no two-factor to reset")
	}
	now := s.Now()
	r := twofold.TwoFactorReset{AccountID: accountID, RequestedBy: by, RequestedAt: now, Due: now.Add(delay)}
	err = s.inTx(ctx, func(ctx context.Context) error {
		if err := s.store.AddTwoFactorReset(ctx, r); err != nil {
			return err
		}
		if delay <= 0 {
			s.audit(ctx, accountID, "two_factor.reset_requested", m, "by "+by+", to be carried out at once")
			return nil
		}
		s.audit(ctx, accountID, "two_factor.reset_requested", m, "by "+by+", due "+r.Due.Format(time.RFC3339))
		s.notify(ctx, accountID, "a reset of your two-factor was requested",
			fmt.Sprintf("A reset of two-factor on your account was requested by %s.", by),
			fmt.Sprintf("Unless it is cancelled, at %s your authenticators, recovery codes and paper key will be removed and you will be signed out everywhere. You can then sign in with your password alone and set up two-factor again.", r.Due.Format("2006-01-02 15:04 MST")),
			"If you did not ask for this, sign in now and cancel it on your security page, then change your password.")
		return nil
	})
	if err != nil {
		return twofold.TwoFactorReset{}, err
	}
	if delay <= 0 {
		if _, err := s.carryOutReset(ctx, accountID); err != nil {
			return r, err // it stays due: the next sweep carries it out
		}
	}
	return r, nil
}

// CancelTwoFactorReset cancels the reset waiting for the caller's own
// account. While two-factor is on it needs elevation: the holder who still
// has a factor can stop a reset, a session without one cannot.
func (s *Service) CancelTwoFactorReset(ctx context.Context, a Auth, m Meta) error {
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return err
	}
	return s.cancelReset(ctx, a.Account.ID, "the account holder", m)
}

// CancelTwoFactorResetFor cancels the reset waiting for account accountID:
// an operator's action, with their own fresh second factor.
func (s *Service) CancelTwoFactorResetFor(ctx context.Context, op Auth, accountID string, m Meta) error {
	if err := s.requireOperatorElevation(ctx, op, "cancelling a reset"); err != nil {
		return err
	}
	return s.cancelReset(ctx, accountID, "operator "+op.Account.Username, m)
}

func (s *Service) cancelReset(ctx context.Context, accountID, by string, m Meta) error {
	return s.inTx(ctx, func(ctx context.Context) error {
		r, found, err := s.store.TwoFactorReset(ctx, accountID)
		if err != nil {
			return err
		}
		if !found {
			return twofold.Errorf(twofold.CodeNotFound, "no reset of two-factor is waiting for this account")
		}
		if ok, err := s.store.CancelTwoFactorReset(ctx, accountID); err != nil || !ok {
			if err == nil {
				err = twofold.Errorf(twofold.CodeNotFound, "no reset of two-factor is waiting for this account")
			}
			return err
		}
		s.audit(ctx, accountID, "two_factor.reset_cancelled", m, "by "+by+"; it was requested by "+r.RequestedBy)
		s.notify(ctx, accountID, "the reset of your two-factor was cancelled",
			fmt.Sprintf("The reset of two-factor on your account that %s requested was cancelled by %s. Your authenticators, recovery codes and paper key stay as they are.", r.RequestedBy, by))
		return nil
	})
}

// carryOutReset carries out the account's reset if it is due, reporting
// whether it did: the factors, recovery codes and paper key go, every
// session ends, the second-factor counters are cleared, and the holder is
// told. Of concurrent callers on any instances exactly one does it.
func (s *Service) carryOutReset(ctx context.Context, accountID string) (bool, error) {
	var done bool
	err := s.inTx(ctx, func(ctx context.Context) error {
		r, ok, err := s.store.ResetTwoFactor(ctx, accountID, s.Now())
		if err != nil || !ok {
			done = false
			return err
		}
		done = true
		if _, err := s.store.EndSessions(ctx, accountID); err != nil {
			return err
		}
		if _, err := s.store.ResetThrottlePrefix(ctx, "2fa:"+accountID+":"); err != nil {
			return err
		}
		s.audit(ctx, accountID, "two_factor.reset", Meta{}, "requested by "+r.RequestedBy+" at "+r.RequestedAt.Format(time.RFC3339))
		s.notify(ctx, accountID, "two-factor on your account was reset",
			fmt.Sprintf("As %s requested, your authenticators, recovery codes and paper key were removed, and you were signed out everywhere.", r.RequestedBy),
			"Sign in with your password and set up two-factor again.")
		return nil
	})
	return done, err
}

// carryOutDueResets carries out up to a batch of the resets that are due.
func (s *Service) carryOutDueResets(ctx context.Context) error {
	due, err := s.store.DueTwoFactorResets(ctx, s.Now(), 100)
	if err != nil {
		return err
	}
	for _, r := range due {
		if _, err := s.carryOutReset(ctx, r.AccountID); err != nil {
			return fmt.Errorf("two-factor reset of %s: %w", r.AccountID, err)
		}
	}
	return nil
}

// resetIfDue carries out the reset of account a if one is due, and returns
// the account as it is now: a holder who signs in at the moment the reset
// falls due need not wait for the next sweep.
func (s *Service) resetIfDue(ctx context.Context, a twofold.Account) (twofold.Account, error) {
	r, found, err := s.store.TwoFactorReset(ctx, a.ID)
	if err != nil || !found || s.Now().Before(r.Due) {
		return a, err
	}
	if _, err := s.carryOutReset(ctx, a.ID); err != nil {
		return a, err
	}
	// Carried out by this call or, meanwhile, by a sweep: either way the
	// account has a new session epoch.
	return s.store.AccountByID(ctx, a.ID)
}

// Locks is what an operator sees of an account's failed-attempt counters.
type Locks struct {
	CodeFailures     int       // consecutive failed codes, the most of the account's code counters
	RecoveryFailures int       // consecutive failed recovery codes and paper keys
	PasswordFailures int       // wrong passwords counted, over every address
	PasswordSources  int       // addresses (IPv6: /64s) with wrong passwords counted
	LockedUntil      time.Time // the latest lock that still holds; zero when none does
}

// Any reports whether any failure or lock is counted.
func (l Locks) Any() bool {
	return l.CodeFailures > 0 || l.RecoveryFailures > 0 || l.PasswordFailures > 0 || !l.LockedUntil.IsZero()
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
		if strings.HasSuffix(c.Key, ":recovery") {
			l.RecoveryFailures = max(l.RecoveryFailures, c.Failures)
		} else {
			l.CodeFailures = max(l.CodeFailures, c.Failures)
		}
		if c.LockedUntil.After(l.LockedUntil) && c.LockedUntil.After(now) {
			l.LockedUntil = c.LockedUntil
		}
	}
	for _, c := range pw {
		if c.Failures > 0 {
			l.PasswordFailures += c.Failures
			l.PasswordSources++
		}
		if c.LockedUntil.After(l.LockedUntil) && c.LockedUntil.After(now) {
			l.LockedUntil = c.LockedUntil
		}
	}
	return l, nil
}

// ResetDelay is how long an operator's reset of two-factor waits before it
// is carried out.
func (s *Service) ResetDelay() time.Duration { return s.cfg.ResetDelay }
