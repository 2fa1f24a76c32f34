package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twofold/twofold"
)

// committer runs SQLite's second steps on the writer, many to a transaction.
// With synchronous=FULL every commit waits for the disk, and SQLite has one
// writer: one commit per login would cap logins at the disk's sync rate.
// Second steps queue here instead; one goroutine takes every queued step and,
// in one transaction, reads each step's rows, lets the step decide, and
// writes its verdict; it commits once, and then answers them all.
//
// The read is on the writer, inside the transaction that writes: nothing can
// change between them, so a verdict never meets a moved throttle, and the
// writer's page cache, which no other connection's commit invalidates, serves
// the read. Nothing is answered before the commit is durable, so the
// durability of every accepted code is the same as with a commit of its own.
// A lone request waits for no one: the batch is whatever queued while the
// previous commit ran.
type committer struct {
	stepQueue
	db    *sql.DB     // the store's single writer connection
	stmts []*sql.Stmt // prepared on the writer, in the order of writerSQL
	// observe, when set, is told of every commit (Store.ObserveCommits).
	observe atomic.Pointer[func(steps int, took time.Duration)]
}

type stepJob struct {
	ctx     context.Context
	loginID string
	keys    twofold.StepKeys
	decide  func(twofold.SecondStep, bool) twofold.Verdict
	outcome twofold.Outcome
	err     error
	ready   chan struct{}
}

// maxBatch bounds the second steps one commit carries.
const maxBatch = 64

// The statements of the writer, prepared once, in the order of writerSQL.
const (
	wRead = iota
	wFactor
	wLogin
	wThrottleClear
	wThrottleFail
	wSession
	wEvent
	wResetUsed
	wPushEnd
	wToken
)

var writerSQL = [...]string{
	wRead:          committerReadSQL,
	wFactor:        `UPDATE factors SET last_step = $1, drift = $2, last_used_at = $3 WHERE account_id = $4 AND id = $5`,
	wLogin:         `UPDATE logins SET used_at = $1, session_id = $3 WHERE id = $2`,
	wThrottleClear: `DELETE FROM throttles WHERE key = $1`,
	wThrottleFail: `INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (key) DO UPDATE SET failures = $2, locked_until = $3, updated_at = $4`,
	wSession:   sessionInsertSQL,
	wEvent:     eventInsertSQL,
	wResetUsed: resetUsedSQL,
	wPushEnd:   endLoginPushSQL,
	wToken:     takeTokenStmt,
}

// committerReadSQL is secondStepSQL with two more columns, last: whether a
// reset of two-factor waits on the account with no use of a factor noted
// (resetUsedSQL's condition), and whether a push request sent for the
// login waits for the device's answer or is approved and not yet used
// (endLoginPushSQL's condition, one look in the index of push requests by
// account and scope). Read in the transaction that writes, on the one
// writer, they are still true at the write: a completion runs resetUsedSQL
// and endLoginPushSQL only when they are, and most (no reset waits, no
// push was sent) are two statements shorter.
const committerReadSQL = `SELECT ` + secondStepColumns + `,
	EXISTS (SELECT 1 FROM two_factor_resets r WHERE r.account_id = l.account_id AND r.factor_used_at IS NULL),
	EXISTS (SELECT 1 FROM push_challenges p WHERE p.account_id = l.account_id AND p.scope = 'login:' || l.id
		AND p.status IN ('pending', 'approved'))` + secondStepFrom

func newCommitter(db *sql.DB) *committer {
	c := &committer{stepQueue: newStepQueue(), db: db}
	c.start(1, func(batch []*stepJob) []*stepJob {
		c.commit(batch)
		return nil
	})
	return c
}

// close stops the goroutine after it has answered every queued job.
func (cm *committer) close() {
	cm.stop()
	for _, st := range cm.stmts {
		st.Close()
	}
}

// stepQueue is the queue of second steps that goroutines take in batches:
// SQLite's committer (one goroutine) and PostgreSQL's batcher.
type stepQueue struct {
	jobs    chan *stepJob
	quit    chan struct{}
	workers sync.WaitGroup
	once    sync.Once
}

func newStepQueue() stepQueue {
	return stepQueue{jobs: make(chan *stepJob, 4*maxBatch), quit: make(chan struct{})}
}

// start runs n goroutines that take batches from the queue (see run).
func (q *stepQueue) start(n int, handle func(batch []*stepJob) (later []*stepJob)) {
	for range n {
		q.workers.Go(func() { q.run(handle) })
	}
}

