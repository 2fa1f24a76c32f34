package store

import (
	"context"
	"database/sql"
	"fmt"
	"sync"

	"github.com/twofold/twofold"
)

// batcher runs PostgreSQL's second steps many to a statement. A second step
// alone is two statements, a read and a write, and PostgreSQL spends most
// of its time on what every statement costs whatever it carries (planning
// its start and finish, a commit and its WAL flush, a round trip): second
// steps queue here instead, and one goroutine takes every queued step,
// reads them all in one statement, lets each decide, and writes every
// verdict in one more, which checks each verdict's conditions on the newest
// rows as a step's own write does. A lone request waits for no one: the
// batch is whatever queued while the previous statements ran.
//
// A batch never holds two steps of one login or one account (the write's
// upserts could not touch a row twice, and two completions of one factor
// would both find the step after its last): the later one leads the next
// batch. Steps of one bucket (one client address) share a batch and take
// their tokens together, in the order of the queue (batchReadSQL). The write locks the
// batch's factors in the order of their ids, then its logins, then its
// throttles, the order of every second step (LockSecondStep): two batches,
// of one instance or two, never wait for each other in a circle.
//
// When a batch's statement fails (a deadlock PostgreSQL ended, a row gone
// that the write refers to), nothing of it was written, and each of its
// steps is run again on its own (decideAlone), so that one step's error is
// not every step's.
type batcher struct {
	stepQueue
	s     *Store
	alone sync.WaitGroup // steps run again on their own
}

// batchWorkers is how many batches may be in flight at once. One takes
// the most steps per statement: on 2026-12-05, with 16 clients, PostgreSQL
// spent about 260–540 µs of CPU per verification with one, 470–780 µs
// with two, for the same throughput (README "Performance").
const batchWorkers = 1

func newBatcher(s *Store) *batcher {
	b := &batcher{stepQueue: newStepQueue(), s: s}
	b.start(batchWorkers, b.handle)
	return b
}

// close stops the goroutine after it has answered every queued job.
func (b *batcher) close() {
	b.stop()
	b.alone.Wait()
}

// batchReadSQL is secondStepSQL for many logins ($1, with the keys $2 to
// $4 of each, the key of the bucket to take a token from or nothing, and the
// step's place among the batch's steps of that bucket, from 1, in $10),
// after taking tokens from the buckets ($6 to $9 and $11: keys, bursts,
// nows, rates, and how many steps want one; see takeTokenSQL), in one
// statement. Each row starts with the login's place in $1 (from 1) and
// whether its token was taken (true when it has no bucket, NULL when its
// bucket was made meanwhile by another statement, so that nothing could be
// told of it: the step is read again with the next batch); the login's
// columns are NULL when it was not, or when there is no such login.
//
// A bucket row cannot be updated twice in one statement, so each bucket's
// steps take their tokens at once: lk locks the buckets that exist, in the
// order of their keys, and reads them as they are once locked; rf works
// out, at the latest now of the bucket's steps, how many tokens it holds
// and how many (k) its n steps take, as many as are whole, one per step;
// up writes that. mk makes the buckets that did not exist, each with its
// burst less its steps' tokens. A bucket's first k steps in the order of the
// queue took one, the others none: the outcome of taking them one by one.
//
// The buckets, the logins, the factors and the throttles are found by
// their indexes whatever PostgreSQL's statistics say (ANY of the buckets'
// keys; LATERAL subqueries with an OFFSET 0, which the planner cannot merge
// into joins, so that it looks each row up for each step). Plain
// joins let it hash the whole table: pgx keeps the statement prepared, and
// a generic plan made while a table was a few pages long, as on a new
// database, went on scanning it in full as it grew, until an ANALYZE (by
// autovacuum, a minute or more later). In the load tool's 6 s phases
// throttles and rate_buckets grow from nothing: by the phase's end each
// read scanned throttles twice, 10,000 rows each, about 1.5 ms of a 3 ms
// read (TestBatchReadFindsRowsByKey).
var batchReadSQL = `WITH q AS (
		SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $10::bigint[])
		WITH ORDINALITY AS q(login, prefix, suffix, infix, bucket, nth, i)
	), b AS (
		SELECT * FROM unnest($6::text[], $7::float8[], $8::bigint[], $9::float8[], $11::bigint[]) AS b(key, burst, now, rate, n)
	), lk AS (
		SELECT key, tokens, updated_at FROM rate_buckets WHERE key = ANY ($6::text[]) ORDER BY key FOR UPDATE
	), rf AS (
		SELECT b.key, b.now, r.v AS refilled, CASE WHEN r.v >= 1 THEN LEAST(b.n, FLOOR(r.v)) ELSE 0 END AS k
		FROM lk AS rate_buckets JOIN b ON b.key = rate_buckets.key, LATERAL (SELECT ` + batchRefilled + ` AS v) r
	), up AS (
		UPDATE rate_buckets SET tokens = rf.refilled - rf.k,
			updated_at = CASE WHEN rf.now > rate_buckets.updated_at THEN rf.now ELSE rate_buckets.updated_at END
		FROM rf WHERE rate_buckets.key = rf.key AND rf.k > 0
	), mk AS (
		INSERT INTO rate_buckets (key, tokens, updated_at)
		SELECT key, burst - LEAST(n, GREATEST(FLOOR(burst), 1)), now FROM b WHERE key NOT IN (SELECT key FROM lk) ORDER BY key
		ON CONFLICT (key) DO NOTHING RETURNING key
	), kt AS (
		SELECT key, k FROM rf
		UNION ALL SELECT key, LEAST(n, GREATEST(FLOOR(burst), 1)) FROM b WHERE key IN (SELECT key FROM mk)
	), qt AS (
		SELECT q.*, CASE WHEN q.bucket = '' THEN TRUE ELSE q.nth <= (SELECT k FROM kt WHERE kt.key = q.bucket) END AS took FROM q
	)
	SELECT qt.i, qt.took, ` + secondStepColumns + `
	FROM qt
	LEFT JOIN LATERAL (SELECT * FROM logins WHERE id = qt.login AND qt.took OFFSET 0) l ON TRUE
	LEFT JOIN LATERAL (SELECT * FROM throttles WHERE key = qt.prefix || l.account_id || qt.suffix OFFSET 0) t ON TRUE
	LEFT JOIN LATERAL (SELECT * FROM factors WHERE account_id = l.account_id AND type = 'totp' AND status = 'active' OFFSET 0) f ON TRUE
	LEFT JOIN LATERAL (SELECT * FROM throttles WHERE key = qt.prefix || l.account_id || qt.infix || f.id OFFSET 0) ft ON TRUE`

