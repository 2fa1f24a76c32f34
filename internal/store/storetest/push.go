package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// pushFactor stores a pending push factor id of accountID with its device,
// whose enrolment token hashes to hash and expires at t0+10m.
func pushFactor(tb testing.TB, s *store.Store, accountID, id string, hash []byte) {
	tb.Helper()
	f := pendingFactor(accountID, id, t0)
	f.Type, f.Algorithm, f.Digits, f.Period = twofold.FactorPush, "", 0, 0
	if err := s.CreateFactor(tb.Context(), f); err != nil {
		tb.Fatalf("CreateFactor: %v", err)
	}
	d := twofold.PushDevice{FactorID: id, AccountID: accountID, EnrolHash: hash, EnrolChallenge: "ch-" + id, EnrolExpiresAt: t0.Add(10 * time.Minute)}
	if err := s.CreatePushDevice(tb.Context(), d); err != nil {
		tb.Fatalf("CreatePushDevice: %v", err)
	}
}

func pushChallenge(accountID, factorID, id, scope string, created time.Time) twofold.PushChallenge {
	return twofold.PushChallenge{ID: id, FactorID: factorID, AccountID: accountID, Scope: scope, NumberHash: []byte("n-" + id),
		RequesterHash: []byte("r-" + id), Status: twofold.PushPending, Source: "192.0.2.1", UserAgent: "test", CreatedAt: created, ExpiresAt: created.Add(2 * time.Minute)}
}

// createPush stores c as a resend of resender's push, failing the test
// unless it is stored.
func createPush(tb testing.TB, s *store.Store, c twofold.PushChallenge, resender []byte) {
	tb.Helper()
	if ok, busy, err := s.CreatePushChallenge(tb.Context(), c, resender); err != nil || !ok {
		tb.Fatalf("CreatePushChallenge(%s) = %v, %v, %v; want stored", c.ID, ok, busy, err)
	}
}

// testPushEnrolOnce: a device's key is set once, only with its token's hash,
// before the token expires.
func testPushEnrolOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	pushFactor(t, s, a.ID, "push-1", []byte("token-hash"))
	for _, c := range []struct {
		name string
		hash string
		at   time.Time
	}{{"wrong token", "other-hash", t0}, {"expired", "token-hash", t0.Add(10 * time.Minute)}} {
		if ok, err := s.EnrolPushDevice(ctx, "push-1", []byte(c.hash), []byte("key-1"), c.at); err != nil || ok {
			t.Errorf("%s: EnrolPushDevice = %v, %v; want false", c.name, ok, err)
		}
	}
	if ok, err := s.EnrolPushDevice(ctx, "push-1", []byte("token-hash"), []byte("key-1"), t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("EnrolPushDevice = %v, %v; want true", ok, err)
	}
	if ok, err := s.EnrolPushDevice(ctx, "push-1", []byte("token-hash"), []byte("key-2"), t0.Add(time.Minute)); err != nil || ok {
		t.Errorf("second EnrolPushDevice = %v, %v; want false", ok, err)
	}
	d, err := s.PushDevice(ctx, "push-1")
	if err != nil || string(d.PublicKey) != "key-1" || d.EnrolHash != nil || d.EnrolledAt == nil || !d.EnrolledAt.Equal(t0.Add(time.Minute)) {
		t.Errorf("PushDevice = %+v, %v; want key-1 enrolled at t0+1m, no token", d, err)
	}
	if ok, err := s.RenewPushEnrolment(ctx, "push-1", []byte("new"), "c", t0.Add(time.Hour)); err != nil || ok {
		t.Errorf("RenewPushEnrolment after enrolment = %v, %v; want false", ok, err)
	}
	if _, err := s.PushDevice(ctx, "nope"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("PushDevice(unknown): %v, want not-found", err)
	}
}

