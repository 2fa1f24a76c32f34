package core_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// beforeTxStore is a real store that runs hook, once armed, before the
// next transaction begins: after the service checked a request's caller
// and read what the request changes, before it writes.
type beforeTxStore struct {
	*store.Store
	armedHook
}

func (s *beforeTxStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	s.trip()
	return s.Store.InTx(ctx, fn)
}

// TestDNSWriteOfKeyRevokedMeanwhile: a DNS write by an API key that is
// revoked after the key was checked, before the write, writes nothing and
// is answered as a revoked key is (SPEC §1 story 6): once the revocation
// is answered, no record the key sends lands, on either store.
func TestDNSWriteOfKeyRevokedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &beforeTxStore{Store: st.Store}
			svc := newService(t, rs, st, nil, nil)
			owner := signedIn(t, svc, "ada")
			if _, err := svc.AddZone(ctx, "example.com", "ada", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			set := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
			for _, tt := range []struct {
				name  string
				write func(a core.Auth) error
			}{
				{"add", func(a core.Auth) error {
					_, err := svc.AddDNSRecords(ctx, a, set, []core.RecordInput{{TTL: 300, Data: "late"}}, core.Meta{})
					return err
				}},
				{"replace", func(a core.Auth) error {
					_, err := svc.ReplaceDNSRecords(ctx, a, set, []core.RecordInput{{TTL: 300, Data: "late"}}, core.Meta{})
					return err
				}},
				{"delete", func(a core.Auth) error {
					_, err := svc.DeleteDNSRecords(ctx, a, set, "", core.Meta{})
					return err
				}},
			} {
				t.Run(tt.name, func(t *testing.T) {
					if _, err := svc.ReplaceDNSRecords(ctx, owner, set, []core.RecordInput{{TTL: 300, Data: "kept"}}, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					k, secret, err := svc.CreateAPIKey(ctx, owner, core.NewAPIKey{Name: "acme " + tt.name,
						Permits: []twofold.Permit{{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}}}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					a, err := svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					rs.hook = func() {
						if err := svc.RevokeAPIKey(ctx, owner, k.ID, core.Meta{}); err != nil {
							t.Errorf("revoke: %v", err)
						}
					}
					rs.armed.Store(true)
					err = tt.write(a)
					if rs.armed.Load() {
						t.Fatal("the key was not revoked before the write")
					}
					if got := twofold.ErrorCode(err); got != twofold.CodeUnauthorized {
						t.Errorf("write by the key revoked meanwhile: got %v (%v), want %s", got, err, twofold.CodeUnauthorized)
					}
					recs, err := svc.DNSRecords(ctx, owner, set, "", core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if len(recs) != 1 || recs[0].Data != `"kept"` {
						t.Errorf("records after the write of a revoked key: got %v, want the one kept", recs)
					}
				})
			}
		})
	}
}