// batchRefilled is refilledSQL for a bucket of b as lk read it (named
// rate_buckets in rf).
var batchRefilled = refilledSQL(`b.burst`, `b.now`, `b.rate`)

// batchWriteSQL writes the verdicts of a batch, completions and failures,
// one per element of its arrays, in one statement. For each completion cf
// and cl lock the factor and the login, all the factors first, in the order
// of their ids, then the logins in theirs (each ARRAY is read whole before
// the next part starts), and PostgreSQL checks their conditions again on
// the newest rows once it holds the locks; t then claims the throttle of
// each completion whose factor and login both hold, and the next failure
// slot of each failure, in the order of their keys, each only when it is as
// read. The rest is written for the verdicts whose throttle was claimed
// (done), each all or nothing as completePostgres and failPostgres are: the
// factor's step, the login's use, the session, the event, the use noted on
// a waiting reset of two-factor, the login's push requests ended. Each row
// returned is a verdict's place (i) and whether its factor, its login and
// its throttle held.
const batchWriteSQL = `WITH w AS (
		SELECT * FROM unnest($1::bigint[], $2::bool[], $3::text[], $4::bigint[], $5::bigint[], $6::bigint[],
			$7::bigint[], $8::bigint[], $9::text[], $10::text[],
			$11::bytea[], $12::text[], $13::text[], $14::bigint[], $15::bigint[], $16::bigint[], $17::bigint[],
			$18::text[], $19::text[], $20::bigint[], $21::text[], $22::text[], $23::text[])
		AS w(i, complete, key, seen, now, lock_until, step, drift, factor, login,
			token_hash, sid, account, created, expires, elevated, epoch,
			ev_account, ev_type, ev_at, ev_source, ev_agent, ev_detail)
	), cf AS (
		SELECT f.id FROM factors f JOIN w ON f.id = w.factor
		WHERE w.complete AND f.status = 'active' AND f.last_step < w.step ORDER BY f.id FOR UPDATE OF f
	), cl AS (
		SELECT l.id FROM logins l JOIN w ON l.id = w.login
		WHERE w.complete AND l.used_at IS NULL AND l.expires_at > w.now AND w.factor = ANY (ARRAY(SELECT id FROM cf))
		ORDER BY l.id FOR UPDATE OF l
	), t AS (
		INSERT INTO throttles (key, failures, locked_until, updated_at)
		SELECT key, CASE WHEN complete THEN 0 ELSE 1 END, lock_until, now FROM w
		WHERE NOT complete OR login = ANY (ARRAY(SELECT id FROM cl)) ORDER BY key
		ON CONFLICT (key) DO UPDATE SET failures = CASE WHEN EXCLUDED.failures = 0 THEN 0 ELSE throttles.failures + 1 END,
			locked_until = EXCLUDED.locked_until, updated_at = EXCLUDED.updated_at
		WHERE throttles.failures = (SELECT seen FROM w WHERE w.key = EXCLUDED.key) AND throttles.locked_until <= EXCLUDED.updated_at
		RETURNING key
	), done AS (
		SELECT * FROM w WHERE key = ANY (ARRAY(SELECT key FROM t))
	), f AS (
		UPDATE factors SET last_step = d.step, drift = d.drift, last_used_at = d.now FROM done d WHERE d.complete AND factors.id = d.factor
	), l AS (
		UPDATE logins SET used_at = d.now, session_id = d.sid FROM done d WHERE d.complete AND logins.id = d.login
	), s AS (
		INSERT INTO sessions (token_hash, id, account_id, created_at, expires_at, elevated_until, session_epoch, event_floor)
		SELECT token_hash, sid, account, created, expires, elevated, epoch, ` + eventFloorSQL + ` FROM done WHERE complete
	), a AS (
		INSERT INTO audit_events (account_id, type, at, source, user_agent, detail, session_id)
		SELECT ev_account, ev_type, ev_at, ev_source, ev_agent, ev_detail, CASE WHEN complete THEN sid END FROM done ORDER BY i
	), r AS (
		UPDATE two_factor_resets SET factor_used_at = d.now FROM done d
		WHERE d.complete AND two_factor_resets.account_id = d.account AND two_factor_resets.factor_used_at IS NULL
	), p AS (
		UPDATE push_challenges SET status = 'ended' FROM done d
		WHERE d.complete AND push_challenges.account_id = d.account AND push_challenges.scope = 'login:' || d.login
			AND push_challenges.status IN ('pending', 'approved')
	)
	SELECT i, factor = ANY (ARRAY(SELECT id FROM cf)), login = ANY (ARRAY(SELECT id FROM cl)), key = ANY (ARRAY(SELECT key FROM t)) FROM w`

