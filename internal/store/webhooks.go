package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
)

// Webhooks read the audit log in commit order, never skipping an event
// (README "Webhooks").
//
// On SQLite every write goes through one writer (and across processes
// SQLite's write lock), and an event's id is taken inside the transaction
// that commits it (AUTOINCREMENT: never reused): events commit in id
// order, and once id M is visible, so is every id below it. The cursor is
// an id.
//
// On PostgreSQL an id is taken from a sequence before its transaction
// commits, so id order is not commit order. Each event carries its
// transaction's id (txid, migration 0031), and the reader takes only
// events of transactions older than the oldest still running in this
// database (about the xmin of its snapshot, see snapshotBounds), ordered by
// (txid, id): such a transaction has ended, so no event can later appear
// before the cursor.
//
// That alone would need an index on txid, which every event (every
// login) would have to update. Instead the scan is bounded by id: Low is
// an id below which every event is delivered. Since an event's id is
// taken only after its transaction has an id (0031), every id the
// sequence had handed out before a moment belongs to a transaction that
// had its id before it. So each read notes the sequence's last id Q, and
// then Y, a transaction id above that of every transaction that had one
// when Q was read (see xidBound): a pending pair. Once the cursor has
// passed every transaction below Y, every event up to Q is delivered, and
// Low becomes Q.

// webhookCols are the columns of a webhook, in scanWebhook's order.
const webhookCols = `id, url, events, description, created_at, created_by, secret_key_id, sealed_secret, disabled_at,
	cursor_txid, cursor_id, low_id, pending_low_id, pending_xmax,
	last_delivered_at, last_attempt_at, last_error, failures, failing_since, next_attempt_at,
	previous_secret_key_id, previous_sealed_secret, previous_secret_until, COALESCE(created_by_key, ''), url_key_id, sealed_url, disabled_reason`

func scanWebhook(row interface{ Scan(...any) error }) (twofold.Webhook, error) {
	var w twofold.Webhook
	var events string
	var created, disabled, delivered, attempt, since, next, prevUntil int64
	c := &w.Cursor
	err := row.Scan(&w.ID, &w.URL, &events, &w.Description, &created, &w.CreatedBy, &w.SecretKeyID, &w.SealedSecret, &disabled,
		&c.TxID, &c.ID, &c.Low, &c.PendingLow, &c.PendingXmax,
		&delivered, &attempt, &w.Status.LastError, &w.Status.Failures, &since, &next,
		&w.PreviousSecretKeyID, &w.PreviousSealedSecret, &prevUntil, &w.CreatedByKey, &w.URLKeyID, &w.SealedURL, &w.DisabledReason)
	if events != "" {
		w.Events = strings.Split(events, ",")
	}
	w.CreatedAt, w.DisabledAt = fromMicros(created), fromMicros(disabled)
	w.Status.LastDeliveredAt, w.Status.LastAttemptAt = fromMicros(delivered), fromMicros(attempt)
	w.Status.FailingSince, w.Status.NextAttemptAt = fromMicros(since), fromMicros(next)
	w.PreviousSecretUntil = fromMicros(prevUntil)
	return w, err
}

// CreateWebhook stores a new webhook whose delivery starts with the events
// committed from now on. Its URL is stored sealed (w.URLKeyID,
// w.SealedURL) and never in the clear: w.URL is not written, and a webhook
// without a sealed URL is refused.
func (s *Store) CreateWebhook(ctx context.Context, w twofold.Webhook) error {
	if w.URLKeyID == "" || len(w.SealedURL) == 0 {
		return errors.New("insert webhook: its URL is not sealed")
	}
	c, err := s.webhookStart(ctx)
	if err != nil {
		return err
	}
	n, err := rowsAffected(s.conn(ctx).ExecContext(ctx, `INSERT INTO webhooks (id, url, events, description, created_at, created_by, secret_key_id, sealed_secret,
		cursor_txid, cursor_id, low_id, created_by_key, url_key_id, sealed_url)
		SELECT $1, '', $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13 WHERE `+s.keyStored("$6")+` AND `+s.keyStored("$12"),
		w.ID, strings.Join(w.Events, ","), w.Description, micros(w.CreatedAt), w.CreatedBy, w.SecretKeyID, w.SealedSecret,
		c.TxID, c.ID, c.Low, nullString(w.CreatedByKey), w.URLKeyID, w.SealedURL))
	if err != nil {
		return fmt.Errorf("insert webhook: %w", err)
	}
	if n == 0 {
		return fmt.Errorf("insert webhook: %w", keyring.ErrKeyGone)
	}
	return nil
}

