package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
)

// Mail is a notification email waiting in the outbox.
type Mail struct {
	ID int64
	// To is a bare address, alice@example.com; empty when it is sealed.
	To        string
	Subject   string
	Body      string
	CreatedAt time.Time
	// DueAt is when the mail may next be claimed: its next attempt, or the
	// end of the current claim.
	DueAt time.Time
	// Attempts counts the claims of this mail, the current one included. A
	// worker passes it back to RetryMail, so that a worker whose lease ran
	// out cannot reschedule a mail another worker now holds.
	Attempts  int
	LastError string
	// A mail that carries a one-time code is stored sealed: Body is empty,
	// SealedBody is the body under data key BodyKeyID, bound to SealRef.
	BodyKeyID  string
	SealRef    string
	SealedBody []byte
	// ToKeyID and SealedTo, when set, are its recipient sealed under that
	// data key, bound to SealRef, and To is empty. Code mails queued before
	// recipients were sealed have To only.
	ToKeyID  string
	SealedTo []byte
	// Code, when its Kind is set, is the code or link the mail carries: the
	// mail is worth sending only while that code still works.
	Code twofold.MailedCode
	// Void, set by ClaimMail, reports that Code no longer works (used,
	// replaced, lapsed or voided): the mail is to be dropped unsent.
	Void bool
	// Foreign, set by ClaimMail, reports that Code.Kind is one this
	// version does not know, queued by a newer release: ClaimMail claims
	// such a mail only once it is no longer worth sending (past DiscardAt)
	// or has waited ForeignMailKeep for an instance that knows its kind,
	// and it is to be dropped unsent.
	Foreign bool
	// DiscardAt, when set, is when the mail is no longer worth sending.
	DiscardAt time.Time
}

// EnqueueMail adds m to the outbox, due at once (at m.CreatedAt), and returns
// its id. A sealed mail whose data keys are no longer stored (a key rotation
// deleted one after the body or recipient was sealed) is not stored, and the
// error is keyring.ErrKeyGone.
func (s *Store) EnqueueMail(ctx context.Context, m Mail) (int64, error) {
	var id int64
	err := s.conn(ctx).QueryRowContext(ctx, `INSERT INTO outbox (recipient, subject, body, created_at, due_at, body_key_id, seal_ref, sealed_body, discard_at,
			recipient_key_id, sealed_recipient, code_kind, code_key, code_scope, code_hash)
		SELECT $1, $2, $3, $4, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14
		WHERE ($5 = '' OR `+s.keyStored("$5")+`) AND ($9 = '' OR `+s.keyStored("$9")+`) RETURNING id`,
		m.To, m.Subject, m.Body, micros(m.CreatedAt), m.BodyKeyID, m.SealRef, m.SealedBody, micros(m.DiscardAt),
		m.ToKeyID, m.SealedTo, string(m.Code.Kind), m.Code.Key, m.Code.Scope, m.Code.Hash).Scan(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, fmt.Errorf("insert outbox mail: %w", keyring.ErrKeyGone)
	}
	if err != nil {
		return 0, fmt.Errorf("insert outbox mail: %w", err)
	}
	return id, nil
}

// mailKinds are the kinds of code mail this version knows, "" (a mail
// that carries no code) with them.
var mailKinds = []twofold.MailedCodeKind{"", twofold.MailedSentCode, twofold.MailedPasswordReset,
	twofold.MailedEmailChange, twofold.MailedTeamInvitation}

// ForeignMailKeep is how long a mail of a kind this version does not know
// (Mail.Foreign) is left in the outbox, unclaimed, for an instance of the
// newer release that queued it to send, while both serve one database
// (README "Upgrading"); after it, or once the mail is past its DiscardAt,
// this version claims it to drop it, so that a mail no instance can send,
// after a downgrade, is not kept for ever.
const ForeignMailKeep = 24 * time.Hour

// claimable is an SQL condition on an outbox row, true when this version
// may claim it at the time in placeholder now, whose ForeignMailKeep ago
// is in placeholder kept: its kind is known, or it is past its discard_at
// or was queued before kept (Mail.Foreign).
func claimable(now, kept string) string {
	known := make([]string, len(mailKinds))
	for i, k := range mailKinds {
		known[i] = "'" + string(k) + "'"
	}
	return `(outbox.code_kind IN (` + strings.Join(known, ", ") + `) OR (outbox.discard_at <> 0 AND outbox.discard_at <= ` + now + `)
		OR outbox.created_at <= ` + kept + `)`
}

// claimCandidates is how many due mails ClaimMail reads at a time, and
// claimRounds how often it reads again when other workers won them all.
const (
	claimCandidates = 16
	claimRounds     = 4
)

