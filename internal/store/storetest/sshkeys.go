package storetest

import (
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// sshKey stores a pending SSH key id of accountID with fingerprint fp.
func sshKey(tb testing.TB, s *store.Store, accountID, id, fp string) twofold.SSHKey {
	tb.Helper()
	k := twofold.SSHKey{ID: id, AccountID: accountID, Label: "key " + id, Type: "ssh-ed25519", Fingerprint: fp,
		PublicKey: "ssh-ed25519 AAAA" + id, Status: twofold.FactorPending, CreatedAt: t0}
	if err := s.CreateSSHKey(tb.Context(), k); err != nil {
		tb.Fatalf("CreateSSHKey(%q): %v", id, err)
	}
	return k
}

// testSSHKeyRoundTrip: keys read back as stored, one fingerprint once per
// account, activated once, removed only in the status asked.
func testSSHKeyRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	k := sshKey(t, s, a.ID, "k1", "SHA256:one")
	sshKey(t, s, a.ID, "k2", "SHA256:two")
	sshKey(t, s, b.ID, "k3", "SHA256:one") // the same key on another account
	wantCode(t, "CreateSSHKey of a fingerprint stored already", s.CreateSSHKey(ctx, twofold.SSHKey{ID: "k4", AccountID: a.ID, Label: "x",
		Type: "ssh-ed25519", Fingerprint: "SHA256:one", PublicKey: "p", Status: twofold.FactorPending, CreatedAt: t0}), twofold.CodeConflict)
	keys, err := s.SSHKeys(ctx, a.ID)
	if err != nil || len(keys) != 2 || keys[0].ID != "k1" || keys[1].ID != "k2" {
		t.Fatalf("SSHKeys: got %v, %v; want k1, k2", keys, err)
	}
	if got := keys[0]; got.Label != k.Label || got.Fingerprint != k.Fingerprint || got.PublicKey != k.PublicKey || got.Status != twofold.FactorPending ||
		!got.CreatedAt.Equal(t0) || got.ConfirmedAt != nil || got.LastUsedAt != nil {
		t.Fatalf("SSHKeys[0]: got %+v, want %+v", got, k)
	}
	if ok, err := s.ActivateSSHKey(ctx, b.ID, "k1", t0); err != nil || ok {
		t.Fatalf("ActivateSSHKey of another account's key: got %v, %v", ok, err)
	}
	if ok, err := s.ActivateSSHKey(ctx, a.ID, "k1", t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("ActivateSSHKey: got %v, %v", ok, err)
	}
	if ok, err := s.ActivateSSHKey(ctx, a.ID, "k1", t0.Add(time.Minute)); err != nil || ok {
		t.Fatalf("ActivateSSHKey again: got %v, %v", ok, err)
	}
	if err := s.TouchSSHKey(ctx, "k1", t0.Add(2*time.Minute)); err != nil {
		t.Fatal(err)
	}
	keys, _ = s.SSHKeys(ctx, a.ID)
	if keys[0].Status != twofold.FactorActive || keys[0].ConfirmedAt == nil || !keys[0].ConfirmedAt.Equal(t0.Add(time.Minute)) ||
		keys[0].LastUsedAt == nil || !keys[0].LastUsedAt.Equal(t0.Add(2*time.Minute)) {
		t.Fatalf("after activation and use: got %+v", keys[0])
	}
	wantCode(t, "DeleteSSHKey in another status", s.DeleteSSHKey(ctx, a.ID, "k1", twofold.FactorPending), twofold.CodeConflict)
	wantCode(t, "DeleteSSHKey of another account's key", s.DeleteSSHKey(ctx, b.ID, "k1", twofold.FactorActive), twofold.CodeNotFound)
	if err := s.DeleteSSHKey(ctx, a.ID, "k1", twofold.FactorActive); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "DeleteSSHKey twice", s.DeleteSSHKey(ctx, a.ID, "k1", twofold.FactorActive), twofold.CodeNotFound)
	if keys, _ := s.SSHKeys(ctx, b.ID); len(keys) != 1 {
		t.Fatalf("bob's keys: got %v, want his one", keys)
	}
}

