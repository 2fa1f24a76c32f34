package httpapi_test

import (
	"context"
	"maps"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// accountRows returns the tables.columns that hold rows of the account,
// found in the schema (store.AccountRows), so that a table added later is
// checked too.
func accountRows(t *testing.T, s *testenv.Server, accountID string) map[string]int {
	t.Helper()
	rows, err := s.Store.AccountRows(context.Background(), accountID)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}

// wantOnlyRecord fails unless the account's only rows left are its
// tombstone and its audit events.
func wantOnlyRecord(t *testing.T, s *testenv.Server, accountID string) {
	t.Helper()
	rows := accountRows(t, s, accountID)
	if got := slices.Sorted(maps.Keys(rows)); !slices.Equal(got, []string{"audit_events.account_id", "deleted_accounts.account_id"}) {
		t.Errorf("rows of the deleted account left: %v, want its tombstone and audit events only", rows)
	}
	// Counters keyed by text, which the schema does not tie to the account.
	if keys, err := s.Store.ThrottleKeys(context.Background(), "2fa:"+accountID+":"); err != nil || len(keys) > 0 {
		t.Errorf("second-factor counters of the deleted account left: %v (%v)", keys, err)
	}
	evs, err := s.Store.Events(context.Background(), accountID, 0, 200)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.UserAgent != "" {
			t.Errorf("event %s of the deleted account keeps the user agent %q", e.Type, e.UserAgent)
		}
	}
}

// TestCloseOwnAccount: a holder closes their account with the password and
// a fresh second factor, never with an API key; while the account is a
// team's only owner or owns a zone it is refused with what to do; once
// closed, nothing of it is left but its tombstone and audit events, its
// sessions, keys and tokens answer 401, its name signs in as a wrong
// password does and cannot be taken again, and the holder is mailed.
func TestCloseOwnAccount(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		ctx := context.Background()
		addUser(t, s, "alice")
		addUser(t, s, "bob")
		c, bob := login(t, s, "alice"), login(t, s, "bob")
		acct, err := s.Store.AccountByUsername(ctx, "alice")
		if err != nil {
			t.Fatal(err)
		}
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		lapseElevation(s)

		// Without a fresh second factor, or with a key, it is refused.
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 403, "elevation-required")
		elevateWith(t, c, e.codes[0])
		key := makeKey(t, c, "script", nil, "account * read", "keys * read,write")
		_, _, tok := token(t, s, key.id, key.secret, url.Values{"grant_type": {"client_credentials"}})
		keyToken, _ := tok["access_token"].(string)
		if keyToken == "" {
			t.Fatalf("token: got %v", tok)
		}
		wantProblem(t, keyClient(s, key.id, key.secret).Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 403, "forbidden")
		tc := testenv.NewClient(s.URL())
		tc.Token = keyToken
		wantProblem(t, tc.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 403, "forbidden")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{}), 400, "invalid")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{"password": "not the password"}), 403, "forbidden")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password, "force": "yes"}), 400, "invalid")

		// The only owner of a team, or the owner of a zone: a conflict.
		solo := makeTeam(t, c, "Solo")
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 409, "conflict")
		if r := c.Do(t, "DELETE", "/v1/teams/"+solo, nil); r.Status != 204 {
			t.Fatalf("delete team: got %d %s", r.Status, r.Body)
		}
		if _, err := s.Service.AddZone(ctx, "alice.example", "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
		wantProblem(t, c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 409, "conflict")
		if err := s.Service.RemoveZone(ctx, "alice.example", core.Meta{}); err != nil {
			t.Fatal(err)
		}

		// Rows in as many tables as the API reaches: a member of bob's
		// team and invited to another, an SSH key and a push device
		// waiting, a login waiting, a change of address and a
		// password-reset link waiting.
		shared := makeTeam(t, bob, "Shared")
		addMember(t, bob, c, shared, "alice", "admin")
		invite(t, bob, makeTeam(t, bob, "Other"), "alice", "ops")
		kp := testenv.SSHKeygen(t, "ed25519", 0)
		if r := c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public}); r.Status != 201 {
			t.Fatalf("add ssh key: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "push", "label": "phone app"}); r.Status != 201 {
			t.Fatalf("add push device: got %d %s", r.Status, r.Body)
		}
		// A wrong code leaves a counter, which the sweep keeps while it counts.
		lid, _ := startLogin(t, s, "alice")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+lid+"/verify", map[string]string{"method": "totp", "code": "000000"}), 401, "invalid-code")
		if keys, _ := s.Store.ThrottleKeys(ctx, "2fa:"+acct.ID+":"); len(keys) == 0 {
			t.Fatal("no second-factor counter after a wrong code")
		}
		if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "alice@new.example", "password": password}); r.Status != 202 {
			t.Fatalf("change of address: got %d %s", r.Status, r.Body)
		}
		if r := askReset(t, s, "alice"); r.Status != 202 {
			t.Fatalf("password reset: got %d %s", r.Status, r.Body)
		}
		s.Service.Wait() // the link is made after the answer
		before := accountRows(t, s, acct.ID)
		for _, table := range []string{"factors", "recovery_codes", "paper_keys", "sessions", "logins", "api_keys", "ssh_keys", "ssh_challenges",
			"push_devices", "team_members", "team_invitations", "email_changes", "password_resets", "audit_events"} {
			if before[table+".account_id"] == 0 {
				t.Errorf("before closing: no row of the account in %s (%v)", table, before)
			}
		}

		if r := c.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}); r.Status != 204 {
			t.Fatalf("close: got %d %s, want 204", r.Status, r.Body)
		}
		wantOnlyRecord(t, s, acct.ID)
		if d := eventWith(t, s, acct.ID, "account.deleted"); d != "alice, by its holder" {
			t.Errorf("account.deleted detail %q", d)
		}
		if d := eventWith(t, s, acct.ID, "account.email_change_requested"); d != "" {
			t.Errorf("account.email_change_requested keeps the detail %q, want it cleared", d)
		}
		if body := mailWith(t, mb, "your account was closed"); !strings.Contains(body, "at your request") || !strings.Contains(body, "Hello alice") {
			t.Errorf("the holder was told:\n%s", body)
		}
		for _, m := range mb.Messages() {
			if subject, _ := mailText(t, m); strings.Contains(subject, "your account was closed") && !slices.Equal(m.To, []string{"alice@example.com"}) {
				t.Errorf("the notice of closing went to %v, want alice@example.com", m.To)
			}
		}

		// Everything of it stops working.
		wantProblem(t, c.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		if r := keyClient(s, key.id, key.secret).Do(t, "GET", "/v1/me", nil); r.Status != 401 {
			t.Errorf("the closed account's API key: got %d %s, want 401", r.Status, r.Body)
		}
		if r := tc.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
			t.Errorf("the closed account's key token: got %d %s, want 401", r.Status, r.Body)
		}
		closed := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": password})
		unknown := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "nobody", "password": password})
		wantProblem(t, closed, 401, "invalid-credentials")
		wantProblem(t, unknown, 401, "invalid-credentials")
		if closed.String("detail") != unknown.String("detail") || closed.String("title") != unknown.String("title") {
			t.Errorf("a closed account's login answers %s, an unknown name's %s: want the same", closed.Body, unknown.Body)
		}
		for _, name := range []string{"alice", "Alice"} {
			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: name, Password: password}, core.Meta{}); err == nil {
				t.Errorf("an account named %q was made after alice closed hers", name)
			}
		}
		if rs := roles(t, bob, shared); len(rs) != 1 || rs["bob"] != "owner" {
			t.Errorf("bob's team after alice closed her account: %v", rs)
		}
		if r := bob.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Errorf("bob's session: got %d", r.Status)
		}
	})
}

