// Package store is Twofold's only SQL: one Store over SQLite (modernc.org/sqlite,
// WAL) or PostgreSQL (pgx), with embedded per-dialect migrations applied at open.
//
// The same statements serve both dialects ($n placeholders, RETURNING, ON
// CONFLICT); times are stored as unix microseconds. One-time and counted things
// are single conditional statements checked by rows affected, never
// read-then-write (STYLE.md "Storage").
package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"modernc.org/sqlite" // registers "sqlite"

	"github.com/twofold/twofold"
)

//go:embed migrations
var migrations embed.FS

// Dialect names a database engine.
type Dialect string

// Supported dialects.
const (
	SQLite   Dialect = "sqlite"
	Postgres Dialect = "postgres"
)

// Store is the database. It is safe for concurrent use.
type Store struct {
	db      *sql.DB // every write, and transactions; on SQLite one connection
	rdb     *sql.DB // reads outside transactions; on PostgreSQL the same pool
	dialect Dialect
	path    string // the SQLite file

	committer *committer // SQLite: group commit of second steps
	batcher   *batcher   // PostgreSQL: second steps many to a statement
	reads     stmtCache  // statements prepared on rdb

	migrated int // migrations this Store's opening applied (Migrated)

	sweepBatch   int                         // rows a sweep statement deletes at most; 0: the constant sweepBatch
	onSweepBatch func(table string, n int64) // tests: told of each batch the sweep ran
}

// Open connects to dsn ("sqlite:path", a bare path, or "postgres://…") and
// applies pending migrations. It refuses, with a *SchemaError and having
// applied none, a database holding a migration this binary does not embed:
// one a newer release migrated (README "Upgrading").
//
// It refuses too, with a *ForeignError and having changed nothing, a
// database that holds tables but no record of Twofold's migrations:
// another application's, which Twofold's tables must not be mixed into. A
// new, empty database (or SQLite file) is migrated. A PostgreSQL database
// whose encoding is not UTF8 is refused first, with an *EncodingError,
// having changed nothing.
func Open(ctx context.Context, dsn string) (*Store, error) {
	if !isPostgres(dsn) {
		// Before the file is switched to WAL mode, which would change
		// another application's file; migrate looks again, under its lock.
		path, _ := sqlitePath(dsn)
		if err := foreignSQLite(ctx, path); err != nil {
			return nil, fmt.Errorf("%s: %w", dsn, err)
		}
	}
	s, err := connect(dsn, AppName)
	if err != nil {
		return nil, err
	}
	if s.dialect == Postgres {
		if err := s.checkEncoding(ctx); err != nil {
			s.db.Close()
			return nil, fmt.Errorf("%s: %w", Redacted(dsn), err)
		}
	}
	if err := s.migrate(ctx); err != nil {
		s.db.Close()
		if errors.As(err, new(*ForeignError)) {
			err = fmt.Errorf("%s: %w", Redacted(dsn), err)
		}
		return nil, err
	}
	if s.path != "" {
		// The file holds hashes, ciphertexts and the audit log: owner only.
		for _, suffix := range []string{"", "-wal", "-shm"} {
			if err := os.Chmod(s.path+suffix, 0o600); err != nil && !errors.Is(err, os.ErrNotExist) {
				s.Close()
				return nil, fmt.Errorf("restrict database file: %w%s", err, ownerHint(s.path+suffix))
			}
		}
	}
	return s, nil
}

// sqlitePath splits a SQLite dsn ("sqlite:path?options" or a bare path) into
// the file's path and its options: what follows the last "?" when it holds
// a name=value pair ("twofold.db?synchronous=NORMAL"). Any other "?" is
// part of the path, as are "#" and "%": the path is the file's name as
// written, never a URI (see sqliteURI).
func sqlitePath(dsn string) (path, opts string) {
	rest := strings.TrimPrefix(dsn, "sqlite:")
	if i := strings.LastIndexByte(rest, '?'); i >= 0 && strings.Contains(rest[i+1:], "=") {
		return rest[:i], rest[i+1:]
	}
	return rest, ""
}

