package core_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestDNSWriteOfKeyRevokedMeanwhile: a DNS write by an API key that is
// revoked after the key was checked, before the write (revokingStore), writes nothing and
// is answered as a revoked key is (SPEC §1 story 6): once the revocation
// is answered, no record the key sends lands, on either store.
func TestDNSWriteOfKeyRevokedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			st := openStore(t, dsn(t))
			rs := &revokingStore{Store: st.Store}
			rs.armed.Store("")
			svc := newService(t, rs, st, time.Now, nil)
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
					_, err := svc.AddDNSRecords(core.WithCaller(ctx, a), a, set, []core.RecordInput{{TTL: 300, Data: "late"}}, core.Meta{})
					return err
				}},
				{"replace", func(a core.Auth) error {
					_, err := svc.ReplaceDNSRecords(core.WithCaller(ctx, a), a, set, []core.RecordInput{{TTL: 300, Data: "late"}}, core.Meta{})
					return err
				}},
				{"delete", func(a core.Auth) error {
					_, err := svc.DeleteDNSRecords(core.WithCaller(ctx, a), a, set, "", core.Meta{})
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
					rs.accountID, rs.revoke = owner.Account.ID, k.ID
					rs.armed.Store("InTx")
					err = tt.write(a)
					if rs.armed.Load() != "" {
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
