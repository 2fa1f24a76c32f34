package store

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/twofold/twofold"
)

// AddEvent appends an audit event.
func (s *Store) AddEvent(ctx context.Context, e twofold.AuditEvent) error {
	return addEvent(ctx, s.conn(ctx), e)
}

const eventInsertSQL = `INSERT INTO audit_events (account_id, type, at, source, user_agent, detail, session_id) VALUES ($1, $2, $3, $4, $5, $6, $7)`

func addEvent(ctx context.Context, q querier, e twofold.AuditEvent) error {
	_, err := q.ExecContext(ctx, eventInsertSQL,
		e.AccountID, e.Type, micros(e.At), e.Source, e.UserAgent, e.Detail, nullString(e.SessionID))
	if err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// Events returns up to limit events, newest first, with ids below before (0:
// from the newest), of accountID ("" for every account).
func (s *Store) Events(ctx context.Context, accountID string, before int64, limit int) ([]twofold.AuditEvent, error) {
	// The casts keep PostgreSQL from typing $2 as a 32-bit integer from "= 0".
	q := `SELECT id, account_id, type, at, source, user_agent, detail, COALESCE(session_id, '') FROM audit_events WHERE ($1 = '' OR account_id = $1) AND (CAST($2 AS BIGINT) = 0 OR id < CAST($2 AS BIGINT)) ORDER BY id DESC LIMIT $3`
	rows, err := s.conn(ctx).QueryContext(ctx, q, accountID, before, limit)
	if err != nil {
		return nil, fmt.Errorf("select audit events: %w", err)
	}
	defer rows.Close()
	var out []twofold.AuditEvent
	for rows.Next() {
		var e twofold.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Type, &at, &e.Source, &e.UserAgent, &e.Detail, &e.SessionID); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// nullString is s, or NULL for "".
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// SessionEvents returns up to limit events of the account that made a
// session at or after since, newest first: where its live sessions were
// made, by the account's index of events.
func (s *Store) SessionEvents(ctx context.Context, accountID string, since time.Time, limit int) ([]twofold.AuditEvent, error) {
	return queryAll(ctx, s, "session events", func(row interface{ Scan(...any) error }) (twofold.AuditEvent, error) {
		e := twofold.AuditEvent{AccountID: accountID}
		var at int64
		err := row.Scan(&e.ID, &e.Type, &at, &e.Source, &e.UserAgent, &e.Detail, &e.SessionID)
		e.At = fromMicros(at)
		return e, err
	}, `SELECT id, type, at, source, user_agent, detail, session_id FROM audit_events
		WHERE account_id = $1 AND session_id IS NOT NULL AND at >= $2 ORDER BY id DESC LIMIT $3`, accountID, micros(since), limit)
}
