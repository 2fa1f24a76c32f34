package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// AddSetupToken stores the hash of a first-run setup token unless a setup
// token made at since or later is stored already or an account exists; it
// reports whether it stored it. Of servers started together on one
// database, one offers the first-run link (SPEC §4): on PostgreSQL the
// statement holds the lock of CreateFirstAccount, as READ COMMITTED would
// let two of them each see no token; on SQLite one statement runs alone.
func (s *Store) AddSetupToken(ctx context.Context, hash []byte, now, since time.Time) (bool, error) {
	var n int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7140002)`); err != nil {
				return fmt.Errorf("lock setup: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO setup_tokens (token_hash, created_at)
SELECT $1, $2 WHERE NOT EXISTS (SELECT 1 FROM setup_tokens WHERE created_at >= $3) AND NOT EXISTS (SELECT 1 FROM accounts)`,
			hash, micros(now), micros(since))
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("insert setup token: %w", err)
	}
	return n == 1, nil
}

// SetupOffered returns when the newest setup token made at since or later
// was made, while no account exists; the zero time when there is none.
func (s *Store) SetupOffered(ctx context.Context, since time.Time) (time.Time, error) {
	var at sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT MAX(created_at) FROM setup_tokens WHERE created_at >= $1 AND NOT EXISTS (SELECT 1 FROM accounts)`,
		micros(since)).Scan(&at)
	if err != nil {
		return time.Time{}, fmt.Errorf("select setup tokens: %w", err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return fromMicros(at.Int64), nil
}

// SetupTokenValid reports whether a setup token with hash, made at since or
// later, exists and no account does yet.
func (s *Store) SetupTokenValid(ctx context.Context, hash []byte, since time.Time) (bool, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM setup_tokens WHERE token_hash = $1 AND created_at >= $2 AND NOT EXISTS (SELECT 1 FROM accounts)`,
		hash, micros(since)).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("select setup token: %w", err)
	}
	return n > 0, nil
}

// CreateFirstAccount creates a, using up the setup token with hash if it was
// made at since or later, only while no account exists; it reports false, writing nothing, otherwise. Every setup
// token is void afterwards. Concurrent calls (from several instances, with
// different tokens) run one after the other, so exactly one account results.
func (s *Store) CreateFirstAccount(ctx context.Context, hash []byte, since time.Time, a twofold.Account) (bool, error) {
	ok := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			// Serialise with other first-account transactions: READ COMMITTED
			// would let two of them each see no account.
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7140002)`); err != nil {
				return fmt.Errorf("lock setup: %w", err)
			}
		}
		// The name of a closed account stays reserved, even once no
		// account is left (DeleteAccount): refused before the token is used.
		var reserved int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM deleted_accounts WHERE username_key = LOWER(CAST($1 AS TEXT))`, a.Username).Scan(&reserved); err != nil {
			return fmt.Errorf("select deleted accounts: %w", err)
		}
		if reserved > 0 {
			return twofold.Errorf(twofold.CodeConflict, "username %q was the name of a closed account: choose another", a.Username)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens WHERE token_hash = $1 AND created_at >= $2`, hash, micros(since))
		if err != nil {
			return fmt.Errorf("use setup token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		res, err = tx.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) SELECT `+accountValues+`
			WHERE NOT EXISTS (SELECT 1 FROM accounts)`,
			a.ID, a.Username, a.Email, a.PasswordHash, a.TwoFactorRequired, a.Operator, micros(a.CreatedAt), a.SessionEpoch, a.Suspended)
		if err != nil {
			return fmt.Errorf("insert first account: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens`); err != nil {
			return fmt.Errorf("delete setup tokens: %w", err)
		}
		ok = true
		return nil
	})
	return ok, err
}
