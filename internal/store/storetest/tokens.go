package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

// hardwareToken returns an unclaimed HOTP token serial, sealed under key-1.
func hardwareToken(serial string, imported time.Time) twofold.HardwareToken {
	return twofold.HardwareToken{
		Serial: serial, Manufacturer: "Acme", Type: twofold.FactorHOTP, Algorithm: "SHA1", Digits: 6, Counter: 3,
		SecretKeyID: "key-1", SealedSecret: []byte("sealed token " + serial), ImportedAt: imported,
	}
}

// importTokens imports ts, which must succeed.
func importTokens(tb testing.TB, s *store.Store, ts ...twofold.HardwareToken) {
	tb.Helper()
	if err := s.ImportTokens(tb.Context(), ts); err != nil {
		tb.Fatalf("ImportTokens: %v", err)
	}
}

// listTokens returns the serials HardwareTokens lists.
func listTokens(tb testing.TB, s *store.Store, unclaimed bool) []string {
	tb.Helper()
	ts, err := s.HardwareTokens(tb.Context(), unclaimed)
	if err != nil {
		tb.Fatalf("HardwareTokens: %v", err)
	}
	var out []string
	for _, t := range ts {
		out = append(out, t.Serial)
	}
	return out
}

// tokenClaim claims serial for accountID as factor factorID at counter.
func tokenClaim(accountID, serial, factorID string, counter int64, set string) twofold.TokenClaim {
	f := pendingFactor(accountID, factorID, t0)
	f.Type, f.Label, f.Period = twofold.FactorHOTP, "token "+factorID, 0
	return twofold.TokenClaim{Serial: serial, Factor: f, Activation: activation(accountID, factorID, counter, set)}
}

func testTokenRoundTrip(t *testing.T, s *store.Store) {
	newAccount(t, s, "alice") // stores the data keys
	totp := twofold.HardwareToken{
		Serial: "C200-0001 «lab»", Type: twofold.FactorTOTP, Algorithm: "SHA512", Digits: 8, Period: time.Minute,
		SecretKeyID: "key-7", SealedSecret: []byte{0, 1, 0xff, 0}, ImportedAt: t0.Add(time.Microsecond),
	}
	importTokens(t, s, hardwareToken("YK-2", t0), totp, hardwareToken("YK-1", t0))
	got, err := s.HardwareToken(t.Context(), totp.Serial)
	if err != nil {
		t.Fatalf("HardwareToken: %v", err)
	}
	if diff := cmp.Diff(totp, got); diff != "" {
		t.Errorf("HardwareToken (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"YK-1", "YK-2", totp.Serial}, listTokens(t, s, false)); diff != "" {
		t.Errorf("HardwareTokens, in import order then by serial (-want +got):\n%s", diff)
	}
	_, err = s.HardwareToken(t.Context(), "yk-1")
	wantCode(t, "HardwareToken of a serial in another case", err, twofold.CodeNotFound)
}

// testTokenImportAllOrNothing: a serial already stored, or twice in one
// import, is a conflict, and nothing of that import is stored.
func testTokenImportAllOrNothing(t *testing.T, s *store.Store) {
	newAccount(t, s, "alice")
	importTokens(t, s, hardwareToken("YK-1", t0))
	tests := []struct {
		name string
		ts   []twofold.HardwareToken
	}{
		{"StoredAlready", []twofold.HardwareToken{hardwareToken("YK-2", t0), hardwareToken("YK-1", t0), hardwareToken("YK-3", t0)}},
		{"TwiceInOneImport", []twofold.HardwareToken{hardwareToken("YK-4", t0), hardwareToken("YK-4", t0)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, "ImportTokens", s.ImportTokens(t.Context(), tt.ts), twofold.CodeConflict)
			if diff := cmp.Diff([]string{"YK-1"}, listTokens(t, s, false)); diff != "" {
				t.Errorf("tokens after the refused import (-want +got):\n%s", diff)
			}
		})
	}
	bad := hardwareToken("YK-5", t0)
	bad.SecretKeyID = "no-such-key"
	if err := s.ImportTokens(t.Context(), []twofold.HardwareToken{hardwareToken("YK-6", t0), bad}); err == nil {
		t.Fatal("ImportTokens under a data key that is not stored: got no error")
	}
	if diff := cmp.Diff([]string{"YK-1"}, listTokens(t, s, false)); diff != "" {
		t.Errorf("tokens after the failed import (-want +got):\n%s", diff)
	}
}

