package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/twofold/twofold"
)

const zoneColumns = `name, account_id, serial, created_at, COALESCE(team_id, '')`

func scanZone(row interface{ Scan(...any) error }) (twofold.Zone, error) {
	var z twofold.Zone
	var serial, at int64
	err := row.Scan(&z.Name, &z.AccountID, &serial, &at, &z.TeamID)
	z.Serial, z.CreatedAt = uint32(serial), fromMicros(at)
	return z, err
}

// CreateZone stores a new zone; a zone of that name already stored is a
// conflict.
func (s *Store) CreateZone(ctx context.Context, z twofold.Zone) error {
	res, err := s.conn(ctx).ExecContext(ctx, `INSERT INTO dns_zones (name, account_id, serial, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (name) DO NOTHING`, z.Name, z.AccountID, int64(z.Serial), micros(z.CreatedAt))
	n, err := rowsAffected(res, err)
	if err != nil {
		return fmt.Errorf("insert zone: %w", err)
	}
	if n == 0 {
		return twofold.Errorf(twofold.CodeConflict, "zone %s exists already", z.Name)
	}
	return nil
}

// DeleteZone removes a zone with its records, reporting false when there
// was none of that name.
func (s *Store) DeleteZone(ctx context.Context, name string) (bool, error) {
	var found bool
	err := s.tx(ctx, func(tx *sql.Tx) error {
		// Records first: SQLite enforces the cascade only with foreign
		// keys on, and a zone must never leave records behind.
		if _, err := tx.ExecContext(ctx, `DELETE FROM dns_records WHERE zone = $1`, name); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM dns_zones WHERE name = $1`, name)
		n, err := rowsAffected(res, err)
		found = n == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("delete zone: %w", err)
	}
	return found, nil
}

// Zone returns the zone name.
func (s *Store) Zone(ctx context.Context, name string) (twofold.Zone, error) {
	z, err := scanZone(s.conn(ctx).QueryRowContext(ctx, `SELECT `+zoneColumns+` FROM dns_zones WHERE name = $1`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return z, notFound("zone")
	}
	if err != nil {
		return z, fmt.Errorf("select zone: %w", err)
	}
	return z, nil
}

// Zones returns the zones of the account, or with accountID "" every zone,
// by name.
func (s *Store) Zones(ctx context.Context, accountID string) ([]twofold.Zone, error) {
	q, args := `SELECT `+zoneColumns+` FROM dns_zones ORDER BY name`, []any{}
	if accountID != "" {
		q, args = `SELECT `+zoneColumns+` FROM dns_zones WHERE account_id = $1 ORDER BY name`, []any{accountID}
	}
	return s.queryZones(ctx, q, args...)
}

// queryZones returns the zones query q selects (zoneColumns).
func (s *Store) queryZones(ctx context.Context, q string, args ...any) ([]twofold.Zone, error) {
	return queryAll(ctx, s, "zones", scanZone, q, args...)
}

// ZoneOf returns the longest of names that is a stored zone: the zone a
// DNS name falls in, given the name and each of its parents. found is false
// when none is.
func (s *Store) ZoneOf(ctx context.Context, names []string) (z twofold.Zone, found bool, err error) {
	if len(names) == 0 {
		return z, false, nil
	}
	marks := make([]string, len(names))
	args := make([]any, len(names))
	for i, n := range names {
		marks[i], args[i] = "$"+strconv.Itoa(i+1), n
	}
	z, err = scanZone(s.conn(ctx).QueryRowContext(ctx, `SELECT `+zoneColumns+` FROM dns_zones WHERE name IN (`+
		strings.Join(marks, ", ")+`) ORDER BY LENGTH(name) DESC LIMIT 1`, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return twofold.Zone{}, false, nil
	}
	if err != nil {
		return z, false, fmt.Errorf("select zone of a name: %w", err)
	}
	return z, true, nil
}

// LockZone returns the zone name and, inside InTx, holds it until the
// transaction ends, so that changes of one zone's records take turns: what
// the transaction reads of the zone then stays true until it commits.
func (s *Store) LockZone(ctx context.Context, name string) (twofold.Zone, error) {
	z, err := scanZone(s.conn(ctx).QueryRowContext(ctx, `UPDATE dns_zones SET serial = serial WHERE name = $1 RETURNING `+zoneColumns, name))
	if errors.Is(err, sql.ErrNoRows) {
		return z, notFound("zone")
	}
	if err != nil {
		return z, fmt.Errorf("lock zone: %w", err)
	}
	return z, nil
}

// SetZoneSerial sets the zone's SOA serial.
func (s *Store) SetZoneSerial(ctx context.Context, name string, serial uint32) error {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE dns_zones SET serial = $1 WHERE name = $2`, int64(serial), name)
	n, err := rowsAffected(res, err)
	if err != nil {
		return fmt.Errorf("set zone serial: %w", err)
	}
	if n == 0 {
		return notFound("zone")
	}
	return nil
}

// Records returns every record of the zone, by host, type and data.
func (s *Store) Records(ctx context.Context, zone string) ([]twofold.Record, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT host, type, ttl, data FROM dns_records WHERE zone = $1 ORDER BY host, type, data`, zone)
	if err != nil {
		return nil, fmt.Errorf("select records: %w", err)
	}
	defer rows.Close()
	var out []twofold.Record
	for rows.Next() {
		var r twofold.Record
		var ttl int64
		if err := rows.Scan(&r.Host, &r.Type, &ttl, &r.Data); err != nil {
			return nil, fmt.Errorf("scan record: %w", err)
		}
		r.TTL = uint32(ttl)
		out = append(out, r)
	}
	return out, rows.Err()
}

// RecordSetSizes returns how many records the zone holds at each name of
// each type and the bytes of their data, by host and type, from an index
// that holds no data (migrations 0076 and 0081): a zone's names and sizes
// without reading its records' data. The database computes each size from
// the data, whichever release wrote the row (0081): on PostgreSQL the
// stored column data_bytes, on SQLite the expression of its virtual
// column, whose index on the expression is covering where one on the
// column is not.
func (s *Store) RecordSetSizes(ctx context.Context, zone string) ([]twofold.RecordSetSize, error) {
	return queryAll(ctx, s, "record set sizes", func(row interface{ Scan(...any) error }) (twofold.RecordSetSize, error) {
		var rs twofold.RecordSetSize
		err := row.Scan(&rs.Host, &rs.Type, &rs.Count, &rs.Bytes)
		return rs, err
	}, s.recordSetSizesQuery(), zone)
}

// recordSetSizesQuery is RecordSetSizes' statement, of the zone in $1.
func (s *Store) recordSetSizesQuery() string {
	size := "data_bytes"
	if s.dialect != Postgres {
		size = sqliteDataBytes
	}
	return `SELECT host, type, COUNT(*), CAST(SUM(` + size + `) AS BIGINT) FROM dns_records WHERE zone = $1 GROUP BY host, type ORDER BY host, type`
}

// sqliteDataBytes is the expression of SQLite's dns_records.data_bytes and
// of its index dns_records_sizes (migration 0081), written as there so
// that the planner matches the index: the bytes of the data, as Go's len
// counts them.
const sqliteDataBytes = `LENGTH(CAST(data AS BLOB))`

// RecordsAt returns the records of the zone at hosts, by host, type and
// data.
func (s *Store) RecordsAt(ctx context.Context, zone string, hosts []string) ([]twofold.Record, error) {
	var out []twofold.Record
	for chunk := range slices.Chunk(hosts, 500) {
		args := []any{zone}
		marks := make([]string, len(chunk))
		for i, h := range chunk {
			marks[i] = "$" + strconv.Itoa(i+2)
			args = append(args, h)
		}
		recs, err := queryAll(ctx, s, "records", scanRecord, `SELECT host, type, ttl, data FROM dns_records WHERE zone = $1 AND host IN (`+
			strings.Join(marks, ", ")+`)`, args...)
		if err != nil {
			return nil, err
		}
		out = append(out, recs...)
	}
	slices.SortFunc(out, func(x, y twofold.Record) int {
		return cmp.Or(cmp.Compare(x.Host, y.Host), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Data, y.Data))
	})
	return out, nil
}

// RecordPage returns at most limit records of the zone, ordered by host,
// type and data compared byte by byte, as Go compares strings, whatever
// the database's collation: those at host when host is not "", of type typ
// when typ is not "" too; when starts is not empty, only those whose host
// starts with one of starts (bytes, as the hosts are stored: lower case);
// and, when after.Host is not "", only those after after in that order. A read of a large zone takes it page by page
// (keyset pagination), each page one short statement of its own, so that
// no read holds the whole zone, a connection or a snapshot while its
// answer goes out. The primary key serves SQLite's pages, whose text
// compares bytes already; 0077's index serves PostgreSQL's.
func (s *Store) RecordPage(ctx context.Context, zone, host, typ string, starts []string, after twofold.Record, limit int) ([]twofold.Record, error) {
	col := func(c string) string { return c }
	if s.dialect == Postgres {
		col = func(c string) string { return c + ` COLLATE "C"` }
	}
	order := col("host") + ", " + col("type") + ", " + col("data")
	q, args := `SELECT host, type, ttl, data FROM dns_records WHERE zone = $1`, []any{zone}
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if host != "" {
		q += ` AND host = ` + arg(host)
		if typ != "" {
			q += ` AND type = ` + arg(typ)
		}
	}
	if len(starts) > 0 {
		// A range of the order per start, which the index of the order
		// serves: from the start up to the first string after every
		// string that begins with it.
		var ors []string
		for _, st := range starts {
			cond := col("host") + ` >= ` + arg(st)
			if end, ok := startsEnd(st); ok {
				cond += ` AND ` + col("host") + ` < ` + arg(end)
			}
			ors = append(ors, `(`+cond+`)`)
		}
		q += ` AND (` + strings.Join(ors, ` OR `) + `)`
	}
	if after.Host != "" {
		q += ` AND (` + order + `) > (` + arg(after.Host) + `, ` + arg(after.Type) + `, ` + arg(after.Data) + `)`
	}
	q += ` ORDER BY ` + order + ` LIMIT ` + arg(limit)
	return queryAll(ctx, s, "records", scanRecord, q, args...)
}

// startsEnd returns the first string, in the order of bytes, after every
// string that starts with start; ok is false when there is none (start is
// empty or all 0xff bytes).
func startsEnd(start string) (end string, ok bool) {
	b := []byte(start)
	for len(b) > 0 {
		if last := len(b) - 1; b[last] < 0xff {
			b[last]++
			return string(b), true
		}
		b = b[:len(b)-1]
	}
	return "", false
}

// scanRecord reads a row of host, type, ttl and data, for queryAll.
func scanRecord(row interface{ Scan(...any) error }) (twofold.Record, error) {
	var r twofold.Record
	var ttl int64
	err := row.Scan(&r.Host, &r.Type, &ttl, &r.Data)
	r.TTL = uint32(ttl)
	return r, err
}

// AddRecords stores records in the zone, all or none: a record already
// stored (the same host, type and data) is a conflict.
func (s *Store) AddRecords(ctx context.Context, zone string, recs []twofold.Record) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			_, err := tx.ExecContext(ctx, `INSERT INTO dns_records (zone, host, type, ttl, data) VALUES ($1, $2, $3, $4, $5)`,
				zone, r.Host, r.Type, int64(r.TTL), r.Data)
			switch {
			case isUniqueViolation(err):
				return twofold.Errorf(twofold.CodeConflict, "the record %s %s %s exists already", r.Host, r.Type, r.Data)
			case err != nil && strings.Contains(err.Error(), "FOREIGN KEY"), err != nil && strings.Contains(err.Error(), "SQLSTATE 23503"):
				return notFound("zone")
			case err != nil:
				return fmt.Errorf("insert record: %w", err)
			}
		}
		return nil
	})
}

// DeleteRecords removes those of recs (by host, type and data) that the
// zone holds and returns how many it removed.
func (s *Store) DeleteRecords(ctx context.Context, zone string, recs []twofold.Record) (int, error) {
	total := 0
	err := s.tx(ctx, func(tx *sql.Tx) error {
		for _, r := range recs {
			res, err := tx.ExecContext(ctx, `DELETE FROM dns_records WHERE zone = $1 AND host = $2 AND type = $3 AND data = $4`,
				zone, r.Host, r.Type, r.Data)
			n, err := rowsAffected(res, err)
			if err != nil {
				return fmt.Errorf("delete record: %w", err)
			}
			total += int(n)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return total, nil
}
