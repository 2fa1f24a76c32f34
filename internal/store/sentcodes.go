package store

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// PutSentCode stores c as its factor's code for its scope, replacing the
// one sent for that scope before (SPEC §2: a resend replaces the old code)
// and leaving those of other scopes: a sign-in code asked for by whoever
// knows the password does not void the holder's elevation code.
func (s *Store) PutSentCode(ctx context.Context, c twofold.SentCode) error {
	return putSentCode(ctx, s.conn(ctx), c)
}

func putSentCode(ctx context.Context, q querier, c twofold.SentCode) error {
	_, err := q.ExecContext(ctx, `INSERT INTO sent_codes (factor_id, account_id, method, scope, code_hash, checks_left, created_at, expires_at, requester_hash)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (factor_id, scope) DO UPDATE SET account_id = excluded.account_id, method = excluded.method,
			code_hash = excluded.code_hash, checks_left = excluded.checks_left, created_at = excluded.created_at, expires_at = excluded.expires_at,
			requester_hash = excluded.requester_hash`,
		c.FactorID, c.AccountID, string(c.Method), c.Scope, c.Hash, c.ChecksLeft, micros(c.CreatedAt), micros(c.ExpiresAt), nilIfEmpty(c.RequesterHash))
	if err != nil {
		return fmt.Errorf("store sent code: %w", err)
	}
	return nil
}

// nilIfEmpty is b, or NULL when it is empty: an empty requester hash is
// no requester.
func nilIfEmpty(b []byte) any {
	if len(b) == 0 {
		return nil
	}
	return b
}

