package store_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// TestHoldSessionHoldsSignOut: on PostgreSQL, a session held by
// HoldSession in a transaction (a write made for it) is signed out, alone
// or with every session of its account, and its account suspended, only
// once that transaction ends: what was written for the session lands
// before any of them is answered. Afterwards the session is not found, or
// no longer of its account's epoch, or of a suspended account.
func TestHoldSessionHoldsSignOut(t *testing.T) {
	for _, tt := range []struct {
		name   string
		end    func(ctx context.Context, s *store.Store, a twofold.Account) error
		stands func(sess twofold.Session, a twofold.Account, err error) bool
	}{
		{"sign out", func(ctx context.Context, s *store.Store, a twofold.Account) error {
			_, err := s.DeleteSession(ctx, "sess-1")
			return err
		}, func(_ twofold.Session, _ twofold.Account, err error) bool {
			return twofold.ErrorCode(err) != twofold.CodeNotFound
		}},
		{"sign out everywhere", func(ctx context.Context, s *store.Store, a twofold.Account) error {
			_, err := s.EndSessions(ctx, a.ID)
			return err
		}, func(sess twofold.Session, a twofold.Account, err error) bool {
			return err != nil || sess.Epoch == a.SessionEpoch
		}},
		{"suspend", func(ctx context.Context, s *store.Store, a twofold.Account) error {
			_, err := s.SetSuspended(ctx, a.ID, true)
			return err
		}, func(_ twofold.Session, a twofold.Account, err error) bool { return err != nil || !a.Suspended }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
			ctx := t.Context()
			s, db, a := postgresWithAlice(t, t0)
			if err := s.CreateSession(ctx, twofold.Session{ID: "sess-1", AccountID: a.ID, TokenHash: []byte("h1"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			held, release, writeDone := make(chan struct{}), make(chan struct{}), make(chan error, 1)
			go func() {
				writeDone <- s.InTx(ctx, func(ctx context.Context) error {
					sess, acc, err := s.HoldSession(ctx, a.ID, "sess-1", t0)
					if err != nil || sess.AccountID != a.ID || acc.ID != a.ID || sess.Epoch != acc.SessionEpoch || acc.Suspended {
						t.Errorf("HoldSession: got %+v, %+v, %v", sess, acc, err)
					}
					close(held)
					<-release
					return nil
				})
			}()
			<-held
			endDone := make(chan error, 1)
			go func() { endDone <- tt.end(ctx, s, a) }()
			awaitWaiters(t, db, 1, endDone)
			close(release)
			if err := <-writeDone; err != nil {
				t.Fatal(err)
			}
			if err := <-endDone; err != nil {
				t.Fatal(err)
			}
			var sess twofold.Session
			var acc twofold.Account
			err := s.InTx(ctx, func(ctx context.Context) error {
				var err error
				sess, acc, err = s.HoldSession(ctx, a.ID, "sess-1", t0)
				return err
			})
			if tt.stands(sess, acc, err) {
				t.Errorf("HoldSession after %s: got %+v, %+v, %v: the session still stands", tt.name, sess, acc, err)
			}
		})
	}
}

// TestHoldSessionWritesOneAfterAnother: on PostgreSQL, two writes for
// sessions of one account that each hold their session and then lock the
// account's row (LockAccount, as making a key or a factor's activation
// does) run one after the other: the second waits at its hold, and
// neither is ended as a deadlock, as both would were the account's row
// merely shared by the hold.
func TestHoldSessionWritesOneAfterAnother(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := t.Context()
	s, db, a := postgresWithAlice(t, t0)
	for _, id := range []string{"sess-1", "sess-2"} {
		if err := s.CreateSession(ctx, twofold.Session{ID: id, AccountID: a.ID, TokenHash: []byte(id), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
	}
	write := func(id string, held, release chan struct{}) error {
		return s.InTx(ctx, func(ctx context.Context) error {
			if _, _, err := s.HoldSession(ctx, a.ID, id, t0); err != nil {
				return err
			}
			if held != nil {
				close(held)
				<-release
			}
			return s.LockAccount(ctx, a.ID)
		})
	}
	held, release := make(chan struct{}), make(chan struct{})
	first, second := make(chan error, 1), make(chan error, 1)
	go func() { first <- write("sess-1", held, release) }()
	<-held
	go func() { second <- write("sess-2", nil, nil) }()
	awaitWaiters(t, db, 1, second)
	close(release)
	if err := <-first; err != nil {
		t.Errorf("first write: %v", err)
	}
	if err := <-second; err != nil {
		t.Errorf("second write: %v", err)
	}
}

// TestHoldSessionLocksAccountFirst: on PostgreSQL, HoldSession's one
// statement holds the account's row before the session's, the order in
// which signing out everywhere, a suspension and a deletion take them:
// while it waits for the session's row, which a sign-out holds, the
// account's is held already, as an UPDATE of it would hold it, and still
// lets a foreign key to it in.
func TestHoldSessionLocksAccountFirst(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ctx := t.Context()
	s, db, a := postgresWithAlice(t, t0)
	if err := s.CreateSession(ctx, twofold.Session{ID: "sess-1", AccountID: a.ID, TokenHash: []byte("h1"), CreatedAt: t0, ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	signOut, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer signOut.Rollback()
	if _, err := signOut.ExecContext(ctx, `SELECT id FROM sessions WHERE id = 'sess-1' FOR UPDATE`); err != nil { // as endSession does
		t.Fatal(err)
	}
	holdDone := make(chan error, 1)
	go func() {
		holdDone <- s.InTx(ctx, func(ctx context.Context) error {
			_, _, err := s.HoldSession(ctx, a.ID, "sess-1", t0)
			return err
		})
	}()
	awaitWaiters(t, db, 1, holdDone)
	for _, lock := range []string{"FOR NO KEY UPDATE", "FOR SHARE"} {
		_, err := db.ExecContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 `+lock+` NOWAIT`, a.ID)
		if !lockNotAvailable(err) {
			t.Errorf("account locked %s while HoldSession waits for the session: got %v, want it refused (55P03)", lock, err)
		}
	}
	// A foreign key to the account (a row made for it) does not wait.
	if _, err := db.ExecContext(ctx, `SELECT 1 FROM accounts WHERE id = $1 FOR KEY SHARE NOWAIT`, a.ID); err != nil {
		t.Errorf("account's key shared while HoldSession waits for the session: got %v, want it granted", err)
	}
	if err := signOut.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-holdDone; err != nil {
		t.Fatalf("HoldSession: %v", err)
	}
}

// awaitWaiters returns once n connections to the database of db wait for
// a lock, failing the test should done deliver first: what should have
// waited did not.
func awaitWaiters(t *testing.T, db *sql.DB, n int, done <-chan error) {
	t.Helper()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for waiting := 0; waiting < n; {
		select {
		case err := <-done:
			t.Fatalf("done without waiting for the held session (%v)", err)
		case <-tick.C:
			if err := db.QueryRowContext(t.Context(), `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&waiting); err != nil {
				t.Fatal(err)
			}
		}
	}
}