// handle runs one batch: it answers each job, or returns it among later.
func (b *batcher) handle(batch []*stepJob) (later []*stepJob) {
	// The statements run without the requests' cancellation: one request
	// going away must not end the others' statement.
	ctx := context.Background()
	claimed := make(map[string]bool, 2*len(batch))
	buckets := make(map[string]*twofold.Bucket)
	var read []*stepJob
	for _, j := range batch {
		switch {
		case j.ctx.Err() != nil:
			j.err = j.ctx.Err() // gone before anything was read for it
			close(j.ready)
		case claimed["l:"+j.loginID] || !sameBucket(buckets, j.keys.Bucket):
			later = append(later, j)
		default:
			claimed["l:"+j.loginID] = true
			read = append(read, j)
		}
	}
	if len(read) == 0 {
		return later
	}
	steps, err := b.read(ctx, read)
	if err != nil {
		b.runAlone(read)
		return later
	}
	// Decide, in the order of the queue; a step of an account already in
	// the batch waits for the next one.
	var writes []verdictOf
	for i, j := range read {
		st := &steps[i]
		if j.keys.Bucket != nil {
			if !st.took.Valid {
				later = append(later, j) // its bucket was made meanwhile: take again
				continue
			}
			if !st.took.Bool {
				j.outcome = twofold.RateLimited
				close(j.ready)
				continue
			}
			j.keys.Bucket = nil // taken: not again when it runs later or alone
		}
		if st.found {
			key := j.keys.Prefix + st.st.Login.AccountID + j.keys.Suffix
			if claimed["a:"+st.st.Login.AccountID] || claimed["t:"+key] {
				later = append(later, j)
				continue
			}
			claimed["a:"+st.st.Login.AccountID], claimed["t:"+key] = true, true
		}
		v, err := decideSafely(j.decide, st.st, st.found)
		if err == nil {
			err = checkVerdict(v, st.st, st.found)
		}
		switch {
		case err != nil:
			j.err = err
		case v.Complete != nil || v.Fail != nil:
			writes = append(writes, verdictOf{job: j, v: v, key: j.keys.Prefix + st.st.Login.AccountID + j.keys.Suffix})
			continue
		default:
			j.outcome = twofold.Unwritten
		}
		close(j.ready)
	}
	if len(writes) > 0 {
		if err := b.write(ctx, writes); err != nil {
			jobs := make([]*stepJob, len(writes))
			for i, w := range writes {
				jobs[i] = w.job
			}
			b.runAlone(jobs)
			return later
		}
		for _, w := range writes {
			close(w.job.ready)
		}
	}
	return later
}