// testPushOneRequesterAtATime: while a challenge of a scope is live
// (pending or approved, unexpired), a new one for the scope is stored only
// as a resend by its requester; another requester's is refused, with when
// the live one expires, and changes nothing. Expired, denied or used ones
// do not stand in the way, nor do other scopes' or other accounts'.
func testPushOneRequesterAtATime(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	pushFactor(t, s, a.ID, "push-1", []byte("h1"))
	pushFactor(t, s, b.ID, "push-2", []byte("h2"))
	refused := func(c twofold.PushChallenge, resender []byte, wantUntil time.Time) {
		t.Helper()
		ok, busy, err := s.CreatePushChallenge(ctx, c, resender)
		if err != nil || ok || !busy.Equal(wantUntil) {
			t.Errorf("CreatePushChallenge(%s) as %q = %v, %v, %v; want refused until %v", c.ID, resender, ok, busy, err, wantUntil)
		}
		if _, err := s.PushChallenge(ctx, c.ID); twofold.ErrorCode(err) != twofold.CodeNotFound {
			t.Errorf("refused %s was stored: %v", c.ID, err)
		}
	}
	status := func(id string, want twofold.PushStatus) {
		t.Helper()
		if c, err := s.PushChallenge(ctx, id); err != nil || c.Status != want {
			t.Errorf("%s: status %q, %v; want %q", id, c.Status, err, want)
		}
	}
	createPush(t, s, pushChallenge(a.ID, "push-1", "c1", "login:l1", t0), nil)
	for _, h := range [][]byte{nil, {}, []byte("r-x"), []byte("r-c")} {
		refused(pushChallenge(a.ID, "push-1", "x1", "login:l1", t0.Add(time.Second)), h, t0.Add(2*time.Minute))
	}
	status("c1", twofold.PushPending)
	// Other scopes and accounts are free.
	createPush(t, s, pushChallenge(a.ID, "push-1", "e1", "elevate:s1", t0), nil)
	createPush(t, s, pushChallenge(b.ID, "push-2", "b1", "login:l1", t0), nil)
	// The requester's resend replaces its push.
	createPush(t, s, pushChallenge(a.ID, "push-1", "c2", "login:l1", t0.Add(time.Second)), []byte("r-c1"))
	status("c1", twofold.PushReplaced)
	refused(pushChallenge(a.ID, "push-1", "x2", "login:l1", t0.Add(2*time.Second)), []byte("r-c1"), t0.Add(time.Second+2*time.Minute))
	// Approved, it stands until its use-by time.
	if ok, _ := s.AnswerPushChallenge(ctx, "c2", "push-1", twofold.PushApproved, "", t0.Add(time.Minute), t0.Add(3*time.Minute)); !ok {
		t.Fatal("approve c2: false")
	}
	refused(pushChallenge(a.ID, "push-1", "x3", "login:l1", t0.Add(2*time.Minute+30*time.Second)), nil, t0.Add(3*time.Minute))
	// Expired, it no longer does, and stays as it was.
	createPush(t, s, pushChallenge(a.ID, "push-1", "c3", "login:l1", t0.Add(3*time.Minute)), nil)
	status("c2", twofold.PushApproved)
	// Denied or used, neither.
	if ok, _ := s.AnswerPushChallenge(ctx, "c3", "push-1", twofold.PushDenied, "wrong number", t0.Add(3*time.Minute), t0.Add(5*time.Minute)); !ok {
		t.Fatal("deny c3: false")
	}
	createPush(t, s, pushChallenge(a.ID, "push-1", "c4", "login:l1", t0.Add(3*time.Minute)), nil)
	if ok, _ := s.AnswerPushChallenge(ctx, "c4", "push-1", twofold.PushApproved, "", t0.Add(3*time.Minute), t0.Add(5*time.Minute)); !ok {
		t.Fatal("approve c4: false")
	}
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l1", "", []byte("r-c4"), t0.Add(3*time.Minute)); !ok {
		t.Fatal("use c4: false")
	}
	createPush(t, s, pushChallenge(a.ID, "push-1", "c5", "login:l1", t0.Add(3*time.Minute)), nil)
	// One without a requester hash is another requester's, while it lives.
	old := pushChallenge(a.ID, "push-1", "o1", "login:l2", t0)
	old.RequesterHash = nil
	createPush(t, s, old, nil)
	for _, h := range [][]byte{nil, {}, []byte("r-o1")} {
		refused(pushChallenge(a.ID, "push-1", "x4", "login:l2", t0), h, t0.Add(2*time.Minute))
	}
}

