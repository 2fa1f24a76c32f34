package core_test

import (
	"context"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestKeyWritesOfKeyEndedMeanwhile: every write an API key can make (keys
// made and revoked with a keys permit, the operator API's writes with
// admin permits, DNS records) whose key is revoked or expires, whose
// account is suspended, or whose owner is no longer an operator, after
// the request was let in and before its write, writes nothing: 401 as a
// revoked key is (403 for the operator no more, whose admin permits grant
// nothing), and no audit event, on either store (SPEC §1 story 6).
func TestKeyWritesOfKeyEndedMeanwhile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			m := newMeddled(t, dsn(t), meddling, true) // a key asks for a reset only of a holder who hears of it
			db, ms, clock, svc := m.db, m.store, m.clock, m.svc
			op := withTOTP(t, svc, clock, signedInAs(t, svc, core.NewAccount{Username: "olga", Email: "olga@example.com", Operator: true}))
			op.Session.ElevatedUntil = clock.Now().AddDate(1, 0, 0) // the clock moves on below
			bob := withTOTP(t, svc, clock, signedIn(t, svc, "bob")) // with two-factor to reset
			bob.Session.ElevatedUntil = op.Session.ElevatedUntil
			if _, err := svc.AddZone(ctx, "example.com", "olga", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			dnsPermit := twofold.Permit{Service: "dns", Resource: "example.com", Actions: []string{"write"}}
			permits := []twofold.Permit{
				{Service: "admin", Resource: "users", Actions: []string{"read", "write"}},
				{Service: "admin", Resource: "resets", Actions: []string{"read", "write"}},
				{Service: "admin", Resource: "webhooks", Actions: []string{"read", "write"}},
				{Service: "admin", Resource: "events", Actions: []string{"read"}}, // a webhook hands out the audit log
				{Service: "keys", Resource: "*", Actions: []string{"read", "write"}},
				dnsPermit,
			}
			n := 0
			unique := func(s string) string { n++; return fmt.Sprintf("%s%d", s, n) }

			enders := []struct {
				name string
				end  func(ctx context.Context, k twofold.APIKey) error
				undo func() error
				want twofold.Code
			}{
				{"revoked", func(ctx context.Context, k twofold.APIKey) error {
					_, err := db.DeleteAPIKey(ctx, op.Account.ID, k.ID)
					return err
				}, nil, twofold.CodeUnauthorized},
				{"expired", func(ctx context.Context, k twofold.APIKey) error {
					clock.Add(2 * time.Hour)
					return nil
				}, nil, twofold.CodeUnauthorized},
				{"suspended", func(ctx context.Context, k twofold.APIKey) error {
					_, err := db.SetSuspended(ctx, op.Account.ID, true)
					return err
				}, func() error {
					_, err := db.SetSuspended(ctx, op.Account.ID, false)
					return err
				}, twofold.CodeUnauthorized},
				{"no longer an operator", func(ctx context.Context, k twofold.APIKey) error {
					_, err := db.SetOperator(ctx, op.Account.ID, false)
					return err
				}, func() error {
					_, err := db.SetOperator(ctx, op.Account.ID, true)
					return err
				}, twofold.CodeForbidden},
			}
			// Each write readies what it needs with the key (or the
			// operator's session) and returns the write to make.
			writes := []struct {
				name  string
				ready func(t *testing.T, ka core.Auth) func() error
			}{
				{"make a key", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						_, _, err := svc.CreateAPIKey(core.WithCaller(ctx, ka), ka, core.NewAPIKey{Name: unique("child"), Permits: []twofold.Permit{dnsPermit}}, core.Meta{})
						return err
					}
				}},
				{"revoke a key", func(t *testing.T, ka core.Auth) func() error {
					child, _, err := svc.CreateAPIKey(core.WithCaller(ctx, ka), ka, core.NewAPIKey{Name: unique("child"), Permits: []twofold.Permit{dnsPermit}}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func() error { return svc.RevokeAPIKey(core.WithCaller(ctx, ka), ka, child.ID, core.Meta{}) }
				}},
				{"create a user", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						u := unique("newuser")
						_, err := svc.CreateAccountFor(core.WithCaller(ctx, ka), ka, core.NewAccount{Username: u, Email: u + "@example.com", Password: testPassword}, core.Meta{})
						return err
					}
				}},
				{"suspend a user", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						_, _, err := svc.SetSuspended(core.WithCaller(ctx, ka), ka, bob.Account.ID, true, core.Meta{})
						return err
					}
				}},
				{"sign a user out", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						_, err := svc.SignOutEverywhereFor(core.WithCaller(ctx, ka), ka, bob.Account.ID, core.Meta{})
						return err
					}
				}},
				{"unlock a user", func(t *testing.T, ka core.Auth) func() error {
					if _, err := svc.Login(ctx, "bob", "not bob's password", core.Meta{}); err == nil {
						t.Fatal("a wrong password passed")
					}
					return func() error {
						_, err := svc.UnlockAccount(core.WithCaller(ctx, ka), ka, bob.Account.ID, core.Meta{})
						return err
					}
				}},
				{"revoke a user's key", func(t *testing.T, ka core.Auth) func() error {
					k, _, err := svc.CreateAPIKey(ctx, bob, core.NewAPIKey{Name: unique("bobs"), Permits: []twofold.Permit{{Service: "dns", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func() error {
						return svc.RevokeAPIKeyFor(core.WithCaller(ctx, ka), ka, bob.Account.ID, k.ID, core.Meta{})
					}
				}},
				{"ask for a reset", func(t *testing.T, ka core.Auth) func() error {
					noReset(t, svc)
					return func() error {
						_, err := svc.RequestTwoFactorReset(core.WithCaller(ctx, ka), ka, bob.Account.ID, core.Meta{})
						return err
					}
				}},
				{"cancel a reset", func(t *testing.T, ka core.Auth) func() error {
					noReset(t, svc)
					if _, err := svc.ResetTwoFactorByName(ctx, "bob", false, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					return func() error {
						return svc.CancelTwoFactorResetFor(core.WithCaller(ctx, ka), ka, bob.Account.ID, core.Meta{})
					}
				}},
				{"turn a webhook on again", func(t *testing.T, ka core.Auth) func() error {
					w, _, err := svc.CreateWebhook(core.WithCaller(ctx, ka), ka, core.NewWebhook{URL: "https://hooks.example.com/" + unique("h")}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					if _, err := db.DisableWebhooksBy(ctx, op.Account.ID, clock.Now(), twofold.WebhookDisabledNotOperator); err != nil {
						t.Fatal(err)
					}
					return func() error {
						_, err := svc.EnableWebhook(core.WithCaller(ctx, ka), ka, w.ID, core.Meta{})
						return err
					}
				}},
				{"add a webhook", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						_, _, err := svc.CreateWebhook(core.WithCaller(ctx, ka), ka, core.NewWebhook{URL: "https://hooks.example.com/" + unique("h")}, core.Meta{})
						return err
					}
				}},
				{"delete a webhook", func(t *testing.T, ka core.Auth) func() error {
					w, _, err := svc.CreateWebhook(core.WithCaller(ctx, ka), ka, core.NewWebhook{URL: "https://hooks.example.com/" + unique("h")}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func() error { return svc.DeleteWebhook(core.WithCaller(ctx, ka), ka, w.ID, core.Meta{}) }
				}},
				{"rotate a webhook's secret", func(t *testing.T, ka core.Auth) func() error {
					w, _, err := svc.CreateWebhook(core.WithCaller(ctx, ka), ka, core.NewWebhook{URL: "https://hooks.example.com/" + unique("h")}, core.Meta{})
					if err != nil {
						t.Fatal(err)
					}
					return func() error {
						_, _, err := svc.RotateWebhookSecret(core.WithCaller(ctx, ka), ka, w.ID, core.Meta{})
						return err
					}
				}},
				{"write DNS records", func(t *testing.T, ka core.Auth) func() error {
					return func() error {
						set := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
						_, err := svc.AddDNSRecords(core.WithCaller(ctx, ka), ka, set, []core.RecordInput{{TTL: 300, Data: unique("late")}}, core.Meta{})
						return err
					}
				}},
			}
			for _, e := range enders {
				for _, w := range writes {
					t.Run(e.name+"/"+w.name, func(t *testing.T) {
						expires := clock.Now().Add(time.Hour)
						k, secret, err := svc.CreateAPIKey(ctx, op, core.NewAPIKey{Name: unique("ops"), Permits: permits, ExpiresAt: &expires}, core.Meta{})
						if err != nil {
							t.Fatal(err)
						}
						ka, err := svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
						if err != nil {
							t.Fatal(err)
						}
						write := w.ready(t, ka)
						before := allEvents(t, db.Store)
						ms.arm(func(ctx context.Context) error { return e.end(ctx, k) })
						defer ms.meddle.Store(nil)
						if e.undo != nil {
							defer func() {
								if err := e.undo(); err != nil {
									t.Fatal(err)
								}
							}()
						}
						err = write()
						if ms.meddle.Load() != nil {
							t.Fatalf("fixture: no transaction to end the key before (%v)", err)
						}
						if got := twofold.ErrorCode(err); got != e.want {
							t.Errorf("%s with a key %s meanwhile: got %s (%v), want %s", w.name, e.name, got, err, e.want)
						}
						if after := allEvents(t, db.Store); after != before {
							t.Errorf("%s with a key %s meanwhile: %d audit events recorded, want none", w.name, e.name, after-before)
						}
					})
				}
			}
		})
	}
}

