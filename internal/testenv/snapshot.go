package testenv

import (
	"database/sql"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// Snapshot is what a test server's database holds, for tests that a
// request refused wrote nothing: every row of every table but those that
// count and record attempts (throttles, rate buckets, audit events, the
// sessions' time of last use) and those the server writes in the
// background (the outbox, emptied as mail is sent, of which only the last
// id queued is kept; the instances' heartbeats).
//
// On PostgreSQL the last id is the outbox's sequence, which an insert
// moves even when its transaction rolls back: there a Diff's "mail queued"
// may also be a mail queued and then taken back, which a refusal should
// not try either.
type Snapshot struct {
	rows     string
	lastMail int64
	postgres bool
}

// snapshotSkips are the tables a Snapshot leaves out.
var snapshotSkips = []string{"audit_events", "throttles", "throttles_by_key", "rate_buckets", "outbox", "sqlite_sequence", "instances"}

// Snapshots takes Snapshots of one test server's database.
type Snapshots struct {
	db       *sql.DB
	postgres bool
}

// OpenSnapshots opens the database dsn (a test server's: "sqlite:PATH" or
// "postgres://…") for Snapshots, and closes it when tb ends.
func OpenSnapshots(tb testing.TB, dsn string) *Snapshots {
	tb.Helper()
	db := openDSN(tb, dsn)
	tb.Cleanup(func() { db.Close() })
	return &Snapshots{db: db, postgres: isPostgres(dsn)}
}

// Take reads the database as it is now.
func (s *Snapshots) Take(tb testing.TB) Snapshot {
	tb.Helper()
	tablesQuery := `SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name`
	mailQuery := `SELECT COALESCE(MAX(seq), 0) FROM sqlite_sequence WHERE name = 'outbox'`
	if s.postgres {
		tablesQuery = `SELECT table_name FROM information_schema.tables
			WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' ORDER BY table_name`
		mailQuery = `SELECT COALESCE(pg_sequence_last_value(pg_get_serial_sequence('outbox', 'id')), 0)`
	}
	rows, err := s.db.Query(tablesQuery)
	if err != nil {
		tb.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if !slices.Contains(snapshotSkips, n) {
			tables = append(tables, n)
		}
	}
	if err := rows.Err(); err != nil {
		tb.Fatal(err)
	}
	rows.Close()
	if len(tables) == 0 {
		tb.Fatal("snapshot: the database has no tables")
	}
	var b strings.Builder
	for _, table := range tables {
		rows, err := s.db.Query(`SELECT * FROM "` + table + `" ORDER BY 1`)
		if err != nil {
			tb.Fatal(err)
		}
		cols, err := rows.Columns()
		if err != nil {
			tb.Fatal(err)
		}
		for rows.Next() {
			fmt.Fprintf(&b, "%s:", table)
			for i, v := range ScanAny(tb, rows, cols) {
				if table == "sessions" && strings.HasPrefix(cols[i], "last_") {
					continue
				}
				fmt.Fprintf(&b, " %s=%v", cols[i], v)
			}
			b.WriteByte('\n')
		}
		if err := rows.Err(); err != nil {
			tb.Fatal(err)
		}
		rows.Close()
	}
	var mail int64
	if err := s.db.QueryRow(mailQuery).Scan(&mail); err != nil {
		tb.Fatal(err)
	}
	return Snapshot{rows: b.String(), lastMail: mail, postgres: s.postgres}
}

// Diff returns what changed from s to later, a line each ("" for
// nothing): rows gone ("- "), rows new or changed ("+ "), mail queued.
func (s Snapshot) Diff(later Snapshot) string {
	al, bl := strings.Split(s.rows, "\n"), strings.Split(later.rows, "\n")
	var out []string
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	if later.lastMail != s.lastMail {
		maybe := ""
		if s.postgres {
			maybe = ", or queued and taken back"
		}
		out = append(out, fmt.Sprintf("+ mail queued%s (outbox ids %d to %d)", maybe, s.lastMail+1, later.lastMail))
	}
	return strings.Join(out, "\n")
}

// checksLeft is the count of checks left in a Snapshot's row.
var checksLeft = regexp.MustCompile(` checks_left=(\d+)`)

// WithoutChecksTaken is a Snapshot's diff d without one code sent (texted
// or mailed) that lost one check and changed in nothing else, if it has
// one: call it once for each code a refusal may take a check from, so that
// a check taken from any other stays in the diff.
func WithoutChecksTaken(d string) string { return WithoutCheckTakenFrom(d, "sent_codes") }

// WithoutCheckTakenFrom is WithoutChecksTaken for the rows of table, whose
// column checks_left counts the codes one may still take (sent_codes,
// email_changes).
func WithoutCheckTakenFrom(d, table string) string {
	lines := strings.Split(d, "\n")
	for i, l := range lines {
		row, ok := strings.CutPrefix(l, "- "+table+":")
		m := checksLeft.FindStringSubmatch(row)
		if !ok || m == nil {
			continue
		}
		n, _ := strconv.Atoi(m[1])
		after := "+ " + table + ":" + strings.Replace(row, m[0], " checks_left="+strconv.Itoa(n-1), 1)
		if j := slices.Index(lines, after); j >= 0 {
			lines[i], lines[j] = "", ""
			break
		}
	}
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool { return l == "" }), "\n")
}