// LockWebhooks serialises, until the transaction ctx carries ends, the
// transactions that count the server's webhooks and add one: on
// PostgreSQL by an advisory lock, as READ COMMITTED would let two of them
// count the same webhooks and both add one; SQLite's write transactions
// are IMMEDIATE, one at a time already. Outside a transaction it is an
// error, as it would hold nothing.
func (s *Store) LockWebhooks(ctx context.Context) error {
	v, ok := ctx.Value(txKey{}).(txValue)
	if !ok || v.owner != s {
		return errors.New("lock webhooks: not inside a transaction")
	}
	if s.dialect != Postgres {
		return nil
	}
	if _, err := v.tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7140004)`); err != nil {
		return fmt.Errorf("lock webhooks: %w", err)
	}
	return nil
}

// webhookStart returns the cursor of a webhook that starts now. On SQLite:
// the newest event. On PostgreSQL: every transaction that had an id when
// the snapshot was taken counts as before (cursor (xmax, 0)); the events
// of later ones have ids taken after the sequence's last id read before
// it (Low).
func (s *Store) webhookStart(ctx context.Context) (twofold.WebhookCursor, error) {
	var c twofold.WebhookCursor
	if s.dialect == SQLite {
		err := s.conn(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_events`).Scan(&c.ID)
		if err != nil {
			return c, fmt.Errorf("select last event: %w", err)
		}
		c.Low = c.ID
		return c, nil
	}
	q, y, err := s.pendingBounds(ctx)
	if err != nil {
		return c, err
	}
	c.TxID, c.Low = y, q
	// The transaction that makes the webhook may have its id already (a
	// row it locked: a caller's write first holds its account and its key
	// or session, callerStands). Its events, written with the webhook
	// (webhook.created), are the webhook's first: the cursor starts at its
	// id, not after it. Events
	// of the transactions between are then read too, those with ids
	// above q only, as with any later transaction's.
	var own sql.NullInt64
	if err := s.conn(ctx).QueryRowContext(ctx, `SELECT CAST(CAST(pg_current_xact_id_if_assigned() AS TEXT) AS BIGINT)`).Scan(&own); err != nil {
		return c, fmt.Errorf("select transaction id: %w", err)
	}
	if own.Valid && own.Int64 < c.TxID {
		c.TxID = own.Int64
	}
	return c, nil
}

