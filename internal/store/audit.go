package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// AddEvent appends an audit event.
func (s *Store) AddEvent(ctx context.Context, e twofold.AuditEvent) error {
	return addEvent(ctx, s.conn(ctx), e)
}

const eventInsertSQL = `INSERT INTO audit_events (account_id, type, at, source, user_agent, detail, session_id, by_operator, holder_detail, actor_id)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`

func addEvent(ctx context.Context, q querier, e twofold.AuditEvent) error {
	_, err := q.ExecContext(ctx, eventInsertSQL, eventArgs(e)...)
	if err != nil {
		return fmt.Errorf("insert audit event: %w", err)
	}
	return nil
}

// eventArgs are the arguments of eventInsertSQL that store e.
func eventArgs(e twofold.AuditEvent) []any {
	return []any{e.AccountID, e.Type, micros(e.At), e.Source, e.UserAgent, e.Detail, nullString(e.SessionID),
		e.ByOperator, nullString(e.HolderDetail), e.ActorID}
}

// Events returns up to limit events, newest first, with ids below before (0:
// from the newest), of accountID ("" for every account).
func (s *Store) Events(ctx context.Context, accountID string, before int64, limit int) ([]twofold.AuditEvent, error) {
	return s.QueryEvents(ctx, twofold.EventQuery{AccountID: accountID, Before: before, Limit: limit})
}

// QueryEvents returns the events q selects, newest first, or oldest first
// when q.Forward; a forward page on PostgreSQL ends at finalEventID, so
// that polling with After never passes over an event. Of one account, the rows are read along the index
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
		if s.dialect != SQLite {
			// Only ids below which no event can still appear: a page
			// never passes over an event committed after it.
			final, err := s.finalEventID(ctx)
			if err != nil {
				return nil, err
			}
			if final <= q.After {
				return nil, nil
			}
			where = append(where, "id <= CAST("+arg(final)+" AS BIGINT)")
		}
	case q.Before > 0:
		where = append(where, "id < CAST("+arg(q.Before)+" AS BIGINT)")
	}
	sql := `SELECT id, account_id, type, at, source, user_agent, detail, COALESCE(session_id, ''), by_operator, COALESCE(holder_detail, ''), actor_id FROM audit_events`
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
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Type, &at, &e.Source, &e.UserAgent, &e.Detail, &e.SessionID, &e.ByOperator, &e.HolderDetail, &e.ActorID); err != nil {
			return nil, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	return out, rows.Err()
}

// nullString is s, or NULL for "".
func nullString(s string) sql.NullString { return sql.NullString{String: s, Valid: s != ""} }

// LiveSessions returns up to limit sessions of the account that still work
// at now (unexpired, of the account's session epoch), newest first, each with
// the event that made it. They are read through the account's index of
// events, joined to the sessions by their keys. The events read start after
// the least event floor (migration 0069) of the account's sessions that
// still work (liveSessionsFrom): the event that made each was stored after
// its floor, so none is missed however the instances' clocks disagree or
// were stepped, and a session made under a longer --session-ttl keeps the
// expiry it was given and is found as long as it works.
func (s *Store) LiveSessions(ctx context.Context, accountID string, epoch int64, now time.Time, limit int) ([]twofold.LiveSession, error) {
	from, found, err := s.liveSessionsFrom(ctx, accountID, now)
	if err != nil || !found {
		return nil, err
	}
	return queryAll(ctx, s, "live sessions", func(row interface{ Scan(...any) error }) (twofold.LiveSession, error) {
		var l twofold.LiveSession
		var at, created, expires, elevated int64
		err := row.Scan(&l.Made.ID, &l.Made.Type, &at, &l.Made.Source, &l.Made.UserAgent, &l.Made.Detail, &l.Session.ID,
			&created, &expires, &elevated)
		l.Made.AccountID, l.Made.SessionID, l.Made.At = accountID, l.Session.ID, fromMicros(at)
		l.Session.AccountID, l.Session.Epoch = accountID, epoch
		l.Session.CreatedAt, l.Session.ExpiresAt, l.Session.ElevatedUntil = fromMicros(created), fromMicros(expires), fromMicros(elevated)
		return l, err
	}, liveSessionsSQL, accountID, from, epoch, micros(now), limit)
}

const liveSessionsSQL = `SELECT e.id, e.type, e.at, e.source, e.user_agent, e.detail, s.id, s.created_at, s.expires_at, s.elevated_until
		FROM audit_events e JOIN sessions s ON s.id = e.session_id
		WHERE e.account_id = $1 AND e.id >= CAST($2 AS BIGINT) AND s.account_id = $1 AND s.session_epoch = $3 AND s.expires_at > $4
		ORDER BY e.id DESC LIMIT $5`

