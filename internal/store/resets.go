package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

const resetColumns = `account_id, requested_by, requested_at, due_at`

// resetUsedSince is true, in a query on two_factor_resets, when one of the
// account's ways in passed a check after the reset was requested: the
// reset is then withdrawn when it falls due (ResetTwoFactor).
const resetUsedSince = `(two_factor_resets.factor_used_at IS NOT NULL
	OR EXISTS (SELECT 1 FROM factors WHERE account_id = two_factor_resets.account_id AND status = 'active' AND last_used_at > two_factor_resets.requested_at)
	OR EXISTS (SELECT 1 FROM recovery_codes WHERE account_id = two_factor_resets.account_id AND used_at > two_factor_resets.requested_at)
	OR EXISTS (SELECT 1 FROM ssh_keys WHERE account_id = two_factor_resets.account_id AND status = 'active' AND last_used_at > two_factor_resets.requested_at)
	OR EXISTS (SELECT 1 FROM audit_events WHERE account_id = two_factor_resets.account_id AND type = 'paper_key.used' AND at > two_factor_resets.requested_at))`

// resetShownColumns are resetColumns and whether the reset is being
// withdrawn, for scanShownReset.
const resetShownColumns = resetColumns + `, ` + resetUsedSince

func scanReset(row interface{ Scan(...any) error }) (twofold.TwoFactorReset, error) {
	var r twofold.TwoFactorReset
	var at, due int64
	err := row.Scan(&r.AccountID, &r.RequestedBy, &at, &due)
	r.RequestedAt, r.Due = fromMicros(at), fromMicros(due)
	return r, err
}

// scanShownReset scans resetShownColumns.
func scanShownReset(row interface{ Scan(...any) error }) (twofold.TwoFactorReset, error) {
	var r twofold.TwoFactorReset
	var at, due int64
	err := row.Scan(&r.AccountID, &r.RequestedBy, &at, &due, &r.Withdrawing)
	r.RequestedAt, r.Due = fromMicros(at), fromMicros(due)
	return r, err
}

// AddTwoFactorReset stores r; a reset already waiting for the account, or
// a suspended account, is a conflict.
func (s *Store) AddTwoFactorReset(ctx context.Context, r twofold.TwoFactorReset) error {
	// Only for an account not suspended, whose row it shares a lock on
	// (PostgreSQL; SQLite's one writer orders them anyway): a suspension
	// made at the same moment either waits for this reset and then cancels
	// it, or is seen here.
	lock := ""
	if s.dialect != SQLite {
		lock = " FOR SHARE"
	}
	res, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO two_factor_resets (`+resetColumns+`)
		SELECT $1, $2, $3, $4 WHERE EXISTS (SELECT 1 FROM accounts WHERE id = $1 AND NOT suspended`+lock+`)
		ON CONFLICT (account_id) DO NOTHING`, r.AccountID, r.RequestedBy, micros(r.RequestedAt), micros(r.Due))
	n, err := rowsAffected(res, err)
	if err != nil {
		return fmt.Errorf("insert two-factor reset: %w", err)
	}
	if n == 0 {
		return twofold.Errorf(twofold.CodeConflict, "a reset of this account's two-factor is already waiting, or the account is suspended")
	}
	return nil
}

// TwoFactorReset returns the reset waiting for the account; found is false
// when there is none.
func (s *Store) TwoFactorReset(ctx context.Context, accountID string) (r twofold.TwoFactorReset, found bool, err error) {
	r, err = scanShownReset(s.conn(ctx).QueryRowContext(ctx, `SELECT `+resetShownColumns+` FROM two_factor_resets WHERE account_id = $1`, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.TwoFactorReset{}, false, nil
	}
	if err != nil {
		return r, false, fmt.Errorf("select two-factor reset: %w", err)
	}
	return r, true, nil
}

// CancelTwoFactorReset removes the reset waiting for the account, reporting
// false when there was none.
func (s *Store) CancelTwoFactorReset(ctx context.Context, accountID string) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM two_factor_resets WHERE account_id = $1`, accountID)
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("delete two-factor reset: %w", err)
	}
	return n == 1, nil
}

// DueTwoFactorResets returns up to limit resets due at now, the longest due first.
func (s *Store) DueTwoFactorResets(ctx context.Context, now time.Time, limit int) ([]twofold.TwoFactorReset, error) {
	return queryAll(ctx, s, "due two-factor resets", scanReset, `SELECT `+resetColumns+` FROM two_factor_resets WHERE due_at <= $1 ORDER BY due_at LIMIT $2`,
		micros(now), limit)
}

// TwoFactorResets returns up to limit of the resets waiting, the soonest due first.
func (s *Store) TwoFactorResets(ctx context.Context, limit int) ([]twofold.TwoFactorReset, error) {
	return queryAll(ctx, s, "two-factor resets", scanShownReset, `SELECT `+resetShownColumns+` FROM two_factor_resets ORDER BY due_at LIMIT $1`, limit)
}

// resetUsedSQL records on the reset waiting for account $2, if one does,
// that a second factor of the account passed a check at $1. Without a
// waiting reset it matches no row: one look-up of the primary key of a
// table of a few rows, and nothing written.
const resetUsedSQL = `UPDATE two_factor_resets SET factor_used_at = $1 WHERE account_id = $2 AND factor_used_at IS NULL`

