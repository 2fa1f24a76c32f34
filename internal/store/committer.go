package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

	"github.com/twofold/twofold"
)

// committer is SQLite's group commit for second steps. With
// synchronous=FULL every commit waits for the disk, and SQLite has one writer:
// one commit per login would cap logins at the disk's sync rate. Completions
// queue here instead; one goroutine takes every queued completion, writes each
// under a savepoint of one shared transaction (rolled back alone when one of
// its conditions no longer holds), commits once, and then answers them all.
// Nothing is answered before the commit is durable, so the durability of
// every accepted code is the same as with a commit of its own. A lone request
// waits for no one: the batch is whatever queued while the previous commit
// ran.
type committer struct {
	db    *sql.DB // the store's single writer connection
	jobs  chan *completionJob
	quit  chan struct{}
	done  chan struct{}
	once  sync.Once
	stmts []*sql.Stmt // prepared on the writer: completionSQL, then savepointSQL
}

type completionJob struct {
	ctx     context.Context
	c       twofold.Completion
	outcome twofold.Outcome
	err     error
	ready   chan struct{}
}

// maxBatch bounds the completions one commit carries.
const maxBatch = 64

// completionSQL are the statements of one completion, in order. The first
// three are conditions; each reports its Outcome when it changes no row.
var completionSQL = []struct {
	miss twofold.Outcome
	q    string
}{
	{twofold.StepUsed, `UPDATE factors SET last_step = $1, drift = $2, last_used_at = $3 WHERE id = $4 AND status = 'active' AND last_step < $1`},
	{twofold.LoginGone, `UPDATE logins SET used_at = $1 WHERE id = $2 AND used_at IS NULL AND expires_at > $1`},
	{twofold.ThrottleMoved, `INSERT INTO throttles (key, failures, locked_until, updated_at) VALUES ($1, 0, 0, $2)
		ON CONFLICT (key) DO UPDATE SET failures = 0, locked_until = 0, updated_at = $2
		WHERE throttles.failures = $3 AND throttles.locked_until <= $2`},
	{twofold.Completed, sessionInsertSQL},
	{twofold.Completed, eventInsertSQL},
}

// savepointSQL set, roll back to and release the savepoint around one
// completion; they are prepared too, as the writer runs them for every login.
var savepointSQL = [3]string{`SAVEPOINT completion`, `ROLLBACK TO completion`, `RELEASE completion`}

func newCommitter(db *sql.DB) *committer {
	c := &committer{db: db, jobs: make(chan *completionJob, 4*maxBatch), quit: make(chan struct{}), done: make(chan struct{})}
	go c.run()
	return c
}

// complete queues c and waits for its outcome.
func (cm *committer) complete(ctx context.Context, c twofold.Completion) (twofold.Outcome, error) {
	j := &completionJob{ctx: ctx, c: c, ready: make(chan struct{})}
	select {
	case cm.jobs <- j:
	case <-cm.quit:
		return 0, errors.New("complete second step: the store is closed")
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	// Once queued, the job is answered even if ctx ends: its outcome may
	// already be committed, and the caller must not be told otherwise.
	<-j.ready
	return j.outcome, j.err
}

// close stops the goroutine after it has answered every queued job.
func (cm *committer) close() {
	cm.once.Do(func() { close(cm.quit) })
	<-cm.done
	for _, st := range cm.stmts {
		st.Close()
	}
}

func (cm *committer) run() {
	defer close(cm.done)
	batch := make([]*completionJob, 0, maxBatch)
	for {
		var first *completionJob
		select {
		case first = <-cm.jobs:
		case <-cm.quit:
			// Answer what is still queued, then stop.
			for {
				select {
				case j := <-cm.jobs:
					cm.commit([]*completionJob{j})
				default:
					return
				}
			}
		}
		batch = append(batch[:0], first)
	fill:
		for len(batch) < maxBatch {
			select {
			case j := <-cm.jobs:
				batch = append(batch, j)
			default:
				break fill
			}
		}
		cm.commit(batch)
	}
}

// commit writes batch in one transaction and answers every job.
func (cm *committer) commit(batch []*completionJob) {
	err := cm.write(batch)
	for _, j := range batch {
		if err != nil && j.err == nil {
			j.outcome, j.err = 0, err
		}
		close(j.ready)
	}
}

func (cm *committer) write(batch []*completionJob) error {
	// The statements are prepared outside any transaction: preparing on the
	// pool while a transaction holds its only connection would wait forever.
	if cm.stmts == nil {
		texts := make([]string, 0, len(completionSQL)+len(savepointSQL))
		for _, s := range completionSQL {
			texts = append(texts, s.q)
		}
		texts = append(texts, savepointSQL[:]...)
		for _, q := range texts {
			st, err := cm.db.PrepareContext(context.Background(), q)
			if err != nil {
				for _, p := range cm.stmts {
					p.Close()
				}
				cm.stmts = nil
				return fmt.Errorf("complete second step: prepare: %w", err)
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
		return fmt.Errorf("complete second step: begin: %w", err)
	}
	stmts := make([]*sql.Stmt, len(cm.stmts))
	for i, st := range cm.stmts {
		stmts[i] = tx.StmtContext(ctx, st)
	}
	completion, sp := stmts[:len(completionSQL)], stmts[len(completionSQL):]
	savepoint := func(i int) error {
		if _, err := sp[i].ExecContext(ctx); err != nil {
			tx.Rollback()
			return fmt.Errorf("complete second step: %s: %w", savepointSQL[i], err)
		}
		return nil
	}
	for _, j := range batch {
		if err := j.ctx.Err(); err != nil {
			j.err = err // gone before anything was written for it
			continue
		}
		if err := savepoint(0); err != nil {
			return err
		}
		j.outcome, j.err = writeCompletion(ctx, completion, j.c)
		if j.err != nil || j.outcome != twofold.Completed {
			if err := savepoint(1); err != nil {
				return err
			}
		}
		if err := savepoint(2); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("complete second step: commit: %w", err)
	}
	return nil
}

// writeCompletion runs the statements of one completion, stopping at the
// first condition that no longer holds.
func writeCompletion(ctx context.Context, stmts []*sql.Stmt, c twofold.Completion) (twofold.Outcome, error) {
	now := micros(c.Now)
	s, e := c.Session, c.Event
	args := [][]any{
		{c.Step, c.Drift, now, c.FactorID},
		{now, c.LoginID},
		{c.ThrottleKey, now, c.Seen},
		{s.TokenHash, s.ID, s.AccountID, micros(s.CreatedAt), micros(s.ExpiresAt), micros(s.ElevatedUntil)},
		{e.AccountID, e.Type, micros(e.At), e.Source, e.UserAgent, e.Detail},
	}
	for i, st := range stmts {
		res, err := st.ExecContext(ctx, args[i]...)
		if err != nil {
			return 0, fmt.Errorf("complete second step: %w", err)
		}
		if completionSQL[i].miss == twofold.Completed {
			continue
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("complete second step: %w", err)
		}
		if n != 1 {
			return completionSQL[i].miss, nil
		}
	}
	return twofold.Completed, nil
}
