package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Addresses an operator replaced (README "When every way in is lost: an
// operator's reset"). The waiting period of a reset protects the holder
// only if they hear of it. Someone who talks an operator into a new address
// ("I lost my phone and my mailbox") and then into a reset would be the only
// one told: so the address an operator replaces is kept for a while, and
// every notice of a reset of the account (asked for, carried out, withdrawn,
// cancelled) goes to it too, saying why it comes there and how to stop the
// reset. A holder's own change of address is not kept: it takes the
// password, a fresh second factor when two-factor is on, and a code mailed
// to the new address, so whoever made it could already pass the second
// step and has no use for a reset; and the old address may be one the holder
// gave up, whose next owner should not hear of the account.

// ReplacedEmailStore keeps the addresses an operator replaced.
type ReplacedEmailStore interface {
	// KeepReplacedEmail records that an operator replaced email, the
	// account's address, at at.
	KeepReplacedEmail(ctx context.Context, accountID, email string, at time.Time) error
	// ReplacedEmails returns the account's addresses replaced at or after
	// since, the latest first.
	ReplacedEmails(ctx context.Context, accountID string, since time.Time) ([]twofold.ReplacedEmail, error)
	// PurgeReplacedEmails deletes the addresses replaced before before,
	// but not those of an account whose reset waits.
	PurgeReplacedEmails(ctx context.Context, before time.Time) (int64, error)
}

// MinReplacedEmailKeep is the shortest time an address an operator replaced
// is told of resets of two-factor; ReplacedEmailKeep is longer when the
// reset delay is long.
const MinReplacedEmailKeep = 30 * 24 * time.Hour

// replacedEmailMargin is how much longer than the reset delay an address
// an operator replaced is kept.
const replacedEmailMargin = 7 * 24 * time.Hour

// ReplacedEmailKeep is how long after an operator replaced an address a
// reset of two-factor asked for is still told to it: MinReplacedEmailKeep,
// or the reset delay and 7 days when that is longer. An address is kept
// beyond it while a reset of the account waits, so that the reset's last
// notice reaches every address its first one did.
func (s *Service) ReplacedEmailKeep() time.Duration {
	return max(MinReplacedEmailKeep, s.cfg.ResetDelay+replacedEmailMargin)
}

// formerAddresses returns the addresses an operator replaced on account a
// at or after since, without its address now (set back, perhaps).
func (s *Service) formerAddresses(ctx context.Context, a twofold.Account, since time.Time) ([]twofold.ReplacedEmail, error) {
	rs, err := s.store.ReplacedEmails(ctx, a.ID, since)
	if err != nil {
		return nil, err
	}
	out := rs[:0]
	for _, r := range rs {
		if !strings.EqualFold(r.Email, a.Email) {
			out = append(out, r)
		}
	}
	return out, nil
}

// EmailReplacedAt returns when an operator last replaced the address of
// account accountID within ReplacedEmailKeep, or zero: a reset of
// two-factor asked for soon after is how someone who is not the holder
// would take the account over, so the operator's reset page and answer say
// so.
func (s *Service) EmailReplacedAt(ctx context.Context, accountID string) (time.Time, error) {
	a, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return time.Time{}, err
	}
	rs, err := s.formerAddresses(ctx, a, s.Now().Add(-s.ReplacedEmailKeep()))
	if err != nil || len(rs) == 0 {
		return time.Time{}, err
	}
	return rs[0].ReplacedAt, nil
}

// Footers of the notices of a reset sent to an address an operator
// replaced.
const (
	// formerFooterWaiting ends the notice of a reset that waits.
	formerFooterWaiting = "If you did not ask for the change of address, someone may be taking your account over: before the reset is due, sign in with one of your authenticators, a recovery code, the paper key or an SSH key (that alone withdraws the reset), cancel it on your security page, change your password, and ask your operator to set your address back."
	// formerFooterDone ends the notices of a reset carried out, withdrawn
	// or cancelled.
	formerFooterDone = "If you did not ask for the change of address, someone may be taking your account over: sign in, change your password, and ask your operator at once to set your address back, since whoever holds the new address receives the account's password-reset links."
	// formerFooterSuspended ends the notice of a reset that a suspension
	// of the account cancelled: nobody signs in while it lasts.
	formerFooterSuspended = "If you did not ask for the change of address, someone may be taking your account over: ask your operator at once to set your address back before they lift the suspension, since whoever holds the new address receives the account's password-reset links."
)

// tellFormer mails each of the former addresses of account a (see
// formerAddresses) a notice of a reset of two-factor: why it comes to that
// address, lines, then footer. With strict it is queued in the caller's
// transaction, which fails when it cannot be (as tell); else after the
// transaction commits, a failure only logged (as notify).
func (s *Service) tellFormer(ctx context.Context, a twofold.Account, former []twofold.ReplacedEmail, strict bool, subject, footer string, lines ...string) error {
	if s.notifier == nil || len(former) == 0 {
		return nil
	}
	type notice struct{ to, body string }
	var ns []notice
	to := "another address"
	if a.Email != "" {
		to = hintOf(twofold.FactorEmail, a.Email)
	}
	for _, r := range former {
		why := fmt.Sprintf("This was the email address of your %s account until an operator changed it to %s on %s. Notices of a reset of two-factor on the account still come here until %s, in case that change was not yours.",
			s.cfg.Issuer, to, r.ReplacedAt.UTC().Format("2006-01-02 15:04 MST"), r.ReplacedAt.Add(s.ReplacedEmailKeep()).UTC().Format("2006-01-02"))
		ns = append(ns, notice{r.Email, s.mailBody(a, footer, append([]string{why, ""}, lines...))})
	}
	subject = s.cfg.Issuer + ": " + subject
	if strict {
		for _, n := range ns {
			if err := s.notifier.Enqueue(ctx, n.to, subject, n.body); err != nil {
				return fmt.Errorf("queue notice %q to a former address: %w", subject, err)
			}
		}
		return nil
	}
	send := func(ctx context.Context) {
		for _, n := range ns {
			if err := s.notifier.Enqueue(ctx, n.to, subject, n.body); err != nil {
				s.log.Error("notification not queued", "subject", subject, "err", err)
			}
		}
	}
	if q, ok := ctx.Value(notesKey{}).(*[]func(context.Context)); ok {
		*q = append(*q, send)
	} else {
		send(ctx)
	}
	return nil
}
