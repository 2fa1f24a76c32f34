package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/atomicfile"
	"github.com/twofold/twofold/internal/keyring"
)

// A restore brings back the database as it was at the backup: what
// happened since is gone, and some of it must not come back unnoticed
// (README "Backup and restore"). AfterRestore mends what can be mended
// from inside the database.

// EventIDGap is how far AfterRestore moves the audit events' id counter
// past every id it knows of: more events than any server writes between
// a backup and its restore (2^32), so that an id handed out after the
// backup, which the restored database cannot know of, is never handed
// out again; and at least to EventIDClock, for what it cannot know of.
const EventIDGap = 1 << 32

// EventIDClock is the least id counter AfterRestore leaves at a restore
// made at t: microseconds since 1970. The database restored knows nothing
// of the ids handed out after its backup, and when it replaces none (a
// PostgreSQL dump restored into an empty database, a SQLite backup
// restored on another machine) nothing tells how far they went, nor how
// far the ids of an earlier restore of the same backup went. The clock
// does: each restore's ids go on from its own time, above those of every
// restore before it as long as fewer than a million events a second were
// written since (and the clocks were right), so that two restores of one
// backup never hand out the same id, and ids keep rising for pollers
// (after=ID). Ids stay below 2^53, exact in every JSON reader, until the
// year 2255.
func EventIDClock(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMicro()
}

// ErrInUse is returned by RestoreSQLite and OpenRestored when a process
// has the database open, or a server beat on it within HeartbeatFresh
// (Instance); the error wrapping it then names those servers.
var ErrInUse = errors.New("restore: the database is in use: stop every server (and command) using it first")

// ErrRestoreUnsupported is returned by RestoreSQLite for a PostgreSQL
// database, which is restored with pg_restore (or psql) and then mended by
// AfterRestore.
var ErrRestoreUnsupported = errors.New("restore: a PostgreSQL database is restored with pg_restore or psql; then run twofold restore with --db alone for the fix-ups")

// RestoreResult is what a restore did.
type RestoreResult struct {
	// Aside is where the database file that was replaced now is (with its
	// -wal, -shm and -journal beside it, if it had them, also when the file
	// itself was gone); empty when there was nothing, and on PostgreSQL.
	Aside string
	// Moved lists the files moved (or, the database itself, linked) aside,
	// kept: the database and any -wal, -shm or -journal beside it.
	Moved []string
	// SessionsEnded is how many sessions were ended.
	SessionsEnded int64
	// ResetsCancelled is how many waiting two-factor resets were
	// cancelled.
	ResetsCancelled int64
	// MailsWaiting is how many mails wait in the outbox, each now due at
	// once.
	MailsWaiting int64
	// CodeMailsDropped is how many mails carrying a code or a link (sealed:
	// sent codes, password-reset and email-change links) were taken out of
	// the outbox: the restore voided what they carry.
	CodeMailsDropped int64
	// WebhooksFailing is how many webhook endpoints, on and failing at
	// the backup, had their failures cleared, so that the time the backup
	// was kept does not count towards disabling them.
	WebhooksFailing int64
	// StaleRemoved lists the temporary copies of earlier restores, killed
	// before they finished, that were removed.
	StaleRemoved []string
	// EventID is the id of the restore's own audit event, above every id
	// handed out before.
	EventID int64
}

// oneTimeTables hold sessions and things used once (links, codes,
// ceremonies): rows that the backup holds unused may have been used, or
// ended, since, and would work again. AfterRestore empties them.
var oneTimeTables = []string{"sessions", "logins", "api_tokens", "sent_codes", "webauthn_ceremonies", "passkey_logins",
	"ssh_challenges", "password_resets", "email_changes", "form_uses"}

