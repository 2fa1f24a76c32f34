package storetest

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

const (
	keyPrefix, keySuffix = "2fa:", ":codes"
	factorInfix          = ":factor:"
)

// keys names the throttles of the second steps of these tests as core does.
var keys = twofold.StepKeys{Prefix: keyPrefix, Suffix: keySuffix, FactorInfix: factorInfix}

func throttleKey(accountID string) string { return keyPrefix + accountID + keySuffix }

func secondStep(tb testing.TB, s *store.Store, loginID string) twofold.SecondStep {
	tb.Helper()
	st, err := s.SecondStep(tb.Context(), loginID, keys)
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
		Seen:    seen,
		Session: session(accountID, sessID),
		Event:   twofold.AuditEvent{AccountID: accountID, Type: "login.succeeded", At: now, Source: "192.0.2.1", UserAgent: "test", Detail: "second factor: totp"},
		Now:     now,
	}
}

// completeWith writes c whatever the second step reads, as a verdict reached
// on an earlier read would be.
func completeWith(s *store.Store, ctx context.Context, c twofold.Completion) (twofold.Outcome, error) {
	return s.DecideSecondStep(ctx, c.LoginID, keys, func(twofold.SecondStep, bool) twofold.Verdict {
		return twofold.Verdict{Complete: &c}
	})
}

func complete(tb testing.TB, s *store.Store, c twofold.Completion) twofold.Outcome {
	tb.Helper()
	out, err := completeWith(s, tb.Context(), c)
	if err != nil {
		tb.Fatalf("DecideSecondStep(%s): %v", c.LoginID, err)
	}
	return out
}

