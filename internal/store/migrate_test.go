package store_test

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMigrationTeamKeysAndZones: migration 0037 counts a key from before it
// as made with a second factor when its account had an active factor
// confirmed before the first key of its line was made, and a key made by a
// key as its maker was; and it stops sharing zones with teams their owners
// are no longer members of.
func TestMigrationTeamKeysAndZones(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice", "bob", "carol")
			factor := func(account, id string, status twofold.FactorStatus, confirmed time.Time) {
				t.Helper()
				f := twofold.Factor{ID: id, AccountID: account, Type: twofold.FactorTOTP, Label: id, Status: status,
					SecretKeyID: "key-1", SealedSecret: []byte("sealed"), Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second,
					LastStep: -1, CreatedAt: t0}
				if !confirmed.IsZero() {
					f.ConfirmedAt = &confirmed
				}
				if err := s.CreateFactor(ctx, f); err != nil {
					t.Fatal(err)
				}
			}
			key := func(account, id, parent string, at time.Time) {
				t.Helper()
				// Stored the opposite of what the backfill must find.
				k := twofold.APIKey{ID: id, AccountID: account, ParentID: parent, Name: id, SecretHash: []byte(id),
					Permits: []twofold.Permit{{Service: "dns", Resource: "*", Actions: []string{"read"}}}, CreatedAt: at, SecondFactor: true}
				if err := s.CreateAPIKey(ctx, k); err != nil {
					t.Fatal(err)
				}
			}
			// Alice confirmed her factor before her keys.
			factor("acct-alice", "fa", twofold.FactorActive, t0.Add(time.Minute))
			key("acct-alice", "alice-root", "", t0.Add(time.Hour))
			key("acct-alice", "alice-child", "alice-root", t0.Add(2*time.Hour))
			key("acct-alice", "alice-grandchild", "alice-child", t0.Add(3*time.Hour))
			// Bob confirmed his after his first key, before its child.
			factor("acct-bob", "fb", twofold.FactorActive, t0.Add(90*time.Minute))
			key("acct-bob", "bob-root", "", t0.Add(time.Hour))
			key("acct-bob", "bob-child", "bob-root", t0.Add(2*time.Hour))
			// Carol's factor was never confirmed.
			factor("acct-carol", "fc", twofold.FactorPending, time.Time{})
			key("acct-carol", "carol-root", "", t0.Add(time.Hour))

			// Bob shared a zone with alice's team and left it before members
			// took their zones along; alice's own zone stays shared.
			if err := s.CreateTeam(ctx, twofold.Team{ID: "t1", Name: "Acme", CreatedAt: t0}, "acct-alice", 100); err != nil {
				t.Fatal(err)
			}
			// Bob was a member then (a share needs one); the membership
			// goes below, with the undo, as it went before migration 0037.
			if err := s.AddTeamMember(ctx, "t1", "acct-bob", twofold.RoleAdmin, t0); err != nil {
				t.Fatal(err)
			}
			for zone, owner := range map[string]string{"alice.com": "acct-alice", "bob.net": "acct-bob"} {
				if err := s.CreateZone(ctx, twofold.Zone{Name: zone, AccountID: owner, Serial: 1, CreatedAt: t0}); err != nil {
					t.Fatal(err)
				}
				if _, err := s.SetZoneTeam(ctx, zone, "t1", twofold.TeamMember{}); err != nil {
					t.Fatal(err)
				}
			}

			remigrate(t, s, 37, `ALTER TABLE api_keys DROP COLUMN second_factor`,
				`DELETE FROM team_members WHERE team_id = 't1' AND account_id = 'acct-bob'`)
			for id, want := range map[string]bool{
				"alice-root": true, "alice-child": true, "alice-grandchild": true,
				"bob-root": false, "bob-child": false,
				"carol-root": false,
			} {
				k, err := s.APIKey(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				if k.SecondFactor != want {
					t.Errorf("key %s: got SecondFactor %v, want %v", id, k.SecondFactor, want)
				}
			}
			for zone, want := range map[string]string{"alice.com": "t1", "bob.net": ""} {
				z, err := s.Zone(ctx, zone)
				if err != nil {
					t.Fatal(err)
				}
				if z.TeamID != want {
					t.Errorf("zone %s: shared with %q, want %q", zone, z.TeamID, want)
				}
			}
		})
	}
}

