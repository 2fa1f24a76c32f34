package core_test

import (
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

// holderEvents returns a's events of type typ, newest first, as the holder
// reads them.
func holderEvents(t *testing.T, svc *core.Service, a core.Auth, typ string) []twofold.AuditEvent {
	t.Helper()
	evs, err := svc.Events(t.Context(), a, twofold.EventQuery{Types: []string{typ}, Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	return evs
}

// TestEventsNameTheirSubject: an event about one of the account's several
// API keys or authenticators says which one, even once it is gone: an API
// key's use and its token's revocation by the key's name and id, a removed
// authenticator by its label and type. No secret is in them. On SQLite and
// PostgreSQL.
func TestEventsNameTheirSubject(t *testing.T) {
	for store, dsn := range testenv.DSNs(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			svc := newService(t, db.Store, db, time.Now, nil)
			a := signedIn(t, svc, "ada")
			e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: "Old tablet"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if err := svc.DeleteFactor(ctx, a, e.Factor.ID, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			removed := holderEvents(t, svc, a, "factor.removed")
			if len(removed) != 1 {
				t.Fatalf("%d factor.removed events, want 1", len(removed))
			}
			sub, ok := core.SubjectOf(removed[0])
			if want := (core.EventSubject{Kind: "totp", Name: "Old tablet", ID: e.Factor.ID}); !ok || sub != want {
				t.Errorf("the removal's subject: got %+v (%v), want %+v; detail %q", sub, ok, want, removed[0].Detail)
			}
			if strings.Contains(removed[0].Detail, e.Secret) {
				t.Error("the removal's detail holds the factor's secret")
			}

			k, secret, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "deploy",
				Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := svc.AuthenticateAPIKey(ctx, k.ID, "wrong", core.Meta{}); err == nil {
				t.Fatal("a wrong secret was taken")
			}
			for typ, cause := range map[string]string{"api_key.used": "", "api_key.created": "", "api_key.refused": "wrong secret"} {
				evs := holderEvents(t, svc, a, typ)
				if len(evs) != 1 {
					t.Fatalf("%d %s events, want 1", len(evs), typ)
				}
				sub, ok := core.SubjectOf(evs[0])
				if want := (core.EventSubject{Kind: "api_key", Name: "deploy", ID: k.ID, Cause: cause}); !ok || sub != want {
					t.Errorf("%s: subject %+v (%v), want %+v", typ, sub, ok, want)
				}
				if strings.Contains(evs[0].Detail, secret) {
					t.Errorf("%s holds the key's secret", typ)
				}
			}
		})
	}
}

// TestSubjectOfOldDetails: a factor's removal recorded before its label
// was has a subject of its type alone; details not as core writes them
// have none.
func TestSubjectOfOldDetails(t *testing.T) {
	for _, tc := range []struct {
		name string
		e    twofold.AuditEvent
		want core.EventSubject
		ok   bool
	}{
		{"old removal", twofold.AuditEvent{Type: "factor.removed", Detail: "sms f1; last factor, two-factor is off"}, core.EventSubject{Kind: "sms", ID: "f1"}, true},
		{"removal", twofold.AuditEvent{Type: "factor.removed", Detail: `hotp f2 "fob; x"; setup started in another session`}, core.EventSubject{Kind: "hotp", ID: "f2", Name: "fob; x"}, true},
		{"passkey added", twofold.AuditEvent{Type: "factor.confirmed", Detail: "webauthn passkey f3"}, core.EventSubject{Kind: "webauthn", ID: "f3"}, true},
		{"ssh key", twofold.AuditEvent{Type: "ssh_key.used", Detail: "SHA256:abc k1 for login"}, core.EventSubject{Kind: "ssh_key", Name: "SHA256:abc"}, true},
		{"refused by permits", twofold.AuditEvent{Type: "api_key.refused", Detail: `key k1 "ci": not permitted to GET /v1/me (no)`}, core.EventSubject{Kind: "api_key", ID: "k1", Name: "ci", Cause: "not permitted to GET /v1/me (no)"}, true},
		{"not a key's", twofold.AuditEvent{Type: "api_key.used", Detail: "something else"}, core.EventSubject{}, false},
		{"no subject", twofold.AuditEvent{Type: "login.succeeded", Detail: `key k1 "ci"`}, core.EventSubject{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := core.SubjectOf(tc.e)
			if got != tc.want || ok != tc.ok {
				t.Errorf("got %+v %v, want %+v %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

// TestKeyRefusedByPermitsRationed: a key refused by its permits is in its
// owner's events, naming the key and what it was refused, at most once a
// minute per route and a few a minute per key, however often a script
// loops on refused calls. On SQLite and PostgreSQL.
func TestKeyRefusedByPermitsRationed(t *testing.T) {
	for store, dsn := range testenv.DSNs(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			clock := testenv.NewClock(time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC))
			db := openStore(t, dsn(t))
			svc := newService(t, db.Store, db, clock.Now, nil)
			a := signedIn(t, svc, "ada")
			k, secret, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "deploy",
				Permits: []twofold.Permit{{Service: "account", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ka, err := svc.AuthenticateAPIKey(ctx, k.ID, secret, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			for range 10 {
				svc.RefuseKeyPermits(ctx, ka, "POST /v1/me/api-keys", "this API key may not make keys", core.Meta{Source: "192.0.2.1"})
			}
			refused := holderEvents(t, svc, a, "api_key.refused")
			if len(refused) != 1 {
				t.Fatalf("10 refusals of one route: %d events, want 1", len(refused))
			}
			if want := `key ` + k.ID + ` "deploy": not permitted to POST /v1/me/api-keys (this API key may not make keys)`; refused[0].Detail != want {
				t.Errorf("detail %q, want %q", refused[0].Detail, want)
			}
			for _, route := range []string{"GET /v1/admin/users", "GET /v1/teams", "DELETE /v1/me/api-keys/{id}", "GET /v1/webhooks"} {
				svc.RefuseKeyPermits(ctx, ka, route, "no", core.Meta{})
			}
			if n := len(holderEvents(t, svc, a, "api_key.refused")); n != 3 {
				t.Errorf("refusals of 5 routes in a minute: %d events, want 3 (the key's limit)", n)
			}
			clock.Add(time.Minute)
			svc.RefuseKeyPermits(ctx, ka, "POST /v1/me/api-keys", "no", core.Meta{})
			if n := len(holderEvents(t, svc, a, "api_key.refused")); n != 4 {
				t.Errorf("a minute later: %d events, want 4", n)
			}
			svc.RefuseKeyPermits(ctx, a, "POST /v1/me/api-keys", "no", core.Meta{}) // a person: no key to blame
			if n := len(holderEvents(t, svc, a, "api_key.refused")); n != 4 {
				t.Errorf("a person's refusal recorded as a key's: %d events", n)
			}
		})
	}
}

// TestConfirmingFactorElevates: confirming the account's first factor with
// its code is a fresh second-factor check: the session that confirmed it
// is elevated (SPEC §3.1), and the sensitive change that follows asks for
// no code again. On SQLite and PostgreSQL.
func TestConfirmingFactorElevates(t *testing.T) {
	for store, dsn := range testenv.DSNs(t) {
		t.Run(store, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db := openStore(t, dsn(t))
			svc := newService(t, db.Store, db, time.Now, nil)
			signedIn(t, svc, "ada")
			res, err := svc.Login(ctx, "ada", testPassword, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := svc.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			e, err := svc.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorHOTP, Label: "fob"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			secret, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(strings.ToUpper(e.Secret))
			if err != nil {
				t.Fatal(err)
			}
			c, err := svc.ConfirmFactor(ctx, a, e.Factor.ID, otp.HOTP(secret, 0, otp.SHA1, 6), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if len(c.RecoveryCodes) == 0 {
				t.Fatal("the first factor came without recovery codes")
			}
			if !c.ElevatedUntil.After(time.Now().Add(5 * time.Minute)) {
				t.Errorf("the confirmation says the session is elevated until %v", c.ElevatedUntil)
			}
			after, err := svc.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			if !after.Elevated(time.Now()) {
				t.Fatal("the session that confirmed the first factor is not elevated")
			}
			if _, err := svc.RegenerateRecoveryCodes(ctx, after, core.Meta{}); err != nil {
				t.Errorf("new recovery codes right after the first factor: %v", err)
			}
		})
	}
}