// testSecondStepRead: one query returns the login, only the active TOTP
// factors in order, the account's code throttle, and which of the factors'
// own throttles hold failures or a lock.
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
	// When a factor was confirmed and last used tell a refused code's cause.
	if f, want := st.Factors[1], getFactor(t, s, a.ID, "f-2"); f.ConfirmedAt == nil || f.LastUsedAt == nil ||
		!f.ConfirmedAt.Equal(*want.ConfirmedAt) || !f.LastUsedAt.Equal(*want.LastUsedAt) {
		t.Errorf("factor f-2: confirmed %v, last used %v; want %v, %v", f.ConfirmedAt, f.LastUsedAt, want.ConfirmedAt, want.LastUsedAt)
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
	// The factors' own counters: only those that hold something are named,
	// and the account's counter is none of them.
	if st.Counted != nil {
		t.Errorf("factors counted with only the account's counter set: got %v, want none", st.Counted)
	}
	factorSlot := func(factorID string, lock time.Time) {
		t.Helper()
		if ok, err := s.TakeSlot(t.Context(), keyPrefix+a.ID+factorInfix+factorID, 0, lock, t0); err != nil || !ok {
			t.Fatalf("TakeSlot(%s): %v, %v", factorID, ok, err)
		}
	}
	factorSlot("f-2", time.Time{})
	factorSlot("f-3", lock) // pending: not read
	if st = secondStep(t, s, l.ID); fmt.Sprint(st.Counted) != "[f-2]" {
		t.Errorf("factors counted: got %v, want [f-2]", st.Counted)
	}
	factorSlot("f-1", lock)
	st = secondStep(t, s, l.ID)
	slices.Sort(st.Counted)
	if fmt.Sprint(st.Counted) != "[f-1 f-2]" {
		t.Errorf("factors counted: got %v, want [f-1 f-2]", st.Counted)
	}
	if err := s.ResetThrottle(t.Context(), keyPrefix+a.ID+factorInfix+"f-2"); err != nil {
		t.Fatal(err)
	}
	if st = secondStep(t, s, l.ID); fmt.Sprint(st.Counted) != "[f-1]" {
		t.Errorf("factors counted after f-2's was reset: got %v, want [f-1]", st.Counted)
	}

	b := newAccount(t, s, "bob")
	st = secondStep(t, s, newLogin(t, s, b.ID, "login-b").ID)
	if len(st.Factors) != 0 || st.Login.AccountID != b.ID {
		t.Errorf("account without factors: got %+v", st)
	}
	_, err := s.SecondStep(t.Context(), "no-such-login", keys)
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
	if _, ok := sessionAt(t, s, session(a.ID, "s-1").ID, t0.Add(time.Minute)); !ok {
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
		if _, ok := sessionAt(t, s, session(a.ID, id).ID, t0.Add(time.Minute)); ok {
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
			out, err := completeWith(s, t.Context(), completion(a.ID, logins[i], "f-1", step, 0, fmt.Sprintf("same-code-%d-%d", round, i)))
			return out == twofold.Completed, err
		})
		if wins != 1 {
			t.Errorf("round %d: one code on %d logins: got %d winners, want 1", round, racers, wins)
		}
		shared := newLogin(t, s, a.ID, fmt.Sprintf("shared-%d", round)).ID
		wins = race(t, func(i int) (bool, error) {
			out, err := completeWith(s, t.Context(), completion(a.ID, shared, "f-1", step+1+int64(i), 0, fmt.Sprintf("same-login-%d-%d", round, i)))
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
		wg.Go(func() { outs[i], errs[i] = completeWith(s, t.Context(), cs[i]) })
	}
	wg.Wait()
	for i := range many {
		if errs[i] != nil || outs[i] != twofold.Completed {
			t.Errorf("account %d of %d completing at once: got %d, %v; want Completed", i, many, outs[i], errs[i])
		}
		if _, ok := sessionAt(t, s, cs[i].Session.ID, t0.Add(time.Minute)); !ok {
			t.Errorf("account %d: session missing", i)
		}
	}
}

// testTakeTokenClockBack: a take whose now is before the bucket's last
// update (a clock stepped back, instances whose clocks disagree) refills
// nothing and takes what is there, without moving the update back: the
// bucket neither refuses everyone until the clocks agree nor counts the
// same seconds twice.
func testTakeTokenClockBack(t *testing.T, s *store.Store) {
	ctx := t.Context()
	take := func(now time.Time) bool {
		t.Helper()
		ok, err := s.TakeToken(ctx, "ip:skew", 3, 1, now)
		if err != nil {
			t.Fatalf("TakeToken: %v", err)
		}
		return ok
	}
	for range 3 {
		if !take(t0) {
			t.Fatal("a full bucket refused")
		}
	}
	ahead, behind := t0.Add(10*time.Second), t0.Add(10*time.Second-2*time.Minute)
	if !take(ahead) { // refilled to 3, 2 left
		t.Fatal("a refilled bucket refused")
	}
	for i := range 2 {
		if !take(behind) {
			t.Fatalf("take %d by a clock two minutes behind refused", i)
		}
	}
	if tokens, at, _, err := s.Bucket(ctx, "ip:skew"); err != nil || tokens != 0 || !at.Equal(ahead) {
		t.Fatalf("Bucket: got %v tokens at %v, %v; want 0 at %v", tokens, at, err, ahead)
	}
	if take(ahead) {
		t.Fatal("an empty bucket gave a token again by the clock ahead")
	}
	if !take(ahead.Add(time.Second)) {
		t.Fatal("a second later, refused")
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
	slot("2fa:acct-bob:codes", time.Time{}, t0)              // counts a failure: kept
	slot("2fa:acct-bob:factor:f-9", time.Time{}, t0)         // the same
	slot("2fa:acct-bob:recovery:192.0.2.9", time.Time{}, t0) // counts, but matches no kept pattern: removed
	slot("2fa:acct-bob:confirm:f-9", time.Time{}, t0)        // the same
	slot("pw:guessed|192.0.2.1", time.Time{}, t0)            // stale password counter: removed
	slot("pw:locked|192.0.2.1", t0.Add(48*time.Hour), t0)    // still locked: kept
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
	// Bucket reads a bucket as last stored, so that a refusal can say when
	// the next token comes; none is not found.
	if tokens, at, found, err := s.Bucket(ctx, "ip:fresh"); err != nil || !found || tokens != 0 || !at.Equal(t0.Add(30*time.Hour)) {
		t.Errorf("Bucket(ip:fresh): got %v, %v, %v, %v; want 0 tokens at %v", tokens, at, found, err, t0.Add(30*time.Hour))
	}
	if _, _, found, err := s.Bucket(ctx, "ip:none"); err != nil || found {
		t.Errorf("Bucket(ip:none): got found %v, %v; want not found", found, err)
	}

	if err := s.DeleteStaleThrottles(ctx, t0.Add(25*time.Hour), []string{"2fa:%:codes", "2fa:%:factor:%"}); err != nil {
		t.Fatalf("DeleteStaleThrottles: %v", err)
	}
	keys, err := s.ThrottleKeys(ctx, "")
	if err != nil {
		t.Fatalf("ThrottleKeys: %v", err)
	}
	want := []string{"2fa:acct-bob:codes", "2fa:acct-bob:factor:f-9", "pw:fresh|192.0.2.1", "pw:locked|192.0.2.1"}
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

// decideFromRead decides as the service does, on what was read: a code of
// step (0: a wrong code) completes the login if the factor has not accepted
// it yet; else it is a failure, which locks for a minute once the count
// reaches lockAt (0: never). sessID names the session.
func decideFromRead(accountID, loginID, sessID string, step int64, lockAt int) func(twofold.SecondStep, bool) twofold.Verdict {
	return func(st twofold.SecondStep, found bool) twofold.Verdict {
		now := t0.Add(time.Minute)
		if !found || st.Login.Used || len(st.Factors) == 0 || now.Before(st.LockedUntil) {
			return twofold.Verdict{}
		}
		if step <= st.Factors[0].LastStep {
			lock := time.Time{}
			if lockAt > 0 && st.Failures+1 >= lockAt {
				lock = now.Add(time.Minute)
			}
			return twofold.Verdict{Fail: &twofold.Failure{Seen: st.Failures, LockUntil: lock, Now: now,
				Event: twofold.AuditEvent{AccountID: accountID, Type: "login.second_factor_failed", At: now, Detail: fmt.Sprintf("failure %d", st.Failures+1)}}}
		}
		c := completion(accountID, loginID, st.Factors[0].ID, step, st.Failures, sessID)
		return twofold.Verdict{Complete: &c}
	}
}

func decide(tb testing.TB, s *store.Store, loginID string, d func(twofold.SecondStep, bool) twofold.Verdict) twofold.Outcome {
	tb.Helper()
	out, err := s.DecideSecondStep(tb.Context(), loginID, keys, d)
	if err != nil {
		tb.Fatalf("DecideSecondStep(%s): %v", loginID, err)
	}
	return out
}

// testDecideSecondStep: a failure takes the next slot and stores its event,
// unless the counter moved; a verdict of nothing writes nothing; a verdict
// that does not fit what was read is refused.
func testDecideSecondStep(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	activeFactor(t, s, a.ID, "f-1", 10, "set")
	l := newLogin(t, s, a.ID, "login-1")

	for i := 1; i <= 3; i++ {
		if got := decide(t, s, l.ID, decideFromRead(a.ID, l.ID, "s-x", 0, 3)); got != twofold.Counted {
			t.Fatalf("wrong code %d: got outcome %d, want Counted", i, got)
		}
		if st := secondStep(t, s, l.ID); st.Failures != i {
			t.Errorf("after wrong code %d: %d failures", i, st.Failures)
		}
	}
	st := secondStep(t, s, l.ID)
	if want := t0.Add(2 * time.Minute); !st.LockedUntil.Equal(want) {
		t.Errorf("lock after the third failure: got %v, want %v", st.LockedUntil, want)
	}
	if ev := events(t, s, a.ID, 0, 10); len(ev) != 3 || ev[0].Type != "login.second_factor_failed" || ev[0].Detail != "failure 3" {
		t.Errorf("failure events: got %+v, want 3, newest first", ev)
	}
	// A failure reached on a stale read of the counter takes no slot.
	stale := func(twofold.SecondStep, bool) twofold.Verdict {
		return twofold.Verdict{Fail: &twofold.Failure{Seen: 1, Now: t0.Add(3 * time.Minute), Event: twofold.AuditEvent{AccountID: a.ID, Type: "stale"}}}
	}
	if got := decide(t, s, l.ID, stale); got != twofold.ThrottleMoved {
		t.Errorf("failure on a stale count: got outcome %d, want ThrottleMoved", got)
	}
	if st := secondStep(t, s, l.ID); st.Failures != 3 {
		t.Errorf("failure on a stale count: %d failures, want 3", st.Failures)
	}
	if ev := events(t, s, a.ID, 0, 10); len(ev) != 3 {
		t.Errorf("failure on a stale count: its event was stored (%d events)", len(ev))
	}
	// Locked: the service decides nothing, and nothing is written.
	if got := decide(t, s, l.ID, decideFromRead(a.ID, l.ID, "s-1", 11, 0)); got != twofold.Unwritten {
		t.Errorf("locked: got outcome %d, want Unwritten", got)
	}
	if getLogin(t, s, l.ID).Used {
		t.Error("locked: the login was used up")
	}
	// Once the lock is over, a right code completes and clears the counter
	// (the login lasts five minutes).
	late := func(st twofold.SecondStep, found bool) twofold.Verdict {
		c := completion(a.ID, l.ID, "f-1", 11, st.Failures, "s-2")
		c.Now = t0.Add(3 * time.Minute)
		return twofold.Verdict{Complete: &c}
	}
	if got := decide(t, s, l.ID, late); got != twofold.Completed {
		t.Fatalf("after the lock: got outcome %d, want Completed", got)
	}
	if st := secondStep(t, s, l.ID); st.Failures != 0 || !st.LockedUntil.IsZero() {
		t.Errorf("after a success: %d failures, lock %v; want none", st.Failures, st.LockedUntil)
	}

	// Verdicts that do not fit the read are errors, and write nothing.
	l2 := newLogin(t, s, a.ID, "login-2")
	bad := map[string]func(twofold.SecondStep, bool) twofold.Verdict{
		"both": func(st twofold.SecondStep, _ bool) twofold.Verdict {
			c := completion(a.ID, l2.ID, "f-1", 20, 0, "s-3")
			return twofold.Verdict{Complete: &c, Fail: &twofold.Failure{Now: t0}}
		},
		"another login": func(st twofold.SecondStep, _ bool) twofold.Verdict {
			c := completion(a.ID, l.ID, "f-1", 20, 0, "s-3")
			return twofold.Verdict{Complete: &c}
		},
	}
	for name, d := range bad {
		if _, err := s.DecideSecondStep(t.Context(), l2.ID, keys, d); err == nil {
			t.Errorf("verdict %s: no error", name)
		}
	}
	if _, err := s.DecideSecondStep(t.Context(), "no-such-login", keys, func(_ twofold.SecondStep, found bool) twofold.Verdict {
		if found {
			t.Error("an unknown login was found")
		}
		return twofold.Verdict{Fail: &twofold.Failure{Now: t0}}
	}); err == nil {
		t.Error("a failure on an unknown login: no error")
	}
	if getLogin(t, s, l2.ID).Used {
		t.Error("a refused verdict used the login up")
	}
	if _, ok := sessionAt(t, s, session(a.ID, "s-3").ID, t0.Add(time.Minute)); ok {
		t.Error("a refused verdict stored a session")
	}
}

// testDecideSecondStepBucket: a second step with a rate bucket takes a token
// first; without one it reads nothing, decides nothing and writes nothing
// (RateLimited); an unknown login costs a token as a known one does; and the
// token is the same one TakeToken takes.
func testDecideSecondStepBucket(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "bucket")
	activeFactor(t, s, a.ID, "f-b", 10, "set")
	l1, l2 := newLogin(t, s, a.ID, "login-b1"), newLogin(t, s, a.ID, "login-b2")
	withBucket := func(now time.Time) twofold.StepKeys {
		k := keys
		k.Bucket = &twofold.Bucket{Key: "ip:192.0.2.7", Burst: 3, Rate: 0.5, Now: now}
		return k
	}
	decided := 0
	counting := func(d func(twofold.SecondStep, bool) twofold.Verdict) func(twofold.SecondStep, bool) twofold.Verdict {
		return func(st twofold.SecondStep, found bool) twofold.Verdict {
			decided++
			return d(st, found)
		}
	}
	// Three tokens: a wrong code, an unknown login, and TakeToken's.
	if out, err := s.DecideSecondStep(t.Context(), l1.ID, withBucket(t0), counting(decideFromRead(a.ID, l1.ID, "s-b", 0, 0))); err != nil || out != twofold.Counted {
		t.Fatalf("wrong code with a token: got outcome %d, %v; want Counted", out, err)
	}
	unknown := func(_ twofold.SecondStep, found bool) twofold.Verdict {
		if found {
			t.Error("an unknown login was found")
		}
		return twofold.Verdict{}
	}
	if out, err := s.DecideSecondStep(t.Context(), "no-such-login", withBucket(t0), counting(unknown)); err != nil || out != twofold.Unwritten {
		t.Fatalf("unknown login with a token: got outcome %d, %v; want Unwritten", out, err)
	}
	if ok, err := s.TakeToken(t.Context(), "ip:192.0.2.7", 3, 0.5, t0); err != nil || !ok {
		t.Fatalf("TakeToken, the third token: got %v, %v", ok, err)
	}
	// None left: nothing is decided or written, however right the code.
	out, err := s.DecideSecondStep(t.Context(), l2.ID, withBucket(t0.Add(time.Second)), counting(decideFromRead(a.ID, l2.ID, "s-b", 11, 0)))
	if err != nil || out != twofold.RateLimited {
		t.Fatalf("no token left: got outcome %d, %v; want RateLimited", out, err)
	}
	if decided != 2 {
		t.Errorf("decide ran %d times, want 2 (not without a token)", decided)
	}
	if getLogin(t, s, l2.ID).Used {
		t.Error("without a token the login was used up")
	}
	if st := secondStep(t, s, l2.ID); st.Failures != 1 {
		t.Errorf("without a token: %d failures, want the one of the wrong code", st.Failures)
	}
	if ok, err := s.TakeToken(t.Context(), "ip:192.0.2.7", 3, 0.5, t0.Add(time.Second)); err != nil || ok {
		t.Fatalf("TakeToken after RateLimited: got %v, %v; want no token", ok, err)
	}
	// Two seconds later, one token more: the right code completes.
	if out, err := s.DecideSecondStep(t.Context(), l2.ID, withBucket(t0.Add(2*time.Second)), counting(decideFromRead(a.ID, l2.ID, "s-b", 11, 0))); err != nil || out != twofold.Completed {
		t.Fatalf("after the refill: got outcome %d, %v; want Completed", out, err)
	}
	if !getLogin(t, s, l2.ID).Used {
		t.Error("after the refill: the login was not used up")
	}
	if ok, err := s.TakeToken(t.Context(), "ip:192.0.2.7", 3, 0.5, t0.Add(2*time.Second)); err != nil || ok {
		t.Fatalf("TakeToken after the completion: got %v, %v; want no token (it took the refilled one)", ok, err)
	}
}

// testRaceDecideSecondStep races second steps that decide on what they read.
// One right code on several logins: one completes. Several wrong codes on one
// login: each answered failure took its own slot, so the count equals the
// answers. And a step whose write fails (a session already stored) or whose
// decision panics fails alone, whatever else is written with it.
func testRaceDecideSecondStep(t *testing.T, s *store.Store) {
	for round := range rounds {
		a := newAccount(t, s, fmt.Sprintf("alice%d", round))
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		logins := make([]string, racers)
		for i := range logins {
			logins[i] = newLogin(t, s, a.ID, fmt.Sprintf("login-%d-%d", round, i)).ID
		}
		wins := race(t, func(i int) (bool, error) {
			out, err := s.DecideSecondStep(t.Context(), logins[i], keys, decideFromRead(a.ID, logins[i], fmt.Sprintf("s-%d-%d", round, i), 11, 0))
			return out == twofold.Completed, err
		})
		if wins != 1 {
			t.Errorf("round %d: one code on %d logins: got %d completions, want 1", round, racers, wins)
		}

		b := newAccount(t, s, fmt.Sprintf("bob%d", round))
		activeFactor(t, s, b.ID, "f-"+b.ID, 10, "set")
		shared := newLogin(t, s, b.ID, fmt.Sprintf("shared-%d", round)).ID
		answered := race(t, func(i int) (bool, error) {
			out, err := s.DecideSecondStep(t.Context(), shared, keys, decideFromRead(b.ID, shared, "", 0, 0))
			if err == nil && out != twofold.Counted && out != twofold.ThrottleMoved {
				t.Errorf("wrong code: got outcome %d, want Counted or ThrottleMoved", out)
			}
			return out == twofold.Counted, err
		})
		if st := secondStep(t, s, shared); answered == 0 || st.Failures != answered {
			t.Errorf("round %d: %d wrong codes at once: %d answered, %d failures counted; want as many as answered, at least 1", round, racers, answered, st.Failures)
		}
	}

	const many = 24
	var logins, sessions []string
	for i := range many {
		c := newAccount(t, s, fmt.Sprintf("carol%02d", i))
		activeFactor(t, s, c.ID, "g-"+c.ID, 10, "set")
		logins = append(logins, newLogin(t, s, c.ID, "login-"+c.ID).ID)
		sessions = append(sessions, "sess-"+c.ID)
	}
	// Login 0's session token is stored already: its write fails.
	if err := s.CreateSession(t.Context(), session(strings.TrimPrefix(logins[0], "login-"), sessions[0])); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}
	var wg sync.WaitGroup
	outs := make([]twofold.Outcome, many)
	errs := make([]error, many)
	for i := range many {
		if i == 1 {
			continue
		}
		accountID := strings.TrimPrefix(logins[i], "login-")
		wg.Go(func() {
			outs[i], errs[i] = s.DecideSecondStep(t.Context(), logins[i], keys, decideFromRead(accountID, logins[i], sessions[i], 11, 0))
		})
	}
	// Login 1's decision panics: on SQLite it runs on the writer's goroutine,
	// which must survive it.
	outs[1], errs[1] = s.DecideSecondStep(t.Context(), logins[1], keys, func(twofold.SecondStep, bool) twofold.Verdict {
		panic("a bug in the decision")
	})
	wg.Wait()
	if errs[0] == nil {
		t.Errorf("the step whose session token was taken: got outcome %d, want an error", outs[0])
	}
	if errs[1] == nil {
		t.Errorf("the step whose decision panicked: got outcome %d, want an error", outs[1])
	}
	for i := range 2 {
		if getLogin(t, s, logins[i]).Used {
			t.Errorf("step %d failed but used its login up", i)
		}
	}
	for i := 2; i < many; i++ {
		if errs[i] != nil || outs[i] != twofold.Completed {
			t.Errorf("account %d of %d completing at once: got %d, %v; want Completed", i, many, outs[i], errs[i])
		}
	}
}

// testBatchFailsAlone: second steps that queue together share one
// transaction on SQLite (see the committer) and one write statement on
// PostgreSQL (see the batcher); a step whose write fails or whose decision
// panics must fail alone, and the steps beside it must be written as if it
// had not been there. They are queued while every goroutine that takes
// steps is held busy, so that they form one batch (queueSteps).
func testBatchFailsAlone(t *testing.T, s *store.Store) {
	ids := func(name string) (accountID, loginID, sessID string) {
		a := newAccount(t, s, name)
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		return a.ID, newLogin(t, s, a.ID, "login-"+a.ID).ID, "sess-" + a.ID
	}
	const n = 4 // 0: its session is taken; 1: its decision panics; 2, 3: right codes
	var accounts, logins, sessions [n]string
	for i := range n {
		accounts[i], logins[i], sessions[i] = ids(fmt.Sprintf("batch%d", i))
	}
	if err := s.CreateSession(t.Context(), session(accounts[0], sessions[0])); err != nil {
		t.Fatalf("CreateSession: %v", err)
	}

	var outs [n]twofold.Outcome
	var errs [n]error
	steps := make([]func(), n)
	for i := range n {
		d := decideFromRead(accounts[i], logins[i], sessions[i], 11, 0)
		if i == 1 {
			d = func(twofold.SecondStep, bool) twofold.Verdict { panic("a bug in the decision") }
		}
		steps[i] = func() {
			outs[i], errs[i] = s.DecideSecondStep(t.Context(), logins[i], keys, d)
		}
	}
	queueSteps(t, s, steps...)

	for i := range 2 {
		if errs[i] == nil {
			t.Errorf("step %d (its write or its decision fails): got outcome %d, want an error", i, outs[i])
		}
		if getLogin(t, s, logins[i]).Used {
			t.Errorf("step %d failed but used its login up", i)
		}
		if ev := events(t, s, accounts[i], 0, 10); len(ev) != 0 {
			t.Errorf("step %d failed but stored events %+v", i, ev)
		}
	}
	if _, ok := sessionAt(t, s, sessions[1], t0.Add(time.Minute)); ok {
		t.Error("the step whose decision panicked stored a session")
	}
	for i := 2; i < n; i++ {
		if errs[i] != nil || outs[i] != twofold.Completed {
			t.Errorf("step %d beside the failing ones: got %d, %v; want Completed", i, outs[i], errs[i])
			continue
		}
		if !getLogin(t, s, logins[i]).Used {
			t.Errorf("step %d completed but its login is unused", i)
		}
		if _, ok := sessionAt(t, s, sessions[i], t0.Add(time.Minute)); !ok {
			t.Errorf("step %d completed without its session", i)
		}
		if ev := events(t, s, accounts[i], 0, 10); len(ev) != 1 || ev[0].Type != "login.succeeded" {
			t.Errorf("step %d: got events %+v, want its login.succeeded", i, ev)
		}
	}
}

// holdSteps occupies every goroutine that takes queued second steps (see
// store.Store.StepWorkers) with a step whose decision waits. The steps the
// test queues next wait, and once QueuedSteps counts them all, release
// frees one goroutine alone until it has taken every queued step: they form
// one batch (up to 64 of them), whatever the store.
func holdSteps(t *testing.T, s *store.Store) (release func()) {
	t.Helper()
	var wg sync.WaitGroup
	var free []chan struct{}
	for i := range s.StepWorkers() {
		a := newAccount(t, s, fmt.Sprintf("holder%d", i))
		login := newLogin(t, s, a.ID, "hold-"+a.ID).ID
		in, out := make(chan struct{}), make(chan struct{})
		free = append(free, out)
		wg.Go(func() {
			_, err := s.DecideSecondStep(context.WithoutCancel(t.Context()), login, keys, func(twofold.SecondStep, bool) twofold.Verdict {
				close(in)
				<-out
				return twofold.Verdict{}
			})
			if err != nil {
				t.Errorf("the holding step: %v", err)
			}
		})
		<-in
	}
	return func() {
		close(free[0])
		for s.QueuedSteps() > 0 {
			runtime.Gosched()
		}
		for _, out := range free[1:] {
			close(out)
		}
		wg.Wait()
	}
}

// queueSteps runs each of steps in a goroutine of its own, all in one batch
// (holdSteps), queued in the order of steps: each goroutine starts once
// the one before it has queued its step (goroutines started together queue
// in whatever order the scheduler runs them, which once in some dozens of
// runs put a later code of an account before an earlier one). It returns
// once every one is answered.
func queueSteps(t *testing.T, s *store.Store, steps ...func()) {
	t.Helper()
	release := holdSteps(t, s)
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Go(step)
		for s.QueuedSteps() < i+1 {
			runtime.Gosched()
		}
	}
	release()
	wg.Wait()
}