// TestMigrationPendingSession: migration 0038 leaves the setup session of
// the factors pending before it empty, "not known" (core.PendingEnrolment
// then shows their secret to an elevated session only), and new factors
// keep theirs.
func TestMigrationPendingSession(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			f := twofold.Factor{ID: "f-old", AccountID: "acct-alice", Type: twofold.FactorTOTP, Label: "old", Status: twofold.FactorPending,
				SecretKeyID: "key-1", SealedSecret: []byte("sealed"), Algorithm: "SHA1", Digits: 6, Period: 30 * time.Second,
				LastStep: -1, CreatedAt: t0, PendingSessionID: "session-before"}
			if err := s.CreateFactor(ctx, f); err != nil {
				t.Fatal(err)
			}
			remigrate(t, s, 38, `ALTER TABLE factors DROP COLUMN pending_session_id`)
			got, err := s.Factor(ctx, "acct-alice", "f-old")
			if err != nil {
				t.Fatal(err)
			}
			if got.Status != twofold.FactorPending || got.PendingSessionID != "" {
				t.Errorf("factor pending before 0038: got status %q, setup session %q; want %q and none", got.Status, got.PendingSessionID, twofold.FactorPending)
			}
			f.ID, f.Label, f.PendingSessionID = "f-new", "new", "session-after"
			if err := s.CreateFactor(ctx, f); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Factor(ctx, "acct-alice", "f-new"); err != nil || got.PendingSessionID != "session-after" {
				t.Errorf("factor pending after 0038: got setup session %q (%v), want %q", got.PendingSessionID, err, "session-after")
			}
		})
	}
}

// TestPendingFromBeforeMigration: a TOTP factor pending when migration 0038
// ran has no known setup session. Its secret is then shown to no session
// without elevation, not even the owner's (who starts again, or elevates
// once the account has another factor), so that nobody who read nothing
// before reads it now; but a session may still confirm it with a code, so
// an owner who scanned the key before the upgrade finishes the setup.
func TestPendingFromBeforeMigration(t *testing.T) {
	t.Parallel()
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			ts := testenv.NewServer(t, dsn(t))
			if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: "olga", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			session := func() core.Auth {
				t.Helper()
				r, err := ts.Service.Login(ctx, "olga", "correct horse battery", core.Meta{})
				if err != nil || !r.Authenticated {
					t.Fatalf("login: %+v, %v", r, err)
				}
				a, err := ts.Service.Authenticate(ctx, r.Token)
				if err != nil {
					t.Fatal(err)
				}
				return a
			}
			owner := session()
			e, err := ts.Service.EnrolFactor(ctx, owner, core.NewFactor{Type: twofold.FactorTOTP, Label: "phone"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Service.PendingEnrolment(ctx, owner, e.Factor.ID); err != nil {
				t.Fatalf("PendingEnrolment, the session that started the setup: %v", err)
			}
			remigrate(t, ts.Store, 38, `ALTER TABLE factors DROP COLUMN pending_session_id`)
			other := session()
			for who, a := range map[string]core.Auth{"owner": owner, "another session": other} {
				_, err := ts.Service.PendingEnrolment(ctx, a, e.Factor.ID)
				if twofold.ErrorCode(err) != twofold.CodeNotFound || !errors.Is(err, core.ErrOtherSession) {
					t.Errorf("PendingEnrolment, %s, setup session not known: got %v, want not-found (another session)", who, err)
				}
			}
			c, err := ts.Service.ConfirmFactor(ctx, owner, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), core.Meta{})
			if err != nil || c.Factor.Status != twofold.FactorActive || len(c.RecoveryCodes) == 0 {
				t.Fatalf("ConfirmFactor with a code, setup session not known: status %q, %d recovery codes, %v", c.Factor.Status, len(c.RecoveryCodes), err)
			}
		})
	}
}

