package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
)

const tokenColumns = `serial, manufacturer, type, algorithm, digits, period_seconds, counter, secret_key_id, secret, imported_at, claimed_by, claimed_at`

func scanToken(row interface{ Scan(...any) error }) (twofold.HardwareToken, error) {
	var t twofold.HardwareToken
	var period, imported int64
	var keyID, claimedBy sql.NullString
	var claimed sql.NullInt64
	err := row.Scan(&t.Serial, &t.Manufacturer, &t.Type, &t.Algorithm, &t.Digits, &period, &t.Counter, &keyID, &t.SealedSecret,
		&imported, &claimedBy, &claimed)
	t.Period = time.Duration(period) * time.Second
	t.SecretKeyID, t.ClaimedBy = keyID.String, claimedBy.String
	t.ImportedAt = fromMicros(imported)
	t.ClaimedAt = fromNullMicros(claimed)
	return t, err
}

// ImportTokens stores imported hardware tokens, unclaimed, all or none: a
// serial already stored is a conflict that names it, and nothing is stored.
func (s *Store) ImportTokens(ctx context.Context, ts []twofold.HardwareToken) error {
	err := s.InTx(ctx, func(ctx context.Context) error {
		// The data keys first, shared-locked on PostgreSQL as a foreign
		// key's check would (DeleteDataKey): a key deleted by a rotation
		// is told apart without a failed statement, which would end the
		// caller's transaction on PostgreSQL (CreateFactor).
		checked := map[string]bool{}
		for _, t := range ts {
			if checked[t.SecretKeyID] {
				continue
			}
			checked[t.SecretKeyID] = true
			var stored bool
			if err := s.conn(ctx).QueryRowContext(ctx, `SELECT `+s.keyStored("$1"), t.SecretKeyID).Scan(&stored); err != nil {
				return fmt.Errorf("find data key: %w", err)
			}
			if !stored {
				return fmt.Errorf("import tokens: %w", keyring.ErrKeyGone)
			}
		}
		// Imports one after the other (on SQLite the one writer does
		// that), and each token's digest checked again against the
		// tokens there then, unclaimed or claimed and in use: two imports
		// at once of one seed under two serials both passed the caller's
		// check (checkTokenSecrets), made before the transaction.
		if s.dialect == Postgres {
			if _, err := s.conn(ctx).ExecContext(ctx, `LOCK TABLE hardware_tokens IN SHARE ROW EXCLUSIVE MODE`); err != nil {
				return fmt.Errorf("lock tokens: %w", err)
			}
		}
		for _, t := range ts {
			if t.SecretDigest == nil {
				continue
			}
			var other string
			err := s.conn(ctx).QueryRowContext(ctx, `SELECT t.serial FROM hardware_tokens t LEFT JOIN factors f ON f.id = t.claimed_by
				WHERE t.secret_digest = $1 AND t.serial <> $2 AND (t.claimed_by IS NULL OR f.id IS NOT NULL) LIMIT 1`, t.SecretDigest, t.Serial).Scan(&other)
			if err == nil {
				return twofold.Errorf(twofold.CodeConflict, "the token %q has the same secret as the token %q, imported meanwhile: nothing was imported", t.Serial, other)
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("find token digests: %w", err)
			}
		}
		for _, t := range ts {
			res, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO hardware_tokens (`+tokenColumns+`, secret_digest)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, NULL, NULL, $11) ON CONFLICT (serial) DO NOTHING`,
				t.Serial, t.Manufacturer, string(t.Type), t.Algorithm, t.Digits, int64(t.Period/time.Second), t.Counter,
				t.SecretKeyID, t.SealedSecret, micros(t.ImportedAt), t.SecretDigest)
			if err != nil {
				return fmt.Errorf("insert token: %w", err)
			}
			if n, _ := res.RowsAffected(); n != 1 {
				return twofold.Errorf(twofold.CodeConflict, "a token with serial %q is imported already: nothing was imported", t.Serial)
			}
		}
		return nil
	})
	if err != nil && !errors.Is(err, keyring.ErrKeyGone) && twofold.ErrorCode(err) == twofold.CodeInternal && len(ts) > 0 && s.dataKeyGone(ctx, ts[0].SecretKeyID) {
		return fmt.Errorf("import tokens: %w", keyring.ErrKeyGone)
	}
	return err
}

// HardwareToken returns the imported token serial; an unknown one is not-found.
func (s *Store) HardwareToken(ctx context.Context, serial string) (twofold.HardwareToken, error) {
	t, err := scanToken(s.conn(ctx).QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM hardware_tokens WHERE serial = $1`, serial))
	if errors.Is(err, sql.ErrNoRows) {
		return t, notFound("token")
	}
	if err != nil {
		return t, fmt.Errorf("select token: %w", err)
	}
	return t, nil
}

// HardwareTokens returns the imported tokens, only the unclaimed ones when
// unclaimed is set, in the order they were imported (then by serial).
func (s *Store) HardwareTokens(ctx context.Context, unclaimed bool) ([]twofold.HardwareToken, error) {
	q := `SELECT ` + tokenColumns + ` FROM hardware_tokens`
	if unclaimed {
		q += ` WHERE claimed_by IS NULL`
	}
	return queryAll(ctx, s, "tokens", scanToken, q+` ORDER BY imported_at, serial`)
}

