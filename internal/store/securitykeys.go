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

// PutCeremony stores c as its scope's one WebAuthn ceremony, replacing the
// one begun before in that scope.
func (s *Store) PutCeremony(ctx context.Context, c twofold.Ceremony) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO webauthn_ceremonies (scope, account_id, challenge, session_data, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT (scope) DO UPDATE SET account_id = excluded.account_id, challenge = excluded.challenge,
			session_data = excluded.session_data, created_at = excluded.created_at, expires_at = excluded.expires_at`,
		c.Scope, c.AccountID, c.Challenge, c.Session, micros(c.CreatedAt), micros(c.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store webauthn ceremony: %w", err)
	}
	return nil
}

// KeepCeremony stores c as its scope's one WebAuthn ceremony unless the
// scope has one unexpired at c.CreatedAt that kept its options, and
// returns the one the scope then has: c, or the live one, left as it was.
// One conditional statement, so that of concurrent requests for one scope,
// on any instance, every one gets the same ceremony; a live one is never
// replaced, so whoever asks again does not void the challenge its first
// asker's key is signing.
func (s *Store) KeepCeremony(ctx context.Context, c twofold.Ceremony) (twofold.Ceremony, error) {
	var live twofold.Ceremony
	var created, expires int64
	err := s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO webauthn_ceremonies (scope, account_id, challenge, session_data, created_at, expires_at, options)
			VALUES ($1, $2, $3, $4, $5, $6, $7)
			ON CONFLICT (scope) DO UPDATE SET account_id = excluded.account_id, challenge = excluded.challenge,
				session_data = excluded.session_data, created_at = excluded.created_at, expires_at = excluded.expires_at, options = excluded.options
			WHERE webauthn_ceremonies.expires_at <= excluded.created_at OR webauthn_ceremonies.options IS NULL
				OR webauthn_ceremonies.account_id <> excluded.account_id`,
			c.Scope, c.AccountID, c.Challenge, c.Session, micros(c.CreatedAt), micros(c.ExpiresAt), nilIfEmpty(c.Options)); err != nil {
			return fmt.Errorf("store webauthn ceremony: %w", err)
		}
		if err := tx.QueryRowContext(ctx, `SELECT scope, account_id, challenge, session_data, created_at, expires_at, options
			FROM webauthn_ceremonies WHERE scope = $1`, c.Scope).Scan(&live.Scope, &live.AccountID, &live.Challenge, &live.Session,
			&created, &expires, &live.Options); err != nil {
			return fmt.Errorf("select webauthn ceremony: %w", err)
		}
		return nil
	})
	if err != nil {
		return twofold.Ceremony{}, err
	}
	live.CreatedAt, live.ExpiresAt = fromMicros(created), fromMicros(expires)
	return live, nil
}

// CeremonySession returns the session data of the account's ceremony in
// scope with challenge, if it is unexpired at now, and leaves it in place:
// an assertion is checked against it before TakeCeremony uses it up, so
// that an answer whose signature fails uses up nothing.
func (s *Store) CeremonySession(ctx context.Context, scope, accountID, challenge string, now time.Time) (session []byte, ok bool, err error) {
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT session_data FROM webauthn_ceremonies
		WHERE scope = $1 AND account_id = $2 AND challenge = $3 AND expires_at > $4`,
		scope, accountID, challenge, micros(now)).Scan(&session)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read webauthn ceremony: %w", err)
	}
	return session, true, nil
}

// TakeCeremony deletes the account's ceremony in scope with challenge, if
// it is unexpired at now, and returns its session data: one conditional
// DELETE, so of any number of requests that finish one ceremony, on any
// number of instances, exactly one gets it (ok); the others get ok=false.
func (s *Store) TakeCeremony(ctx context.Context, scope, accountID, challenge string, now time.Time) (session []byte, ok bool, err error) {
	err = s.conn(ctx).QueryRowContext(ctx, `DELETE FROM webauthn_ceremonies
		WHERE scope = $1 AND account_id = $2 AND challenge = $3 AND expires_at > $4 RETURNING session_data`,
		scope, accountID, challenge, micros(now)).Scan(&session)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("take webauthn ceremony: %w", err)
	}
	return session, true, nil
}

// PutPasskeyLogin stores a sign-in with a passkey begun.
func (s *Store) PutPasskeyLogin(ctx context.Context, l twofold.PasskeyLogin) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO passkey_logins (id, challenge, session_data, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5)`, l.ID, l.Challenge, l.Session, micros(l.CreatedAt), micros(l.ExpiresAt))
	if err != nil {
		return fmt.Errorf("store passkey login: %w", err)
	}
	return nil
}

