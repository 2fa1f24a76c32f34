package store

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/twofold/twofold"
)

// The second step of a login is the hot path of the server (issue 6): one read
// and one write, each a single statement on PostgreSQL, where every statement
// is a round trip. The read gathers the login, the account's active TOTP
// factors and the account's code throttle; the service checks the code; the
// write then commits the outcome only if nothing it read has changed.

// secondStepSQL reads of each factor only what checking a code needs (with
// when it was confirmed and last used, which tell a refused code's cause),
// and whether the factor's own throttle holds anything (so that a passed
// code needs no other read to know whether it must clear it); the factors
// come in no order (scanSecondStep sorts them), so SQLite needs no sorter.
var secondStepSQL = `SELECT ` + secondStepColumns + secondStepFrom

// secondStepColumns and secondStepFrom are secondStepSQL's select list and
// the rest of it, apart so that the read of SQLite's writer can add one
// column (committerReadSQL).
const secondStepColumns = `l.account_id, l.created_at, l.expires_at, l.used_at, l.session_epoch,
	COALESCE(t.failures, 0), COALESCE(t.locked_until, 0),
	f.id, f.secret_key_id, f.secret, f.algorithm, f.digits, f.period_seconds, f.last_step, f.drift, f.created_at,
	f.confirmed_at, f.last_used_at, COALESCE(ft.failures, 0), COALESCE(ft.locked_until, 0)`

const secondStepFrom = `
	FROM logins l
	LEFT JOIN throttles t ON t.key = $2 || l.account_id || $3
	LEFT JOIN factors f ON f.account_id = l.account_id AND f.type = 'totp' AND f.status = 'active'
	LEFT JOIN throttles ft ON ft.key = $2 || l.account_id || $4 || f.id
	WHERE l.id = $1`

// secondStepTokenSQL is secondStepSQL after taking a token from a rate
// bucket ($5 to $8: key, burst, now and rate, see takeTokenSQL), in one
// statement, so that a second step whose source address is rate limited
// costs PostgreSQL one round trip less: its first column tells whether a
// token was taken, and the others are secondStepSQL's, read only when one
// was (NULL when none was, or when there is no such login).
var secondStepTokenSQL = `WITH tok AS (` + takeTokenSQL("$5", "$6", "$7", "$8") + ` RETURNING 1)
	SELECT EXISTS (SELECT 1 FROM tok), s.* FROM (SELECT 1) one LEFT JOIN (` + secondStepSQL + ` AND EXISTS (SELECT 1 FROM tok)) s ON TRUE`

// SecondStep reads login loginID, its account's active TOTP factors, the
// account's throttle and which of the factors' own throttles hold failures or
// a lock (named by keys), in one query. It returns a not-found error when
// there is no such login. It takes no token from keys.Bucket (see
// DecideSecondStep).
func (s *Store) SecondStep(ctx context.Context, loginID string, keys twofold.StepKeys) (twofold.SecondStep, error) {
	var rows *sql.Rows
	var err error
	if _, inTx := ctx.Value(txKey{}).(txValue); s.dialect == SQLite && !inTx {
		var st *sql.Stmt
		if st, err = s.reads.get(ctx, s.rdb, secondStepSQL); err == nil {
			rows, err = st.QueryContext(ctx, loginID, keys.Prefix, keys.Suffix, keys.FactorInfix)
		}
	} else {
		rows, err = s.conn(ctx).QueryContext(ctx, secondStepSQL, loginID, keys.Prefix, keys.Suffix, keys.FactorInfix)
	}
	if err != nil {
		return twofold.SecondStep{}, fmt.Errorf("select second step: %w", err)
	}
	st, found, err := scanSecondStep(rows, loginID)
	if err == nil && !found {
		err = notFound("login")
	}
	return st, err
}