// pendingBounds returns the sequence's last id q and a transaction id y
// above that of every transaction that took an event id up to q: read in
// this order, in statements of their own, q first.
//
// A snapshot's xmax is not such a bound: it is one above the newest
// transaction to have ended, and a transaction that is running may have
// a greater id, listed nowhere in the snapshot. So y is the greatest of
// the ids of the transactions running in this database once q is read
// (from pg_stat_activity, read before the snapshot; those of other
// databases take no event id here) and the xmax of a snapshot
// taken after: a transaction that had its id when q was read is either
// still running when its backend is read, or has ended by then, and so
// before the snapshot. (pg_stat_activity shows 32-bit ids; each is
// widened to 64 bits beside the xmax of the statement's own snapshot,
// which is within 2^31 of every running transaction's id.)
func (s *Store) pendingBounds(ctx context.Context) (q, y int64, err error) {
	if q, err = s.lastEventID(ctx); err != nil {
		return 0, 0, err
	}
	var running int64
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE(MAX(m + ((a.backend_xid::text::bigint - m % 4294967296 + 6442450944) % 4294967296 - 2147483648)) + 1, 0)
		FROM (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS m) AS s CROSS JOIN pg_stat_activity a
		WHERE a.backend_xid IS NOT NULL AND a.datid IS NOT DISTINCT FROM (SELECT oid FROM pg_database WHERE datname = current_database())`).Scan(&running)
	if err != nil {
		return 0, 0, fmt.Errorf("select running transactions: %w", err)
	}
	_, xmax, err := s.snapshotBounds(ctx)
	if err != nil {
		return 0, 0, err
	}
	return q, max(running, xmax), nil
}

// finalEventID returns an id up to which every event is committed or
// never will be (PostgreSQL): the sequence's last id, once every
// transaction that could hold an id up to it has ended (see the top of the
// file). It waits a few milliseconds for the transactions running as it
// looks to end; while a long one runs, it answers 0, and a poll finds
// nothing new until it ends, as webhooks wait.
func (s *Store) finalEventID(ctx context.Context) (int64, error) {
	// The pair once; then the snapshot again until the transactions that
	// ran as it was read have ended (a pair read anew each time would
	// never be passed under steady load).
	q, y, err := s.pendingBounds(ctx)
	if err != nil {
		return 0, err
	}
	for try := 0; ; try++ {
		xmin, _, err := s.snapshotBounds(ctx)
		if err != nil {
			return 0, err
		}
		if xmin >= y {
			return q, nil
		}
		if try == 20 {
			return 0, nil
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(5 * time.Millisecond):
		}
	}
}

// lastEventID returns the last id the events' sequence handed out (to a
// transaction that may still run).
func (s *Store) lastEventID(ctx context.Context) (int64, error) {
	var q int64
	err := s.db.QueryRowContext(ctx, `SELECT CASE WHEN is_called THEN last_value ELSE last_value - 1 END FROM audit_events_seq`).Scan(&q)
	if err != nil {
		return 0, fmt.Errorf("select event sequence: %w", err)
	}
	return q, nil
}

// snapshotBounds returns the bounds of a fresh snapshot: below xmin every
// transaction that may write to this database has ended (the least id of
// those still running, but those of other databases of the server, which
// pg_stat_activity names, are no matter: an idle-in-transaction session
// of another application must not hold deliveries back), and from xmax on
// every transaction began after. A running transaction it cannot place
// (a prepared one, or one that ended meanwhile) counts as of this
// database.
func (s *Store) snapshotBounds(ctx context.Context) (xmin, xmax int64, err error) {
	err = s.db.QueryRowContext(ctx, `SELECT COALESCE((SELECT MIN(x) FROM pg_snapshot_xip(s) AS x WHERE NOT EXISTS (
			SELECT 1 FROM pg_stat_activity a WHERE a.backend_xid = x::xid
				AND a.datid <> (SELECT oid FROM pg_database WHERE datname = current_database()))),
			pg_snapshot_xmax(s))::text::bigint, pg_snapshot_xmax(s)::text::bigint
		FROM (SELECT pg_current_snapshot() AS s) AS t`).Scan(&xmin, &xmax)
	if err != nil {
		return 0, 0, fmt.Errorf("select snapshot: %w", err)
	}
	return xmin, xmax, nil
}

// Webhooks returns every webhook, oldest first.
func (s *Store) Webhooks(ctx context.Context) ([]twofold.Webhook, error) {
	return queryAll(ctx, s, "webhooks", scanWebhook, `SELECT `+webhookCols+` FROM webhooks ORDER BY created_at, id`)
}

// Webhook returns a webhook; an unknown id is not-found.
func (s *Store) Webhook(ctx context.Context, id string) (twofold.Webhook, error) {
	w, err := scanWebhook(s.conn(ctx).QueryRowContext(ctx, `SELECT `+webhookCols+` FROM webhooks WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return w, twofold.Errorf(twofold.CodeNotFound, "no such webhook")
	}
	if err != nil {
		return w, fmt.Errorf("select webhook: %w", err)
	}
	return w, nil
}

