package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// smsFactor stores an active sms factor id of accountID.
func smsFactor(tb testing.TB, s *store.Store, accountID, id string) {
	tb.Helper()
	f := pendingFactor(accountID, id, t0)
	f.Type, f.Algorithm, f.Period = twofold.FactorSMS, "", 0
	if err := s.CreateFactor(tb.Context(), f); err != nil {
		tb.Fatalf("CreateFactor(%q): %v", id, err)
	}
	activate(tb, s, activation(accountID, id, -1, id))
}

// sentCode is a code for factorID in scope, sent at t0.
func sentCode(accountID, factorID, scope, hash string) twofold.SentCode {
	return twofold.SentCode{FactorID: factorID, AccountID: accountID, Method: twofold.MethodSMS, Scope: scope, Hash: []byte(hash),
		ChecksLeft: 5, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
}

func putCode(tb testing.TB, s *store.Store, c twofold.SentCode) {
	tb.Helper()
	if err := s.PutSentCode(tb.Context(), c); err != nil {
		tb.Fatalf("PutSentCode: %v", err)
	}
}

// takeChecks returns the hashes TakeCodeChecks hands out, with the checks left.
func takeChecks(tb testing.TB, s *store.Store, accountID, scope, factorID string, now time.Time) map[string]int {
	tb.Helper()
	cs, err := s.TakeCodeChecks(tb.Context(), accountID, twofold.MethodSMS, scope, factorID, now)
	if err != nil {
		tb.Fatalf("TakeCodeChecks: %v", err)
	}
	out := map[string]int{}
	for _, c := range cs {
		out[string(c.Hash)] = c.ChecksLeft
	}
	return out
}

func useCodeAt(tb testing.TB, s *store.Store, factorID, scope, hash string, now time.Time) bool {
	tb.Helper()
	ok, err := s.UseSentCode(tb.Context(), factorID, scope, []byte(hash), now)
	if err != nil {
		tb.Fatalf("UseSentCode: %v", err)
	}
	return ok
}

// testSentCodeOnce: a sent code is used once; its checks run out; it works
// only in its scope, before it expires; the factor is marked used.
func testSentCodeOnce(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	smsFactor(t, s, a.ID, "sms-1")
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "h1"))
	if got := takeChecks(t, s, a.ID, "login:l2", "", t0); len(got) != 0 {
		t.Errorf("another scope's checks: got %v, want none", got)
	}
	if got := takeChecks(t, s, a.ID, "login:l1", "sms-2", t0); len(got) != 0 {
		t.Errorf("another factor's checks: got %v, want none", got)
	}
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0); got["h1"] != 4 {
		t.Errorf("first check: got %v, want h1 with 4 checks left", got)
	}
	if useCodeAt(t, s, "sms-1", "login:l1", "h2", t0) {
		t.Errorf("UseSentCode with another hash: got true")
	}
	if useCodeAt(t, s, "sms-1", "login:l1", "h1", t0.Add(10*time.Minute)) {
		t.Errorf("UseSentCode when expired: got true")
	}
	if !useCodeAt(t, s, "sms-1", "login:l1", "h1", t0.Add(time.Minute)) {
		t.Fatalf("UseSentCode: got false, want true")
	}
	if useCodeAt(t, s, "sms-1", "login:l1", "h1", t0.Add(time.Minute)) {
		t.Errorf("UseSentCode twice: got true")
	}
	if f := getFactor(t, s, a.ID, "sms-1"); f.LastUsedAt == nil || !f.LastUsedAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("factor last used %v, want %v", f.LastUsedAt, t0.Add(time.Minute))
	}
	// Five checks, then none; none after expiry either.
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "h3"))
	for i := 4; i >= 0; i-- {
		if got := takeChecks(t, s, a.ID, "login:l1", "sms-1", t0); got["h3"] != i || len(got) != 1 {
			t.Fatalf("check %d: got %v, want h3 with %d left", 5-i, got, i)
		}
	}
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0); len(got) != 0 {
		t.Errorf("a sixth check: got %v, want none", got)
	}
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "h4"))
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0.Add(10*time.Minute)); len(got) != 0 {
		t.Errorf("a check when expired: got %v, want none", got)
	}
	if err := s.DeleteExpired(t.Context(), t0.Add(11*time.Minute), ""); err != nil {
		t.Fatal(err)
	}
	if cs, err := s.SentCodes(t.Context(), a.ID); err != nil || len(cs) != 0 {
		t.Errorf("codes after DeleteExpired: got %v (%v), want none", cs, err)
	}
}