// secondStepTaking is SecondStep after taking a token from keys.Bucket, in
// one statement (secondStepTokenSQL), on PostgreSQL. It reports whether it
// took one; when it did not, it read nothing. found is false when there is
// no such login.
func (s *Store) secondStepTaking(ctx context.Context, loginID string, keys twofold.StepKeys) (st twofold.SecondStep, found, took bool, err error) {
	b := keys.Bucket
	rows, err := s.conn(ctx).QueryContext(ctx, secondStepTokenSQL, loginID, keys.Prefix, keys.Suffix, keys.FactorInfix,
		b.Key, b.Burst, micros(b.Now), b.Rate)
	if err != nil {
		return twofold.SecondStep{}, false, false, fmt.Errorf("take token and select second step: %w", err)
	}
	st, found, err = scanSecondStepTaking(rows, loginID, &took)
	return st, found, took, err
}

// scanSecondStep reads the rows of secondStepSQL and closes them; found is
// false when there are none. Of the factors it fills what checking a code
// needs, and their account, type and status, which the query implies.
func scanSecondStep(rows *sql.Rows, loginID string) (st twofold.SecondStep, found bool, err error) {
	return scanSecondStepTaking(rows, loginID, nil)
}

// scanSecondStepTaking is scanSecondStep for rows whose first column, when
// took is not nil, is scanned into took (secondStepTokenSQL), and whose
// last ones, one for each of also, into also (committerReadSQL); a row
// whose login columns are NULL is not a login. Each row is scanned into
// the same holders, made once (this is the server's hottest read).
func scanSecondStepTaking(rows *sql.Rows, loginID string, took *bool, also ...*bool) (st twofold.SecondStep, found bool, err error) {
	defer rows.Close()
	st.Login.ID = loginID
	var r stepRow
	dest := make([]any, 0, 23)
	if took != nil {
		dest = append(dest, took)
	}
	dest = r.dest(dest)
	for _, a := range also {
		dest = append(dest, a)
	}
	for rows.Next() {
		r.secret = nil
		if err := rows.Scan(dest...); err != nil {
			return twofold.SecondStep{}, false, fmt.Errorf("scan second step: %w", err)
		}
		if r.add(&st) {
			found = true
		}
	}
	if err := rows.Err(); err != nil {
		return twofold.SecondStep{}, false, fmt.Errorf("select second step: %w", err)
	}
	if !found {
		return twofold.SecondStep{Login: twofold.Login{ID: loginID}}, false, nil
	}
	sortStepFactors(st.Factors)
	return st, true, nil
}

// stepRow holds one row of secondStepColumns; each row is scanned into the
// same holders, made once (this is the server's hottest read).
type stepRow struct {
	accountID, id, keyID, algorithm                                         sql.NullString
	created, expires, used, epoch, failures, until                          sql.NullInt64
	digits, period, lastStep, drift, fcreated, fconfirmed, fused, ffailures sql.NullInt64
	funtil                                                                  sql.NullInt64
	secret                                                                  []byte
}

// dest appends to dest the holders of secondStepColumns, in their order.
func (r *stepRow) dest(dest []any) []any {
	return append(dest, &r.accountID, &r.created, &r.expires, &r.used, &r.epoch, &r.failures, &r.until,
		&r.id, &r.keyID, &r.secret, &r.algorithm, &r.digits, &r.period, &r.lastStep, &r.drift, &r.fcreated, &r.fconfirmed, &r.fused,
		&r.ffailures, &r.funtil)
}

// add folds the row scanned into st and reports whether it was a login's
// (a row whose login columns are NULL is not: no token taken, or no such
// login).
func (r *stepRow) add(st *twofold.SecondStep) bool {
	if !r.accountID.Valid {
		return false
	}
	st.Login.AccountID, st.Login.Epoch, st.Failures = r.accountID.String, r.epoch.Int64, int(r.failures.Int64)
	st.Login.CreatedAt, st.Login.ExpiresAt, st.Login.Used = fromMicros(r.created.Int64), fromMicros(r.expires.Int64), r.used.Valid
	st.LockedUntil = fromMicros(r.until.Int64)
	if r.id.Valid {
		st.Factors = append(st.Factors, twofold.Factor{
			ID: r.id.String, AccountID: st.Login.AccountID, Type: twofold.FactorTOTP, Status: twofold.FactorActive,
			SecretKeyID: r.keyID.String, SealedSecret: r.secret, Algorithm: r.algorithm.String,
			Digits: int(r.digits.Int64), Period: time.Duration(r.period.Int64) * time.Second,
			LastStep: r.lastStep.Int64, Drift: r.drift.Int64, CreatedAt: fromMicros(r.fcreated.Int64),
			ConfirmedAt: fromNullMicros(r.fconfirmed), LastUsedAt: fromNullMicros(r.fused),
		})
		if r.ffailures.Int64 != 0 || r.funtil.Int64 != 0 {
			st.Counted = append(st.Counted, r.id.String)
		}
	}
	return true
}