// DeleteWebhook deletes a webhook, reporting whether it was there.
func (s *Store) DeleteWebhook(ctx context.Context, id string) (bool, error) {
	return s.execOne(ctx, "delete webhook", `DELETE FROM webhooks WHERE id = $1`, id)
}

// SetWebhookSecret replaces a webhook's sealed secret if it is still
// sealed as fromKeyID/fromSealed (a compare-and-set: not rotated or
// resealed meanwhile), and keeps the secret it replaces, sealed afresh as
// prevKeyID/prevSealed, as the previous one until prevUntil (a zero
// prevUntil keeps none), reporting whether it did. When keyID or prevKeyID
// is no longer stored (a key rotation deleted it after the values were
// sealed), nothing is stored and the error is keyring.ErrKeyGone.
func (s *Store) SetWebhookSecret(ctx context.Context, id, fromKeyID string, fromSealed []byte, keyID string, sealed []byte,
	prevKeyID string, prevSealed []byte, prevUntil time.Time) (bool, error) {
	if prevUntil.IsZero() {
		prevKeyID, prevSealed = "", nil
	}
	ok, err := s.execOne(ctx, "set webhook secret", `UPDATE webhooks SET secret_key_id = $1, sealed_secret = $2,
		previous_secret_key_id = $3, previous_sealed_secret = $4, previous_secret_until = $5
		WHERE id = $6 AND secret_key_id = $7 AND sealed_secret = $8 AND `+s.keyStored("$1")+` AND ($3 = '' OR `+s.keyStored("$3")+`)`,
		keyID, sealed, prevKeyID, prevSealed, micros(prevUntil), id, fromKeyID, fromSealed)
	if err == nil && !ok && (s.dataKeyGone(ctx, keyID) || prevKeyID != "" && s.dataKeyGone(ctx, prevKeyID)) {
		return false, fmt.Errorf("set webhook secret: %w", keyring.ErrKeyGone)
	}
	return ok, err
}

// ClearWebhookURLs returns the webhooks whose URL is stored in the clear
// (stored before migration 0089), with their id and URL alone.
func (s *Store) ClearWebhookURLs(ctx context.Context) ([]twofold.Webhook, error) {
	return queryAll(ctx, s, "clear webhook urls", func(row interface{ Scan(...any) error }) (twofold.Webhook, error) {
		var w twofold.Webhook
		return w, row.Scan(&w.ID, &w.URL)
	}, `SELECT id, url FROM webhooks WHERE url_key_id = '' ORDER BY id`)
}

// SealWebhookURL stores the URL of a webhook stored in the clear sealed
// as keyID/sealed, the clear one emptied, if it still holds clearURL in
// the clear (a compare-and-set: one of several instances starting
// together seals it), reporting whether it did. When keyID is no longer
// stored, nothing is and the error is keyring.ErrKeyGone.
func (s *Store) SealWebhookURL(ctx context.Context, id, clearURL, keyID string, sealed []byte) (bool, error) {
	ok, err := s.execOne(ctx, "seal webhook url", `UPDATE webhooks SET url = '', url_key_id = $1, sealed_url = $2
		WHERE id = $3 AND url_key_id = '' AND url = $4 AND `+s.keyStored("$1"), keyID, sealed, id, clearURL)
	if err == nil && !ok && s.dataKeyGone(ctx, keyID) {
		return false, fmt.Errorf("seal webhook url: %w", keyring.ErrKeyGone)
	}
	return ok, err
}

// ClearWebhookPreviousSecrets forgets every webhook's previous secret
// that no longer signs at now (one conditional statement), returning how
// many it cleared.
func (s *Store) ClearWebhookPreviousSecrets(ctx context.Context, now time.Time) (int64, error) {
	res, err := s.conn(ctx).ExecContext(ctx, `UPDATE webhooks SET previous_secret_key_id = '', previous_sealed_secret = NULL, previous_secret_until = 0
		WHERE previous_secret_until <> 0 AND previous_secret_until <= $1`, micros(now))
	if err != nil {
		return 0, fmt.Errorf("clear webhook previous secrets: %w", err)
	}
	return res.RowsAffected()
}