// sqliteURI returns the URI by which SQLite opens the file at path with the
// parameters query (already encoded). SQLite reads a "file:" name as a URI
// (RFC 3986 as SQLite takes it): "?" would start its parameters, "#" a
// fragment, and "%xx" an escape, so each of them is escaped in the path, or
// a path such as "we#ird.db" would open (and create, with the process's
// umask) another file; an absolute path gets an empty authority
// ("file:///…"), so that one starting with "//" is not read as a host.
func sqliteURI(path, query string) string {
	var b strings.Builder
	b.WriteString("file:")
	if strings.HasPrefix(path, "/") {
		b.WriteString("//")
	}
	for i := 0; i < len(path); i++ {
		switch c := path[i]; c {
		case '%', '?', '#':
			fmt.Fprintf(&b, "%%%02X", c)
		default:
			b.WriteByte(c)
		}
	}
	if query != "" {
		b.WriteString("?" + query)
	}
	return b.String()
}

// Missing reports whether dsn names no Twofold database, which Open would
// create: a SQLite file that does not exist, or a PostgreSQL database
// without Twofold's tables (in the schema its search_path names first; one
// made empty by CREATE DATABASE, or where pg_restore was not run). For
// commands that only make sense on a database that has been in use, a
// mistyped path or name must not become a new, empty one. It creates
// nothing; on PostgreSQL it connects, and a database it cannot reach is an
// error.
func Missing(ctx context.Context, dsn string) (bool, error) {
	if !isPostgres(dsn) {
		path, _ := sqlitePath(dsn)
		_, err := os.Stat(path)
		return errors.Is(err, os.ErrNotExist), nil
	}
	s, err := connect(dsn, AppName)
	if err != nil {
		return false, err
	}
	defer s.Close()
	ok, err := s.hasSchema(ctx)
	return !ok, err
}

// hasSchema reports whether the PostgreSQL database holds Twofold's tables:
// its table of migrations, in the schema new tables go to.
func (s *Store) hasSchema(ctx context.Context) (bool, error) {
	var ok bool
	if err := s.db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&ok); err != nil {
		return false, fmt.Errorf("look for Twofold's tables: %w", err)
	}
	return ok, nil
}

