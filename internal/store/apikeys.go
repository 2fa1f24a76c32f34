package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

const apiKeyColumns = `id, account_id, COALESCE(parent_id, ''), name, secret_hash, permits, created_at, expires_at, last_used_at, second_factor`

func scanAPIKey(row interface{ Scan(...any) error }) (twofold.APIKey, error) {
	var k twofold.APIKey
	dest, done := apiKeyFields(&k)
	if err := row.Scan(dest...); err != nil {
		return k, err
	}
	return k, done()
}

// apiKeyFields returns where the columns of apiKeyColumns are scanned to,
// in their order, for k, and what completes k once they are: for a row
// that holds them beside another table's (HoldAPIKey).
func apiKeyFields(k *twofold.APIKey) (dest []any, done func() error) {
	var permits string
	var created, expires, used int64
	return []any{&k.ID, &k.AccountID, &k.ParentID, &k.Name, &k.SecretHash, &permits, &created, &expires, &used, &k.SecondFactor},
		func() error {
			k.CreatedAt, k.ExpiresAt, k.LastUsedAt = fromMicros(created), fromMicros(expires), fromMicros(used)
			if err := json.Unmarshal([]byte(permits), &k.Permits); err != nil {
				return fmt.Errorf("read permits of API key %s: %w", k.ID, err)
			}
			return nil
		}
}

// storedPermit is a permit as the permits column holds it.
type storedPermit struct {
	Service  string   `json:"service"`
	Resource string   `json:"resource"`
	Actions  []string `json:"actions"`
}

// CreateAPIKey stores k. When its account, or the key that made it
// (ParentID), was deleted meanwhile, it is not-found: a key revoked while
// it made another makes none.
func (s *Store) CreateAPIKey(ctx context.Context, k twofold.APIKey) error {
	ps := make([]storedPermit, len(k.Permits))
	for i, p := range k.Permits {
		ps[i] = storedPermit(p)
	}
	permits, err := json.Marshal(ps)
	if err != nil {
		return err
	}
	var parent sql.NullString
	if k.ParentID != "" {
		parent = sql.NullString{String: k.ParentID, Valid: true}
	}
	_, err = s.conn(ctx).ExecContext(ctx, `INSERT INTO api_keys (id, account_id, parent_id, name, secret_hash, permits, created_at, expires_at, last_used_at, second_factor)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $9)`,
		k.ID, k.AccountID, parent, k.Name, k.SecretHash, string(permits), micros(k.CreatedAt), micros(k.ExpiresAt), k.SecondFactor)
	if isForeignKeyViolation(err) {
		return twofold.Errorf(twofold.CodeNotFound, "no such API key") // its maker or account deleted meanwhile
	}
	if err != nil {
		return fmt.Errorf("insert API key: %w", err)
	}
	return nil
}

// APIKey returns the key with id, expired or not; an unknown key is not-found.
func (s *Store) APIKey(ctx context.Context, id string) (twofold.APIKey, error) {
	k, err := scanAPIKey(s.conn(ctx).QueryRowContext(ctx, `SELECT `+apiKeyColumns+` FROM api_keys WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return k, twofold.Errorf(twofold.CodeNotFound, "no such API key")
	}
	if err != nil {
		return k, fmt.Errorf("select API key: %w", err)
	}
	return k, nil
}

// HoldAPIKey returns the key with id of account accountID, as APIKey
// does, and that account, holding on PostgreSQL their rows until the
// transaction ends, so that the key's revocation (DeleteAPIKey, of it or
// of the key that made it), the account's suspension, its demotion from
// operator and its deletion wait for what is written with the key
// (SQLite's one writer orders them anyway). Both are read in one
// statement, which locks the account's row before the key's (the order
// its locking clauses name them in), the order a revocation takes them in
// (LockAccount, then the key it deletes).
//
// The key's row is held shared. The account's is held shared too, so that
// the writes of an account's keys (DNS records) run side by side; with
// accountWrite, for a transaction that will hold the account's row by
// LockAccount later (a key made or revoked), it is held as LockAccount's
// UPDATE holds it (FOR NO KEY UPDATE) from the start. Two such
// transactions that each held it shared would both wait to hold it for
// update, for each other: a deadlock PostgreSQL ends only after
// deadlock_timeout, failing one.
//
// A key revoked meanwhile, or of another account, is not-found.
func (s *Store) HoldAPIKey(ctx context.Context, accountID, id string, accountWrite bool) (twofold.APIKey, twofold.Account, error) {
	var k twofold.APIKey
	var a twofold.Account
	lock := ""
	switch {
	case s.dialect == SQLite:
	case accountWrite:
		lock = " FOR NO KEY UPDATE OF a FOR SHARE OF k"
	default:
		lock = " FOR SHARE OF a, k"
	}
	ad, aDone := accountFields(&a)
	kd, kDone := apiKeyFields(&k)
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT `+heldKeyColumns+` FROM accounts a JOIN api_keys k ON k.account_id = a.id
		WHERE a.id = $1 AND k.id = $2`+lock, accountID, id).Scan(append(ad, kd...)...)
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.APIKey{}, twofold.Account{}, twofold.Errorf(twofold.CodeNotFound, "no such API key")
	}
	if err != nil {
		return twofold.APIKey{}, twofold.Account{}, fmt.Errorf("hold API key: %w", err)
	}
	aDone()
	if err := kDone(); err != nil {
		return twofold.APIKey{}, twofold.Account{}, err
	}
	return k, a, nil
}