// decide queues a second step and waits for its outcome.
func (q *stepQueue) decide(ctx context.Context, loginID string, keys twofold.StepKeys, decide func(twofold.SecondStep, bool) twofold.Verdict) (twofold.Outcome, error) {
	j := &stepJob{ctx: ctx, loginID: loginID, keys: keys, decide: decide, ready: make(chan struct{})}
	select {
	case q.jobs <- j:
	case <-q.quit:
		return 0, errors.New("decide second step: the store is closed")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued, the job is answered even if ctx ends: its outcome may
	// already be committed, and the caller must not be told otherwise.
	<-j.ready
	return j.outcome, j.err
}

// stop ends run after it has answered every queued job.
func (q *stepQueue) stop() {
	q.once.Do(func() { close(q.quit) })
	q.workers.Wait()
}

// run hands handle queued jobs, up to maxBatch at a time, until stop.
// handle answers each job of the batch, or returns it among later, which
// lead the next batch; a job it puts off must be answered by a later call.
func (q *stepQueue) run(handle func(batch []*stepJob) (later []*stepJob)) {
	batch := make([]*stepJob, 0, maxBatch)
	var later []*stepJob
	for {
		batch = append(batch[:0], later...)
		if len(batch) == 0 {
			select {
			case j := <-q.jobs:
				batch = append(batch, j)
			case <-q.quit:
				// Answer what is still queued, then stop.
				for {
					select {
					case j := <-q.jobs:
						for later := []*stepJob{j}; len(later) > 0; {
							later = handle(later)
						}
					default:
						return
					}
				}
			}
		}
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-q.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		later = handle(batch)
	}
}

// commit runs batch in one transaction and answers every job. When a
// statement fails, the whole transaction is rolled back and, so that one
// step's error is not every step's, each step is run again on its own.
func (cm *committer) commit(batch []*stepJob) {
	err := cm.write(batch)
	if err != nil && len(batch) > 1 {
		for _, j := range batch {
			j.outcome, j.err = 0, nil
			cm.commit([]*stepJob{j})
		}
		return
	}
	for _, j := range batch {
		if err != nil && j.err == nil {
			j.outcome, j.err = 0, err
		}
		close(j.ready)
	}
}

func (cm *committer) write(batch []*stepJob) error {
	start := time.Now()
	steps, err := cm.writeBatch(batch)
	if f := cm.observe.Load(); f != nil && err == nil && steps > 0 {
		(*f)(steps, time.Since(start))
	}
	return err
}

// writeBatch runs batch in one transaction and returns how many of its steps
// it ran (those whose request had not gone away).
func (cm *committer) writeBatch(batch []*stepJob) (steps int, err error) {
	// The statements are prepared outside any transaction: preparing on the
	// pool while a transaction holds its only connection would wait forever.
	if cm.stmts == nil {
		for _, q := range writerSQL {
			st, err := cm.db.PrepareContext(context.Background(), q)
			if err != nil {
				for _, p := range cm.stmts {
					p.Close()
				}
				cm.stmts = nil
				return 0, fmt.Errorf("decide second step: prepare: %w", err)
			}
			cm.stmts = append(cm.stmts, st)
		}
	}
	// A request that goes away must not interrupt the shared transaction
	// (SQLite rolls a whole transaction back when a write is interrupted),
	// so the statements run without the requests' cancellation.
	ctx := context.Background()
	tx, err := cm.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("decide second step: begin: %w", err)
	}
	stmts := txStmts{tx: tx, prepared: cm.stmts}
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err // gone before anything was read for it
			continue
		}
		if j.outcome, err = step(ctx, &stmts, j); err != nil {
			tx.Rollback()
			return 0, err
		}
		steps++
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("decide second step: commit: %w", err)
	}
	return steps, nil
}

