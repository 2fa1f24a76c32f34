package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// CreatePushDevice stores the enrolment of a push factor's device; the
// factor is created first, in the same transaction (InTx).
func (s *Store) CreatePushDevice(ctx context.Context, d twofold.PushDevice) error {
	_, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO push_devices (factor_id, account_id, enrol_hash, enrol_challenge, enrol_expires_at)
		VALUES ($1, $2, $3, $4, $5)`, d.FactorID, d.AccountID, d.EnrolHash, d.EnrolChallenge, micros(d.EnrolExpiresAt))
	if err != nil {
		return fmt.Errorf("insert push device: %w", err)
	}
	return nil
}

// PushDevice returns the device of push factor factorID; an unknown one is
// not-found.
func (s *Store) PushDevice(ctx context.Context, factorID string) (twofold.PushDevice, error) {
	d := twofold.PushDevice{FactorID: factorID}
	var expires int64
	var enrolled sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT account_id, enrol_hash, enrol_challenge, enrol_expires_at, public_key, enrolled_at
		FROM push_devices WHERE factor_id = $1`, factorID).Scan(&d.AccountID, &d.EnrolHash, &d.EnrolChallenge, &expires, &d.PublicKey, &enrolled)
	if errors.Is(err, sql.ErrNoRows) {
		return d, notFound("push device")
	}
	if err != nil {
		return d, fmt.Errorf("select push device: %w", err)
	}
	d.EnrolExpiresAt, d.EnrolledAt = fromMicros(expires), fromNullMicros(enrolled)
	return d, nil
}

// EnrolPushDevice sets the device's public key, only if the enrolment token
// hashed to hash is the device's, unexpired at now, and no key is set yet:
// one conditional UPDATE, so a token registers one key once. The token's
// hash is cleared with it.
func (s *Store) EnrolPushDevice(ctx context.Context, factorID string, hash, publicKey []byte, now time.Time) (bool, error) {
	return s.execOne(ctx, "enrol push device", `UPDATE push_devices SET public_key = $1, enrolled_at = $2, enrol_hash = NULL
		WHERE factor_id = $3 AND enrol_hash = $4 AND enrol_expires_at > $2 AND public_key IS NULL`, publicKey, micros(now), factorID, hash)
}

// RenewPushEnrolment replaces the enrolment token and challenge of a device
// that has not enrolled yet, reporting false when it has.
func (s *Store) RenewPushEnrolment(ctx context.Context, factorID string, hash []byte, challenge string, expires time.Time) (bool, error) {
	return s.execOne(ctx, "renew push enrolment", `UPDATE push_devices SET enrol_hash = $1, enrol_challenge = $2, enrol_expires_at = $3
		WHERE factor_id = $4 AND public_key IS NULL`, hash, challenge, micros(expires), factorID)
}

// TakePushNonce records the nonce of a device's signed request until
// expires, reporting false when the device used it already: one INSERT, so
// of a request and its replays exactly one passes, on any instance.
func (s *Store) TakePushNonce(ctx context.Context, factorID, nonce string, expires time.Time) (bool, error) {
	return s.execOne(ctx, "take push nonce", `INSERT INTO push_nonces (factor_id, nonce, expires_at) VALUES ($1, $2, $3)
		ON CONFLICT (factor_id, nonce) DO NOTHING`, factorID, nonce, micros(expires))
}

// TakeDeviceRequest admits a device's signed request: it takes a token
// from bucket b (the device's ration) and, when there was one, records
// nonce as TakePushNonce does. took is false when the bucket was empty, and
// then nothing was written; fresh is false when the device used nonce
// already (the token stays taken, as a replay costs its sender). Both
// writes are one commit: on PostgreSQL one statement, on SQLite one
// transaction of the writer, so a device's poll syncs the disk once.
func (s *Store) TakeDeviceRequest(ctx context.Context, b twofold.Bucket, factorID, nonce string, expires time.Time) (took, fresh bool, err error) {
	if s.dialect == Postgres {
		err = s.conn(ctx).QueryRowContext(ctx, takeDeviceRequestSQL,
			b.Key, b.Burst, micros(b.Now), b.Rate, factorID, nonce, micros(expires)).Scan(&took, &fresh)
		if err != nil {
			return false, false, fmt.Errorf("take device request: %w", err)
		}
		return took, fresh, nil
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		if took, err = s.TakeToken(ctx, b.Key, b.Burst, b.Rate, b.Now); err != nil || !took {
			return err
		}
		fresh, err = s.TakePushNonce(ctx, factorID, nonce, expires)
		return err
	})
	if err != nil {
		return false, false, err
	}
	return took, fresh, nil
}