// SwapSentCode stores c as PutSentCode does and returns the code it
// replaced (prev, when had), read and replaced in one transaction with the
// row locked, so that a send the gateway then refuses can put exactly that
// code back (RestoreSentCode).
//
// A code with a requester hash (a login's or an elevation's) replaces a
// live one (unexpired at c.CreatedAt, with checks left) only when that one
// was sent to the requester whose secret hashes to resender (a resend);
// while another requester's lives, or one without a requester hash, nothing
// is stored and busyUntil is when it expires. A nil resender is no
// requester. When resender is the requester of a live code of the same
// account and scope (any factor), c is stored under resender instead of
// its own hash (kept): one requester keeps one secret for all the codes
// of a login or an elevation. The account's row is held, so that of
// concurrent sends for one factor and scope, on any instance, one is stored
// and the others see it. A code without a requester hash replaces any.
func (s *Store) SwapSentCode(ctx context.Context, c twofold.SentCode, resender []byte) (prev twofold.SentCode, had, kept bool, busyUntil time.Time, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		prev, had, kept, busyUntil = twofold.SentCode{FactorID: c.FactorID, Scope: c.Scope}, false, false, time.Time{}
		guarded := len(c.RequesterHash) > 0
		if guarded {
			if err := lockAccount(ctx, tx, c.AccountID); err != nil {
				return err
			}
		}
		q := `SELECT account_id, method, code_hash, checks_left, created_at, expires_at, requester_hash FROM sent_codes WHERE factor_id = $1 AND scope = $2`
		if s.dialect == Postgres {
			q += ` FOR UPDATE` // SQLite's one writer runs the transaction alone
		}
		var created, expires int64
		err := tx.QueryRowContext(ctx, q, c.FactorID, c.Scope).Scan(&prev.AccountID, &prev.Method, &prev.Hash, &prev.ChecksLeft, &created, &expires, &prev.RequesterHash)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			prev = twofold.SentCode{}
		case err != nil:
			return fmt.Errorf("select sent code: %w", err)
		default:
			prev.CreatedAt, prev.ExpiresAt, had = fromMicros(created), fromMicros(expires), true
		}
		if guarded && had && prev.ExpiresAt.After(c.CreatedAt) && prev.ChecksLeft > 0 &&
			(len(resender) == 0 || len(prev.RequesterHash) == 0 || subtle.ConstantTimeCompare(prev.RequesterHash, resender) != 1) {
			busyUntil = prev.ExpiresAt
			return nil
		}
		if guarded && len(resender) > 0 {
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM sent_codes WHERE account_id = $1 AND scope = $2
				AND requester_hash = $3 AND expires_at > $4 AND checks_left > 0`, c.AccountID, c.Scope, resender, micros(c.CreatedAt)).Scan(&n); err != nil {
				return fmt.Errorf("select requester's sent codes: %w", err)
			}
			if n > 0 {
				c.RequesterHash, kept = resender, true
			}
		}
		return putSentCode(ctx, tx, c)
	})
	if err != nil || !busyUntil.IsZero() {
		return twofold.SentCode{}, false, false, busyUntil, err
	}
	return prev, had, kept, time.Time{}, nil
}

// RestoreSentCode undoes SwapSentCode after a send that certainly failed:
// it puts prev back (deletes the code when there was none before, had
// false) as it was, checks left and requester included, but only while
// sent, the code that replaced it, is still there; it reports whether it
// did. One conditional statement: a code sent meanwhile by another request
// is left alone, and so is nothing once sent was used.
func (s *Store) RestoreSentCode(ctx context.Context, sent, prev twofold.SentCode, had bool) (bool, error) {
	if !had {
		return s.execOne(ctx, "remove unsent code", `DELETE FROM sent_codes WHERE factor_id = $1 AND scope = $2 AND code_hash = $3`,
			sent.FactorID, sent.Scope, sent.Hash)
	}
	return s.execOne(ctx, "restore sent code", `UPDATE sent_codes SET account_id = $4, method = $5, code_hash = $6, checks_left = $7,
		created_at = $8, expires_at = $9, requester_hash = $10 WHERE factor_id = $1 AND scope = $2 AND code_hash = $3`,
		sent.FactorID, sent.Scope, sent.Hash, prev.AccountID, string(prev.Method), prev.Hash, prev.ChecksLeft,
		micros(prev.CreatedAt), micros(prev.ExpiresAt), nilIfEmpty(prev.RequesterHash))
}

// TakeCodeChecks takes one check from each unexpired code of the account
// sent by method for scope (only factorID's when it is set) that has checks
// left, and returns those codes (with the checks left after this one). Each
// check is taken by one conditional UPDATE, so no code is checked more often
// than it allows however many requests race; the caller compares the hashes
// and uses a match with UseSentCode.
func (s *Store) TakeCodeChecks(ctx context.Context, accountID string, method twofold.Method, scope, factorID string, now time.Time) ([]twofold.SentCode, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `UPDATE sent_codes SET checks_left = checks_left - 1
		WHERE account_id = $1 AND method = $2 AND scope = $3 AND ($4 = '' OR factor_id = $4) AND expires_at > $5 AND checks_left > 0
		RETURNING factor_id, code_hash, checks_left, created_at, expires_at`, accountID, string(method), scope, factorID, micros(now))
	if err != nil {
		return nil, fmt.Errorf("take code checks: %w", err)
	}
	defer rows.Close()
	var out []twofold.SentCode
	for rows.Next() {
		c := twofold.SentCode{AccountID: accountID, Method: method, Scope: scope}
		var created, expires int64
		if err := rows.Scan(&c.FactorID, &c.Hash, &c.ChecksLeft, &created, &expires); err != nil {
			return nil, fmt.Errorf("take code checks: %w", err)
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("take code checks: %w", err)
	}
	return out, nil
}

// UseSentCode uses the factor's code for scope whose hash is hash, if it is
// still there and unexpired at now, and marks the factor used: one
// conditional DELETE, so of concurrent uses of one code exactly one reports
// true, on any number of instances. A code replaced meanwhile is not used,
// nor is one of another scope that happens to be the same.
func (s *Store) UseSentCode(ctx context.Context, factorID, scope string, hash []byte, now time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM sent_codes WHERE factor_id = $1 AND scope = $2 AND code_hash = $3 AND expires_at > $4`,
			factorID, scope, hash, micros(now))
		if err != nil {
			return fmt.Errorf("use sent code: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		ok = true
		var accountID string
		if err := tx.QueryRowContext(ctx, `UPDATE factors SET last_used_at = $1 WHERE id = $2 RETURNING account_id`, micros(now), factorID).Scan(&accountID); err != nil {
			return fmt.Errorf("use sent code: %w", err)
		}
		return noteFactorUse(ctx, tx, accountID, now)
	})
	return ok, err
}

// SentCodes returns the account's stored codes, for tests and diagnostics.
func (s *Store) SentCodes(ctx context.Context, accountID string) ([]twofold.SentCode, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT factor_id, method, scope, code_hash, checks_left, created_at, expires_at, requester_hash
		FROM sent_codes WHERE account_id = $1 ORDER BY factor_id, scope`, accountID)
	if err != nil {
		return nil, fmt.Errorf("select sent codes: %w", err)
	}
	defer rows.Close()
	var out []twofold.SentCode
	for rows.Next() {
		c := twofold.SentCode{AccountID: accountID}
		var created, expires int64
		if err := rows.Scan(&c.FactorID, &c.Method, &c.Scope, &c.Hash, &c.ChecksLeft, &created, &expires, &c.RequesterHash); err != nil {
			return nil, err
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, c)
	}
	return out, rows.Err()
}