// Redacted returns dsn fit to print: in a PostgreSQL URL the password,
// in its user information or its parameters, is replaced by "xxxxx".
func Redacted(dsn string) string {
	if !isPostgres(dsn) {
		return dsn
	}
	u, err := url.Parse(dsn)
	if err != nil {
		return "postgres://…"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// IsPostgres reports whether dsn names a PostgreSQL database.
func IsPostgres(dsn string) bool { return isPostgres(dsn) }

// isPostgres reports whether dsn names a PostgreSQL database.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}

// AppName is the application_name of Twofold's connections to PostgreSQL
// (pg_stat_activity), by which `twofold restore` sees the servers and
// commands still connected to a database (see OpenRestored).
const AppName = "twofold"

// connect opens the pools over dsn without migrating; on PostgreSQL its
// connections carry the application_name app, in place of any the dsn
// names.
func connect(dsn, app string) (*Store, error) {
	switch {
	case isPostgres(dsn):
		db, err := openPostgres(dsn, app)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		db.SetMaxOpenConns(32)
		db.SetMaxIdleConns(32)
		db.SetConnMaxIdleTime(5 * time.Minute)
		s := &Store{db: db, rdb: db, dialect: Postgres}
		s.batcher = newBatcher(s)
		return s, nil
	default:
		path, opts := sqlitePath(dsn)
		if path == "" {
			return nil, errors.New("sqlite database path is empty")
		}
		// synchronous=FULL (the default) syncs the WAL at every commit, so an
		// accepted code survives a power cut; NORMAL syncs only at checkpoints,
		// which is faster but may forget the last commits on power loss
		// (README "Durability").
		sync := "FULL"
		if opts != "" {
			v, err := url.ParseQuery(opts)
			if err != nil {
				return nil, fmt.Errorf("sqlite options: %w", err)
			}
			for k := range v {
				if k != "synchronous" {
					return nil, fmt.Errorf("sqlite option %q is not supported (only synchronous)", k)
				}
			}
			switch strings.ToUpper(v.Get("synchronous")) {
			case "FULL", "":
			case "NORMAL":
				sync = "NORMAL"
			default:
				return nil, errors.New("sqlite synchronous must be FULL or NORMAL")
			}
		}
		// A file this process may read but not write (another user's, of
		// mode 0644) would open read-only and fail later, at the first
		// write or at restricting its mode, with words that do not say why.
		if hint := fileHint(path); hint != "" {
			return nil, fmt.Errorf("open sqlite: the database file cannot be written (%s)", hint)
		}
		if err := ensureWAL(path); err != nil {
			return nil, err
		}
		// SQLite has one writer at a time. Rather than let writers meet on
		// the file lock (whose busy handler sleeps in steps of milliseconds),
		// all writes go through one connection, queued in Go; reads use a
		// pool of read-only connections, which WAL never blocks.
		open := func(readOnly bool) (*sql.DB, error) {
			q := url.Values{}
			for _, p := range []string{"busy_timeout(10000)", "journal_mode(WAL)", "foreign_keys(1)", "synchronous(" + sync + ")"} {
				q.Add("_pragma", p)
			}
			if readOnly {
				q.Add("_pragma", "query_only(1)")
			} else {
				q.Set("_txlock", "immediate")
				// The writer is the one connection every write queues for:
				// its statement journals stay in memory, and it caches 32 MiB
				// of pages, which serve the second step's reads (committer).
				// It checkpoints the WAL into the database when the WAL holds
				// 16,000 pages (64 MiB) rather than SQLite's 1,000: a page
				// written many times in between is copied once, and the
				// writer stops for a checkpoint a sixteenth as often
				// (README "Performance"). What a write removes (a closed
				// account's rows, a scrubbed user agent) is zeroed in the
				// pages it writes anyway (secure_delete FAST), rather than
				// left in their free space for anyone reading the file.
				q.Add("_pragma", "temp_store(2)")
				q.Add("_pragma", "secure_delete(FAST)")
				q.Add("_pragma", "cache_size(-32768)")
				q.Add("_pragma", "wal_autocheckpoint(16000)")
			}
			return openSQLite(sqliteURI(path, q.Encode()))
		}
		db, err := open(false)
		if err != nil {
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		db.SetMaxOpenConns(1)
		db.SetMaxIdleConns(1)
		db.SetConnMaxIdleTime(0)
		rdb, err := open(true)
		if err != nil {
			db.Close()
			return nil, fmt.Errorf("open sqlite: %w", err)
		}
		rdb.SetMaxOpenConns(8)
		rdb.SetMaxIdleConns(8)
		return &Store{db: db, rdb: rdb, dialect: SQLite, path: path, committer: newCommitter(db)}, nil
	}
}

// openSQLite opens a pool over the SQLite database name (a "file:" URI)
// whose statements answer a full, failing or read-only disk with an
// unavailable error (see unavailable).
func openSQLite(name string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", name) // only to reach the registered driver: it connects nothing
	if err != nil {
		return nil, err
	}
	drv := db.Driver()
	db.Close()
	return sql.OpenDB(errConnector{name: name, drv: drv}), nil
}

// ensureWAL puts the SQLite file at path in WAL mode, creating it if need be,
// before any pool opens it. Switching a new file to WAL upgrades a read lock
// to a write lock, which SQLite refuses at once (its busy handler would
// deadlock) when another process is switching the same file at the same
// moment, as several instances starting together do; so the switch is retried
// for a while. Once the file is in WAL mode, which persists, every later
// connection's journal_mode pragma is a no-op that takes no lock.
func ensureWAL(path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, url.Values{"_pragma": {"busy_timeout(10000)"}}.Encode()))
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	deadline := time.Now().Add(10 * time.Second)
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		var mode string
		err := db.QueryRow(`PRAGMA journal_mode=WAL`).Scan(&mode)
		switch {
		case err == nil && strings.EqualFold(mode, "wal"):
			return nil
		case err == nil:
			return fmt.Errorf("open sqlite: the file stays in %s journal mode, not WAL", mode)
		case !isBusy(err) || time.Now().After(deadline):
			return openProblem(path, err)
		}
		time.Sleep(wait)
	}
}

// openError is an error of opening a SQLite database said in plain words
// (msg), which still wraps SQLite's own (err) for errors.Is and As.
type openError struct {
	msg string
	err error
}