// TestMigrationPasswordResetsKept: migration 0041 keeps the password-reset
// links stored under the one-link-per-account schema before it, and lets
// an account hold several.
func TestMigrationPasswordResetsKept(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The table as migration 0027 made it.
	undo := map[string][]string{
		"sqlite": {
			`CREATE TABLE password_resets_old (
				account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
				id         TEXT NOT NULL UNIQUE,
				token_hash BLOB NOT NULL,
				created_at BIGINT NOT NULL,
				expires_at BIGINT NOT NULL)`,
			`DROP TABLE password_resets`,
			`ALTER TABLE password_resets_old RENAME TO password_resets`,
		},
		"postgres": {
			`DROP INDEX password_resets_account`,
			`ALTER TABLE password_resets DROP CONSTRAINT password_resets_pkey`,
			`ALTER TABLE password_resets ADD PRIMARY KEY (account_id)`,
			`ALTER TABLE password_resets ADD CONSTRAINT password_resets_id_key UNIQUE (id)`,
		},
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			undoMigration(t, s, 41, undo[name]...)
			old := twofold.PasswordReset{ID: "r1", AccountID: "acct-alice", TokenHash: []byte("hash-1"), CreatedAt: t0, ExpiresAt: t0.Add(30 * time.Minute)}
			if err := s.PutPasswordReset(ctx, old, 3); err != nil {
				t.Fatal(err)
			}
			migrateAgain(t, s)
			got, err := s.PasswordReset(ctx, "r1", t0)
			if err != nil || got.AccountID != old.AccountID || string(got.TokenHash) != "hash-1" || !got.ExpiresAt.Equal(old.ExpiresAt) {
				t.Fatalf("the link from before: got %+v, %v; want it kept", got, err)
			}
			second := old
			second.ID, second.TokenHash, second.CreatedAt = "r2", []byte("hash-2"), t0.Add(time.Minute)
			if err := s.PutPasswordReset(ctx, second, 3); err != nil {
				t.Fatal(err)
			}
			for _, id := range []string{"r1", "r2"} {
				if _, err := s.PasswordReset(ctx, id, t0.Add(time.Minute)); err != nil {
					t.Errorf("link %s after a second was made: %v", id, err)
				}
			}
		})
	}
}

// TestMigrationSentCodesPerScope: migration 0043 keeps the codes stored
// under the one-code-per-factor schema before it, and lets a factor hold a
// code per scope.
func TestMigrationSentCodesPerScope(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	// The table as migration 0017 made it, with a code sent under it.
	old := fmt.Sprintf(`INSERT INTO sent_codes (factor_id, account_id, method, scope, code_hash, checks_left, created_at, expires_at)
		VALUES ('sms-1', 'acct-alice', 'sms', 'login:l1', %%s, 5, %d, %d)`, t0.UnixMicro(), t0.Add(10*time.Minute).UnixMicro())
	undo := map[string][]string{
		"sqlite": {
			`CREATE TABLE sent_codes_old (
				factor_id   TEXT PRIMARY KEY REFERENCES factors(id) ON DELETE CASCADE,
				account_id  TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
				method      TEXT NOT NULL,
				scope       TEXT NOT NULL,
				code_hash   BLOB NOT NULL,
				checks_left INTEGER NOT NULL,
				created_at  BIGINT NOT NULL,
				expires_at  BIGINT NOT NULL)`,
			`DROP TABLE sent_codes`,
			`ALTER TABLE sent_codes_old RENAME TO sent_codes`,
			fmt.Sprintf(old, `X'6265666f7265'`), // "before"
		},
		"postgres": {
			`ALTER TABLE sent_codes DROP CONSTRAINT sent_codes_pkey`,
			`ALTER TABLE sent_codes ADD PRIMARY KEY (factor_id)`,
			fmt.Sprintf(old, `'\x6265666f7265'::bytea`),
		},
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			activeSMS(t, s, t0)
			// The migrations after 0043 that change sent_codes go too.
			undoMigration(t, s, 56, `ALTER TABLE sent_codes DROP COLUMN requester_hash`,
				`ALTER TABLE webauthn_ceremonies DROP COLUMN options`)
			remigrate(t, s, 43, undo[name]...)
			elevation := twofold.SentCode{FactorID: "sms-1", AccountID: "acct-alice", Method: twofold.MethodSMS, Scope: "elevate:s1",
				Hash: []byte("elevation"), ChecksLeft: 5, CreatedAt: t0, ExpiresAt: t0.Add(10 * time.Minute)}
			if err := s.PutSentCode(ctx, elevation); err != nil {
				t.Fatal(err)
			}
			for scope, hash := range map[string]string{"login:l1": "before", "elevate:s1": "elevation"} {
				ok, err := s.UseSentCode(ctx, "sms-1", scope, []byte(hash), t0)
				if err != nil || !ok {
					t.Errorf("the code for %s: got %v, %v; want it used", scope, ok, err)
				}
			}
		})
	}
}

