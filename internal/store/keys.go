package store

import (
	"context"
	"fmt"

	"github.com/twofold/twofold/internal/keyring"
)

// Store holds the keyring's data keys and sealed values.
var _ keyring.RotateStore = (*Store)(nil)

// DataKeys returns every wrapped data key.
func (s *Store) DataKeys(ctx context.Context) ([]keyring.WrappedKey, error) {
	return dataKeys(ctx, s.conn(ctx))
}

// dataKeys reads every wrapped data key through q; the columns it reads
// are those of the first migration, so that a database not yet migrated
// is read too (a backup or dump checked before a restore).
func dataKeys(ctx context.Context, q querier) ([]keyring.WrappedKey, error) {
	rows, err := q.QueryContext(ctx, `SELECT id, master_id, wrapped, created_at FROM data_keys ORDER BY created_at, id`)
	if err != nil {
		return nil, fmt.Errorf("select data keys: %w", err)
	}
	defer rows.Close()
	var out []keyring.WrappedKey
	for rows.Next() {
		var k keyring.WrappedKey
		var created int64
		if err := rows.Scan(&k.ID, &k.MasterID, &k.Wrapped, &created); err != nil {
			return nil, err
		}
		k.Created = fromMicros(created)
		out = append(out, k)
	}
	return out, rows.Err()
}

// AddDataKey stores a wrapped data key.
func (s *Store) AddDataKey(ctx context.Context, k keyring.WrappedKey) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO data_keys (id, master_id, wrapped, created_at) VALUES ($1, $2, $3, $4)`,
		k.ID, k.MasterID, k.Wrapped, micros(k.Created))
	if err != nil {
		return fmt.Errorf("insert data key: %w", err)
	}
	return nil
}

// AddFirstDataKey stores a wrapped data key only while none is stored,
// reporting whether it did: of instances starting together on a new
// database, one stores the first data key (one conditional statement; on
// PostgreSQL after an advisory lock, as two such statements in concurrent
// transactions would both find the table empty).
func (s *Store) AddFirstDataKey(ctx context.Context, k keyring.WrappedKey) (bool, error) {
	var ok bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		if s.dialect == Postgres {
			if _, err := s.conn(ctx).ExecContext(ctx, `SELECT pg_advisory_xact_lock(7140003)`); err != nil {
				return fmt.Errorf("lock data keys: %w", err)
			}
		}
		var err error
		ok, err = s.execOne(ctx, "insert first data key", `INSERT INTO data_keys (id, master_id, wrapped, created_at)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM data_keys)`, k.ID, k.MasterID, k.Wrapped, micros(k.Created))
		return err
	})
	return ok, err
}

// The sealed values the keyring rotates live in these columns, each bound to
// its row by keyring.AAD(table, column, id) and with its data key id beside
// it. A new sealed column (phone numbers, say) is added to SealedValues,
// Reseal and DeleteDataKey's guard.
const (
	factorsTable      = "factors"
	factorsSecret     = "secret" // TOTP/HOTP secrets, and the phone numbers and addresses of sms and email factors
	tokensTable       = "hardware_tokens"
	tokensSecret      = "secret"
	outboxTable       = "outbox"
	outboxBody        = "body"      // code mails, bound to their seal_ref
	outboxRecipient   = "recipient" // code mails' recipients, bound to their seal_ref
	webhooksTable     = "webhooks"
	webhookSecret     = "secret"          // the secrets that sign webhook deliveries
	webhookPrevSecret = "previous_secret" // a webhook's previous secret, for a while after a rotation
	webhookURL        = "url"             // a webhook's URL, which may hold a token of the receiver's
)

// SealedValues returns every value sealed by the keyring, with where it lives,
// for key rotation.
func (s *Store) SealedValues(ctx context.Context) ([]keyring.Sealed, error) {
	fs, err := s.SealedSecrets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]keyring.Sealed, 0, len(fs))
	for _, f := range fs {
		out = append(out, keyring.Sealed{Table: factorsTable, Column: factorsSecret, Row: f.ID, KeyID: f.SecretKeyID, Ciphertext: f.SealedSecret})
	}
	ts, err := s.sealedTokenSecrets(ctx)
	if err != nil {
		return nil, err
	}
	out = append(out, ts...)
	ms, err := queryAll(ctx, s, "sealed mail", func(row interface{ Scan(...any) error }) (keyring.Sealed, error) {
		v := keyring.Sealed{Table: outboxTable, Column: outboxBody}
		return v, row.Scan(&v.Row, &v.KeyID, &v.Ciphertext)
	}, `SELECT seal_ref, body_key_id, sealed_body FROM outbox WHERE body_key_id <> '' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out = append(out, ms...)
	rs, err := queryAll(ctx, s, "sealed mail recipients", func(row interface{ Scan(...any) error }) (keyring.Sealed, error) {
		v := keyring.Sealed{Table: outboxTable, Column: outboxRecipient}
		return v, row.Scan(&v.Row, &v.KeyID, &v.Ciphertext)
	}, `SELECT seal_ref, recipient_key_id, sealed_recipient FROM outbox WHERE recipient_key_id <> '' ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out = append(out, rs...)
	ws, err := queryAll(ctx, s, "sealed webhook secrets", func(row interface{ Scan(...any) error }) (keyring.Sealed, error) {
		v := keyring.Sealed{Table: webhooksTable, Column: webhookSecret}
		return v, row.Scan(&v.Row, &v.KeyID, &v.Ciphertext)
	}, `SELECT id, secret_key_id, sealed_secret FROM webhooks ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out = append(out, ws...)
	ps, err := queryAll(ctx, s, "sealed previous webhook secrets", func(row interface{ Scan(...any) error }) (keyring.Sealed, error) {
		v := keyring.Sealed{Table: webhooksTable, Column: webhookPrevSecret}
		return v, row.Scan(&v.Row, &v.KeyID, &v.Ciphertext)
	}, `SELECT id, previous_secret_key_id, previous_sealed_secret FROM webhooks WHERE previous_sealed_secret IS NOT NULL ORDER BY id`)
	if err != nil {
		return nil, err
	}
	out = append(out, ps...)
	us, err := queryAll(ctx, s, "sealed webhook urls", func(row interface{ Scan(...any) error }) (keyring.Sealed, error) {
		v := keyring.Sealed{Table: webhooksTable, Column: webhookURL}
		return v, row.Scan(&v.Row, &v.KeyID, &v.Ciphertext)
	}, `SELECT id, url_key_id, sealed_url FROM webhooks WHERE url_key_id <> '' ORDER BY id`)
	return append(out, us...), err
}