// testPushNonceOnce: a nonce is taken once per device.
func testPushNonceOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	pushFactor(t, s, a.ID, "push-1", []byte("h1"))
	pushFactor(t, s, a.ID, "push-2", []byte("h2"))
	for i, c := range []struct {
		factor, nonce string
		want          bool
	}{{"push-1", "n1", true}, {"push-1", "n1", false}, {"push-2", "n1", true}, {"push-1", "n2", true}} {
		if ok, err := s.TakePushNonce(ctx, c.factor, c.nonce, t0.Add(2*time.Minute)); err != nil || ok != c.want {
			t.Errorf("%d: TakePushNonce(%s, %s) = %v, %v; want %v", i, c.factor, c.nonce, ok, err, c.want)
		}
	}
	for _, c := range []struct {
		factor, nonce string
		want          bool
	}{{"push-1", "n1", true}, {"push-2", "n1", true}, {"push-2", "n2", false}, {"push-1", "n3", false}} {
		if used, err := s.PushNonceUsed(ctx, c.factor, c.nonce); err != nil || used != c.want {
			t.Errorf("PushNonceUsed(%s, %s) = %v, %v; want %v", c.factor, c.nonce, used, err, c.want)
		}
	}
	// Swept once expired, and then takeable again (its time would be refused by then).
	if err := s.DeleteExpiredPush(ctx, t0.Add(3*time.Minute), t0); err != nil {
		t.Fatal(err)
	}
	if ok, err := s.TakePushNonce(ctx, "push-1", "n1", t0.Add(5*time.Minute)); err != nil || !ok {
		t.Errorf("TakePushNonce after the sweep = %v, %v; want true", ok, err)
	}
}

// testDeviceRequest: a device's request takes a token and its nonce in one
// commit; with no token left nothing is written (the nonce stays free), and
// a nonce used before is refused while the token is spent all the same.
func testDeviceRequest(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	pushFactor(t, s, a.ID, "push-1", []byte("h1"))
	ration := twofold.Bucket{Key: "push:device:push-1", Burst: 2, Rate: 1.0 / 60, Now: t0}
	expires := t0.Add(2 * time.Minute)
	for i, c := range []struct {
		nonce       string
		took, fresh bool
	}{{"n1", true, true}, {"n1", true, false}, {"n2", false, false}} {
		took, fresh, err := s.TakeDeviceRequest(ctx, ration, "push-1", c.nonce, expires)
		if err != nil || took != c.took || fresh != c.fresh {
			t.Errorf("%d: TakeDeviceRequest(%s) = %v, %v, %v; want %v, %v", i, c.nonce, took, fresh, err, c.took, c.fresh)
		}
	}
	if used, err := s.PushNonceUsed(ctx, "push-1", "n2"); err != nil || used {
		t.Errorf("PushNonceUsed(n2) after a refused request = %v, %v; want false", used, err)
	}
	// A minute later the ration has a token again, and n2 is taken.
	ration.Now = t0.Add(time.Minute)
	if took, fresh, err := s.TakeDeviceRequest(ctx, ration, "push-1", "n2", expires); err != nil || !took || !fresh {
		t.Errorf("TakeDeviceRequest(n2) a minute later = %v, %v, %v; want true, true", took, fresh, err)
	}
	// Of one request sent many times at once, exactly one passes.
	ration = twofold.Bucket{Key: "push:device:push-1:race", Burst: 100, Rate: 1, Now: t0}
	wins := race(t, func(int) (bool, error) {
		took, fresh, err := s.TakeDeviceRequest(ctx, ration, "push-1", "n3", expires)
		return took && fresh, err
	})
	if wins != 1 {
		t.Errorf("TakeDeviceRequest raced: %d wins, want 1", wins)
	}
}

