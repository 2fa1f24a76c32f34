package store_test

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMigrationLoginKeys: migration 0064 voids the logins stored before it
// under the ids their clients hold, the sign-ins with a passkey stored so,
// and what was scoped by those logins (sent codes, security-key
// ceremonies, SSH challenges, push requests), and keeps what was scoped by
// sessions; a denied push request stays, counted against push bombing as
// before, under a scope that names no login (README "Security at rest").
func TestMigrationLoginKeys(t *testing.T) {
	t.Parallel()
	t0 := time.Now().UTC().Truncate(time.Second)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			activeSMS(t, s, t0)
			until := t0.Add(5 * time.Minute)
			if err := s.CreateLogin(ctx, twofold.Login{ID: "l1", AccountID: "acct-alice", CreatedAt: t0, ExpiresAt: until}); err != nil {
				t.Fatal(err)
			}
			if err := s.PutPasskeyLogin(ctx, twofold.PasskeyLogin{ID: "p1", Challenge: "c", Session: []byte("{}"), CreatedAt: t0, ExpiresAt: until}); err != nil {
				t.Fatal(err)
			}
			for _, scope := range []string{"login:l1", "elevate:s1"} {
				code := twofold.SentCode{FactorID: "sms-1", AccountID: "acct-alice", Method: twofold.MethodSMS, Scope: scope,
					Hash: []byte(scope), ChecksLeft: 5, CreatedAt: t0, ExpiresAt: until}
				if err := s.PutSentCode(ctx, code); err != nil {
					t.Fatal(err)
				}
				if err := s.PutCeremony(ctx, twofold.Ceremony{Scope: scope, AccountID: "acct-alice", Challenge: scope, Session: []byte("{}"), CreatedAt: t0, ExpiresAt: until}); err != nil {
					t.Fatal(err)
				}
				if err := s.PutSSHChallenge(ctx, twofold.SSHChallenge{Scope: scope, AccountID: "acct-alice", Text: "text " + scope, CreatedAt: t0, ExpiresAt: until}); err != nil {
					t.Fatal(err)
				}
			}
			push := func(id, scope string) {
				t.Helper()
				c := twofold.PushChallenge{ID: id, FactorID: "sms-1", AccountID: "acct-alice", Scope: scope, NumberHash: []byte("n"),
					Status: twofold.PushPending, CreatedAt: t0, ExpiresAt: until}
				if ok, _, err := s.CreatePushChallenge(ctx, c, nil); err != nil || !ok {
					t.Fatalf("push %s: %v, %v", id, ok, err)
				}
			}
			push("push-denied", "login:l0")
			if ok, err := s.AnswerPushChallenge(ctx, "push-denied", "sms-1", twofold.PushDenied, "denied on the device", t0, until); err != nil || !ok {
				t.Fatalf("deny: %v, %v", ok, err)
			}
			push("push-login", "login:l1")
			push("push-elevate", "elevate:s1")
			denials := func() int {
				t.Helper()
				n, err := s.PushDenials(ctx, "acct-alice", t0.Add(-time.Hour))
				if err != nil {
					t.Fatal(err)
				}
				return n
			}
			if n := denials(); n != 1 {
				t.Fatalf("fixture: %d push denials, want 1", n)
			}

			remigrate(t, s, 64)

			if _, err := s.Login(ctx, "l1"); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("login from before: got %v, want it voided", err)
			}
			if _, ok, err := s.TakePasskeyLogin(ctx, "p1", t0); err != nil || ok {
				t.Errorf("passkey sign-in from before: got %v, %v; want it voided", ok, err)
			}
			for scope, want := range map[string]bool{"login:l1": false, "elevate:s1": true} {
				if ok, err := s.UseSentCode(ctx, "sms-1", scope, []byte(scope), t0); err != nil || ok != want {
					t.Errorf("sent code for %s: used %v, %v; want %v", scope, ok, err, want)
				}
				if _, ok, err := s.SSHChallenge(ctx, "acct-alice", scope, t0); err != nil || ok != want {
					t.Errorf("SSH challenge for %s: found %v, %v; want %v", scope, ok, err, want)
				}
				if _, ok, err := s.TakeCeremony(ctx, scope, "acct-alice", scope, t0); err != nil || ok != want {
					t.Errorf("ceremony for %s: taken %v, %v; want %v", scope, ok, err, want)
				}
			}
			if _, err := s.PushChallenge(ctx, "push-login"); twofold.ErrorCode(err) != twofold.CodeNotFound {
				t.Errorf("push request for a login from before: got %v, want it voided", err)
			}
			if c, err := s.PushChallenge(ctx, "push-elevate"); err != nil || c.Scope != "elevate:s1" {
				t.Errorf("push request for an elevation: got %+v, %v; want it kept", c, err)
			}
			c, err := s.PushChallenge(ctx, "push-denied")
			if err != nil || c.Status != twofold.PushDenied || c.Scope == "login:l0" || scopeKind(c.Scope) != "login" {
				t.Errorf("denied push request: got %+v, %v; want it kept, denied, for a login that it no longer names", c, err)
			}
			if n := denials(); n != 1 {
				t.Errorf("push denials after the migration: %d, want 1", n)
			}
		})
	}
}

// scopeKind is the kind of thing scope names: what comes before its colon.
func scopeKind(scope string) string {
	for i := range len(scope) {
		if scope[i] == ':' {
			return scope[:i]
		}
	}
	return scope
}