// sortStepFactors puts the factors of a second step in the order of their
// creation (the read returns them in no order).
func sortStepFactors(factors []twofold.Factor) {
	slices.SortFunc(factors, func(a, b twofold.Factor) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
}

// DecideSecondStep reads the second step of login loginID as SecondStep does
// (found is false when there is no such login), lets decide choose a verdict,
// and writes it. It writes nothing unless every condition still holds on the
// newest rows: for a completion, the step is after the factor's last, the
// login is unused and unexpired, and the throttle is as read; for a failure,
// the throttle is as read. The throttle written is the account's one read,
// keys.Prefix + account id + keys.Suffix.
//
// On SQLite the read, decide and the write run on the writer, in a
// transaction shared with other second steps (see committer), so nothing can
// change in between. On PostgreSQL second steps queue for one goroutine
// too (see batcher), which reads many in one statement and writes their
// verdicts in one more; the write reports what changed in between. On both,
// decide runs on that goroutine: it must be quick, must not write to the
// store, and may be called again if a shared write has to be redone. It
// must not run inside InTx.
//
// When keys.Bucket is set, it first takes a token from that bucket, in the
// same transaction (on SQLite the batch's; on PostgreSQL in the read's
// statement, one round trip for both) and, when there is none, returns
// RateLimited without calling decide.
func (s *Store) DecideSecondStep(ctx context.Context, loginID string, keys twofold.StepKeys, decide func(st twofold.SecondStep, found bool) twofold.Verdict) (twofold.Outcome, error) {
	if _, inTx := ctx.Value(txKey{}).(txValue); inTx {
		return 0, errors.New("decide second step: not inside a transaction")
	}
	if s.dialect == SQLite {
		return s.committer.decide(ctx, loginID, keys, decide)
	}
	return s.batcher.decide(ctx, loginID, keys, decide)
}

// decideAlone is DecideSecondStep on PostgreSQL for one second step, with
// statements of its own: for a step whose batch's write failed (see
// batcher).
func (s *Store) decideAlone(ctx context.Context, loginID string, keys twofold.StepKeys, decide func(st twofold.SecondStep, found bool) twofold.Verdict) (twofold.Outcome, error) {
	// The write locks the factor, then the login, then the throttle; other
	// paths (InTx) may hold them in another order, and PostgreSQL then ends
	// one of the two. A write that lost wrote nothing: read and decide again
	// (without taking another token: the first read took it).
	for attempt := 1; ; attempt++ {
		out, err := s.decidePostgres(ctx, loginID, &keys, decide)
		if err = txConflict(err); !errors.Is(err, twofold.ErrTxConflict) || attempt == maxTxAttempts {
			return out, err
		}
	}
}

// maxTxAttempts bounds the runs of a write that keeps losing conflicts.
const maxTxAttempts = 3

// decidePostgres is one read, decide and write of DecideSecondStep on
// PostgreSQL. Its read takes the token of keys.Bucket when it is set, and
// then clears it.
func (s *Store) decidePostgres(ctx context.Context, loginID string, keys *twofold.StepKeys, decide func(st twofold.SecondStep, found bool) twofold.Verdict) (twofold.Outcome, error) {
	var st twofold.SecondStep
	var found bool
	if keys.Bucket != nil {
		var took bool
		var err error
		if st, found, took, err = s.secondStepTaking(ctx, loginID, *keys); err != nil {
			return 0, err
		}
		if !took {
			return twofold.RateLimited, nil
		}
		keys.Bucket = nil
	} else {
		var err error
		st, err = s.SecondStep(ctx, loginID, *keys)
		found = err == nil
		if err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
			return 0, err
		}
	}
	v, err := decideSafely(decide, st, found)
	if err != nil {
		return 0, err
	}
	if err := checkVerdict(v, st, found); err != nil {
		return 0, err
	}
	key := keys.Prefix + st.Login.AccountID + keys.Suffix
	switch {
	case v.Complete != nil:
		return s.completePostgres(ctx, key, *v.Complete)
	case v.Fail != nil:
		return s.failPostgres(ctx, key, *v.Fail)
	}
	return twofold.Unwritten, nil
}

