package store

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"github.com/twofold/twofold"
)

// openPostgres opens a pool over dsn whose statements answer text that
// PostgreSQL cannot hold with an invalid error rather than an internal one
// (see textError), its connections named app (application_name).
func openPostgres(dsn, app string) (*sql.DB, error) {
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		return nil, err
	}
	cfg.RuntimeParams["application_name"] = app
	return sql.OpenDB(textConnector{stdlib.GetConnector(*cfg, stdlib.OptionShouldPing(pingIdle))}), nil
}

// pingAfterIdle is how long a pooled connection may have been idle before
// the driver pings it when database/sql takes it again (its ResetSession);
// the driver's own default is a second. A connection PostgreSQL has ended
// (a restart, pg_terminate_backend) fails the ping, is refused with
// driver.ErrBadConn, and database/sql takes another or opens a new one, so
// that the statement is never sent on it. A restart takes longer than this,
// so every connection it ends has been idle long enough to be pinged; a
// connection in steady use (taken again within microseconds under load)
// costs no round trip. The ping goes through the driver's own reads, bounded
// by the caller's context; it never looks at the socket beneath (a peek
// there waits on the socket's read lock, which the driver's background
// reader may hold). A connection ended between the ping and its statement,
// or within this time of its last use, fails that statement with an
// unavailable error (see unavailable), never an internal one.
const pingAfterIdle = 100 * time.Millisecond

func pingIdle(_ context.Context, p stdlib.ShouldPingParams) bool {
	return p.IdleDuration >= pingAfterIdle
}

// textError makes err, when PostgreSQL refused a text parameter that is
// not UTF-8 or holds a NUL byte (SQLSTATE 22021, character not in
// repertoire) or that it cannot convert (22P05, untranslatable character),
// an invalid error: the request carried such text, which SQLite would have
// taken. Requests are checked before they reach the store (httpapi.Text);
// this is the last guard, so that no such request is a 500.
func textError(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && (pe.Code == "22021" || pe.Code == "22P05") {
		return &twofold.Error{Code: twofold.CodeInvalid, Message: "the request holds text that is not valid UTF-8 or holds a NUL byte",
			Err: fmt.Errorf("postgres: %w", err)}
	}
	return unavailable(err)
}

// textConnector opens connections whose statements' errors pass textError.
type textConnector struct{ driver.Connector }

func (c textConnector) Connect(ctx context.Context) (driver.Conn, error) {
	conn, err := c.Connector.Connect(ctx)
	if err != nil {
		return nil, unavailable(err)
	}
	return textConn{conn.(*stdlib.Conn)}, nil
}

// textConn is a pgx connection whose statements' errors pass textError.
type textConn struct{ *stdlib.Conn }

func (c textConn) ExecContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Result, error) {
	r, err := c.Conn.ExecContext(ctx, q, args)
	return r, textError(err)
}

func (c textConn) QueryContext(ctx context.Context, q string, args []driver.NamedValue) (driver.Rows, error) {
	r, err := c.Conn.QueryContext(ctx, q, args)
	return r, textError(err)
}

func (c textConn) Begin() (driver.Tx, error) {
	return c.BeginTx(context.Background(), driver.TxOptions{})
}

func (c textConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if c.Conn.Conn().IsClosed() {
		return nil, driver.ErrBadConn
	}
	tx, err := c.Conn.BeginTx(ctx, opts)
	if err != nil {
		if pgconn.SafeToRetry(err) {
			return nil, driver.ErrBadConn // BEGIN was not sent: database/sql takes another connection
		}
		return nil, textError(err)
	}
	return errTx{tx}, nil
}

func (c textConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c textConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	st, err := c.Conn.PrepareContext(ctx, q)
	if err != nil {
		if pgconn.SafeToRetry(err) {
			return nil, driver.ErrBadConn
		}
		return nil, textError(err)
	}
	return textStmt{st.(*stdlib.Stmt)}, nil
}

// textStmt is a prepared statement whose errors pass textError.
type textStmt struct{ *stdlib.Stmt }

func (s textStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	r, err := s.Stmt.ExecContext(ctx, args)
	return r, textError(err)
}

func (s textStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	r, err := s.Stmt.QueryContext(ctx, args)
	return r, textError(err)
}

// EncodingError is the error of opening (Open, OpenRestored) a PostgreSQL
// database whose encoding is not UTF8. Twofold's text is Go's: UTF-8, which
// such a database either cannot hold whole (LATIN1 and the other
// single-byte encodings refuse what they have no character for) or does
// not check (SQL_ASCII stores any bytes, and its LOWER folds ASCII alone);
// and the database counts the bytes of text itself (dns_records.data_bytes,
// migration 0081, which the zone's 4 MiB bound adds up), which is Go's
// count only in UTF8.
type EncodingError struct {
	// Encoding is the database's (server_encoding).
	Encoding string
}

// Error says which encoding the database has, and what to do.
func (e *EncodingError) Error() string {
	return fmt.Sprintf("the PostgreSQL database's encoding is %s, not UTF8, and Twofold stores and measures its text as UTF-8; nothing was changed: create the database with ENCODING 'UTF8' (CREATE DATABASE twofold ENCODING 'UTF8' TEMPLATE template0), move the data there if it holds any (README \"Running more than one instance\"), and give that one to --db",
		e.Encoding)
}

// checkEncoding returns an *EncodingError when the PostgreSQL database s
// reaches is not encoded in UTF8. It only reads.
func (s *Store) checkEncoding(ctx context.Context) error {
	var enc string
	if err := s.db.QueryRowContext(ctx, `SHOW server_encoding`).Scan(&enc); err != nil {
		return fmt.Errorf("read the database's encoding: %w", err)
	}
	if enc != "UTF8" {
		return &EncodingError{Encoding: enc}
	}
	return nil
}
