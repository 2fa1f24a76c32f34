package store

import (
	"context"
	"fmt"
	"runtime"
	"time"
)

// sweepBatch is how many rows one statement of the sweep deletes at most:
// each batch is its own transaction, so that a backlog (300,000 logins
// after downtime or a flood) never holds SQLite's single writer for
// longer than one batch takes, and sign-ins wait for a batch, not the
// backlog. A sweep that walks a table's key (sweepByKey) looks at most
// this many keys a statement.
const sweepBatch = 2000

// sweptTables are the tables DeleteExpired deletes from by expires_at,
// each read by its index of expiries (see SweepPlansForTest), and the key
// of a row on SQLite: its rowid, or its primary key for a table without
// one (sessions and logins, migrations 0007 and 0008). On SQLite sessions
// have no index of expiries (migration 0090): they are swept by walking
// their key (sweepSessions).
var sweptTables = []struct{ table, sqliteKey string }{
	{"sessions", "id"}, {"logins", "id"}, {"api_tokens", "rowid"}, {"sent_codes", "rowid"},
	{"webauthn_ceremonies", "rowid"}, {"passkey_logins", "rowid"}, {"ssh_challenges", "rowid"},
	{"password_resets", "rowid"}, {"email_changes", "rowid"}, {"form_uses", "rowid"},
}

// expiredCond is the condition of sweepSQL for rows whose expires_at is
// below $1; expiredSinceCond the same for rows that expire (expires_at
// above 0: no expiry).
const (
	expiredCond      = `expires_at < $1`
	expiredSinceCond = `expires_at > 0 AND expires_at < $1`
)

// sweepSQL returns the statement deleting at most $2 rows of table for
// which cond holds (cond reads $1, and from $3 on any further arguments).
// The rows are found by an index cond can be answered by (an index of
// expiries) and deleted by their row key: rowid (or primary key) on
// SQLite, ctid on PostgreSQL, in the one statement (a row PostgreSQL sees
// updated meanwhile has another ctid and stays for the next sweep).
func (s *Store) sweepSQL(table, sqliteKey, cond string) string {
	if s.dialect == Postgres {
		return `DELETE FROM ` + table + ` WHERE ctid = ANY(ARRAY(SELECT ctid FROM ` + table + ` WHERE ` + cond + ` LIMIT $2))`
	}
	return `DELETE FROM ` + table + ` WHERE ` + sqliteKey + ` IN (SELECT ` + sqliteKey + ` FROM ` + table + ` WHERE ` + cond + ` LIMIT $2)`
}

// sweep runs q, a statement of sweepSQL, with before and args, batch after
// batch until one deletes fewer than a batch, each batch its own
// transaction, and returns how many rows it deleted. It stops early when
// ctx ends.
func (s *Store) sweep(ctx context.Context, table, q string, before time.Time, args ...any) (int64, error) {
	batch := s.batch()
	var total int64
	for {
		res, err := s.conn(ctx).ExecContext(ctx, q, append([]any{micros(before), batch}, args...)...)
		n, err := rowsAffected(res, err)
		if err != nil {
			return total, fmt.Errorf("delete expired %s: %w", table, err)
		}
		total += n
		if s.onSweepBatch != nil {
			s.onSweepBatch(table, n)
		}
		if n < int64(batch) {
			return total, nil
		}
		if err := s.betweenBatches(ctx); err != nil {
			return total, err
		}
	}
}

// batch returns the number of rows a statement of the sweep deletes at
// most.
func (s *Store) batch() int {
	if s.sweepBatch > 0 {
		return s.sweepBatch
	}
	return sweepBatch
}

// betweenBatches lets whoever waits for the writer (a sign-in) go before
// the sweep's next batch, and returns ctx's error once it has ended.
func (s *Store) betweenBatches(ctx context.Context) error {
	runtime.Gosched()
	return ctx.Err()
}

// keyWalk is a sweep of a table without an index its condition can be
// answered by: the table's key is walked in order from its start, a range
// of at most a batch of keys at a time, and each range's rows for which
// the condition holds are deleted by one statement, so that no statement
// reads more than a batch of rows, and the rows written on every sign-in
// move no index entry of the sweep's.
type keyWalk struct {
	table string
	// key is the column walked: the primary key, or on SQLite the rowid of
	// a table that has one (its own B-tree, where the primary key of a
	// rowid table is a separate index).
	key string
	// cond is the condition of the rows to delete; it reads $3 and on.
	cond string
	// start is the walk's first key, or one below it: "" for a text key,
	// the least integer for a rowid.
	start any
	// below, when not nil, ends the walk: no key at or after it is looked
	// at.
	below any
}