// testBatchManyAccounts: many second steps of different accounts in one
// batch all complete, each with its login used, its session and its event.
func testBatchManyAccounts(t *testing.T, s *store.Store) {
	const n = 40
	var accounts, logins [n]string
	var outs [n]twofold.Outcome
	var errs [n]error
	steps := make([]func(), n)
	for i := range n {
		a := newAccount(t, s, fmt.Sprintf("many%02d", i))
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		accounts[i], logins[i] = a.ID, newLogin(t, s, a.ID, "login-"+a.ID).ID
		steps[i] = func() {
			outs[i], errs[i] = s.DecideSecondStep(t.Context(), logins[i], keys, decideFromRead(accounts[i], logins[i], "sess-"+accounts[i], 11, 0))
		}
	}
	queueSteps(t, s, steps...)
	for i := range n {
		if errs[i] != nil || outs[i] != twofold.Completed {
			t.Errorf("account %d of %d in one batch: got %d, %v; want Completed", i, n, outs[i], errs[i])
			continue
		}
		if !getLogin(t, s, logins[i]).Used {
			t.Errorf("account %d: completed but its login is unused", i)
		}
		if _, ok := sessionAt(t, s, "sess-"+accounts[i], t0.Add(time.Minute)); !ok {
			t.Errorf("account %d: completed without its session", i)
		}
		if ev := events(t, s, accounts[i], 0, 10); len(ev) != 1 || ev[0].Type != "login.succeeded" {
			t.Errorf("account %d: got events %+v, want its login.succeeded", i, ev)
		}
		if st := secondStep(t, s, logins[i]); st.Factors[0].LastStep != 11 {
			t.Errorf("account %d: factor's last step %d, want 11", i, st.Factors[0].LastStep)
		}
	}
}

