package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// ClaimForm records the first sending of a form whose token's random part
// has the keyed hash hash, for session sessionID and purpose, until
// expires. It reports false, writing nothing, when the form was sent
// before (FormMade tells what that sending made): one statement, checked
// by rows affected, so that of two sendings at once exactly one is first.
func (s *Store) ClaimForm(ctx context.Context, hash []byte, sessionID, purpose string, now, expires time.Time) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO form_uses (token_hash, session_id, purpose, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5) ON CONFLICT (token_hash) DO NOTHING`, hash, sessionID, purpose, micros(now), micros(expires))
	n, err := rowsAffected(res, err)
	if err != nil {
		return false, fmt.Errorf("claim form: %w", err)
	}
	return n == 1, nil
}

// FormMade returns what the first sending of the form hash of session
// sessionID and purpose made: its id, or "" while that sending is at
// work. ok is false when no sending of it is recorded (any more: a
// sending that made nothing is released, ReleaseForm).
func (s *Store) FormMade(ctx context.Context, hash []byte, sessionID, purpose string) (made string, ok bool, err error) {
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT made FROM form_uses WHERE token_hash = $1 AND session_id = $2 AND purpose = $3`,
		hash, sessionID, purpose).Scan(&made)
	if errors.Is(err, sql.ErrNoRows) {
		return "", false, nil
	}
	if err != nil {
		return "", false, fmt.Errorf("select form use: %w", err)
	}
	return made, true, nil
}

// FormSent returns the purpose of the form hash of session sessionID whose
// first sending is recorded, and what it made ("" while it is at work); ok
// is false when none is recorded.
func (s *Store) FormSent(ctx context.Context, hash []byte, sessionID string) (purpose, made string, ok bool, err error) {
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT purpose, made FROM form_uses WHERE token_hash = $1 AND session_id = $2`,
		hash, sessionID).Scan(&purpose, &made)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", false, nil
	}
	if err != nil {
		return "", "", false, fmt.Errorf("select form sent: %w", err)
	}
	return purpose, made, true, nil
}

// SetFormMade records made, the id of what the first sending of the form
// hash made. Only a sending still at work takes it.
func (s *Store) SetFormMade(ctx context.Context, hash []byte, sessionID, made string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE form_uses SET made = $1 WHERE token_hash = $2 AND session_id = $3 AND made = ''`,
		made, hash, sessionID); err != nil {
		return fmt.Errorf("update form use: %w", err)
	}
	return nil
}

// ReleaseForm forgets the sending of the form hash that is at work, when
// it made nothing: the form may then be sent again as if for the first
// time (to show its error again, say). A sending that made something is
// kept.
func (s *Store) ReleaseForm(ctx context.Context, hash []byte, sessionID string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM form_uses WHERE token_hash = $1 AND session_id = $2 AND made = ''`,
		hash, sessionID); err != nil {
		return fmt.Errorf("release form use: %w", err)
	}
	return nil
}