// codeVoid is an SQL condition on an outbox row, true when the row names
// the code or link it carries (code_kind) and that code no longer works at
// the time in placeholder now: it is gone (used, replaced by a newer one,
// voided with its account, factor or link), lapsed, or out of checks. The
// notice of a team invitation is never void: it goes whatever became of the
// invitation, as the invitee's log records it. A kind this version does not
// know is void; ClaimMail claims such a mail only as claimable says, and
// reports it as Foreign.
func codeVoid(now string) string {
	return `(outbox.code_kind <> '' AND NOT (
		(outbox.code_kind = '` + string(twofold.MailedSentCode) + `' AND EXISTS (SELECT 1 FROM sent_codes c
			WHERE c.factor_id = outbox.code_key AND c.scope = outbox.code_scope AND c.code_hash = outbox.code_hash
			AND c.checks_left > 0 AND c.expires_at > ` + now + `))
		OR (outbox.code_kind = '` + string(twofold.MailedPasswordReset) + `' AND EXISTS (SELECT 1 FROM password_resets r
			WHERE r.id = outbox.code_key AND r.token_hash = outbox.code_hash AND r.expires_at > ` + now + `))
		OR (outbox.code_kind = '` + string(twofold.MailedEmailChange) + `' AND EXISTS (SELECT 1 FROM email_changes e
			WHERE e.account_id = outbox.code_key AND e.code_hash = outbox.code_hash
			AND e.checks_left > 0 AND e.expires_at > ` + now + `))
		OR outbox.code_kind = '` + string(twofold.MailedTeamInvitation) + `'))`
}

// ClaimMail claims the oldest mail due at now, code mails first (see
// dueMail), for the caller until until, and reports false when none is due.
// A mail of a kind this version does not know is left, untouched, for a
// newer instance, until ForeignMailKeep after it was queued or its
// DiscardAt (claimable).
// Each claim is one conditional UPDATE checked by its result, so that of
// several workers on any number of instances exactly one wins a mail; the
// others move on to the next candidate.
//
// The same statement reports whether the code or link the mail carries no
// longer works (Mail.Void), as the database holds it at the claim, on any
// instance: a code used, replaced or voided before the claim is never sent.
func (s *Store) ClaimMail(ctx context.Context, now, until time.Time) (Mail, bool, error) {
	for range claimRounds {
		ids, err := s.dueMail(ctx, now, now.Add(-ForeignMailKeep))
		if err != nil || len(ids) == 0 {
			return Mail{}, false, err
		}
		for _, id := range ids {
			m := Mail{ID: id}
			var created, discard int64
			var kind string
			err := s.conn(ctx).QueryRowContext(ctx, `UPDATE outbox SET due_at = $1, attempts = attempts + 1 WHERE id = $2 AND due_at <= $3
				AND `+claimable("$3", "$4")+`
				RETURNING recipient, subject, body, created_at, attempts, last_error, body_key_id, seal_ref, sealed_body, discard_at,
					recipient_key_id, sealed_recipient, code_kind, code_key, code_scope, code_hash, `+codeVoid("$3"), micros(until), id, micros(now), micros(now.Add(-ForeignMailKeep))).
				Scan(&m.To, &m.Subject, &m.Body, &created, &m.Attempts, &m.LastError, &m.BodyKeyID, &m.SealRef, &m.SealedBody, &discard,
					&m.ToKeyID, &m.SealedTo, &kind, &m.Code.Key, &m.Code.Scope, &m.Code.Hash, &m.Void)
			if errors.Is(err, sql.ErrNoRows) {
				continue // another worker won it, or it was sent meanwhile
			}
			if err != nil {
				return Mail{}, false, fmt.Errorf("claim mail: %w", err)
			}
			m.CreatedAt, m.DueAt, m.DiscardAt = fromMicros(created), fromMicros(micros(until)), fromMicros(discard)
			m.Code.Kind = twofold.MailedCodeKind(kind)
			m.Foreign = !slices.Contains(mailKinds, m.Code.Kind)
			return m, true, nil
		}
	}
	return Mail{}, false, nil
}

