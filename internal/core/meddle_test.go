package core_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// meddlingStore is a real store that, once armed, runs meddle just before
// the next transaction the service begins (InTx): what another request,
// an operator or the command line does to a key or its account after a
// request made with the key was let in, before its write.
type meddlingStore struct {
	*store.Store
	meddle atomic.Pointer[func(context.Context) error]
}

// meddling wraps st in a meddlingStore, for newMeddled.
func meddling(st *store.Store) *meddlingStore { return &meddlingStore{Store: st} }

func (s *meddlingStore) arm(f func(context.Context) error) { s.meddle.Store(&f) }

func (s *meddlingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if f := s.meddle.Swap(nil); f != nil {
		if err := (*f)(ctx); err != nil {
			return twofold.Errorf(twofold.CodeInternal, "fixture: meddle: %v", err)
		}
	}
	return s.Store.InTx(ctx, fn)
}

// meddled is a service on a test's wrapper of a real store, through which
// the test meddles with the service's writes (a meddlingStore, a
// conflictCountingStore), with its own clock and cheap password hashing.
type meddled[S core.Store] struct {
	db    testDB         // the real store, for what the test does beside the service
	store S              // the wrapper of db the service runs on
	clock *testenv.Clock // the service's clock, at the time the test began
	svc   *core.Service
	mail  *mailbox // the notices and mailed codes the service queues; nil without mail
}

// newMeddled opens a store on dsn for the length of the test and builds a
// service on wrap of it. With mail, the service's mail leaves it
// (Config.MailSent) for a mailbox, as the notices and mailed codes of
// some writes require.
func newMeddled[S core.Store](t *testing.T, dsn string, wrap func(*store.Store) S, mail bool) meddled[S] {
	t.Helper()
	db := openStore(t, dsn)
	m := meddled[S]{db: db, store: wrap(db.Store), clock: testenv.NewClock(time.Now())}
	cfg := cheapConfig()
	o := core.Options{Config: cfg, Now: m.clock.Now}
	if mail {
		m.mail = &mailbox{}
		o.Config.MailSent = true
		o.Notifier, o.CodeMail = m.mail, m.mail
	}
	m.svc = newServiceOpts(t, m.store, db, o)
	return m
}