// keyWalkSQL returns the statements of walk: rng finds the last of the
// next keys (at most $2 of them) after $1 (at or after $1 when first: the
// walk's start), and before $3 when the walk has an end, with how many
// there are; del deletes the rows of the keys after $1 (at or after, when
// first) up to $2 for which the condition holds. On SQLite both read the
// table's own B-tree alone (NOT INDEXED: no index the planner might
// prefer).
func (s *Store) keyWalkSQL(w keyWalk, first bool) (rng, del string) {
	from := w.table
	if s.dialect == SQLite {
		from += ` NOT INDEXED`
	}
	after := w.key + ` > $1`
	if first {
		after = w.key + ` >= $1`
	}
	upper := ``
	if w.below != nil {
		upper = ` AND ` + w.key + ` < $3`
	}
	rng = `SELECT MAX(k), COUNT(*) FROM (SELECT ` + w.key + ` AS k FROM ` + from + ` WHERE ` + after + upper + ` ORDER BY ` + w.key + ` LIMIT $2) AS r`
	del = `DELETE FROM ` + from + ` WHERE ` + after + ` AND ` + w.key + ` <= $2 AND (` + w.cond + `)`
	return rng, del
}

// sweepByKey runs walk with the condition's arguments args, range after
// range, each statement its own transaction, until a range holds fewer
// than a batch of keys, and returns how many rows it deleted. It stops
// early when ctx ends. A row made meanwhile in a range already walked is
// left to the next sweep.
func (s *Store) sweepByKey(ctx context.Context, w keyWalk, args ...any) (int64, error) {
	batch := s.batch()
	var total int64
	lo := w.start
	for first := true; ; first = false {
		rng, del := s.keyWalkSQL(w, first)
		rngArgs := []any{lo, batch}
		if w.below != nil {
			rngArgs = append(rngArgs, w.below)
		}
		var hi any
		var keys int64
		if err := s.conn(ctx).QueryRowContext(ctx, rng, rngArgs...).Scan(&hi, &keys); err != nil {
			return total, fmt.Errorf("walk %s: %w", w.table, err)
		}
		if keys == 0 {
			return total, nil
		}
		res, err := s.conn(ctx).ExecContext(ctx, del, append([]any{lo, hi}, args...)...)
		n, err := rowsAffected(res, err)
		if err != nil {
			return total, fmt.Errorf("delete expired %s: %w", w.table, err)
		}
		total += n
		if s.onSweepBatch != nil {
			s.onSweepBatch(w.table, n)
		}
		if keys < int64(batch) {
			return total, nil
		}
		lo = hi
		if err := s.betweenBatches(ctx); err != nil {
			return total, err
		}
	}
}

// sessionsWalk is the walk of sweepSessions on SQLite: sessions are keyed
// by an ID that sorts by the time they were made (migration 0007), and the
// caller's below is an ID every session that can have expired sorts
// before ("": the walk goes to the end).
func sessionsWalk(below string) keyWalk {
	w := keyWalk{table: "sessions", key: "id", cond: `expires_at < $3`, start: ""}
	if below != "" {
		w.below = below
	}
	return w
}

// sweepSessions deletes the sessions expired before before. On
// PostgreSQL they are found by their index of expiries (sweepSQL); on
// SQLite, which has none (an entry in it cost every sign-in one more page
// written, migration 0090), by walking their key up to below (sweepByKey).
func (s *Store) sweepSessions(ctx context.Context, before time.Time, below string) (int64, error) {
	if s.dialect == Postgres {
		return s.sweep(ctx, "sessions", s.sweepSQL("sessions", "id", expiredCond), before)
	}
	return s.sweepByKey(ctx, sessionsWalk(below), micros(before))
}

// sweepInstances removes the heartbeats of instances not seen for
// instanceForget (stopped without ending their heartbeat: killed, or
// their machine lost), by the database's clock, as beats are written
// (Beat). There are as many rows as instances ever ran in a day: one
// statement.
func (s *Store) sweepInstances(ctx context.Context) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM instances WHERE last_seen < `+s.dbNow()+` - $1`, instanceForget.Microseconds()); err != nil {
		return fmt.Errorf("remove the heartbeats of instances long stopped: %w", err)
	}
	return nil
}

// DeleteExpired removes expired sessions and logins older than before,
// and the other rows that expire (tokens, codes, ceremonies, challenges,
// resets, email changes, form uses), in batches (sweepBatch), and the
// heartbeats of instances long stopped (sweepInstances, by the
// database's clock, not before). Sessions
// whose ID sorts at or after sessionsBelow are not looked at ("": all
// are): the caller passes an ID before which every session that can have
// expired sorts (session IDs sort by the time they were made, and each
// lasts at least as long as it was given; see core's Sweep).
func (s *Store) DeleteExpired(ctx context.Context, before time.Time, sessionsBelow string) error {
	for _, t := range sweptTables {
		var err error
		if t.table == "sessions" {
			_, err = s.sweepSessions(ctx, before, sessionsBelow)
		} else {
			_, err = s.sweep(ctx, t.table, s.sweepSQL(t.table, t.sqliteKey, expiredCond), before)
		}
		if err != nil {
			return err
		}
	}
	return s.sweepInstances(ctx)
}
