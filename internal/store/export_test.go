package store

import (
	"context"
	"database/sql"
	"os"
	"strings"
)

// RecordSetSizesPlanForTest returns the database's plan of RecordSetSizes'
// statement for zone, one line of it a line; on PostgreSQL with
// sequential and bitmap scans off, so that the plan of a small table
// shows whether the index serves alone (an index-only scan).
func (s *Store) RecordSetSizesPlanForTest(ctx context.Context, zone string) (string, error) {
	var plan []string
	err := s.tx(ctx, func(tx *sql.Tx) error {
		q := `EXPLAIN QUERY PLAN ` + s.recordSetSizesQuery()
		if s.dialect == Postgres {
			for _, q := range []string{`SET LOCAL enable_seqscan = off`, `SET LOCAL enable_bitmapscan = off`} {
				if _, err := tx.ExecContext(ctx, q); err != nil {
					return err
				}
			}
			q = `EXPLAIN ` + s.recordSetSizesQuery()
		}
		rows, err := tx.QueryContext(ctx, q, zone)
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