// EnableWebhook turns a disabled webhook back on, its failures forgotten
// and the operator by its own, with the API key byKey it used ("": a
// session), who answer for it from then on, reporting false when it is
// unknown or was not disabled. Delivery goes on from where it stopped.
func (s *Store) EnableWebhook(ctx context.Context, id, by, byKey string) (bool, error) {
	return s.execOne(ctx, "enable webhook", `UPDATE webhooks SET disabled_at = 0, disabled_reason = '', failures = 0, failing_since = 0, next_attempt_at = 0, created_by = $2,
		created_by_key = $3 WHERE id = $1 AND disabled_at <> 0`, id, by, nullString(byKey))
}

// DueWebhooks returns the ids of the webhooks that are on, due at now, and
// not leased to another instance than owner.
func (s *Store) DueWebhooks(ctx context.Context, owner string, now time.Time) ([]string, error) {
	return queryAll(ctx, s, "due webhooks", func(row interface{ Scan(...any) error }) (string, error) {
		var id string
		return id, row.Scan(&id)
	}, `SELECT id FROM webhooks WHERE disabled_at = 0 AND next_attempt_at <= $1 AND (lease_until <= $1 OR lease_owner = $2) ORDER BY id`,
		micros(now), owner)
}

// ClaimWebhook leases a webhook that is on and due to owner until until,
// or extends owner's lease, reporting false when another instance holds
// it (one conditional statement: of several instances, one holds it).
func (s *Store) ClaimWebhook(ctx context.Context, id, owner string, now, until time.Time) (bool, error) {
	return s.execOne(ctx, "claim webhook", `UPDATE webhooks SET lease_owner = $1, lease_until = $2
		WHERE id = $3 AND disabled_at = 0 AND next_attempt_at <= $4 AND (lease_until <= $4 OR lease_owner = $1)`,
		owner, micros(until), id, micros(now))
}

// ReleaseWebhook ends owner's lease of a webhook, so that another
// instance may take it at once.
func (s *Store) ReleaseWebhook(ctx context.Context, id, owner string) error {
	_, err := s.conn(ctx).ExecContext(ctx, `UPDATE webhooks SET lease_until = 0 WHERE id = $1 AND lease_owner = $2`, id, owner)
	if err != nil {
		return fmt.Errorf("release webhook: %w", err)
	}
	return nil
}

