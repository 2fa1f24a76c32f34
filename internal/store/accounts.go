package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

const accountColumns = `id, username, email, password_hash, two_factor_required, operator, created_at, session_epoch, suspended`

func scanAccount(row interface{ Scan(...any) error }) (twofold.Account, error) {
	var a twofold.Account
	dest, done := accountFields(&a)
	if err := row.Scan(dest...); err != nil {
		return a, err
	}
	done()
	return a, nil
}

// accountFields returns where the columns of accountColumns are scanned
// to, in their order, for a, and what completes a once they are: for a
// row that holds them beside another table's (HoldAPIKey).
func accountFields(a *twofold.Account) (dest []any, done func()) {
	var created int64
	return []any{&a.ID, &a.Username, &a.Email, &a.PasswordHash, &a.TwoFactorRequired, &a.Operator, &created, &a.SessionEpoch, &a.Suspended},
		func() { a.CreatedAt = fromMicros(created) }
}

// CreateAccount inserts a; a username taken, in any case, is a conflict,
// and so is the name of an account since deleted (DeleteAccount). The check
// below keeps a name off every account's; migration 0047's unique index
// keeps two creations at once from both passing it (PostgreSQL's READ
// COMMITTED), the loser's violation a conflict too.
//
// Every first-run setup token goes with it, in the same transaction: the
// first account ends setup for good, so that a link printed before it does
// not come back to life should every account be deleted later. On
// PostgreSQL it holds the setup lock shared (CreateFirstAccount holds it
// alone): under READ COMMITTED a first-run setup could otherwise miss this
// account while it is inserted but not yet committed, and make a second
// account, an operator, beside it. Creations do not wait for each other.
func (s *Store) CreateAccount(ctx context.Context, a twofold.Account) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.dialect == Postgres {
			if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock_shared(7140002)`); err != nil {
				return fmt.Errorf("lock setup: %w", err)
			}
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO accounts (`+accountColumns+`) SELECT `+accountValues+`
		WHERE NOT EXISTS (SELECT 1 FROM accounts WHERE LOWER(username) = LOWER(CAST($2 AS TEXT)))
		AND NOT EXISTS (SELECT 1 FROM deleted_accounts WHERE username_key = LOWER(CAST($2 AS TEXT)))`,
			a.ID, a.Username, a.Email, a.PasswordHash, a.TwoFactorRequired, a.Operator, micros(a.CreatedAt), a.SessionEpoch, a.Suspended)
		if n, _ := rowsAffected(res, err); isUniqueViolation(err) || (err == nil && n == 0) {
			return twofold.Errorf(twofold.CodeConflict, "username %q is taken, differs from a taken one only in case, or was the name of a closed account", a.Username)
		}
		if err != nil {
			return fmt.Errorf("insert account: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM setup_tokens`); err != nil {
			return fmt.Errorf("delete setup tokens: %w", err)
		}
		return nil
	})
}

// accountValues are the typed parameters $1 to $9 of an INSERT … SELECT
// into accountColumns (PostgreSQL cannot infer their types there).
const accountValues = `CAST($1 AS TEXT), CAST($2 AS TEXT), CAST($3 AS TEXT), CAST($4 AS TEXT), CAST($5 AS BOOLEAN), CAST($6 AS BOOLEAN), CAST($7 AS BIGINT), CAST($8 AS BIGINT), CAST($9 AS BOOLEAN)`

