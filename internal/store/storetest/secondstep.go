package storetest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

const (
	keyPrefix, keySuffix = "2fa:", ":codes"
)

func throttleKey(accountID string) string { return keyPrefix + accountID + keySuffix }

func secondStep(tb testing.TB, s *store.Store, loginID string) twofold.SecondStep {
	tb.Helper()
	st, err := s.SecondStep(tb.Context(), loginID, keyPrefix, keySuffix)
	if err != nil {
		tb.Fatalf("SecondStep(%q): %v", loginID, err)
	}
	return st
}

// completion is a Completion of login loginID with factorID at step, whose
// session is named sessID, expecting a throttle with seen failures.
func completion(accountID, loginID, factorID string, step int64, seen int, sessID string) twofold.Completion {
	now := t0.Add(time.Minute)
	return twofold.Completion{
		LoginID: loginID, FactorID: factorID, Step: step, Drift: 1,
		ThrottleKey: throttleKey(accountID), Seen: seen,
		Session: session(accountID, sessID),
		Event:   twofold.AuditEvent{AccountID: accountID, Type: "login.succeeded", At: now, Source: "192.0.2.1", UserAgent: "test", Detail: "second factor: totp"},
		Now:     now,
	}
}

func complete(tb testing.TB, s *store.Store, c twofold.Completion) twofold.Outcome {
	tb.Helper()
	out, err := s.CompleteSecondStep(tb.Context(), c)
	if err != nil {
		tb.Fatalf("CompleteSecondStep(%s): %v", c.LoginID, err)
	}
	return out
}

// testSecondStepRead: one query returns the login, only the active TOTP
// factors in order, and the account's code throttle.
func testSecondStepRead(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-2", 10, "set")
	activeFactor(t, s, a.ID, "f-1", 20, "set2")
	newFactor(t, s, a.ID, "f-3") // pending: never offered
	l := newLogin(t, s, a.ID, "login-1")

	st := secondStep(t, s, l.ID)
	if st.Login.AccountID != a.ID || st.Login.Used || !st.Login.ExpiresAt.Equal(l.ExpiresAt) {
		t.Errorf("Login: got %+v, want %+v", st.Login, l)
	}
	var ids []string
	for _, f := range st.Factors {
		ids = append(ids, f.ID)
		if f.Status != twofold.FactorActive || len(f.SealedSecret) == 0 || f.AccountID != a.ID {
			t.Errorf("factor %s: got %+v", f.ID, f)
		}
	}
	if fmt.Sprint(ids) != "[f-1 f-2]" {
		t.Errorf("factors: got %v, want [f-1 f-2]", ids)
	}
	if f := st.Factors[1]; f.LastStep != 10 || f.Drift != 1 || f.Period != 30*time.Second || f.Digits != 6 {
		t.Errorf("factor f-2: got %+v", f)
	}
	if st.Failures != 0 || !st.LockedUntil.IsZero() {
		t.Errorf("throttle: got %d failures, lock %v; want none", st.Failures, st.LockedUntil)
	}

	lock := t0.Add(time.Hour)
	if ok, err := s.TakeSlot(t.Context(), throttleKey(a.ID), 0, lock, t0); err != nil || !ok {
		t.Fatalf("TakeSlot: %v, %v", ok, err)
	}
	st = secondStep(t, s, l.ID)
	if st.Failures != 1 || !st.LockedUntil.Equal(lock) {
		t.Errorf("throttle: got %d failures, lock %v; want 1, %v", st.Failures, st.LockedUntil, lock)
	}

	b := newAccount(t, s, "bob")
	st = secondStep(t, s, newLogin(t, s, b.ID, "login-b").ID)
	if len(st.Factors) != 0 || st.Login.AccountID != b.ID {
		t.Errorf("account without factors: got %+v", st)
	}
	_, err := s.SecondStep(t.Context(), "no-such-login", keyPrefix, keySuffix)
	wantCode(t, "SecondStep(unknown)", err, twofold.CodeNotFound)
}