// takeDeviceRequestSQL is TakeDeviceRequest on PostgreSQL: the token
// ($1 to $4: key, burst, now and rate, see takeTokenSQL), then the nonce
// ($5 to $7), inserted only when a token was taken.
var takeDeviceRequestSQL = `WITH tok AS (` + takeTokenSQL("$1", "$2", "$3", "$4") + ` RETURNING 1),
	nonce AS (INSERT INTO push_nonces (factor_id, nonce, expires_at) SELECT CAST($5 AS TEXT), CAST($6 AS TEXT), CAST($7 AS BIGINT) WHERE EXISTS (SELECT 1 FROM tok)
		ON CONFLICT (factor_id, nonce) DO NOTHING RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM tok), EXISTS (SELECT 1 FROM nonce)`

// PushNonceUsed reports whether the device used nonce already (its record
// is kept until swept). It only spares a replay the work of a fresh
// request: TakePushNonce is what decides.
func (s *Store) PushNonceUsed(ctx context.Context, factorID, nonce string) (bool, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM push_nonces WHERE factor_id = $1 AND nonce = $2`, factorID, nonce).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("select push nonce: %w", err)
	}
	return n > 0, nil
}

// CreatePushChallenge stores c, pending, in place of the challenges of the
// same account and scope that are live at c.CreatedAt (pending or approved,
// unexpired), so that one sign-in has one live push at a time; but only when
// each of those was sent to the requester whose secret hashes to resender (a
// resend). While one sent to another requester is live, nothing is stored:
// ok is false and busyUntil is when the last such one expires. A challenge
// without a requester hash counts as another requester's, and a nil
// resender is no requester. The account's row is held, so that of
// concurrent requests for one scope, on any instance, one is stored and the
// others see it.
func (s *Store) CreatePushChallenge(ctx context.Context, c twofold.PushChallenge, resender []byte) (ok bool, busyUntil time.Time, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		ok, busyUntil = false, time.Time{}
		if err := lockAccount(ctx, tx, c.AccountID); err != nil {
			return err
		}
		var busy sql.NullInt64
		if err := tx.QueryRowContext(ctx, `SELECT MAX(expires_at) FROM push_challenges
			WHERE account_id = $1 AND scope = $2 AND status IN ('pending', 'approved') AND expires_at > $3
				AND COALESCE(requester_hash <> $4, TRUE)`, c.AccountID, c.Scope, micros(c.CreatedAt), resender).Scan(&busy); err != nil {
			return fmt.Errorf("select live push challenges: %w", err)
		}
		if busy.Valid {
			busyUntil = fromMicros(busy.Int64)
			return nil
		}
		if _, err := tx.ExecContext(ctx, `UPDATE push_challenges SET status = 'replaced'
			WHERE account_id = $1 AND scope = $2 AND status IN ('pending', 'approved') AND expires_at > $3`, c.AccountID, c.Scope, micros(c.CreatedAt)); err != nil {
			return fmt.Errorf("replace push challenges: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO push_challenges (id, factor_id, account_id, scope, number_hash, requester_hash, status, source, user_agent, created_at, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`, c.ID, c.FactorID, c.AccountID, c.Scope, c.NumberHash, c.RequesterHash, string(c.Status),
			c.Source, c.UserAgent, micros(c.CreatedAt), micros(c.ExpiresAt)); err != nil {
			return fmt.Errorf("insert push challenge: %w", err)
		}
		ok = true
		return nil
	})
	return ok, busyUntil, err
}

const pushColumns = `id, factor_id, account_id, scope, number_hash, requester_hash, status, source, user_agent, created_at, expires_at, answered_at, cause`

func scanPush(sc interface{ Scan(...any) error }) (twofold.PushChallenge, error) {
	var c twofold.PushChallenge
	var created, expires int64
	var answered sql.NullInt64
	var status string
	err := sc.Scan(&c.ID, &c.FactorID, &c.AccountID, &c.Scope, &c.NumberHash, &c.RequesterHash, &status, &c.Source, &c.UserAgent, &created, &expires, &answered, &c.Cause)
	c.Status, c.CreatedAt, c.ExpiresAt, c.AnsweredAt = twofold.PushStatus(status), fromMicros(created), fromMicros(expires), fromNullMicros(answered)
	return c, err
}

