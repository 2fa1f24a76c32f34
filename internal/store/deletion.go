package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// Closing an account (README "Closing an account"): the core locks what the
// rules of a deletion read, checks them, and deletes the account's row, which
// takes every row of the account with it by cascade, leaving a tombstone that
// keeps the username reserved. All of it runs in the caller's transaction.

// LockAccountForDeletion holds, until the transaction ends, the account's row,
// the rows of the accounts with (the deletion's caller, when it is not the
// account itself) and, when the account is an operator, the row of every
// operator, all in the order of their ids, so that two operators' accounts
// deleted at once cannot leave the server without one, and no row of the
// account is added meanwhile (PostgreSQL's foreign-key checks wait for the
// lock). On SQLite the transaction's writer lock holds everything already.
// An unknown account is not-found.
//
// Taking the caller's row in the same order as the others, rather than
// before them, keeps two callers from each holding their own and waiting
// for the other's (LockAccounts): an operator closing their account while
// another closes theirs, or acts on the first's.
//
// Only an operator's deletion locks the other operators (through the
// partial index accounts_operators), and on SQLite nothing is scanned.
func (s *Store) LockAccountForDeletion(ctx context.Context, accountID string, with ...string) error {
	var operator bool
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT operator FROM accounts WHERE id = $1`, accountID).Scan(&operator)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("account")
	}
	if err != nil {
		return fmt.Errorf("select account to delete: %w", err)
	}
	if s.dialect == SQLite {
		return nil
	}
	ids, err := s.lockAccounts(ctx, append([]string{accountID}, with...), operator, "FOR UPDATE")
	if err != nil {
		return err
	}
	if !slices.Contains(ids, accountID) {
		return notFound("account")
	}
	return nil
}

// LockAccounts holds on PostgreSQL, until the transaction ends, the rows of
// the accounts ids as an UPDATE of them would (FOR NO KEY UPDATE), in the
// order of their ids: a write of one account's caller (HoldSession,
// HoldAPIKey hold the caller's row) that goes on to lock another account's
// row takes both first, in that order, so that two such writes acting on
// each other's accounts (two operators each signing the other out) wait
// for one another rather than deadlock. Ids of no account are passed over.
// On SQLite, whose one writer orders transactions anyway, it does nothing.
func (s *Store) LockAccounts(ctx context.Context, ids ...string) error {
	if s.dialect == SQLite {
		return nil
	}
	_, err := s.lockAccounts(ctx, ids, false, "FOR NO KEY UPDATE")
	return err
}

// lockAccounts locks, with lock, the rows of the accounts ids and, with
// operators, of every operator, in the order of their ids, and returns the
// ids it locked. PostgreSQL only.
func (s *Store) lockAccounts(ctx context.Context, ids []string, operators bool, lock string) ([]string, error) {
	q := `SELECT id FROM accounts WHERE id = ANY($1) ORDER BY id ` + lock
	if operators {
		q = `SELECT id FROM accounts WHERE id = ANY($1) OR operator ORDER BY id ` + lock
	}
	return queryAll(ctx, s, "accounts to lock", scanString, q, ids)
}

// CountOperators returns the number of operators' accounts.
func (s *Store) CountOperators(ctx context.Context) (int, error) {
	var n int
	if err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts WHERE operator`).Scan(&n); err != nil {
		return 0, fmt.Errorf("count operators: %w", err)
	}
	return n, nil
}

// SoleOwnedTeams returns, by name, the teams of which the account is the
// only owner. On PostgreSQL it first locks every team the account owns, as
// changes of owners do (lockTeam), in the order of their ids, so that
// another owner cannot step down between this answer and the end of the
// transaction, and two closings of owners of the same teams wait for one
// another rather than deadlock.
func (s *Store) SoleOwnedTeams(ctx context.Context, accountID string) ([]twofold.Team, error) {
	if s.dialect == Postgres {
		if _, err := s.conn(ctx).ExecContext(ctx, `SELECT id FROM teams WHERE id IN
			(SELECT team_id FROM team_members WHERE account_id = $1 AND role = 'owner') ORDER BY id FOR NO KEY UPDATE`, accountID); err != nil {
			return nil, fmt.Errorf("lock owned teams: %w", err)
		}
	}
	return queryAll(ctx, s, "sole-owned teams", func(row interface{ Scan(...any) error }) (twofold.Team, error) { return scanTeam(row) },
		`SELECT `+teamColumns+` FROM teams t JOIN team_members m ON m.team_id = t.id
		WHERE m.account_id = $1 AND m.role = 'owner'
		AND NOT EXISTS (SELECT 1 FROM team_members o WHERE o.team_id = t.id AND o.role = 'owner' AND o.account_id <> $1)
		ORDER BY t.name, t.id`, accountID)
}

