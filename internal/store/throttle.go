package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/twofold/twofold"
)

// Throttle returns the consecutive failures and lock of key (zero when none).
func (s *Store) Throttle(ctx context.Context, key string) (failures int, lockedUntil time.Time, err error) {
	var until int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT failures, locked_until FROM throttles WHERE key = $1`, key).Scan(&failures, &until)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, fmt.Errorf("select throttle: %w", err)
	}
	return failures, fromMicros(until), nil
}

// TakeSlot counts one more attempt against key and sets its lock to
// lockUntil, provided key still has exactly seen failures and is not locked at
// now. It reports false when another attempt got there first or the key is
// locked: one conditional statement, so concurrent attempts on any number of
// instances each take their own slot.
func (s *Store) TakeSlot(ctx context.Context, key string, seen int, lockUntil, now time.Time) (bool, error) {
	return s.execOne(ctx, "take throttle slot", `INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES ($1, 1, $2, $3)
		ON CONFLICT (key) DO UPDATE SET failures = throttles.failures + 1, locked_until = $2, updated_at = $3
		WHERE throttles.failures = $4 AND throttles.locked_until <= $3`, key, micros(lockUntil), micros(now), seen)
}

// TakeSlotUnderWay is TakeSlot for an attempt that others may wait for: in
// the same statement it counts the slot as under way, until EndSlot or
// until underWayUntil, whichever comes first. A count whose time has passed
// (its attempts never ended) starts again at this slot, from now.
func (s *Store) TakeSlotUnderWay(ctx context.Context, key string, seen int, lockUntil, now, underWayUntil time.Time) (bool, error) {
	const running = `throttles.under_way > 0 AND throttles.under_way_until > $3`
	return s.execOne(ctx, "take throttle slot", `INSERT INTO throttles (key, failures, locked_until, updated_at, under_way, under_way_since, under_way_until)
		VALUES ($1, 1, $2, $3, 1, $3, $5)
		ON CONFLICT (key) DO UPDATE SET failures = throttles.failures + 1, locked_until = $2, updated_at = $3,
			under_way = CASE WHEN `+running+` THEN throttles.under_way + 1 ELSE 1 END,
			under_way_since = CASE WHEN `+running+` THEN throttles.under_way_since ELSE $3 END,
			under_way_until = $5
		WHERE throttles.failures = $4 AND throttles.locked_until <= $3`, key, micros(lockUntil), micros(now), seen, micros(underWayUntil))
}

// EndSlot ends an attempt that took a slot on key by TakeSlotUnderWay at
// taken and did not clear the counter: it is no longer under way. It
// changes nothing when the count it was in has ended meanwhile (the
// counter was cleared, or its count ran out and started again after it).
func (s *Store) EndSlot(ctx context.Context, key string, taken time.Time) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `UPDATE throttles SET under_way = under_way - 1
		WHERE key = $1 AND under_way > 0 AND under_way_since <= $2`, key, micros(taken)); err != nil {
		return fmt.Errorf("end throttle slot: %w", err)
	}
	return nil
}

// SlotsUnderWay returns how many attempts that took a slot on key by
// TakeSlotUnderWay have not ended, until when that count holds, and the
// counter's lock, all zero when key has no counter. They come from one read
// of one row, so that they agree: an attempt refused by a lock it read
// before can tell from lockedUntil whether that lock still stands now that
// it asks who is under way (a success on another instance may have cleared
// the counter, and its count with it, in between).
func (s *Store) SlotsUnderWay(ctx context.Context, key string) (n int, until, lockedUntil time.Time, err error) {
	var at, locked int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT under_way, under_way_until, locked_until FROM throttles WHERE key = $1`, key).Scan(&n, &at, &locked)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, time.Time{}, nil
	}
	if err != nil {
		return 0, time.Time{}, time.Time{}, fmt.Errorf("select throttle slots under way: %w", err)
	}
	return n, fromMicros(at), fromMicros(locked), nil
}