// heldKeyColumns are accountColumns of accounts a, then apiKeyColumns of
// api_keys k, for HoldAPIKey's join (TestHeldKeyColumns keeps them so).
const heldKeyColumns = `a.id, a.username, a.email, a.password_hash, a.two_factor_required, a.operator, a.created_at, a.session_epoch, a.suspended, ` +
	`k.id, k.account_id, COALESCE(k.parent_id, ''), k.name, k.secret_hash, k.permits, k.created_at, k.expires_at, k.last_used_at, k.second_factor`

// APIKeys returns the account's keys, oldest first.
func (s *Store) APIKeys(ctx context.Context, accountID string) ([]twofold.APIKey, error) {
	return queryAll(ctx, s, "API keys", scanAPIKey, `SELECT `+apiKeyColumns+` FROM api_keys WHERE account_id = $1 ORDER BY created_at, id`, accountID)
}

// DeleteAPIKey deletes the account's key with id, and with it the keys it
// made and their tokens, reporting false when there was no such key.
func (s *Store) DeleteAPIKey(ctx context.Context, accountID, id string) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM api_keys WHERE id = $1 AND account_id = $2`, id, accountID)
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("delete API key: %w", err)
	}
	return n == 1, nil
}

// DeleteExpiredAPIKeys deletes the keys that expired before before, in
// batches (sweepBatch), and with them their tokens and the keys they made
// (which expire no later than their maker), and returns how many it
// deleted. Keys without expiry stay.
func (s *Store) DeleteExpiredAPIKeys(ctx context.Context, before time.Time) (int64, error) {
	return s.sweep(ctx, "api_keys", s.sweepSQL("api_keys", "rowid", expiredSinceCond), before)
}

// TouchAPIKey records that the key was used at now, unless its last use is
// less than every ago: one write a key makes at most once per period,
// however busy its script. It reports whether it wrote.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE api_keys SET last_used_at = $1 WHERE id = $2 AND last_used_at <= $3`,
		micros(now), id, micros(now.Add(-every)))
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("update API key use: %w", err)
	}
	return n == 1, nil
}

// CreateAPIToken stores a bearer token of a key; a key deleted meanwhile
// (revoked while the token was asked for) is not-found.
func (s *Store) CreateAPIToken(ctx context.Context, t twofold.APIToken) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO api_tokens (id, key_id, token_hash, expires_at) VALUES ($1, $2, $3, $4)`,
		t.ID, t.KeyID, t.TokenHash, micros(t.ExpiresAt))
	if isForeignKeyViolation(err) {
		return twofold.Errorf(twofold.CodeNotFound, "no such API key")
	}
	if err != nil {
		return fmt.Errorf("insert API token: %w", err)
	}
	return nil
}

// APIToken returns the unexpired token with id; another is not-found.
func (s *Store) APIToken(ctx context.Context, id string, now time.Time) (twofold.APIToken, error) {
	var t twofold.APIToken
	var expires int64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT id, key_id, token_hash, expires_at FROM api_tokens WHERE id = $1 AND expires_at > $2`,
		id, micros(now)).Scan(&t.ID, &t.KeyID, &t.TokenHash, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return t, twofold.Errorf(twofold.CodeNotFound, "no such token")
	}
	if err != nil {
		return t, fmt.Errorf("select API token: %w", err)
	}
	t.ExpiresAt = fromMicros(expires)
	return t, nil
}

// DeleteAPIToken deletes a token, reporting false when there was none.
func (s *Store) DeleteAPIToken(ctx context.Context, id string) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM api_tokens WHERE id = $1`, id)
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("delete API token: %w", err)
	}
	return n == 1, nil
}