// ScrubEvents clears what the account's audit events hold of its holder
// beyond the record itself: the user agent of every event, and the detail,
// both as operators and as the holder read it (holder_detail), of the
// events of the types named (those whose detail holds the holder's masked
// addresses). Their ids, types, times, source addresses and sessions stay.
// The operators' record of the account's failed token claims, an event of
// no account whose detail begins "account ID:", loses its user agent too
// (those stored before such events were written without one), and so do
// the events that the account, as an operator, made on other accounts or
// on none (actor_id; those recorded before migration 0071 are not known).
func (s *Store) ScrubEvents(ctx context.Context, accountID string, clearDetailOf []string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE audit_events SET user_agent = '' WHERE account_id = $1 AND user_agent <> ''`, accountID); err != nil {
		return fmt.Errorf("scrub audit events: %w", err)
	}
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE audit_events SET user_agent = '' WHERE actor_id = $1 AND user_agent <> ''`, accountID); err != nil {
		return fmt.Errorf("scrub audit events: %w", err)
	}
	prefix := "account " + accountID + ":"
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE audit_events SET user_agent = ''
		WHERE account_id = '' AND type = 'token.claim_failed' AND user_agent <> '' AND substr(detail, 1, $2) = $1`, prefix, len(prefix)); err != nil {
		return fmt.Errorf("scrub audit events: %w", err)
	}
	for _, typ := range clearDetailOf {
		if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE audit_events SET detail = '', holder_detail = NULL WHERE account_id = $1 AND type = $2`, accountID, typ); err != nil {
			return fmt.Errorf("scrub audit events: %w", err)
		}
	}
	return nil
}

// DeleteAccount deletes the account's row, and by cascade every row that
// refers to it, and leaves a tombstone in its place that keeps its username
// reserved (CreateAccount refuses it). An unknown account is not-found.
func (s *Store) DeleteAccount(ctx context.Context, accountID string, now time.Time) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `INSERT INTO deleted_accounts (account_id, username, username_key, deleted_at)
			SELECT id, username, LOWER(username), $2 FROM accounts WHERE id = $1`, accountID, micros(now))
		if n, err := rowsAffected(res, err); err != nil {
			return err
		} else if n == 0 {
			return notFound("account")
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM accounts WHERE id = $1`, accountID)
		if n, err := rowsAffected(res, err); err != nil {
			return err
		} else if n == 0 {
			return notFound("account")
		}
		return nil
	})
	if err != nil && twofold.ErrorCode(err) == twofold.CodeInternal {
		err = fmt.Errorf("delete account: %w", err)
	}
	return err
}

// AccountRows counts, table by table, the rows that refer to the account:
// in every column named account_id and every column with a foreign key to
// accounts, found in the schema itself, so that a table added later is
// counted too. It is for the check that a deleted account leaves nothing
// behind but its tombstone and audit events.
func (s *Store) AccountRows(ctx context.Context, accountID string) (map[string]int, error) {
	refs, err := s.accountColumns(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, r := range refs {
		var n int
		// Names from the schema, never input; quoted all the same.
		q := `SELECT COUNT(*) FROM "` + strings.ReplaceAll(r[0], `"`, `""`) + `" WHERE "` + strings.ReplaceAll(r[1], `"`, `""`) + `" = $1`
		if err := s.db.QueryRowContext(ctx, q, accountID).Scan(&n); err != nil {
			return nil, fmt.Errorf("count rows of %s.%s: %w", r[0], r[1], err)
		}
		if n > 0 {
			out[r[0]+"."+r[1]] += n
		}
	}
	return out, nil
}

// accountColumns returns the (table, column) pairs that may refer to an
// account: columns named account_id, and columns with a foreign key to
// accounts(id).
func (s *Store) accountColumns(ctx context.Context) ([][2]string, error) {
	var q string
	if s.dialect == Postgres {
		q = `SELECT table_name, column_name FROM information_schema.columns
			WHERE table_schema = current_schema() AND column_name = 'account_id'
			UNION
			SELECT kcu.table_name, kcu.column_name FROM information_schema.referential_constraints rc
			JOIN information_schema.key_column_usage kcu ON kcu.constraint_name = rc.constraint_name AND kcu.constraint_schema = rc.constraint_schema
			JOIN information_schema.constraint_column_usage ccu ON ccu.constraint_name = rc.unique_constraint_name AND ccu.constraint_schema = rc.unique_constraint_schema
			WHERE kcu.table_schema = current_schema() AND ccu.table_name = 'accounts'`
	} else {
		q = `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_info(m.name) p
			WHERE m.type = 'table' AND p.name = 'account_id'
			UNION
			SELECT m.name, f."from" FROM sqlite_master m JOIN pragma_foreign_key_list(m.name) f
			WHERE m.type = 'table' AND f."table" = 'accounts'`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("find account columns: %w", err)
	}
	defer rows.Close()
	var out [][2]string
	for rows.Next() {
		var r [2]string
		if err := rows.Scan(&r[0], &r[1]); err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, rows.Err()
}