// ResetThrottle clears key's failures and lock (after a success, or an operator's unlock).
func (s *Store) ResetThrottle(ctx context.Context, key string) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM throttles WHERE key = $1`, key); err != nil {
		return fmt.Errorf("reset throttle: %w", err)
	}
	return nil
}

// ResetThrottlePrefix clears every key that starts with prefix, and returns
// how many of them held failures or a lock.
func (s *Store) ResetThrottlePrefix(ctx context.Context, prefix string) (int, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `DELETE FROM throttles WHERE key LIKE $1 ESCAPE '\' RETURNING failures, locked_until`,
		escapeLike(prefix)+"%")
	if err != nil {
		return 0, fmt.Errorf("reset throttles: %w", err)
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		var failures int
		var until int64
		if err := rows.Scan(&failures, &until); err != nil {
			return 0, fmt.Errorf("reset throttles: %w", err)
		}
		if failures > 0 || until > 0 {
			n++
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("reset throttles: %w", err)
	}
	return n, nil
}

// Counters returns every counter whose key starts with prefix, by key.
func (s *Store) Counters(ctx context.Context, prefix string) ([]twofold.Counter, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT key, failures, locked_until FROM throttles WHERE key LIKE $1 ESCAPE '\' ORDER BY key`,
		escapeLike(prefix)+"%")
	if err != nil {
		return nil, fmt.Errorf("select counters: %w", err)
	}
	defer rows.Close()
	var out []twofold.Counter
	for rows.Next() {
		var c twofold.Counter
		var until int64
		if err := rows.Scan(&c.Key, &c.Failures, &until); err != nil {
			return nil, fmt.Errorf("scan counter: %w", err)
		}
		c.LockedUntil = fromMicros(until)
		out = append(out, c)
	}
	return out, rows.Err()
}

// TakeToken takes one token from the bucket key, which holds up to burst
// tokens and refills at rate per second. It reports false when the bucket is
// empty. One conditional statement, shared by every instance. A now before
// the bucket's last update (a clock stepped back, or an instance whose clock
// is behind the one that updated it) refills nothing rather than taking
// tokens away, and leaves that update's time: otherwise the bucket would
// refuse everyone until the clocks caught up, and a later take by the clock
// that is ahead would count the same seconds twice.
func (s *Store) TakeToken(ctx context.Context, key string, burst, rate float64, now time.Time) (bool, error) {
	return s.execOne(ctx, "take token", takeTokenStmt, key, burst, micros(now), rate)
}

var takeTokenStmt = takeTokenSQL("$1", "$2", "$3", "$4")

// takeTokenSQL is TakeToken's statement with its parameters named: the
// bucket's key, its burst, now (µs) and its rate per second. The second
// step runs it too: in its read's statement on PostgreSQL
// (secondStepTokenSQL), in the batch's transaction on SQLite (committer).
func takeTokenSQL(key, burst, now, rate string) string {
	refilled := refilledSQL(burst, now, rate)
	return `INSERT INTO rate_buckets (key, tokens, updated_at) VALUES (` + key + `, CAST(` + burst + ` AS DOUBLE PRECISION) - 1, ` + now + `)
		ON CONFLICT (key) DO UPDATE SET tokens = ` + refilled + ` - 1, updated_at = CASE WHEN ` + now + ` > rate_buckets.updated_at THEN ` + now + ` ELSE rate_buckets.updated_at END
		WHERE ` + refilled + ` >= 1`
}

// refilledSQL is the tokens of the rate_buckets row at now, refilled at rate
// per second up to burst: min(burst, tokens + max(elapsed seconds, 0) × rate).
func refilledSQL(burst, now, rate string) string {
	elapsed := `(CASE WHEN ` + now + ` > rate_buckets.updated_at THEN ` + now + ` - rate_buckets.updated_at ELSE 0 END)`
	return `CASE WHEN rate_buckets.tokens + ` + elapsed + ` / 1000000.0 * CAST(` + rate + ` AS DOUBLE PRECISION) > ` + burst + `
		THEN ` + burst + ` ELSE rate_buckets.tokens + ` + elapsed + ` / 1000000.0 * CAST(` + rate + ` AS DOUBLE PRECISION) END`
}