// testBatchSameAccount: steps of one account queued together are each
// decided on what the ones before them wrote. One code on two logins: one
// completes, the other is a code already used. Two codes of later steps on two
// logins: both complete. One login sent twice: it completes once. Wrong
// codes on one login: each counted in its own slot.
func testBatchSameAccount(t *testing.T, s *store.Store) {
	type step struct {
		account, login, sess string
		code                 int64
		out                  twofold.Outcome
		err                  error
	}
	mk := func(name string, logins ...string) string {
		a := newAccount(t, s, name)
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		for _, l := range logins {
			newLogin(t, s, a.ID, l)
		}
		return a.ID
	}
	a, b, c, d := mk("same-a", "a1", "a2"), mk("same-b", "b1", "b2"), mk("same-c", "c1"), mk("same-d", "d1")
	all := []*step{
		{account: a, login: "a1", sess: "sa1", code: 11}, {account: a, login: "a2", sess: "sa2", code: 11},
		{account: b, login: "b1", sess: "sb1", code: 11}, {account: b, login: "b2", sess: "sb2", code: 12},
		{account: c, login: "c1", sess: "sc1", code: 11}, {account: c, login: "c1", sess: "sc1b", code: 11},
		{account: d, login: "d1", code: 9}, {account: d, login: "d1", code: 8}, {account: d, login: "d1", code: 7},
	}
	steps := make([]func(), len(all))
	for i, st := range all {
		steps[i] = func() {
			st.out, st.err = s.DecideSecondStep(t.Context(), st.login, keys, decideFromRead(st.account, st.login, st.sess, st.code, 0))
		}
	}
	queueSteps(t, s, steps...)
	count := func(from []*step, out twofold.Outcome) (n int) {
		for _, st := range from {
			if st.err != nil {
				t.Errorf("login %s: %v", st.login, st.err)
			}
			if st.out == out {
				n++
			}
		}
		return n
	}
	if n := count(all[0:2], twofold.Completed); n != 1 {
		t.Errorf("one code on two logins of one account: %d completed, want 1", n)
	}
	if n := count(all[2:4], twofold.Completed); n != 2 {
		t.Errorf("two later codes on two logins of one account: %d completed, want 2", n)
	}
	if n := count(all[4:6], twofold.Completed); n != 1 {
		t.Errorf("one login sent twice: %d completed, want 1", n)
	}
	if n := count(all[6:9], twofold.Counted); n != 3 || secondStep(t, s, "d1").Failures != 3 {
		t.Errorf("three wrong codes on one login: %d counted, %d failures stored; want 3 and 3", n, secondStep(t, s, "d1").Failures)
	}
	for _, acct := range []string{a, c} {
		var n int
		for _, e := range events(t, s, acct, 0, 10) {
			if e.Type == "login.succeeded" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("account %s: %d login.succeeded events, want 1", acct, n)
		}
	}
	if got := secondStep(t, s, "b1").Factors[0].LastStep; got != 12 {
		t.Errorf("account b: factor's last step %d, want 12", got)
	}
}