// TakePasskeyLogin deletes the sign-in with a passkey id, if it is
// unexpired at now, and returns it: one conditional DELETE, so of any
// number of requests that finish one, on any number of instances, exactly
// one gets it (ok); the others get ok=false.
func (s *Store) TakePasskeyLogin(ctx context.Context, id string, now time.Time) (l twofold.PasskeyLogin, ok bool, err error) {
	var created, expires int64
	err = s.conn(ctx).QueryRowContext(ctx, `DELETE FROM passkey_logins WHERE id = $1 AND expires_at > $2
		RETURNING id, challenge, session_data, created_at, expires_at`, id, micros(now)).Scan(&l.ID, &l.Challenge, &l.Session, &created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return l, false, nil
	}
	if err != nil {
		return l, false, fmt.Errorf("take passkey login: %w", err)
	}
	l.CreatedAt, l.ExpiresAt = fromMicros(created), fromMicros(expires)
	return l, true, nil
}

const securityKeyColumns = `factor_id, account_id, credential_id, public_key, sign_count, aaguid, transports, flags, attestation_type, attestation_format, discoverable, user_verified`

// SecurityKeys returns the credentials of the account's active webauthn
// factors, oldest factor first.
func (s *Store) SecurityKeys(ctx context.Context, accountID string) ([]twofold.SecurityKey, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT c.factor_id, c.account_id, c.credential_id, c.public_key, c.sign_count, c.aaguid,
			c.transports, c.flags, c.attestation_type, c.attestation_format, c.discoverable, c.user_verified
		FROM webauthn_credentials c JOIN factors f ON f.id = c.factor_id
		WHERE c.account_id = $1 AND f.status = 'active' ORDER BY f.created_at, f.id`, accountID)
	if err != nil {
		return nil, fmt.Errorf("select security keys: %w", err)
	}
	defer rows.Close()
	var out []twofold.SecurityKey
	for rows.Next() {
		var k twofold.SecurityKey
		var count int64
		var transports string
		var flags int
		if err := rows.Scan(&k.FactorID, &k.AccountID, &k.CredentialID, &k.PublicKey, &count, &k.AAGUID, &transports, &flags,
			&k.AttestationType, &k.AttestationFormat, &k.Discoverable, &k.UserVerified); err != nil {
			return nil, fmt.Errorf("select security keys: %w", err)
		}
		k.SignCount, k.Flags = uint32(count), byte(flags)
		if transports != "" {
			k.Transports = strings.Split(transports, ",")
		}
		out = append(out, k)
	}
	return out, rows.Err()
}

// ActivateSecurityKey stores k, the credential of the pending webauthn
// factor a activates, and activates the factor as ActivateFactor does, all
// or nothing. A credential registered already (to any account) is a
// conflict, and nothing is written; ok=false: the factor was not pending,
// and nothing is written either.
func (s *Store) ActivateSecurityKey(ctx context.Context, k twofold.SecurityKey, a twofold.Activation) (ok, first bool, err error) {
	err = s.InTx(ctx, func(ctx context.Context) error {
		if ok, first, err = s.ActivateFactor(ctx, a); err != nil || !ok {
			return err
		}
		_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO webauthn_credentials (`+securityKeyColumns+`)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
			k.FactorID, k.AccountID, k.CredentialID, k.PublicKey, int64(k.SignCount), k.AAGUID, strings.Join(k.Transports, ","),
			int(k.Flags), k.AttestationType, k.AttestationFormat, k.Discoverable, k.UserVerified)
		if isUniqueViolation(err) {
			return twofold.Errorf(twofold.CodeConflict, "this security key is registered already")
		}
		if err != nil {
			return fmt.Errorf("insert security key: %w", err)
		}
		return nil
	})
	if err != nil {
		return false, false, err
	}
	return ok, first, nil
}

// UseSecurityKey records an accepted assertion of an active factor's key:
// its signature counter moves to count and its flags to flags, only forward
// (count above the stored one, or both 0 for a key that keeps no counter),
// by one conditional UPDATE, and the factor is marked used. It reports false,
// writing nothing, when the counter is already at count or past it, or the
// factor is not active.
func (s *Store) UseSecurityKey(ctx context.Context, factorID string, count uint32, flags byte, now time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE webauthn_credentials SET sign_count = $1, flags = $2
			WHERE factor_id = $3 AND (sign_count < $1 OR ($1 = 0 AND sign_count = 0))
			AND EXISTS (SELECT 1 FROM factors f WHERE f.id = $3 AND f.status = 'active')`, int64(count), int(flags), factorID)
		if err != nil {
			return fmt.Errorf("use security key: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return err
		}
		ok = true
		var accountID string
		if err := tx.QueryRowContext(ctx, `UPDATE factors SET last_used_at = $1 WHERE id = $2 RETURNING account_id`, micros(now), factorID).Scan(&accountID); err != nil {
			return fmt.Errorf("use security key: %w", err)
		}
		return noteFactorUse(ctx, tx, accountID, now)
	})
	return ok, err
}
