package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// CreateLogin stores a login transaction waiting for its second step.
func (s *Store) CreateLogin(ctx context.Context, l twofold.Login) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO logins (id, account_id, created_at, expires_at, session_epoch) VALUES ($1, $2, $3, $4, $5)`,
		l.ID, l.AccountID, micros(l.CreatedAt), micros(l.ExpiresAt), l.Epoch)
	if err != nil {
		if isForeignKeyViolation(err) {
			return notFound("account") // deleted meanwhile
		}
		return fmt.Errorf("insert login: %w", err)
	}
	return nil
}

// Login returns the login transaction id.
func (s *Store) Login(ctx context.Context, id string) (twofold.Login, error) {
	var l twofold.Login
	var created, expires int64
	var used sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT id, account_id, created_at, expires_at, used_at, session_epoch FROM logins WHERE id = $1`, id).
		Scan(&l.ID, &l.AccountID, &created, &expires, &used, &l.Epoch)
	if errors.Is(err, sql.ErrNoRows) {
		return l, notFound("login")
	}
	if err != nil {
		return l, fmt.Errorf("select login: %w", err)
	}
	l.CreatedAt, l.ExpiresAt, l.Used = fromMicros(created), fromMicros(expires), used.Valid
	return l, nil
}

// FinishLogin marks an unused, unexpired login used, creates sess and ends
// the push requests sent for the login that still wait for the device's
// answer or are approved and not yet used (endLoginPush), in one
// transaction; it reports false, writing nothing, when the login was
// already used or has expired.
func (s *Store) FinishLogin(ctx context.Context, loginID string, now time.Time, sess twofold.Session) (bool, error) {
	ok := false
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE logins SET used_at = $1, session_id = $3 WHERE id = $2 AND used_at IS NULL AND expires_at > $1`, micros(now), loginID, sess.ID)
		if err != nil {
			return fmt.Errorf("finish login: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		ok = true
		if err := insertSession(ctx, tx, sess); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, endLoginPushSQL, sess.AccountID, "login:"+loginID); err != nil {
			return fmt.Errorf("finish login: end push challenges: %w", err)
		}
		return nil
	})
	return ok, err
}

// endLoginPushSQL ends the push requests of account $1 for scope $2 (a
// login's, "login:" + its id) that still wait for the device's answer or
// are approved and not yet used: the login they were sent for has
// completed, by push or another way, and a request left pending would be
// shown to the device, and could be approved, for nothing (README "Push
// approval"). Found by the index of push requests by account and scope.
const endLoginPushSQL = `UPDATE push_challenges SET status = 'ended'
	WHERE account_id = $1 AND scope = $2 AND status IN ('pending', 'approved')`

// sessionInsertSQL stores a session with its event floor (migration 0069):
// the id of the last audit event stored so far. The event that made the
// session is written after it and gets a greater id, as ids come from the
// database's sequence (AUTOINCREMENT on SQLite), never from a clock.
const sessionInsertSQL = `INSERT INTO sessions (token_hash, id, account_id, created_at, expires_at, elevated_until, session_epoch, event_floor)
	VALUES ($1, $2, $3, $4, $5, $6, $7, ` + eventFloorSQL + `)`

// eventFloorSQL is the id of the last audit event stored, 0 for none: one
// look at the end of the events' primary key.
const eventFloorSQL = `(SELECT COALESCE(MAX(id), 0) FROM audit_events)`

func insertSession(ctx context.Context, q interface {
	ExecContext(context.Context, string, ...any) (sql.Result, error)
}, sess twofold.Session) error {
	_, err := q.ExecContext(ctx, sessionInsertSQL,
		sess.TokenHash, sess.ID, sess.AccountID, micros(sess.CreatedAt), micros(sess.ExpiresAt), micros(sess.ElevatedUntil), sess.Epoch)
	if err != nil {
		return fmt.Errorf("insert session: %w", err)
	}
	return nil
}

// CreateSession stores a session; an account deleted meanwhile is
// not-found.
func (s *Store) CreateSession(ctx context.Context, sess twofold.Session) error {
	err := insertSession(ctx, s.conn(ctx), sess)
	if isForeignKeyViolation(err) {
		return notFound("account")
	}
	return err
}

// Session returns the unexpired session id, with the hash of its token for
// the caller to compare.
func (s *Store) Session(ctx context.Context, id string, now time.Time) (twofold.Session, error) {
	sess := twofold.Session{ID: id}
	dest, done := sessionFields(&sess)
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 AND expires_at > $2`,
		id, micros(now)).Scan(dest...)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Session{}, notFound("session")
	}
	if err != nil {
		return twofold.Session{}, fmt.Errorf("select session: %w", err)
	}
	done()
	return sess, nil
}