// rowsAffected is res's count, or 0 when the statement failed.
func rowsAffected(res sql.Result, err error) (int64, error) {
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// AccountByUsername returns the account named username.
func (s *Store) AccountByUsername(ctx context.Context, username string) (twofold.Account, error) {
	a, err := scanAccount(s.conn(ctx).QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE username = $1`, username))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("account")
	}
	if err != nil {
		return a, fmt.Errorf("select account: %w", err)
	}
	return a, nil
}

// AccountsByUsernameFold returns the accounts whose username equals username
// ignoring case, as CreateAccount compares them (LOWER on both sides, which
// the index of migration 0012 serves), by id. Since that migration there is
// at most one; a database that held names differing only in case before it
// may return several (migration 0047 marks them case_twin). Which of them a login means is the core's rule.
func (s *Store) AccountsByUsernameFold(ctx context.Context, username string) ([]twofold.Account, error) {
	return queryAll(ctx, s, "accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE LOWER(username) = LOWER(CAST($1 AS TEXT)) ORDER BY id`, username)
}

// AccountByID returns the account with id.
func (s *Store) AccountByID(ctx context.Context, id string) (twofold.Account, error) {
	a, err := scanAccount(s.conn(ctx).QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return a, notFound("account")
	}
	if err != nil {
		return a, fmt.Errorf("select account: %w", err)
	}
	return a, nil
}

// Accounts returns up to limit accounts whose username contains query,
// ignoring case, by username, those after the username after ("" for the
// first): a page of a list that each next page continues from its last
// name. LIKE wildcards in query stand for themselves.
func (s *Store) Accounts(ctx context.Context, query, after string, limit int) ([]twofold.Account, error) {
	// SQLite's LIKE ignores ASCII case and PostgreSQL's does not: LOWER on both
	// sides makes them agree. SQLite has no default LIKE escape: name one.
	return queryAll(ctx, s, "accounts", scanAccount, `SELECT `+accountColumns+` FROM accounts
		WHERE LOWER(username) LIKE LOWER(CAST($1 AS TEXT)) ESCAPE '\' AND username > CAST($3 AS TEXT) ORDER BY username LIMIT $2`,
		"%"+escapeLike(query)+"%", limit, after)
}

// CountAccounts returns the number of accounts.
func (s *Store) CountAccounts(ctx context.Context) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM accounts`).Scan(&n)
	return n, err
}

// HasAccounts reports whether any account exists, without counting them.
func (s *Store) HasAccounts(ctx context.Context) (bool, error) {
	var one int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT 1 FROM accounts LIMIT 1`).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("select accounts: %w", err)
	}
	return true, nil
}

// SetEmail sets the account's email address for an operator, recording at
// as when an operator last changed it; an unknown account is not-found.
func (s *Store) SetEmail(ctx context.Context, accountID, email string, at time.Time) error {
	ok, err := s.execOne(ctx, "update account email", `UPDATE accounts SET email = $1, email_changed_by_operator_at = $2 WHERE id = $3`,
		email, micros(at), accountID)
	if err == nil && !ok {
		return notFound("account")
	}
	return err
}

// EmailChangedByOperatorAt returns when an operator last changed the
// account's address (SetEmail), or zero when none has.
func (s *Store) EmailChangedByOperatorAt(ctx context.Context, accountID string) (time.Time, error) {
	var at sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT email_changed_by_operator_at FROM accounts WHERE id = $1`, accountID).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, notFound("account")
	}
	if err != nil {
		return time.Time{}, fmt.Errorf("select account: %w", err)
	}
	if !at.Valid {
		return time.Time{}, nil
	}
	return fromMicros(at.Int64), nil
}

// SetTwoFactorRequired sets whether login asks for the second step, and
// says whether that changed anything. Turning it on needs an active factor
// (invalid otherwise), checked under the account's row lock: the last
// factor deleted meanwhile turned it off, and it must stay off.
func (s *Store) SetTwoFactorRequired(ctx context.Context, accountID string, required bool) (changed bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if required {
			if err := lockAccount(ctx, tx, accountID); err != nil {
				return err
			}
			if err := hasActiveFactor(ctx, tx, accountID, "confirm an authenticator before requiring two-factor"); err != nil {
				return err
			}
		}
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET two_factor_required = $1 WHERE id = $2 AND two_factor_required <> $1`, required, accountID)
		if err != nil {
			return fmt.Errorf("update account: %w", err)
		}
		if n, _ := res.RowsAffected(); n > 0 {
			changed = true
			return nil
		}
		var one int
		if err := tx.QueryRowContext(ctx, `SELECT 1 FROM accounts WHERE id = $1`, accountID).Scan(&one); errors.Is(err, sql.ErrNoRows) {
			return notFound("account")
		} else if err != nil {
			return fmt.Errorf("find account: %w", err)
		}
		return nil
	})
	return changed, err
}

// exists returns nil when query, which selects one row by key, finds it,
// and else what is not found, named what.
func (s *Store) exists(ctx context.Context, what, query string, args ...any) error {
	var one int
	err := s.conn(ctx).QueryRowContext(ctx, query, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound(what)
	}
	if err != nil {
		return fmt.Errorf("find %s: %w", what, err)
	}
	return nil
}