// testPushAnswerAndUseOnce: a challenge is answered once, while pending and
// unexpired, by its own device; an approval is used once, for its scope; a
// newer challenge of the scope voids the older.
func testPushAnswerAndUseOnce(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	pushFactor(t, s, a.ID, "push-1", []byte("h1"))
	pushFactor(t, s, a.ID, "push-2", []byte("h2"))
	createPush(t, s, pushChallenge(a.ID, "push-1", "c1", "login:l1", t0), nil)
	if cs, err := s.PendingPushChallenges(ctx, "push-1", t0); err != nil || len(cs) != 1 || cs[0].ID != "c1" || cs[0].Source != "192.0.2.1" {
		t.Fatalf("PendingPushChallenges = %+v, %v", cs, err)
	}
	if cs, _ := s.PendingPushChallenges(ctx, "push-2", t0); len(cs) != 0 {
		t.Errorf("another device's pending: %+v", cs)
	}
	if ids, err := s.PushFactorsWaiting(ctx, t0); err != nil || !slices.Equal(ids, []string{"push-1"}) {
		t.Errorf("PushFactorsWaiting = %v, %v; want [push-1]", ids, err)
	}
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l1", "", []byte("r-c1"), t0); ok {
		t.Errorf("UsePushApproval of a pending challenge: true")
	}
	if ok, _ := s.AnswerPushChallenge(ctx, "c1", "push-2", twofold.PushApproved, "", t0, t0.Add(2*time.Minute)); ok {
		t.Errorf("answer by another device: true")
	}
	if ok, err := s.AnswerPushChallenge(ctx, "c1", "push-1", twofold.PushApproved, "", t0.Add(time.Minute), t0.Add(3*time.Minute)); err != nil || !ok {
		t.Fatalf("AnswerPushChallenge = %v, %v", ok, err)
	}
	if ok, _ := s.AnswerPushChallenge(ctx, "c1", "push-1", twofold.PushDenied, "x", t0.Add(time.Minute), t0.Add(3*time.Minute)); ok {
		t.Errorf("second answer: true")
	}
	if ids, err := s.PushFactorsWaiting(ctx, t0.Add(time.Minute)); err != nil || len(ids) != 0 {
		t.Errorf("PushFactorsWaiting once answered = %v, %v; want none", ids, err)
	}
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l2", "", []byte("r-c1"), t0.Add(time.Minute)); ok {
		t.Errorf("UsePushApproval for another scope: true")
	}
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l1", "push-2", []byte("r-c1"), t0.Add(time.Minute)); ok {
		t.Errorf("UsePushApproval for another device: true")
	}
	// Only the requester's secret uses the approval: not another's, nor none.
	for _, h := range [][]byte{[]byte("r-c2"), []byte("r-c"), nil, {}} {
		if ok, err := s.UsePushApproval(ctx, a.ID, "login:l1", "", h, t0.Add(time.Minute)); err != nil || ok {
			t.Errorf("UsePushApproval with requester hash %q = %v, %v; want false", h, ok, err)
		}
	}
	if ok, err := s.UsePushApproval(ctx, a.ID, "login:l1", "", []byte("r-c1"), t0.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("UsePushApproval = %v, %v", ok, err)
	}
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l1", "", []byte("r-c1"), t0.Add(2*time.Minute)); ok {
		t.Errorf("UsePushApproval twice: true")
	}
	if f := getFactor(t, s, a.ID, "push-1"); f.LastUsedAt == nil || !f.LastUsedAt.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("factor last used %v", f.LastUsedAt)
	}

	// Expired: neither pending for the device nor answerable.
	createPush(t, s, pushChallenge(a.ID, "push-1", "c2", "login:l2", t0), nil)
	if cs, _ := s.PendingPushChallenges(ctx, "push-1", t0.Add(2*time.Minute)); len(cs) != 0 {
		t.Errorf("pending after expiry: %+v", cs)
	}
	if ok, _ := s.AnswerPushChallenge(ctx, "c2", "push-1", twofold.PushApproved, "", t0.Add(2*time.Minute), t0.Add(4*time.Minute)); ok {
		t.Errorf("answer after expiry: true")
	}
	// A newer challenge of the same requester replaces the older, approved
	// or not.
	createPush(t, s, pushChallenge(a.ID, "push-1", "c3", "login:l3", t0), nil)
	if ok, _ := s.AnswerPushChallenge(ctx, "c3", "push-1", twofold.PushApproved, "", t0, t0.Add(2*time.Minute)); !ok {
		t.Fatal("approve c3: false")
	}
	createPush(t, s, pushChallenge(a.ID, "push-1", "c4", "login:l3", t0.Add(time.Second)), []byte("r-c3"))
	if ok, _ := s.UsePushApproval(ctx, a.ID, "login:l3", "", []byte("r-c3"), t0.Add(time.Second)); ok {
		t.Errorf("UsePushApproval of a replaced approval: true")
	}
	if c, found, err := s.LatestPushChallenge(ctx, a.ID, "login:l3", []byte("r-c4")); err != nil || !found || c.ID != "c4" || string(c.RequesterHash) != "r-c4" {
		t.Errorf("LatestPushChallenge = %+v, %v, %v; want c4", c, found, err)
	}
	// Only the requester's own: the replaced one for its requester, none
	// for a secret no push was sent with.
	if c, found, err := s.LatestPushChallenge(ctx, a.ID, "login:l3", []byte("r-c3")); err != nil || !found || c.ID != "c3" || c.Status != twofold.PushReplaced {
		t.Errorf("LatestPushChallenge of c3's requester = %+v, %v, %v; want c3, replaced", c, found, err)
	}
	for _, h := range [][]byte{[]byte("r-c1"), nil} {
		if c, found, err := s.LatestPushChallenge(ctx, a.ID, "login:l3", h); err != nil || found {
			t.Errorf("LatestPushChallenge with %q = %+v, %v, %v; want none", h, c, found, err)
		}
	}
	if c, _ := s.PushChallenge(ctx, "c3"); c.Status != twofold.PushReplaced {
		t.Errorf("c3 status %q, want replaced", c.Status)
	}

	// Denials are counted by when they were answered.
	if ok, _ := s.AnswerPushChallenge(ctx, "c4", "push-1", twofold.PushDenied, "wrong number", t0.Add(time.Minute), t0.Add(3*time.Minute)); !ok {
		t.Fatal("deny c4: false")
	}
	if n, err := s.PushDenials(ctx, a.ID, t0); err != nil || n != 1 {
		t.Errorf("PushDenials since t0 = %d, %v; want 1", n, err)
	}
	if n, _ := s.PushDenials(ctx, a.ID, t0.Add(time.Minute)); n != 0 {
		t.Errorf("PushDenials since the denial = %d; want 0", n)
	}
	// A scope's denials count once (one sent in a race with the first
	// denial, and denied too).
	createPush(t, s, pushChallenge(a.ID, "push-1", "c9", "login:l3", t0.Add(time.Minute)), nil)
	if ok, _ := s.AnswerPushChallenge(ctx, "c9", "push-1", twofold.PushDenied, "denied on the device", t0.Add(time.Minute), t0.Add(3*time.Minute)); !ok {
		t.Fatal("deny c9: false")
	}
	if n, err := s.PushDenials(ctx, a.ID, t0); err != nil || n != 1 {
		t.Errorf("PushDenials with two denials of one scope = %d, %v; want 1", n, err)
	}
	for scope, want := range map[string]bool{"login:l3": true, "login:l1": false, "login:l2": false, "elevate:l3": false} {
		if denied, err := s.PushScopeDenied(ctx, a.ID, scope); err != nil || denied != want {
			t.Errorf("PushScopeDenied(%s) = %v, %v; want %v", scope, denied, err, want)
		}
	}
	// Forgiven denials (an operator's unlock) count no more, once; the
	// challenge keeps its answer.
	if n, err := s.ForgivePushDenials(ctx, a.ID, t0); err != nil || n != 2 {
		t.Errorf("ForgivePushDenials = %d, %v; want 2", n, err)
	}
	if n, _ := s.ForgivePushDenials(ctx, a.ID, t0); n != 0 {
		t.Errorf("ForgivePushDenials again = %d; want 0", n)
	}
	if n, err := s.PushDenials(ctx, a.ID, t0); err != nil || n != 0 {
		t.Errorf("PushDenials after forgiving = %d, %v; want 0", n, err)
	}
	if c, _ := s.PushChallenge(ctx, "c4"); c.Status != twofold.PushDenied || c.Cause != "wrong number" {
		t.Errorf("c4 after forgiving: status %q cause %q, want denied, wrong number", c.Status, c.Cause)
	}

	// A challenge without a requester hash (made before migration 0046) is
	// never used: the empty hash matches nothing, not even itself.
	old := pushChallenge(a.ID, "push-1", "c5", "login:l5", t0)
	old.RequesterHash = nil
	createPush(t, s, old, nil)
	if ok, _ := s.AnswerPushChallenge(ctx, "c5", "push-1", twofold.PushApproved, "", t0, t0.Add(2*time.Minute)); !ok {
		t.Fatal("approve c5: false")
	}
	for _, h := range [][]byte{nil, {}} {
		if ok, err := s.UsePushApproval(ctx, a.ID, "login:l5", "", h, t0.Add(time.Second)); err != nil || ok {
			t.Errorf("UsePushApproval of a challenge without a requester, with %q = %v, %v; want false", h, ok, err)
		}
	}
}