// step reads j's second step, lets it decide, and writes the verdict. What it
// reads is the newest state, and no other writer runs until the commit; the
// conditions are checked all the same, in case decide based its verdict on
// something else.
func step(ctx context.Context, stmts *txStmts, j *stepJob) (twofold.Outcome, error) {
	if b := j.keys.Bucket; b != nil {
		// The token is taken in the batch's transaction, not in one of its
		// own: a commit (and a sync) less per step. Rolled back with the
		// batch, it is taken again when the step runs again.
		res, err := stmts.get(ctx, wToken).ExecContext(ctx, b.Key, b.Burst, micros(b.Now), b.Rate)
		if err != nil {
			return 0, fmt.Errorf("take token: %w", err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return 0, fmt.Errorf("take token: %w", err)
		} else if n != 1 {
			return twofold.RateLimited, nil
		}
	}
	rows, err := stmts.get(ctx, wRead).QueryContext(ctx, j.loginID, j.keys.Prefix, j.keys.Suffix, j.keys.FactorInfix)
	if err != nil {
		return 0, fmt.Errorf("select second step: %w", err)
	}
	// One holder for both: one allocation, as the one flag was.
	var waits struct{ reset, push bool }
	st, found, err := scanSecondStepTaking(rows, j.loginID, nil, &waits.reset, &waits.push)
	if err != nil {
		return 0, err
	}
	v, err := decideSafely(j.decide, st, found)
	if err != nil {
		return 0, err
	}
	if err := checkVerdict(v, st, found); err != nil {
		return 0, err
	}
	key := j.keys.Prefix + st.Login.AccountID + j.keys.Suffix
	exec := func(i int, args ...any) error {
		if _, err := stmts.get(ctx, i).ExecContext(ctx, args...); err != nil {
			return fmt.Errorf("decide second step: %w", err)
		}
		return nil
	}
	switch {
	case v.Complete != nil:
		c := v.Complete
		now := micros(c.Now)
		if !stepAfter(st.Factors, c.FactorID, c.Step) {
			return twofold.StepUsed, nil
		}
		if st.Login.Used || micros(st.Login.ExpiresAt) <= now {
			return twofold.LoginGone, nil
		}
		if st.Failures != c.Seen || micros(st.LockedUntil) > now {
			return twofold.ThrottleMoved, nil
		}
		s, e := c.Session, c.Event
		err := exec(wFactor, c.Step, c.Drift, now, st.Login.AccountID, c.FactorID)
		if err == nil {
			err = exec(wLogin, now, c.LoginID, s.ID)
		}
		if err == nil && (st.Failures != 0 || !st.LockedUntil.IsZero()) {
			err = exec(wThrottleClear, key)
		}
		if err == nil {
			err = exec(wSession, s.TokenHash, s.ID, s.AccountID, micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.ElevatedUntil), s.Epoch)
		}
		if err == nil {
			err = exec(wEvent, eventArgs(e)...)
		}
		if err == nil && waits.reset {
			err = exec(wResetUsed, now, st.Login.AccountID)
		}
		if err == nil && waits.push {
			err = exec(wPushEnd, st.Login.AccountID, "login:"+c.LoginID)
		}
		if err != nil {
			return 0, err
		}
		return twofold.Completed, nil
	case v.Fail != nil:
		f := v.Fail
		now := micros(f.Now)
		if st.Failures != f.Seen || micros(st.LockedUntil) > now {
			return twofold.ThrottleMoved, nil
		}
		e := f.Event
		err := exec(wThrottleFail, key, f.Seen+1, micros(f.LockUntil), now)
		if err == nil {
			err = exec(wEvent, eventArgs(e)...)
		}
		if err != nil {
			return 0, err
		}
		return twofold.Counted, nil
	}
	return twofold.Unwritten, nil
}

// txStmts binds the writer's prepared statements to one transaction, each
// only when a step first runs it: binding one costs allocations, and most
// batches run only some of them (a throttle to clear or count, a reset of
// two-factor waiting, a push request to end are rare).
type txStmts struct {
	tx       *sql.Tx
	prepared []*sql.Stmt // in the order of writerSQL
	bound    [len(writerSQL)]*sql.Stmt
}

// get returns statement i (wRead, wFactor, …) bound to the transaction.
func (t *txStmts) get(ctx context.Context, i int) *sql.Stmt {
	if t.bound[i] == nil {
		t.bound[i] = t.tx.StmtContext(ctx, t.prepared[i])
	}
	return t.bound[i]
}

// decideSafely runs decide, turning a panic into an error of that step
// alone: on SQLite decide runs on the writer's goroutine, where a panic would
// stop the server rather than fail one request.
func decideSafely(decide func(twofold.SecondStep, bool) twofold.Verdict, st twofold.SecondStep, found bool) (v twofold.Verdict, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("decide second step: panic: %v", r)
		}
	}()
	return decide(st, found), nil
}

// stepAfter reports whether factorID is among factors (the active TOTP
// factors read) with its last accepted step before step.
func stepAfter(factors []twofold.Factor, factorID string, step int64) bool {
	for _, f := range factors {
		if f.ID == factorID {
			return f.LastStep < step
		}
	}
	return false
}
