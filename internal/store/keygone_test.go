package store_test

import (
	"context"
	"database/sql"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSealedUnderDeletedKey: a webhook secret or a code mail sealed under a
// data key that a rotation has deleted meanwhile is not stored, and the
// error is keyring.ErrKeyGone (as for factors and tokens), so that the
// caller seals it again under the current key. Values under stored keys,
// and mail sealed under none, are stored as before.
func TestSealedUnderDeletedKey(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ensureKeys(t, s, "key-a")
		hook := func(id, keyID string) twofold.Webhook {
			return twofold.Webhook{ID: id, URL: "https://example.com/" + id, CreatedAt: keysT0, CreatedBy: "op",
				SecretKeyID: keyID, SealedSecret: []byte("sealed " + id), URLKeyID: keyID, SealedURL: []byte("sealed url")}
		}
		if err := s.CreateWebhook(ctx, hook("wh-gone", "key-gone")); !errors.Is(err, keyring.ErrKeyGone) {
			t.Fatalf("CreateWebhook under a deleted key: got %v, want ErrKeyGone", err)
		}
		if _, err := s.Webhook(ctx, "wh-gone"); twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Fatalf("Webhook after a refused create: got %v, want not-found", err)
		}
		if err := s.CreateWebhook(ctx, hook("wh-1", "key-a")); err != nil {
			t.Fatalf("CreateWebhook: %v", err)
		}

		until := keysT0.Add(time.Hour)
		tests := []struct {
			name             string
			keyID, prevKeyID string
			prevUntil        time.Time
		}{
			{"NewSecretKeyGone", "key-gone", "", time.Time{}},
			{"PreviousSecretKeyGone", "key-a", "key-gone", until},
		}
		for _, tt := range tests {
			ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-a", []byte("sealed wh-1"), tt.keyID, []byte("new"), tt.prevKeyID, []byte("prev"), tt.prevUntil)
			if ok || !errors.Is(err, keyring.ErrKeyGone) {
				t.Errorf("%s: SetWebhookSecret = %v, %v; want ErrKeyGone", tt.name, ok, err)
			}
		}
		if w, err := s.Webhook(ctx, "wh-1"); err != nil || w.SecretKeyID != "key-a" || string(w.SealedSecret) != "sealed wh-1" || w.PreviousSecretKeyID != "" {
			t.Fatalf("after refused secret changes: got %s %q, previous %q, %v; want unchanged", w.SecretKeyID, w.SealedSecret, w.PreviousSecretKeyID, err)
		}
		if ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-a", []byte("stale"), "key-a", []byte("new"), "", nil, time.Time{}); ok || err != nil {
			t.Errorf("SetWebhookSecret from a stale value: got %v, %v; want false, nil", ok, err)
		}
		if ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-a", []byte("sealed wh-1"), "key-a", []byte("new"), "key-a", []byte("prev"), until); !ok || err != nil {
			t.Errorf("SetWebhookSecret: got %v, %v; want true", ok, err)
		}

		mail := store.Mail{To: "u@example.com", Subject: "code", CreatedAt: keysT0, BodyKeyID: "key-gone", SealRef: "ref-1",
			SealedBody: []byte("sealed body"), DiscardAt: keysT0.Add(time.Hour)}
		if _, err := s.EnqueueMail(ctx, mail); !errors.Is(err, keyring.ErrKeyGone) {
			t.Fatalf("EnqueueMail sealed under a deleted key: got %v, want ErrKeyGone", err)
		}
		if m, ok, err := s.ClaimMail(ctx, keysT0, keysT0.Add(time.Minute)); ok || err != nil {
			t.Fatalf("ClaimMail after a refused enqueue: got %+v, %v, %v; want none", m, ok, err)
		}
		mail.BodyKeyID = "key-a"
		if _, err := s.EnqueueMail(ctx, mail); err != nil {
			t.Fatalf("EnqueueMail sealed: %v", err)
		}
		if _, err := s.EnqueueMail(ctx, store.Mail{To: "u@example.com", Subject: "hello", Body: "plain", CreatedAt: keysT0}); err != nil {
			t.Fatalf("EnqueueMail unsealed: %v", err)
		}
	})
}

