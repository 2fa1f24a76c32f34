package store

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"strings"
	"time"
)

// RecordSetSizesPlanForTest returns the database's plan of RecordSetSizes'
// statement for zone (planForTest).
func (s *Store) RecordSetSizesPlanForTest(ctx context.Context, zone string) (string, error) {
	return s.planForTest(ctx, s.recordSetSizesQuery(), zone)
}

// SessionPlansForTest returns the database's plans (planForTest) of the
// statements that read one account's sessions, by the name of the method
// that runs each: liveSessionsFrom and LiveSessions ("Where you are signed
// in"), SessionsOfEpoch (the recovery sign-in's count).
func (s *Store) SessionPlansForTest(ctx context.Context, accountID string, now time.Time) (map[string]string, error) {
	plans := map[string]string{}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"liveSessionsFrom": {liveSessionsFromSQL, []any{accountID, micros(now)}},
		"LiveSessions":     {liveSessionsSQL, []any{accountID, 0, 0, micros(now), 50}},
		"SessionsOfEpoch":  {sessionsOfEpochSQL, []any{accountID, 0, micros(now)}},
	} {
		plan, err := s.planForTest(ctx, q.sql, q.args...)
		if err != nil {
			return nil, fmt.Errorf("plan of %s: %w", name, err)
		}
		plans[name] = plan
	}
	return plans, nil
}

// BatchReadPlanForTest returns PostgreSQL's generic plan of the batch read
// of second steps (batchReadSQL) as the database's statistics stand, one
// line a line: the plan a statement prepared now keeps (pgx keeps it
// prepared) until the next ANALYZE of its tables.
func (s *Store) BatchReadPlanForTest(ctx context.Context) (string, error) {
	var plan []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, q := range []string{
			`SET LOCAL plan_cache_mode = force_generic_plan`,
			`PREPARE batch_read_for_test (text[], text[], text[], text[], text[], text[], float8[], bigint[], float8[], bigint[], bigint[]) AS ` + batchReadSQL,
		} {
			if _, err := tx.ExecContext(ctx, q); err != nil {
				return err
			}
		}
		rows, err := tx.QueryContext(ctx, `EXPLAIN EXECUTE batch_read_for_test ('{l1,l2}', '{p,p}', '{s,s}', '{i,i}', '{b1,b2}', '{b1,b2}', '{5,5}', '{1,1}', '{0.1,0.1}', '{1,1}', '{1,1}')`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var line string
			if err := rows.Scan(&line); err != nil {
				rows.Close()
				return err
			}
			plan = append(plan, line)
		}
		if err := rows.Close(); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DEALLOCATE batch_read_for_test`)
		return err
	})
	return strings.Join(plan, "\n"), err
}

// planForTest returns the database's plan of q with args, one line of it a
// line; on PostgreSQL with sequential and bitmap scans off, so that the
// plan of a small table shows which index a large one would be read by
// (and whether it serves alone: an index-only scan).
func (s *Store) planForTest(ctx context.Context, q string, args ...any) (string, error) {
	var plan []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		explain := `EXPLAIN QUERY PLAN `
		if s.dialect == Postgres {
			for _, q := range []string{`SET LOCAL enable_seqscan = off`, `SET LOCAL enable_bitmapscan = off`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			explain = `EXPLAIN `
		}
		rows, err := tx.QueryContext(ctx, explain+q, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		cols, err := rows.Columns()
		if err != nil {
			return err
		}
		for rows.Next() {
			vals := make([]any, len(cols))
			for i := range vals {
				vals[i] = new(any)
			}
			if err := rows.Scan(vals...); err != nil {
				return err
			}
			line := *vals[len(vals)-1].(*any) // the detail, SQLite's last column
			if b, ok := line.([]byte); ok {
				line = string(b)
			}
			plan = append(plan, line.(string))
		}
		return rows.Err()
	})
	return strings.Join(plan, "\n"), err
}

// UndoMigrationForTest runs the statements undo and forgets
// that migration version was applied, so that the next MigrateForTest
// applies it again to the rows the test stored: how a migration's backfill
// of older rows is tested.
func (s *Store) UndoMigrationForTest(ctx context.Context, version int, undo ...string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		for _, q := range undo {
			if _, err := s.conn(ctx).ExecContext(ctx, q); err != nil {
				return err
			}
		}
		_, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM schema_migrations WHERE version = $1`, version)
		return err
	})
}

