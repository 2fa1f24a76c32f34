package storetest

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

func testAccountRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	want := twofold.Account{
		ID:                "acct-1",
		Username:          "alice",
		Email:             "alice@example.com",
		PasswordHash:      "$argon2id$v=19$m=65536,t=3,p=4$c2FsdA$aGFzaA",
		TwoFactorRequired: true,
		Operator:          true,
		CreatedAt:         t0,
	}
	if err := s.CreateAccount(ctx, want); err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	got, err := s.AccountByID(ctx, want.ID)
	if err != nil {
		t.Fatalf("AccountByID: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AccountByID (-want +got):\n%s", diff)
	}
	got, err = s.AccountByUsername(ctx, want.Username)
	if err != nil {
		t.Fatalf("AccountByUsername: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("AccountByUsername (-want +got):\n%s", diff)
	}
}

func testAccountDuplicateUsername(t *testing.T, s *store.Store) {
	first := newAccount(t, s, "alice")
	dup := twofold.Account{ID: "acct-other", Username: "alice", PasswordHash: "x", CreatedAt: t0}
	wantCode(t, "CreateAccount of a taken username", s.CreateAccount(t.Context(), dup), twofold.CodeConflict)
	upper := twofold.Account{ID: "acct-upper", Username: "ALICE", PasswordHash: "x", CreatedAt: t0}
	wantCode(t, "CreateAccount of a taken username in other case", s.CreateAccount(t.Context(), upper), twofold.CodeConflict)
	if _, err := s.AccountByID(t.Context(), upper.ID); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("AccountByID of the account refused for its case: got %v, want code %q", err, twofold.CodeNotFound)
	}
	if got, want := getAccount(t, s, first.ID), first; !cmp.Equal(got, want) {
		t.Errorf("first account after the conflict: got %+v, want %+v", got, want)
	}
	if _, err := s.AccountByID(t.Context(), dup.ID); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("AccountByID of the rejected account: got %v, want code %q", err, twofold.CodeNotFound)
	}
}

func testAccountNotFound(t *testing.T, s *store.Store) {
	newAccount(t, s, "alice")
	ctx := t.Context()
	tests := []struct {
		name string
		call func() error
	}{
		{"AccountByID", func() error { _, err := s.AccountByID(ctx, "acct-nobody"); return err }},
		{"AccountByUsername", func() error { _, err := s.AccountByUsername(ctx, "nobody"); return err }},
		{"AccountByUsernameOtherCase", func() error { _, err := s.AccountByUsername(ctx, "ALICE"); return err }},
		{"SetTwoFactorRequired", func() error { _, err := s.SetTwoFactorRequired(ctx, "acct-nobody", true); return err }},
		{"EndSessions", func() error { _, err := s.EndSessions(ctx, "acct-nobody"); return err }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantCode(t, tt.name, tt.call(), twofold.CodeNotFound)
		})
	}
}

func usernames(as []twofold.Account) []string {
	out := []string{}
	for _, a := range as {
		out = append(out, a.Username)
	}
	return out
}