// testTokenImportSeedOnce: an import holding a token whose secret digest
// is an unclaimed token's under another serial is a conflict, checked in
// its own transaction, and nothing of it is stored; so of imports at once
// of one seed under two serials, exactly one is stored.
func testTokenImportSeedOnce(t *testing.T, s *store.Store) {
	newAccount(t, s, "alice")
	withDigest := func(serial, digest string) twofold.HardwareToken {
		tk := hardwareToken(serial, t0)
		tk.SecretDigest = []byte(digest)
		return tk
	}
	importTokens(t, s, withDigest("YK-1", "seed one"))
	wantCode(t, "ImportTokens of a stored seed", s.ImportTokens(t.Context(), []twofold.HardwareToken{withDigest("YK-2", "seed two"), withDigest("YK-3", "seed one")}), twofold.CodeConflict)
	if diff := cmp.Diff([]string{"YK-1"}, listTokens(t, s, false)); diff != "" {
		t.Errorf("tokens after the refused import (-want +got):\n%s", diff)
	}
	const n = 4
	errs := make(chan error, n)
	for i := range n {
		go func() {
			errs <- s.ImportTokens(t.Context(), []twofold.HardwareToken{withDigest(fmt.Sprintf("RACE-%d", i), "seed raced")})
		}()
	}
	stored := 0
	for range n {
		err := <-errs
		switch {
		case err == nil:
			stored++
		case twofold.ErrorCode(err) != twofold.CodeConflict:
			t.Errorf("an import at once of a seed imported meanwhile: got %v, want a conflict", err)
		}
	}
	if stored != 1 {
		t.Errorf("imports at once of one seed under %d serials: %d stored, want 1", n, stored)
	}
}

// testTokenClaim: a claim marks the token claimed, clears its sealed secret,
// and stores and activates the factor; the first factor brings the recovery
// codes. A second claim of the token, or one of an unknown serial, writes
// nothing.
func testTokenClaim(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	importTokens(t, s, hardwareToken("YK-1", t0), hardwareToken("YK-2", t0))
	c := tokenClaim(a.ID, "YK-1", "f-1", 5, "alice")
	ok, first, err := s.ClaimToken(t.Context(), c)
	if err != nil || !ok || !first {
		t.Fatalf("ClaimToken: got %v, %v, %v; want ok and first", ok, first, err)
	}
	f := getFactor(t, s, a.ID, "f-1")
	if f.Status != twofold.FactorActive || f.Type != twofold.FactorHOTP || f.LastStep != 5 || string(f.SealedSecret) != string(c.Factor.SealedSecret) {
		t.Errorf("claimed factor: got %+v", f)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: 3, PaperKey: []byte("paper-alice")})
	tok, err := s.HardwareToken(t.Context(), "YK-1")
	if err != nil {
		t.Fatal(err)
	}
	if tok.ClaimedBy != "f-1" || tok.ClaimedAt == nil || !tok.ClaimedAt.Equal(c.Activation.Now) || tok.SealedSecret != nil || tok.SecretKeyID != "" {
		t.Errorf("claimed token: got %+v, want claimed by f-1 with its secret cleared", tok)
	}
	if diff := cmp.Diff([]string{"YK-2"}, listTokens(t, s, true)); diff != "" {
		t.Errorf("unclaimed tokens (-want +got):\n%s", diff)
	}

	for _, tt := range []struct {
		name string
		c    twofold.TokenClaim
	}{
		{"ClaimedAlready", tokenClaim(b.ID, "YK-1", "f-2", 6, "bob")},
		{"Unknown", tokenClaim(b.ID, "YK-9", "f-3", 6, "bob")},
	} {
		ok, first, err := s.ClaimToken(t.Context(), tt.c)
		if err != nil || ok || first {
			t.Errorf("%s: ClaimToken got %v, %v, %v; want not ok", tt.name, ok, first, err)
		}
		_, err = s.Factor(t.Context(), b.ID, tt.c.Factor.ID)
		wantCode(t, tt.name+": factor of a refused claim", err, twofold.CodeNotFound)
	}
	wantTwoFactor(t, s, b.ID, twoFactor{})

	// A second token of the same account is not its first factor.
	ok, first, err = s.ClaimToken(t.Context(), tokenClaim(a.ID, "YK-2", "f-4", 0, "again"))
	if err != nil || !ok || first {
		t.Fatalf("ClaimToken of a second token: got %v, %v, %v; want ok, not first", ok, first, err)
	}
	wantTwoFactor(t, s, a.ID, twoFactor{Required: true, Remaining: 3, PaperKey: []byte("paper-alice")})
}

// testTokenSealedValues: the secrets of unclaimed tokens are rotated with the
// factors' and keep their data key from being deleted; a claimed token's
// secret is gone from the list.
func testTokenSealedValues(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	ctx := t.Context()
	importTokens(t, s, hardwareToken("YK-1", t0), hardwareToken("YK-2", t0))
	if _, _, err := s.ClaimToken(ctx, tokenClaim(a.ID, "YK-2", "f-1", 0, "set")); err != nil {
		t.Fatal(err)
	}
	vs, err := s.SealedValues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var tokens []keyring.Sealed
	for _, v := range vs {
		if v.Table == "hardware_tokens" {
			tokens = append(tokens, v)
		}
	}
	if len(tokens) != 1 || tokens[0].Row != "YK-1" || tokens[0].Column != "secret" || tokens[0].KeyID != "key-1" {
		t.Fatalf("sealed token secrets: got %+v, want YK-1's alone", tokens)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-7"); err != nil || !ok {
		t.Fatalf("DeleteDataKey of an unused key: %v, %v", ok, err)
	}
	if ok, err := s.Reseal(ctx, tokens[0], "key-2", []byte("resealed")); err != nil || !ok {
		t.Fatalf("Reseal: got %v, %v; want true", ok, err)
	}
	if ok, err := s.Reseal(ctx, tokens[0], "key-3", []byte("again")); err != nil || ok {
		t.Fatalf("Reseal from the old key again: got %v, %v; want false", ok, err)
	}
	tok, _ := s.HardwareToken(ctx, "YK-1")
	if tok.SecretKeyID != "key-2" || string(tok.SealedSecret) != "resealed" {
		t.Errorf("after Reseal: got %+v", tok)
	}
	// key-2 holds only the token's secret now (the factor is under key-1).
	if ok, err := s.DeleteDataKey(ctx, "key-2"); err != nil || ok {
		t.Fatalf("DeleteDataKey of the token's key: got %v, %v; want false", ok, err)
	}
}