func sshChallenge(accountID, scope, text string) twofold.SSHChallenge {
	return twofold.SSHChallenge{Scope: scope, AccountID: accountID, Text: text, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
}

// testSSHChallengeOnce: a challenge is one per scope (a new one replaces
// it), read only by its account before it expires, and used once, only by
// its own text; expired ones are swept.
func testSSHChallengeOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	for _, c := range []twofold.SSHChallenge{sshChallenge(a.ID, "login:l1", "first"), sshChallenge(a.ID, "login:l1", "second"), sshChallenge(a.ID, "login:l2", "other")} {
		if err := s.PutSSHChallenge(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	c, found, err := s.SSHChallenge(ctx, a.ID, "login:l1", t0)
	if err != nil || !found || c.Text != "second" || !c.ExpiresAt.Equal(t0.Add(10*time.Minute)) {
		t.Fatalf("SSHChallenge: got %+v, %v, %v; want the second one", c, found, err)
	}
	if _, found, _ := s.SSHChallenge(ctx, b.ID, "login:l1", t0); found {
		t.Fatal("another account reads the challenge")
	}
	if _, found, _ := s.SSHChallenge(ctx, a.ID, "login:l1", t0.Add(10*time.Minute)); found {
		t.Fatal("an expired challenge is read")
	}
	for _, tt := range []struct {
		name, scope, text string
		at                time.Time
		want              bool
	}{
		{"replaced text", "login:l1", "first", t0, false},
		{"another scope", "login:l2", "second", t0, false},
		{"expired", "login:l1", "second", t0.Add(10 * time.Minute), false},
		{"right", "login:l1", "second", t0.Add(time.Minute), true},
		{"twice", "login:l1", "second", t0.Add(time.Minute), false},
	} {
		if ok, err := s.UseSSHChallenge(ctx, tt.scope, tt.text, tt.at); err != nil || ok != tt.want {
			t.Fatalf("UseSSHChallenge %s: got %v, %v; want %v", tt.name, ok, err, tt.want)
		}
	}
	if err := s.DeleteExpired(ctx, t0.Add(11*time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if err := s.PutSSHChallenge(ctx, sshChallenge(a.ID, "login:l3", "fresh")); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.UseSSHChallenge(ctx, "login:l2", "other", t0); ok {
		t.Fatal("a challenge swept as expired is still there")
	}
}

// testRaceUseSSHChallenge: of concurrent uses of one challenge exactly one
// succeeds.
func testRaceUseSSHChallenge(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	if err := s.PutSSHChallenge(t.Context(), sshChallenge(a.ID, "elevate:s1", "text")); err != nil {
		t.Fatal(err)
	}
	if wins := race(t, func(int) (bool, error) { return s.UseSSHChallenge(t.Context(), "elevate:s1", "text", t0) }); wins != 1 {
		t.Fatalf("UseSSHChallenge raced: %d wins, want 1", wins)
	}
}

// testSSHChallengeKept: KeepSSHChallenge stores a challenge only when its
// scope has none live, and returns the one the scope then has: a live one
// stays as it was, however often another is offered, until it expires or
// is used; other scopes are apart.
func testSSHChallengeKept(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	keep := func(c twofold.SSHChallenge, want string) {
		t.Helper()
		got, err := s.KeepSSHChallenge(ctx, c)
		if err != nil || got.Text != want || got.Scope != c.Scope || got.AccountID != a.ID {
			t.Fatalf("KeepSSHChallenge(%s) = %+v, %v; want %q", c.Text, got, err, want)
		}
		if now, found, err := s.SSHChallenge(ctx, a.ID, c.Scope, c.CreatedAt); err != nil || !found || now.Text != want {
			t.Fatalf("SSHChallenge after KeepSSHChallenge(%s) = %+v, %v, %v; want %q", c.Text, now, found, err, want)
		}
	}
	at := func(c twofold.SSHChallenge, d time.Duration) twofold.SSHChallenge {
		c.CreatedAt, c.ExpiresAt = c.CreatedAt.Add(d), c.ExpiresAt.Add(d)
		return c
	}
	keep(sshChallenge(a.ID, "login:l1", "first"), "first")
	keep(at(sshChallenge(a.ID, "login:l1", "second"), time.Minute), "first")
	keep(sshChallenge(a.ID, "elevate:s1", "elevation"), "elevation")
	// Expired, the next one takes its place.
	keep(at(sshChallenge(a.ID, "login:l1", "third"), 10*time.Minute), "third")
	// Used, too.
	if ok, err := s.UseSSHChallenge(ctx, "login:l1", "third", t0.Add(11*time.Minute)); err != nil || !ok {
		t.Fatalf("UseSSHChallenge(third) = %v, %v", ok, err)
	}
	keep(at(sshChallenge(a.ID, "login:l1", "fourth"), 11*time.Minute), "fourth")
}
