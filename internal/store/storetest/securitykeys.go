package storetest

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// pendingKey stores a pending webauthn factor id of accountID.
func pendingKey(tb testing.TB, s *store.Store, accountID, id string) {
	tb.Helper()
	f := pendingFactor(accountID, id, t0)
	f.Type, f.Algorithm, f.Digits, f.Period = twofold.FactorWebAuthn, "", 0, 0
	if err := s.CreateFactor(tb.Context(), f); err != nil {
		tb.Fatalf("CreateFactor(%q): %v", id, err)
	}
}

func securityKey(accountID, factorID, credID string) twofold.SecurityKey {
	return twofold.SecurityKey{FactorID: factorID, AccountID: accountID, CredentialID: []byte(credID), PublicKey: []byte("cose:" + credID),
		SignCount: 7, AAGUID: make([]byte, 16), Transports: []string{"usb", "nfc"}, Flags: twofold.FlagUserPresent | twofold.FlagBackupEligible,
		AttestationType: "none", AttestationFormat: "none"}
}

func ceremony(accountID, scope, challenge string) twofold.Ceremony {
	return twofold.Ceremony{Scope: scope, AccountID: accountID, Challenge: challenge, Session: []byte(`{"challenge":"` + challenge + `"}`),
		CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
}

func take(tb testing.TB, s *store.Store, scope, accountID, challenge string, now time.Time) (string, bool) {
	tb.Helper()
	session, ok, err := s.TakeCeremony(tb.Context(), scope, accountID, challenge, now)
	if err != nil {
		tb.Fatalf("TakeCeremony: %v", err)
	}
	return string(session), ok
}

// testCeremonyOnce: a ceremony is taken once, only with its challenge, by
// its account, in its scope, before it expires; beginning another in the
// scope replaces it; expired ones are swept.
func testCeremonyOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	ada, bob := newAccount(t, s, "ada"), newAccount(t, s, "bob")
	if err := s.PutCeremony(ctx, ceremony(ada.ID, "login:l1", "c1")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, scope, account, challenge string
		now                             time.Time
	}{
		{"another challenge", "login:l1", ada.ID, "c2", t0},
		{"another account", "login:l1", bob.ID, "c1", t0},
		{"another scope", "login:l2", ada.ID, "c1", t0},
		{"expired", "login:l1", ada.ID, "c1", t0.Add(5 * time.Minute)},
	} {
		if _, ok := take(t, s, tc.scope, tc.account, tc.challenge, tc.now); ok {
			t.Errorf("%s: taken, want not", tc.name)
		}
	}
	if got, ok := take(t, s, "login:l1", ada.ID, "c1", t0.Add(time.Minute)); !ok || got != `{"challenge":"c1"}` {
		t.Fatalf("take: got %q, %v", got, ok)
	}
	if _, ok := take(t, s, "login:l1", ada.ID, "c1", t0.Add(time.Minute)); ok {
		t.Fatal("taken twice")
	}
	// Replaced: the old challenge no longer works, the new one does.
	for _, c := range []string{"c3", "c4"} {
		if err := s.PutCeremony(ctx, ceremony(ada.ID, "elevate:s1", c)); err != nil {
			t.Fatal(err)
		}
	}
	if _, ok := take(t, s, "elevate:s1", ada.ID, "c3", t0); ok {
		t.Error("a replaced ceremony was taken")
	}
	if err := s.PutCeremony(ctx, ceremony(ada.ID, "register:f1", "c5")); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteExpired(ctx, t0.Add(6*time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := take(t, s, "elevate:s1", ada.ID, "c4", t0); ok {
		t.Error("an expired ceremony survived the sweep")
	}
}

// testSecurityKeyActivate: the credential is stored with the factor's
// activation, all or nothing; one credential is registered once on the
// server; a pending factor has no key.
func testSecurityKeyActivate(t *testing.T, s *store.Store) {
	ctx := t.Context()
	ada, bob := newAccount(t, s, "ada"), newAccount(t, s, "bob")
	pendingKey(t, s, ada.ID, "k1")
	if keys, err := s.SecurityKeys(ctx, ada.ID); err != nil || len(keys) != 0 {
		t.Fatalf("keys of a pending factor: %v, %v", keys, err)
	}
	k := securityKey(ada.ID, "k1", "cred-1")
	ok, first, err := s.ActivateSecurityKey(ctx, k, activation(ada.ID, "k1", -1, "a"))
	if err != nil || !ok || !first {
		t.Fatalf("ActivateSecurityKey: %v %v %v", ok, first, err)
	}
	keys, err := s.SecurityKeys(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twofold.SecurityKey{k}, keys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
	// Again: not pending, nothing written.
	if ok, _, err := s.ActivateSecurityKey(ctx, securityKey(ada.ID, "k1", "cred-2"), activation(ada.ID, "k1", -1, "b")); err != nil || ok {
		t.Fatalf("activating an active key: ok %v, err %v", ok, err)
	}
	// The same credential for another account: a conflict, and its factor stays pending.
	pendingKey(t, s, bob.ID, "k2")
	_, _, err = s.ActivateSecurityKey(ctx, securityKey(bob.ID, "k2", "cred-1"), activation(bob.ID, "k2", -1, "c"))
	wantCode(t, "the same credential twice", err, twofold.CodeConflict)
	f, err := s.Factor(ctx, bob.ID, "k2")
	if err != nil || f.Status != twofold.FactorPending {
		t.Fatalf("after the conflict the factor is %v (%v), want pending", f.Status, err)
	}
	if a, err := s.AccountByID(ctx, bob.ID); err != nil || a.TwoFactorRequired {
		t.Fatalf("after the conflict two-factor is required: %v", err)
	}
	// Removing the factor removes its key.
	if _, err := s.DeleteFactor(ctx, ada.ID, "k1", twofold.FactorActive); err != nil {
		t.Fatal(err)
	}
	if keys, err := s.SecurityKeys(ctx, ada.ID); err != nil || len(keys) != 0 {
		t.Fatalf("keys after removal: %v, %v", keys, err)
	}
}

// testSecurityKeyCounter: the signature counter only moves forward; a key
// without one (0) may stay at 0; the use is recorded.
func testSecurityKeyCounter(t *testing.T, s *store.Store) {
	ctx := t.Context()
	ada := newAccount(t, s, "ada")
	pendingKey(t, s, ada.ID, "k1")
	if _, _, err := s.ActivateSecurityKey(ctx, securityKey(ada.ID, "k1", "cred-1"), activation(ada.ID, "k1", -1, "a")); err != nil {
		t.Fatal(err)
	}
	pendingKey(t, s, ada.ID, "k0")
	k0 := securityKey(ada.ID, "k0", "cred-0")
	k0.SignCount = 0
	if _, _, err := s.ActivateSecurityKey(ctx, k0, activation(ada.ID, "k0", -1, "b")); err != nil {
		t.Fatal(err)
	}
	use := func(id string, n uint32) bool {
		t.Helper()
		ok, err := s.UseSecurityKey(ctx, id, n, twofold.FlagUserPresent|twofold.FlagUserVerified, t0.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	for _, tc := range []struct {
		id   string
		n    uint32
		want bool
	}{
		{"k1", 7, false}, {"k1", 3, false}, {"k1", 8, true}, {"k1", 8, false}, {"k1", 20, true},
		{"k0", 0, true}, {"k0", 0, true}, {"k0", 5, true}, {"k0", 0, false},
		{"nope", 99, false},
	} {
		if got := use(tc.id, tc.n); got != tc.want {
			t.Errorf("use %s at %d: got %v, want %v", tc.id, tc.n, got, tc.want)
		}
	}
	keys, err := s.SecurityKeys(ctx, ada.ID)
	if err != nil || len(keys) != 2 || keys[1].FactorID != "k1" || keys[1].SignCount != 20 || keys[1].Flags != twofold.FlagUserPresent|twofold.FlagUserVerified {
		t.Fatalf("keys: %+v, %v", keys, err)
	}
	f, err := s.Factor(ctx, ada.ID, "k1")
	if err != nil || f.LastUsedAt == nil || !f.LastUsedAt.Equal(t0.Add(time.Hour)) {
		t.Fatalf("last used: %v, %v", f.LastUsedAt, err)
	}
}

// testRaceTakeCeremony: of many takes of one ceremony, one wins.
func testRaceTakeCeremony(t *testing.T, s *store.Store) {
	ada := newAccount(t, s, "ada")
	if err := s.PutCeremony(t.Context(), ceremony(ada.ID, "login:l1", "c1")); err != nil {
		t.Fatal(err)
	}
	if wins := race(t, func(int) (bool, error) {
		_, ok, err := s.TakeCeremony(t.Context(), "login:l1", ada.ID, "c1", t0)
		return ok, err
	}); wins != 1 {
		t.Fatalf("%d takes won, want 1", wins)
	}
}

// testPasskeyStored: a factor's passkey flag and its credential's
// discoverable and user-verified facts are stored and read back.
func testPasskeyStored(t *testing.T, s *store.Store) {
	ctx := t.Context()
	ada := newAccount(t, s, "ada")
	f := pendingFactor(ada.ID, "p1", t0)
	f.Type, f.Algorithm, f.Digits, f.Period, f.Passkey = twofold.FactorWebAuthn, "", 0, 0, true
	if err := s.CreateFactor(ctx, f); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Factor(ctx, ada.ID, "p1"); err != nil || !got.Passkey {
		t.Fatalf("pending passkey factor read back: passkey %v, %v", got.Passkey, err)
	}
	pendingKey(t, s, ada.ID, "k1")
	if got, err := s.Factor(ctx, ada.ID, "k1"); err != nil || got.Passkey {
		t.Fatalf("plain key factor read back: passkey %v, %v", got.Passkey, err)
	}
	k := securityKey(ada.ID, "p1", "cred-p")
	k.Discoverable, k.UserVerified = true, true
	if ok, _, err := s.ActivateSecurityKey(ctx, k, activation(ada.ID, "p1", -1, "a")); err != nil || !ok {
		t.Fatalf("ActivateSecurityKey: %v %v", ok, err)
	}
	keys, err := s.SecurityKeys(ctx, ada.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]twofold.SecurityKey{k}, keys); diff != "" {
		t.Fatalf("keys (-want +got):\n%s", diff)
	}
}

func passkeyLogin(id string) twofold.PasskeyLogin {
	return twofold.PasskeyLogin{ID: id, Challenge: "c-" + id, Session: []byte(`{"challenge":"c-` + id + `"}`), CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute)}
}

// testPasskeyLoginOnce: a sign-in with a passkey is taken once, by its id,
// before it expires; expired ones are swept.
func testPasskeyLoginOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, id := range []string{"l1", "l2"} {
		if err := s.PutPasskeyLogin(ctx, passkeyLogin(id)); err != nil {
			t.Fatal(err)
		}
	}
	take := func(id string, now time.Time) (twofold.PasskeyLogin, bool) {
		t.Helper()
		l, ok, err := s.TakePasskeyLogin(ctx, id, now)
		if err != nil {
			t.Fatalf("TakePasskeyLogin: %v", err)
		}
		return l, ok
	}
	if _, ok := take("l3", t0); ok {
		t.Error("an unknown id was taken")
	}
	if _, ok := take("l1", t0.Add(5*time.Minute)); ok {
		t.Error("an expired sign-in was taken")
	}
	l, ok := take("l1", t0.Add(time.Minute))
	if diff := cmp.Diff(passkeyLogin("l1"), l); !ok || diff != "" {
		t.Fatalf("take: ok %v, (-want +got):\n%s", ok, diff)
	}
	if _, ok := take("l1", t0.Add(time.Minute)); ok {
		t.Fatal("taken twice")
	}
	if err := s.DeleteExpired(ctx, t0.Add(6*time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if _, ok := take("l2", t0); ok {
		t.Error("an expired sign-in survived the sweep")
	}
}

// testRaceTakePasskeyLogin: of many takes of one sign-in with a passkey,
// one wins.
func testRaceTakePasskeyLogin(t *testing.T, s *store.Store) {
	if err := s.PutPasskeyLogin(t.Context(), passkeyLogin("l1")); err != nil {
		t.Fatal(err)
	}
	if wins := race(t, func(int) (bool, error) {
		_, ok, err := s.TakePasskeyLogin(t.Context(), "l1", t0)
		return ok, err
	}); wins != 1 {
		t.Fatalf("%d takes won, want 1", wins)
	}
}

// testCeremonyKept: KeepCeremony stores a ceremony only when its scope has
// none live with its options, and returns the one the scope then has: a
// live one stays as it was, options and all, until it expires or is taken;
// one without options (begun before they were kept) is replaced.
func testCeremonyKept(t *testing.T, s *store.Store) {
	ctx := t.Context()
	ada := newAccount(t, s, "ada")
	with := func(scope, challenge string, at time.Time) twofold.Ceremony {
		c := ceremony(ada.ID, scope, challenge)
		c.Options = []byte(`{"publicKey":{"challenge":"` + challenge + `"}}`)
		c.CreatedAt, c.ExpiresAt = at, at.Add(5*time.Minute)
		return c
	}
	keep := func(c twofold.Ceremony, want string) {
		t.Helper()
		got, err := s.KeepCeremony(ctx, c)
		if err != nil || got.Challenge != want || got.AccountID != ada.ID || string(got.Options) != `{"publicKey":{"challenge":"`+want+`"}}` {
			t.Fatalf("KeepCeremony(%s) = %+v, %v; want %q", c.Challenge, got, err, want)
		}
	}
	keep(with("login:l1", "c1", t0), "c1")
	keep(with("login:l1", "c2", t0.Add(time.Minute)), "c1")
	keep(with("elevate:s1", "e1", t0.Add(time.Minute)), "e1")
	if _, ok := take(t, s, "login:l1", ada.ID, "c2", t0.Add(time.Minute)); ok {
		t.Fatal("the challenge offered while c1 lived was taken")
	}
	// Expired, the next one takes its place.
	keep(with("login:l1", "c3", t0.Add(5*time.Minute)), "c3")
	// Taken, too.
	if _, ok := take(t, s, "login:l1", ada.ID, "c3", t0.Add(6*time.Minute)); !ok {
		t.Fatal("c3 not taken")
	}
	keep(with("login:l1", "c4", t0.Add(6*time.Minute)), "c4")
	// One without options is replaced.
	if err := s.PutCeremony(ctx, ceremony(ada.ID, "login:l2", "o1")); err != nil {
		t.Fatal(err)
	}
	keep(with("login:l2", "c5", t0), "c5")
}
