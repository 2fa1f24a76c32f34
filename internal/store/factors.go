package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
)

const factorColumns = `id, account_id, type, label, status, secret_key_id, secret, algorithm, digits, period_seconds, last_step, drift, created_at, confirmed_at, last_used_at, passkey, pending_session_id, damaged_at`

func scanFactor(row interface{ Scan(...any) error }) (twofold.Factor, error) {
	var f twofold.Factor
	var period, created int64
	var confirmed, used, damaged sql.NullInt64
	err := row.Scan(&f.ID, &f.AccountID, &f.Type, &f.Label, &f.Status, &f.SecretKeyID, &f.SealedSecret, &f.Algorithm,
		&f.Digits, &period, &f.LastStep, &f.Drift, &created, &confirmed, &used, &f.Passkey, &f.PendingSessionID, &damaged)
	f.Period = time.Duration(period) * time.Second
	f.CreatedAt = fromMicros(created)
	f.ConfirmedAt = fromNullMicros(confirmed)
	f.LastUsedAt = fromNullMicros(used)
	f.DamagedAt = fromNullMicros(damaged)
	return f, err
}

// CreateFactor inserts a pending factor with its sealed secret and the
// session that started its setup.
func (s *Store) CreateFactor(ctx context.Context, f twofold.Factor) error {
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, f.AccountID); err != nil {
			return err
		}
		// The data key first, shared-locked on PostgreSQL as a foreign
		// key's check would (DeleteDataKey): a key deleted by a rotation
		// is told apart without a failed statement, which would end the
		// caller's transaction on PostgreSQL.
		var stored bool
		if err := tx.QueryRowContext(ctx, `SELECT `+s.keyStored("$1"), f.SecretKeyID).Scan(&stored); err != nil {
			return fmt.Errorf("find data key: %w", err)
		}
		if !stored {
			return keyring.ErrKeyGone
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO factors (`+factorColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`,
			f.ID, f.AccountID, f.Type, f.Label, f.Status, f.SecretKeyID, f.SealedSecret, f.Algorithm, f.Digits,
			int64(f.Period/time.Second), f.LastStep, f.Drift, micros(f.CreatedAt), nullMicros(f.ConfirmedAt), nullMicros(f.LastUsedAt), f.Passkey, f.PendingSessionID, nullMicros(f.DamagedAt))
		return err
	})
	if err != nil {
		if !errors.Is(err, keyring.ErrKeyGone) && s.dataKeyGone(ctx, f.SecretKeyID) {
			return fmt.Errorf("insert factor: %w", keyring.ErrKeyGone)
		}
		return fmt.Errorf("insert factor: %w", err)
	}
	return nil
}

// dataKeyGone reports whether data key id is known not to be stored, as when
// a rotation deleted it after a value was sealed under it.
func (s *Store) dataKeyGone(ctx context.Context, id string) bool {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM data_keys WHERE id = $1`, id).Scan(&n)
	return err == nil && n == 0
}

// Factors returns the account's factors, oldest first.
func (s *Store) Factors(ctx context.Context, accountID string) ([]twofold.Factor, error) {
	return queryAll(ctx, s, "factors", scanFactor, `SELECT `+factorColumns+` FROM factors WHERE account_id = $1 ORDER BY created_at, id`, accountID)
}

// FactorsOfType returns up to limit factors of type t, of every account and
// in every status, whose id sorts after afterID, in the order of their ids:
// a caller pages through them all by passing the last id it got, holding
// one page at a time.
func (s *Store) FactorsOfType(ctx context.Context, t twofold.FactorType, afterID string, limit int) ([]twofold.Factor, error) {
	return queryAll(ctx, s, "factors", scanFactor, `SELECT `+factorColumns+` FROM factors WHERE type = $1 AND id > $2 ORDER BY id LIMIT $3`,
		string(t), afterID, limit)
}

// Factor returns the account's factor id.
func (s *Store) Factor(ctx context.Context, accountID, id string) (twofold.Factor, error) {
	f, err := scanFactor(s.conn(ctx).QueryRowContext(ctx, `SELECT `+factorColumns+` FROM factors WHERE id = $1 AND account_id = $2`, id, accountID))
	if errors.Is(err, sql.ErrNoRows) {
		return f, notFound("factor")
	}
	if err != nil {
		return f, fmt.Errorf("select factor: %w", err)
	}
	return f, nil
}

// MarkFactorDamaged records that factor id's secret was found not to
// decrypt at now (twofold.Factor.DamagedAt): one conditional statement,
// which keeps the first time found and writes nothing once it is set.
func (s *Store) MarkFactorDamaged(ctx context.Context, id string, now time.Time) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE factors SET damaged_at = $1 WHERE id = $2 AND damaged_at IS NULL`, micros(now), id); err != nil {
		return fmt.Errorf("mark factor damaged: %w", err)
	}
	return nil
}