// TestOperatorDeletesAccount: an operator's elevated session deletes
// another account (the holder mailed, the operator named in the record);
// never an API key, never the operator's own account by this route, never
// a team's only owner, and never the last operator by any route.
func TestOperatorDeletesAccount(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, adminDelay)
		s, op, ctx := f.s, f.opc, context.Background()

		key := makeKey(t, op, "panel", nil, "admin users read,write")
		wantProblem(t, keyClient(s, key.id, key.secret).Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil), 403, "forbidden")
		if d := eventWith(t, s, f.userID, "admin.key_refused"); !strings.Contains(d, key.id) {
			t.Errorf("admin.key_refused detail %q: want the key named", d)
		}
		wantProblem(t, f.user.Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil), 403, "forbidden")
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/"+f.op.Account.ID, nil), 403, "forbidden")
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/no-such-account", nil), 404, "not-found")
		userAuth, err := s.Service.Authenticate(ctx, f.user.Token)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Service.DeletionBlocked(ctx, userAuth, f.op.Account.ID); twofold.ErrorCode(err) != twofold.CodeForbidden {
			t.Errorf("a user asking what blocks another account's deletion: got %v, want forbidden", err)
		}
		if err := s.Service.DeletionBlocked(ctx, f.op, f.userID); err != nil {
			t.Errorf("what blocks dave's deletion, before his team: %v, want nothing", err)
		}
		team := makeTeam(t, f.user, "Dave's")
		if err := s.Service.DeletionBlocked(ctx, f.op, f.userID); twofold.ErrorCode(err) != twofold.CodeConflict {
			t.Errorf("what blocks dave's deletion as his team's only owner: %v, want a conflict", err)
		}
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil), 409, "conflict")
		elevateWith(t, f.user, f.phone.codes[0])
		if r := f.user.Do(t, "DELETE", "/v1/teams/"+team, nil); r.Status != 204 {
			t.Fatalf("delete team: got %d %s", r.Status, r.Body)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, core.Meta{}); err != nil {
			t.Fatal(err)
		}

		if r := op.Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil); r.Status != 204 {
			t.Fatalf("delete: got %d %s, want 204", r.Status, r.Body)
		}
		wantOnlyRecord(t, s, f.userID)
		if d := eventWith(t, s, f.userID, "account.deleted"); d != "dave, by operator carol" {
			t.Errorf("account.deleted detail %q", d)
		}
		if body := mailWith(t, f.mailbox, "your account was closed"); !strings.Contains(body, "by an operator") || strings.Contains(body, "carol") {
			t.Errorf("the holder was told:\n%s", body)
		}
		wantProblem(t, f.user.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, op.Do(t, "GET", "/v1/admin/users/"+f.userID, nil), 404, "not-found")
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/"+f.userID, nil), 404, "not-found")
		r := op.Do(t, "GET", "/v1/admin/events?account="+f.userID, nil)
		evs := objects(t, r, "events")
		if r.Status != 200 || len(evs) == 0 || evs[0]["type"] != "account.deleted" {
			t.Errorf("the deleted account's events: got %d %s, want them kept for the operator, account.deleted the newest", r.Status, r.Body)
		}
		for _, e := range evs {
			if e["account_id"] != f.userID {
				t.Errorf("event of another account %v", e)
			}
		}
		wantProblem(t, op.Do(t, "POST", "/v1/admin/users", map[string]any{"username": "Dave", "password": password}), 409, "conflict")

		// Another operator's account is not deleted by an operator (one
		// stolen session must not rid the server of the others), only once
		// it is no operator; and the one left cannot close their own.
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "olga", Email: "olga@example.com", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		olga, err := s.Store.AccountByUsername(ctx, "olga")
		if err != nil {
			t.Fatal(err)
		}
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/users/"+olga.ID, nil), 403, "forbidden")
		if _, err := s.Service.SetOperatorByName(ctx, "olga", false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if r := op.Do(t, "DELETE", "/v1/admin/users/"+olga.ID, nil); r.Status != 204 {
			t.Fatalf("delete a former operator: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "DELETE", "/v1/me", map[string]string{"password": password}), 409, "conflict")
		if r := op.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the last operator after the refusal: got %d %s", r.Status, r.Body)
		}
	})
}