// PendingPushChallenges returns the device's challenges waiting for an
// answer at now, oldest first.
func (s *Store) PendingPushChallenges(ctx context.Context, factorID string, now time.Time) ([]twofold.PushChallenge, error) {
	return queryAll(ctx, s, "push challenges", scanPush, `SELECT `+pushColumns+` FROM push_challenges
		WHERE factor_id = $1 AND status = 'pending' AND expires_at > $2 ORDER BY created_at, id`, factorID, micros(now))
}

// PushExpiredUnanswered returns the challenges still pending that expired
// after since and at or before now, that is unanswered until they expired,
// latest first, at most limit: found by the index on expires_at.
func (s *Store) PushExpiredUnanswered(ctx context.Context, since, now time.Time, limit int) ([]twofold.PushChallenge, error) {
	return queryAll(ctx, s, "expired push challenges", scanPush, `SELECT `+pushColumns+` FROM push_challenges
		WHERE status = 'pending' AND expires_at > $1 AND expires_at <= $2 ORDER BY expires_at DESC, id LIMIT $3`, micros(since), micros(now), limit)
}

// PushFactorsWaiting returns the devices (factor ids) of every account that
// have a pending challenge unexpired at now: few, as challenges expire in
// minutes, and found by the index on expires_at.
func (s *Store) PushFactorsWaiting(ctx context.Context, now time.Time) ([]string, error) {
	return queryAll(ctx, s, "push devices waiting", func(row interface{ Scan(...any) error }) (string, error) {
		var id string
		err := row.Scan(&id)
		return id, err
	}, `SELECT DISTINCT factor_id FROM push_challenges WHERE expires_at > $1 AND status = 'pending'`, micros(now))
}

// PushChallenge returns a challenge by id; an unknown one is not-found.
func (s *Store) PushChallenge(ctx context.Context, id string) (twofold.PushChallenge, error) {
	c, err := scanPush(s.conn(ctx).QueryRowContext(ctx, `SELECT `+pushColumns+` FROM push_challenges WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return c, notFound("push challenge")
	}
	if err != nil {
		return c, fmt.Errorf("select push challenge: %w", err)
	}
	return c, nil
}

// LatestPushChallenge returns the newest challenge of the account for
// scope whose requester's secret hashes to requesterHash: another
// requester's challenges are not found.
func (s *Store) LatestPushChallenge(ctx context.Context, accountID, scope string, requesterHash []byte) (twofold.PushChallenge, bool, error) {
	c, err := scanPush(s.conn(ctx).QueryRowContext(ctx, `SELECT `+pushColumns+` FROM push_challenges
		WHERE account_id = $1 AND scope = $2 AND requester_hash = $3 ORDER BY created_at DESC, id DESC LIMIT 1`, accountID, scope, requesterHash))
	if errors.Is(err, sql.ErrNoRows) {
		return c, false, nil
	}
	if err != nil {
		return c, false, fmt.Errorf("select push challenge: %w", err)
	}
	return c, true, nil
}

// AnswerPushChallenge records the device's answer: status (approved or
// denied) with its cause, only while the challenge of that device is pending
// and unexpired at now; an approval may then be used until usableUntil. One
// conditional UPDATE: of two answers, one counts.
func (s *Store) AnswerPushChallenge(ctx context.Context, id, factorID string, status twofold.PushStatus, cause string, now, usableUntil time.Time) (bool, error) {
	return s.execOne(ctx, "answer push challenge", `UPDATE push_challenges SET status = $1, cause = $2, answered_at = $3, expires_at = $4
		WHERE id = $5 AND factor_id = $6 AND status = 'pending' AND expires_at > $3`, string(status), cause, micros(now), micros(usableUntil), id, factorID)
}

// EndPushChallenge ends challenge id while it is pending or approved (its
// login or session has ended): it is no longer shown, answered or used.
func (s *Store) EndPushChallenge(ctx context.Context, id string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE push_challenges SET status = 'ended' WHERE id = $1 AND status IN ('pending', 'approved')`, id); err != nil {
		return fmt.Errorf("end push challenge: %w", err)
	}
	return nil
}

// UsePushApproval uses the account's approved, unexpired challenge for
// scope (only factorID's when set) whose requester's secret hashes to
// requesterHash, and marks its factor used: one conditional UPDATE, so an
// approval completes one second step, once, for whoever asked for it. A
// challenge without a requester hash (made before there was one) is never
// used.
func (s *Store) UsePushApproval(ctx context.Context, accountID, scope, factorID string, requesterHash []byte, now time.Time) (bool, error) {
	var ok bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var fid string
		err := tx.QueryRowContext(ctx, `UPDATE push_challenges SET status = 'used'
			WHERE account_id = $1 AND scope = $2 AND ($3 = '' OR factor_id = $3) AND requester_hash = $4 AND status = 'approved' AND expires_at > $5
			RETURNING factor_id`, accountID, scope, factorID, requesterHash, micros(now)).Scan(&fid)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("use push approval: %w", err)
		}
		ok = true
		if _, err := tx.ExecContext(ctx, `UPDATE factors SET last_used_at = $1 WHERE id = $2`, micros(now), fid); err != nil {
			return fmt.Errorf("use push approval: %w", err)
		}
		return noteFactorUse(ctx, tx, accountID, now)
	})
	return ok, err
}