// liveSessionsFrom returns the least event id from which on the events that
// made the account's sessions unexpired at now are (found is false when
// there is none): one past the least event floor of those sessions, read
// by the index of sessions by account and expiry (migration 0082): the
// account's live sessions alone, whatever the number of accounts signed in.
// (From migration 0010 to 0082 there was no such index, and this read every
// live session by the index of expiries, keeping the account's.) Sessions
// stored before migration 0069 have no floor; while one of them works, the
// read also starts where the search by time finds it
// (fromOldestLiveSession).
func (s *Store) liveSessionsFrom(ctx context.Context, accountID string, now time.Time) (int64, bool, error) {
	var floor sql.NullInt64
	var live, unfloored int64
	err := s.conn(ctx).QueryRowContext(ctx, liveSessionsFromSQL, accountID, micros(now)).Scan(&floor, &live, &unfloored)
	if err != nil {
		return 0, false, fmt.Errorf("select least event floor: %w", err)
	}
	if live == 0 {
		return 0, false, nil
	}
	from := int64(math.MaxInt64)
	if floor.Valid {
		from = floor.Int64 + 1
	}
	if unfloored > 0 {
		old, found, err := s.fromOldestLiveSession(ctx, now)
		if err != nil {
			return 0, false, err
		}
		if found {
			from = min(from, old)
		} else {
			from = 0 // expired between the two reads: read them all
		}
	}
	return from, true, nil
}

const liveSessionsFromSQL = `SELECT MIN(event_floor), COUNT(*), COUNT(*) - COUNT(event_floor) FROM sessions WHERE account_id = $1 AND expires_at > $2`

// fromOldestLiveSession is how the events to read were found before
// migration 0069, for sessions stored before it: from the creation of the
// oldest session of any account that still works (oldestLiveSession), less
// a whole lifetime of that session, as event times follow the clocks of the
// instances that recorded them, and a clock stepped back or instances that
// disagree make a later event look older than the session; the search for
// the first event (firstEventSince) is right for any such disorder up to
// that margin.
func (s *Store) fromOldestLiveSession(ctx context.Context, now time.Time) (int64, bool, error) {
	since, lifetime, found, err := s.oldestLiveSession(ctx, now)
	if err != nil || !found {
		return 0, false, err
	}
	from, err := s.firstEventSince(ctx, since.Add(-max(lifetime, time.Minute)))
	return from, err == nil, err
}

// oldestLiveSession returns when the oldest session of any account that is
// unexpired at now was made and the lifetime it was given (found is false
// when there is none): the first
// in the order of the sessions' key, which sorts by the time of creation
// (an ordered ID; see migration 0007), whose expiry is after now. The
// primary key is read from its start and stops at the first such session,
// past only those expired and not yet swept; the unary plus keeps both
// planners off the index of expiries, which would visit every live session
// to sort them.
func (s *Store) oldestLiveSession(ctx context.Context, now time.Time) (time.Time, time.Duration, bool, error) {
	var created, expires int64
	err := s.conn(ctx).QueryRowContext(ctx, oldestLiveSessionSQL, micros(now)).Scan(&created, &expires)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, 0, false, nil
	}
	if err != nil {
		return time.Time{}, 0, false, fmt.Errorf("select oldest live session: %w", err)
	}
	return fromMicros(created), fromMicros(expires).Sub(fromMicros(created)), true, nil
}

const oldestLiveSessionSQL = `SELECT created_at, expires_at FROM sessions WHERE +expires_at > $1 ORDER BY id LIMIT 1`

// firstEventSince returns an event id from which on the events are the
// ones recorded at or after since: a binary search over the ids, each step
// one lookup by the primary key, which assumes times grow with the ids. They
// do only roughly: transactions that overlap, a clock stepped back and
// instances whose clocks disagree record a later event with an earlier
// time. The search stops next to an event recorded before since, so an event
// before the id found may have been recorded after since by as much as the
// largest step back; callers pass since less a margin for that.
func (s *Store) firstEventSince(ctx context.Context, since time.Time) (int64, error) {
	var hi int64
	if err := s.conn(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) + 1 FROM audit_events`).Scan(&hi); err != nil {
		return 0, fmt.Errorf("select last event: %w", err)
	}
	lo := int64(0)
	for lo < hi {
		mid := lo + (hi-lo)/2
		var at int64
		err := s.conn(ctx).QueryRowContext(ctx, `SELECT at FROM audit_events WHERE id >= CAST($1 AS BIGINT) ORDER BY id LIMIT 1`, mid).Scan(&at)
		switch {
		case errors.Is(err, sql.ErrNoRows) || err == nil && at >= micros(since):
			hi = mid
		case err != nil:
			return 0, fmt.Errorf("select event by id: %w", err)
		default:
			lo = mid + 1
		}
	}
	return lo, nil
}