// AfterRestore mends a database just restored from a backup, in one
// transaction, before any server uses it:
//
//   - the audit events' id counter (SQLite's sqlite_sequence, PostgreSQL's
//     audit_events_seq) moves EventIDGap past the greatest of its value,
//     the greatest id stored and floor (the counter of the database the
//     backup replaces, when known), and at least to EventIDClock(e.At),
//     so that no id is handed out twice, also by a second restore of the
//     same backup: receivers of webhooks and pollers (after=ID)
//     de-duplicate and resume by id;
//   - on PostgreSQL every webhook's cursor is re-based (RebaseWebhooks):
//     a dump restored into another cluster carries transaction ids of the
//     old one; and every webhook's lease ends, so that the first server
//     to start delivers at once, not when a lease taken by an instance on
//     the database as it was at the backup would have run out; and every
//     webhook that is on and was failing at the backup has its failures
//     cleared (failures, failing_since, next_attempt_at; last_error and
//     last_attempt_at are kept): the time the backup was kept is not time
//     the endpoint failed, and counted it would disable an endpoint at its
//     first failure after the restore of a backup older than
//     core.DefaultWebhookDisableAfter;
//   - every mail with a code or a link in it (sealed) is taken out of
//     the outbox: what it carries is voided below;
//   - every other mail waiting in the outbox is due at once: a claim by a
//     worker on the database as it was at the backup (a mail in flight)
//     would otherwise hold it back for the worker's lease (5 minutes), and
//     a claim and the wait before a retry look alike in the row;
//   - every session ends, and every login waiting for its second step,
//     API key token, sent code, security-key, passkey and SSH challenge,
//     password-reset and email-change link is voided: a session signed
//     out, or a link used, after the backup would work again;
//   - every two-factor reset waiting is cancelled, each with a
//     two_factor.reset_cancelled event on its account: one cancelled after
//     the backup would otherwise come back and, when due, remove the
//     holder's factors; an operator asks again for one still wanted;
//   - the heartbeats of servers (Instance) the backup holds are removed:
//     they are of the servers on the database it was taken of;
//   - e is recorded, its detail followed by what was done.
func (s *Store) AfterRestore(ctx context.Context, floor int64, e twofold.AuditEvent) (RestoreResult, error) {
	var r RestoreResult
	err := s.InTx(ctx, func(ctx context.Context) error {
		q := s.conn(ctx)
		var next int64
		clock := EventIDClock(e.At)
		if s.dialect == Postgres {
			err := q.QueryRowContext(ctx, `SELECT setval('audit_events_seq', GREATEST(GREATEST((SELECT last_value FROM audit_events_seq),
				(SELECT COALESCE(MAX(id), 0) FROM audit_events), CAST($1 AS BIGINT)) + CAST($2 AS BIGINT), CAST($3 AS BIGINT)))`,
				floor, int64(EventIDGap), clock).Scan(&next)
			if err != nil {
				return fmt.Errorf("after restore: move the event id counter: %w", err)
			}
		} else {
			err := q.QueryRowContext(ctx, `SELECT MAX(MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'), 0),
				COALESCE((SELECT MAX(id) FROM audit_events), 0), $1) + $2, $3)`, floor, int64(EventIDGap), clock).Scan(&next)
			if err != nil {
				return fmt.Errorf("after restore: read the event id counter: %w", err)
			}
			n, err := rowsAffected(q.ExecContext(ctx, `UPDATE sqlite_sequence SET seq = $1 WHERE name = 'audit_events'`, next))
			if err == nil && n == 0 {
				_, err = q.ExecContext(ctx, `INSERT INTO sqlite_sequence (name, seq) VALUES ('audit_events', $1)`, next)
			}
			if err != nil {
				return fmt.Errorf("after restore: move the event id counter: %w", err)
			}
		}
		if err := s.RebaseWebhooks(ctx); err != nil {
			return err
		}
		// Leases of instances on the database as it was at the backup
		// (a delivery in flight while pg_dump ran) would hold every
		// endpoint back until they run out: every server is stopped.
		if _, err := q.ExecContext(ctx, `UPDATE webhooks SET lease_owner = '', lease_until = 0`); err != nil {
			return fmt.Errorf("after restore: end webhook leases: %w", err)
		}
		// An endpoint failing at the backup starts its count anew: the
		// backup's days on the shelf are not days of failure.
		n, err := rowsAffected(q.ExecContext(ctx, `UPDATE webhooks SET failures = 0, failing_since = 0, next_attempt_at = 0
			WHERE disabled_at = 0 AND (failing_since <> 0 OR failures <> 0 OR next_attempt_at <> 0)`))
		if err != nil {
			return fmt.Errorf("after restore: clear webhook failures: %w", err)
		}
		r.WebhooksFailing = n
		// The same for mail: a worker's claim (due_at at the end of its
		// lease) cannot be told from a retry's wait, so every mail is due
		// again from when it was queued, and the first server to start
		// sends it.
		// A mail with a code or a link in it is sealed; the restore voids
		// every code and link (below), so such a mail would only tell its
		// reader to use what no longer works. A team invitation's notice
		// is sealed too, but carries no code, and the invitation outlives
		// the restore: it goes.
		if r.CodeMailsDropped, err = rowsAffected(q.ExecContext(ctx, `DELETE FROM outbox WHERE seal_ref <> '' AND code_kind <> '`+string(twofold.MailedTeamInvitation)+`'`)); err != nil {
			return fmt.Errorf("after restore: drop mails of voided codes and links: %w", err)
		}
		if _, err := q.ExecContext(ctx, `UPDATE outbox SET due_at = created_at WHERE due_at > created_at`); err != nil {
			return fmt.Errorf("after restore: end outbox leases: %w", err)
		}
		if err := q.QueryRowContext(ctx, `SELECT COUNT(*) FROM outbox`).Scan(&r.MailsWaiting); err != nil {
			return fmt.Errorf("after restore: count outbox mails: %w", err)
		}
		for _, table := range oneTimeTables {
			n, err := rowsAffected(q.ExecContext(ctx, `DELETE FROM `+table))
			if err != nil {
				return fmt.Errorf("after restore: empty %s: %w", table, err)
			}
			if table == "sessions" {
				r.SessionsEnded = n
			}
		}
		// The heartbeats in the backup are of the servers that ran on the
		// database it was taken of, not on this one: every server is
		// stopped, and each writes its own again when it starts.
		if _, err := q.ExecContext(ctx, `DELETE FROM instances`); err != nil {
			return fmt.Errorf("after restore: forget the heartbeats of servers: %w", err)
		}
		n, err = cancelResets(ctx, q, e)
		if err != nil {
			return err
		}
		r.ResetsCancelled = n
		e.Detail += fmt.Sprintf("; %d sessions ended, and every sign-in, token, code, challenge and link in progress voided; %d two-factor resets waiting cancelled; %d mails of voided codes and links dropped; %d mails in the outbox due at once; failures of %d webhooks cleared; event ids go on above %d",
			r.SessionsEnded, r.ResetsCancelled, r.CodeMailsDropped, r.MailsWaiting, r.WebhooksFailing, next)
		if err := addEvent(ctx, q, e); err != nil {
			return err
		}
		return q.QueryRowContext(ctx, `SELECT MAX(id) FROM audit_events`).Scan(&r.EventID)
	})
	return r, err
}