// testCompleteSecondStep: each condition is checked as it writes, and a
// completion that fails one stores no session.
func testCompleteSecondStep(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	l1 := newLogin(t, s, a.ID, "login-1")

	if got := complete(t, s, completion(a.ID, l1.ID, "f-1", 11, 0, "s-1")); got != twofold.Completed {
		t.Fatalf("first completion: got outcome %d, want Completed", got)
	}
	if _, ok := sessionAt(t, s, session(a.ID, "s-1").TokenHash, t0.Add(time.Minute)); !ok {
		t.Error("the completed login's session is missing")
	}
	if !getLogin(t, s, l1.ID).Used {
		t.Error("the completed login is not marked used")
	}
	if f := getFactor(t, s, a.ID, "f-1"); f.LastStep != 11 {
		t.Errorf("LastStep: got %d, want 11", f.LastStep)
	}
	if ev := events(t, s, a.ID, 0, 10); len(ev) == 0 || ev[0].Type != "login.succeeded" || ev[0].Source != "192.0.2.1" {
		t.Errorf("audit: got %+v, want a login.succeeded event first", ev)
	}

	noSession := func(what, id string) {
		t.Helper()
		if _, ok := sessionAt(t, s, session(a.ID, id).TokenHash, t0.Add(time.Minute)); ok {
			t.Errorf("%s: a session was stored", what)
		}
	}
	l2 := newLogin(t, s, a.ID, "login-2")
	if got := complete(t, s, completion(a.ID, l2.ID, "f-1", 11, 0, "s-2")); got != twofold.StepUsed {
		t.Errorf("same step again: got outcome %d, want StepUsed", got)
	}
	noSession("same step again", "s-2")
	if getLogin(t, s, l2.ID).Used {
		t.Error("same step again: the login was used up")
	}

	if got := complete(t, s, completion(a.ID, l1.ID, "f-1", 12, 0, "s-3")); got != twofold.LoginGone {
		t.Errorf("used login: got outcome %d, want LoginGone", got)
	}
	noSession("used login", "s-3")
	// All or nothing: the step stays as it was.
	if f := getFactor(t, s, a.ID, "f-1"); f.LastStep != 11 {
		t.Errorf("used login: LastStep moved to %d, want 11", f.LastStep)
	}

	// Another attempt counted a failure after the read that saw none.
	if ok, err := s.TakeSlot(t.Context(), throttleKey(a.ID), 0, time.Time{}, t0); err != nil || !ok {
		t.Fatalf("TakeSlot: %v, %v", ok, err)
	}
	if got := complete(t, s, completion(a.ID, l2.ID, "f-1", 13, 0, "s-4")); got != twofold.ThrottleMoved {
		t.Errorf("moved throttle: got outcome %d, want ThrottleMoved", got)
	}
	noSession("moved throttle", "s-4")
	if getLogin(t, s, l2.ID).Used {
		t.Error("moved throttle: the login was used up")
	}

	// Read afresh, the same kind of completion goes through and clears the count.
	l3 := newLogin(t, s, a.ID, "login-3")
	st := secondStep(t, s, l3.ID)
	if st.Failures != 1 {
		t.Fatalf("failures: got %d, want 1", st.Failures)
	}
	if got := complete(t, s, completion(a.ID, l3.ID, "f-1", 14, st.Failures, "s-5")); got != twofold.Completed {
		t.Fatalf("after a fresh read: got outcome %d, want Completed", got)
	}
	if st := secondStep(t, s, l3.ID); st.Failures != 0 {
		t.Errorf("failures after a success: got %d, want 0", st.Failures)
	}
}

