package core

import (
	"context"
	"time"

	"github.com/twofold/twofold"
)

// SetupTTL is how long a first-run setup link works. A start of a server on
// a database without accounts prints a new one unless one made less than
// SetupTTL ago still works (NewSetupToken).
const SetupTTL = 24 * time.Hour

// errSetupClosed is the one answer for a wrong, used or outdated setup link.
func errSetupClosed() error {
	return twofold.Errorf(twofold.CodeNotFound, "this setup link is not valid: it was already used, an account exists, or it is older than a day (restart the server for a new one)")
}

// NewSetupToken returns a one-time token for creating the first operator
// account (SPEC §4: `twofold serve` on an empty database prints a link).
// Only the token's hash is stored; a token works for SetupTTL, and every
// token stops working once the first account exists.
//
// One link is offered at a time: when a token made less than SetupTTL ago
// still works (another instance on the same database, or an earlier start,
// printed its link), no token is made, and offeredUntil says until when
// that one works. Both are empty when an account exists already.
func (s *Service) NewSetupToken(ctx context.Context) (token string, offeredUntil time.Time, err error) {
	has, err := s.store.HasAccounts(ctx)
	if err != nil || has {
		return "", time.Time{}, err
	}
	token, err = s.randomString(32)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.Now()
	since := now.Add(-SetupTTL)
	ok, err := s.store.AddSetupToken(ctx, s.hasher.Sum("setup", token), now, since)
	if err != nil || ok {
		return token, time.Time{}, err
	}
	at, err := s.store.SetupOffered(ctx, since)
	if err != nil || at.IsZero() {
		// An account was made meanwhile.
		return "", time.Time{}, err
	}
	return "", at.Add(SetupTTL), nil
}

// SetupOpen reports whether a first-run setup link works now: no account
// exists and a link was made less than SetupTTL ago. Once an account was
// made, by whatever way, none works again (Store.CreateAccount), even with
// every account deleted since: until a server starts again and prints a
// new one.
func (s *Service) SetupOpen(ctx context.Context) (bool, error) {
	at, err := s.store.SetupOffered(ctx, s.Now().Add(-SetupTTL))
	return !at.IsZero(), err
}

// CheckSetupToken returns nil when token may still create the first account.
func (s *Service) CheckSetupToken(ctx context.Context, token string) error {
	if token == "" || len(token) > 128 {
		return errSetupClosed()
	}
	ok, err := s.store.SetupTokenValid(ctx, s.hasher.Sum("setup", token), s.Now().Add(-SetupTTL))
	if err != nil {
		return err
	}
	if !ok {
		return errSetupClosed()
	}
	return nil
}

// CompleteSetup creates the first account, an operator, with a setup token.
// It succeeds once: afterwards every setup token is void.
func (s *Service) CompleteSetup(ctx context.Context, token string, n NewAccount, m Meta) (twofold.Account, error) {
	if err := s.CheckSetupToken(ctx, token); err != nil {
		return twofold.Account{}, err
	}
	n.Operator = true
	a, err := s.newAccount(n)
	if err != nil {
		return twofold.Account{}, err
	}
	ok, err := s.store.CreateFirstAccount(ctx, s.hasher.Sum("setup", token), s.Now().Add(-SetupTTL), a)
	if err != nil {
		return twofold.Account{}, err
	}
	if !ok {
		return twofold.Account{}, errSetupClosed()
	}
	s.audit(ctx, a.ID, "account.created", m, "first operator, by the setup link")
	return a, nil
}
