package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

const sshKeyColumns = `id, account_id, label, key_type, fingerprint, public_key, status, created_at, confirmed_at, last_used_at`

func scanSSHKey(row interface{ Scan(...any) error }) (twofold.SSHKey, error) {
	var k twofold.SSHKey
	var created int64
	var confirmed, used sql.NullInt64
	err := row.Scan(&k.ID, &k.AccountID, &k.Label, &k.Type, &k.Fingerprint, &k.PublicKey, &k.Status, &created, &confirmed, &used)
	k.CreatedAt, k.ConfirmedAt, k.LastUsedAt = fromMicros(created), fromNullMicros(confirmed), fromNullMicros(used)
	return k, err
}

// CreateSSHKey stores a pending SSH key; the account's key of the same
// fingerprint stored already is a conflict.
func (s *Store) CreateSSHKey(ctx context.Context, k twofold.SSHKey) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO ssh_keys (`+sshKeyColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		k.ID, k.AccountID, k.Label, k.Type, k.Fingerprint, k.PublicKey, string(k.Status), micros(k.CreatedAt), nullMicros(k.ConfirmedAt), nullMicros(k.LastUsedAt))
	if isUniqueViolation(err) {
		return twofold.Errorf(twofold.CodeConflict, "this SSH key is registered already")
	}
	if err != nil {
		return fmt.Errorf("insert ssh key: %w", err)
	}
	return nil
}

// SSHKeys returns the account's SSH keys, oldest first.
func (s *Store) SSHKeys(ctx context.Context, accountID string) ([]twofold.SSHKey, error) {
	return queryAll(ctx, s, "ssh keys", scanSSHKey, `SELECT `+sshKeyColumns+` FROM ssh_keys WHERE account_id = $1 ORDER BY created_at, id`, accountID)
}

// ActivateSSHKey makes the account's pending key active at now, reporting
// false when it is not (or no longer) pending.
func (s *Store) ActivateSSHKey(ctx context.Context, accountID, id string, now time.Time) (bool, error) {
	return s.execOne(ctx, "activate ssh key", `UPDATE ssh_keys SET status = 'active', confirmed_at = $1 WHERE id = $2 AND account_id = $3 AND status = 'pending'`,
		micros(now), id, accountID)
}

// DeleteSSHKey removes the account's key, only while it has status: a
// conflict when it has another, not-found when there is none.
func (s *Store) DeleteSSHKey(ctx context.Context, accountID, id string, status twofold.FactorStatus) error {
	res, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM ssh_keys WHERE id = $1 AND account_id = $2 AND status = $3`, id, accountID, string(status))
	if err != nil {
		return fmt.Errorf("delete ssh key: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var one int
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT 1 FROM ssh_keys WHERE id = $1 AND account_id = $2`, id, accountID).Scan(&one)
	if err == nil {
		return twofold.Errorf(twofold.CodeConflict, "the SSH key changed meanwhile; try again")
	}
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("SSH key")
	}
	return fmt.Errorf("delete ssh key: %w", err)
}

// TouchSSHKey records that the key passed a check at now, on the key and
// on the account's waiting reset of two-factor, if any (noteFactorUse).
// The reset is locked before the key (lockReset), in ResetTwoFactor's order.
func (s *Store) TouchSSHKey(ctx context.Context, id string, now time.Time) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		var accountID string
		err := tx.QueryRowContext(ctx, `SELECT account_id FROM ssh_keys WHERE id = $1`, id).Scan(&accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("touch ssh key: %w", err)
		}
		if err := s.lockReset(ctx, tx, accountID); err != nil {
			return err
		}
		err = tx.QueryRowContext(ctx, `UPDATE ssh_keys SET last_used_at = $1 WHERE id = $2 RETURNING account_id`, micros(now), id).Scan(&accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("touch ssh key: %w", err)
		}
		return noteFactorUse(ctx, tx, accountID, now)
	})
}

// PutSSHChallenge stores c as its scope's one challenge, replacing the one
// before.
func (s *Store) PutSSHChallenge(ctx context.Context, c twofold.SSHChallenge) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO ssh_challenges (scope, account_id, text, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (scope) DO UPDATE SET account_id = excluded.account_id, text = excluded.text, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.Scope, c.AccountID, c.Text, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store ssh challenge: %w", err)
	}
	return nil
}

// KeepSSHChallenge stores c as its scope's one challenge unless the scope
// has one unexpired at c.CreatedAt, and returns the one the scope then has:
// c, or the live one, left as it was. One conditional statement, so that of
// concurrent requests for one scope, on any instance, every one gets the
// same challenge; a live challenge is never replaced, so whoever asks for
// one again does not void the text its first asker is signing.
func (s *Store) KeepSSHChallenge(ctx context.Context, c twofold.SSHChallenge) (twofold.SSHChallenge, error) {
	var live twofold.SSHChallenge
	var created, expires int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO ssh_challenges (scope, account_id, text, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)
			ON CONFLICT (scope) DO UPDATE SET account_id = excluded.account_id, text = excluded.text, created_at = excluded.created_at, expires_at = excluded.expires_at
			WHERE ssh_challenges.expires_at <= excluded.created_at OR ssh_challenges.account_id <> excluded.account_id`,
			c.Scope, c.AccountID, c.Text, micros(c.CreatedAt), micros(c.ExpiresAt)); err != nil {
			return fmt.Errorf("store ssh challenge: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT scope, account_id, text, created_at, expires_at FROM ssh_challenges WHERE scope = $1`, c.Scope).Scan(
			&live.Scope, &live.AccountID, &live.Text, &created, &expires); err != nil {
			return fmt.Errorf("select ssh challenge: %w", err)
		}
		return nil
	})
	if err != nil {
		return twofold.SSHChallenge{}, err
	}
	live.CreatedAt, live.ExpiresAt = fromMicros(created), fromMicros(expires)
	return live, nil
}

// SSHChallenge returns the account's challenge for scope that is unexpired
// at now; found is false when there is none.
func (s *Store) SSHChallenge(ctx context.Context, accountID, scope string, now time.Time) (c twofold.SSHChallenge, found bool, err error) {
	var created, expires int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT scope, account_id, text, created_at, expires_at FROM ssh_challenges
		WHERE scope = $1 AND account_id = $2 AND expires_at > $3`, scope, accountID, micros(now)).Scan(&c.Scope, &c.AccountID, &c.Text, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.SSHChallenge{}, false, nil
	}
	if err != nil {
		return twofold.SSHChallenge{}, false, fmt.Errorf("select ssh challenge: %w", err)
	}
	c.CreatedAt, c.ExpiresAt = fromMicros(created), fromMicros(expires)
	return c, true, nil
}

// UseSSHChallenge uses the scope's challenge of exactly text, if it is
// still there and unexpired at now: one conditional DELETE, so of
// concurrent uses of one challenge exactly one reports true, on any number
// of instances. A challenge replaced meanwhile is not used.
func (s *Store) UseSSHChallenge(ctx context.Context, scope, text string, now time.Time) (bool, error) {
	return s.execOne(ctx, "use ssh challenge", `DELETE FROM ssh_challenges WHERE scope = $1 AND text = $2 AND expires_at > $3`, scope, text, micros(now))
}