// TestClosingOperatorScrubsTheirAgent: the events that an operator's
// actions recorded on another account hold the operator's address and user
// agent; closing the operator's account clears that user agent there too,
// as on the operator's own events, and leaves the other account's own
// events as they are (README "Closing an account").
func TestClosingOperatorScrubsTheirAgent(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		s, ctx := f.s, context.Background()
		carol := core.Meta{Source: "192.0.2.30", UserAgent: "carol's browser"}
		if _, err := s.Service.SignOutEverywhereFor(ctx, f.op, f.userID, carol); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.RequestTwoFactorReset(ctx, f.op, f.userID, carol); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Service.Login(ctx, "dave", "wrong horse battery", core.Meta{Source: "192.0.2.31", UserAgent: "dave's phone"}); twofold.ErrorCode(err) != twofold.CodeInvalidCredentials {
			t.Fatalf("wrong password: %v", err)
		}
		byCarol := []string{"session.ended_everywhere", "two_factor.reset_requested"}
		agents := func() map[string]string {
			evs, err := s.Store.Events(ctx, f.userID, 0, 200)
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, e := range evs {
				if slices.Contains(byCarol, e.Type) && e.ActorID != f.op.Account.ID {
					t.Errorf("%s: actor %q, want carol's account %s", e.Type, e.ActorID, f.op.Account.ID)
				}
				got[e.Type] = e.UserAgent
			}
			return got
		}
		before := agents()
		for _, typ := range byCarol {
			if before[typ] != carol.UserAgent {
				t.Fatalf("%s before carol's account closed: user agent %q, want %q", typ, before[typ], carol.UserAgent)
			}
		}
		// Another operator, so that carol's is not the last.
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "olga", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		if err := s.Service.DeleteOwnAccount(ctx, f.op, password, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		after := agents()
		for _, typ := range byCarol {
			if after[typ] != "" {
				t.Errorf("%s after carol's account closed: user agent %q, want none", typ, after[typ])
			}
		}
		if got := after["login.password_failed"]; got != "dave's phone" {
			t.Errorf("dave's own event after carol's account closed: user agent %q, want %q", got, "dave's phone")
		}
	})
}