// Reseal stores v sealed afresh under data key keyID if it is still sealed
// under v.KeyID (a compare-and-set), reporting whether it did.
func (s *Store) Reseal(ctx context.Context, v keyring.Sealed, keyID string, ciphertext []byte) (bool, error) {
	if v.Table == factorsTable && v.Column == factorsSecret {
		return s.ResealSecret(ctx, v.Row, v.KeyID, keyID, ciphertext)
	}
	if v.Table == tokensTable && v.Column == tokensSecret {
		return s.resealTokenSecret(ctx, v.Row, v.KeyID, keyID, ciphertext)
	}
	if v.Table == outboxTable && v.Column == outboxBody {
		res, err := s.conn(ctx).ExecContext(ctx, `UPDATE outbox SET body_key_id = $1, sealed_body = $2 WHERE seal_ref = $3 AND body_key_id = $4`,
			keyID, ciphertext, v.Row, v.KeyID)
		if err != nil {
			return false, fmt.Errorf("reseal mail: %w", err)
		}
		n, err := res.RowsAffected()
		return n == 1, err
	}
	if v.Table == outboxTable && v.Column == outboxRecipient {
		return s.execOne(ctx, "reseal mail recipient", `UPDATE outbox SET recipient_key_id = $1, sealed_recipient = $2 WHERE seal_ref = $3 AND recipient_key_id = $4`,
			keyID, ciphertext, v.Row, v.KeyID)
	}
	if v.Table == webhooksTable && v.Column == webhookSecret {
		return s.execOne(ctx, "reseal webhook secret", `UPDATE webhooks SET secret_key_id = $1, sealed_secret = $2 WHERE id = $3 AND secret_key_id = $4 AND sealed_secret = $5`,
			keyID, ciphertext, v.Row, v.KeyID, v.Ciphertext) // not a secret rotated meanwhile
	}
	if v.Table == webhooksTable && v.Column == webhookPrevSecret {
		return s.execOne(ctx, "reseal previous webhook secret", `UPDATE webhooks SET previous_secret_key_id = $1, previous_sealed_secret = $2
			WHERE id = $3 AND previous_secret_key_id = $4 AND previous_sealed_secret = $5`,
			keyID, ciphertext, v.Row, v.KeyID, v.Ciphertext) // not rotated or cleared meanwhile
	}
	if v.Table == webhooksTable && v.Column == webhookURL {
		return s.execOne(ctx, "reseal webhook url", `UPDATE webhooks SET url_key_id = $1, sealed_url = $2 WHERE id = $3 AND url_key_id = $4 AND sealed_url = $5`,
			keyID, ciphertext, v.Row, v.KeyID, v.Ciphertext)
	}
	return false, fmt.Errorf("reseal: %s.%s holds no sealed values", v.Table, v.Column)
}