// sessionColumns are the columns of a session that Session returns (its
// id is the one asked for).
const sessionColumns = `token_hash, account_id, created_at, expires_at, elevated_until, session_epoch, previous_token_hash, renewed_at`

// sessionFields returns where the columns of sessionColumns are scanned
// to, in their order, for sess, and what completes sess once they are:
// for a row that holds them beside another table's (HoldSession).
func sessionFields(sess *twofold.Session) (dest []any, done func()) {
	var created, expires, elevated, renewed int64
	return []any{&sess.TokenHash, &sess.AccountID, &created, &expires, &elevated, &sess.Epoch, &sess.PreviousTokenHash, &renewed},
		func() {
			sess.CreatedAt, sess.ExpiresAt, sess.ElevatedUntil = fromMicros(created), fromMicros(expires), fromMicros(elevated)
			sess.RenewedAt = fromMicros(renewed)
		}
}

// ElevateSession extends the session's elevation to until.
func (s *Store) ElevateSession(ctx context.Context, sessionID string, until time.Time) error {
	_, err := s.conn(ctx).ExecContext(ctx, `UPDATE sessions SET elevated_until = $1 WHERE id = $2 AND elevated_until < $1`, micros(until), sessionID)
	if err != nil {
		return fmt.Errorf("elevate session: %w", err)
	}
	return nil
}

