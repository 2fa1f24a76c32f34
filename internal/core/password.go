package core

import (
	"context"
	"crypto/subtle"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// ChangePassword replaces the caller's password (SPEC §1 story 5) and signs
// the account out everywhere: every other session ends and logins waiting for
// their second step are voided. The caller goes on with the session it gets
// back, which keeps the old one's elevation.
//
// The current password is checked on the same counter as password logins
// from the caller's address, so a stolen session cannot be used to guess it
// faster than a login could. On an account with two-factor on, the session
// must also be elevated. Everything is written in one transaction.
func (s *Service) ChangePassword(ctx context.Context, a Auth, current, next string, m Meta) (token string, expires time.Time, err error) {
	if err := person(a); err != nil {
		return "", time.Time{}, err
	}
	if err := s.requireElevationIfEnabled(ctx, a); err != nil {
		return "", time.Time{}, err
	}
	if err := s.screenPassword(next, a.Account.Username, a.Account.Email); err != nil {
		return "", time.Time{}, twofold.Errorf(twofold.CodeInvalid, "new %s", twofold.ErrorMessage(err)).On("new_password")
	}
	if current == "" {
		return "", time.Time{}, twofold.Errorf(twofold.CodeInvalid, "current password is required").On("current_password")
	}
	if err := s.checkCurrentPassword(ctx, a, current, "password.change_failed", m); err != nil {
		return "", time.Time{}, err
	}
	// Compared only now: before the current password is known to be right,
	// this answer would tell a guesser when a guess was the password.
	if subtle.ConstantTimeCompare([]byte(current), []byte(next)) == 1 {
		return "", time.Time{}, twofold.Errorf(twofold.CodeInvalid, "the new password must differ from the current one").On("new_password")
	}
	hash, err := s.hashPassword(next)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.Now()
	var sess twofold.Session
	err = s.inTx(ctx, func(ctx context.Context) error {
		// Only over the hash that the current password was checked
		// against: of two changes made at once, one wins.
		ok, err := s.store.ReplacePasswordHash(ctx, a.Account.ID, a.Account.PasswordHash, hash)
		if err != nil {
			return err
		}
		if !ok {
			return twofold.Errorf(twofold.CodeConflict, "the password was changed meanwhile: sign in again")
		}
		epoch, err := s.store.EndSessions(ctx, a.Account.ID)
		if err != nil {
			return err
		}
		if token, sess, err = s.newSession(a.Account.ID, epoch, now, a.Session.ElevatedUntil); err != nil {
			return err
		}
		if err := s.store.CreateSession(ctx, sess); err != nil {
			return err
		}
		if err := s.store.DeletePasswordResets(ctx, a.Account.ID); err != nil {
			return err
		}
		s.auditSession(ctx, a.Account.ID, "password.changed", m, "other sessions signed out", sess.ID)
		s.warn(ctx, a.Account.ID, "your password was changed", footerNewPassword,
			"The password of your account was changed, and every other session was signed out.", origin(m), s.keysStillWork())
		return nil
	})
	if err != nil {
		return "", time.Time{}, err
	}
	return token, sess.ExpiresAt, nil
}

// checkCurrentPassword checks the caller's current password before a
// change that a stolen session alone must not make. It counts on the same
// counter as password logins from the caller's address, so that a session
// cannot be used to guess the password faster than a login could; a wrong
// one is recorded as failedEvent.
func (s *Service) checkCurrentPassword(ctx context.Context, a Auth, current, failedEvent string, m Meta) error {
	if current == "" {
		return twofold.Errorf(twofold.CodeInvalid, "current password is required").On("password")
	}
	pwKey := s.passwordKey(a.Account.Username, m.Source)
	slot, err := s.takePasswordSlot(ctx, pwKey)
	if err != nil {
		return err
	}
	defer slot.end()
	ok := false
	if !passwordTooLong(current) {
		var err error
		if ok, err = s.checkPassword(current, a.Account.PasswordHash); err != nil {
			return fmt.Errorf("check password: %w", err)
		}
	}
	if !ok {
		s.audit(ctx, a.Account.ID, failedEvent, m, "wrong current password")
		// 403, not 401: the session is fine, and a client must not drop it.
		return twofold.Errorf(twofold.CodeForbidden, "the current password is wrong")
	}
	slot.pass(ctx)
	return nil
}
