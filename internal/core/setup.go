package core

import (
	"context"
	"time"

	"github.com/twofold/twofold"
)

// SetupTTL is how long a first-run setup link works. Every start of a server
// on a database without accounts prints a new one.
const SetupTTL = 24 * time.Hour

// errSetupClosed is the one answer for a wrong, used or outdated setup link.
func errSetupClosed() error {
	return twofold.Errorf(twofold.CodeNotFound, "this setup link is not valid: it was already used, an account exists, or it is older than a day (restart the server for a new one)")
}

// NewSetupToken returns a one-time token for creating the first operator
// account (SPEC §4: `twofold serve` on an empty database prints a link), or ""
// when an account exists already. Only the token's hash is stored; a token
// works for SetupTTL, and every token stops working once the first account
// exists.
func (s *Service) NewSetupToken(ctx context.Context) (string, error) {
	has, err := s.store.HasAccounts(ctx)
	if err != nil {
		return "", err
	}
	if has {
		return "", nil
	}
	token, err := s.randomString(32)
	if err != nil {
		return "", err
	}
	if err := s.store.AddSetupToken(ctx, s.hasher.Sum("setup", token), s.Now()); err != nil {
		return "", err
	}
	return token, nil
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