// testSentCodeReplaced: a resend for a scope replaces the factor's code
// for that scope, with its checks, and leaves its codes for other scopes,
// so that a sign-in code asked for by whoever knows the password does not
// void the holder's elevation code; a deleted factor takes its codes along.
func testSentCodeReplaced(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	smsFactor(t, s, a.ID, "sms-1")
	smsFactor(t, s, a.ID, "sms-2")
	putCode(t, s, sentCode(a.ID, "sms-1", "elevate:s1", "elevation"))
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "old"))
	takeChecks(t, s, a.ID, "login:l1", "", t0)
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "new"))
	putCode(t, s, sentCode(a.ID, "sms-2", "login:l1", "other"))
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0); got["new"] != 4 || got["other"] != 4 || len(got) != 2 {
		t.Errorf("after a resend: got %v, want new and other with 4 checks left each", got)
	}
	if useCodeAt(t, s, "sms-1", "login:l1", "old", t0) {
		t.Errorf("the replaced code was used")
	}
	if useCodeAt(t, s, "sms-1", "login:l1", "elevation", t0) {
		t.Errorf("the elevation code was used for a login")
	}
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l2", "elevation")) // the same code, by chance, for another scope
	if !useCodeAt(t, s, "sms-1", "login:l2", "elevation", t0) {
		t.Errorf("login l2's code: got false, want true")
	}
	if got := takeChecks(t, s, a.ID, "elevate:s1", "", t0); got["elevation"] != 4 || len(got) != 1 {
		t.Errorf("the elevation code after login codes were sent and used: got %v, want it with 4 checks left", got)
	}
	if !useCodeAt(t, s, "sms-1", "elevate:s1", "elevation", t0) {
		t.Errorf("the elevation code after login codes were sent: got false, want true")
	}
	if _, err := s.DeleteFactor(t.Context(), a.ID, "sms-2", twofold.FactorActive); err != nil {
		t.Fatal(err)
	}
	cs, err := s.SentCodes(t.Context(), a.ID)
	if err != nil || len(cs) != 1 || cs[0].FactorID != "sms-1" || string(cs[0].Hash) != "new" {
		t.Errorf("codes after deleting sms-2: got %+v (%v), want sms-1's only", cs, err)
	}
}

// testRaceUseSentCode: of concurrent uses of one code exactly one wins, and
// concurrent checks never take more checks than the code has.
func testRaceUseSentCode(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	smsFactor(t, s, a.ID, "sms-1")
	for round := range 3 {
		hash := fmt.Sprintf("code-%d", round)
		putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", hash))
		wins := race(t, func(int) (bool, error) {
			return s.UseSentCode(t.Context(), "sms-1", "login:l1", []byte(hash), t0)
		})
		if wins != 1 {
			t.Errorf("UseSentCode raced by %d: got %d winners, want 1", racers, wins)
		}
	}
	putCode(t, s, sentCode(a.ID, "sms-1", "login:l1", "checked"))
	checks := race(t, func(int) (bool, error) {
		cs, err := s.TakeCodeChecks(t.Context(), a.ID, twofold.MethodSMS, "login:l1", "", t0)
		return len(cs) == 1, err
	})
	if want := min(racers, 5); checks != want {
		t.Errorf("TakeCodeChecks raced by %d: got %d checks, want %d", racers, checks, want)
	}
}

