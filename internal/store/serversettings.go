package store

import "context"

// ServerSettings are the settings of the database server that second steps
// slow down without, and the size the buffers are weighed against (README
// "Running more than one instance"). PostgreSQL only.
type ServerSettings struct {
	// Autovacuum is PostgreSQL's autovacuum: without it the rows every
	// login leaves dead pile up and the planner has no statistics.
	Autovacuum bool
	// SharedBuffers is the size of PostgreSQL's shared buffers, in bytes.
	SharedBuffers int64
	// Hot is the size, in bytes, of the tables every second step reads a
	// row of on a page of its own, with their indexes: accounts and
	// factors.
	Hot int64
}

// ServerSettings reads the database server's settings; ok is false on
// SQLite, which has none of them.
func (s *Store) ServerSettings(ctx context.Context) (settings ServerSettings, ok bool, err error) {
	if s.dialect != Postgres {
		return ServerSettings{}, false, nil
	}
	err = s.db.QueryRowContext(ctx, `SELECT current_setting('autovacuum')::bool,
		(SELECT setting::bigint * current_setting('block_size')::bigint FROM pg_settings WHERE name = 'shared_buffers'),
		pg_total_relation_size('accounts') + pg_total_relation_size('factors')`).Scan(&settings.Autovacuum, &settings.SharedBuffers, &settings.Hot)
	return settings, err == nil, err
}
