package store

import (
	"context"
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
	_, err := q.ExecContext(ctx, `INSERT INTO sent_codes (factor_id, account_id, method, scope, code_hash, checks_left, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
		ON CONFLICT (factor_id, scope) DO UPDATE SET account_id = excluded.account_id, method = excluded.method,
			code_hash = excluded.code_hash, checks_left = excluded.checks_left, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.FactorID, c.AccountID, string(c.Method), c.Scope, c.Hash, c.ChecksLeft, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store sent code: %w", err)
	}
	return nil
}

// SwapSentCode stores c as PutSentCode does and returns the code it
// replaced (had is false when there was none), read and replaced in one
// transaction with the row locked, so that a send the gateway then refuses
// can put exactly that code back (RestoreSentCode).
func (s *Store) SwapSentCode(ctx context.Context, c twofold.SentCode) (prev twofold.SentCode, had bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		q := `SELECT account_id, method, code_hash, checks_left, created_at, expires_at FROM sent_codes WHERE factor_id = $1 AND scope = $2`
		if s.dialect == Postgres {
			q += ` FOR UPDATE` // SQLite's one writer runs the transaction alone
		}
		prev, had = twofold.SentCode{FactorID: c.FactorID, Scope: c.Scope}, true
		var created, expires int64
		err := tx.QueryRowContext(ctx, q, c.FactorID, c.Scope).Scan(&prev.AccountID, &prev.Method, &prev.Hash, &prev.ChecksLeft, &created, &expires)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			prev, had = twofold.SentCode{}, false
		case err != nil:
			return fmt.Errorf("select sent code: %w", err)
		default:
			prev.CreatedAt, prev.ExpiresAt = fromMicros(created), fromMicros(expires)
		}
		return putSentCode(ctx, tx, c)
	})
	if err != nil {
		return twofold.SentCode{}, false, err
	}
	return prev, had, nil
}

// RestoreSentCode undoes SwapSentCode after a send that certainly failed:
// it puts prev back (deletes the code when there was none before, had
// false) as it was, checks left included, but only while sent, the code that
// replaced it, is still there; it reports whether it did. One conditional
// statement: a code sent meanwhile by another request is left alone, and so
// is nothing once sent was used.
func (s *Store) RestoreSentCode(ctx context.Context, sent, prev twofold.SentCode, had bool) (bool, error) {
	if !had {
		return s.execOne(ctx, "remove unsent code", `DELETE FROM sent_codes WHERE factor_id = $1 AND scope = $2 AND code_hash = $3`,
			sent.FactorID, sent.Scope, sent.Hash)
	}
	return s.execOne(ctx, "restore sent code", `UPDATE sent_codes SET account_id = $4, method = $5, code_hash = $6, checks_left = $7,
		created_at = $8, expires_at = $9 WHERE factor_id = $1 AND scope = $2 AND code_hash = $3`,
		sent.FactorID, sent.Scope, sent.Hash, prev.AccountID, string(prev.Method), prev.Hash, prev.ChecksLeft,
		micros(prev.CreatedAt), micros(prev.ExpiresAt))
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
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT factor_id, method, scope, code_hash, checks_left, created_at, expires_at
		FROM sent_codes WHERE account_id = $1 ORDER BY factor_id, scope`, accountID)
	if err != nil {
		return nil, fmt.Errorf("select sent codes: %w", err)
	}
	defer rows.Close()
	var out []twofold.SentCode
	for rows.Next() {
		c := twofold.SentCode{AccountID: accountID}
		var created, expires int64
		if err := rows.Scan(&c.FactorID, &c.Method, &c.Scope, &c.Hash, &c.ChecksLeft, &created, &expires); err != nil {
			return nil, err
		}
		c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
		out = append(out, c)
	}
	return out, rows.Err()
}