// testBatchMixed: one batch mixing a completion, a failure, a login that is
// gone, a step already used, a login already used and a throttle that moved
// writes each as if it were alone.
func testBatchMixed(t *testing.T, s *store.Store) {
	mk := func(name string) (accountID, loginID string) {
		a := newAccount(t, s, name)
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		return a.ID, newLogin(t, s, a.ID, "login-"+a.ID).ID
	}
	okA, okL := mk("mix-ok")
	failA, failL := mk("mix-fail")
	goneL := "login-never-made" // as one swept away since
	usedA, usedL := mk("mix-used")
	doneA, doneL := mk("mix-done")
	movedA, movedL := mk("mix-moved")
	if out := complete(t, s, completion(doneA, doneL, "f-"+doneA, 11, 0, "s-done-first")); out != twofold.Completed {
		t.Fatalf("completing %s first: got %d", doneL, out)
	}
	if out := decide(t, s, movedL, decideFromRead(movedA, movedL, "", 10, 0)); out != twofold.Counted {
		t.Fatalf("a wrong code on %s first: got %d", movedL, out)
	}

	type result struct {
		out   twofold.Outcome
		err   error
		found bool
	}
	var r [6]result
	run := func(i int, loginID string, v func(twofold.SecondStep) twofold.Verdict) func() {
		return func() {
			r[i].out, r[i].err = s.DecideSecondStep(t.Context(), loginID, keys, func(st twofold.SecondStep, found bool) twofold.Verdict {
				r[i].found = found
				if !found {
					return twofold.Verdict{}
				}
				return v(st)
			})
		}
	}
	queueSteps(t, s,
		run(0, okL, func(twofold.SecondStep) twofold.Verdict {
			c := completion(okA, okL, "f-"+okA, 11, 0, "s-ok")
			return twofold.Verdict{Complete: &c}
		}),
		run(1, failL, func(st twofold.SecondStep) twofold.Verdict {
			return decideFromRead(failA, failL, "", 10, 0)(st, true)
		}),
		run(2, goneL, func(twofold.SecondStep) twofold.Verdict {
			t.Error("decided on a login that is gone")
			return twofold.Verdict{}
		}),
		run(3, usedL, func(twofold.SecondStep) twofold.Verdict {
			c := completion(usedA, usedL, "f-"+usedA, 10, 0, "s-used") // the factor's last step already
			return twofold.Verdict{Complete: &c}
		}),
		run(4, doneL, func(twofold.SecondStep) twofold.Verdict {
			c := completion(doneA, doneL, "f-"+doneA, 12, 0, "s-done-again")
			return twofold.Verdict{Complete: &c}
		}),
		run(5, movedL, func(twofold.SecondStep) twofold.Verdict {
			c := completion(movedA, movedL, "f-"+movedA, 11, 0, "s-moved") // 1 failure stored, says 0
			return twofold.Verdict{Complete: &c}
		}),
	)
	for i, want := range []twofold.Outcome{twofold.Completed, twofold.Counted, twofold.Unwritten, twofold.StepUsed, twofold.LoginGone, twofold.ThrottleMoved} {
		if r[i].err != nil || r[i].out != want {
			t.Errorf("step %d: got %d, %v; want %d", i, r[i].out, r[i].err, want)
		}
	}
	if r[2].found {
		t.Error("the login that is gone was found")
	}
	for _, id := range []string{"s-used", "s-done-again", "s-moved"} {
		if _, ok := sessionAt(t, s, id, t0.Add(time.Minute)); ok {
			t.Errorf("session %s stored by a step that was refused", id)
		}
	}
	for _, l := range []string{usedL, movedL} {
		if getLogin(t, s, l).Used {
			t.Errorf("login %s used by a step that was refused", l)
		}
	}
	if _, ok := sessionAt(t, s, "s-ok", t0.Add(time.Minute)); !ok || !getLogin(t, s, okL).Used {
		t.Error("the completion beside the others stored no session or left its login unused")
	}
	if st := secondStep(t, s, failL); st.Failures != 1 {
		t.Errorf("the failure beside the others: %d failures stored, want 1", st.Failures)
	}
	if ev := events(t, s, failA, 0, 10); len(ev) != 1 || ev[0].Type != "login.second_factor_failed" {
		t.Errorf("the failure beside the others: got events %+v, want its login.second_factor_failed", ev)
	}
	for acct, want := range map[string]int{usedA: 0, movedA: 1} {
		if ev := events(t, s, acct, 0, 10); len(ev) != want {
			t.Errorf("account %s: got events %+v, want %d (none for the refused step)", acct, ev, want)
		}
	}
}

