package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// PutPasswordReset stores a password-reset link beside the account's links
// before, which keep working, and then drops the account's lapsed links and
// all but its newest keep (by creation, ties by id).
func (s *Store) PutPasswordReset(ctx context.Context, r twofold.PasswordReset, keep int) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO password_resets (id, account_id, token_hash, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5)`,
			r.ID, r.AccountID, r.TokenHash, micros(r.CreatedAt), micros(r.ExpiresAt))
		if err != nil {
			return fmt.Errorf("put password reset: %w", err)
		}
		_, err = s.conn(ctx).ExecContext(ctx, `DELETE FROM password_resets WHERE account_id = $1
			AND (expires_at <= $2 OR id NOT IN (SELECT id FROM password_resets WHERE account_id = $1
				ORDER BY created_at DESC, id DESC LIMIT $3))`,
			r.AccountID, micros(r.CreatedAt), keep)
		if err != nil {
			return fmt.Errorf("drop older password resets: %w", err)
		}
		return nil
	})
}

// PasswordReset returns the unexpired password-reset link with id; another
// is not-found.
func (s *Store) PasswordReset(ctx context.Context, id string, now time.Time) (twofold.PasswordReset, error) {
	var r twofold.PasswordReset
	var created, expires int64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT id, account_id, token_hash, created_at, expires_at
		FROM password_resets WHERE id = $1 AND expires_at > $2`, id, micros(now)).
		Scan(&r.ID, &r.AccountID, &r.TokenHash, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return r, notFound("password reset")
	}
	if err != nil {
		return r, fmt.Errorf("select password reset: %w", err)
	}
	r.CreatedAt, r.ExpiresAt = fromMicros(created), fromMicros(expires)
	return r, nil
}

// UsePasswordReset deletes the unexpired link with id and hash, reporting
// whether it did: of any number of callers, one does. The account's other
// links stay: voiding them is the caller's (DeletePasswordResets).
func (s *Store) UsePasswordReset(ctx context.Context, id string, hash []byte, now time.Time) (bool, error) {
	return s.execOne(ctx, "use password reset", `DELETE FROM password_resets WHERE id = $1 AND token_hash = $2 AND expires_at > $3`,
		id, hash, micros(now))
}

// DeletePasswordResets deletes every password-reset link of the account.
func (s *Store) DeletePasswordResets(ctx context.Context, accountID string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM password_resets WHERE account_id = $1`, accountID); err != nil {
		return fmt.Errorf("delete password resets: %w", err)
	}
	return nil
}
