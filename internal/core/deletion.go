package core

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/permit"
)

// Closing an account (README "Closing an account"): its holder closes it,
// with the password and, with two-factor on, a fresh second factor (SPEC §1
// story 5); or an operator does, with their own fresh second factor. In one
// transaction the account's row goes, and with it every row of the account
// (factors and their secrets, phone numbers, recovery codes, paper key,
// sessions, logins waiting, API keys and their tokens, SSH keys, push
// devices, security keys, resets, password-reset links, changes of address,
// codes sent, invitations and memberships); its username stays reserved by
// a tombstone, so that a newcomer never inherits what still names it; its
// audit events stay, the operator's record, without the user agents and
// the holder's masked addresses. The holder is mailed a notice.
//
// Nothing is deleted that others rely on: an account that is the only owner
// of a team, or that owns DNS zones, or that is the last operator, is
// refused with a conflict that says what to do first.

// AccountDeletionStore is the storage of closing accounts; Store includes it.
type AccountDeletionStore interface {
	// LockAccountForDeletion holds the account's row, those of the
	// accounts with, and every operator's when the account is one, in the
	// order of their ids, until the transaction ends; an unknown account
	// is not-found.
	LockAccountForDeletion(ctx context.Context, accountID string, with ...string) error
	CountOperators(ctx context.Context) (int, error)
	// SoleOwnedTeams returns the teams of which the account is the only
	// owner, locked until the transaction ends.
	SoleOwnedTeams(ctx context.Context, accountID string) ([]twofold.Team, error)
	// ScrubEvents clears the user agents of the account's audit events,
	// and of the events it made as an operator (twofold.AuditEvent.ActorID),
	// and the details of the account's events of the types named.
	ScrubEvents(ctx context.Context, accountID string, clearDetailOf []string) error
	// DeleteAccount deletes the account with every row of it, leaving a
	// tombstone that keeps its username reserved.
	DeleteAccount(ctx context.Context, accountID string, now time.Time) error
}

// scrubbedDetails are the audit events whose details hold the holder's own
// (masked) email addresses: cleared when the account is closed. Other
// details name ids, teams, keys and who acted: the record itself.
var scrubbedDetails = []string{"account.email_change_requested", "account.email_changed"}

// DeleteOwnAccount closes the caller's account for good, given its current
// password and, when the account has two-factor, an elevated session, as
// other sensitive changes take (SPEC §1 story 5); never with an API key.
// The password is checked on the same counter as password logins, so that a
// stolen session cannot guess it faster than a login could.
func (s *Service) DeleteOwnAccount(ctx context.Context, a Auth, password string, m Meta) error {
	if err := person(a); err != nil {
		return err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return err
	}
	if err := s.checkCurrentPassword(ctx, a, password, "account.delete_failed", m); err != nil {
		return err
	}
	return s.deleteAccount(ctx, a.Account.ID, byHolder, m)
}

// DeleteAccountFor closes account accountID for good, for an operator with
// an elevated session and two-factor on their own account (as the
// operator's other changes take). An API key never deletes an account: it
// cannot be undone, and a key has no fresh second factor behind it. An
// operator closes their own account as any holder does (DeleteOwnAccount).
func (s *Service) DeleteAccountFor(ctx context.Context, op Auth, accountID string, m Meta) error {
	m = m.by(op)
	if err := s.requireAdminWrite(ctx, op, "users", "deleting an account"); err != nil {
		return err
	}
	if op.Key != nil {
		// On the record of the account it aimed at, as other refusals of
		// keys are, so that operators see a leaked key probing.
		if a, err := s.store.AccountByID(ctx, accountID); err == nil {
			s.keyRefused(ctx, op, a, "deleting the account: API keys never delete accounts", m)
		}
		return twofold.Errorf(twofold.CodeForbidden, "an API key cannot delete an account, which cannot be undone: an operator signed in with a fresh second factor can")
	}
	if accountID == op.Account.ID {
		return twofold.Errorf(twofold.CodeForbidden, "you cannot delete your own account as an operator: close it from your own security settings (DELETE /v1/me)")
	}
	target, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	if target.Operator {
		// As with suspension: one stolen operator session must not rid
		// the server of every other operator.
		return errOperatorNotDeleted()
	}
	return s.deleteAccount(ctx, accountID, actor(op), m)
}

// DeletionBlocked returns the conflict that keeps account accountID from
// being closed now (see deletionBlocked), or nil, for a page that asks to
// confirm a deletion before anything is typed; the caller's own account,
// or any for an operator. The deletion checks again.
func (s *Service) DeletionBlocked(ctx context.Context, a Auth, accountID string) error {
	if accountID != a.Account.ID {
		if err := adminAllowed(a, "users", permit.Read); err != nil {
			return err
		}
	}
	acct, err := s.store.AccountByID(ctx, accountID)
	if err != nil {
		return err
	}
	return s.deletionBlocked(ctx, acct)
}