// TestMigrationEventOperator: migration 0045 marks the events of operators'
// actions recorded before it by their type and by how their detail names
// the operator, and gives their holder a detail that names none.
func TestMigrationEventOperator(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	type want struct {
		byOperator   bool
		holderDetail string
	}
	events := []struct {
		typ, detail string
		want        want
	}{
		{"account.unlocked", "by operator carol", want{true, "by an operator"}},
		{"account.suspended", `by operator carol with API key "panel" (k9)`, want{true, "by an operator"}},
		{"api_key.revoked", `key k1 "ci" by operator carol`, want{true, "by an operator"}},
		{"api_key.revoked", `key k1 "ci"`, want{}},
		{"api_key.revoked", `key k1 "x by operator y"`, want{}}, // the holder's own key, so named
		{"api_key.revoked", `key k1 "x" BY OPERATOR y`, want{}}, // the holder's own key, named to look like one; both dialects alike
		{"account.unlocked", "By operator carol", want{}},
		{"admin.key_refused", `deleting the account: API keys never delete accounts (by operator carol with API key "panel" (k9); further refusals ...)`, want{true, "by an operator"}},
		{"two_factor.reset_requested", "by operator carol, due 2026-03-04T12:00:00Z", want{true, "by an operator"}},
		{"two_factor.reset_requested", "by the command line, due 2026-03-04T12:00:00Z", want{}},
		{"two_factor.reset_cancelled", "the account was suspended, so its holder could not have cancelled it", want{true, ""}},
		{"two_factor.reset_cancelled", "by the account holder; it was requested by operator carol", want{false, "by the account holder, requested by an operator"}},
		{"two_factor.reset_cancelled", "withdrawn: a second factor was used after operator carol requested it", want{false, "withdrawn: a second factor was used after an operator requested it"}},
		{"two_factor.reset", "requested by operator carol at 2026-03-01T12:00:00Z", want{true, "requested by an operator"}},
		{"two_factor.reset_cancelled", "by the command line; it was requested by operator carol", want{false, "by the command line, requested by an operator"}},
		{"login.succeeded", "second factor: totp by operator carol", want{}},
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			for _, e := range events {
				if err := s.AddEvent(ctx, twofold.AuditEvent{AccountID: "acct-alice", Type: e.typ, At: t0, Source: "192.0.2.1", Detail: e.detail}); err != nil {
					t.Fatal(err)
				}
			}
			remigrate(t, s, 45, `ALTER TABLE audit_events DROP COLUMN by_operator`, `ALTER TABLE audit_events DROP COLUMN holder_detail`)
			got, err := s.QueryEvents(ctx, twofold.EventQuery{AccountID: "acct-alice", Forward: true, Limit: 100})
			if err != nil || len(got) != len(events) {
				t.Fatalf("events: got %d, %v; want %d", len(got), err, len(events))
			}
			for i, e := range events {
				if g := (want{got[i].ByOperator, got[i].HolderDetail}); g != e.want || got[i].Detail != e.detail {
					t.Errorf("%s %q: got %+v (detail %q), want %+v", e.typ, e.detail, g, got[i].Detail, e.want)
				}
			}
		})
	}
}