// noteFactorUse runs resetUsedSQL on q: every write that records a passed
// check of a second factor (a step accepted, a recovery code, a sent code,
// a security key, a push approval, an SSH key, the paper key) runs it in
// its transaction, so that the evidence ResetTwoFactor goes by outlives
// the rows of the factor, key or codes, which their holder may remove
// before the reset falls due.
func noteFactorUse(ctx context.Context, q querier, accountID string, now time.Time) error {
	if _, err := q.ExecContext(ctx, resetUsedSQL, micros(now), accountID); err != nil {
		return fmt.Errorf("note second-factor use on a waiting reset: %w", err)
	}
	return nil
}

// lockReset, on PostgreSQL, holds the account's waiting reset of two-factor,
// if any, until tx ends. A check of a recovery code or SSH key runs it
// before it writes the code's or key's row: ResetTwoFactor takes the
// reset's row (its DELETE) before it deletes those rows, so the two take
// their locks in one order and never wait for each other (a deadlock
// otherwise, the code's row then the reset's against the reverse). Without
// a waiting reset it locks nothing: one look-up of a primary key. (SQLite
// write transactions are IMMEDIATE, so already serial.)
func (s *Store) lockReset(ctx context.Context, tx *sql.Tx, accountID string) error {
	if s.dialect != Postgres {
		return nil
	}
	rows, err := tx.QueryContext(ctx, `SELECT account_id FROM two_factor_resets WHERE account_id = $1 FOR UPDATE`, accountID)
	if err != nil {
		return fmt.Errorf("lock two-factor reset: %w", err)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("lock two-factor reset: %w", err)
	}
	return nil
}

// NoteFactorUse records on the reset of two-factor waiting for the
// account, if any, that one of its second factors passed a check at now,
// for a check that writes nothing else of its own (the paper key): the
// reset is then withdrawn when it falls due (ResetTwoFactor).
func (s *Store) NoteFactorUse(ctx context.Context, accountID string, now time.Time) error {
	return noteFactorUse(ctx, s.conn(ctx), accountID, now)
}

// ResetTwoFactor carries out the account's reset if it is due at now, in one
// transaction: it takes the reset out of the waiting ones (a conditional
// DELETE, so that of concurrent callers exactly one goes on) and removes the
// account's factors, recovery codes, paper key and SSH keys, with two-factor no longer
// required. A reset is for a holder who has lost every way in: when one of
// the account's second factors passed a check while it waited (recorded on
// the reset by noteFactorUse; for resets asked for before that was
// recorded, as the rows of factors, recovery codes and SSH keys still
// show), the reset is withdrawn instead, and nothing else is written.
//
// On PostgreSQL it first locks, after the account, what the second step
// locks, in the order it does (factors by id, then the logins waiting for
// their second step, then the second-factor counters), so that the two
// never wait for each other; the caller may then end the account's
// sessions and clear its counters in the same transaction.
func (s *Store) ResetTwoFactor(ctx context.Context, accountID string, now time.Time) (r twofold.TwoFactorReset, out twofold.ResetOutcome, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		out = twofold.ResetNotDue
		if err := lockAccount(ctx, tx, accountID); err != nil {
			if twofold.ErrorCode(err) == twofold.CodeNotFound {
				return nil // closed meanwhile, its reset with it
			}
			return err
		}
		if s.dialect == Postgres {
			for _, q := range []struct {
				sql string
				arg string
			}{
				{`SELECT id FROM factors WHERE account_id = $1 ORDER BY id FOR UPDATE`, accountID},
				{`SELECT id FROM logins WHERE account_id = $1 AND used_at IS NULL ORDER BY id FOR UPDATE`, accountID},
				{`SELECT key FROM throttles WHERE key LIKE $1 ESCAPE '\' ORDER BY key FOR UPDATE`, escapeLike("2fa:"+accountID+":") + "%"},
			} {
				rows, err := tx.QueryContext(ctx, q.sql, q.arg)
				if err != nil {
					return fmt.Errorf("lock for two-factor reset: %w", err)
				}
				rows.Close()
				if err := rows.Err(); err != nil {
					return fmt.Errorf("lock for two-factor reset: %w", err)
				}
			}
		}
		r, err = scanReset(tx.QueryRowContext(ctx, `DELETE FROM two_factor_resets WHERE account_id = $1 AND due_at <= $2
			AND NOT `+resetUsedSince+`
			RETURNING `+resetColumns, accountID, micros(now)))
		if errors.Is(err, sql.ErrNoRows) {
			r, err = scanReset(tx.QueryRowContext(ctx, `DELETE FROM two_factor_resets WHERE account_id = $1 AND due_at <= $2 RETURNING `+resetColumns,
				accountID, micros(now)))
			if errors.Is(err, sql.ErrNoRows) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("withdraw two-factor reset: %w", err)
			}
			out = twofold.ResetWithdrawn
			return nil
		}
		if err != nil {
			return fmt.Errorf("take two-factor reset: %w", err)
		}
		out = twofold.ResetDone
		if _, err := tx.ExecContext(ctx, `DELETE FROM factors WHERE account_id = $1`, accountID); err != nil {
			return fmt.Errorf("reset two-factor: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM ssh_keys WHERE account_id = $1`, accountID); err != nil {
			return fmt.Errorf("reset two-factor: %w", err)
		}
		return turnOffTwoFactor(ctx, tx, accountID)
	})
	if err != nil || out == twofold.ResetNotDue {
		return twofold.TwoFactorReset{}, twofold.ResetNotDue, err
	}
	return r, out, nil
}
