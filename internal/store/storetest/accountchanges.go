package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// testPasswordReset: a link is found by id until it lapses; a new one
// leaves the account's links before working, up to the newest keep, and
// drops lapsed ones; one use of any number wins; DeletePasswordResets
// deletes them all.
func testPasswordReset(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	link := func(id, account string, at time.Time) twofold.PasswordReset {
		return twofold.PasswordReset{ID: id, AccountID: account, TokenHash: []byte("hash-" + id), CreatedAt: at, ExpiresAt: at.Add(30 * time.Minute)}
	}
	put := func(r twofold.PasswordReset) {
		t.Helper()
		if err := s.PutPasswordReset(ctx, r, 3); err != nil {
			t.Fatalf("put %s: %v", r.ID, err)
		}
	}
	// found reports which of ids are found at the time at.
	found := func(at time.Time, ids ...string) map[string]bool {
		t.Helper()
		out := map[string]bool{}
		for _, id := range ids {
			_, err := s.PasswordReset(ctx, id, at)
			switch {
			case err == nil:
				out[id] = true
			case twofold.ErrorCode(err) != twofold.CodeNotFound:
				t.Fatalf("PasswordReset(%s): %v", id, err)
			}
		}
		return out
	}
	check := func(what string, at time.Time, want ...string) {
		t.Helper()
		wantSet := map[string]bool{}
		for _, id := range want {
			wantSet[id] = true
		}
		if diff := cmp.Diff(wantSet, found(at, "r1", "r2", "r3", "r4", "r5", "b1")); diff != "" {
			t.Errorf("%s: links found (-want +got):\n%s", what, diff)
		}
	}

	put(link("r1", a.ID, t0))
	got, err := s.PasswordReset(ctx, "r1", t0)
	if err != nil || got.AccountID != a.ID || string(got.TokenHash) != "hash-r1" || !got.ExpiresAt.Equal(t0.Add(30*time.Minute)) {
		t.Fatalf("got %+v, %v; want the first link", got, err)
	}
	if _, err := s.PasswordReset(ctx, "r1", got.ExpiresAt); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("a lapsed link: got %v, want not-found", err)
	}
	put(link("b1", b.ID, t0))
	put(link("r2", a.ID, t0.Add(time.Minute)))
	check("after a second link", t0.Add(time.Minute), "r1", "r2", "b1")
	put(link("r3", a.ID, t0.Add(2*time.Minute)))
	put(link("r4", a.ID, t0.Add(3*time.Minute)))
	check("after a fourth link", t0.Add(3*time.Minute), "r2", "r3", "r4", "b1")

	for _, c := range []struct {
		name string
		id   string
		hash string
		at   time.Time
		want bool
	}{
		{"dropped", "r1", "hash-r1", t0, false},
		{"wrong hash", "r2", "hash-r3", t0, false},
		{"other account's", "b1", "hash-r2", t0, false},
		{"lapsed", "r2", "hash-r2", t0.Add(31 * time.Minute), false},
		{"first use", "r2", "hash-r2", t0, true},
		{"second use", "r2", "hash-r2", t0, false},
	} {
		if ok, err := s.UsePasswordReset(ctx, c.id, []byte(c.hash), c.at); err != nil || ok != c.want {
			t.Errorf("%s: got %v, %v; want %v", c.name, ok, err, c.want)
		}
	}
	check("after a use", t0.Add(3*time.Minute), "r3", "r4", "b1")

	// A link made once the others lapsed drops them.
	later := t0.Add(40 * time.Minute)
	put(link("r5", a.ID, later))
	check("after the others lapsed", t0.Add(3*time.Minute), "r5", "b1")

	put(link("r1", a.ID, later))
	if err := s.DeletePasswordResets(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	check("after DeletePasswordResets", t0.Add(3*time.Minute), "b1")
}

