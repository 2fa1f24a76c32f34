package store

import (
	"context"
	"database/sql"
	"os"
)

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
