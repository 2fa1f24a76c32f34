package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// HoldSession returns the session id of account accountID unexpired at
// now, as Session does, and that account, holding on PostgreSQL the
// account's row and then the session's until the transaction ends, so
// that what ends the session waits for what is written for it: signing
// out everywhere, a password change ending the other sessions, a
// suspension and an account's deletion update or delete the account's row
// first, and a sign-out deletes the session's (SQLite's one writer orders
// them anyway). The account is held first, in the order those take the
// two rows.
//
// The account's row is held as an UPDATE of it would hold it (FOR NO KEY
// UPDATE), not merely shared: most of a person's writes go on to update
// or lock the account's row (LockAccount, a factor's activation, a new
// password), and two writes of one account that each shared it and then
// both asked to update it would wait for each other until PostgreSQL ended
// one as a deadlock. So a person's writes of one account run one after
// the other; foreign keys to the account (FOR KEY SHARE) and plain reads
// do not wait. A session ended, expired, or of another account, and an
// account deleted, is not-found.
func (s *Store) HoldSession(ctx context.Context, accountID, id string, now time.Time) (twofold.Session, twofold.Account, error) {
	holdAccount, holdSession := "", ""
	if s.dialect != SQLite {
		holdAccount, holdSession = " FOR NO KEY UPDATE", " FOR SHARE"
	}
	a, err := scanAccount(s.conn(ctx).QueryRowContext(ctx, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`+holdAccount, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Session{}, a, notFound("session")
	}
	if err != nil {
		return twofold.Session{}, a, fmt.Errorf("hold account of session: %w", err)
	}
	sess := twofold.Session{ID: id}
	var created, expires, elevated, renewed int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT token_hash, account_id, created_at, expires_at, elevated_until, session_epoch, previous_token_hash, renewed_at
		FROM sessions WHERE id = $1 AND account_id = $2 AND expires_at > $3`+holdSession,
		id, accountID, micros(now)).Scan(&sess.TokenHash, &sess.AccountID, &created, &expires, &elevated, &sess.Epoch, &sess.PreviousTokenHash, &renewed)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Session{}, a, notFound("session")
	}
	if err != nil {
		return twofold.Session{}, a, fmt.Errorf("hold session: %w", err)
	}
	sess.CreatedAt, sess.ExpiresAt, sess.ElevatedUntil = fromMicros(created), fromMicros(expires), fromMicros(elevated)
	sess.RenewedAt = fromMicros(renewed)
	return sess, a, nil
}