// ClaimedTokenDigests returns the secret digests of the claimed tokens whose
// factor still exists, by serial; tokens imported without a digest are left
// out.
func (s *Store) ClaimedTokenDigests(ctx context.Context) (map[string][]byte, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT t.serial, t.secret_digest FROM hardware_tokens t
		JOIN factors f ON f.id = t.claimed_by WHERE t.secret_digest IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("select token digests: %w", err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var serial string
		var digest []byte
		if err := rows.Scan(&serial, &digest); err != nil {
			return nil, fmt.Errorf("scan token digest: %w", err)
		}
		out[serial] = digest
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select token digests: %w", err)
	}
	return out, nil
}

// ClaimedTokenFactorsWithoutDigest returns, by serial, the factors made from
// the claimed tokens that have no secret digest (claimed before migration
// 0048, or imported before it and claimed since): their secrets live on
// only in those factors.
func (s *Store) ClaimedTokenFactorsWithoutDigest(ctx context.Context) (map[string]twofold.Factor, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT t.serial, f.`+strings.ReplaceAll(factorColumns, ", ", ", f.")+`
		FROM hardware_tokens t JOIN factors f ON f.id = t.claimed_by WHERE t.secret_digest IS NULL ORDER BY t.serial`)
	if err != nil {
		return nil, fmt.Errorf("select tokens without digest: %w", err)
	}
	defer rows.Close()
	out := map[string]twofold.Factor{}
	for rows.Next() {
		var serial string
		f, err := scanFactor(prefixed{rows, &serial})
		if err != nil {
			return nil, fmt.Errorf("scan token without digest: %w", err)
		}
		out[serial] = f
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select tokens without digest: %w", err)
	}
	return out, nil
}

// prefixed scans the first column of a row into first, and the rest with
// the scan it is passed to.
type prefixed struct {
	row   interface{ Scan(...any) error }
	first any
}

func (p prefixed) Scan(dest ...any) error { return p.row.Scan(append([]any{p.first}, dest...)...) }

// SetTokenDigest stores the secret digest of the token serial only while it
// has none, so that instances that compute it at once write it once; it
// reports whether this call wrote it.
func (s *Store) SetTokenDigest(ctx context.Context, serial string, digest []byte) (bool, error) {
	return s.execOne(ctx, "set token digest", `UPDATE hardware_tokens SET secret_digest = $1 WHERE serial = $2 AND secret_digest IS NULL`, digest, serial)
}

// ClaimToken claims a hardware token as c says, all or nothing: one
// conditional UPDATE marks the token claimed by c.Factor and clears its
// sealed secret only while it is unclaimed, so that of any number of
// concurrent claims one succeeds; then the factor is stored and activated
// (ActivateFactor). It reports ok=false, writing nothing, when the token is
// unknown or claimed already, and first as ActivateFactor does.
func (s *Store) ClaimToken(ctx context.Context, c twofold.TokenClaim) (ok, first bool, err error) {
	err = s.InTx(ctx, func(ctx context.Context) error {
		ok, first = false, false
		res, err := s.conn(ctx).ExecContext(ctx, `UPDATE hardware_tokens SET claimed_by = $1, claimed_at = $2, secret_key_id = NULL, secret = NULL
			WHERE serial = $3 AND claimed_by IS NULL`, c.Factor.ID, micros(c.Activation.Now), c.Serial)
		if err != nil {
			return fmt.Errorf("claim token: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil
		}
		if err := s.CreateFactor(ctx, c.Factor); err != nil {
			return err
		}
		activated, f, err := s.ActivateFactor(ctx, c.Activation)
		if err != nil {
			return err
		}
		if !activated {
			return fmt.Errorf("claim token: factor %s of the claim is not pending", c.Factor.ID)
		}
		ok, first = true, f
		return nil
	})
	if err != nil {
		return false, false, err
	}
	return ok, first, nil
}

// sealedTokenSecrets returns the sealed secrets of the unclaimed tokens, for key rotation.
func (s *Store) sealedTokenSecrets(ctx context.Context) ([]keyring.Sealed, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT serial, secret_key_id, secret FROM hardware_tokens WHERE secret IS NOT NULL ORDER BY serial`)
	if err != nil {
		return nil, fmt.Errorf("select token secrets: %w", err)
	}
	defer rows.Close()
	var out []keyring.Sealed
	for rows.Next() {
		v := keyring.Sealed{Table: tokensTable, Column: tokensSecret}
		if err := rows.Scan(&v.Row, &v.KeyID, &v.Ciphertext); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// resealTokenSecret replaces an unclaimed token's sealed secret if it is still sealed under oldKeyID.
func (s *Store) resealTokenSecret(ctx context.Context, serial, oldKeyID, newKeyID string, sealed []byte) (bool, error) {
	return s.execOne(ctx, "reseal token", `UPDATE hardware_tokens SET secret_key_id = $1, secret = $2 WHERE serial = $3 AND secret_key_id = $4`,
		newKeyID, sealed, serial, oldKeyID)
}