// cancelResets cancels every two-factor reset waiting, recording a
// two_factor.reset_cancelled event of source e.Source on each account, and
// returns how many it cancelled.
func cancelResets(ctx context.Context, q querier, e twofold.AuditEvent) (int64, error) {
	type reset struct{ account, by string }
	rows, err := q.QueryContext(ctx, `SELECT account_id, requested_by FROM two_factor_resets ORDER BY account_id`)
	if err != nil {
		return 0, fmt.Errorf("after restore: read two-factor resets: %w", err)
	}
	var resets []reset
	for rows.Next() {
		var r reset
		if err := rows.Scan(&r.account, &r.by); err != nil {
			rows.Close()
			return 0, fmt.Errorf("after restore: read two-factor resets: %w", err)
		}
		resets = append(resets, r)
	}
	if err := errors.Join(rows.Err(), rows.Close()); err != nil {
		return 0, fmt.Errorf("after restore: read two-factor resets: %w", err)
	}
	for _, r := range resets {
		if _, err := q.ExecContext(ctx, `DELETE FROM two_factor_resets WHERE account_id = $1`, r.account); err != nil {
			return 0, fmt.Errorf("after restore: cancel a two-factor reset: %w", err)
		}
		ev := twofold.AuditEvent{AccountID: r.account, Type: "two_factor.reset_cancelled", At: e.At, Source: e.Source, UserAgent: e.UserAgent,
			ByOperator:   true,
			Detail:       "by the restore of the database from a backup (it may have been cancelled after the backup); it was requested by " + r.by + "; ask again if it is still wanted",
			HolderDetail: "by the restore of the database from a backup; ask again if it is still wanted"}
		if err := addEvent(ctx, q, ev); err != nil {
			return 0, err
		}
	}
	return int64(len(resets)), nil
}