// testEmailChange: a change takes checks until none is left or it lapses,
// applies once, and a new one replaces the one before.
func testEmailChange(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	c := twofold.EmailChange{AccountID: a.ID, Email: "alice@new.example", CodeHash: []byte("hash-1"), ChecksLeft: 2,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
	if err := s.PutEmailChange(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, err := s.TakeEmailChangeCheck(ctx, a.ID, c.ExpiresAt); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("a lapsed change: got %v, want not-found", err)
	}
	for want := 1; want >= 0; want-- {
		got, err := s.TakeEmailChangeCheck(ctx, a.ID, t0)
		if err != nil || got.ChecksLeft != want || got.Email != c.Email || string(got.CodeHash) != "hash-1" {
			t.Fatalf("take a check: got %+v, %v; want %d left", got, err, want)
		}
	}
	if _, err := s.TakeEmailChangeCheck(ctx, a.ID, t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatalf("no checks left: got %v, want not-found", err)
	}
	c.Email, c.CodeHash, c.ChecksLeft = "alice@third.example", []byte("hash-2"), 5
	if err := s.PutEmailChange(ctx, c); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ApplyEmailChange(ctx, a.ID, []byte("hash-1")); ok || err != nil {
		t.Fatalf("apply a replaced change: got %v, %v; want false", ok, err)
	}
	if email, ok, err := s.ApplyEmailChange(ctx, a.ID, []byte("hash-2")); !ok || err != nil || email != c.Email {
		t.Fatalf("apply: got %q, %v, %v", email, ok, err)
	}
	if _, ok, _ := s.ApplyEmailChange(ctx, a.ID, []byte("hash-2")); ok {
		t.Fatal("a change applied twice")
	}
	if got, err := s.AccountByID(ctx, a.ID); err != nil || got.Email != c.Email {
		t.Fatalf("account's address: got %q, %v; want %q", got.Email, err, c.Email)
	}
}

// testEmailChangedByOperator: an operator's change of address (SetEmail)
// records when, the latest change winning; the holder's own change
// (ApplyEmailChange) leaves it as it was; an unknown account is not-found.
func testEmailChangedByOperator(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	want := func(what string, at time.Time) {
		t.Helper()
		got, err := s.EmailChangedByOperatorAt(ctx, a.ID)
		if err != nil || !got.Equal(at) {
			t.Fatalf("%s: got %v, %v; want %v", what, got, err, at)
		}
	}
	want("never changed", time.Time{})
	for _, at := range []time.Time{t0.Add(time.Hour), t0.Add(2 * time.Hour)} {
		if err := s.SetEmail(ctx, a.ID, "alice@"+at.Format("1504")+".example", at); err != nil {
			t.Fatal(err)
		}
		want("after SetEmail", at)
	}
	if err := s.PutEmailChange(ctx, twofold.EmailChange{AccountID: a.ID, Email: "alice@own.example", CodeHash: []byte("hash"), ChecksLeft: 5,
		CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, ok, err := s.ApplyEmailChange(ctx, a.ID, []byte("hash")); !ok || err != nil {
		t.Fatalf("apply: %v, %v", ok, err)
	}
	want("after the holder's own change", t0.Add(2*time.Hour))
	if _, err := s.EmailChangedByOperatorAt(ctx, "no-such-account"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("an unknown account: got %v, want not-found", err)
	}
	if err := s.SetEmail(ctx, "no-such-account", "x@example.com", t0); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("SetEmail of an unknown account: got %v, want not-found", err)
	}
}

// testReplacedEmails: an address an operator replaced is kept, a second
// replacement moves its time on, the list is the latest first and from a
// time on, and a purge takes those replaced before its time except an
// account's whose reset of two-factor waits, and those of a deleted account.
func testReplacedEmails(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	for _, k := range []struct {
		id, email string
		at        time.Time
	}{
		{a.ID, "alice@one.example", t0},
		{a.ID, "alice@two.example", t0.Add(time.Hour)},
		{a.ID, "alice@one.example", t0.Add(2 * time.Hour)}, // set back, then replaced again
		{b.ID, "bob@one.example", t0},
	} {
		if err := s.KeepReplacedEmail(ctx, k.id, k.email, k.at); err != nil {
			t.Fatal(err)
		}
	}
	list := func(id string, since time.Time) []string {
		t.Helper()
		rs, err := s.ReplacedEmails(ctx, id, since)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rs {
			if r.AccountID != id {
				t.Errorf("address %s: got account %s, want %s", r.Email, r.AccountID, id)
			}
			out = append(out, r.Email+"@"+r.ReplacedAt.Sub(t0).String())
		}
		return out
	}
	if got, want := list(a.ID, t0), []string{"alice@one.example@2h0m0s", "alice@two.example@1h0m0s"}; !slices.Equal(got, want) {
		t.Fatalf("alice's replaced addresses: got %v, want %v", got, want)
	}
	if got, want := list(a.ID, t0.Add(90*time.Minute)), []string{"alice@one.example@2h0m0s"}; !slices.Equal(got, want) {
		t.Fatalf("alice's since 90m: got %v, want %v", got, want)
	}
	// A reset waits for bob: his address stays past the purge's time.
	if err := s.AddTwoFactorReset(ctx, twofold.TwoFactorReset{AccountID: b.ID, RequestedBy: "operator carol", RequestedAt: t0, Due: t0.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeReplacedEmails(ctx, t0.Add(90*time.Minute)); err != nil || n != 1 {
		t.Fatalf("purge: got %d, %v; want 1", n, err)
	}
	if got, want := list(a.ID, time.Time{}), []string{"alice@one.example@2h0m0s"}; !slices.Equal(got, want) {
		t.Fatalf("alice's after the purge: got %v, want %v", got, want)
	}
	if got := list(b.ID, time.Time{}); len(got) != 1 {
		t.Fatalf("bob's, whose reset waits, after the purge: got %v, want his one", got)
	}
	if _, err := s.CancelTwoFactorReset(ctx, b.ID); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PurgeReplacedEmails(ctx, t0.Add(90*time.Minute)); err != nil || n != 1 {
		t.Fatalf("purge once bob's reset is gone: got %d, %v; want 1", n, err)
	}
	if err := s.DeleteAccount(ctx, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	if got := list(a.ID, time.Time{}); len(got) != 0 {
		t.Fatalf("a deleted account's replaced addresses: got %v, want none", got)
	}
}