// queueInOrder runs each of steps in a goroutine of its own, all in one
// batch (holdSteps) and queued in the order given, and returns once every
// one is answered. On SQLite, where a step takes its token before it queues
// and the held writer would keep it from doing so, they run one after the
// other: the order is the same.
func queueInOrder(t *testing.T, s *store.Store, steps ...func()) {
	t.Helper()
	if s.Dialect() == store.SQLite {
		for _, step := range steps {
			step()
		}
		return
	}
	release := holdSteps(t, s)
	var wg sync.WaitGroup
	for i, step := range steps {
		wg.Go(step)
		for s.QueuedSteps() < i+1 {
			runtime.Gosched()
		}
	}
	release()
	wg.Wait()
}

// addressSteps makes one account and login for each of buckets and returns
// the steps that complete them with a right code, each taking its token
// from its bucket (an address's), in the order given; each step's outcome
// and whether it was decided land in outs and decided.
func addressSteps(t *testing.T, s *store.Store, name string, buckets []twofold.Bucket, outs []twofold.Outcome, decided []bool) (steps []func(), logins []string) {
	t.Helper()
	for i := range buckets {
		a := newAccount(t, s, fmt.Sprintf("%s%02d", name, i))
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		login := newLogin(t, s, a.ID, "login-"+a.ID).ID
		logins = append(logins, login)
		k := keys
		k.Bucket = &buckets[i]
		d := decideFromRead(a.ID, login, "sess-"+a.ID, 11, 0)
		steps = append(steps, func() {
			var err error
			outs[i], err = s.DecideSecondStep(t.Context(), login, k, func(st twofold.SecondStep, found bool) twofold.Verdict {
				decided[i] = true
				return d(st, found)
			})
			if err != nil {
				t.Errorf("step %d: %v", i, err)
			}
		})
	}
	return steps, logins
}

