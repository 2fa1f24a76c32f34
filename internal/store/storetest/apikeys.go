package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func apiKey(tb testing.TB, s *store.Store, accountID, id, parent string) twofold.APIKey {
	tb.Helper()
	k := twofold.APIKey{ID: id, AccountID: accountID, Name: "script " + id, SecretHash: []byte("hash-" + id), ParentID: parent,
		Permits: []twofold.Permit{
			{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}},
			{Service: "keys", Resource: "*", Actions: []string{"read", "write"}},
		},
		CreatedAt: t0, ExpiresAt: t0.Add(24 * time.Hour)}
	if err := s.CreateAPIKey(tb.Context(), k); err != nil {
		tb.Fatalf("CreateAPIKey %s: %v", id, err)
	}
	return k
}

func testAPIKeyRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	want := apiKey(t, s, a.ID, "k1", "")
	forever := twofold.APIKey{ID: "k2", AccountID: a.ID, Name: "forever", SecretHash: []byte("h2"),
		Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}, CreatedAt: t0.Add(time.Second),
		SecondFactor: true}
	if err := s.CreateAPIKey(ctx, forever); err != nil {
		t.Fatal(err)
	}
	apiKey(t, s, b.ID, "k3", "")

	got, err := s.APIKey(ctx, "k1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("APIKey (-want +got):\n%s", diff)
	}
	list, err := s.APIKeys(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twofold.APIKey{want, forever}, list); diff != "" {
		t.Errorf("APIKeys (-want +got):\n%s", diff)
	}
	if list[1].Expired(t0.Add(100 * 365 * 24 * time.Hour)) {
		t.Error("a key without expiry expired")
	}
	_, err = s.APIKey(ctx, "nope")
	wantCode(t, "APIKey of an unknown id", err, twofold.CodeNotFound)
	dup := want
	if err := s.CreateAPIKey(ctx, dup); err == nil {
		t.Error("CreateAPIKey with an id in use: got nil error")
	}
}

func testAPIKeyRevokeTakesItsKeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	apiKey(t, s, a.ID, "parent", "")
	apiKey(t, s, a.ID, "child", "parent")
	apiKey(t, s, a.ID, "grandchild", "child")
	apiKey(t, s, a.ID, "other", "")
	if err := s.CreateAPIToken(ctx, twofold.APIToken{ID: "t1", KeyID: "grandchild", TokenHash: []byte("x"), ExpiresAt: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}

	if ok, err := s.DeleteAPIKey(ctx, b.ID, "parent"); err != nil || ok {
		t.Fatalf("DeleteAPIKey by another account: got %v, %v; want false", ok, err)
	}
	if ok, err := s.DeleteAPIKey(ctx, a.ID, "parent"); err != nil || !ok {
		t.Fatalf("DeleteAPIKey: got %v, %v; want true", ok, err)
	}
	list, err := s.APIKeys(ctx, a.ID)
	if err != nil || len(list) != 1 || list[0].ID != "other" {
		t.Fatalf("APIKeys after revoking the parent: got %v, %v; want only other", list, err)
	}
	_, err = s.APIToken(ctx, "t1", t0)
	wantCode(t, "APIToken of a revoked key's child", err, twofold.CodeNotFound)
	if ok, err := s.DeleteAPIKey(ctx, a.ID, "parent"); err != nil || ok {
		t.Fatalf("DeleteAPIKey again: got %v, %v; want false", ok, err)
	}
}

func testAPIKeyTouch(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	apiKey(t, s, a.ID, "k1", "")
	for _, tt := range []struct {
		at   time.Time
		want bool
	}{
		{t0.Add(time.Minute), true},
		{t0.Add(time.Minute + 59*time.Second), false},
		{t0.Add(2 * time.Minute), true},
	} {
		wrote, err := s.TouchAPIKey(ctx, "k1", tt.at, time.Minute)
		if err != nil || wrote != tt.want {
			t.Fatalf("TouchAPIKey at %v: got %v, %v; want %v", tt.at, wrote, err, tt.want)
		}
	}
	k, err := s.APIKey(ctx, "k1")
	if err != nil || !k.LastUsedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("LastUsedAt: got %v, %v; want %v", k.LastUsedAt, err, t0.Add(2*time.Minute))
	}
}

func testAPITokens(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	apiKey(t, s, a.ID, "k1", "")
	want := twofold.APIToken{ID: "t1", KeyID: "k1", TokenHash: []byte("hash"), ExpiresAt: t0.Add(time.Hour)}
	if err := s.CreateAPIToken(ctx, want); err != nil {
		t.Fatal(err)
	}
	got, err := s.APIToken(ctx, "t1", t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("APIToken (-want +got):\n%s", diff)
	}
	_, err = s.APIToken(ctx, "t1", t0.Add(time.Hour))
	wantCode(t, "APIToken at its expiry", err, twofold.CodeNotFound)
	if err := s.DeleteExpired(ctx, t0.Add(2*time.Hour), ""); err != nil {
		t.Fatal(err)
	}
	_, err = s.APIToken(ctx, "t1", t0)
	wantCode(t, "APIToken after DeleteExpired", err, twofold.CodeNotFound)
}