// TestMigrationUsernameFold: migration 0047 makes usernames unique ignoring
// case in an index, yet migrates a database that holds names differing only
// in case from before migration 0012: those keep signing in by their exact
// names, and no new account takes a name that differs from theirs, or from
// any other, only in case.
func TestMigrationUsernameFold(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			if err := s.CreateAccount(ctx, twofold.Account{ID: "acct-carol", Username: "carol", PasswordHash: "x"}); err != nil {
				t.Fatal(err)
			}
			undoMigration(t, s, 47, `DROP INDEX accounts_username_fold`, `ALTER TABLE accounts DROP COLUMN case_twin`,
				`INSERT INTO accounts (id, username, password_hash, created_at) VALUES ('acct-bob1', 'Bob', 'x', 0), ('acct-bob2', 'bob', 'x', 0)`)
			if err := s.MigrateForTest(ctx); err != nil {
				t.Fatalf("migrate again over names differing only in case: %v", err)
			}
			if as, err := s.AccountsByUsernameFold(ctx, "BOB"); err != nil || len(as) != 2 {
				t.Errorf("accounts named bob in any case: got %d, %v; want the 2 from before", len(as), err)
			}
			for _, name := range []string{"BOB", "bOb", "Carol", "carol"} {
				err := s.CreateAccount(ctx, twofold.Account{ID: "acct-" + name, Username: name, PasswordHash: "x"})
				if twofold.ErrorCode(err) != twofold.CodeConflict {
					t.Errorf("create %s: got %v, want a conflict", name, err)
				}
			}
			if err := s.CreateAccount(ctx, twofold.Account{ID: "acct-dave", Username: "dave", PasswordHash: "x"}); err != nil {
				t.Errorf("create dave: %v", err)
			}
		})
	}
}

// TestMigrationEmailChangedByOperator: migration 0061 gives each account
// the time an operator last changed its address, from the audit events of
// such changes and the addresses kept as replaced, whichever is later; a
// holder's own change counts for nothing, and an account no operator
// changed has none.
func TestMigrationEmailChangedByOperator(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := open(t, dsn(t))
			ids := map[string]string{}
			for _, name := range []string{"alice", "bob", "carol", "dave"} {
				a := twofold.Account{ID: "acct-" + name, Username: name, Email: name + "@example.com", PasswordHash: "x", CreatedAt: t0}
				if err := s.CreateAccount(ctx, a); err != nil {
					t.Fatal(err)
				}
				ids[name] = a.ID
			}
			events := []twofold.AuditEvent{
				// alice: two operators' changes, the latest an event.
				{AccountID: ids["alice"], Type: "account.email_changed", At: t0.Add(time.Hour), ByOperator: true, Detail: "from a to b by operator carol"},
				{AccountID: ids["alice"], Type: "account.email_changed", At: t0.Add(3 * time.Hour), ByOperator: true, Detail: "from b to c by operator carol"},
				// alice's own change later counts for nothing.
				{AccountID: ids["alice"], Type: "account.email_changed", At: t0.Add(5 * time.Hour), Detail: "from c to d"},
				// bob: his own change only.
				{AccountID: ids["bob"], Type: "account.email_changed", At: t0.Add(time.Hour), Detail: "from a to b"},
				// carol: an operator's change, and a later kept address.
				{AccountID: ids["carol"], Type: "account.email_changed", At: t0.Add(time.Hour), ByOperator: true, Detail: "from a to b by operator x"},
			}
			for _, e := range events {
				if err := s.AddEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.KeepReplacedEmail(ctx, ids["alice"], "a@example.com", t0.Add(2*time.Hour)); err != nil {
				t.Fatal(err)
			}
			if err := s.KeepReplacedEmail(ctx, ids["carol"], "a@example.com", t0.Add(4*time.Hour)); err != nil {
				t.Fatal(err)
			}
			remigrate(t, s, 61, `ALTER TABLE accounts DROP COLUMN email_changed_by_operator_at`)
			for name, want := range map[string]time.Time{
				"alice": t0.Add(3 * time.Hour), "bob": {}, "carol": t0.Add(4 * time.Hour), "dave": {},
			} {
				if got, err := s.EmailChangedByOperatorAt(ctx, ids[name]); err != nil || !got.Equal(want) {
					t.Errorf("%s: got %v, %v; want %v", name, got, err, want)
				}
			}
		})
	}
}