func (e *openError) Error() string { return e.msg }
func (e *openError) Unwrap() error { return e.err }

// openProblem returns the error of the SQLite database at path that could
// not be opened, or put in WAL mode, with err: it says what is wrong with
// the path (a directory, a directory missing or not writable, a file that
// is no database) and what to do, rather than SQLite's "unable to open
// database file (14)", which names neither the file nor the cause. What it
// cannot tell apart keeps SQLite's words, after the file's name.
func openProblem(path string, err error) error {
	code := 0
	if se := (*sqlite.Error)(nil); errors.As(err, &se) {
		code = se.Code() & 0xff
	}
	dir := filepath.Dir(path)
	msg := ""
	switch fi, serr := os.Stat(path); {
	case serr == nil && fi.IsDir():
		msg = fmt.Sprintf("the SQLite database %s is a directory, not a file: correct --db to name a file, such as %s", path, filepath.Join(path, "twofold.db"))
	case code == 26: // SQLITE_NOTADB
		msg = fmt.Sprintf("%s is not a SQLite database (another kind of file, or a damaged one): correct --db, or put the database back from its backup", path)
	default:
		if di, derr := os.Stat(dir); derr == nil && !di.IsDir() {
			msg = fmt.Sprintf("cannot open the SQLite database %s: %s is a file, not a directory: correct --db", path, dir)
		} else if hint := dirHint(path); hint != "" {
			msg = fmt.Sprintf("cannot open the SQLite database %s: %s", path, hint)
		} else {
			msg = fmt.Sprintf("cannot open the SQLite database %s (SQLite says: %v): check that --db names a file that the server's user may read and write, in a directory it may write", path, err)
		}
	}
	return &openError{msg: msg, err: err}
}

// dirHint returns what to do when the directory of the SQLite file at path
// does not exist, or is not writable by this process, which SQLite's own
// error ("unable to open database file") does not say: WAL mode keeps two
// files beside the database, made and removed as it is opened and closed.
// When the directory is writable, as found by making (and removing) a file
// in it, it returns fileHint's.
func dirHint(path string) string {
	dir := filepath.Dir(path)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return fmt.Sprintf("the directory %s does not exist: create it, or correct --db", dir)
	}
	f, err := os.CreateTemp(dir, ".twofold-writable-*")
	if err != nil {
		base := filepath.Base(path)
		return fmt.Sprintf("the directory %s must be writable by the server's user, not only the file: SQLite keeps its WAL files %s-wal and %s-shm beside the database", dir, base, base)
	}
	f.Close()
	os.Remove(f.Name())
	return fileHint(path)
}

// fileHint returns what to do when the SQLite file at path, or its -wal
// or -shm file, is there but cannot be read and written by this process
// (one made by another user, as root running `twofold user add --create`
// makes a file of mode 0600 the service's user cannot open): it names the
// file, its owner and mode, and this process's user. It returns "" when
// each can be opened for reading and writing.
func fileHint(path string) string {
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		f, err := os.OpenFile(p, os.O_RDWR, 0)
		if err == nil {
			f.Close()
			continue
		}
		if !errors.Is(err, os.ErrPermission) {
			continue
		}
		fi, serr := os.Stat(p)
		if serr != nil {
			continue
		}
		return fmt.Sprintf("this process, running as %s, may not read and write %s, which is owned by %s with mode %04o: give the file to the server's user, with chown, or run the command as the file's owner",
			processUser(), p, fileOwner(fi), fi.Mode().Perm())
	}
	return ""
}

// ownerHint returns what to do when this process may write the SQLite
// file at path but not change its mode (to 0600), because another user
// owns it: it names the file, its owner and mode, and this process's user.
func ownerHint(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprintf(" (this process, running as %s, may not make %s private to its owner, which is %s with mode %04o: give the file to the server's user, with chown, or run the command as the file's owner)",
		processUser(), path, fileOwner(fi), fi.Mode().Perm())
}

// isBusy reports whether err is SQLite's "database is locked".
func isBusy(err error) bool {
	var se *sqlite.Error
	return errors.As(err, &se) && se.Code()&0xff == 5 // SQLITE_BUSY and its extended codes
}