// testRaceCompleteSecondStep races one code on several logins, and several
// codes on one login: exactly one completion wins each race. Then many
// accounts complete at once, as under load, and all succeed.
func testRaceCompleteSecondStep(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	for round := range rounds {
		step := int64(100 + 10*round)
		logins := make([]string, racers)
		for i := range logins {
			logins[i] = newLogin(t, s, a.ID, fmt.Sprintf("login-%d-%d", round, i)).ID
		}
		wins := race(t, func(i int) (bool, error) {
			out, err := s.CompleteSecondStep(t.Context(), completion(a.ID, logins[i], "f-1", step, 0, fmt.Sprintf("same-code-%d-%d", round, i)))
			return out == twofold.Completed, err
		})
		if wins != 1 {
			t.Errorf("round %d: one code on %d logins: got %d winners, want 1", round, racers, wins)
		}
		shared := newLogin(t, s, a.ID, fmt.Sprintf("shared-%d", round)).ID
		wins = race(t, func(i int) (bool, error) {
			out, err := s.CompleteSecondStep(t.Context(), completion(a.ID, shared, "f-1", step+1+int64(i), 0, fmt.Sprintf("same-login-%d-%d", round, i)))
			return out == twofold.Completed, err
		})
		if wins != 1 {
			t.Errorf("round %d: %d codes on one login: got %d winners, want 1", round, racers, wins)
		}
	}

	const many = 48
	var cs []twofold.Completion
	for i := range many {
		b := newAccount(t, s, fmt.Sprintf("user%02d", i))
		activeFactor(t, s, b.ID, "g-"+b.ID, 10, "set")
		cs = append(cs, completion(b.ID, newLogin(t, s, b.ID, "login-"+b.ID).ID, "g-"+b.ID, 11, 0, "sess-"+b.ID))
	}
	var wg sync.WaitGroup
	outs := make([]twofold.Outcome, many)
	errs := make([]error, many)
	for i := range many {
		wg.Go(func() { outs[i], errs[i] = s.CompleteSecondStep(t.Context(), cs[i]) })
	}
	wg.Wait()
	for i := range many {
		if errs[i] != nil || outs[i] != twofold.Completed {
			t.Errorf("account %d of %d completing at once: got %d, %v; want Completed", i, many, outs[i], errs[i])
		}
		if _, ok := sessionAt(t, s, cs[i].Session.TokenHash, t0.Add(time.Minute)); !ok {
			t.Errorf("account %d: session missing", i)
		}
	}
}

// testDeleteStaleThrottles: stale counters and buckets go, except
// second-factor counters that still count failures, and locked or recently
// touched ones.
func testDeleteStaleThrottles(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	// A success leaves alice's code counter at zero.
	if got := complete(t, s, completion(a.ID, newLogin(t, s, a.ID, "login-1").ID, "f-1", 11, 0, "s-1")); got != twofold.Completed {
		t.Fatalf("completion: got outcome %d", got)
	}
	slot := func(key string, lock, now time.Time) {
		t.Helper()
		if ok, err := s.TakeSlot(ctx, key, 0, lock, now); err != nil || !ok {
			t.Fatalf("TakeSlot(%q): %v, %v", key, ok, err)
		}
	}
	slot("2fa:acct-bob:codes", time.Time{}, t0)           // counts a failure: kept
	slot("pw:guessed|192.0.2.1", time.Time{}, t0)         // stale password counter: removed
	slot("pw:locked|192.0.2.1", t0.Add(48*time.Hour), t0) // still locked: kept
	slot("pw:fresh|192.0.2.1", time.Time{}, t0.Add(30*time.Hour))
	take := func(key string, now time.Time) bool {
		t.Helper()
		ok, err := s.TakeToken(ctx, key, 1, 1e-9, now)
		if err != nil {
			t.Fatalf("TakeToken(%q): %v", key, err)
		}
		return ok
	}
	take("ip:stale", t0)
	take("ip:fresh", t0.Add(30*time.Hour))

	if err := s.DeleteStaleThrottles(ctx, t0.Add(25*time.Hour), "2fa:"); err != nil {
		t.Fatalf("DeleteStaleThrottles: %v", err)
	}
	keys, err := s.ThrottleKeys(ctx, "")
	if err != nil {
		t.Fatalf("ThrottleKeys: %v", err)
	}
	want := []string{"2fa:acct-bob:codes", "pw:fresh|192.0.2.1", "pw:locked|192.0.2.1"}
	if fmt.Sprint(keys) != fmt.Sprint(want) {
		t.Errorf("counters left: got %v, want %v", keys, want)
	}
	// A removed bucket starts full again; a kept one is still empty.
	if !take("ip:stale", t0.Add(26*time.Hour)) {
		t.Error("stale bucket was kept")
	}
	if take("ip:fresh", t0.Add(30*time.Hour)) {
		t.Error("fresh bucket was removed")
	}
}