// DeleteDataKey deletes data key id unless a stored value is still sealed
// under it (one conditional statement), reporting whether it did.
//
// On PostgreSQL the key's row is locked first, in a statement of its own:
// a statement storing a value under the key shares that lock until its
// transaction ends (a foreign key's check for factors and tokens,
// keyStored for webhooks and mail), so it has either committed before the
// DELETE below takes its snapshot, which then sees the value, or it waits
// and finds the key gone (keyring.ErrKeyGone). Without the lock, a value
// committed between the DELETE's snapshot and its row lock would be left
// under a deleted key.
func (s *Store) DeleteDataKey(ctx context.Context, id string) (bool, error) {
	var ok bool
	err := s.InTx(ctx, func(ctx context.Context) error {
		if s.dialect == Postgres {
			if _, err := s.conn(ctx).ExecContext(ctx, `SELECT id FROM data_keys WHERE id = $1 FOR UPDATE`, id); err != nil {
				return fmt.Errorf("lock data key: %w", err)
			}
		}
		var err error
		ok, err = s.execOne(ctx, "delete data key", `DELETE FROM data_keys WHERE id = $1
			AND NOT EXISTS (SELECT 1 FROM factors WHERE secret_key_id = $1)
			AND NOT EXISTS (SELECT 1 FROM hardware_tokens WHERE secret_key_id = $1)
			AND NOT EXISTS (SELECT 1 FROM outbox WHERE body_key_id = $1 OR recipient_key_id = $1)
			AND NOT EXISTS (SELECT 1 FROM webhooks WHERE secret_key_id = $1 OR previous_secret_key_id = $1 OR url_key_id = $1)`, id)
		return err
	})
	return ok, err
}

// keyStored returns an SQL condition that holds while the data key named by
// placeholder arg is stored, for statements storing a value sealed under it
// in a column no foreign key guards (webhook secrets, sealed mail): such a
// statement stores nothing when the key is gone, and its caller returns
// keyring.ErrKeyGone. On PostgreSQL the condition shares a lock on the
// key's row until the transaction ends, as a foreign key's check does (see
// DeleteDataKey); SQLite's one writer orders them anyway.
func (s *Store) keyStored(arg string) string {
	lock := ""
	if s.dialect == Postgres {
		lock = " FOR KEY SHARE"
	}
	return `EXISTS (SELECT 1 FROM data_keys WHERE id = ` + arg + lock + `)`
}

// Purge makes a SQLite database forget deleted and overwritten content, such
// as the data keys and ciphertexts a key rotation replaced: VACUUM rewrites
// the file with live rows only, and a checkpoint empties the write-ahead log.
// It reports whether the log could be emptied (a reader holding an old
// snapshot prevents it; run it again later). Both hold the write lock while
// they run, every other writer waiting (up to its busy timeout), seconds
// on a database of hundreds of megabytes (README "Key rotation"); a
// checkpoint alone is not enough: secure_delete FAST leaves the content of
// pages freed whole (emptied, rebalanced, overflow) in the file. On PostgreSQL it does nothing:
// dead rows there are reclaimed by the server's own VACUUM.
func (s *Store) Purge(ctx context.Context) (bool, error) {
	if s.dialect != SQLite {
		return true, nil
	}
	if _, err := s.conn(ctx).ExecContext(ctx, `VACUUM`); err != nil {
		return false, fmt.Errorf("vacuum: %w", err)
	}
	var busy, logFrames, checkpointed int
	if err := s.conn(ctx).QueryRowContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`).Scan(&busy, &logFrames, &checkpointed); err != nil {
		return false, fmt.Errorf("checkpoint: %w", err)
	}
	return busy == 0, nil
}