// RestoreSQLite puts the SQLite backup at src in place of the database dsn
// names (README "Backup and restore"). It refuses while any process has
// the database open. It copies src (left untouched) to a temporary file
// beside the database, checks it with SQLite's integrity check and that it
// is a Twofold database of a schema this binary knows (a *SchemaError
// otherwise: a backup a newer release made), migrates it, mends it (AfterRestore, with the
// replaced database's event id counter as floor) and closes it; only then
// does it keep the database aside (to Aside, a hard link or a copy), move
// every -wal, -shm and -journal there, whether or not the database is
// still there, and put the copy, mode 0600, in its place by a rename.
// Until that rename, the database is as it was, and whole at its path at
// every moment. A dsn naming a symbolic link restores the database it
// leads to.
//
// keys, when not nil, is given the backup's data keys before anything is
// written (read from src itself, which is not changed) and its error
// refuses the restore: the check that the key file opens them
// (keyring.CheckFile). When src cannot be read so early (not a database:
// the checks of the copy say what it is), it is given them from the copy,
// still before the copy is migrated or anything else changed.
func RestoreSQLite(ctx context.Context, dsn, src string, e twofold.AuditEvent, now time.Time, keys func([]keyring.WrappedKey) error) (RestoreResult, error) {
	var r RestoreResult
	if isPostgres(dsn) {
		return r, ErrRestoreUnsupported
	}
	path, _ := sqlitePath(dsn)
	if path == "" {
		return r, errors.New("restore: sqlite database path is empty")
	}
	// A link to the database: the database is what is replaced, beside
	// it, not the link.
	path, err := atomicfile.Target(path)
	if err != nil {
		return r, fmt.Errorf("restore: the database: %w", err)
	}
	sfi, err := os.Stat(src)
	if err != nil {
		return r, fmt.Errorf("restore: the backup: %w", err)
	}
	if !sfi.Mode().IsRegular() {
		return r, fmt.Errorf("restore: the backup %s is not a file", src)
	}
	if fi, err := os.Stat(src + "-wal"); err == nil && fi.Size() > 0 {
		return r, fmt.Errorf("restore: %s has a write-ahead log beside it (%s-wal), so the file alone is not the whole database: restore a copy made by twofold backup", src, src)
	}
	dfi, err := os.Stat(path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return r, fmt.Errorf("restore: the database: %w", err)
	}
	if exists && os.SameFile(sfi, dfi) {
		return r, errors.New("restore: the backup is the database itself")
	}
	// The key file is checked before anything is written, on the backup
	// itself, when it is a Twofold database of a schema this binary
	// knows; otherwise the checks of the copy below say what it is.
	keysChecked := keys == nil
	if !keysChecked {
		if ks, err := sqliteDataKeys(ctx, src, true); err == nil {
			if err := keys(ks); err != nil {
				return r, err
			}
			keysChecked = true
		}
	}
	var floor int64
	if exists {
		if floor, err = eventCounter(ctx, path); err != nil {
			return r, err
		}
	}

	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}
	// The copies left by restores killed before they finished: whole
	// databases, the password hashes in them.
	stale, _ := filepath.Glob(filepath.Join(dir, restoreTempPrefix+"*"))
	for _, name := range stale {
		if err := os.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return r, fmt.Errorf("restore: remove the copy %s left by an earlier restore: %w", name, err)
		}
		r.StaleRemoved = append(r.StaleRemoved, name)
	}
	tmp, err := os.CreateTemp(dir, restoreTempPrefix+"*") // mode 0600 from the start
	if err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}
	tmpName := tmp.Name()
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		os.Remove(tmpName)
		return r, fmt.Errorf("restore: %w", err)
	}
	defer func() {
		for _, suffix := range []string{"", "-wal", "-shm", "-journal"} {
			os.Remove(tmpName + suffix)
		}
	}()
	err = copyFile(tmp, src)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r, fmt.Errorf("restore: copy the backup: %w", err)
	}
	if err := checkCopy(ctx, tmpName); err != nil {
		return r, fmt.Errorf("restore: the backup %s %w", src, err)
	}
	if err := checkTwofold(ctx, tmpName); err != nil {
		return r, err
	}
	if !keysChecked {
		ks, err := sqliteDataKeys(ctx, tmpName, false)
		if err != nil {
			return r, fmt.Errorf("restore: the backup: %w", err)
		}
		if err := keys(ks); err != nil {
			return r, err
		}
	}
	st, err := Open(ctx, "sqlite:"+tmpName)
	if err != nil {
		return r, fmt.Errorf("restore: open the backup: %w", err)
	}
	removed := r.StaleRemoved
	r, err = st.AfterRestore(ctx, floor, e)
	r.StaleRemoved = removed
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}
	if err := finishCopy(tmpName, dfi); err != nil {
		return r, fmt.Errorf("restore: %w", err)
	}

	// Looked for again at the last moment: a server started meanwhile.
	if exists {
		if _, err := eventCounter(ctx, path); err != nil {
			return r, err
		}
	}
	// The old database is linked (or copied) aside, and its logs, -wal,
	// -shm and -journal, moved aside, whether or not the database is still
	// there: a log left from a lost or removed file must never meet the
	// restored one, which SQLite would replay it into. Then the copy
	// replaces the database by a rename, so that a whole database is at
	// path at every moment.
	aside, moved, err := moveAside(path, exists, now)
	r.Aside, r.Moved = aside, moved
	if err != nil {
		return r, err
	}
	if err := renameIn(tmpName, path); err != nil {
		return r, fmt.Errorf("restore: put the backup in place (the database is as it was; its logs, if any, were moved to %s): %w", aside, err)
	}
	_ = atomicfile.SyncDir(dir) // best effort: the restore is in place either way
	return r, nil
}