// dueMail returns the ids of the mails due at now that are to be claimed
// first: code mails (discard_at set), whose codes expire, before notices,
// each oldest first, so that a sign-in code never waits behind a queue of
// notices. Each read follows an index (outbox_code_due, outbox_due). Mails
// this version may not claim yet (claimable, kept as ForeignMailKeep
// before now) are passed over.
func (s *Store) dueMail(ctx context.Context, now, kept time.Time) ([]int64, error) {
	ids, err := s.mailIDs(ctx, `SELECT id FROM outbox WHERE due_at <= $1 AND discard_at <> 0 AND `+claimable("$1", "$3")+` ORDER BY due_at, id LIMIT $2`,
		now, kept, claimCandidates)
	if err != nil || len(ids) == claimCandidates {
		return ids, err
	}
	more, err := s.mailIDs(ctx, `SELECT id FROM outbox WHERE due_at <= $1 AND discard_at = 0 AND `+claimable("$1", "$3")+` ORDER BY due_at, id LIMIT $2`,
		now, kept, claimCandidates-len(ids))
	return append(ids, more...), err
}

// mailIDs runs query, a selection of due mails' ids, at now, whose
// ForeignMailKeep ago is kept.
func (s *Store) mailIDs(ctx context.Context, query string, now, kept time.Time, limit int) ([]int64, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, query, micros(now), limit, micros(kept))
	if err != nil {
		return nil, fmt.Errorf("select due mail: %w", err)
	}
	defer rows.Close()
	var ids []int64
	for rows.Next() {
		var id int64
		if err := rows.Scan(&id); err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select due mail: %w", err)
	}
	return ids, nil
}

// DeleteMail removes a mail from the outbox: it was sent, or given up.
func (s *Store) DeleteMail(ctx context.Context, id int64) error {
	if _, err := s.conn(ctx).ExecContext(ctx, `DELETE FROM outbox WHERE id = $1`, id); err != nil {
		return fmt.Errorf("delete mail: %w", err)
	}
	return nil
}

// RetryMail releases a claimed mail after a failed attempt, due again at due,
// with lastError recorded. It reports false when the claim numbered attempts
// is no longer the latest (the lease ran out and another worker claimed the
// mail) or the mail is gone.
func (s *Store) RetryMail(ctx context.Context, id int64, attempts int, due time.Time, lastError string) (bool, error) {
	return s.execOne(ctx, "reschedule mail", `UPDATE outbox SET due_at = $1, last_error = $2 WHERE id = $3 AND attempts = $4`,
		micros(due), lastError, id, attempts)
}

// Outbox returns every mail in the outbox, oldest first: for operators and tests.
func (s *Store) Outbox(ctx context.Context) ([]Mail, error) {
	rows, err := s.conn(ctx).QueryContext(ctx, `SELECT id, recipient, subject, body, created_at, due_at, attempts, last_error,
		body_key_id, seal_ref, sealed_body, discard_at, recipient_key_id, sealed_recipient, code_kind, code_key, code_scope, code_hash
		FROM outbox ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("select outbox: %w", err)
	}
	defer rows.Close()
	var out []Mail
	for rows.Next() {
		var m Mail
		var created, due, discard int64
		var kind string
		if err := rows.Scan(&m.ID, &m.To, &m.Subject, &m.Body, &created, &due, &m.Attempts, &m.LastError,
			&m.BodyKeyID, &m.SealRef, &m.SealedBody, &discard, &m.ToKeyID, &m.SealedTo, &kind, &m.Code.Key, &m.Code.Scope, &m.Code.Hash); err != nil {
			return nil, err
		}
		m.CreatedAt, m.DueAt, m.DiscardAt = fromMicros(created), fromMicros(due), fromMicros(discard)
		m.Code.Kind = twofold.MailedCodeKind(kind)
		out = append(out, m)
	}
	return out, rows.Err()
}

// OldestMail returns when the mail longest in the outbox was queued, and
// false when the outbox is empty, leaving out the code mails of the kinds
// except and of the kinds this version does not know (Mail.Foreign, which
// a newer release queued and may hold unobserved; they wait for it, up to
// ForeignMailKeep): one read along the primary key (ids are handed out as
// mails are queued), which passes over the mails left out.
func (s *Store) OldestMail(ctx context.Context, except ...twofold.MailedCodeKind) (time.Time, bool, error) {
	var marks []string
	var args []any
	for _, k := range mailKinds {
		if !slices.Contains(except, k) {
			args = append(args, string(k))
			marks = append(marks, fmt.Sprintf("$%d", len(args)))
		}
	}
	if len(marks) == 0 {
		return time.Time{}, false, nil
	}
	var created int64
	err := s.conn(ctx).QueryRowContext(ctx, `SELECT created_at FROM outbox WHERE code_kind IN (`+strings.Join(marks, ", ")+`) ORDER BY id LIMIT 1`, args...).Scan(&created)
	if errors.Is(err, sql.ErrNoRows) {
		return time.Time{}, false, nil
	}
	if err != nil {
		return time.Time{}, false, fmt.Errorf("select oldest mail: %w", err)
	}
	return fromMicros(created), true, nil
}