// TestOpenRefusesNewerSchema: a database holding a migration this binary
// does not embed (one a newer release applied) is refused by Open, and on
// PostgreSQL by OpenRestored, with a *store.SchemaError naming both ends,
// and left as it was; once the migration is gone it opens again.
func TestOpenRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	for name, newDSN := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := newDSN(t)
			s, err := store.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			s.Close()
			before := testenv.Migrations(t, dsn)
			newest := before[len(before)-1]
			for _, future := range []int{newest + 1, 9999} {
				testenv.AddMigration(t, dsn, future)
				want := append(append([]int(nil), before...), newest+1)
				if future != newest+1 {
					want = append(want, future)
				}
				opens := map[string]func() (*store.Store, error){"Open": func() (*store.Store, error) { return store.Open(ctx, dsn) }}
				if store.IsPostgres(dsn) {
					opens["OpenRestored"] = func() (*store.Store, error) { return store.OpenRestored(ctx, dsn, nil) }
				}
				for how, open := range opens {
					s, err := open()
					if err == nil {
						s.Close()
					}
					var se *store.SchemaError
					if !errors.As(err, &se) || se.Database != future || se.Binary != newest || !slices.Equal(se.Unknown, want[len(before):]) {
						t.Errorf("%s of a database at migration %d: got %v (%+v), want a SchemaError at %d, binary at %d", how, future, err, se, future, newest)
					}
					if got := testenv.Migrations(t, dsn); !slices.Equal(got, want) {
						t.Errorf("%s: migrations after the refusal: got %v, want %v", how, got, want)
					}
				}
			}
			// A migration this binary lacks below its newest (another
			// build's) is refused as well.
			gap := 0
			for v := 1; v < newest && gap == 0; v++ {
				if !slices.Contains(before, v) {
					gap = v
				}
			}
			if gap == 0 {
				t.Fatal("no gap in the migrations' numbers to test with")
			}
			testenv.RemoveMigration(t, dsn, newest+1)
			testenv.RemoveMigration(t, dsn, 9999)
			testenv.AddMigration(t, dsn, gap)
			var se *store.SchemaError
			if s, err := store.Open(ctx, dsn); !errors.As(err, &se) || se.Database != newest || !slices.Equal(se.Unknown, []int{gap}) {
				if err == nil {
					s.Close()
				}
				t.Errorf("Open of a database holding migration %d: got %v, want a SchemaError", gap, err)
			}
			testenv.RemoveMigration(t, dsn, gap)
			open(t, dsn)
		})
	}
}

// TestMigrationRecordBytes: migration 0076 gives each record stored
// before it the bytes of its data, so that a zone's size counts them.
func TestMigrationRecordBytes(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			exampleZone(t, s, t0)
			// Records stored before the migration, without their sizes.
			undoMigration(t, s, 81, undoRecordBytesGenerated...)
			remigrate(t, s, 76, `DROP INDEX dns_records_sizes`, `ALTER TABLE dns_records DROP COLUMN data_bytes`,
				`INSERT INTO dns_records (zone, host, type, ttl, data) VALUES ('example.com', 'www', 'A', 300, '192.0.2.1'),
					('example.com', 'www', 'A', 300, '192.0.2.22'), ('example.com', '@', 'TXT', 300, '"v=spf1 -all"')`)
			got, err := s.RecordSetSizes(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			want := []twofold.RecordSetSize{{Host: "@", Type: "TXT", Count: 1, Bytes: 13}, {Host: "www", Type: "A", Count: 2, Bytes: 19}}
			if !slices.Equal(want, got) {
				t.Errorf("RecordSetSizes after the migration: got %v, want %v", got, want)
			}
		})
	}
}

