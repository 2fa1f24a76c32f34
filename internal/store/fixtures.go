package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Fixtures: bulk writes for the load tool (`twofold bench`) and for tests that
// need many rows. They write rows as given, bypassing the service's rules (no
// validation, no audit events), so they must never serve a request.

// fixtureRows is the most rows one multi-row INSERT carries: 500 factor rows
// of 15 columns are 7,500 parameters, well under SQLite's 32,766 and
// PostgreSQL's 65,535.
const fixtureRows = 500

// InsertFixtures inserts accounts and their factors in one transaction, with
// multi-row INSERTs, skipping every row whose id (or username) already exists,
// so that an interrupted provisioning can simply be run again. Accounts whose
// usernames differ only in case, among them or from stored ones, are written
// as migration 0047 marks such a pair from before migration 0012: case_twin.
func (s *Store) InsertFixtures(ctx context.Context, accounts []twofold.Account, factors []twofold.Factor) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < len(accounts); i += fixtureRows {
			batch := accounts[i:min(i+fixtureRows, len(accounts))]
			twins, err := s.caseTwins(ctx, tx, batch)
			if err != nil {
				return err
			}
			args := make([]any, 0, len(batch)*8)
			for _, a := range batch {
				args = append(args, a.ID, a.Username, a.Email, a.PasswordHash, a.TwoFactorRequired, a.Operator, micros(a.CreatedAt), twins[strings.ToLower(a.Username)])
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO accounts (id, username, email, password_hash, two_factor_required, operator, created_at, case_twin) VALUES `+s.placeholders(len(batch), 8)+
				` ON CONFLICT DO NOTHING`, args...); err != nil {
				return fmt.Errorf("insert accounts: %w", err)
			}
		}
		for i := 0; i < len(factors); i += fixtureRows {
			batch := factors[i:min(i+fixtureRows, len(factors))]
			args := make([]any, 0, len(batch)*15)
			for _, f := range batch {
				args = append(args, f.ID, f.AccountID, f.Type, f.Label, f.Status, f.SecretKeyID, f.SealedSecret, f.Algorithm, f.Digits,
					int64(f.Period/time.Second), f.LastStep, f.Drift, micros(f.CreatedAt), nullMicros(f.ConfirmedAt), nullMicros(f.LastUsedAt))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO factors (id, account_id, type, label, status, secret_key_id, secret, algorithm, digits, period_seconds, last_step, drift, created_at, confirmed_at, last_used_at) VALUES `+s.placeholders(len(batch), 15)+
				` ON CONFLICT DO NOTHING`, args...); err != nil {
				return fmt.Errorf("insert factors: %w", err)
			}
		}
		return nil
	})
}

// caseTwins returns the lower-case usernames that batch would give to
// accounts differing only in case (among themselves or from stored ones),
// and marks the stored ones of them case_twin.
func (s *Store) caseTwins(ctx context.Context, tx *sql.Tx, batch []twofold.Account) (map[string]bool, error) {
	names := map[string]map[string]bool{} // lower case → the spellings
	args := make([]any, 0, len(batch))
	for _, a := range batch {
		k := strings.ToLower(a.Username)
		if names[k] == nil {
			names[k] = map[string]bool{}
			args = append(args, k)
		}
		names[k][a.Username] = true
	}
	rows, err := tx.QueryContext(ctx, `SELECT username FROM accounts WHERE LOWER(username) IN `+s.placeholders(1, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("select usernames: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var u string
		if err := rows.Scan(&u); err != nil {
			return nil, fmt.Errorf("select usernames: %w", err)
		}
		names[strings.ToLower(u)][u] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select usernames: %w", err)
	}
	twins := map[string]bool{}
	var mark []any
	for k, spellings := range names {
		if len(spellings) > 1 {
			twins[k] = true
			mark = append(mark, k)
		}
	}
	if len(mark) > 0 {
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET case_twin = TRUE WHERE LOWER(username) IN `+s.placeholders(1, len(mark)), mark...); err != nil {
			return nil, fmt.Errorf("mark case twins: %w", err)
		}
	}
	return twins, nil
}

// InsertLogins stores login transactions waiting for their second step, in
// one transaction with multi-row INSERTs.
func (s *Store) InsertLogins(ctx context.Context, logins []twofold.Login) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < len(logins); i += fixtureRows {
			batch := logins[i:min(i+fixtureRows, len(logins))]
			args := make([]any, 0, len(batch)*4)
			for _, l := range batch {
				args = append(args, l.ID, l.AccountID, micros(l.CreatedAt), micros(l.ExpiresAt))
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO logins (id, account_id, created_at, expires_at) VALUES `+s.placeholders(len(batch), 4), args...); err != nil {
				return fmt.Errorf("insert logins: %w", err)
			}
		}
		return nil
	})
}