// sameBucket reports whether bucket, when set, can take its token in the
// batch whose buckets (by key) are the first of each key in it: it is the
// first of its key, which it joins, or one of the same burst and rate (the
// read takes a bucket's tokens at once).
func sameBucket(buckets map[string]*twofold.Bucket, bucket *twofold.Bucket) bool {
	if bucket == nil {
		return true
	}
	first, ok := buckets[bucket.Key]
	if !ok {
		buckets[bucket.Key] = bucket
		return true
	}
	return first.Burst == bucket.Burst && first.Rate == bucket.Rate
}

// runAlone runs each of jobs again on its own, at once, and answers it.
func (b *batcher) runAlone(jobs []*stepJob) {
	for _, j := range jobs {
		b.alone.Add(1)
		go func() {
			defer b.alone.Done()
			j.outcome, j.err = b.s.decideAlone(context.WithoutCancel(j.ctx), j.loginID, j.keys, j.decide)
			close(j.ready)
		}()
	}
}

// readStep is what the batch's read found of one job.
type readStep struct {
	st    twofold.SecondStep
	found bool
	took  sql.NullBool // whether its token was taken; NULL: nothing known
}

// read runs batchReadSQL for jobs, whose login ids are distinct and whose
// buckets of one key have one burst and rate, and returns what it found of
// each, in their order. A bucket's steps take their tokens in the order of
// jobs, at the latest of their nows.
func (b *batcher) read(ctx context.Context, jobs []*stepJob) ([]readStep, error) {
	n := len(jobs)
	logins, prefixes, suffixes, infixes, buckets := make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	nth := make([]int64, n)
	keys, bursts, nows, rates, wants := []string{}, []float64{}, []int64{}, []float64{}, []int64{}
	at := make(map[string]int) // a bucket's place in keys
	for i, j := range jobs {
		logins[i], prefixes[i], suffixes[i], infixes[i] = j.loginID, j.keys.Prefix, j.keys.Suffix, j.keys.FactorInfix
		bk := j.keys.Bucket
		if bk == nil {
			continue
		}
		buckets[i] = bk.Key
		k, ok := at[bk.Key]
		if !ok {
			k, at[bk.Key] = len(keys), len(keys)
			keys, bursts, nows, rates, wants = append(keys, bk.Key), append(bursts, bk.Burst), append(nows, micros(bk.Now)), append(rates, bk.Rate), append(wants, 0)
		}
		nows[k] = max(nows[k], micros(bk.Now))
		wants[k]++
		nth[i] = wants[k]
	}
	rows, err := b.s.db.QueryContext(ctx, batchReadSQL, logins, prefixes, suffixes, infixes, buckets, keys, bursts, nows, rates, nth, wants)
	if err != nil {
		return nil, fmt.Errorf("select second steps: %w", err)
	}
	defer rows.Close()
	steps := make([]readStep, n)
	for i, j := range jobs {
		steps[i].st.Login.ID = j.loginID
	}
	var r stepRow
	var i int64
	var took sql.NullBool
	dest := r.dest([]any{&i, &took})
	for rows.Next() {
		r.secret = nil
		if err := rows.Scan(dest...); err != nil {
			return nil, fmt.Errorf("scan second steps: %w", err)
		}
		if i < 1 || i > int64(n) {
			return nil, fmt.Errorf("select second steps: row of step %d of %d", i, n)
		}
		st := &steps[i-1]
		st.took = took
		if r.add(&st.st) {
			st.found = true
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("select second steps: %w", err)
	}
	for i := range steps {
		if st := &steps[i]; st.found {
			sortStepFactors(st.st.Factors)
		} else {
			st.st = twofold.SecondStep{Login: twofold.Login{ID: jobs[i].loginID}}
		}
	}
	return steps, nil
}

// verdictOf is a job's verdict to write, with the throttle key it writes.
type verdictOf struct {
	job *stepJob
	v   twofold.Verdict
	key string
}

// write runs batchWriteSQL for writes, whose logins, accounts and throttle
// keys are distinct, and sets each job's outcome. On an error nothing was
// written, and no outcome is set.
func (b *batcher) write(ctx context.Context, writes []verdictOf) error {
	n := len(writes)
	var a struct {
		i, seen, now, lockUntil, step, drift, created, expires, elevated, epoch, evAt    []int64
		complete                                                                         []bool
		key, factor, login, sid, account, evAccount, evType, evSource, evAgent, evDetail []string
		tokenHash                                                                        [][]byte
	}
	ints := []*[]int64{&a.i, &a.seen, &a.now, &a.lockUntil, &a.step, &a.drift, &a.created, &a.expires, &a.elevated, &a.epoch, &a.evAt}
	for _, p := range ints {
		*p = make([]int64, n)
	}
	strs := []*[]string{&a.key, &a.factor, &a.login, &a.sid, &a.account, &a.evAccount, &a.evType, &a.evSource, &a.evAgent, &a.evDetail}
	for _, p := range strs {
		*p = make([]string, n)
	}
	a.complete, a.tokenHash = make([]bool, n), make([][]byte, n)
	for i, w := range writes {
		a.i[i], a.key[i] = int64(i+1), w.key
		var e twofold.AuditEvent
		if c := w.v.Complete; c != nil {
			s := c.Session
			a.complete[i], a.seen[i], a.now[i] = true, int64(c.Seen), micros(c.Now)
			a.step[i], a.drift[i], a.factor[i], a.login[i] = c.Step, c.Drift, c.FactorID, c.LoginID
			a.tokenHash[i], a.sid[i], a.account[i] = s.TokenHash, s.ID, s.AccountID
			a.created[i], a.expires[i], a.elevated[i], a.epoch[i] = micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.ElevatedUntil), s.Epoch
			e = c.Event
			e.AccountID = s.AccountID
		} else {
			f := w.v.Fail
			a.seen[i], a.now[i], a.lockUntil[i] = int64(f.Seen), micros(f.Now), micros(f.LockUntil)
			a.tokenHash[i] = []byte{}
			e = f.Event
		}
		a.evAccount[i], a.evType[i], a.evAt[i], a.evSource[i], a.evAgent[i], a.evDetail[i] = e.AccountID, e.Type, micros(e.At), e.Source, e.UserAgent, e.Detail
	}
	rows, err := b.s.db.QueryContext(ctx, batchWriteSQL, a.i, a.complete, a.key, a.seen, a.now, a.lockUntil,
		a.step, a.drift, a.factor, a.login, a.tokenHash, a.sid, a.account, a.created, a.expires, a.elevated, a.epoch,
		a.evAccount, a.evType, a.evAt, a.evSource, a.evAgent, a.evDetail)
	if err != nil {
		return fmt.Errorf("write second steps: %w", err)
	}
	defer rows.Close()
	outcomes, set := make([]twofold.Outcome, n), make([]bool, n)
	for rows.Next() {
		var at int64
		var step, login, throttle bool
		if err := rows.Scan(&at, &step, &login, &throttle); err != nil {
			return fmt.Errorf("write second steps: %w", err)
		}
		if at < 1 || at > int64(n) {
			return fmt.Errorf("write second steps: row of verdict %d of %d", at, n)
		}
		set[at-1] = true
		switch {
		case writes[at-1].v.Fail != nil && throttle:
			outcomes[at-1] = twofold.Counted
		case writes[at-1].v.Fail != nil:
			outcomes[at-1] = twofold.ThrottleMoved
		case !step:
			outcomes[at-1] = twofold.StepUsed
		case !login:
			outcomes[at-1] = twofold.LoginGone
		case !throttle:
			outcomes[at-1] = twofold.ThrottleMoved
		default:
			outcomes[at-1] = twofold.Completed
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("write second steps: %w", err)
	}
	for i, w := range writes {
		if !set[i] {
			// Written or not, it cannot tell: an error, never run again.
			w.job.err = fmt.Errorf("write second steps: no outcome for verdict %d", i+1)
			continue
		}
		w.job.outcome = outcomes[i]
	}
	return nil
}