// MigrateForTest applies the migrations not yet applied.
func (s *Store) MigrateForTest(ctx context.Context) error { return s.migrate(ctx) }

// FailRenameInForTest makes RestoreSQLite fail as it puts the restored copy
// in place, as a crash at that moment would, until the test ends.
func FailRenameInForTest(tb interface{ Cleanup(func()) }, err error) {
	renameIn = func(string, string) error { return err }
	tb.Cleanup(func() { renameIn = os.Rename })
}

// OnWriterForTest runs q on the connection every write takes (on SQLite
// the one writer; on PostgreSQL one of the pool's): a pragma that limits
// it, say.
func (s *Store) OnWriterForTest(ctx context.Context, q string) error {
	_, err := s.db.ExecContext(ctx, q)
	return err
}

// QueryRowForTest reads one value of q on the writer's connection.
func (s *Store) QueryRowForTest(ctx context.Context, q string, v any) error {
	return s.db.QueryRowContext(ctx, q).Scan(v)
}

// ConnForTest takes one connection of the pool and holds it, so that its
// statements run on it with no check between them; close it when done.
func (s *Store) ConnForTest(ctx context.Context) (*sql.Conn, error) {
	return s.db.Conn(ctx)
}

// SetSweepBatchForTest makes each statement of the sweep delete at most n
// rows, and tells onBatch of every batch it runs, with the rows it
// deleted.
func (s *Store) SetSweepBatchForTest(n int, onBatch func(table string, deleted int64)) {
	s.sweepBatch, s.onSweepBatch = n, onBatch
}

// SweepPlansForTest returns the database's plans (planForTest) of the
// sweep's batch statements: of those that find their rows by an index
// (sweepSQL) by the table each deletes from, of those that walk a table's
// key (sweepByKey) by "TABLE walk STATEMENT", STATEMENT one of "first
// range", "range", "first delete", "delete".
func (s *Store) SweepPlansForTest(ctx context.Context, before time.Time) (map[string]string, error) {
	type indexed struct{ table, key, cond string }
	var sweeps []indexed
	for _, t := range sweptTables {
		if t.table != "sessions" || s.dialect == Postgres {
			sweeps = append(sweeps, indexed{t.table, t.sqliteKey, expiredCond})
		}
	}
	sweeps = append(sweeps, indexed{"api_keys", "rowid", expiredSinceCond}, indexed{"push_nonces", "rowid", expiredCond},
		indexed{"push_challenges", "rowid", expiredCond}, indexed{"replaced_emails", "rowid", purgedReplacedCond})
	plans := map[string]string{}
	for _, t := range sweeps {
		plan, err := s.planForTest(ctx, s.sweepSQL(t.table, t.key, t.cond), micros(before), sweepBatch)
		if err != nil {
			return nil, fmt.Errorf("plan of the sweep of %s: %w", t.table, err)
		}
		plans[t.table] = plan
	}
	kept := []string{"a:%", "b:%"}
	throttles, buckets := staleWalks(s.dialect, kept)
	type walked struct {
		w    keyWalk
		args []any
	}
	walks := []walked{{throttles, []any{micros(before), kept[0], kept[1]}}, {buckets, []any{micros(before)}}}
	if s.dialect == SQLite {
		walks = append(walks, walked{sessionsWalk("0123456789abcdefghijklmnop"), []any{micros(before)}})
	}
	for _, w := range walks {
		var lo, hi any = w.w.start, "k"
		if w.w.key == "rowid" {
			hi = int64(1000)
		}
		for _, first := range []bool{true, false} {
			rng, del := s.keyWalkSQL(w.w, first)
			rngArgs := []any{lo, sweepBatch}
			if w.w.below != nil {
				rngArgs = append(rngArgs, w.w.below)
			}
			name := w.w.table + " walk "
			if first {
				name += "first "
			}
			for stmt, q := range map[string]struct {
				sql  string
				args []any
			}{"range": {rng, rngArgs}, "delete": {del, append([]any{lo, hi}, w.args...)}} {
				plan, err := s.planForTest(ctx, q.sql, q.args...)
				if err != nil {
					return nil, fmt.Errorf("plan of the %s%s: %w", name, stmt, err)
				}
				plans[name+stmt] = plan
			}
		}
	}
	return plans, nil
}

// EventCounterForTest is eventCounter: the audit events' id counter of the
// SQLite file at path, or ErrInUse when the file is in use.
func EventCounterForTest(ctx context.Context, path string) (int64, error) {
	return eventCounter(ctx, path)
}
