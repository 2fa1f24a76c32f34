package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// replaceRecoveryCodes replaces the account's set under the account's row
// lock: two replacements at once (two tabs, a double submit) then follow
// each other, and the second voids the first's set, where each would
// otherwise delete only the codes it saw and leave both sets working.
func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, accountID string, hashes [][]byte, now time.Time) error {
	if err := lockAccount(ctx, tx, accountID); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE account_id = $1`, accountID); err != nil {
		return fmt.Errorf("delete recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (account_id, code_hash, created_at) VALUES ($1, $2, $3)`,
			accountID, h, micros(now)); err != nil {
			return fmt.Errorf("insert recovery code: %w", err)
		}
	}
	return nil
}

// ReplaceRecoveryCodes voids the account's recovery codes and stores hashes
// as the new set, while the account has an active factor: codes made as
// its last factor is deleted (in another tab) would otherwise outlive
// two-factor, which removed the codes before them (invalid).
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, accountID string, hashes [][]byte, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		if err := hasActiveFactor(ctx, tx, accountID, "enable two-factor before generating recovery codes"); err != nil {
			return err
		}
		return replaceRecoveryCodes(ctx, tx, accountID, hashes, now)
	})
}

// hasActiveFactor returns nil when the account has an active factor, and
// else an invalid error saying msg. The caller holds the account's row
// (lockAccount), which deleting a factor takes too, so that the answer
// stands until the caller's transaction ends; on PostgreSQL the query,
// after the lock, sees what a deletion that held it committed.
func hasActiveFactor(ctx context.Context, tx *sql.Tx, accountID, msg string) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM factors WHERE account_id = $1 AND status = 'active' LIMIT 1`, accountID).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Errorf(twofold.CodeInvalid, "%s", msg)
	}
	if err != nil {
		return fmt.Errorf("select active factor: %w", err)
	}
	return nil
}

// UseRecoveryCode marks the unused code with hash as used, and notes the
// use on the account's waiting reset of two-factor, if any
// (noteFactorUse); false when there is none. The reset is locked first
// (lockReset), in ResetTwoFactor's order.
func (s *Store) UseRecoveryCode(ctx context.Context, accountID string, hash []byte, now time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockReset(ctx, tx, accountID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE account_id = $2 AND code_hash = $3 AND used_at IS NULL`,
			micros(now), accountID, hash)
		n, err := rowsAffected(res, err)
		if err != nil {
			return fmt.Errorf("use recovery code: %w", err)
		}
		if n != 1 {
			return nil
		}
		ok = true
		return noteFactorUse(ctx, tx, accountID, now)
	})
	return ok, err
}

// RecoveryCodesRemaining counts the account's unused recovery codes.
func (s *Store) RecoveryCodesRemaining(ctx context.Context, accountID string) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM recovery_codes WHERE account_id = $1 AND used_at IS NULL`, accountID).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", err)
	}
	return n, nil
}

// PaperKeyHash returns the account's paper key hash, or nil when it has none.
func (s *Store) PaperKeyHash(ctx context.Context, accountID string) ([]byte, error) {
	var h []byte
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT key_hash FROM paper_keys WHERE account_id = $1`, accountID).Scan(&h)
	if err == sql.ErrNoRows {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("select paper key: %w", err)
	}
	return h, nil
}

// PaperKey returns the account's paper key hash and when it was made; a
// nil hash when it has none.
func (s *Store) PaperKey(ctx context.Context, accountID string) (hash []byte, created time.Time, err error) {
	var at int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT key_hash, created_at FROM paper_keys WHERE account_id = $1`, accountID).Scan(&hash, &at)
	if err == sql.ErrNoRows {
		return nil, time.Time{}, nil
	}
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("select paper key: %w", err)
	}
	return hash, fromMicros(at), nil
}

// ReplacePaperKey replaces the account's paper key, made at now, while its
// hash is still old and factorID is one of its active factors, reporting
// whether it did: one statement, so that of two replacements of one key
// at once one does, and a paper key gone with the account's last factor
// is not brought back.
func (s *Store) ReplacePaperKey(ctx context.Context, accountID, factorID string, old, hash []byte, now time.Time) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE paper_keys SET key_hash = $1, created_at = $2
		WHERE account_id = $3 AND key_hash = $4
		AND EXISTS (SELECT 1 FROM factors WHERE id = $5 AND account_id = $3 AND status = 'active')`,
		hash, micros(now), accountID, old, factorID)
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("replace paper key: %w", err)
	}
	return n == 1, nil
}