// ReturnToken gives back to the bucket key one token that TakeToken took
// for something that then did not happen, never filling it above burst:
// one statement, shared by every instance.
func (s *Store) ReturnToken(ctx context.Context, key string, burst float64) error {
	_, err := s.conn(ctx).ExecContext(ctx, `UPDATE rate_buckets SET tokens = CASE WHEN tokens + 1 > CAST($2 AS DOUBLE PRECISION)
		THEN CAST($2 AS DOUBLE PRECISION) ELSE tokens + 1 END WHERE key = $1`, key, burst)
	if err != nil {
		return fmt.Errorf("return token: %w", err)
	}
	return nil
}

// Bucket returns the tokens of the bucket key as last stored and when they
// were (found is false when there is no such bucket), so that a refusal can
// say when the next token comes.
func (s *Store) Bucket(ctx context.Context, key string) (tokens float64, updatedAt time.Time, found bool, err error) {
	var at int64
	err = s.conn(ctx).QueryRowContext(ctx, `SELECT tokens, updated_at FROM rate_buckets WHERE key = $1`, key).Scan(&tokens, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, time.Time{}, false, nil
	}
	if err != nil {
		return 0, time.Time{}, false, fmt.Errorf("select rate bucket: %w", err)
	}
	return tokens, fromMicros(at), true, nil
}

// DeleteStaleThrottles removes rate buckets and unlocked throttle counters
// not touched since before, except counters whose key matches one of the
// LIKE patterns kept and that still count failures: those are kept until a
// success or an operator clears them, so that waiting never resets a count
// that a hard cap depends on.
//
// Neither table has an index of the times its rows were touched: every
// failure and every taken token moves that time, and an index of it would
// cost each of them one more page written. Both are swept by walking
// their key instead (sweepByKey), at most sweepBatch keys a statement.
func (s *Store) DeleteStaleThrottles(ctx context.Context, before time.Time, kept []string) error {
	throttles, buckets := staleWalks(s.dialect, kept)
	args := []any{micros(before)}
	for _, p := range kept {
		args = append(args, p)
	}
	if _, err := s.sweepByKey(ctx, throttles, args...); err != nil {
		return err
	}
	_, err := s.sweepByKey(ctx, buckets, micros(before))
	return err
}

// staleWalks returns the walks of DeleteStaleThrottles: of the counters,
// whose condition reads before as $3 and the LIKE patterns kept from $4
// on, and of the rate buckets (on SQLite by rowid: the buckets' key is an
// index of its own there).
func staleWalks(d Dialect, kept []string) (throttles, buckets keyWalk) {
	keep := "FALSE"
	for i := range kept {
		keep += fmt.Sprintf(" OR key LIKE $%d", i+4)
	}
	throttles = keyWalk{table: "throttles", key: "key", start: "",
		cond: `updated_at < $3 AND locked_until < $3 AND (failures = 0 OR NOT (` + keep + `))`}
	buckets = keyWalk{table: "rate_buckets", key: "key", start: "", cond: `updated_at < $3`}
	if d == SQLite {
		buckets.key, buckets.start = "rowid", int64(math.MinInt64)
	}
	return throttles, buckets
}

// ThrottleKeys returns the keys of the stored counters that start with
// prefix, sorted, for diagnostics and tests.
func (s *Store) ThrottleKeys(ctx context.Context, prefix string) ([]string, error) {
	return queryAll(ctx, s, "throttle keys", scanString, `SELECT key FROM throttles WHERE key LIKE $1 ESCAPE '\' ORDER BY key`, escapeLike(prefix)+"%")
}