// checkVerdict refuses a verdict that is not for the login read.
func checkVerdict(v twofold.Verdict, st twofold.SecondStep, found bool) error {
	switch {
	case v.Complete != nil && v.Fail != nil:
		return errors.New("decide second step: a verdict both completes and fails")
	case (v.Complete != nil || v.Fail != nil) && !found:
		return errors.New("decide second step: a verdict on a login that does not exist")
	case v.Complete != nil && (v.Complete.LoginID != st.Login.ID || v.Complete.Session.AccountID != st.Login.AccountID):
		return errors.New("decide second step: a completion of another login")
	}
	return nil
}

// completePostgres writes c in one statement. cf and cl lock the factor and
// the login, in that order in every completion, and PostgreSQL checks their
// conditions again on the newest row once it holds the lock; the counter is
// claimed only when both hold, and the rest is written only when it was,
// the use noted on the account's waiting reset of two-factor (r, see
// noteFactorUse) with it, and the push requests sent for the login that
// wait or are approved ended (p, as FinishLogin does). The login is held
// before the push requests, the order of every second step (a sign-in by
// push holds the login first too: verifyLoginPush).
func (s *Store) completePostgres(ctx context.Context, key string, c twofold.Completion) (twofold.Outcome, error) {
	now := micros(c.Now)
	var step, login, throttle bool
	err := s.conn(ctx).QueryRowContext(ctx, `WITH cf AS (
			SELECT 1 FROM factors WHERE id = $4 AND status = 'active' AND last_step < $1 FOR UPDATE
		), cl AS (
			SELECT 1 FROM logins WHERE id = $5 AND used_at IS NULL AND expires_at > $3 AND EXISTS (SELECT 1 FROM cf) FOR UPDATE
		), t AS (
			INSERT INTO throttles (key, failures, locked_until, updated_at) SELECT $6, 0, 0, $3 WHERE EXISTS (SELECT 1 FROM cl)
			ON CONFLICT (key) DO UPDATE SET failures = 0, locked_until = 0, updated_at = $3
			WHERE throttles.failures = $7 AND throttles.locked_until <= $3 RETURNING 1
		), f AS (
			UPDATE factors SET last_step = $1, drift = $2, last_used_at = $3 WHERE id = $4 AND EXISTS (SELECT 1 FROM t)
		), l AS (
			UPDATE logins SET used_at = $3, session_id = $9 WHERE id = $5 AND EXISTS (SELECT 1 FROM t)
		), s AS (
			INSERT INTO sessions (token_hash, id, account_id, created_at, expires_at, elevated_until, session_epoch, event_floor)
			SELECT $8, $9, $10, $11, $12, $13, $19, `+eventFloorSQL+` WHERE EXISTS (SELECT 1 FROM t)
		), a AS (
			INSERT INTO audit_events (account_id, type, at, source, user_agent, detail, session_id)
			SELECT $10, $14, $15, $16, $17, $18, $9 WHERE EXISTS (SELECT 1 FROM t)
		), r AS (
			UPDATE two_factor_resets SET factor_used_at = $3 WHERE account_id = $10 AND factor_used_at IS NULL AND EXISTS (SELECT 1 FROM t)
		), p AS (
			UPDATE push_challenges SET status = 'ended'
			WHERE account_id = $10 AND scope = $20 AND status IN ('pending', 'approved') AND EXISTS (SELECT 1 FROM t)
		)
		SELECT EXISTS (SELECT 1 FROM cf), EXISTS (SELECT 1 FROM cl), EXISTS (SELECT 1 FROM t)`,
		c.Step, c.Drift, now, c.FactorID, c.LoginID, key, c.Seen,
		c.Session.TokenHash, c.Session.ID, c.Session.AccountID, micros(c.Session.CreatedAt), micros(c.Session.ExpiresAt), micros(c.Session.ElevatedUntil),
		c.Event.Type, micros(c.Event.At), c.Event.Source, c.Event.UserAgent, c.Event.Detail, c.Session.Epoch,
		"login:"+c.LoginID).Scan(&step, &login, &throttle)
	switch {
	case err != nil:
		return 0, fmt.Errorf("complete second step: %w", err)
	case !step:
		return twofold.StepUsed, nil
	case !login:
		return twofold.LoginGone, nil
	case !throttle:
		return twofold.ThrottleMoved, nil
	}
	return twofold.Completed, nil
}