// WebhookFeed returns up to limit events after cursor c that a webhook of
// types (exact types, or prefixes ending in ".*"; none: every event)
// receives, in delivery order, and the cursor once they are delivered.
// An event not yet returned is never behind that cursor.
func (s *Store) WebhookFeed(ctx context.Context, c twofold.WebhookCursor, types []string, limit int) ([]twofold.AuditEvent, twofold.WebhookCursor, error) {
	var where []string
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	if len(types) > 0 {
		var or []string
		for _, t := range types {
			if p, ok := strings.CutSuffix(t, "*"); ok {
				or = append(or, "substr(type, 1, "+strconv.Itoa(len(p))+") = "+arg(p))
			} else {
				or = append(or, "type = "+arg(t))
			}
		}
		where = append(where, "("+strings.Join(or, " OR ")+")")
	}
	const cols = `SELECT id, account_id, type, at, source, user_agent, detail, COALESCE(session_id, ''), `
	next := c
	var q string
	var last, y, xmin int64 // the pending pair read now, and the snapshot's xmin (PostgreSQL)
	if s.dialect == SQLite {
		// The newest id first: every event up to it is committed, and
		// the query that follows sees them all.
		var last int64
		if err := s.conn(ctx).QueryRowContext(ctx, `SELECT COALESCE(MAX(id), 0) FROM audit_events`).Scan(&last); err != nil {
			return nil, c, fmt.Errorf("select last event: %w", err)
		}
		if last <= c.ID {
			return nil, c, nil
		}
		where = append(where, "id > CAST("+arg(c.ID)+" AS BIGINT)", "id <= CAST("+arg(last)+" AS BIGINT)")
		q = cols + `0 FROM audit_events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY id LIMIT ` + arg(limit)
		next.ID, next.Low = last, last
	} else {
		// The pending pair first, then the snapshot (see the top of the
		// file).
		var err error
		if last, y, err = s.pendingBounds(ctx); err != nil {
			return nil, c, err
		}
		if c.TxID > y || c.PendingXmax > y {
			// No transaction of this cluster has reached the cursor's:
			// the database was restored from a dump into another
			// cluster, and the cursor is reckoned in the old one's
			// transaction ids. Every cursor is re-based; the caller
			// reads it afresh next time.
			return nil, c, s.RebaseWebhooks(ctx)
		}
		if xmin, _, err = s.snapshotBounds(ctx); err != nil {
			return nil, c, err
		}
		where = append(where, "id > CAST("+arg(c.Low)+" AS BIGINT)",
			"(txid, id) > (CAST("+arg(strconv.FormatInt(c.TxID, 10))+" AS TEXT)::xid8, CAST("+arg(c.ID)+" AS BIGINT))",
			"txid < CAST("+arg(strconv.FormatInt(xmin, 10))+" AS TEXT)::xid8")
		q = cols + `txid::text::bigint AS tx FROM audit_events WHERE ` + strings.Join(where, " AND ") + ` ORDER BY audit_events.txid, id LIMIT ` + arg(limit)
		if xmin > next.TxID {
			next.TxID, next.ID = xmin, 0
		}
		movePending(&next, last, y)
	}
	rows, err := s.conn(ctx).QueryContext(ctx, q, args...)
	if err != nil {
		return nil, c, fmt.Errorf("select webhook events: %w", err)
	}
	defer rows.Close()
	var out []twofold.AuditEvent
	var txid int64
	for rows.Next() {
		var e twofold.AuditEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.AccountID, &e.Type, &at, &e.Source, &e.UserAgent, &e.Detail, &e.SessionID, &txid); err != nil {
			return nil, c, err
		}
		e.At = fromMicros(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, c, err
	}
	if len(out) == limit {
		// A full batch: the cursor stops at its last event, and the
		// bounds are taken again next time.
		next = c
		next.TxID, next.ID = txid, out[len(out)-1].ID
		if s.dialect == SQLite {
			next.Low = next.ID
		} else {
			// Low moves on here too: through a backlog every batch is
			// full, and a Low left behind would have each read scan the
			// whole backlog again.
			movePending(&next, last, y)
		}
	}
	if s.dialect != SQLite {
		if next.Low, err = s.tightLow(ctx, next, last, y, xmin); err != nil {
			return nil, c, err
		}
	}
	return out, next, nil
}

// RebaseWebhooks makes the cursor of every webhook fit this PostgreSQL
// cluster after the database was restored (from pg_dump into another
// cluster, or at all: `twofold restore` runs it), so that no event after
// the ones delivered is skipped; a few may come again, which receivers
// de-duplicate by id (README "Backup and restore"). On SQLite, where a
// cursor is an event id and ids are never reused, there is nothing to do.
//
// A restored cursor's txid, and the txids of restored events, were taken
// from the old cluster's transaction counter, which a new cluster is far
// behind: the feed, which takes events of transactions below the
// snapshot's xmin and beyond the cursor's, would deliver nothing until
// the counter passes the old one, and then skip what was written in
// between. So, under a lock that lets no event be written meanwhile and
// waits for those being written, each event the feed may still read
// (above the least low_id) whose txid no transaction of this cluster has
// had yet (above this one's own) is given txid 0, as events written
// before migration 0031 have: older than any transaction to come, and
// delivered in id order. Then each cursor goes back to its Low: every
// event above it comes, the restored ones first.
func (s *Store) RebaseWebhooks(ctx context.Context) error {
	if s.dialect != Postgres {
		return nil
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `LOCK TABLE audit_events IN SHARE ROW EXCLUSIVE MODE`); err != nil {
			return fmt.Errorf("rebase webhooks: lock events: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE audit_events SET txid = '0'
			WHERE id > (SELECT MIN(low_id) FROM webhooks) AND txid > pg_current_xact_id()`); err != nil {
			return fmt.Errorf("rebase webhooks: restored events: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE webhooks SET cursor_txid = 0, cursor_id = 0, pending_low_id = 0, pending_xmax = 0`); err != nil {
			return fmt.Errorf("rebase webhooks: %w", err)
		}
		return nil
	})
}