// testSentCodeRestored: SwapSentCode returns the code it replaced, and
// RestoreSentCode puts it back as it was (or removes a code that replaced
// none) only while the code that replaced it is still there; ReturnToken
// gives a bucket back a token, never above its burst.
func testSentCodeRestored(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	smsFactor(t, s, a.ID, "sms-1")
	swap := func(c twofold.SentCode) (twofold.SentCode, bool) {
		t.Helper()
		prev, had, _, _, err := s.SwapSentCode(ctx, c, nil)
		if err != nil {
			t.Fatalf("SwapSentCode: %v", err)
		}
		return prev, had
	}
	restore := func(sent, prev twofold.SentCode, had bool) bool {
		t.Helper()
		ok, err := s.RestoreSentCode(ctx, sent, prev, had)
		if err != nil {
			t.Fatalf("RestoreSentCode: %v", err)
		}
		return ok
	}
	first := sentCode(a.ID, "sms-1", "login:l1", "first")
	if prev, had := swap(first); had {
		t.Fatalf("the first code replaced %+v", prev)
	}
	takeChecks(t, s, a.ID, "login:l1", "", t0) // 4 left
	second := sentCode(a.ID, "sms-1", "login:l1", "second")
	second.CreatedAt, second.ExpiresAt = t0.Add(time.Minute), t0.Add(11*time.Minute)
	prev, had := swap(second)
	if !had || string(prev.Hash) != "first" || prev.ChecksLeft != 4 || !prev.ExpiresAt.Equal(first.ExpiresAt) {
		t.Fatalf("SwapSentCode returned %+v, %v; want the first code with 4 checks left", prev, had)
	}
	if !restore(second, prev, had) {
		t.Fatal("RestoreSentCode: got false, want the first code back")
	}
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0); got["first"] != 3 || len(got) != 1 {
		t.Errorf("after the restore: got %v, want the first code alone with 3 checks left", got)
	}
	if restore(second, prev, had) {
		t.Error("a second restore: got true, want false (the second code is gone)")
	}
	// A code stored meanwhile by another send is left alone.
	third := sentCode(a.ID, "sms-1", "login:l1", "third")
	prev, had = swap(second)
	swap(third)
	if restore(second, prev, had) {
		t.Error("restore over a code sent meanwhile: got true, want false")
	}
	if got := takeChecks(t, s, a.ID, "login:l1", "", t0); got["third"] != 4 || len(got) != 1 {
		t.Errorf("after a refused restore: got %v, want the third code alone", got)
	}
	// A code that replaced none is removed.
	lone := sentCode(a.ID, "sms-1", "elevate:s1", "lone")
	prev, had = swap(lone)
	if !restore(lone, prev, had) {
		t.Fatal("RestoreSentCode of a code that replaced none: got false, want true")
	}
	if got := takeChecks(t, s, a.ID, "elevate:s1", "", t0); len(got) != 0 {
		t.Errorf("after removing the unsent code: got %v, want none", got)
	}

	// ReturnToken: a token back, capped at the burst; a missing bucket is left missing.
	const key = "send:account:" + "alice"
	for range 2 {
		if ok, err := s.TakeToken(ctx, key, 2, 1e-9, t0); err != nil || !ok {
			t.Fatalf("TakeToken: %v, %v", ok, err)
		}
	}
	for range 3 {
		if err := s.ReturnToken(ctx, key, 2); err != nil {
			t.Fatal(err)
		}
	}
	if tokens, _, _, err := s.Bucket(ctx, key); err != nil || tokens != 2 {
		t.Errorf("after two tokens taken and three returned: %v tokens (%v), want 2", tokens, err)
	}
	if err := s.ReturnToken(ctx, "send:none", 2); err != nil {
		t.Fatal(err)
	}
	if _, _, found, err := s.Bucket(ctx, "send:none"); err != nil || found {
		t.Errorf("ReturnToken made a bucket: found %v, %v", found, err)
	}
}