// IsOperator reports whether the account is an operator now, holding on
// PostgreSQL a shared lock on its row until the transaction ends, so that
// a change of the flag waits for what is decided on it (SQLite's one
// writer orders them anyway). An unknown account is not-found.
func (s *Store) IsOperator(ctx context.Context, accountID string) (bool, error) {
	lock := ""
	if s.dialect != SQLite {
		lock = " FOR SHARE"
	}
	var on bool
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT operator FROM accounts WHERE id = $1`+lock, accountID).Scan(&on)
	if errors.Is(err, sql.ErrNoRows) {
		return false, notFound("account")
	}
	if err != nil {
		return false, fmt.Errorf("select account operator: %w", err)
	}
	return on, nil
}

// SetOperator sets whether the account is an operator, reporting false,
// writing nothing, when it already was as asked.
func (s *Store) SetOperator(ctx context.Context, accountID string, on bool) (bool, error) {
	return s.setAccountFlag(ctx, "operator", accountID, on)
}

// SetSuspended sets whether the account is suspended, reporting false,
// writing nothing, when it already was as asked.
func (s *Store) SetSuspended(ctx context.Context, accountID string, on bool) (bool, error) {
	return s.setAccountFlag(ctx, "suspended", accountID, on)
}

// setAccountFlag sets the account's boolean column to on, reporting false,
// writing nothing, when it already was on. column is a constant of the
// callers, never input.
func (s *Store) setAccountFlag(ctx context.Context, column, accountID string, on bool) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE accounts SET `+column+` = $1 WHERE id = $2 AND `+column+` <> $1`, on, accountID)
	if err != nil {
		return false, fmt.Errorf("update account %s: %w", column, err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// EndSessions signs the account out everywhere: it moves the account's
// session epoch on, so that no session made so far authenticates, voids its
// logins waiting for their second step, deletes the codes sent for them or
// for its sessions' elevations (endSentCodes) and ends the push requests
// sent for them (endPushChallenges), and returns the
// new epoch, for a session made in the same transaction; all in one
// transaction (the caller's, inside InTx). Logins have no
// index by account; they are few, as expired ones are swept every minute,
// and this runs only on a password change, a sign-out everywhere, a
// suspension or a reset.
func (s *Store) EndSessions(ctx context.Context, accountID string) (epoch int64, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `UPDATE accounts SET session_epoch = session_epoch + 1 WHERE id = $1 RETURNING session_epoch`, accountID).Scan(&epoch)
		if errors.Is(err, sql.ErrNoRows) {
			return notFound("account")
		}
		if err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM logins WHERE account_id = $1 AND used_at IS NULL`, accountID); err != nil {
			return fmt.Errorf("end sessions: %w", err)
		}
		if err := endSentCodes(ctx, tx, accountID, ""); err != nil {
			return err
		}
		return endPushChallenges(ctx, tx, accountID, "")
	})
	if err != nil {
		return 0, err
	}
	return epoch, nil
}

// endSentCodes deletes the account's sent codes of a login or of a
// session's elevation, but those for the elevation of session keepID (when
// set): the logins and sessions they were sent for are ending, and a code
// mail still in the outbox is dropped unsent once its code is gone
// (ClaimMail), so that a suspended holder, or one whose password changed,
// is mailed no sign-in code for a login that was voided.
func endSentCodes(ctx context.Context, tx *sql.Tx, accountID, keepID string) error {
	keep := ""
	if keepID != "" {
		keep = "elevate:" + keepID
	}
	_, err := tx.ExecContext(ctx, `DELETE FROM sent_codes
		WHERE account_id = $1 AND (scope LIKE 'login:%' OR scope LIKE 'elevate:%') AND scope <> $2`, accountID, keep)
	if err != nil {
		return fmt.Errorf("end sent codes: %w", err)
	}
	return nil
}

// endPushChallenges ends the account's push requests still waiting for
// the device's answer or approved and not yet used, but those for the
// elevation of session keepID (when set): they were sent for the second
// step of a login or a session's elevation, and the logins and sessions
// are ending. Every push request is for one or the other. Ended, a request
// is no longer shown to the device, nor answered, nor used.
func endPushChallenges(ctx context.Context, tx *sql.Tx, accountID, keepID string) error {
	keep := ""
	if keepID != "" {
		keep = "elevate:" + keepID
	}
	_, err := tx.ExecContext(ctx, `UPDATE push_challenges SET status = 'ended'
		WHERE account_id = $1 AND status IN ('pending', 'approved') AND scope <> $2`, accountID, keep)
	if err != nil {
		return fmt.Errorf("end push challenges: %w", err)
	}
	return nil
}

// EndOtherSessions signs the account out everywhere but in session
// keepID, made in the same transaction by a sign-in that took the recovery
// path: when the account's session epoch is still epoch (the one keepID
// was made with), it moves the epoch on, so that no other session made so
// far authenticates on any instance, moves keepID to the new epoch, and
// voids the account's logins waiting for their second step, ending the
// push requests sent for them or for the other sessions. It reports
// false, writing nothing, when the epoch has moved on meanwhile (signed out
// everywhere since the password was checked): then keepID does not work
// either. The other sessions' rows stay, as EndSessions leaves them, until
// they expire: they no longer authenticate, and SessionsOfEpoch counts
// them in the same transaction.
func (s *Store) EndOtherSessions(ctx context.Context, accountID string, epoch int64, keepID string) (ok bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE accounts SET session_epoch = session_epoch + 1 WHERE id = $1 AND session_epoch = $2`, accountID, epoch)
		if err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		ok = true
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET session_epoch = $1 WHERE id = $2`, epoch+1, keepID); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM logins WHERE account_id = $1 AND used_at IS NULL`, accountID); err != nil {
			return fmt.Errorf("end other sessions: %w", err)
		}
		if err := endSentCodes(ctx, tx, accountID, keepID); err != nil {
			return err
		}
		return endPushChallenges(ctx, tx, accountID, keepID)
	})
	if err != nil {
		return false, err
	}
	return ok, nil
}

