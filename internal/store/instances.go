package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Instance is a serving instance's heartbeat: `twofold serve` records
// one when it starts, beats every HeartbeatEvery while it runs and ends
// it when it stops cleanly, so that `twofold restore` sees a server that
// holds no connection to the database at that moment (its pool's
// connections closed, or cut by the database) as running.
type Instance struct {
	ID       string
	Host     string
	PID      int
	Started  time.Time // by the database's clock
	LastSeen time.Time // by the database's clock
}

// HeartbeatEvery is how often a serving instance beats.
const HeartbeatEvery = 5 * time.Second

// HeartbeatFresh is how lately an instance must have beaten to count as
// running: three beats, so that a beat or two lost to a busy database
// does not make a running server look stopped.
const HeartbeatFresh = 3 * HeartbeatEvery

// instanceForget is how long the heartbeat of an instance that stopped
// without ending it (killed, or its machine lost) is kept, to be named
// by a restore; the sweep removes those older (sweepInstances).
const instanceForget = 24 * time.Hour

// dbNow returns the SQL for the database's clock in unix microseconds:
// the instances' clocks, which may differ, are never compared.
func (s *Store) dbNow() string {
	if s.dialect == Postgres {
		return `CAST(EXTRACT(EPOCH FROM statement_timestamp()) * 1000000 AS BIGINT)`
	}
	return `CAST(unixepoch('subsec') * 1000000 AS INTEGER)`
}

// Beat records that the instance in (its ID, Host and PID) is running,
// as of the database's clock: its row is made at the first beat (Started
// then) and its LastSeen moved at each later one. On PostgreSQL the beat
// records the transaction that wrote it, so that a row copied in by
// pg_restore (a dump of a database a server ran on) is told from one a
// server wrote. It writes that one row only: the heartbeats of instances
// long stopped are the sweep's (sweepInstances).
func (s *Store) Beat(ctx context.Context, in Instance) error {
	xid := `0`
	if s.dialect == Postgres {
		xid = `CAST(CAST(pg_current_xact_id() AS TEXT) AS BIGINT) % 4294967296`
	}
	now := s.dbNow()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO instances (id, host, pid, started_at, last_seen, beat_xid)
		VALUES ($1, $2, $3, `+now+`, `+now+`, `+xid+`)
		ON CONFLICT (id) DO UPDATE SET last_seen = excluded.last_seen, beat_xid = excluded.beat_xid`,
		in.ID, in.Host, in.PID); err != nil {
		return fmt.Errorf("record the heartbeat of this instance: %w", err)
	}
	return nil
}

// EndInstance removes the heartbeat of the instance id, which is
// stopping.
func (s *Store) EndInstance(ctx context.Context, id string) error {
	if _, err := s.db.ExecContext(ctx, `DELETE FROM instances WHERE id = $1`, id); err != nil {
		return fmt.Errorf("remove the heartbeat of this instance: %w", err)
	}
	return nil
}

// LiveInstances returns the instances that beat within HeartbeatFresh of
// the database's clock, oldest start first, with that clock's time. On
// PostgreSQL a row not written by a server's beat (its xmin is not the
// transaction the beat recorded: pg_restore or psql copied it in from a
// dump) is not counted.
func (s *Store) LiveInstances(ctx context.Context) ([]Instance, time.Time, error) {
	return liveInstances(ctx, s.db, s.dialect)
}

// liveInstances is LiveInstances on the database q reaches, of dialect.
func liveInstances(ctx context.Context, q querier, dialect Dialect) ([]Instance, time.Time, error) {
	s := &Store{dialect: dialect}
	own := ``
	if dialect == Postgres {
		own = ` AND CAST(CAST(xmin AS TEXT) AS BIGINT) = beat_xid`
	}
	rows, err := q.QueryContext(ctx, `SELECT id, host, pid, started_at, last_seen, `+s.dbNow()+` FROM instances
		WHERE last_seen >= `+s.dbNow()+` - $1`+own+` ORDER BY started_at, id`, HeartbeatFresh.Microseconds())
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("read the heartbeats of servers: %w", err)
	}
	var ins []Instance
	var now int64
	for rows.Next() {
		var in Instance
		var started, seen int64
		if err := rows.Scan(&in.ID, &in.Host, &in.PID, &started, &seen, &now); err != nil {
			rows.Close()
			return nil, time.Time{}, fmt.Errorf("read the heartbeats of servers: %w", err)
		}
		in.Started, in.LastSeen = time.UnixMicro(started), time.UnixMicro(seen)
		ins = append(ins, in)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return nil, time.Time{}, fmt.Errorf("read the heartbeats of servers: %w", err)
	}
	return ins, time.UnixMicro(now), nil
}

// sqliteInUse returns the error of a restore over the SQLite database q
// reaches when a server beat on it lately (inUse), else nil; and nil for
// a database without heartbeats (of a release before them).
func sqliteInUse(ctx context.Context, q querier) error {
	var beats int
	if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'instances'`).Scan(&beats); err != nil || beats == 0 {
		if err != nil && ctx.Err() != nil {
			// Interrupted, not looked at: not known to be free.
			return fmt.Errorf("restore: interrupted before the database was checked to be free, nothing changed: %w", ctx.Err())
		}
		return nil
	}
	ins, now, err := liveInstances(ctx, q, SQLite)
	if err != nil {
		return fmt.Errorf("restore: look for servers on the database: %w", err)
	}
	if len(ins) > 0 {
		return inUse(ins, now)
	}
	return nil
}

// inUse returns ErrInUse naming the running instances ins, as seen at now
// (the database's clock), and saying what to do.
func inUse(ins []Instance, now time.Time) error {
	names := make([]string, len(ins))
	for i, in := range ins {
		names[i] = fmt.Sprintf("%s pid %d (started %s, last seen %s ago)", in.Host, in.PID,
			in.Started.UTC().Format(time.RFC3339), max(now.Sub(in.LastSeen), 0).Round(time.Second))
	}
	return fmt.Errorf("%w (servers run on it, by their heartbeats: %s; a server stopped cleanly counts as stopped at once, one that was killed %s after it was last seen)",
		ErrInUse, strings.Join(names, "; "), HeartbeatFresh)
}