// noReset cancels the reset of bob's two-factor waiting, if any.
func noReset(t *testing.T, svc *core.Service) {
	t.Helper()
	if _, err := svc.CancelTwoFactorResetByName(t.Context(), "bob", core.Meta{}); err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatal(err)
	}
}

// allEvents counts the audit events of every account.
func allEvents(t *testing.T, st *store.Store) int {
	t.Helper()
	evs, err := st.QueryEvents(t.Context(), twofold.EventQuery{Limit: 100000})
	if err != nil {
		t.Fatal(err)
	}
	return len(evs)
}

// pausingStore is a real store that, once armed, pauses in its next
// CreateAPIKey, inside the transaction that makes the key, until
// released: a key being made while something else happens.
type pausingStore struct {
	*store.Store
	armed   atomic.Bool
	held    chan struct{}
	release chan struct{}
}

func (s *pausingStore) CreateAPIKey(ctx context.Context, k twofold.APIKey) error {
	if s.armed.CompareAndSwap(true, false) {
		close(s.held)
		<-s.release
	}
	return s.Store.CreateAPIKey(ctx, k)
}

// TestKeyMadeWhileMakerRevoked: a key that a key makes while its maker is
// being revoked does not outlive the revocation: the revocation waits for
// the making (on PostgreSQL, for the account's row the making holds; on
// SQLite, for its one writer), then revokes the new key with its maker,
// and counts it in its event (README "API keys": revoking a key revokes
// every key it made). On both stores; on PostgreSQL the test sees the
// revocation wait before it lets the making go on.
func TestKeyMadeWhileMakerRevoked(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			url := dsn(t)
			db := openStore(t, url)
			ps := &pausingStore{Store: db.Store, held: make(chan struct{}), release: make(chan struct{})}
			svc := newService(t, ps, db, time.Now, nil)
			ada := signedIn(t, svc, "ada")
			acme := twofold.Permit{Service: "dns", Resource: "example.com/_acme-challenge/TXT", Actions: []string{"write"}}
			maker, secret, err := svc.CreateAPIKey(ctx, ada, core.NewAPIKey{Name: "certbot",
				Permits: []twofold.Permit{acme, {Service: "keys", Resource: "*", Actions: []string{"write"}}}}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ka, err := svc.AuthenticateAPIKey(ctx, maker.ID, secret, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ps.armed.Store(true)
			made := make(chan error, 1)
			go func() {
				_, _, err := svc.CreateAPIKey(core.WithCaller(ctx, ka), ka, core.NewAPIKey{Name: "child", Permits: []twofold.Permit{acme}}, core.Meta{})
				made <- err
			}()
			<-ps.held
			revoked := make(chan error, 1)
			go func() { revoked <- svc.RevokeAPIKey(ctx, ada, maker.ID, core.Meta{}) }()
			if name == "postgres" {
				testenv.AwaitLockWaiters(t, testenv.OpenDB(t, url), 1, revoked)
			}
			close(ps.release)
			if err := <-made; err != nil {
				t.Fatalf("the key made while its maker was being revoked: %v", err)
			}
			if err := <-revoked; err != nil {
				t.Fatal(err)
			}
			keys, err := db.APIKeys(ctx, ada.Account.ID)
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) != 0 {
				t.Errorf("keys after the maker's revocation: %v, want none", keys)
			}
			evs, err := db.QueryEvents(ctx, twofold.EventQuery{AccountID: ada.Account.ID, Types: []string{"api_key.revoked"}, Limit: 10})
			if err != nil {
				t.Fatal(err)
			}
			if len(evs) != 1 || !strings.HasSuffix(evs[0].Detail, `"certbot" and the 1 key it made`) {
				t.Errorf("api_key.revoked events: %v, want one for certbot and the 1 key it made", evs)
			}
		})
	}
}