// RenewSession gives session sessionID the token hash newHash in place of
// oldHash and extends its elevation to elevatedUntil, in one statement, so
// that the token it had stops working the moment the new one works; its ID,
// expiry and epoch stay, and with them what is scoped by its ID; oldHash
// is kept as its previous token hash, and now as when it was renewed. It
// reports false, changing nothing, when the session has expired at now,
// has ended, or no longer has oldHash (renewed meanwhile).
func (s *Store) RenewSession(ctx context.Context, sessionID string, oldHash, newHash []byte, elevatedUntil, now time.Time) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE sessions SET token_hash = $1, previous_token_hash = $4, renewed_at = $5,
		elevated_until = CASE WHEN elevated_until < $2 THEN $2 ELSE elevated_until END
		WHERE id = $3 AND token_hash = $4 AND expires_at > $5`,
		newHash, micros(elevatedUntil), sessionID, oldHash, micros(now))
	if err != nil {
		return false, fmt.Errorf("renew session: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("renew session: %w", err)
	}
	return n == 1, nil
}

// EndSessionByToken removes session sessionID when tokenHash is the hash
// of its token or of the token it had before its last renewal and the
// session still works (not expired at now, not signed out everywhere since
// it began), in one conditional statement, and returns its account; ended
// is false when no session was removed. The push requests and sent codes
// of its elevation end with it (endSession).
func (s *Store) EndSessionByToken(ctx context.Context, sessionID string, tokenHash []byte, now time.Time) (accountID string, ended bool, err error) {
	return s.endSession(ctx, "end session", `id = $1 AND (token_hash = $2 OR previous_token_hash = $2) AND expires_at > $3
		AND session_epoch = (SELECT a.session_epoch FROM accounts a WHERE a.id = sessions.account_id)`, sessionID, tokenHash, micros(now))
}

// endSession removes the session that cond (a condition on the sessions
// table, with args) selects, ends the push requests sent for its
// elevation that are still waiting for the device's answer or approved and
// not yet used, and deletes the codes sent by text or email for its
// elevation, in one transaction: a session signed out on its own leaves
// nothing for the device to show or answer (README "Push approval"), and
// no code that would elevate it (a code mail still in the outbox is then
// dropped unsent, see ClaimMail), as signing out everywhere does
// (endPushChallenges, endSentCodes). On PostgreSQL the session's row is
// taken first, then the requests and codes are ended and the session
// removed: the order in which an elevation of the session takes the rows,
// whose transaction holds the session first, as every transaction of a
// request made with it does (HoldSession), and then uses the push
// approval or the sent code, so that the two never wait for each other.
// It returns the session's account; ended is false when no session was
// removed.
func (s *Store) endSession(ctx context.Context, what, cond string, args ...any) (accountID string, ended bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		accountID, ended = "", false
		if s.dialect != SQLite {
			if _, err := tx.ExecContext(ctx, `SELECT id FROM sessions WHERE `+cond+` FOR UPDATE`, args...); err != nil {
				return fmt.Errorf("%s: lock session: %w", what, err)
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE push_challenges SET status = 'ended'
			WHERE status IN ('pending', 'approved') AND (account_id, scope) IN (SELECT account_id, 'elevate:' || id FROM sessions WHERE `+cond+`)`, args...); err != nil {
			return fmt.Errorf("%s: end push challenges: %w", what, err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sent_codes
			WHERE (account_id, scope) IN (SELECT account_id, 'elevate:' || id FROM sessions WHERE `+cond+`)`, args...); err != nil {
			return fmt.Errorf("%s: end sent codes: %w", what, err)
		}
		err := tx.QueryRowContext(ctx, `DELETE FROM sessions WHERE `+cond+` RETURNING account_id`, args...).Scan(&accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		ended = true
		return nil
	})
	if err != nil {
		return "", false, err
	}
	return accountID, ended, nil
}

// EndRenewedSession removes session sessionID if it still has the token
// hash tokenHash and was last renewed at renewedAt, as read with Session
// (nothing renewed or ended it since), and returns its account; ended is
// false when no session was removed. The caller has compared the token it
// was given with the session's previous hash (in constant time): this
// statement compares only what was read from the row. The push requests
// and sent codes of its elevation end with it (endSession).
func (s *Store) EndRenewedSession(ctx context.Context, sessionID string, tokenHash []byte, renewedAt time.Time) (accountID string, ended bool, err error) {
	if renewedAt.IsZero() {
		return "", false, nil
	}
	return s.endSession(ctx, "end renewed session", `id = $1 AND token_hash = $2 AND renewed_at = $3`, sessionID, tokenHash, micros(renewedAt))
}

// EndLoginSession ends the session the login loginID made as it
// succeeded, when that was after since, and returns its account:
// ended is false when the login made none then, or its session has ended.
// The push requests and sent codes of its elevation end with it
// (endSession).
func (s *Store) EndLoginSession(ctx context.Context, loginID string, since time.Time) (accountID string, ended bool, err error) {
	return s.endSession(ctx, "end login session", `id = (SELECT session_id FROM logins WHERE id = $1 AND session_id <> '' AND used_at > $2)`,
		loginID, micros(since))
}

// DeleteSession removes a session (logout), and ends the push requests
// and sent codes of its elevation (endSession); ended is false when there
// was no such session (it had ended meanwhile).
func (s *Store) DeleteSession(ctx context.Context, sessionID string) (ended bool, err error) {
	_, ended, err = s.endSession(ctx, "delete session", `id = $1`, sessionID)
	return ended, err
}
