package httpapi_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzCancelReset sends any body to DELETE /v1/me/two-factor/reset, where
// an account's holder cancels the reset of two-factor an operator asked
// for, by one of five callers: alice's elevated session (she has an app),
// another of hers that is not elevated, an API key of hers, bob's session
// (no factor, so never a reset), and carol's elevated session (an app too),
// with a reset waiting for alice, for carol, for both or for neither.
// Whatever the request:
//
//   - the answer is never a server error, and a refusal is problem+json
//     of its status;
//   - a reset is cancelled (204) only by an elevated session of the
//     account it waits for (never a key, nor another account's session);
//     then it no longer waits, the other account's reset is as it was,
//     the account keeps its authenticators, every row that changed is the
//     account's, and its holder is mailed;
//   - the elevated session of an account whose reset waits cancels it
//     with an empty body;
//   - a refusal writes nothing (testenv.Snapshot) and queues no mail.
//
// The who byte picks the caller (its value mod 5); the waits byte which
// resets wait (bit 0 alice's, bit 1 carol's), asked for or cancelled as the
// command line does before the request. On SQLite; FuzzCancelResetPostgres
// is the same on PostgreSQL.
func FuzzCancelReset(f *testing.F) { cancelReset(f, testenv.SQLiteDSN(f)) }

// FuzzCancelResetPostgres is FuzzCancelReset on PostgreSQL.
func FuzzCancelResetPostgres(f *testing.F) { cancelReset(f, testenv.PostgresDSN(f)) }

func cancelReset(f *testing.F, dsn string) {
	var logs testenv.Buffer
	s, _ := fuzzServer(f, dsn, &logs)
	snaps := testenv.OpenSnapshots(f, dsn)
	ctx := context.Background()
	aliceElevated, aliceOther, _ := holderWithApp(f, s, "alice")
	key, _ := fuzzKey(f, s, aliceElevated, "account * read", "keys * write")
	carol, _, _ := holderWithApp(f, s, "carol")
	addUser(f, s, "bob")
	callers := []*testenv.Client{aliceElevated, aliceOther, key, login(f, s, "bob"), carol}
	names := []string{"alice", "alice", "alice", "bob", "carol"}
	ids := accountIDs(f, s, "alice", "bob", "carol")
	waiting := func(t testing.TB, name string) bool {
		_, found, err := s.Store.TwoFactorReset(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		return found
	}
	factorsOf := func(t testing.TB, name string) []string {
		fs, err := s.Store.Factors(ctx, ids[name])
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, fa := range fs {
			out = append(out, fa.ID+" "+string(fa.Status))
		}
		return out
	}

	for _, in := range []struct {
		body       string
		who, waits uint8
	}{
		{"", 0, 1},
		{"", 1, 1},
		{"", 2, 1},
		{"", 3, 3},
		{"", 4, 3},
		{"", 4, 1},
		{"", 0, 2},
		{"", 0, 0},
		{"{}", 0, 3},
		{`{"x":1}`, 4, 2},
		{"not json", 0, 1},
	} {
		f.Add(in.body, in.who, in.waits)
	}

	f.Fuzz(func(t *testing.T, body string, who, waits uint8) {
		for i, name := range []string{"alice", "carol"} {
			want := waits&(1<<i) != 0
			switch has := waiting(t, name); {
			case want && !has:
				if _, err := s.Service.ResetTwoFactorByName(ctx, name, false, core.Meta{}); err != nil {
					t.Fatalf("ask for a reset of %s: %v", name, err)
				}
			case !want && has:
				if _, err := s.Service.CancelTwoFactorResetByName(ctx, name, core.Meta{}); err != nil {
					t.Fatalf("cancel the reset of %s: %v", name, err)
				}
			}
		}
		s.Service.Wait()
		caller := int(who % 5)
		name := names[caller]
		was := map[string]bool{"alice": waiting(t, "alice"), "carol": waiting(t, "carol")}
		factors := factorsOf(t, name)
		req := testenv.NewRequest(t, "DELETE", s.URL()+"/v1/me/two-factor/reset", body, nil)
		asCaller(req, callers[caller])
		input := fmt.Sprintf("%q by %d, resets waiting %v", body, caller, was)
		r, d, done := sendJudged(t, s, snaps, dsn, req, input)
		if !done {
			if body == "" && (caller == 0 || caller == 4) && was[name] {
				t.Fatalf("%s: %s's elevated session could not cancel the reset waiting: %d %s", input, name, r.Status, r.Body)
			}
			return // refused, and nothing written
		}
		switch {
		case r.Status != 204:
			t.Fatalf("%s: answered %d %s", input, r.Status, r.Body)
		case caller != 0 && caller != 4:
			t.Fatalf("%s: a reset cancelled by %d, not an elevated session of its account", input, caller)
		case !was[name]:
			t.Fatalf("%s: cancelled, but no reset waited for %s", input, name)
		case waiting(t, name):
			t.Fatalf("%s: cancelled, but the reset still waits", input)
		case !slices.Equal(factorsOf(t, name), factors):
			t.Fatalf("%s: %s's authenticators were %v, are %v", input, name, factors, factorsOf(t, name))
		case !strings.Contains(d, "two_factor_resets: ") || !strings.Contains(d, "+ mail queued"):
			t.Fatalf("%s: the reset is not gone, or its holder not mailed:\n%s", input, d)
		}
		for other, w := range was {
			if other != name && waiting(t, other) != w {
				t.Fatalf("%s: %s's reset changed too", input, other)
			}
		}
		rowsOf(t, input, d, ids[name])
	})
}