// eventCounter returns the audit events' id counter of the SQLite file at
// path, or ErrInUse when a process has it open or a server beat on it
// within HeartbeatFresh (naming the servers seen). The file is opened in
// exclusive locking mode: in WAL mode every connection holds a shared lock
// on the file while it is open, idle or not, so that taking the exclusive
// lock fails at once while any other is open, in this process or another.
// A file that cannot be read (damaged, or not a database: the reason to
// restore) gives 0.
func eventCounter(ctx context.Context, path string) (int64, error) {
	q := url.Values{"_pragma": {"locking_mode(EXCLUSIVE)", "busy_timeout(0)"}}
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=rw&"+q.Encode()))
	if err != nil {
		return 0, fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	var n int64
	err = db.QueryRowContext(ctx, `SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'audit_events'), 0),
		COALESCE((SELECT MAX(id) FROM audit_events), 0))`).Scan(&n)
	if isBusy(err) {
		return 0, openBy(ctx, path)
	}
	if err != nil && ctx.Err() != nil {
		// Interrupted: the file was not looked at, so it is not known to
		// be free; the restore stops here, having changed nothing.
		return 0, fmt.Errorf("restore: interrupted before the database was checked to be free, nothing changed: %w", ctx.Err())
	}
	if err != nil {
		// Still busy if someone holds it, however unreadable the file.
		if _, berr := db.ExecContext(ctx, `BEGIN EXCLUSIVE`); isBusy(berr) {
			return 0, openBy(ctx, path)
		}
		return 0, nil
	}
	// Nobody has it open, yet a server may have beaten lately: one
	// killed a moment ago, or one on another machine sharing the file,
	// whose lock this one does not see.
	if err := sqliteInUse(ctx, db); err != nil {
		return 0, err
	}
	return n, nil
}

// openBy returns the ErrInUse of the SQLite file at path that a process
// has open, naming the servers that beat on it lately, when it can read
// them (a command has it open otherwise).
func openBy(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro&"+url.Values{"_pragma": {"busy_timeout(1000)"}}.Encode()))
	if err != nil {
		return ErrInUse
	}
	defer db.Close()
	if err := sqliteInUse(ctx, db); errors.Is(err, ErrInUse) {
		return err
	}
	return ErrInUse
}

// checkTwofold reports an error unless the SQLite file at path holds a
// Twofold database, its migrations and audit log, whose schema this binary
// knows (a *SchemaError otherwise).
func checkTwofold(ctx context.Context, path string) error {
	db, err := sql.Open("sqlite", sqliteURI(path, "mode=ro"))
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	defer db.Close()
	return checkTwofoldDB(ctx, db)
}

// checkTwofoldDB is checkTwofold on an open database.
func checkTwofoldDB(ctx context.Context, db *sql.DB) error {
	var migrations, events int
	err := db.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM schema_migrations), (SELECT COUNT(*) FROM sqlite_master WHERE name = 'audit_events')`).
		Scan(&migrations, &events)
	if err != nil || migrations == 0 || events == 0 {
		return fmt.Errorf("restore: the backup is not a Twofold database")
	}
	// A backup of a database a newer release migrated: this binary would
	// serve it half-working (a rollback restores one taken before the
	// upgrade).
	if err := checkSchema(ctx, db, SQLite); err != nil {
		return fmt.Errorf("restore: the backup: %w", err)
	}
	return nil
}

// sqliteDataKeys reads the data keys of the SQLite file at path, read-only
// and without migrating it, once checkTwofold finds it a Twofold database
// of a schema this binary knows; immutable also takes no lock and writes no
// -shm or journal beside it (for a backup, which nothing else writes).
func sqliteDataKeys(ctx context.Context, path string, immutable bool) ([]keyring.WrappedKey, error) {
	q := "mode=ro"
	if immutable {
		q += "&immutable=1"
	}
	db, err := sql.Open("sqlite", sqliteURI(path, q))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if err := checkTwofoldDB(ctx, db); err != nil {
		return nil, err
	}
	return dataKeys(ctx, db)
}

// restoreTempPrefix begins the name of the copy a restore makes beside
// the database.
const restoreTempPrefix = ".twofold-restore-"

// renameIn puts the restored copy in place; a variable so that a test can
// make it fail, as a crash at that moment would.
var renameIn = os.Rename

// logSuffixes are the files SQLite keeps beside a database.
var logSuffixes = []string{"-wal", "-shm", "-journal"}

// moveAside links the SQLite file at path, when exists (or copies it,
// where links cannot be made), to a name beside it that says when, which
// no file has yet, and moves its -wal, -shm and -journal there, those that
// are, whether or not the file is. It returns that name, or "" when there
// was nothing to move, and the files now there.
func moveAside(path string, exists bool, now time.Time) (string, []string, error) {
	var logs []string
	for _, suffix := range logSuffixes {
		if _, err := os.Lstat(path + suffix); err == nil {
			logs = append(logs, suffix)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("restore: %w", err)
		}
	}
	if !exists && len(logs) == 0 {
		return "", nil, nil
	}
	base := path + ".before-restore-" + now.UTC().Format("20060102T150405Z")
	aside := base
	for i := 2; ; i++ {
		free := true
		for _, suffix := range append([]string{""}, logSuffixes...) {
			if _, err := os.Lstat(aside + suffix); !errors.Is(err, fs.ErrNotExist) {
				free = false
			}
		}
		if free {
			break
		}
		aside = fmt.Sprintf("%s.%d", base, i)
	}
	var moved []string
	if exists {
		if err := linkOrCopy(path, aside); err != nil {
			return aside, moved, fmt.Errorf("restore: keep the database at %s (nothing changed): %w", aside, err)
		}
		moved = append(moved, aside)
	}
	for _, suffix := range logs {
		if err := os.Rename(path+suffix, aside+suffix); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return aside, moved, fmt.Errorf("restore: move %s aside to %s (the database is as it was; the files kept are %v): %w", path+suffix, aside+suffix, moved, err)
		}
		moved = append(moved, aside+suffix)
	}
	return aside, moved, nil
}

// linkOrCopy makes dst, which must not exist, a hard link to src, or, where
// the file system has none, a synced owner-only copy of it.
func linkOrCopy(src, dst string) error {
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	fi, err := os.Stat(src)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fi.Mode().Perm()&0o600)
	if err != nil {
		return err
	}
	err = copyFile(f, src)
	if err == nil {
		_ = atomicfile.KeepOwner(f, fi) // at best, as the database's
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(dst)
		return err
	}
	return nil
}

// copyFile copies the file at src into f and syncs f.
func copyFile(f *os.File, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	if _, err := io.Copy(f, in); err != nil {
		return err
	}
	return f.Sync()
}

// syncFile syncs the file at path to disk.
// finishCopy syncs the restore's copy at path and makes it owner-only,
// given, at best, the owner and group of like, the database it replaces,
// when there is one: a database that root restores for a server running
// as another user stays that user's. All on the open file, never by its
// name, which another user who may write the directory could meanwhile
// replace with a link to a file of root's.
func finishCopy(path string, like fs.FileInfo) error {
	f, err := atomicfile.OpenNoFollow(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if err == nil && like != nil {
		_ = atomicfile.KeepOwner(f, like)
	}
	if err == nil {
		err = f.Chmod(0o600)
	}
	return errors.Join(err, f.Close())
}