// TestDeleteDataKeyWaitsForSealed: a rotation's DeleteDataKey that runs
// while a webhook secret or a mail sealed under the key is being stored, in
// a transaction not yet committed, waits for it and then keeps the key
// (and, on PostgreSQL, without error): the value is never left under a
// deleted key. On PostgreSQL the test waits until DeleteDataKey is
// blocked on a lock before committing; on SQLite, whose one writer orders
// the two, the order is the same.
func TestDeleteDataKeyWaitsForSealed(t *testing.T) {
	tests := []struct {
		name  string
		store func(ctx context.Context, s *store.Store) error
	}{
		{"Webhook", func(ctx context.Context, s *store.Store) error {
			return s.CreateWebhook(ctx, twofold.Webhook{ID: "wh-1", URL: "https://example.com/h", CreatedAt: keysT0, CreatedBy: "op",
				SecretKeyID: "key-b", SealedSecret: []byte("sealed"), URLKeyID: "key-b", SealedURL: []byte("sealed url")})
		}},
		{"Mail", func(ctx context.Context, s *store.Store) error {
			_, err := s.EnqueueMail(ctx, store.Mail{To: "u@example.com", Subject: "code", CreatedAt: keysT0, BodyKeyID: "key-b",
				SealRef: "ref-1", SealedBody: []byte("sealed"), DiscardAt: keysT0.Add(time.Hour)})
			return err
		}},
	}
	for name, dsn := range testenv.DSNs(t) {
		for _, tt := range tests {
			t.Run(name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				d := dsn(t)
				s := open(t, d)
				ctx := t.Context()
				ensureKeys(t, s, "key-a", "key-b")
				var (
					wg      sync.WaitGroup
					deleted bool
					delErr  error
					done    = make(chan struct{})
				)
				err := s.InTx(ctx, func(ctx context.Context) error {
					if err := tt.store(ctx, s); err != nil {
						return err
					}
					wg.Go(func() {
						defer close(done)
						deleted, delErr = s.DeleteDataKey(t.Context(), "key-b")
					})
					if s.Dialect() == store.Postgres {
						waitForLockWait(t, d, done)
					}
					return nil
				})
				if err != nil {
					t.Fatalf("store under key-b: %v", err)
				}
				wg.Wait()
				if deleted || delErr != nil {
					t.Fatalf("DeleteDataKey of a key a value was being stored under: got %v, %v; want false, nil", deleted, delErr)
				}
				keys, err := s.DataKeys(ctx)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 2 {
					t.Errorf("data keys after the race: got %d, want key-a and key-b", len(keys))
				}
			})
		}
	}
}

// waitForLockWait returns once a session of the PostgreSQL database dsn
// waits for a lock, or done is closed (the statement that should have
// waited did not), failing the test after a minute.
func waitForLockWait(tb testing.TB, dsn string, done <-chan struct{}) {
	tb.Helper()
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		tb.Fatal(err)
	}
	defer db.Close()
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(time.Minute)
	for {
		var n int
		err := db.QueryRowContext(tb.Context(), `SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n)
		if err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			return
		}
		select {
		case <-done:
			return
		case <-deadline:
			tb.Fatal("no session waits for a lock after a minute")
		case <-tick.C:
		}
	}
}

// TestAddFirstDataKeyRace: of instances starting together on a new
// database, each with its own master key, exactly one stores the first
// data key (SQLite: several handles on one file, as several processes).
func TestAddFirstDataKeyRace(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for round := range 5 {
				d := dsn(t)
				const n = 8
				stores := make([]*store.Store, n)
				for i := range stores {
					stores[i] = open(t, d)
				}
				var (
					wg    sync.WaitGroup
					mu    sync.Mutex
					wins  int
					start = make(chan struct{})
				)
				for i, s := range stores {
					wg.Go(func() {
						<-start
						ok, err := s.AddFirstDataKey(t.Context(), keyring.WrappedKey{ID: "key-" + string(rune('a'+i)),
							MasterID: "master-" + string(rune('a'+i)), Wrapped: []byte{byte(i)}, Created: keysT0})
						if err != nil {
							t.Errorf("AddFirstDataKey: %v", err)
						}
						mu.Lock()
						defer mu.Unlock()
						if ok {
							wins++
						}
					})
				}
				close(start)
				wg.Wait()
				keys, err := stores[0].DataKeys(t.Context())
				if err != nil {
					t.Fatal(err)
				}
				if wins != 1 || len(keys) != 1 {
					t.Fatalf("round %d: %d of %d instances stored a first data key, and %d are stored; want 1 and 1", round, wins, n, len(keys))
				}
				if ok, err := stores[0].AddFirstDataKey(t.Context(), keyring.WrappedKey{ID: "key-late", MasterID: "master-a", Wrapped: []byte{1}, Created: keysT0}); ok || err != nil {
					t.Fatalf("AddFirstDataKey with a key stored: got %v, %v; want false", ok, err)
				}
			}
		})
	}
}

// TestImportTokensUnderDeletedKeyInTx: hardware tokens sealed under a data
// key that a rotation has deleted meanwhile, imported inside a caller's
// transaction (as an operator's import is, its session checked first),
// are refused with keyring.ErrKeyGone without a failed statement, so that
// the transaction goes on: sealed again under a stored key, the import in
// it is stored. On both stores.
func TestImportTokensUnderDeletedKeyInTx(t *testing.T) {
	eachDialect(t, func(t *testing.T, s *store.Store) {
		ctx := t.Context()
		ensureKeys(t, s, "key-a")
		token := func(keyID string) twofold.HardwareToken {
			return twofold.HardwareToken{Serial: "YK-1", Type: twofold.FactorHOTP, Algorithm: "SHA1", Digits: 6, ImportedAt: keysT0,
				SecretKeyID: keyID, SealedSecret: []byte("sealed under " + keyID), SecretDigest: []byte("digest")}
		}
		err := s.InTx(ctx, func(ctx context.Context) error {
			if err := s.ImportTokens(ctx, []twofold.HardwareToken{token("key-gone")}); !errors.Is(err, keyring.ErrKeyGone) {
				t.Errorf("ImportTokens under a deleted key: got %v, want ErrKeyGone", err)
			}
			return s.ImportTokens(ctx, []twofold.HardwareToken{token("key-a")})
		})
		if err != nil {
			t.Fatalf("the import sealed again, in the same transaction: %v", err)
		}
		if got, err := s.HardwareToken(ctx, "YK-1"); err != nil || got.SecretKeyID != "key-a" {
			t.Errorf("HardwareToken: got %s, %v; want the one under key-a", got.SecretKeyID, err)
		}
	})
}