func testAccountSearch(t *testing.T, s *store.Store) {
	for _, u := range []string{"alice", "bob", "a_b", "a%b", `a\b`, "axb", "ab", "carol_x", "Dave"} {
		newAccount(t, s, u)
	}
	tests := []struct {
		name  string
		query string
		want  []string
	}{
		{"Empty", "", []string{"Dave", "a%b", `a\b`, "a_b", "ab", "alice", "axb", "bob", "carol_x"}},
		{"Plain", "b", []string{"a%b", `a\b`, "a_b", "ab", "axb", "bob"}},
		{"Exact", "alice", []string{"alice"}},
		{"Middle", "lic", []string{"alice"}},
		{"Underscore", "_", []string{"a_b", "carol_x"}},
		{"UnderscoreInside", "a_b", []string{"a_b"}},
		{"Percent", "%", []string{"a%b"}},
		{"PercentInside", "a%b", []string{"a%b"}},
		{"Backslash", `\`, []string{`a\b`}},
		{"BackslashInside", `a\b`, []string{`a\b`}},
		{"BackslashEscape", `\_`, []string{}},
		{"IgnoresCase", "ALI", []string{"alice"}},
		{"IgnoresCaseOfStored", "dave", []string{"Dave"}},
		{"Quote", "'", []string{}},
		{"None", "zzz", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Accounts(t.Context(), tt.query, "", 100)
			if err != nil {
				t.Fatalf("Accounts(%q): %v", tt.query, err)
			}
			if diff := cmp.Diff(tt.want, usernames(got)); diff != "" {
				t.Errorf("Accounts(%q) (-want +got):\n%s", tt.query, diff)
			}
		})
	}
}

func testAccountSearchLimit(t *testing.T, s *store.Store) {
	want := []twofold.Account{newAccount(t, s, "anna"), newAccount(t, s, "bert")}
	newAccount(t, s, "cleo")
	got, err := s.Accounts(t.Context(), "", "", 2)
	if err != nil {
		t.Fatalf("Accounts: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Accounts(\"\", 2) (-want +got):\n%s", diff)
	}
	// The next page starts after the last name of the one before; a name
	// no account has works as well.
	for after, want := range map[string][]string{"bert": {"cleo"}, "anna": {"bert", "cleo"}, "b": {"bert", "cleo"}, "cleo": {}} {
		got, err := s.Accounts(t.Context(), "", after, 10)
		if err != nil {
			t.Fatalf("Accounts after %q: %v", after, err)
		}
		if diff := cmp.Diff(want, usernames(got)); diff != "" {
			t.Errorf("Accounts after %q (-want +got):\n%s", after, diff)
		}
	}
}

func testCountAccounts(t *testing.T, s *store.Store) {
	for i, u := range []string{"", "alice", "bob", "carol"} {
		if u != "" {
			newAccount(t, s, u)
		}
		got, err := s.CountAccounts(t.Context())
		if err != nil {
			t.Fatalf("CountAccounts: %v", err)
		}
		if got != i {
			t.Errorf("CountAccounts after %d accounts: got %d, want %d", i, got, i)
		}
	}
}

func testSetTwoFactorRequired(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	// Without an active factor it cannot be turned on.
	newFactor(t, s, a.ID, "f-pending")
	if changed, err := s.SetTwoFactorRequired(t.Context(), a.ID, true); twofold.ErrorCode(err) != twofold.CodeInvalid || changed {
		t.Fatalf("SetTwoFactorRequired(true) without an active factor: changed %v, %v; want invalid", changed, err)
	}
	if getAccount(t, s, a.ID).TwoFactorRequired {
		t.Fatal("TwoFactorRequired after the refusal")
	}
	activeFactor(t, s, a.ID, "f-1", 1, "first")
	was := getAccount(t, s, a.ID).TwoFactorRequired
	for _, want := range []bool{false, true, true, false, true} {
		if changed, err := s.SetTwoFactorRequired(t.Context(), a.ID, want); err != nil || changed != (want != was) {
			t.Fatalf("SetTwoFactorRequired(%v) after %v: changed %v, %v", want, was, changed, err)
		}
		was = want
		if got := getAccount(t, s, a.ID).TwoFactorRequired; got != want {
			t.Errorf("TwoFactorRequired after setting %v: got %v, want %v", want, got, want)
		}
	}
	if got := getAccount(t, s, other.ID).TwoFactorRequired; got {
		t.Errorf("TwoFactorRequired of another account: got %v, want false", got)
	}
}

func testReplacePasswordHash(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	const hash = "$argon2id$v=19$new"
	if ok, err := s.ReplacePasswordHash(t.Context(), a.ID, "$argon2id$v=19$not-the-hash", hash); err != nil || ok {
		t.Fatalf("ReplacePasswordHash of another hash: got %v, %v, want false, nil", ok, err)
	}
	if diff := cmp.Diff(a, getAccount(t, s, a.ID)); diff != "" {
		t.Errorf("account after a refused ReplacePasswordHash (-want +got):\n%s", diff)
	}
	if ok, err := s.ReplacePasswordHash(t.Context(), a.ID, a.PasswordHash, hash); err != nil || !ok {
		t.Fatalf("ReplacePasswordHash: got %v, %v, want true, nil", ok, err)
	}
	want := a
	want.PasswordHash = hash
	if diff := cmp.Diff(want, getAccount(t, s, a.ID)); diff != "" {
		t.Errorf("account after ReplacePasswordHash (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(other, getAccount(t, s, other.ID)); diff != "" {
		t.Errorf("another account after ReplacePasswordHash (-want +got):\n%s", diff)
	}
	if ok, err := s.ReplacePasswordHash(t.Context(), "acct-nobody", a.PasswordHash, hash); err != nil || ok {
		t.Errorf("ReplacePasswordHash of no account: got %v, %v, want false, nil", ok, err)
	}
}

// testPasswordParamsInUse: the parameter fields of the accounts' Argon2id
// hashes, each once, whatever the salt and sum; hashes of another form
// (not PHC Argon2id, or cut short) are passed over, and a hash replaced is
// no longer in use.
func testPasswordParamsInUse(t *testing.T, s *store.Store) {
	ctx := t.Context()
	got := func() []string {
		t.Helper()
		ps, err := s.PasswordParamsInUse(ctx)
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(ps)
		return ps
	}
	if ps := got(); len(ps) != 0 {
		t.Errorf("with no accounts: got %q, want none", ps)
	}
	hashes := map[string]string{
		"ann": "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$c3Vt",
		"ben": "$argon2id$v=19$m=19456,t=2,p=1$b3RoZXJzYWx0$b3RoZXI",
		"cat": "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHRzYWx0$c3Vt",
		"dan": "$argon2id$v=19$m=8192,t=1,p=1",               // cut short
		"eve": "$argon2i$v=19$m=131072,t=9,p=1$c2FsdA$c3Vt",  // not Argon2id
		"fay": "$argon2id$v=18$m=131072,t=9,p=1$c2FsdA$c3Vt", // another version
		"gus": "",
	}
	for name, h := range hashes {
		a := newAccount(t, s, name)
		if ok, err := s.ReplacePasswordHash(ctx, a.ID, a.PasswordHash, h); err != nil || !ok {
			t.Fatalf("ReplacePasswordHash(%s): %v, %v", name, ok, err)
		}
	}
	if want := []string{"m=19456,t=2,p=1", "m=65536,t=3,p=4"}; !slices.Equal(got(), want) {
		t.Errorf("got %q, want %q", got(), want)
	}
	if ok, err := s.ReplacePasswordHash(ctx, "acct-cat", hashes["cat"], hashes["ann"]); err != nil || !ok {
		t.Fatalf("ReplacePasswordHash(cat): %v, %v", ok, err)
	}
	if want := []string{"m=19456,t=2,p=1"}; !slices.Equal(got(), want) {
		t.Errorf("after the stronger hash was replaced: got %q, want %q", got(), want)
	}
}

// testSignedIn: SignedIn counts the account's sessions and its logins
// waiting for their second step that are of its session epoch and
// unexpired, and nothing of another account: what EndSessions ends.
func testSignedIn(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	count := func(at time.Time) int {
		t.Helper()
		n, err := s.SignedIn(ctx, a.ID, at)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := count(t0); n != 0 {
		t.Fatalf("SignedIn with nothing: %d, want 0", n)
	}
	newLogin(t, s, a.ID, "login-pending")          // until t0+5m
	finished := newLogin(t, s, a.ID, "login-done") // becomes sess-1, until t0+12h
	if ok, err := s.FinishLogin(ctx, finished.ID, t0.Add(time.Second), session(a.ID, "sess-1")); err != nil || !ok {
		t.Fatalf("FinishLogin: %v, %v", ok, err)
	}
	newLogin(t, s, other.ID, "login-other")
	newSession(t, s, session(other.ID, "sess-other"))
	for _, c := range []struct {
		at   time.Time
		want int
	}{
		{t0.Add(time.Minute), 2},    // the waiting login and the session
		{t0.Add(time.Hour), 1},      // the login expired
		{t0.Add(13 * time.Hour), 0}, // both expired
	} {
		if n := count(c.at); n != c.want {
			t.Errorf("SignedIn at t0+%s: %d, want %d", c.at.Sub(t0), n, c.want)
		}
	}
	if _, err := s.EndSessions(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if n := count(t0.Add(time.Minute)); n != 0 {
		t.Errorf("SignedIn after EndSessions: %d, want 0", n)
	}
	if n, err := s.SignedIn(ctx, other.ID, t0.Add(time.Minute)); err != nil || n != 2 {
		t.Errorf("SignedIn of another account after EndSessions: %d, %v; want 2", n, err)
	}
}

// testEndSessions: the account's session epoch moves on by one each time
// and is returned, other accounts keep theirs, and only the account's logins
// still waiting for their second step are voided. Logins and sessions keep
// the epoch they were stored with.
func testEndSessions(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	pending := newLogin(t, s, a.ID, "login-pending")
	finished := newLogin(t, s, a.ID, "login-finished")
	if ok, err := s.FinishLogin(t.Context(), finished.ID, t0.Add(time.Second), session(a.ID, "sess-1")); err != nil || !ok {
		t.Fatalf("FinishLogin: %v, %v", ok, err)
	}
	otherLogin := newLogin(t, s, other.ID, "login-other")

	for want := int64(1); want <= 2; want++ {
		got, err := s.EndSessions(t.Context(), a.ID)
		if err != nil || got != want {
			t.Fatalf("EndSessions: got %d, %v, want %d", got, err, want)
		}
		if got := getAccount(t, s, a.ID).SessionEpoch; got != want {
			t.Errorf("SessionEpoch: got %d, want %d", got, want)
		}
	}
	if got := getAccount(t, s, other.ID).SessionEpoch; got != 0 {
		t.Errorf("SessionEpoch of another account: got %d, want 0", got)
	}
	_, err := s.Login(t.Context(), pending.ID)
	wantCode(t, "Login of a pending login after EndSessions", err, twofold.CodeNotFound)
	if _, err := s.Login(t.Context(), finished.ID); err != nil {
		t.Errorf("Login of a finished login after EndSessions: %v", err)
	}
	if _, err := s.Login(t.Context(), otherLogin.ID); err != nil {
		t.Errorf("Login of another account's login after EndSessions: %v", err)
	}

	// The epochs of logins and sessions round-trip.
	l := twofold.Login{ID: "login-epoch", AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(5 * time.Minute), Epoch: 2}
	if err := s.CreateLogin(t.Context(), l); err != nil {
		t.Fatal(err)
	}
	if got := getLogin(t, s, l.ID); got.Epoch != 2 {
		t.Errorf("login epoch: got %d, want 2", got.Epoch)
	}
	sess := session(a.ID, "sess-epoch")
	sess.Epoch = 2
	if err := s.CreateSession(t.Context(), sess); err != nil {
		t.Fatal(err)
	}
	if got, _ := sessionAt(t, s, sess.ID, t0); got.Epoch != 2 {
		t.Errorf("session epoch: got %d, want 2", got.Epoch)
	}
}

// testEndOtherSessions: a recovery's sign-in moves the account's epoch on
// but for the session it made, which moves with it, and voids the
// account's waiting logins; SessionsOfEpoch then counts the sessions it
// signed out (not those expired, nor those of an epoch already ended, nor
// other accounts'). Over an epoch that has moved on meanwhile it writes
// nothing.
func testEndOtherSessions(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	other := newAccount(t, s, "bob")
	newSession(t, s, session(a.ID, "sess-a1"))
	newSession(t, s, session(a.ID, "sess-a2"))
	newSession(t, s, session(other.ID, "sess-bob"))
	if _, err := s.EndSessions(ctx, a.ID); err != nil { // ends a1, a2: epoch 1
		t.Fatal(err)
	}
	for _, id := range []string{"sess-a3", "sess-a4", "sess-expired", "sess-keep"} {
		sess := session(a.ID, id)
		sess.Epoch = 1
		if id == "sess-expired" {
			sess.ExpiresAt = t0.Add(time.Minute)
		}
		newSession(t, s, sess)
	}
	pending := newLogin(t, s, a.ID, "login-pending")
	otherLogin := newLogin(t, s, other.ID, "login-other")
	now := t0.Add(time.Hour)
	count := func(accountID string, epoch int64) int {
		t.Helper()
		n, err := s.SessionsOfEpoch(ctx, accountID, epoch, now)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if got := count(a.ID, 1); got != 3 {
		t.Fatalf("SessionsOfEpoch before: got %d, want 3 (a3, a4, keep)", got)
	}

	if ok, err := s.EndOtherSessions(ctx, a.ID, 0, "sess-keep"); err != nil || ok {
		t.Fatalf("EndOtherSessions over a past epoch: got %v, %v, want false, nil", ok, err)
	}
	if got := getAccount(t, s, a.ID).SessionEpoch; got != 1 {
		t.Fatalf("SessionEpoch after a refused EndOtherSessions: got %d, want 1", got)
	}
	if got, _ := sessionAt(t, s, "sess-keep", now); got.Epoch != 1 {
		t.Fatalf("the session to keep after a refused EndOtherSessions: epoch %d, want 1", got.Epoch)
	}
	if _, err := s.Login(ctx, pending.ID); err != nil {
		t.Fatalf("a pending login after a refused EndOtherSessions: %v", err)
	}

	if ok, err := s.EndOtherSessions(ctx, a.ID, 1, "sess-keep"); err != nil || !ok {
		t.Fatalf("EndOtherSessions: got %v, %v, want true, nil", ok, err)
	}
	if got := getAccount(t, s, a.ID).SessionEpoch; got != 2 {
		t.Errorf("SessionEpoch: got %d, want 2", got)
	}
	if got, found := sessionAt(t, s, "sess-keep", now); !found || got.Epoch != 2 {
		t.Errorf("the kept session: found %v, epoch %d, want found with epoch 2", found, got.Epoch)
	}
	if got := count(a.ID, 1); got != 2 {
		t.Errorf("SessionsOfEpoch of the epoch ended: got %d, want 2 (a3, a4)", got)
	}
	if got := count(a.ID, 2); got != 1 {
		t.Errorf("SessionsOfEpoch of the new epoch: got %d, want 1 (keep)", got)
	}
	if got := count(other.ID, 0); got != 1 {
		t.Errorf("SessionsOfEpoch of another account: got %d, want 1", got)
	}
	if got := getAccount(t, s, other.ID).SessionEpoch; got != 0 {
		t.Errorf("SessionEpoch of another account: got %d, want 0", got)
	}
	_, err := s.Login(ctx, pending.ID)
	wantCode(t, "Login of a pending login after EndOtherSessions", err, twofold.CodeNotFound)
	if _, err := s.Login(ctx, otherLogin.ID); err != nil {
		t.Errorf("Login of another account's login after EndOtherSessions: %v", err)
	}
}

// testAccountFlags: the operator and suspended flags are set once, report
// whether they changed, and touch nothing else of the account.
func testAccountFlags(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	for _, step := range []struct {
		name            string
		set             func(context.Context, string, bool) (bool, error)
		on, wantChanged bool
	}{
		{"SetOperator on", s.SetOperator, true, true},
		{"SetOperator on again", s.SetOperator, true, false},
		{"SetOperator off", s.SetOperator, false, true},
		{"SetOperator on once more", s.SetOperator, true, true},
		{"SetSuspended on", s.SetSuspended, true, true},
		{"SetSuspended on again", s.SetSuspended, true, false},
	} {
		changed, err := step.set(ctx, a.ID, step.on)
		if err != nil || changed != step.wantChanged {
			t.Fatalf("%s: got %v, %v; want %v", step.name, changed, err, step.wantChanged)
		}
	}
	want := a
	want.Operator, want.Suspended = true, true
	if diff := cmp.Diff(want, getAccount(t, s, a.ID)); diff != "" {
		t.Errorf("account after the flags (-want +got):\n%s", diff)
	}
	if changed, err := s.SetSuspended(ctx, "no-such-account", true); err != nil || changed {
		t.Errorf("SetSuspended of an unknown account: got %v, %v; want false, nil", changed, err)
	}
}
