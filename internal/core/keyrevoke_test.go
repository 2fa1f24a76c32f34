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

// revokingStore, once armed, deletes API key revoke of account accountID in
// a transaction of its own just before the next write it names ("InTx" or
// "CreateAPIToken") runs: the owner revoking the key after a request made
// with it was authenticated, and before the request stored what it made.
type revokingStore struct {
	*store.Store
	armed     atomic.Value // string: the write to go before, or ""
	accountID string
	revoke    string
}

func (s *revokingStore) before(ctx context.Context, write string) error {
	if !s.armed.CompareAndSwap(write, "") {
		return nil
	}
	if ok, err := s.Store.DeleteAPIKey(ctx, s.accountID, s.revoke); err != nil || !ok {
		return twofold.Errorf(twofold.CodeInternal, "fixture: revoke key %s: %v, %v", s.revoke, ok, err)
	}
	return nil
}

func (s *revokingStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	if err := s.before(ctx, "InTx"); err != nil {
		return err
	}
	return s.Store.InTx(ctx, fn)
}

func (s *revokingStore) CreateAPIToken(ctx context.Context, t twofold.APIToken) error {
	if err := s.before(ctx, "CreateAPIToken"); err != nil {
		return err
	}
	return s.Store.CreateAPIToken(ctx, t)
}

// TestKeyRevokedWhileUsed: a key revoked while a request made with it runs
// gets, for a token or a key of its own, the answer a revoked key gets
// (unauthorized), not an internal error, and nothing is stored. On SQLite
// and PostgreSQL.
func TestKeyRevokedWhileUsed(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		for _, write := range []string{"CreateAPIToken", "InTx"} {
			t.Run(name+"/"+write, func(t *testing.T) {
				ctx := t.Context()
				db := openStore(t, dsn(t))
				rs := &revokingStore{Store: db.Store}
				rs.armed.Store("")
				svc := newService(t, rs, db, time.Now, nil)
				a := signedIn(t, svc, "ada")
				acme := twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}
				k, secret, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "certbot",
					Permits: []twofold.Permit{acme, {Service: "keys", Resource: "*", Actions: []string{"write"}}}}, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				rs.accountID, rs.revoke = a.Account.ID, k.ID
				if write == "CreateAPIToken" {
					rs.armed.Store(write)
					_, _, err = svc.IssueAPIToken(ctx, k.ID, secret, core.Meta{})
				} else {
					ka, aerr := svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
					if aerr != nil {
						t.Fatal(aerr)
					}
					rs.armed.Store(write)
					_, _, err = svc.CreateAPIKey(ctx, ka, core.NewAPIKey{Name: "child", Permits: []twofold.Permit{acme}}, core.Meta{})
				}
				if got := twofold.ErrorCode(err); got != twofold.CodeUnauthorized {
					t.Errorf("%s with a key revoked meanwhile: got %v (%s), want %s", write, err, got, twofold.CodeUnauthorized)
				}
				if rs.armed.Load() != "" {
					t.Fatal("fixture: the key was not revoked")
				}
				keys, err := db.APIKeys(ctx, a.Account.ID)
				if err != nil {
					t.Fatal(err)
				}
				if len(keys) != 0 {
					t.Errorf("keys left: %v, want none", keys)
				}
			})
		}
	}
}