// testPushEndedWithSessions: ending the account's sessions ends its push
// requests still waiting or approved and not used (those for its logins
// and its sessions' elevations), but for the elevation of the session a
// recovery's sign-in keeps; answered ones stay as they were, other
// accounts' too. An ended request is no longer the device's to see or
// answer, nor the second step's to use.
func testPushEndedWithSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	pushFactor(t, s, a.ID, "push-a", []byte("ha"))
	pushFactor(t, s, b.ID, "push-b", []byte("hb"))
	newSession(t, s, session(a.ID, "sess-keep"))
	createPush(t, s, pushChallenge(a.ID, "push-a", "p-login", "login:l1", t0), nil)
	createPush(t, s, pushChallenge(a.ID, "push-a", "p-approved", "elevate:s1", t0), nil)
	createPush(t, s, pushChallenge(a.ID, "push-a", "p-denied", "login:l2", t0), nil)
	createPush(t, s, pushChallenge(a.ID, "push-a", "p-keep", "elevate:sess-keep", t0), nil)
	createPush(t, s, pushChallenge(b.ID, "push-b", "p-bob", "login:l1", t0), nil)
	now := t0.Add(time.Second)
	if ok, err := s.AnswerPushChallenge(ctx, "p-approved", "push-a", twofold.PushApproved, "", now, now.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("approve: %v, %v", ok, err)
	}
	if ok, err := s.AnswerPushChallenge(ctx, "p-denied", "push-a", twofold.PushDenied, "denied on the device", now, now.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("deny: %v, %v", ok, err)
	}
	status := func(id string, want twofold.PushStatus) {
		t.Helper()
		if c, err := s.PushChallenge(ctx, id); err != nil || c.Status != want {
			t.Errorf("%s: status %q, %v; want %q", id, c.Status, err, want)
		}
	}

	if ok, err := s.EndOtherSessions(ctx, a.ID, 0, "sess-keep"); err != nil || !ok {
		t.Fatalf("EndOtherSessions: %v, %v", ok, err)
	}
	status("p-login", twofold.PushEnded)
	status("p-approved", twofold.PushEnded)
	status("p-denied", twofold.PushDenied)
	status("p-keep", twofold.PushPending)
	status("p-bob", twofold.PushPending)
	if ok, err := s.UsePushApproval(ctx, a.ID, "elevate:s1", "", []byte("r-p-approved"), now); err != nil || ok {
		t.Errorf("UsePushApproval of an ended approval: %v, %v, want false", ok, err)
	}
	if ok, err := s.AnswerPushChallenge(ctx, "p-login", "push-a", twofold.PushApproved, "", now, now.Add(2*time.Minute)); err != nil || ok {
		t.Errorf("AnswerPushChallenge of an ended request: %v, %v, want false", ok, err)
	}
	if n, err := s.PushDenials(ctx, a.ID, t0.Add(-time.Hour)); err != nil || n != 1 {
		t.Errorf("PushDenials: %d, %v, want 1 (the denial made before)", n, err)
	}

	if _, err := s.EndSessions(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	status("p-keep", twofold.PushEnded)
	status("p-bob", twofold.PushPending)
	if cs, err := s.PendingPushChallenges(ctx, "push-a", now); err != nil || len(cs) != 0 {
		t.Errorf("PendingPushChallenges after EndSessions: %+v, %v, want none", cs, err)
	}
	if cs, err := s.PendingPushChallenges(ctx, "push-b", now); err != nil || len(cs) != 1 {
		t.Errorf("PendingPushChallenges of another account: %+v, %v, want p-bob", cs, err)
	}

	// One by one: pending or approved only.
	for _, id := range []string{"p-bob", "p-denied"} {
		if err := s.EndPushChallenge(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	status("p-bob", twofold.PushEnded)
	status("p-denied", twofold.PushDenied)
}

// testPushUnapproved: the scopes with a push request since a time none of
// whose requests was approved are counted once each, whether denied,
// unanswered or still waiting; an approval, used or not, takes its scope
// out, and so do requests before the time and another account's.
func testPushUnapproved(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	pushFactor(t, s, a.ID, "push-a", []byte("h-a"))
	pushFactor(t, s, b.ID, "push-b", []byte("h-b"))
	at := t0.Add(time.Hour)
	answer := func(id, factor string, status twofold.PushStatus) {
		t.Helper()
		if ok, err := s.AnswerPushChallenge(ctx, id, factor, status, "", at.Add(time.Second), at.Add(3*time.Minute)); err != nil || !ok {
			t.Fatalf("answer %s %s: %v, %v", id, status, ok, err)
		}
	}
	createPush(t, s, pushChallenge(a.ID, "push-a", "old", "login:old", t0), nil) // before since
	createPush(t, s, pushChallenge(a.ID, "push-a", "c1", "login:l1", at), nil)   // waiting
	createPush(t, s, pushChallenge(a.ID, "push-a", "c2", "login:l2", at), nil)   // denied
	answer("c2", "push-a", twofold.PushDenied)
	createPush(t, s, pushChallenge(a.ID, "push-a", "c3", "login:l3", at), nil) // approved
	answer("c3", "push-a", twofold.PushApproved)
	createPush(t, s, pushChallenge(a.ID, "push-a", "c4", "login:l4", at), nil) // approved, used
	answer("c4", "push-a", twofold.PushApproved)
	if ok, err := s.UsePushApproval(ctx, a.ID, "login:l4", "", []byte("r-c4"), at.Add(2*time.Second)); err != nil || !ok {
		t.Fatalf("use c4: %v, %v", ok, err)
	}
	createPush(t, s, pushChallenge(a.ID, "push-a", "c5", "login:l5", at), nil) // approved, its login ended
	answer("c5", "push-a", twofold.PushApproved)
	if err := s.EndPushChallenge(ctx, "c5"); err != nil {
		t.Fatal(err)
	}
	createPush(t, s, pushChallenge(a.ID, "push-a", "c6", "login:l6", at), nil) // sent, then sent again: one scope
	createPush(t, s, pushChallenge(a.ID, "push-a", "c7", "login:l6", at.Add(time.Second)), []byte("r-c6"))
	createPush(t, s, pushChallenge(a.ID, "push-a", "c8", "elevate:s1", at), nil) // unanswered, expired
	createPush(t, s, pushChallenge(b.ID, "push-b", "c9", "login:b1", at), nil)   // bob's
	// While they wait, only the denial counts.
	if n, err := s.PushUnapproved(ctx, a.ID, at.Add(-time.Minute), at.Add(time.Minute)); err != nil || n != 1 {
		t.Errorf("PushUnapproved while they wait = %d, %v; want 1 (l2)", n, err)
	}
	later := at.Add(5 * time.Minute)
	if n, err := s.PushUnapproved(ctx, a.ID, at.Add(-time.Minute), later); err != nil || n != 4 {
		t.Errorf("PushUnapproved = %d, %v; want 4 (l1, l2, l6, s1)", n, err)
	}
	if n, err := s.PushUnapproved(ctx, a.ID, t0.Add(-time.Minute), later); err != nil || n != 5 {
		t.Errorf("PushUnapproved with the older one = %d, %v; want 5", n, err)
	}
	if n, err := s.PushUnapproved(ctx, b.ID, at.Add(-time.Minute), later); err != nil || n != 1 {
		t.Errorf("PushUnapproved of bob = %d, %v; want 1", n, err)
	}
	if n, err := s.PushUnapproved(ctx, a.ID, at.Add(time.Hour), later); err != nil || n != 0 {
		t.Errorf("PushUnapproved since after them = %d, %v; want 0", n, err)
	}
}