// checkAddressSteps checks that the steps of addressSteps whose want is
// Completed completed and used their login, and that the others were
// refused as rate limited without being decided or written.
func checkAddressSteps(t *testing.T, s *store.Store, logins []string, outs, want []twofold.Outcome, decided []bool) {
	t.Helper()
	for i := range want {
		if outs[i] != want[i] {
			t.Errorf("step %d: got outcome %d, want %d", i, outs[i], want[i])
		}
		if took := want[i] == twofold.Completed; decided[i] != took || getLogin(t, s, logins[i]).Used != took {
			t.Errorf("step %d: decided %v, login used %v; want both %v", i, decided[i], getLogin(t, s, logins[i]).Used, took)
		}
	}
}

// testBatchOneAddress: steps of one client address (many users behind one
// address) take their tokens in the order they queued, whether or not they
// share a batch: with 3 tokens left of 5, the first 3 of 5 steps complete,
// the other 2 are refused as rate limited (decided on nothing, writing
// nothing), and the bucket is empty.
func testBatchOneAddress(t *testing.T, s *store.Store) {
	const a = "ip:198.51.100.4"
	c, r := twofold.Completed, twofold.RateLimited
	batchAddresses(t, s, 5, map[string]int{a: 2}, []string{a, a, a, a, a}, []twofold.Outcome{c, c, c, r, r})
}

// testBatchTwoAddresses: steps of two addresses queued in turn each take
// their own bucket's tokens in their order: one bucket stored with 2 tokens
// left, one that does not exist yet (made with its burst of 3).
func testBatchTwoAddresses(t *testing.T, s *store.Store) {
	const a, b = "ip:198.51.100.7", "ip:2001:db8::7"
	c, r := twofold.Completed, twofold.RateLimited
	batchAddresses(t, s, 3, map[string]int{a: 1}, []string{a, b, a, b, a, b, a, b}, []twofold.Outcome{c, c, c, c, r, c, r, r})
}

// batchAddresses takes taken tokens from buckets of burst (and no refill),
// then queues, in the order of order, one step with a right code for each
// element, taking its token from that bucket, and checks that they end as
// want says and that every bucket ends empty.
func batchAddresses(t *testing.T, s *store.Store, burst float64, taken map[string]int, order []string, want []twofold.Outcome) {
	t.Helper()
	for key, n := range taken {
		for range n {
			if ok, err := s.TakeToken(t.Context(), key, burst, 0, t0); err != nil || !ok {
				t.Fatalf("TakeToken(%s): got %v, %v", key, ok, err)
			}
		}
	}
	buckets := make([]twofold.Bucket, len(order))
	for i, key := range order {
		buckets[i] = twofold.Bucket{Key: key, Burst: burst, Now: t0}
	}
	outs, decided := make([]twofold.Outcome, len(order)), make([]bool, len(order))
	steps, logins := addressSteps(t, s, "addr", buckets, outs, decided)
	queueInOrder(t, s, steps...)
	checkAddressSteps(t, s, logins, outs, want, decided)
	for _, key := range order {
		if tokens, found := bucketTokens(t, s, key); !found || tokens != 0 {
			t.Errorf("Bucket(%s): got %v tokens (found %v), want 0", key, tokens, found)
		}
	}
}