// Dialect reports which engine the store runs on.
func (s *Store) Dialect() Dialect { return s.dialect }

// Pools returns the store's connection pools by name, for their statistics
// (sql.DBStats): on SQLite "writer", the one connection every write and
// transaction takes turns on, and "reader"; on PostgreSQL "pool".
func (s *Store) Pools() map[string]*sql.DB {
	if s.rdb == s.db {
		return map[string]*sql.DB{"pool": s.db}
	}
	return map[string]*sql.DB{"writer": s.db, "reader": s.rdb}
}

// ObserveCommits sets f to be called after each commit of second steps on
// SQLite's writer (see committer) with the number of second steps the
// transaction carried and how long it took from its first statement to the
// end of the commit, sync included. f runs on the writer and must be quick.
// On PostgreSQL (see batcher) f is never called.
func (s *Store) ObserveCommits(f func(steps int, took time.Duration)) {
	if s.committer != nil {
		s.committer.observe.Store(&f)
	}
}

// QueuedSteps reports how many second steps wait in the queue of SQLite's
// writer (see committer) or of PostgreSQL's batches (see batcher) to be
// taken into a batch.
func (s *Store) QueuedSteps() int {
	switch {
	case s.committer != nil:
		return len(s.committer.jobs)
	case s.batcher != nil:
		return len(s.batcher.jobs)
	}
	return 0
}

// StepWorkers reports how many goroutines take queued second steps, each a
// batch at a time: one on SQLite (its writer), batchWorkers on PostgreSQL.
func (s *Store) StepWorkers() int {
	if s.batcher != nil {
		return batchWorkers
	}
	return 1
}

// Close closes the connection pools.
func (s *Store) Close() error {
	if s.committer != nil {
		s.committer.close()
	}
	if s.batcher != nil {
		s.batcher.close()
	}
	s.reads.close()
	err := s.db.Close()
	if s.rdb != s.db {
		err = errors.Join(err, s.rdb.Close())
	}
	return err
}

// stmtCache keeps statements prepared on a pool, by their text. It must only
// serve a pool whose connections no transaction of the caller holds (the read
// pool), or preparing would wait for a connection that is never released.
type stmtCache struct {
	mu sync.Mutex
	m  map[string]*sql.Stmt
}

func (c *stmtCache) get(ctx context.Context, db *sql.DB, q string) (*sql.Stmt, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if st := c.m[q]; st != nil {
		return st, nil
	}
	st, err := db.PrepareContext(ctx, q)
	if err != nil {
		return nil, err
	}
	if c.m == nil {
		c.m = map[string]*sql.Stmt{}
	}
	c.m[q] = st
	return st, nil
}

func (c *stmtCache) close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, st := range c.m {
		st.Close()
	}
	c.m = nil
}

// Ping checks that the database answers. A pooled connection the server
// closed meanwhile (PostgreSQL restarted, or ended it) fails the ping with
// driver.ErrBadConn and leaves the pool; the ping is then tried on another,
// at worst on a new one once every pooled connection has been tried, so that
// a database that is back is not reported down because of the connections
// it dropped while it was away.
func (s *Store) Ping(ctx context.Context) error {
	err := s.db.PingContext(ctx)
	for n := s.db.Stats().OpenConnections; n >= 0 && errors.Is(err, driver.ErrBadConn); n-- {
		err = s.db.PingContext(ctx)
	}
	return err
}

func (s *Store) migrate(ctx context.Context) error {
	// Under the lock too: on PostgreSQL, concurrent CREATE TABLE IF NOT EXISTS
	// of one table can fail with a unique violation in the catalog.
	if err := s.tx(ctx, func(tx *sql.Tx) error {
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		if err := checkForeign(ctx, tx, s.dialect); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return fmt.Errorf("create schema_migrations: %w", err)
		}
		// Before any migration is applied: a database a newer release
		// migrated is refused, and left as it was.
		return checkSchema(ctx, tx, s.dialect)
	}); err != nil {
		return err
	}
	ms, err := embedded(s.dialect)
	if err != nil {
		return err
	}
	for _, m := range ms {
		body, err := fs.ReadFile(migrations, "migrations/"+string(s.dialect)+"/"+m.name)
		if err != nil {
			return err
		}
		applied, err := s.apply(ctx, m.version, string(body))
		if err != nil {
			return fmt.Errorf("migration %s: %w", m.name, err)
		}
		if applied {
			s.migrated++
		}
	}
	return nil
}