// undoRecordBytesGenerated takes an empty dns_records back from migration
// 0081 to 0076's plain column of sizes and its index.
var undoRecordBytesGenerated = []string{`DROP INDEX dns_records_sizes`, `ALTER TABLE dns_records DROP COLUMN data_bytes`,
	`ALTER TABLE dns_records ADD COLUMN data_bytes BIGINT NOT NULL DEFAULT 0`,
	`CREATE INDEX dns_records_sizes ON dns_records (zone, host, type, data_bytes)`}

// TestRecordBytesWhoeverWrites: a record's size is computed by the
// database from its data (migration 0081), the bytes Go's len counts, so
// that a record a release from before 0076 writes, naming no size, counts
// too, both those it wrote between 0076 and 0081 (which 0081 counts again)
// and those after; RecordSetSizes reads an index alone.
func TestRecordBytesWhoeverWrites(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			dsn := dsn(t)
			s := migrationStore(t, dsn, t0, "alice")
			exampleZone(t, s, t0)
			// As release 28968ac writes a record (store.AddRecords then).
			older := `INSERT INTO dns_records (zone, host, type, ttl, data) VALUES ($1, $2, $3, $4, $5)`
			undoMigration(t, s, 81, undoRecordBytesGenerated...)
			testenv.Exec(t, dsn, older, []any{"example.com", "www", "A", 300, "192.0.2.1"}, []any{"example.com", "@", "TXT", 300, `"héllo wörld"`})
			migrateAgain(t, s)
			testenv.Exec(t, dsn, older, []any{"example.com", "www", "A", 300, "192.0.2.22"}, []any{"example.com", "@", "TXT", 300, `"日本"`})
			if err := s.AddRecords(ctx, "example.com", []twofold.Record{{Host: "@", Type: "TXT", TTL: 300, Data: `"v=spf1 -all"`}}); err != nil {
				t.Fatal(err)
			}
			got, err := s.RecordSetSizes(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			txt := int64(len(`"héllo wörld"`) + len(`"日本"`) + len(`"v=spf1 -all"`))
			want := []twofold.RecordSetSize{{Host: "@", Type: "TXT", Count: 3, Bytes: txt}, {Host: "www", Type: "A", Count: 2, Bytes: 19}}
			if !slices.Equal(want, got) {
				t.Errorf("RecordSetSizes: got %v, want %v", got, want)
			}
			plan, err := s.RecordSetSizesPlanForTest(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			want1 := map[string]string{"sqlite": "USING COVERING INDEX dns_records_sizes", "postgres": "Index Only Scan using dns_records_sizes"}[name]
			if !strings.Contains(plan, want1) {
				t.Errorf("plan of RecordSetSizes: got %q, want %q in it", plan, want1)
			}
		})
	}
}