// testRaceClaimToken: many accounts claim one token at once; exactly one
// does, and only its factor is stored.
func testRaceClaimToken(t *testing.T, s *store.Store) {
	for round := range rounds {
		serial := fmt.Sprintf("YK-%d", round)
		accounts := make([]twofold.Account, racers)
		for i := range accounts {
			accounts[i] = newAccount(t, s, fmt.Sprintf("user%d-%d", round, i))
		}
		importTokens(t, s, hardwareToken(serial, t0))
		id := func(i int) string { return fmt.Sprintf("f-%d-%d", round, i) }
		wins := race(t, func(i int) (bool, error) {
			ok, _, err := s.ClaimToken(t.Context(), tokenClaim(accounts[i].ID, serial, id(i), 4, "set"))
			return ok, err
		})
		if wins != 1 {
			t.Fatalf("ClaimToken raced by %d: got %d winners, want 1", racers, wins)
		}
		tok, err := s.HardwareToken(t.Context(), serial)
		if err != nil {
			t.Fatal(err)
		}
		factors := 0
		for i, a := range accounts {
			if _, err := s.Factor(t.Context(), a.ID, id(i)); err == nil {
				factors++
				if tok.ClaimedBy != id(i) {
					t.Errorf("token claimed by %q, but factor %s was stored", tok.ClaimedBy, id(i))
				}
			}
		}
		if factors != 1 {
			t.Errorf("got %d factors stored, want 1", factors)
		}
	}
}

// testTokenDigestBackfill: the claimed tokens without a secret digest (as
// before migration 0048) are listed with the factor claiming made of them,
// whose secret is theirs; a digest is stored only while a token has none,
// and by one of any number of instances storing it at once.
func testTokenDigestBackfill(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	withDigest := hardwareToken("YK-2", t0)
	withDigest.SecretDigest = []byte("digest-2")
	importTokens(t, s, hardwareToken("YK-1", t0), withDigest, hardwareToken("YK-3", t0), hardwareToken("YK-4", t0))
	for _, c := range []twofold.TokenClaim{tokenClaim(a.ID, "YK-1", "f-1", 0, "set"), tokenClaim(a.ID, "YK-2", "f-2", 0, "set"), tokenClaim(a.ID, "YK-4", "f-4", 0, "set")} {
		if ok, _, err := s.ClaimToken(ctx, c); err != nil || !ok {
			t.Fatalf("ClaimToken %s: %v, %v", c.Serial, ok, err)
		}
	}
	got, err := s.ClaimedTokenFactorsWithoutDigest(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]twofold.Factor{"YK-1": getFactor(t, s, a.ID, "f-1"), "YK-4": getFactor(t, s, a.ID, "f-4")}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ClaimedTokenFactorsWithoutDigest, not the unclaimed YK-3 nor YK-2 with its digest (-want +got):\n%s", diff)
	}
	if ok, err := s.SetTokenDigest(ctx, "YK-1", []byte("digest-1")); err != nil || !ok {
		t.Fatalf("SetTokenDigest: got %v, %v; want true", ok, err)
	}
	for _, serial := range []string{"YK-1", "YK-2"} {
		if ok, err := s.SetTokenDigest(ctx, serial, []byte("other")); err != nil || ok {
			t.Errorf("SetTokenDigest of %s, which has one: got %v, %v; want false", serial, ok, err)
		}
	}
	wins := race(t, func(i int) (bool, error) { return s.SetTokenDigest(ctx, "YK-4", []byte("digest-4")) })
	if wins != 1 {
		t.Errorf("SetTokenDigest raced by %d: got %d writes, want 1", racers, wins)
	}
	if got, err := s.ClaimedTokenFactorsWithoutDigest(ctx); err != nil || len(got) != 0 {
		t.Errorf("ClaimedTokenFactorsWithoutDigest after the backfill: got %v, %v; want none", got, err)
	}
	digests, err := s.ClaimedTokenDigests(ctx)
	if err != nil {
		t.Fatal(err)
	}
	wantDigests := map[string][]byte{"YK-1": []byte("digest-1"), "YK-2": []byte("digest-2"), "YK-4": []byte("digest-4")}
	if diff := cmp.Diff(wantDigests, digests); diff != "" {
		t.Errorf("ClaimedTokenDigests (-want +got):\n%s", diff)
	}
}