// ForeignError is the error of opening (Open) a database that holds
// another application's tables and no record of Twofold's migrations.
type ForeignError struct {
	// Tables names a few of the tables found.
	Tables []string
}

// Error says what was found and what to do.
func (e *ForeignError) Error() string {
	return fmt.Sprintf("the database holds tables Twofold did not make (%s) and no record of Twofold's migrations: it looks like another application's, and Twofold will not add its tables to it; nothing was changed: give Twofold a database of its own (--db), new and empty",
		strings.Join(e.Tables, ", "))
}

// checkForeign returns a *ForeignError when the database q reaches holds
// tables (in the schema new tables go to) but no migration in
// schema_migrations.
func checkForeign(ctx context.Context, q querier, dialect Dialect) error {
	list := `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite!_%' ESCAPE '!' AND name <> 'schema_migrations' ORDER BY name LIMIT 4`
	hasMigrations := `SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
	if dialect == Postgres {
		list = `SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'schema_migrations' ORDER BY tablename LIMIT 4`
		hasMigrations = `SELECT count(*) FROM pg_tables WHERE schemaname = current_schema() AND tablename = 'schema_migrations'`
	}
	rows, err := q.QueryContext(ctx, list)
	if err != nil {
		return fmt.Errorf("list the database's tables: %w", err)
	}
	defer rows.Close()
	var tables []string
	for rows.Next() {
		var t string
		if err := rows.Scan(&t); err != nil {
			return fmt.Errorf("list the database's tables: %w", err)
		}
		tables = append(tables, fmt.Sprintf("%q", t))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list the database's tables: %w", err)
	}
	rows.Close()
	if len(tables) == 0 {
		return nil
	}
	if len(tables) == 4 {
		tables[3] = "…"
	}
	var n int
	if err := q.QueryRowContext(ctx, hasMigrations).Scan(&n); err != nil {
		return fmt.Errorf("look for Twofold's migrations: %w", err)
	}
	if n > 0 {
		if err := q.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&n); err != nil {
			return fmt.Errorf("look for Twofold's migrations: %w", err)
		}
	}
	if n > 0 {
		return nil
	}
	return &ForeignError{Tables: tables}
}

// foreignSQLite returns a *ForeignError when the SQLite file at path holds
// another application's tables, reading it without changing it. A file
// that is not there, is empty, or cannot be read this way is left to
// Open, which makes it or says what is wrong.
func foreignSQLite(ctx context.Context, path string) error {
	if fi, err := os.Stat(path); err != nil || fi.Size() == 0 {
		return nil
	}
	db, err := sql.Open("sqlite", sqliteURI(path, url.Values{"mode": {"ro"}, "_pragma": {"busy_timeout(10000)"}}.Encode()))
	if err != nil {
		return nil
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	if err := checkForeign(ctx, db, SQLite); errors.As(err, new(*ForeignError)) {
		return err
	}
	return nil
}

// migration is one embedded migration file.
type migration struct {
	version int
	name    string // in migrations/DIALECT
}

// embedded returns the migrations this binary embeds for dialect, oldest
// first.
func embedded(dialect Dialect) ([]migration, error) {
	entries, err := fs.ReadDir(migrations, "migrations/"+string(dialect))
	if err != nil {
		return nil, err
	}
	ms := make([]migration, 0, len(entries))
	for _, e := range entries {
		v, err := strconv.Atoi(strings.SplitN(e.Name(), "_", 2)[0])
		if err != nil {
			return nil, fmt.Errorf("migration %s: name must start with a number", e.Name())
		}
		ms = append(ms, migration{version: v, name: e.Name()})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms, nil
}

// SchemaError is the error of opening (Open, OpenRestored), restoring
// (RestoreSQLite) or backing up (Backup) a database that holds a migration
// this binary does not embed: one applied by a newer release (or another
// build). On such a schema this binary would half-work, and what it wrote
// would miss the newer release's rules (README "Upgrading"), so it refuses
// before it changes anything.
type SchemaError struct {
	// Database is the newest migration the database holds.
	Database int
	// Binary is the newest migration this binary embeds.
	Binary int
	// Unknown lists the migrations the database holds that this binary
	// does not embed, oldest first.
	Unknown []int
}

// Error says which migrations the database and the binary are at, and what
// to do.
func (e *SchemaError) Error() string {
	if e.Database > e.Binary {
		return fmt.Sprintf("the database's schema is at migration %d, newer than this binary's %d: run the newer release, or restore a backup taken before the upgrade",
			e.Database, e.Binary)
	}
	return fmt.Sprintf("the database holds migration %d, which this binary (at migration %d) does not have: run the release that applied it, or restore a backup taken before",
		e.Unknown[0], e.Binary)
}

// checkSchema returns a *SchemaError when the table schema_migrations that
// q reaches holds a version dialect's embedded migrations do not.
func checkSchema(ctx context.Context, q querier, dialect Dialect) error {
	ms, err := embedded(dialect)
	if err != nil {
		return err
	}
	known := make(map[int]bool, len(ms))
	e := &SchemaError{}
	for _, m := range ms {
		known[m.version] = true
		e.Binary = max(e.Binary, m.version)
	}
	rows, err := q.QueryContext(ctx, `SELECT version FROM schema_migrations ORDER BY version`)
	if err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return fmt.Errorf("read schema_migrations: %w", err)
		}
		e.Database = max(e.Database, v)
		if !known[v] {
			e.Unknown = append(e.Unknown, v)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read schema_migrations: %w", err)
	}
	if len(e.Unknown) > 0 {
		return e
	}
	return nil
}

// apply runs one migration in a transaction, unless another process already did.
func (s *Store) apply(ctx context.Context, version int, body string) (applied bool, err error) {
	err = s.tx(ctx, func(tx *sql.Tx) error {
		applied = false // a transaction run again starts over
		if err := s.lockMigrations(ctx, tx); err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE version = $1`, version).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return nil
		}
		// Comments go first, so that a semicolon inside one does not split a statement.
		for _, stmt := range strings.Split(stripComments(body), ";") {
			if strings.TrimSpace(stmt) == "" {
				continue
			}
			if _, err := tx.ExecContext(ctx, stmt); err != nil {
				return err
			}
		}
		_, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, $2)`, version, micros(time.Now()))
		applied = err == nil
		return err
	})
	return applied && err == nil, err
}

// Migrated is the number of migrations opening s applied (Open,
// OpenRestored): 0 when the database was already at this release's schema.
func (s *Store) Migrated() int { return s.migrated }

// lockMigrations serialises concurrent starts of several instances until tx
// ends. SQLite needs nothing: its write transactions are IMMEDIATE.
func (s *Store) lockMigrations(ctx context.Context, tx *sql.Tx) error {
	if s.dialect != Postgres {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7140001)`); err != nil {
		return fmt.Errorf("lock migrations: %w", err)
	}
	return nil
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.Split(s, "\n") {
		if i := strings.Index(line, "--"); i >= 0 {
			line = line[:i]
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
	return b.String()
}

// querier is what *sql.DB and *sql.Tx share.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

type txKey struct{}

type txValue struct {
	owner *Store
	tx    *sql.Tx
}

// conn returns the transaction ctx carries for this store, or else a
// querier that sends writes to the writer and plain SELECTs to the readers.
func (s *Store) conn(ctx context.Context) querier {
	if v, ok := ctx.Value(txKey{}).(txValue); ok && v.owner == s {
		return v.tx
	}
	if s.rdb == s.db {
		return s.db
	}
	return router{s}
}

type router struct{ s *Store }

func (r router) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return r.s.db.ExecContext(ctx, q, args...)
}

