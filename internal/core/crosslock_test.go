package core_test

import (
	"context"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestCallersActingOnEachOther: on PostgreSQL, two callers' writes that
// each lock the other's account or every operator's meet in the middle
// and do not deadlock: no transaction ends in a conflict to be run again
// (a stall of a second each, a 503 after five), and the two outcomes are
// those of the writes run one after the other (the server keeps an
// operator; a caller signed out or closed by the first is refused). The
// meeting is forced: a second connection holds the first caller's session
// row, which its check reads once it holds its account's, so that the
// first write waits there; the second write then waits for a row the
// first holds (or, where it needs none, runs to its end); the holder lets
// go. Two operators signing each other out everywhere, revoking each
// other's API keys, closing their own accounts at once, or one closing
// theirs as the other signs them out, deadlocked so before the callers'
// accounts were taken with the others, in the order of their ids
// (lockFirst): each held its own and waited for the other's. An operator
// closing a customer's account as the customer writes, and a team owner
// removing a member who closes their account or leaves, never did: the
// customer's writes lock no other account, and team writes take the
// caller's account, then the team. (API keys never act on an operator's
// account, so two keys' writes never lock each other's; SQLite's one
// writer runs writes one after the other anyway.)
func TestCallersActingOnEachOther(t *testing.T) {
	type pair struct {
		a, b core.Auth // the first caller, whose row is held, and the second
		// aKey and bKey are the ids of the admin keys named "ops" of a's
		// and b's accounts.
		aKey, bKey string
		team       string // the team of bob, its owner, and nick (team)
	}
	adminPermits := []twofold.Permit{{Service: "admin", Resource: "users", Actions: []string{"read", "write"}}}
	for _, tc := range []struct {
		name string
		// third makes a third operator, carol, who stays.
		third bool
		// by names the first and second callers: the operators ada and
		// bob, or nick, who is none ({"ada", "bob"} when empty).
		by [2]string
		// team makes the team of bob, its owner, and nick.
		team bool
		// alone says that the second write takes no row the first holds
		// and runs to its end while the first waits.
		alone bool
		// first and second are the writes of p.a and p.b.
		first, second func(ctx context.Context, svc *core.Service, p pair) error
		// wantFirst and wantSecond are the codes they end with ("" for none).
		wantFirst, wantSecond twofold.Code
		// check checks what is left once both ended.
		check func(t *testing.T, db testDB, p pair)
	}{
		{
			name: "sign each other out everywhere",
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				_, err := svc.SignOutEverywhereFor(ctx, p.a, p.b.Account.ID, core.Meta{})
				return err
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				_, err := svc.SignOutEverywhereFor(ctx, p.b, p.a.Account.ID, core.Meta{})
				return err
			},
			// The second caller was signed out by the first.
			wantSecond: twofold.CodeUnauthorized,
		},
		{
			name: "revoke each other's API key",
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.RevokeAPIKeyFor(ctx, p.a, p.b.Account.ID, p.bKey, core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.RevokeAPIKeyFor(ctx, p.b, p.a.Account.ID, p.aKey, core.Meta{})
			},
		},
		{
			name:  "close their own accounts, a third operator staying",
			third: true,
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.a, testPassword, core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.b, testPassword, core.Meta{})
			},
			check: func(t *testing.T, db testDB, p pair) {
				wantOperators(t, db, "carol")
			},
		},
		{
			name: "the last two operators close their own accounts",
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.a, testPassword, core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.b, testPassword, core.Meta{})
			},
			// The server keeps one operator.
			wantSecond: twofold.CodeConflict,
			check: func(t *testing.T, db testDB, p pair) {
				wantOperators(t, db, p.b.Account.Username)
			},
		},
		{
			name:  "close their own account while signed out by the other",
			third: true,
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.a, testPassword, core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				_, err := svc.SignOutEverywhereFor(ctx, p.b, p.a.Account.ID, core.Meta{})
				return err
			},
			// The account signed out was closed first.
			wantSecond: twofold.CodeNotFound,
			check: func(t *testing.T, db testDB, p pair) {
				wantOperators(t, db, p.b.Account.Username, "carol")
			},
		},
		{
			name:  "sign out everywhere the other, who closes their own account",
			third: true,
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				_, err := svc.SignOutEverywhereFor(ctx, p.a, p.b.Account.ID, core.Meta{})
				return err
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.b, testPassword, core.Meta{})
			},
			// The session that asked to close the account was signed out first.
			wantSecond: twofold.CodeUnauthorized,
			check: func(t *testing.T, db testDB, p pair) {
				wantOperators(t, db, p.a.Account.Username, p.b.Account.Username, "carol")
			},
		},
		{
			name: "an operator closes the account of a customer writing",
			by:   [2]string{"nick", "ada"},
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				_, _, err := svc.CreateAPIKey(ctx, p.a, core.NewAPIKey{Name: "script", Permits: []twofold.Permit{{Service: "keys", Resource: "*", Actions: []string{"read"}}}}, core.Meta{})
				return err
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteAccountFor(ctx, p.b, p.a.Account.ID, core.Meta{})
			},
			check: func(t *testing.T, db testDB, p pair) {
				wantGone(t, db, "nick")
			},
		},
		{
			name:  "a team owner removes a member closing their account",
			by:    [2]string{"nick", "bob"},
			team:  true,
			alone: true,
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.DeleteOwnAccount(ctx, p.a, testPassword, core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.RemoveTeamMember(ctx, p.b, p.team, "nick", core.Meta{})
			},
			check: func(t *testing.T, db testDB, p pair) {
				wantGone(t, db, "nick")
			},
		},
		{
			name:  "a team owner removes a member leaving",
			by:    [2]string{"bob", "nick"},
			team:  true,
			alone: true,
			first: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.RemoveTeamMember(ctx, p.a, p.team, "nick", core.Meta{})
			},
			second: func(ctx context.Context, svc *core.Service, p pair) error {
				return svc.RemoveTeamMember(ctx, p.b, p.team, "nick", core.Meta{})
			},
			// nick left first.
			wantFirst: twofold.CodeNotFound,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := t.Context()
			dsn := testenv.PostgresDSN(t)
			m := newMeddled(t, dsn, conflictCounting, false)
			db, cs, clock, svc := m.db, m.store, m.clock, m.svc
			operator := func(name string) (core.Auth, string) {
				a := withTOTP(t, svc, clock, signedInAs(t, svc, core.NewAccount{Username: name, Email: name + "@example.com", Operator: true}))
				k, _, err := svc.CreateAPIKey(ctx, a, core.NewAPIKey{Name: "ops", Permits: adminPermits}, core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				return a, k.ID
			}
			users, keys := map[string]core.Auth{}, map[string]string{}
			users["ada"], keys["ada"] = operator("ada")
			users["bob"], keys["bob"] = operator("bob")
			if tc.third {
				operator("carol")
			}
			users["nick"] = signedIn(t, svc, "nick")
			by := tc.by
			if by[0] == "" {
				by = [2]string{"ada", "bob"}
			}
			p := pair{a: users[by[0]], b: users[by[1]], aKey: keys[by[0]], bKey: keys[by[1]]}
			if tc.team {
				team, err := svc.CreateTeam(ctx, users["bob"], "ops", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				v, err := svc.InviteTeamMember(ctx, users["bob"], team.ID, "nick", "read-only", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				if _, err := svc.AcceptTeamInvitation(ctx, users["nick"], v.ID, core.Meta{}); err != nil {
					t.Fatal(err)
				}
				p.team = team.ID
			}
			cs.conflicts.Store(0)

			conn := testenv.OpenDB(t, dsn)
			holder, err := conn.BeginTx(ctx, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer holder.Rollback()
			if _, err := holder.ExecContext(ctx, `SELECT 1 FROM sessions WHERE id = $1 FOR UPDATE`, p.a.Session.ID); err != nil {
				t.Fatal(err)
			}
			firstDone, secondDone := make(chan error, 1), make(chan error, 1)
			go func() { firstDone <- tc.first(core.WithCaller(ctx, p.a), svc, p) }()
			testenv.AwaitLockWaiters(t, conn, 1, firstDone)
			go func() { secondDone <- tc.second(core.WithCaller(ctx, p.b), svc, p) }()
			var second error
			if tc.alone {
				second = <-secondDone
			} else {
				testenv.AwaitLockWaiters(t, conn, 2, secondDone)
			}
			if err := holder.Rollback(); err != nil {
				t.Fatal(err)
			}
			if err := <-firstDone; twofold.ErrorCode(err) != tc.wantFirst && (err != nil || tc.wantFirst != "") {
				t.Errorf("first write: got %v, want code %q", err, tc.wantFirst)
			}
			if !tc.alone {
				second = <-secondDone
			}
			if err := second; twofold.ErrorCode(err) != tc.wantSecond && (err != nil || tc.wantSecond != "") {
				t.Errorf("second write: got %v, want code %q", err, tc.wantSecond)
			}
			if got := cs.conflicts.Load(); got != 0 {
				t.Errorf("got %d transactions ended in a conflict (each run again), want 0", got)
			}
			if tc.check != nil {
				tc.check(t, db, p)
			}
		})
	}
}

// wantOperators checks that the operators' accounts are those named.
func wantOperators(t *testing.T, db testDB, names ...string) {
	t.Helper()
	for _, name := range []string{"ada", "bob", "carol"} {
		want := false
		for _, n := range names {
			want = want || n == name
		}
		a, err := db.Store.AccountByUsername(context.Background(), name)
		got := err == nil && a.Operator
		if twofold.ErrorCode(err) != twofold.CodeNotFound && err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("%s an operator: got %v (%v), want %v", name, got, err, want)
		}
	}
}

// wantGone checks that the account named is closed.
func wantGone(t *testing.T, db testDB, name string) {
	t.Helper()
	if _, err := db.Store.AccountByUsername(context.Background(), name); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("account %s: got %v, want it closed (not-found)", name, err)
	}
}
