package store

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
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
	return s.QueryEvents(ctx, twofold.EventQuery{AccountID: accountID, Before: before, Limit: limit})
}

// QueryEvents returns the events q selects, newest first, or oldest first
// when q.Forward. Of one account, the rows are read along the index
// audit_events_account (account_id, id); of every account, along the
// primary key. A type filter is applied to the rows so read: no index on
// type, which every login's event would have to update (README "Audit log
// and operations").
func (s *Store) QueryEvents(ctx context.Context, q twofold.EventQuery) ([]twofold.AuditEvent, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if q.AccountID != "" {
		where = append(where, "account_id = "+arg(q.AccountID))
	}
	if len(q.Types) > 0 {
		ps := make([]string, 0, len(q.Types))
		for _, t := range q.Types {
			ps = append(ps, arg(t))
		}
		where = append(where, "type IN ("+strings.Join(ps, ", ")+")")
	}
	order := "DESC"
	switch {
	case q.Forward:
		// The casts keep PostgreSQL from typing an id as a 32-bit integer.
		where, order = append(where, "id > CAST("+arg(q.After)+" AS BIGINT)"), "ASC"
	case q.Before > 0:
		where = append(where, "id < CAST("+arg(q.Before)+" AS BIGINT)")
	}
	sql := `SELECT id, account_id, type, at, source, user_agent, detail, COALESCE(session_id, '') FROM audit_events`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id " + order + " LIMIT " + arg(q.Limit)
	rows, err := s.conn(ctx).QueryContext(ctx, sql, args...)
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
