package storetest

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// testDeleteAccount: deleting an account leaves no row that refers to it
// but its tombstone and its audit events, in every table the schema says
// may hold one (so a table added later is checked too); the other account
// keeps everything; the name stays reserved in any case; the events lose
// their user agents, and the details of the types named, as operators and
// as the holder read them.
func testDeleteAccount(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	for _, acct := range []twofold.Account{a, b} {
		activeFactor(t, s, acct.ID, "f-"+acct.Username, 1, "first-"+acct.Username)
		newSession(t, s, session(acct.ID, "sess-"+acct.Username))
		if err := s.ReplaceRecoveryCodes(ctx, acct.ID, codes(acct.Username, 3), t0); err != nil {
			t.Fatal(err)
		}
		apiKey(t, s, acct.ID, "k-"+acct.Username, "")
		for _, e := range []twofold.AuditEvent{
			{AccountID: acct.ID, Type: "login.succeeded", At: t0, Source: "192.0.2.1", UserAgent: "Firefox", Detail: "password only"},
			{AccountID: acct.ID, Type: "account.email_changed", At: t0, Source: "192.0.2.1", UserAgent: "Firefox", Detail: "from a•••@example.com to b•••@example.com"},
			{AccountID: acct.ID, Type: "account.email_changed", At: t0, Source: "192.0.2.1", UserAgent: "Firefox", ByOperator: true,
				Detail: "from b•••@example.com to c•••@example.com by operator carol", HolderDetail: "from b•••@example.com to c•••@example.com by an operator"},
		} {
			if err := s.AddEvent(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, b.ID, 100); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", a.ID, twofold.RoleAdmin, t0); err != nil {
		t.Fatal(err)
	}
	before, err := s.AccountRows(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"factors.account_id", "sessions.account_id", "recovery_codes.account_id", "api_keys.account_id", "team_members.account_id", "audit_events.account_id"} {
		if before[want] == 0 {
			t.Errorf("AccountRows before the deletion: no %s in %v", want, before)
		}
	}

	// The operators' record of a failed token claim (an event of no
	// account) names the account in its detail; stored with the holder's
	// user agent before such events were written without one.
	for _, who := range []string{a.ID, b.ID} {
		e := twofold.AuditEvent{Type: "token.claim_failed", At: t0, Source: "192.0.2.1", UserAgent: "Firefox", Detail: "account " + who + ": no token has serial X"}
		if err := s.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	// What the account, as an operator, did on none: the event holds its
	// address and user agent, and names it as the actor (migration 0071).
	if err := s.AddEvent(ctx, twofold.AuditEvent{Type: "tokens.imported", At: t0, Source: "192.0.2.2", UserAgent: "Safari", Detail: "2 tokens", ActorID: a.ID}); err != nil {
		t.Fatal(err)
	}

	err = s.InTx(ctx, func(ctx context.Context) error {
		if err := s.LockAccountForDeletion(ctx, a.ID); err != nil {
			return err
		}
		if err := s.ScrubEvents(ctx, a.ID, []string{"account.email_changed"}); err != nil {
			return err
		}
		return s.DeleteAccount(ctx, a.ID, t0)
	})
	if err != nil {
		t.Fatal(err)
	}
	after, err := s.AccountRows(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"audit_events.account_id": 3, "deleted_accounts.account_id": 1}, after); diff != "" {
		t.Errorf("rows of the deleted account (-want +got):\n%s", diff)
	}
	if other, err := s.AccountRows(ctx, b.ID); err != nil || other["factors.account_id"] != 1 || other["sessions.account_id"] != 1 || other["api_keys.account_id"] != 1 || other["team_members.account_id"] != 1 {
		t.Errorf("rows of the other account: %v, %v", other, err)
	}
	_, err = s.AccountByID(ctx, a.ID)
	wantCode(t, "AccountByID of a deleted account", err, twofold.CodeNotFound)
	wantCode(t, "DeleteAccount again", s.DeleteAccount(ctx, a.ID, t0), twofold.CodeNotFound)
	wantCode(t, "LockAccountForDeletion of a deleted account", s.InTx(ctx, func(ctx context.Context) error { return s.LockAccountForDeletion(ctx, a.ID) }), twofold.CodeNotFound)
	// A sign-in that read the account before it went finds it gone, not
	// an internal error.
	wantCode(t, "CreateSession of a deleted account", s.CreateSession(ctx, session(a.ID, "sess-late")), twofold.CodeNotFound)
	wantCode(t, "CreateLogin of a deleted account", s.CreateLogin(ctx, twofold.Login{ID: "login-late", AccountID: a.ID, CreatedAt: t0, ExpiresAt: t0.Add(time.Minute)}), twofold.CodeNotFound)
	for _, name := range []string{"alice", "ALICE"} {
		err := s.CreateAccount(ctx, twofold.Account{ID: "acct-new-" + name, Username: name, PasswordHash: "h", CreatedAt: t0})
		wantCode(t, "CreateAccount with a deleted account's name "+name, err, twofold.CodeConflict)
	}

	evs, err := s.Events(ctx, a.ID, 0, 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) != 3 {
		t.Fatalf("got %d events of the deleted account, want 3", len(evs))
	}
	for _, e := range evs {
		want := map[string]string{"login.succeeded": "password only", "account.email_changed": ""}[e.Type]
		if e.UserAgent != "" || e.Detail != want || e.HolderDetail != "" || e.Source != "192.0.2.1" {
			t.Errorf("event %s after the deletion: user agent %q, detail %q, holder's detail %q, source %q; want no user agent, detail %q, no holder's detail, the source kept",
				e.Type, e.UserAgent, e.Detail, e.HolderDetail, e.Source, want)
		}
	}
	if evs, _ := s.Events(ctx, b.ID, 0, 10); len(evs) != 3 || evs[0].UserAgent != "Firefox" || evs[0].HolderDetail == "" {
		t.Errorf("the other account's events were scrubbed: %+v", evs)
	}
	acted, err := s.QueryEvents(ctx, twofold.EventQuery{Types: []string{"tokens.imported"}, Limit: 10})
	if err != nil || len(acted) != 1 || acted[0].ActorID != a.ID || acted[0].UserAgent != "" || acted[0].Source != "192.0.2.2" {
		t.Errorf("the deleted account's event as an operator: %+v, %v; want its actor kept, no user agent, the source kept", acted, err)
	}
	claims, err := s.QueryEvents(ctx, twofold.EventQuery{Types: []string{"token.claim_failed"}, Limit: 10})
	if err != nil || len(claims) != 2 {
		t.Fatalf("claim events: %+v, %v", claims, err)
	}
	for _, e := range claims {
		if mine := strings.HasPrefix(e.Detail, "account "+a.ID+":"); mine != (e.UserAgent == "") || e.Source != "192.0.2.1" {
			t.Errorf("claim event %q after the deletion: user agent %q, source %q; want it scrubbed only for the deleted account, the source kept", e.Detail, e.UserAgent, e.Source)
		}
	}
}

// testDeletionRules: what the core's rules of a deletion read: the number
// of operators, and the teams of which an account is the only owner.
func testDeletionRules(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a, b := newAccount(t, s, "alice"), newAccount(t, s, "bob")
	if n, err := s.CountOperators(ctx); err != nil || n != 0 {
		t.Fatalf("CountOperators: got %d, %v, want 0", n, err)
	}
	for _, id := range []string{a.ID, b.ID} {
		if _, err := s.SetOperator(ctx, id, true); err != nil {
			t.Fatal(err)
		}
	}
	if n, err := s.CountOperators(ctx); err != nil || n != 2 {
		t.Fatalf("CountOperators: got %d, %v, want 2", n, err)
	}
	for _, tm := range []struct{ id, name, owner string }{{"t1", "Solo", a.ID}, {"t2", "Shared", a.ID}, {"t3", "Bob's", b.ID}, {"t0", "Also solo", a.ID}} {
		if err := s.CreateTeam(ctx, twofold.Team{ID: tm.id, Name: tm.name, CreatedAt: t0}, tm.owner, 100); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.AddTeamMember(ctx, "t2", b.ID, twofold.RoleOwner, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t3", a.ID, twofold.RoleAdmin, t0); err != nil {
		t.Fatal(err)
	}
	if err := s.AddTeamMember(ctx, "t1", b.ID, twofold.RoleAdmin, t0); err != nil {
		t.Fatal(err)
	}
	var names []string
	err := s.InTx(ctx, func(ctx context.Context) error {
		ts, err := s.SoleOwnedTeams(ctx, a.ID)
		for _, tm := range ts {
			names = append(names, tm.Name)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(names, []string{"Also solo", "Solo"}) {
		t.Errorf("SoleOwnedTeams of alice: got %q, want [Also solo Solo]", names)
	}
	if ts, err := s.SoleOwnedTeams(ctx, b.ID); err != nil || len(ts) != 1 || ts[0].ID != "t3" {
		t.Errorf("SoleOwnedTeams of bob: got %v, %v, want t3 alone", ts, err)
	}
}

// testRaceDeleteOperators: of the last two operators deleted at once, each
// by the rule "not the last operator" checked under the lock, one is
// deleted and one stays, on either engine.
func testRaceDeleteOperators(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for round := range 5 {
		var ids [2]string
		for i := range ids {
			a := newAccount(t, s, "op"+string(rune('a'+round))+string(rune('a'+i)))
			if _, err := s.SetOperator(ctx, a.ID, true); err != nil {
				t.Fatal(err)
			}
			ids[i] = a.ID
		}
		wins := race(t, func(i int) (bool, error) {
			deleted := false
			err := s.InTx(ctx, func(ctx context.Context) error {
				deleted = false
				if err := s.LockAccountForDeletion(ctx, ids[i%2]); err != nil {
					if twofold.ErrorCode(err) == twofold.CodeNotFound {
						return nil
					}
					return err
				}
				n, err := s.CountOperators(ctx)
				if err != nil || n <= 1 {
					return err
				}
				deleted = true
				return s.DeleteAccount(ctx, ids[i%2], t0)
			})
			if errors.Is(err, twofold.ErrTxConflict) {
				return false, nil // a lost deadlock wrote nothing; the core runs it again
			}
			return deleted && err == nil, err
		})
		if n, err := s.CountOperators(ctx); err != nil || n != 1 || wins != 1 {
			t.Fatalf("round %d: %d deletions won, %d operators left (%v), want 1 and 1", round, wins, n, err)
		}
		// The survivor stops being one, for the next round.
		for _, id := range ids {
			if _, err := s.SetOperator(ctx, id, false); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// testFirstAccountAfterDeletion: once every account is deleted, the setup
// link may make a first account again, but not under a closed account's
// name, and such a try leaves the link working.
func testFirstAccountAfterDeletion(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	if err := s.DeleteAccount(ctx, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	addSetupToken(t, s, "token-1")
	_, err := s.CreateFirstAccount(ctx, []byte("token-1"), t0, operator("Alice"))
	wantCode(t, "CreateFirstAccount with a closed account's name", err, twofold.CodeConflict)
	if ok, err := s.SetupTokenValid(ctx, []byte("token-1"), t0); err != nil || !ok {
		t.Fatalf("the setup link after a refused name: valid %v, %v; want still valid", ok, err)
	}
	if ok, err := s.CreateFirstAccount(ctx, []byte("token-1"), t0, operator("root")); err != nil || !ok {
		t.Fatalf("CreateFirstAccount with a free name: %v, %v", ok, err)
	}
}

// testWritesForAClosedAccount: a write that holds the account's row first
// (lockAccount) and finds the account closed, before or while it waited,
// is not found and stores nothing; it does not fail on a foreign key as an
// internal error. A reset that fell due for it is simply no longer due.
func testWritesForAClosedAccount(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	if err := s.DeleteAccount(ctx, a.ID, t0); err != nil {
		t.Fatal(err)
	}
	wantCode(t, "LockAccount", s.InTx(ctx, func(ctx context.Context) error { return s.LockAccount(ctx, a.ID) }), twofold.CodeNotFound)
	wantCode(t, "CreateFactor", s.CreateFactor(ctx, pendingFactor(a.ID, "f1", t0)), twofold.CodeNotFound)
	wantCode(t, "ReplaceRecoveryCodes", s.ReplaceRecoveryCodes(ctx, a.ID, codes("alice", 3), t0), twofold.CodeNotFound)
	wantCode(t, "CreateTeam", s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, a.ID, 100), twofold.CodeNotFound)
	_, _, err := s.CreatePushChallenge(ctx, pushChallenge(a.ID, "push-1", "c1", "login:l1", t0), nil)
	wantCode(t, "CreatePushChallenge", err, twofold.CodeNotFound)
	if _, out, err := s.ResetTwoFactor(ctx, a.ID, t0); err != nil || out != twofold.ResetNotDue {
		t.Errorf("ResetTwoFactor: %v, %v; want not due", out, err)
	}
	rows, err := s.AccountRows(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]int{"deleted_accounts.account_id": 1}, rows); diff != "" {
		t.Errorf("rows of the closed account (-want +got):\n%s", diff)
	}
}