// deletionBlocked refuses to close account a while others rely on it: as
// the last operator (the server must keep one), as the only owner of a team
// (its members would be left with nobody to manage it), or as the owner of
// DNS zones (which are served, and which only the command line removes).
func (s *Service) deletionBlocked(ctx context.Context, a twofold.Account) error {
	if a.Operator {
		n, err := s.store.CountOperators(ctx)
		if err != nil {
			return err
		}
		if n <= 1 {
			return twofold.Errorf(twofold.CodeConflict, "this is the last operator's account, and the server must keep one: make another account an operator first (`twofold user operator USERNAME`)")
		}
	}
	teams, err := s.store.SoleOwnedTeams(ctx, a.ID)
	if err != nil {
		return err
	}
	if len(teams) > 0 {
		names := make([]string, len(teams))
		for i, t := range teams {
			names[i] = quote(t.Name)
		}
		return twofold.Errorf(twofold.CodeConflict, "the account is the only owner of the team %s: make another member an owner, or delete the team, first", strings.Join(names, ", "))
	}
	zones, err := s.store.Zones(ctx, a.ID)
	if err != nil {
		return err
	}
	if len(zones) > 0 {
		names := make([]string, len(zones))
		for i, z := range zones {
			names[i] = z.Name
		}
		return twofold.Errorf(twofold.CodeConflict, "the account owns the DNS zones %s: an operator removes them first (`twofold dns remove-zone ZONE`)", strings.Join(names, ", "))
	}
	return nil
}

// deleteAccount closes account accountID, by whom by names, in one
// transaction: the rules checked under the locks, the events scrubbed, the
// account and every row of it deleted, account.deleted recorded and the
// holder's notice queued, all or nothing.
func (s *Service) deleteAccount(ctx context.Context, accountID, by string, m Meta) error {
	return s.inTx(deletesAccount(ctx, accountID), func(ctx context.Context) error {
		if err := s.store.LockAccountForDeletion(ctx, accountID); err != nil {
			return err
		}
		a, err := s.store.AccountByID(ctx, accountID) // read under the lock
		if err != nil {
			return err
		}
		if by != byHolder && a.Operator {
			return errOperatorNotDeleted() // made one since DeleteAccountFor looked
		}
		if err := s.deletionBlocked(ctx, a); err != nil {
			return err
		}
		if err := s.store.ScrubEvents(ctx, a.ID, scrubbedDetails); err != nil {
			return err
		}
		if err := s.store.DeleteAccount(ctx, a.ID, s.Now()); err != nil {
			return err
		}
		// The second factor's failure counters are kept past the sweep
		// while they count; with the account gone nothing would end them.
		if _, err := s.store.ResetThrottlePrefix(ctx, "2fa:"+a.ID+":"); err != nil {
			return err
		}
		// Like the account's other events, this one keeps no user agent.
		m.UserAgent = ""
		s.audit(ctx, a.ID, "account.deleted", m, fmt.Sprintf("%s, by %s", a.Username, by))
		return s.tellClosed(ctx, a, by)
	})
}

// byHolder is deleteAccount's by for an account closed by its holder.
const byHolder = "its holder"

func errOperatorNotDeleted() error {
	return twofold.Errorf(twofold.CodeForbidden, "an operator's account is not deleted by another operator: make it no operator first (`twofold user operator USERNAME --remove`), or its holder closes it")
}

// tellClosed queues the notice of its closing to account a's address, in
// the transaction that closes it: the account is gone once it commits, so
// the address is the one read before.
func (s *Service) tellClosed(ctx context.Context, a twofold.Account, by string) error {
	if s.notifier == nil || a.Email == "" {
		return nil
	}
	who := "at your request"
	if by != byHolder {
		who = "by " + publicName(by)
	}
	lines := []string{
		fmt.Sprintf("Your account %q was closed %s. Its authenticators, recovery codes, keys, sessions and settings are deleted, and nobody can sign in to it any more.", a.Username, who),
		"Its name stays reserved: it will not be given to anyone else.",
		"If you did not expect this, contact your operator at once.",
	}
	if err := s.notifier.Enqueue(ctx, a.Email, s.cfg.Issuer+": your account was closed", s.mailBody(a, "", lines)); err != nil {
		return fmt.Errorf("queue notice of closing: %w", err)
	}
	return nil
}