// tightLow returns the highest id below which every event is behind
// cursor c, from what this read knows: every id up to last (the pair read
// with y) belongs to a transaction below y, so once xmin has reached y
// those events are all committed or gone, and visible; then Low can move
// up to the first of them the cursor has not passed, found along the
// primary key. Through a backlog this keeps each read's scan to about a
// batch, where the pending pair alone would move Low only once the whole
// backlog is behind the cursor.
func (s *Store) tightLow(ctx context.Context, c twofold.WebhookCursor, last, y, xmin int64) (int64, error) {
	if xmin < y || last <= c.Low {
		return c.Low, nil
	}
	var first sql.NullInt64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT MIN(id) FROM (SELECT id FROM audit_events
		WHERE id > CAST($1 AS BIGINT) AND id <= CAST($2 AS BIGINT) AND (txid, id) > (CAST($3 AS TEXT)::xid8, CAST($4 AS BIGINT))
		ORDER BY id LIMIT 1) AS f`, c.Low, last, strconv.FormatInt(c.TxID, 10), c.ID).Scan(&first)
	if err != nil {
		return c.Low, fmt.Errorf("select first event not delivered: %w", err)
	}
	if first.Valid {
		last = first.Int64 - 1
	}
	return max(c.Low, last), nil
}

// movePending makes c's pending pair its Low once the cursor has passed
// every transaction below the pair's xmax (each of them ended, its events
// all behind the cursor), and takes the pair read now (last, y) when it
// has none: the PostgreSQL half of the bound on the feed's scan.
func movePending(c *twofold.WebhookCursor, last, y int64) {
	if c.PendingXmax != 0 && c.TxID >= c.PendingXmax {
		c.Low, c.PendingXmax = max(c.Low, c.PendingLow), 0
	}
	if c.PendingXmax == 0 {
		c.PendingLow, c.PendingXmax = last, y
	}
}

// AdvanceWebhook moves a webhook's cursor from from to to after a
// delivery, recording it (delivered: a receiver accepted events), and
// clears its failures and the time of the next try they set; only while owner leases it and the cursor is at
// from (one conditional statement: of two instances, one advances it).
func (s *Store) AdvanceWebhook(ctx context.Context, id, owner string, from, to twofold.WebhookCursor, now time.Time, delivered bool) (bool, error) {
	at := int64(0)
	if delivered {
		at = micros(now)
	}
	return s.execOne(ctx, "advance webhook", `UPDATE webhooks SET cursor_txid = $1, cursor_id = $2, low_id = $3, pending_low_id = $4, pending_xmax = $5,
		last_delivered_at = CASE WHEN CAST($6 AS BIGINT) > 0 THEN CAST($6 AS BIGINT) ELSE last_delivered_at END,
		last_attempt_at = CASE WHEN CAST($6 AS BIGINT) > 0 THEN CAST($6 AS BIGINT) ELSE last_attempt_at END,
		last_error = CASE WHEN CAST($6 AS BIGINT) > 0 THEN '' ELSE last_error END,
		failures = CASE WHEN CAST($6 AS BIGINT) > 0 THEN 0 ELSE failures END,
		failing_since = CASE WHEN CAST($6 AS BIGINT) > 0 THEN 0 ELSE failing_since END,
		next_attempt_at = CASE WHEN CAST($6 AS BIGINT) > 0 THEN 0 ELSE next_attempt_at END
		WHERE id = $7 AND lease_owner = $8 AND cursor_txid = $9 AND cursor_id = $10 AND low_id = $11 AND pending_xmax = $12`,
		to.TxID, to.ID, to.Low, to.PendingLow, to.PendingXmax, at, id, owner, from.TxID, from.ID, from.Low, from.PendingXmax)
}

// FailWebhook records a failed delivery of class errClass and the time of
// the next try, and when disable is set turns the webhook off (disabled
// reason failing, last_error the class of this failure); only while owner
// leases it. It reports whether it wrote.
func (s *Store) FailWebhook(ctx context.Context, id, owner string, now, next time.Time, errClass string, disable bool) (bool, error) {
	disabledAt, reason := int64(0), ""
	if disable {
		disabledAt, reason = micros(now), twofold.WebhookDisabledFailing
	}
	return s.execOne(ctx, "record webhook failure", `UPDATE webhooks SET failures = failures + 1,
		failing_since = CASE WHEN failing_since = 0 THEN $1 ELSE failing_since END,
		last_attempt_at = $1, last_error = $2, next_attempt_at = $3, disabled_at = $4, disabled_reason = $7, lease_until = 0
		WHERE id = $5 AND lease_owner = $6 AND disabled_at = 0`,
		micros(now), errClass, micros(next), disabledAt, id, owner, reason)
}

// DisableWebhook turns a webhook off at now for reason (a
// twofold.WebhookDisabled… other than failing) without a delivery: its
// status, the last error of its deliveries included, stays as it is. Only
// while owner leases it; it reports whether it wrote.
func (s *Store) DisableWebhook(ctx context.Context, id, owner string, now time.Time, reason string) (bool, error) {
	return s.execOne(ctx, "disable webhook", `UPDATE webhooks SET disabled_at = $1, disabled_reason = $2, lease_until = 0
		WHERE id = $3 AND lease_owner = $4 AND disabled_at = 0`, micros(now), reason, id, owner)
}

// DisableWebhooksBy turns off every webhook on whose operator, accountID,
// answers for it (created_by: who made it or last turned it on), for
// reason (a twofold.WebhookDisabled…), and returns them as they are now,
// their last delivery error kept. One
// statement: a delivery in flight finishes its batch and records it, and
// takes no other.
func (s *Store) DisableWebhooksBy(ctx context.Context, accountID string, now time.Time, reason string) ([]twofold.Webhook, error) {
	return queryAll(ctx, s, "disable webhooks", scanWebhook, `UPDATE webhooks SET disabled_at = $1, disabled_reason = $2
		WHERE created_by = $3 AND disabled_at = 0 RETURNING `+webhookCols, micros(now), reason, accountID)
}

// DisableWebhooksOfEndedKeys turns off every webhook on that an API key
// answers for (created_by_key) once that key no longer stands at now:
// revoked (its row gone, disabled reason key-revoked) or expired
// (key-expired), and returns them as they are now, their last delivery
// error kept. A key made by a key expires no later
// than its maker and goes with it, so the key itself tells. One
// statement, as DisableWebhooksBy.
func (s *Store) DisableWebhooksOfEndedKeys(ctx context.Context, now time.Time) ([]twofold.Webhook, error) {
	return queryAll(ctx, s, "disable webhooks of ended keys", scanWebhook, `UPDATE webhooks SET disabled_at = $1,
		disabled_reason = CASE WHEN EXISTS (SELECT 1 FROM api_keys k WHERE k.id = webhooks.created_by_key AND k.account_id = webhooks.created_by)
			THEN 'key-expired' ELSE 'key-revoked' END
		WHERE disabled_at = 0 AND created_by_key IS NOT NULL AND NOT EXISTS (SELECT 1 FROM api_keys k
			WHERE k.id = webhooks.created_by_key AND k.account_id = webhooks.created_by AND (k.expires_at = 0 OR k.expires_at > $1))
		RETURNING `+webhookCols, micros(now))
}