// ClearFactorDamaged forgets that factor f's secret was found not to
// decrypt (twofold.Factor.DamagedAt), now that it has opened again: its
// ciphertext or the key file was put back. It is one conditional
// statement, which clears only the mark f was read with, and only while
// the row still holds the sealed secret f was read with: a secret changed
// since (damaged again, or resealed by a rotation) keeps its mark until it
// is opened again. A factor read without a mark is left as it is.
func (s *Store) ClearFactorDamaged(ctx context.Context, f twofold.Factor) error {
	if f.DamagedAt == nil {
		return nil
	}
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE factors SET damaged_at = NULL
		WHERE id = $1 AND damaged_at = $2 AND secret_key_id = $3 AND secret = $4`,
		f.ID, micros(*f.DamagedAt), f.SecretKeyID, f.SealedSecret); err != nil {
		return fmt.Errorf("clear factor damaged: %w", err)
	}
	return nil
}

// AcceptStep records that step (a TOTP step or HOTP counter) was accepted for
// an active factor, with the drift learnt from it. It reports false when the
// factor already accepted this step or a later one: the compare-and-set that
// makes a code one-time across every instance (SPEC §1 story 8). An accepted
// step is noted on the account's waiting reset of two-factor, if any
// (noteFactorUse).
func (s *Store) AcceptStep(ctx context.Context, factorID string, step, drift int64, now time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var accountID string
		err := tx.QueryRowContext(ctx, `UPDATE factors SET last_step = $1, drift = $2, last_used_at = $3
			WHERE id = $4 AND status = 'active' AND last_step < $1 RETURNING account_id`, step, drift, micros(now), factorID).Scan(&accountID)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("accept step: %w", err)
		}
		ok = true
		return noteFactorUse(ctx, tx, accountID, now)
	})
	return ok, err
}

// ActivateFactor turns a pending factor active with its first accepted step. It
// reports first=true when no other factor of the account was active, in which
// case the recovery codes and paper key of a are stored and two-factor turns on.
// It reports ok=false, writing nothing, when the factor is not pending. The
// session that started the setup is forgotten: it matters only while pending.
func (s *Store) ActivateFactor(ctx context.Context, a twofold.Activation) (ok, first bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, a.AccountID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE factors SET status = 'active', last_step = $1, drift = $2, confirmed_at = $3, last_used_at = $3, pending_session_id = ''
			WHERE id = $4 AND account_id = $5 AND status = 'pending'`, a.Step, a.Drift, micros(a.Now), a.FactorID, a.AccountID)
		if err != nil {
			return fmt.Errorf("activate factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		ok = true
		if err := noteFactorUse(ctx, tx, a.AccountID, a.Now); err != nil {
			return err
		}
		var others int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM factors WHERE account_id = $1 AND status = 'active' AND id <> $2`,
			a.AccountID, a.FactorID).Scan(&others); err != nil {
			return fmt.Errorf("count factors: %w", err)
		}
		if others > 0 {
			return nil
		}
		first = true
		if err := replaceRecoveryCodes(ctx, tx, a.AccountID, a.RecoveryHashes, a.Now); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO paper_keys (account_id, key_hash, created_at) VALUES ($1, $2, $3)
			ON CONFLICT (account_id) DO UPDATE SET key_hash = excluded.key_hash, created_at = excluded.created_at`,
			a.AccountID, a.PaperKeyHash, micros(a.Now)); err != nil {
			return fmt.Errorf("store paper key: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET two_factor_required = TRUE WHERE id = $1`, a.AccountID); err != nil {
			return fmt.Errorf("require two-factor: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, false, err
	}
	return ok, first, nil
}

// lockAccount holds the account's row until tx ends, so that transactions
// which count an account's active factors and act on the count (ActivateFactor,
// DeleteFactor) run one after the other: under PostgreSQL's READ COMMITTED two
// of them would otherwise both see the other's factor as not yet changed. The
// statements after it see what the previous holder committed. (SQLite write
// transactions are IMMEDIATE, so already serial.)
// An account that is gone (closed before, or by the transaction this one
// waited for) is not found: there is nothing to hold, and what the caller
// would count or write next belongs to no one (a row it then inserted
// would break a foreign key, an internal error).
func lockAccount(ctx context.Context, tx *sql.Tx, accountID string) error {
	res, err := tx.ExecContext(ctx, `UPDATE accounts SET two_factor_required = two_factor_required WHERE id = $1`, accountID)
	if err != nil {
		return fmt.Errorf("lock account: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("lock account: %w", err)
	}
	if n == 0 {
		return notFound("account")
	}
	return nil
}

// LockAccount holds the account's row, as lockAccount does, until the
// transaction ctx carries ends: of transactions that count what an account
// has and add to it (its API keys, its SSH keys), each then counts what the
// ones before it committed, and none passes a limit on PostgreSQL's READ
// COMMITTED. Outside a transaction it is an error, as it would hold
// nothing. An account that is gone is not found, as for lockAccount.
func (s *Store) LockAccount(ctx context.Context, accountID string) error {
	v, ok := ctx.Value(txKey{}).(txValue)
	if !ok || v.owner != s {
		return errors.New("lock account: not inside a transaction")
	}
	return lockAccount(ctx, v.tx, accountID)
}

// SetFactorSync sets an active factor's last step and drift after a
// resynchronisation, again only forward.
func (s *Store) SetFactorSync(ctx context.Context, factorID string, step, drift int64, now time.Time) (bool, error) {
	return s.AcceptStep(ctx, factorID, step, drift, now)
}

// RenameFactor changes a factor's label, and says whether that changed
// anything: a factor called label already is left as it is.
func (s *Store) RenameFactor(ctx context.Context, accountID, id, label string) (changed bool, err error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE factors SET label = $1 WHERE id = $2 AND account_id = $3 AND label <> $1`, label, id, accountID)
	if err != nil {
		return false, fmt.Errorf("rename factor: %w", err)
	}
	if n, _ := res.RowsAffected(); n > 0 {
		return true, nil
	}
	return false, s.exists(ctx, "factor", `SELECT 1 FROM factors WHERE id = $1 AND account_id = $2`, id, accountID)
}

// DeleteFactor removes a factor, only while it has status (a conflict when it
// has another, found then by its id). When it was the account's last active factor,
// the recovery codes and paper key go with it and two-factor is no longer
// required, so that the next enrolment starts afresh; it reports lastGone then.
func (s *Store) DeleteFactor(ctx context.Context, accountID, id string, status twofold.FactorStatus) (lastGone bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		if err := lockAccount(ctx, tx, accountID); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM factors WHERE id = $1 AND account_id = $2 AND status = $3`, id, accountID, string(status))
		if err != nil {
			return fmt.Errorf("delete factor: %w", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			var one int
			err := tx.QueryRowContext(ctx, `SELECT 1 FROM factors WHERE id = $1 AND account_id = $2`, id, accountID).Scan(&one)
			if err == nil {
				return twofold.Errorf(twofold.CodeConflict, "the factor changed meanwhile; try again")
			}
			return notFound("factor")
		}
		var active int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM factors WHERE account_id = $1 AND status = 'active'`, accountID).Scan(&active); err != nil {
			return err
		}
		if active > 0 {
			return nil
		}
		lastGone = true
		return turnOffTwoFactor(ctx, tx, accountID)
	})
	return lastGone, err
}

// turnOffTwoFactor voids the account's recovery codes and paper key and
// stops asking for a second step at login: what goes with its last factor.
func turnOffTwoFactor(ctx context.Context, tx *sql.Tx, accountID string) error {
	for _, q := range []string{
		`DELETE FROM recovery_codes WHERE account_id = $1`,
		`DELETE FROM paper_keys WHERE account_id = $1`,
		`UPDATE accounts SET two_factor_required = FALSE WHERE id = $1`,
	} {
		if _, err := tx.ExecContext(ctx, q, accountID); err != nil {
			return fmt.Errorf("turn two-factor off: %w", err)
		}
	}
	return nil
}

// SealedSecrets returns every factor's id, key id and sealed secret, for key rotation.
func (s *Store) SealedSecrets(ctx context.Context) ([]twofold.Factor, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT id, secret_key_id, secret FROM factors ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("select secrets: %w", err)
	}
	defer rows.Close()
	var out []twofold.Factor
	for rows.Next() {
		var f twofold.Factor
		if err := rows.Scan(&f.ID, &f.SecretKeyID, &f.SealedSecret); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, rows.Err()
}

// ResealSecret replaces a factor's sealed secret if it is still sealed under oldKeyID.
func (s *Store) ResealSecret(ctx context.Context, id, oldKeyID, newKeyID string, sealed []byte) (bool, error) {
	return s.execOne(ctx, "reseal", `UPDATE factors SET secret_key_id = $1, secret = $2 WHERE id = $3 AND secret_key_id = $4`,
		newKeyID, sealed, id, oldKeyID)
}