// failPostgres takes f's slot and stores its event in one statement.
func (s *Store) failPostgres(ctx context.Context, key string, f twofold.Failure) (twofold.Outcome, error) {
	var counted bool
	err := s.conn(ctx).QueryRowContext(ctx, `WITH t AS (
			INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES ($1, 1, $3, $4)
			ON CONFLICT (key) DO UPDATE SET failures = throttles.failures + 1, locked_until = $3, updated_at = $4
			WHERE throttles.failures = $2 AND throttles.locked_until <= $4 RETURNING 1
		), a AS (
			INSERT INTO audit_events (account_id, type, at, source, user_agent, detail)
			SELECT $5, $6, $7, $8, $9, $10 WHERE EXISTS (SELECT 1 FROM t)
		)
		SELECT EXISTS (SELECT 1 FROM t)`,
		key, f.Seen, micros(f.LockUntil), micros(f.Now),
		f.Event.AccountID, f.Event.Type, micros(f.Event.At), f.Event.Source, f.Event.UserAgent, f.Event.Detail).Scan(&counted)
	switch {
	case err != nil:
		return 0, fmt.Errorf("count failed second step: %w", err)
	case !counted:
		return twofold.ThrottleMoved, nil
	}
	return twofold.Counted, nil
}

// LockSecondStep takes, inside InTx on PostgreSQL, the row locks that a
// second step or an elevation outside DecideSecondStep is about to take, in
// the order DecideSecondStep's write takes them: the factor, then the login
// (then the throttle, which the caller takes next). With withFactors it
// locks the account's active TOTP and HOTP factors, only factorID's when it is set,
// in the order of their ids; with a loginID, then that login. Taken in one
// order everywhere, two of these never wait for each other, which
// PostgreSQL would end as a deadlock after deadlock_timeout (a second by
// default). SQLite's writes are serial: there it does nothing.
func (s *Store) LockSecondStep(ctx context.Context, accountID, factorID, loginID string, withFactors bool) error {
	if s.dialect == SQLite {
		return nil
	}
	if _, inTx := ctx.Value(txKey{}).(txValue); !inTx {
		return errors.New("lock second step: not inside a transaction")
	}
	if withFactors {
		rows, err := s.conn(ctx).QueryContext(ctx, `SELECT id FROM factors
			WHERE account_id = $1 AND type IN ('totp', 'hotp') AND status = 'active' AND ($2 = '' OR id = $2) ORDER BY id FOR UPDATE`, accountID, factorID)
		if err != nil {
			return fmt.Errorf("lock factors: %w", err)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("lock factors: %w", err)
		}
	}
	if loginID != "" {
		if _, err := s.conn(ctx).ExecContext(ctx, `SELECT 1 FROM logins WHERE id = $1 FOR UPDATE`, loginID); err != nil {
			return fmt.Errorf("lock login: %w", err)
		}
	}
	return nil
}