// migrationStore opens a store on dsn for a migration test, with the data
// key "key-1" that its factors' secrets name and, for each of names, the
// account "acct-NAME" of username NAME, all made at t0.
func migrationStore(t *testing.T, dsn string, t0 time.Time, names ...string) *store.Store {
	t.Helper()
	s := open(t, dsn)
	if err := s.AddDataKey(t.Context(), keyring.WrappedKey{ID: "key-1", MasterID: "m", Wrapped: []byte("wrapped"), Created: t0}); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if err := s.CreateAccount(t.Context(), twofold.Account{ID: "acct-" + n, Username: n, PasswordHash: "x", CreatedAt: t0}); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// exampleZone stores on s (from migrationStore) alice's zone example.com,
// made at t0.
func exampleZone(t *testing.T, s *store.Store, t0 time.Time) {
	t.Helper()
	if err := s.CreateZone(t.Context(), twofold.Zone{Name: "example.com", AccountID: "acct-alice", Serial: 1, CreatedAt: t0}); err != nil {
		t.Fatal(err)
	}
}

// remigrate takes s back from migration version by the statements undo,
// forgetting it was applied, and migrates again, as an upgrade from a
// release before that migration does.
func remigrate(t *testing.T, s *store.Store, version int, undo ...string) {
	t.Helper()
	undoMigration(t, s, version, undo...)
	migrateAgain(t, s)
}

// undoMigration runs the statements undo on s and forgets that migration
// version was applied, so that migrateAgain applies it again.
func undoMigration(t *testing.T, s *store.Store, version int, undo ...string) {
	t.Helper()
	if err := s.UndoMigrationForTest(t.Context(), version, undo...); err != nil {
		t.Fatalf("undo migration %04d: %v", version, err)
	}
}

// migrateAgain applies the migrations s has not applied.
func migrateAgain(t *testing.T, s *store.Store) {
	t.Helper()
	if err := s.MigrateForTest(t.Context()); err != nil {
		t.Fatalf("migrate again: %v", err)
	}
}

// activeSMS stores on s (from migrationStore) alice's active SMS factor
// "sms-1", made at t0.
func activeSMS(t *testing.T, s *store.Store, t0 time.Time) {
	t.Helper()
	f := twofold.Factor{ID: "sms-1", AccountID: "acct-alice", Type: twofold.FactorSMS, Label: "phone", Status: twofold.FactorActive,
		Digits: 6, LastStep: -1, SecretKeyID: "key-1", SealedSecret: []byte("sealed"), CreatedAt: t0}
	if err := s.CreateFactor(t.Context(), f); err != nil {
		t.Fatal(err)
	}
}

// TestMigrationWebhookDisabledReason: migration 0083 gives each disabled
// webhook the reason it was disabled for, taken from last_error where the
// disabling had written it (which it then clears), failing otherwise, and
// leaves a webhook that is on, and every other last error, as it was.
func TestMigrationWebhookDisabledReason(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	hooks := []struct {
		id, lastError string
		disabled      bool
		wantReason    string
		wantError     string
	}{
		{"wh-on", "status-500", false, "", "status-500"},
		{"wh-on-fine", "", false, "", ""},
		{"wh-failing", "timeout", true, twofold.WebhookDisabledFailing, "timeout"},
		{"wh-failing-unread", "secret-unreadable", true, twofold.WebhookDisabledFailing, "secret-unreadable"},
		{"wh-owner", "owner-not-operator", true, twofold.WebhookDisabledNotOperator, ""},
		{"wh-revoked", "key-revoked", true, twofold.WebhookDisabledKeyRevoked, ""},
		{"wh-expired", "key-expired", true, twofold.WebhookDisabledKeyExpired, ""},
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			s := migrationStore(t, dsn(t), t0, "alice")
			undo := []string{`ALTER TABLE webhooks DROP COLUMN disabled_reason`}
			for _, h := range hooks {
				w := twofold.Webhook{ID: h.id, CreatedAt: t0, CreatedBy: "acct-alice", SecretKeyID: "key-1", SealedSecret: []byte("sealed"),
					URLKeyID: "key-1", SealedURL: []byte("sealed url")}
				if err := s.CreateWebhook(ctx, w); err != nil {
					t.Fatal(err)
				}
				// As a release before 0083 left it.
				disabledAt := 0
				if h.disabled {
					disabledAt = 5
				}
				undo = append(undo, fmt.Sprintf(`UPDATE webhooks SET last_error = '%s', disabled_at = %d, failures = 3 WHERE id = '%s'`, h.lastError, disabledAt, h.id))
			}
			remigrate(t, s, 83, undo...)
			for _, h := range hooks {
				got, err := s.Webhook(ctx, h.id)
				if err != nil {
					t.Fatal(err)
				}
				if got.DisabledReason != h.wantReason || got.Status.LastError != h.wantError || got.DisabledAt.IsZero() == h.disabled || got.Status.Failures != 3 {
					t.Errorf("%s: disabled at %v for %q, last error %q, %d failures; want disabled %v for %q, last error %q, 3 failures",
						h.id, got.DisabledAt, got.DisabledReason, got.Status.LastError, got.Status.Failures, h.disabled, h.wantReason, h.wantError)
				}
			}
		})
	}
}
