package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/twofold/twofold/internal/keyring"
)

// ErrNotRestored is returned by OpenRestored for a PostgreSQL database
// without Twofold's tables: nothing was restored into it.
var ErrNotRestored = errors.New("restore: the database holds no Twofold tables")

// restoreApp is the application_name of OpenRestored's connections, which
// it does not count among the processes using the database.
const restoreApp = AppName + " restore"

// OpenRestored opens the PostgreSQL database dsn names, into which
// pg_restore (or psql) has just restored a dump, for AfterRestore. It
// refuses, having changed nothing, a database not encoded in UTF8
// (*EncodingError, as Open does), a database without Twofold's tables
// (ErrNotRestored: an empty database, or pg_restore run into another one)
// and one that other Twofold processes (servers, commands) are connected to
// (ErrInUse: seen in pg_stat_activity by their application_name, AppName)
// or that a server runs on, connected or not at that moment (ErrInUse: its
// heartbeat, Instance, seen within HeartbeatFresh; a heartbeat pg_restore
// copied in from the dump is not counted).
// Only then does it apply pending migrations, those of a version newer than
// the dump's; a dump of a database a newer release migrated, holding a
// migration this binary does not embed, is refused (*SchemaError), changing
// nothing.
//
// keys, when not nil, is given the database's data keys after those checks
// and before the migrations, and its error refuses the restore, nothing
// changed: the check that the key file opens them (keyring.CheckFile).
func OpenRestored(ctx context.Context, dsn string, keys func([]keyring.WrappedKey) error) (*Store, error) {
	if !isPostgres(dsn) {
		return nil, errors.New("restore: OpenRestored is for PostgreSQL")
	}
	s, err := connect(dsn, restoreApp)
	if err != nil {
		return nil, err
	}
	if err := s.checkEncoding(ctx); err != nil {
		s.Close()
		return nil, fmt.Errorf("%s: %w", Redacted(dsn), err)
	}
	if err := s.restorable(ctx); err != nil {
		s.Close()
		return nil, err
	}
	if keys != nil {
		// A dump of a newer schema is refused as such first (migrate says
		// so again below).
		if err := checkSchema(ctx, s.db, Postgres); err != nil {
			s.Close()
			return nil, err
		}
		ks, err := s.DataKeys(ctx)
		if err == nil {
			err = keys(ks)
		}
		if err != nil {
			s.Close()
			return nil, err
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// restorable checks that the database holds Twofold's tables, that no
// other Twofold process is connected to it and that no server beat on it
// lately.
func (s *Store) restorable(ctx context.Context) error {
	ok, err := s.hasSchema(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return ErrNotRestored
	}
	// A server holds no connection at some moments (its pool closed the
	// idle ones, or the database cut them): its heartbeat tells, and
	// names it. A dump of a release before the heartbeats has none
	// (migrate adds the table).
	var beats bool
	if err := s.db.QueryRowContext(ctx, `SELECT to_regclass('instances') IS NOT NULL`).Scan(&beats); err != nil {
		return fmt.Errorf("restore: look for servers on the database: %w", err)
	}
	if beats {
		ins, now, err := s.LiveInstances(ctx)
		if err != nil {
			return fmt.Errorf("restore: look for servers on the database: %w", err)
		}
		if len(ins) > 0 {
			return inUse(ins, now)
		}
	}
	// A command, or a server of a release before the heartbeats. A
	// connection its process closed a moment ago stays listed until its
	// backend has exited, which PostgreSQL does after the client has
	// gone: a process just stopped is given inUseGrace to leave.
	n, err := s.twofoldConnections(ctx)
	for deadline := time.Now().Add(inUseGrace); err == nil && n > 0 && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
		n, err = s.twofoldConnections(ctx)
	}
	if err != nil {
		return err
	}
	if n > 0 {
		conns := "connections"
		if n == 1 {
			conns = "connection"
		}
		return fmt.Errorf("%w (pg_stat_activity shows %d %s named %s, Twofold's)", ErrInUse, n, conns, AppName)
	}
	return nil
}

// inUseGrace is how long a restore waits for the Twofold connections it
// sees on the database to leave before it refuses (ErrInUse).
const inUseGrace = 3 * time.Second

// twofoldConnections counts the connections to this database of other
// Twofold processes.
func (s *Store) twofoldConnections(ctx context.Context) (int, error) {
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pg_stat_activity
		WHERE datname = current_database() AND application_name = $1 AND pid <> pg_backend_pid()`, AppName).Scan(&n); err != nil {
		return 0, fmt.Errorf("restore: look for servers on the database: %w", err)
	}
	return n, nil
}