// testAPIKeyMakerGone: a key made by a key deleted meanwhile, and a token
// of a key deleted meanwhile, are not-found (the maker was revoked while
// it was used), not a failure of the database; nothing is stored.
func testAPIKeyMakerGone(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	apiKey(t, s, a.ID, "maker", "")
	if ok, err := s.DeleteAPIKey(ctx, a.ID, "maker"); err != nil || !ok {
		t.Fatalf("DeleteAPIKey: got %v, %v", ok, err)
	}
	child := twofold.APIKey{ID: "child", AccountID: a.ID, ParentID: "maker", Name: "child", SecretHash: []byte("h"), CreatedAt: t0}
	wantCode(t, "CreateAPIKey made by a deleted key", s.CreateAPIKey(ctx, child), twofold.CodeNotFound)
	err := s.CreateAPIToken(ctx, twofold.APIToken{ID: "t1", KeyID: "maker", TokenHash: []byte("x"), ExpiresAt: t0.Add(time.Hour)})
	wantCode(t, "CreateAPIToken of a deleted key", err, twofold.CodeNotFound)
	if keys, err := s.APIKeys(ctx, a.ID); err != nil || len(keys) != 0 {
		t.Errorf("APIKeys: got %v, %v; want none", keys, err)
	}
	_, err = s.APIToken(ctx, "t1", t0)
	wantCode(t, "APIToken of a deleted key", err, twofold.CodeNotFound)
}

// testLocksNeedATransaction: LockAccount and LockWebhooks, which hold
// something until a transaction ends, refuse to run outside one, where
// they would hold nothing; inside one they succeed, and LockAccount
// of a closed account is not found.
func testLocksNeedATransaction(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	if err := s.LockAccount(ctx, a.ID); err == nil {
		t.Error("LockAccount outside a transaction: got nil error")
	}
	if err := s.LockWebhooks(ctx); err == nil {
		t.Error("LockWebhooks outside a transaction: got nil error")
	}
	err := s.InTx(ctx, func(ctx context.Context) error {
		if err := s.LockAccount(ctx, a.ID); err != nil {
			return err
		}
		return s.LockWebhooks(ctx)
	})
	if err != nil {
		t.Errorf("locks inside a transaction: %v", err)
	}
	// An account closed before is not found: nothing is held for it.
	if err := s.DeleteAccount(ctx, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "LockAccount of a closed account", s.InTx(ctx, func(ctx context.Context) error { return s.LockAccount(ctx, a.ID) }), twofold.CodeNotFound)
}

// testHoldAPIKey: HoldAPIKey returns, held either way, the key as APIKey
// does and its account as AccountByID does (a suspended one too, for the
// caller to refuse); a key of another account, or none, is not-found.
func testHoldAPIKey(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	apiKey(t, s, a.ID, "k1", "")
	apiKey(t, s, a.ID, "k2", "k1")
	apiKey(t, s, b.ID, "k3", "")
	if _, err := s.SetSuspended(ctx, a.ID, true); err != nil {
		t.Fatal(err)
	}
	wantAccount, err := s.AccountByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	wantKey, err := s.APIKey(ctx, "k2")
	if err != nil {
		t.Fatal(err)
	}
	for _, accountWrite := range []bool{false, true} {
		hold := func(accountID, id string) (k twofold.APIKey, acc twofold.Account, err error) {
			err = s.InTx(ctx, func(ctx context.Context) error {
				k, acc, err = s.HoldAPIKey(ctx, accountID, id, accountWrite)
				return err
			})
			return k, acc, err
		}
		k, acc, err := hold(a.ID, "k2")
		if err != nil {
			t.Fatalf("HoldAPIKey(accountWrite %v): %v", accountWrite, err)
		}
		if diff := cmp.Diff(wantKey, k); diff != "" {
			t.Errorf("HoldAPIKey(accountWrite %v) key (-want +got):\n%s", accountWrite, diff)
		}
		if diff := cmp.Diff(wantAccount, acc); diff != "" {
			t.Errorf("HoldAPIKey(accountWrite %v) account (-want +got):\n%s", accountWrite, diff)
		}
		if !acc.Suspended {
			t.Errorf("HoldAPIKey(accountWrite %v): got an account not suspended, want it suspended", accountWrite)
		}
		_, _, err = hold(a.ID, "k3")
		wantCode(t, "HoldAPIKey of another account's key", err, twofold.CodeNotFound)
		_, _, err = hold(b.ID, "k1")
		wantCode(t, "HoldAPIKey of a key for another account", err, twofold.CodeNotFound)
		_, _, err = hold(a.ID, "nope")
		wantCode(t, "HoldAPIKey of an unknown key", err, twofold.CodeNotFound)
		_, _, err = hold("acct-nobody", "k1")
		wantCode(t, "HoldAPIKey of an unknown account", err, twofold.CodeNotFound)
	}
}