// CountAccountIDs returns how many of ids name an existing account (one
// primary-key lookup each).
func (s *Store) CountAccountIDs(ctx context.Context, ids []string) (int, error) {
	total := 0
	for i := 0; i < len(ids); i += fixtureRows {
		batch := ids[i:min(i+fixtureRows, len(ids))]
		args := make([]any, len(batch))
		for j, id := range batch {
			args[j] = id
		}
		var n int
		if err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id IN `+s.placeholders(1, len(batch)), args...).Scan(&n); err != nil {
			return 0, fmt.Errorf("count accounts: %w", err)
		}
		total += n
	}
	return total, nil
}

// CountAccountsWithIDPrefix returns how many accounts have an id that starts
// with prefix (a scan of the table).
func (s *Store) CountAccountsWithIDPrefix(ctx context.Context, prefix string) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id LIKE $1 ESCAPE '\'`, escapeLike(prefix)+"%").Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count accounts: %w", err)
	}
	return n, nil
}

// FactorsUsedSince returns the last accepted step of every factor whose last
// step is at least step, by factor id (a scan of the table).
func (s *Store) FactorsUsedSince(ctx context.Context, step int64) (map[string]int64, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT id, last_step FROM factors WHERE last_step >= $1`, step)
	if err != nil {
		return nil, fmt.Errorf("select factors: %w", err)
	}
	defer rows.Close()
	out := map[string]int64{}
	for rows.Next() {
		var id string
		var last int64
		if err := rows.Scan(&id, &last); err != nil {
			return nil, err
		}
		out[id] = last
	}
	return out, rows.Err()
}

// placeholders returns rows parenthesised groups of cols placeholders:
// "($1, $2), ($3, $4)" on PostgreSQL, "(?, ?), (?, ?)" on SQLite, where
// numbered parameters cost a search of every earlier one each (quadratic in
// a statement of thousands).
func (s *Store) placeholders(rows, cols int) string {
	var b strings.Builder
	b.Grow(rows * cols * 6)
	n := 1
	for r := 0; r < rows; r++ {
		if r > 0 {
			b.WriteString(", ")
		}
		b.WriteByte('(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				b.WriteString(", ")
			}
			if s.dialect == SQLite {
				b.WriteByte('?')
			} else {
				b.WriteByte('$')
				b.WriteString(strconv.Itoa(n))
			}
			n++
		}
		b.WriteByte(')')
	}
	return b.String()
}

// Analyze refreshes PostgreSQL's planner statistics of the tables fixtures
// fill (accounts, factors, logins, data keys). The others are left alone: a
// table analyzed while empty is planned as empty, so a lookup in it becomes
// a sequential scan, and a cached plan keeps scanning as the table grows
// under load until autovacuum analyzes it again (or never, with autovacuum
// off); a table never analyzed is planned by its size. On SQLite it does
// nothing: there, statistics with bound values make SQLite prepare
// statements again at every execution, and its plans for these lookups need
// none.
func (s *Store) Analyze(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `ANALYZE accounts, factors, logins, data_keys`); err != nil {
		return fmt.Errorf("analyze: %w", err)
	}
	return nil
}

// AccountsBesides returns how many accounts of the database at dsn have an
// id that does not start with prefix, without migrating it or changing
// anything: a tool that provisions accounts of its own (twofold bench)
// asks before Open, which would migrate a database that running servers
// of an older release still use (README "Upgrading"). A database with no
// accounts table yet (new, or a SQLite file not there) has none.
func AccountsBesides(ctx context.Context, dsn, prefix string) (int, error) {
	if !isPostgres(dsn) {
		path, _ := sqlitePath(dsn)
		if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
			return 0, nil
		}
		// As Open: another application's file is left as it is (connect
		// would switch it to WAL mode).
		if err := foreignSQLite(ctx, path); err != nil {
			return 0, fmt.Errorf("%s: %w", dsn, err)
		}
	}
	s, err := connect(dsn, AppName)
	if err != nil {
		return 0, err
	}
	defer s.db.Close()
	var table sql.NullString
	q := `SELECT name FROM sqlite_master WHERE type = 'table' AND name = 'accounts'`
	if s.dialect == Postgres {
		q = `SELECT CAST(to_regclass('accounts') AS TEXT)`
	}
	if err := s.db.QueryRowContext(ctx, q).Scan(&table); err != nil && !errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("look for the accounts table: %w", err)
	}
	if !table.Valid {
		return 0, nil
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE id NOT LIKE $1 ESCAPE '\'`, escapeLike(prefix)+"%").Scan(&n); err != nil {
		return 0, fmt.Errorf("count accounts: %w", err)
	}
	return n, nil
}