// PushScopeDenied reports whether a challenge of the account for scope was
// denied (and is still kept: see DeleteExpiredPush).
func (s *Store) PushScopeDenied(ctx context.Context, accountID, scope string) (bool, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM push_challenges
		WHERE account_id = $1 AND scope = $2 AND status = 'denied'`, accountID, scope).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("select denied push challenges: %w", err)
	}
	return n > 0, nil
}

// PushDenials counts the scopes (logins, sessions' elevations) of the
// account with a challenge denied since since and not forgiven: a scope's
// denials count once.
func (s *Store) PushDenials(ctx context.Context, accountID string, since time.Time) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(DISTINCT scope) FROM push_challenges
		WHERE account_id = $1 AND status = 'denied' AND answered_at > $2 AND NOT forgiven`, accountID, micros(since)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count push denials: %w", err)
	}
	return n, nil
}

// PushUnapproved counts the scopes (logins, sessions' elevations) of the
// account with a challenge created after since, none of which was
// approved and none of which still waits at now: each was denied, or
// went unanswered until it expired or its login ended. A challenge
// approved once counts as approved whatever came of it (used, replaced by
// a resend, ended with its login), as answered_at is set and its status is
// not denied; a scope's challenges count once, so that resending one push
// does not count it again.
func (s *Store) PushUnapproved(ctx context.Context, accountID string, since, now time.Time) (int, error) {
	var n int
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT COUNT(*) FROM (SELECT scope FROM push_challenges
		WHERE account_id = $1 AND created_at > $2 GROUP BY scope
		HAVING SUM(CASE WHEN answered_at IS NOT NULL AND status <> 'denied' THEN 1 ELSE 0 END) = 0
			AND SUM(CASE WHEN status = 'pending' AND expires_at > $3 THEN 1 ELSE 0 END) = 0) AS unapproved`,
		accountID, micros(since), micros(now)).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("count unapproved push requests: %w", err)
	}
	return n, nil
}

// ForgivePushDenials stops counting the account's challenges denied since
// since, and returns how many were counted: one UPDATE, so that a denial
// is counted or forgiven, never both. The challenges stay, with their
// answers.
func (s *Store) ForgivePushDenials(ctx context.Context, accountID string, since time.Time) (int, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE push_challenges SET forgiven = TRUE
		WHERE account_id = $1 AND status = 'denied' AND answered_at > $2 AND NOT forgiven`, accountID, micros(since))
	n, err := rowsAffected(res, err)
	if err != nil {
		return 0, fmt.Errorf("forgive push denials: %w", err)
	}
	return int(n), nil
}

// DeleteExpiredPush removes nonces expired at now and challenges expired
// before keepUntil (the denials counted against push bombing must stay
// that long), in batches (sweepBatch), each found by its table's index of
// expiries.
func (s *Store) DeleteExpiredPush(ctx context.Context, now, keepUntil time.Time) error {
	if _, err := s.sweep(ctx, "push_nonces", s.sweepSQL("push_nonces", "rowid", expiredCond), now); err != nil {
		return err
	}
	_, err := s.sweep(ctx, "push_challenges", s.sweepSQL("push_challenges", "rowid", expiredCond), keepUntil)
	return err
}