func (r router) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return r.pick(q).QueryContext(ctx, q, args...)
}

func (r router) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return r.pick(q).QueryRowContext(ctx, q, args...)
}

// pick sends statements that only read to the read pool.
func (r router) pick(q string) *sql.DB {
	q = strings.TrimLeft(q, " \t\r\n")
	if len(q) >= 6 && strings.EqualFold(q[:6], "SELECT") {
		return r.s.rdb
	}
	return r.s.db
}

// InTx runs fn in one transaction: every store call made with the context fn
// receives joins it. It commits when fn returns nil and rolls back otherwise.
// Inside, calls that would open a transaction of their own join this one.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if v, ok := ctx.Value(txKey{}).(txValue); ok && v.owner == s {
		return fn(ctx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(context.WithValue(ctx, txKey{}, txValue{owner: s, tx: tx})); err != nil {
		tx.Rollback()
		return txConflict(err)
	}
	if err := tx.Commit(); err != nil {
		return txConflict(fmt.Errorf("commit: %w", err))
	}
	return nil
}

func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	if v, ok := ctx.Value(txKey{}).(txValue); ok && v.owner == s {
		return fn(v.tx)
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// Columns returns table → sorted column names of the schema, for the test that
// both dialects end with the same schema.
func (s *Store) Columns(ctx context.Context) (map[string][]string, error) {
	var q string
	if s.dialect == Postgres {
		q = `SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()`
	} else {
		// table_xinfo, as table_info leaves generated columns out.
		q = `SELECT m.name, p.name FROM sqlite_master m JOIN pragma_table_xinfo(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	}
	rows, err := s.db.QueryContext(ctx, q)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			return nil, err
		}
		out[t] = append(out[t], c)
	}
	for _, cols := range out {
		sort.Strings(cols)
	}
	return out, rows.Err()
}

func micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

func fromMicros(v int64) time.Time {
	if v == 0 {
		return time.Time{}
	}
	return time.UnixMicro(v).UTC()
}

func nullMicros(t *time.Time) sql.NullInt64 {
	if t == nil {
		return sql.NullInt64{}
	}
	return sql.NullInt64{Int64: t.UnixMicro(), Valid: true}
}

func fromNullMicros(v sql.NullInt64) *time.Time {
	if !v.Valid {
		return nil
	}
	t := time.UnixMicro(v.Int64).UTC()
	return &t
}

// txConflict marks err with twofold.ErrTxConflict when PostgreSQL ended the
// transaction as the loser of a deadlock (40P01) or a serialization failure
// (40001), or refused a statement because an earlier one failed (25P02): a
// best-effort step (a throttle reset) logs its error and goes on, and that
// error may have been a lost deadlock. Such a transaction wrote nothing and
// can be run again; a failure that is not a conflict fails again, and after
// the last run is the answer.
func txConflict(err error) error {
	if err == nil || errors.Is(err, twofold.ErrTxConflict) {
		return err
	}
	if msg := err.Error(); strings.Contains(msg, "SQLSTATE 40P01") || strings.Contains(msg, "SQLSTATE 40001") || strings.Contains(msg, "SQLSTATE 25P02") {
		return fmt.Errorf("%w: %w", twofold.ErrTxConflict, err)
	}
	return err
}

// isUniqueViolation reports whether err is a unique-constraint failure.
func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "SQLSTATE 23505")
}

// isForeignKeyViolation reports whether err is a foreign-key failure: a
// row that refers to one deleted meanwhile.
func isForeignKeyViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "FOREIGN KEY constraint failed") || strings.Contains(msg, "SQLSTATE 23503")
}

func notFound(what string) error { return twofold.Errorf(twofold.CodeNotFound, "%s not found", what) }

// queryAll runs q and reads every row it returns with scan; what names the
// rows in errors.
func queryAll[T any](ctx context.Context, s *Store, what string, scan func(interface{ Scan(...any) error }) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("select %s: %w", what, err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("scan %s: %w", what, err)
		}
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select %s: %w", what, err)
	}
	return out, nil
}

// scanString reads a row of one text column, for queryAll.
func scanString(row interface{ Scan(...any) error }) (string, error) {
	var v string
	err := row.Scan(&v)
	return v, err
}

// execOne runs a statement that changes at most one row and reports whether
// it changed one: of any number of callers of a conditional write on one
// row, the one that wins (STYLE "one-time and counted things").
func (s *Store) execOne(ctx context.Context, what, q string, args ...any) (bool, error) {
	res, err := s.conn(ctx).ExecContext(ctx, q, args...)
	if err != nil {
		return false, fmt.Errorf("%s: %w", what, err)
	}
	n, err := res.RowsAffected()
	return n == 1, err
}