// testSentCodeOneRequesterAtATime: a code with a requester hash replaces
// its factor's live code for the scope (unexpired, with checks left) only
// as a resend by that code's requester; another requester's, or one
// without a requester hash, is refused, with when the live one expires,
// and changes nothing. Expired, spent or used codes do not stand in the
// way, nor do other factors', scopes' or accounts'. A resender who asked
// for a live code of the scope keeps their hash on the new code (kept);
// codes without a requester hash replace any, as before.
func testSentCodeOneRequesterAtATime(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	smsFactor(t, s, a.ID, "sms-1")
	smsFactor(t, s, a.ID, "sms-2")
	smsFactor(t, s, b.ID, "sms-3")
	code := func(accountID, factorID, scope, hash, requester string, at time.Time) twofold.SentCode {
		c := sentCode(accountID, factorID, scope, hash)
		c.CreatedAt, c.ExpiresAt = at, at.Add(10*time.Minute)
		if requester != "" {
			c.RequesterHash = []byte(requester)
		}
		return c
	}
	stored := func(c twofold.SentCode, resender string, wantKept bool) {
		t.Helper()
		var rs []byte
		if resender != "" {
			rs = []byte(resender)
		}
		_, _, kept, busy, err := s.SwapSentCode(ctx, c, rs)
		if err != nil || !busy.IsZero() || kept != wantKept {
			t.Fatalf("SwapSentCode(%s) as %q = kept %v, busy %v, %v; want stored, kept %v", c.Hash, resender, kept, busy, err, wantKept)
		}
	}
	refused := func(c twofold.SentCode, resender []byte, wantUntil time.Time) {
		t.Helper()
		prev, had, kept, busy, err := s.SwapSentCode(ctx, c, resender)
		if err != nil || !busy.Equal(wantUntil) || had || kept || prev.Hash != nil {
			t.Errorf("SwapSentCode(%s) as %q = %+v, %v, %v, %v, %v; want refused until %v", c.Hash, resender, prev, had, kept, busy, err, wantUntil)
		}
	}
	hashes := func(accountID string) map[string]string {
		t.Helper()
		cs, err := s.SentCodes(ctx, accountID)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, c := range cs {
			out[c.FactorID+" "+c.Scope] = string(c.Hash) + "/" + string(c.RequesterHash)
		}
		return out
	}
	want := func(accountID, key, v string) {
		t.Helper()
		if got := hashes(accountID)[key]; got != v {
			t.Errorf("%s: got %q, want %q", key, got, v)
		}
	}

	stored(code(a.ID, "sms-1", "login:l1", "c1", "r1", t0), "", false)
	for _, r := range [][]byte{nil, {}, []byte("r-x"), []byte("r")} {
		refused(code(a.ID, "sms-1", "login:l1", "x1", "r-x", t0.Add(time.Second)), r, t0.Add(10*time.Minute))
	}
	want(a.ID, "sms-1 login:l1", "c1/r1")
	// Other factors, scopes and accounts are free.
	stored(code(a.ID, "sms-2", "login:l1", "d1", "r2", t0), "", false)
	stored(code(a.ID, "sms-1", "elevate:s1", "e1", "r3", t0), "", false)
	stored(code(b.ID, "sms-3", "login:l1", "b1", "r4", t0), "", false)
	// The requester's resend replaces its code, and keeps its hash.
	stored(code(a.ID, "sms-1", "login:l1", "c2", "r5", t0.Add(time.Minute)), "r1", true)
	want(a.ID, "sms-1 login:l1", "c2/r1")
	refused(code(a.ID, "sms-1", "login:l1", "x2", "r-x", t0.Add(2*time.Minute)), []byte("r2"), t0.Add(11*time.Minute))
	// A requester of the scope's other factor keeps their hash there too,
	// once that factor's code is no longer live (here: out of checks).
	for range 5 {
		takeChecks(t, s, a.ID, "login:l1", "sms-1", t0.Add(2*time.Minute))
	}
	stored(code(a.ID, "sms-1", "login:l1", "c3", "r6", t0.Add(2*time.Minute)), "r2", true)
	want(a.ID, "sms-1 login:l1", "c3/r2")
	// A made-up or stale resender gets the code's own hash.
	stored(code(a.ID, "sms-1", "elevate:s2", "e2", "r7", t0), "r-nobody", false)
	want(a.ID, "sms-1 elevate:s2", "e2/r7")
	// Expired, anyone's new code replaces it.
	stored(code(a.ID, "sms-1", "elevate:s1", "e3", "r8", t0.Add(10*time.Minute)), "", false)
	want(a.ID, "sms-1 elevate:s1", "e3/r8")
	// Used, neither.
	if ok, err := s.UseSentCode(ctx, "sms-2", "login:l1", []byte("d1"), t0.Add(3*time.Minute)); err != nil || !ok {
		t.Fatalf("UseSentCode(d1) = %v, %v", ok, err)
	}
	stored(code(a.ID, "sms-2", "login:l1", "d2", "r9", t0.Add(3*time.Minute)), "", false)
	// One without a requester hash (sent before migration 0056) is another
	// requester's while it lives.
	putCode(t, s, code(a.ID, "sms-1", "login:l9", "o1", "", t0))
	for _, r := range [][]byte{nil, {}, []byte("r1")} {
		refused(code(a.ID, "sms-1", "login:l9", "x3", "r-x", t0), r, t0.Add(10*time.Minute))
	}
	// A code without a requester hash (confirming a factor, a password
	// reset) replaces any, live or not.
	stored(code(a.ID, "sms-1", "login:l1", "c4", "", t0.Add(3*time.Minute)), "", false)
	want(a.ID, "sms-1 login:l1", "c4/")
	// A failed send's code is put back with its requester.
	stored(code(a.ID, "sms-1", "login:l2", "f1", "r10", t0), "", false)
	next := code(a.ID, "sms-1", "login:l2", "f2", "r11", t0.Add(time.Minute))
	prev, had, kept, busy, err := s.SwapSentCode(ctx, next, []byte("r10"))
	if err != nil || !had || !kept || !busy.IsZero() || string(prev.RequesterHash) != "r10" {
		t.Fatalf("SwapSentCode(f2) = %+v, %v, %v, %v, %v", prev, had, kept, busy, err)
	}
	next.RequesterHash = []byte("r10")
	if ok, err := s.RestoreSentCode(ctx, next, prev, had); err != nil || !ok {
		t.Fatalf("RestoreSentCode = %v, %v", ok, err)
	}
	want(a.ID, "sms-1 login:l2", "f1/r10")
}
