package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// PutEmailChange stores a waiting change of address, replacing the
// account's change before.
func (s *Store) PutEmailChange(ctx context.Context, c twofold.EmailChange) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO email_changes (account_id, email, code_hash, checks_left, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (account_id) DO UPDATE SET email = excluded.email, code_hash = excluded.code_hash,
			checks_left = excluded.checks_left, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.AccountID, c.Email, c.CodeHash, c.ChecksLeft, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("put email change: %w", err)
	}
	return nil
}

// TakeEmailChangeCheck takes one check from the account's unexpired change
// of address that has checks left, and returns it; none is not-found.
func (s *Store) TakeEmailChangeCheck(ctx context.Context, accountID string, now time.Time) (twofold.EmailChange, error) {
	c := twofold.EmailChange{AccountID: accountID}
	var created, expires int64
	err := s.conn(ctx).QueryRowContext(ctx, `UPDATE email_changes SET checks_left = checks_left - 1
		WHERE account_id = $1 AND checks_left > 0 AND expires_at > $2
		RETURNING email, code_hash, checks_left, created_at, expires_at`, accountID, micros(now)).
		Scan(&c.Email, &c.CodeHash, &c.ChecksLeft, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("email change")
	}
	if err != nil {
		return c, fmt.Errorf("take email change check: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, nil
}

// ApplyEmailChange deletes the account's change of address whose code hash
// is hash and gives the account its address, all or nothing; it reports
// false, writing nothing, when that change is gone (used, or replaced).
func (s *Store) ApplyEmailChange(ctx context.Context, accountID string, hash []byte) (email string, ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `DELETE FROM email_changes WHERE account_id = $1 AND code_hash = $2 RETURNING email`, accountID, hash).Scan(&email)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET email = $1 WHERE id = $2`, email, accountID); err != nil {
			return err
		}
		ok = true
		return nil
	})
	if err != nil {
		return "", false, fmt.Errorf("apply email change: %w", err)
	}
	return email, ok, nil
}

// EmailChange returns the account's unexpired change of address; none is
// not-found.
func (s *Store) EmailChange(ctx context.Context, accountID string, now time.Time) (twofold.EmailChange, error) {
	c := twofold.EmailChange{AccountID: accountID}
	var created, expires int64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT email, code_hash, checks_left, created_at, expires_at FROM email_changes
		WHERE account_id = $1 AND expires_at > $2`, accountID, micros(now)).
		Scan(&c.Email, &c.CodeHash, &c.ChecksLeft, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("email change")
	}
	if err != nil {
		return c, fmt.Errorf("select email change: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, nil
}

// DeleteEmailChange deletes the account's waiting change of address, if any.
func (s *Store) DeleteEmailChange(ctx context.Context, accountID string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM email_changes WHERE account_id = $1`, accountID); err != nil {
		return fmt.Errorf("delete email change: %w", err)
	}
	return nil
}