// bucketTokens returns the tokens of the bucket key as last stored.
func bucketTokens(t *testing.T, s *store.Store, key string) (tokens float64, found bool) {
	t.Helper()
	tokens, _, found, err := s.Bucket(t.Context(), key)
	if err != nil {
		t.Fatalf("Bucket(%s): %v", key, err)
	}
	return tokens, found
}

// testBatchOverlapRace: steps of one account sent at once, among steps of
// many others, land in batches one after the other, and each is decided on
// what the ones before it wrote, even were a batch read while the one
// before is written (tried on PostgreSQL: a batch that forgot to put off
// the steps of the accounts in the write in flight failed this at once).
// One code on many logins of one account: one
// completes, and every other is counted as a wrong code (none decided on a
// factor read before the completion was written, which its write would
// refuse); wrong codes on many logins of another: each counted, the count
// exact; the others' right codes all complete.
func testBatchOverlapRace(t *testing.T, s *store.Store) {
	const per, others = 12, 24
	for round := range rounds {
		mk := func(name string, n int) (accountID string, logins []string) {
			a := newAccount(t, s, fmt.Sprintf("%s%d", name, round))
			activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
			for i := range n {
				logins = append(logins, newLogin(t, s, a.ID, fmt.Sprintf("login-%s-%d", a.ID, i)).ID)
			}
			return a.ID, logins
		}
		one, oneLogins := mk("overlap-one", per)
		wrong, wrongLogins := mk("overlap-wrong", per)
		type step struct {
			account, login string
			code           int64
			out            twofold.Outcome
		}
		var steps []*step
		for i := range per {
			steps = append(steps, &step{account: one, login: oneLogins[i], code: 11}, &step{account: wrong, login: wrongLogins[i], code: 10})
			for j := range others / per {
				a, l := mk(fmt.Sprintf("overlap-other%d-%d-", i, j), 1)
				steps = append(steps, &step{account: a, login: l[0], code: 11})
			}
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, st := range steps {
			wg.Go(func() {
				<-start
				var err error
				st.out, err = s.DecideSecondStep(t.Context(), st.login, keys, decideFromRead(st.account, st.login, "sess-"+st.login, st.code, 0))
				if err != nil {
					t.Errorf("login %s: %v", st.login, err)
				}
			})
		}
		close(start)
		wg.Wait()
		count := map[string]map[twofold.Outcome]int{}
		for _, st := range steps {
			key := st.account
			if key != one && key != wrong {
				key = "others"
			}
			if count[key] == nil {
				count[key] = map[twofold.Outcome]int{}
			}
			count[key][st.out]++
		}
		c, f := twofold.Completed, twofold.Counted
		if got := count[one]; got[c] != 1 || got[f] != per-1 {
			t.Errorf("round %d: one code on %d logins of one account: got outcomes %v, want 1 completed (%d) and %d counted (%d)", round, per, got, c, per-1, f)
		}
		if st := secondStep(t, s, oneLogins[0]); st.Failures != count[one][f] {
			t.Errorf("round %d: one code on %d logins: %d failures stored, want %d", round, per, st.Failures, count[one][f])
		}
		if got := count[wrong]; got[f] != per {
			t.Errorf("round %d: %d wrong codes of one account: got outcomes %v, want all counted (%d)", round, per, got, f)
		}
		if st := secondStep(t, s, wrongLogins[0]); st.Failures != per {
			t.Errorf("round %d: %d wrong codes: %d failures stored, want %d", round, per, st.Failures, per)
		}
		if got := count["others"]; got[c] != others {
			t.Errorf("round %d: %d right codes of other accounts: got outcomes %v, want all completed (%d)", round, others, got, c)
		}
	}
}

// testBatchLocksRace: second steps racing transactions that lock the same
// factors and logins (LockSecondStep) and then write the throttle, as an
// elevation does, all finish: the batch's write takes its locks in the same
// order, so neither waits for the other in a circle (PostgreSQL would end
// one as a deadlock, and the transaction would fail).
func testBatchLocksRace(t *testing.T, s *store.Store) {
	const n = 12
	var accounts, logins, others [n]string
	for i := range n {
		a := newAccount(t, s, fmt.Sprintf("lock%02d", i))
		activeFactor(t, s, a.ID, "f-"+a.ID, 10, "set")
		accounts[i], logins[i], others[i] = a.ID, newLogin(t, s, a.ID, "login-"+a.ID).ID, newLogin(t, s, a.ID, "other-"+a.ID).ID
	}
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			out, err := s.DecideSecondStep(t.Context(), logins[i], keys, decideFromRead(accounts[i], logins[i], "sess-"+accounts[i], 11, 0))
			if err != nil || out != twofold.Completed {
				t.Errorf("account %d: second step got %d, %v; want Completed", i, out, err)
			}
		})
		// Taken in reverse, so that the transactions meet the batch's
		// accounts in the other order.
		j := n - 1 - i
		wg.Go(func() {
			<-start
			err := s.InTx(t.Context(), func(ctx context.Context) error {
				if err := s.LockSecondStep(ctx, accounts[j], "", others[j], true); err != nil {
					return err
				}
				return s.ResetThrottle(ctx, throttleKey(accounts[j]))
			})
			if err != nil {
				t.Errorf("account %d: the locking transaction: %v", j, err)
			}
		})
	}
	close(start)
	wg.Wait()
}