// SessionsOfEpoch counts the account's sessions of epoch that are
// unexpired at now: once the epoch has moved on, those it signed out. It
// reads the account's live sessions alone, by the index of sessions by
// account and expiry (migration 0082): inside the transaction of a
// sign-in on the recovery path (on SQLite on the writer, which it holds
// for that one read), outside one from the read pool.
func (s *Store) SessionsOfEpoch(ctx context.Context, accountID string, epoch int64, now time.Time) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, sessionsOfEpochSQL, accountID, epoch, micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sessions: %w", err)
	}
	return n, nil
}

const sessionsOfEpochSQL = `SELECT COUNT(*) FROM sessions WHERE account_id = $1 AND session_epoch = $2 AND expires_at > $3`

// SignedIn counts what EndSessions would end at now: the account's
// sessions of its session epoch and its logins of that epoch waiting for
// their second step, unexpired. Inside a transaction that holds the
// account's row (LockAccount), it counts what such a write then finds.
func (s *Store) SignedIn(ctx context.Context, accountID string, now time.Time) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, signedInSQL, accountID, micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count sign-ins: %w", err)
	}
	return n, nil
}

const signedInSQL = `SELECT
	(SELECT COUNT(*) FROM sessions s, accounts a WHERE a.id = $1 AND s.account_id = a.id AND s.session_epoch = a.session_epoch AND s.expires_at > $2) +
	(SELECT COUNT(*) FROM logins l, accounts a WHERE a.id = $1 AND l.account_id = a.id AND l.session_epoch = a.session_epoch AND l.used_at IS NULL AND l.expires_at > $2)`

// ReplacePasswordHash replaces the account's password hash old with hash; it
// reports false, writing nothing, when the hash is no longer old (changed
// meanwhile), so that a change is never lost to another made from an older
// read.
func (s *Store) ReplacePasswordHash(ctx context.Context, accountID, old, hash string) (bool, error) {
	return s.execOne(ctx, "update account", `UPDATE accounts SET password_hash = $1 WHERE id = $2 AND password_hash = $3`, hash, accountID, old)
}

// PasswordParamsInUse returns, once each, the parameter fields
// ("m=19456,t=2,p=1") of the accounts' Argon2id password hashes in PHC form
// ("$argon2id$v=19$m=…,t=…,p=…$salt$hash"); hashes of another form are
// passed over. It reads every account, so it is for now and then (a
// server's start, a sweep), never for a login.
func (s *Store) PasswordParamsInUse(ctx context.Context) ([]string, error) {
	field := `split_part(substr(password_hash, 16), $2, 1)`
	if s.dialect == SQLite {
		field = `substr(password_hash, 16, instr(substr(password_hash, 16), $2) - 1)`
	}
	// The prefix is 15 characters long: the field starts at the 16th.
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT DISTINCT `+field+` FROM accounts WHERE password_hash LIKE $1`,
		phcPrefix+"%$%$%", "$")
	if err != nil {
		return nil, fmt.Errorf("select password parameters: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			return nil, fmt.Errorf("scan password parameters: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select password parameters: %w", err)
	}
	return out, nil
}

// phcPrefix starts every Argon2id hash that credhash makes (version 19).
const phcPrefix = "$argon2id$v=19$"

// likeEscaper escapes LIKE's wildcards and its escape character (\).
var likeEscaper = strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)

// escapeLike makes s match itself in a LIKE pattern with ESCAPE '\'.
func escapeLike(s string) string { return likeEscaper.Replace(s) }
