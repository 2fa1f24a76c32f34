package store

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"

	"github.com/twofold/twofold"
)

// unavailableRetry is the wait a client is told (Retry-After) when the
// database cannot be reached or written: a restart of PostgreSQL takes
// seconds.
const unavailableRetry = 5 * time.Second

// unavailable returns err, when it says the database cannot be reached or
// written at the moment rather than that the statement was wrong, as a
// twofold.CodeUnavailable error (503, "try again shortly") that keeps the
// driver's words as its cause, for the log and never for the client: a
// PostgreSQL server that is restarting, shut down or refusing connections,
// a SQLite file on a full, failing or read-only disk. Every statement of the
// store's pools passes its error through here (see errConn), so that no
// request answers such a moment with an internal error. Other errors are
// returned as they are.
func unavailable(err error) error {
	if err == nil || errors.Is(err, driver.ErrBadConn) || !storageDown(err) {
		return err // ErrBadConn as it is: database/sql tries another connection
	}
	if errors.As(err, new(*twofold.Error)) {
		return err
	}
	return &twofold.Error{Code: twofold.CodeUnavailable, Message: "the database is not reachable; try again shortly",
		RetryAfter: unavailableRetry, Err: err}
}

// storageDown reports whether err says the database is out of reach or
// cannot write, as opposed to refusing a statement.
func storageDown(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false // the caller's own end, not the database's
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff {
		case 5, // SQLITE_BUSY, past the busy timeout
			8,  // SQLITE_READONLY: the file or its directory cannot be written
			10, // SQLITE_IOERR
			13, // SQLITE_FULL: the disk (or max_page_count) is full
			14: // SQLITE_CANTOPEN
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		if pe.Code == "3D000" || strings.HasPrefix(pe.Code, "28") {
			// No such database, no such role, a wrong password: the
			// DSN is wrong, and waiting will not mend it. Said as the
			// server said it (the start-up's error names it), not as
			// a moment to wait out.
			return false
		}
		switch {
		case strings.HasPrefix(pe.Code, "08"), // connection exception
			strings.HasPrefix(pe.Code, "53"), // insufficient resources: disk full, too many connections
			pe.Code == "57P01",               // admin shutdown: the server is stopping or the connection was terminated
			pe.Code == "57P02",               // crash shutdown
			pe.Code == "57P03":               // cannot connect now: the server is starting
			return true
		}
		return errors.As(err, new(*pgconn.ConnectError)) // any refusal while connecting
	}
	if errors.As(err, new(*pgconn.ConnectError)) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE)
}

// errConnector opens connections of a driver whose statements' errors pass
// through unavailable: the store's SQLite pools.
type errConnector struct {
	name string
	drv  driver.Driver
}

func (c errConnector) Connect(context.Context) (driver.Conn, error) {
	conn, err := c.drv.Open(c.name)
	if err != nil {
		return nil, unavailable(err)
	}
	return errConn{conn}, nil
}

func (c errConnector) Driver() driver.Driver { return c.drv }

// errConn is a connection whose statements' errors pass through
// unavailable. It offers what modernc.org/sqlite's connections offer
// database/sql.
type errConn struct{ driver.Conn }

func (c errConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c errConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.(driver.ConnPrepareContext).PrepareContext(ctx, q)
	if err != nil {
		return nil, unavailable(err)
	}
	return errStmt{st}, nil
}

func (c errConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.Conn.(driver.ExecerContext).ExecContext(ctx, q, args)
	return r, unavailable(err)
}

func (c errConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.Conn.(driver.QueryerContext).QueryContext(ctx, q, args)
	if err != nil {
		return nil, unavailable(err)
	}
	return errRows{r}, nil
}

func (c errConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c errConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	tx, err := c.Conn.(driver.ConnBeginTx).BeginTx(ctx, opts)
	if err != nil {
		return nil, unavailable(err)
	}
	return errTx{tx}, nil
}

func (c errConn) Ping(ctx context.Context) error {
	if p, ok := c.Conn.(driver.Pinger); ok {
		return unavailable(p.Ping(ctx))
	}
	return nil
}

func (c errConn) ResetSession(ctx context.Context) error {
	if r, ok := c.Conn.(driver.SessionResetter); ok {
		return r.ResetSession(ctx)
	}
	return nil
}

func (c errConn) IsValid() bool {
	if v, ok := c.Conn.(driver.Validator); ok {
		return v.IsValid()
	}
	return true
}

// errStmt is a prepared statement whose errors pass through unavailable.
type errStmt struct{ driver.Stmt }

func (s errStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	return r, unavailable(err)
}

func (s errStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, unavailable(err)
	}
	return errRows{r}, nil
}

// errRows are rows whose errors pass through unavailable: SQLite runs a
// statement (an INSERT … RETURNING, say) as its rows are read.
type errRows struct{ driver.Rows }

func (r errRows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == io.EOF {
		return err
	}
	return unavailable(err)
}

func (r errRows) Close() error { return unavailable(r.Rows.Close()) }

// errTx is a transaction whose end passes its error through unavailable: a
// commit is where a full disk or a failing sync shows.
type errTx struct{ driver.Tx }

func (t errTx) Commit() error   { return unavailable(t.Tx.Commit()) }
func (t errTx) Rollback() error { return unavailable(t.Tx.Rollback()) }
