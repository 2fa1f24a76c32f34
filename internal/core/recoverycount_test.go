package core_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// afterEndStore is a real store that runs meanwhile, once, right after the
// commit of the first transaction in which EndOtherSessions ended an
// account's other sessions: what another instance commits between that
// commit and anything read after it.
type afterEndStore struct {
	testDB
	ended     atomic.Bool
	fired     atomic.Bool
	meanwhile func(ctx context.Context)
}

// inEndTx marks the context of a transaction of afterEndStore.
type inEndTx struct{}

func (s *afterEndStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if ctx.Value(inEndTx{}) != nil {
		return s.testDB.InTx(ctx, fn) // joins the transaction under way
	}
	err := s.testDB.InTx(ctx, func(ctx context.Context) error { return fn(context.WithValue(ctx, inEndTx{}, true)) })
	if err == nil && s.ended.Load() && !s.fired.Swap(true) {
		s.meanwhile(context.Background())
	}
	return err
}

func (s *afterEndStore) EndOtherSessions(ctx context.Context, accountID string, epoch int64, keepID string) (bool, error) {
	ok, err := s.testDB.EndOtherSessions(ctx, accountID, epoch, keepID)
	if ok && err == nil {
		s.ended.Store(true)
	}
	return ok, err
}

// TestRecoveryCountsWhatItsCommitEnded: a sign-in with a recovery code
// signs the account's two other sessions out, and its answer, its
// session.ended_by_recovery event and its notice say 2, the number its
// commit ended: a session of the old epoch that another instance's
// sign-in, whose password was checked before, writes right after that
// commit (and which never works) is not counted, as a count read after the
// commit would. On SQLite and PostgreSQL.
func TestRecoveryCountsWhatItsCommitEnded(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			clock := testenv.NewClock(time.Date(2026, 3, 1, 9, 0, 0, 0, time.UTC))
			mb := &mailbox{}
			cfg := cheapConfig()
			ws := &afterEndStore{testDB: db}
			svc := newServiceOpts(t, ws, db, core.Options{Config: cfg, Now: clock.Now, Notifier: mb, CodeMail: mb})

			rae := signedIn(t, svc, "rae") // one other session
			if _, err := svc.Login(ctx, "rae", testPassword, core.Meta{}); err != nil {
				t.Fatal(err) // and another
			}
			e, err := svc.EnrolFactor(ctx, rae, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			conf, err := svc.ConfirmFactor(ctx, rae, e.Factor.ID, testenv.TOTP(t, e.Secret, clock.Now()), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ws.meanwhile = func(ctx context.Context) {
				now := clock.Now()
				late := twofold.Session{ID: "late-sign-in", AccountID: rae.Account.ID, TokenHash: []byte("late-sign-in"),
					CreatedAt: now, ExpiresAt: now.Add(time.Hour), Epoch: rae.Account.SessionEpoch}
				if err := db.CreateSession(ctx, late); err != nil {
					t.Error(err)
				}
			}
			mb.take("") // forget the mails so far

			l, err := svc.Login(ctx, "rae", testPassword, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			v, err := svc.VerifyLogin(ctx, l.LoginID, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: conf.RecoveryCodes[0]}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			svc.Wait()
			if !ws.fired.Load() {
				t.Fatal("no session was written after the recovery's commit")
			}
			if !v.Recovered || v.OtherSessionsEnded != 2 {
				t.Errorf("the answer: recovered %v, %d other sessions ended; want recovered, 2", v.Recovered, v.OtherSessionsEnded)
			}
			const detail = "2 other sessions signed out: sign-in with recovery_code"
			evs, err := db.Events(ctx, rae.Account.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ev := range evs {
				if ev.Type == "session.ended_by_recovery" {
					got = append(got, ev.Detail)
				}
			}
			if len(got) != 1 || got[0] != detail {
				t.Errorf("session.ended_by_recovery events: got %q, want one %q", got, detail)
			}
			const line = "the 2 other sessions of your account were signed out"
			told := 0
			mb.mu.Lock()
			for _, m := range mb.mails {
				if strings.Contains(m.body, line) {
					told++
				}
			}
			mb.mu.Unlock()
			if told != 1 {
				t.Errorf("%d notices say %q, want 1", told, line)
			}
		})
	}
}
