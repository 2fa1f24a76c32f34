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
// them anyway).
//
// Both are read in one statement, a join, whose locking clauses name the
// account first: PostgreSQL finds the joined row in the statement's
// snapshot and then locks its rows in the order the locking clauses name
// their tables, whatever order the join read them in, so the account's
// row is held before the session's is asked for, the order those take
// the two rows in. Signing out everywhere, a suspension or a deletion
// holds the account's row first: the one of the two that gets it first
// goes on, and the other waits there holding neither row. A sign-out
// locks the session's row alone (endSession) and never waits for the
// account's, which the hold may be holding while it waits for the
// session's. So none of them waits for the hold while the hold waits for
// it. A row changed while the hold waited for it is read as it now is
// (an account's new epoch, its suspension); one deleted meanwhile (the
// session signed out, the account deleted) takes the joined row with it,
// which is then not-found. When there is no joined row, nothing is held:
// the caller refuses the request.
//
// The account's row is held as an UPDATE of it would hold it (FOR NO KEY
// UPDATE), not merely shared: most of a person's writes go on to update
// or lock the account's row (LockAccount, a factor's activation, a new
// password), and two writes of one account that each shared it and then
// both asked to update it would wait for each other until PostgreSQL ended
// one as a deadlock. So a person's writes of one account run one after
// the other; foreign keys to the account (FOR KEY SHARE) and plain reads
// do not wait. The session's row is held shared. A session ended,
// expired, or of another account, and an account deleted, is not-found.
func (s *Store) HoldSession(ctx context.Context, accountID, id string, now time.Time) (twofold.Session, twofold.Account, error) {
	lock := ""
	if s.dialect != SQLite {
		lock = " FOR NO KEY UPDATE OF a FOR SHARE OF s"
	}
	var a twofold.Account
	sess := twofold.Session{ID: id}
	ad, aDone := accountFields(&a)
	sd, sDone := sessionFields(&sess)
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT `+heldSessionColumns+` FROM accounts a JOIN sessions s ON s.account_id = a.id
		WHERE a.id = $1 AND s.id = $2 AND s.expires_at > $3`+lock, accountID, id, micros(now)).Scan(append(ad, sd...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Session{}, twofold.Account{}, notFound("session")
	}
	if err != nil {
		return twofold.Session{}, twofold.Account{}, fmt.Errorf("hold session: %w", err)
	}
	aDone()
	sDone()
	return sess, a, nil
}

// heldSessionColumns are accountColumns of accounts a, then sessionColumns
// of sessions s, for HoldSession's join (TestHeldSessionColumns keeps them
// so).
const heldSessionColumns = `a.id, a.username, a.email, a.password_hash, a.two_factor_required, a.operator, a.created_at, a.session_epoch, a.suspended, ` +
	`s.token_hash, s.account_id, s.created_at, s.expires_at, s.elevated_until, s.session_epoch, s.previous_token_hash, s.renewed_at`
