package testenv_test

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// TestSnapshotSeesWrites: on either store, a Snapshot shows nothing when
// nothing was written, leaves out what counts attempts, and shows a new
// account's rows and a queued mail.
func TestSnapshotSeesWrites(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := testenv.NewServer(t, dsn(t))
			snaps := testenv.OpenSnapshots(t, s.Config.DB)
			before := snaps.Take(t)
			if d := before.Diff(snaps.Take(t)); d != "" {
				t.Fatalf("nothing written, yet:\n%s", d)
			}
			if _, err := s.Store.TakeToken(ctx, "ip:192.0.2.1", 10, 1, s.Clock.Now()); err != nil {
				t.Fatal(err)
			}
			if d := before.Diff(snaps.Take(t)); d != "" {
				t.Fatalf("a rate bucket's token shows:\n%s", d)
			}

			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			after := snaps.Take(t)
			if d := before.Diff(after); !strings.Contains(d, "+ accounts:") || !strings.Contains(d, "username=alice") {
				t.Fatalf("a new account does not show:\n%s", d)
			}
			if _, err := s.Store.EnqueueMail(ctx, store.Mail{To: "alice@example.com", Subject: "hello", Body: "hello", CreatedAt: s.Clock.Now()}); err != nil {
				t.Fatal(err)
			}
			if d := after.Diff(snaps.Take(t)); !strings.Contains(d, "mail queued") {
				t.Fatalf("a queued mail does not show:\n%s", d)
			}
		})
	}
}

// TestWithoutChecksTaken: a texted code that lost exactly one check drops
// out of a diff, one such code a call; one that lost two, or changed
// otherwise, and any other row stay.
func TestWithoutChecksTaken(t *testing.T) {
	for _, c := range []struct{ diff, want string }{
		{"", ""},
		{"- sent_codes: factor_id=a checks_left=5 scope=x\n+ sent_codes: factor_id=a checks_left=4 scope=x", ""},
		{"- sent_codes: factor_id=a checks_left=5 scope=x\n+ sent_codes: factor_id=a checks_left=3 scope=x",
			"- sent_codes: factor_id=a checks_left=5 scope=x\n+ sent_codes: factor_id=a checks_left=3 scope=x"},
		{"- sent_codes: factor_id=a checks_left=5 scope=x\n+ sent_codes: factor_id=a checks_left=4 scope=y",
			"- sent_codes: factor_id=a checks_left=5 scope=x\n+ sent_codes: factor_id=a checks_left=4 scope=y"},
		{"- sent_codes: factor_id=a checks_left=2 scope=x\n+ sessions: id=s\n+ sent_codes: factor_id=a checks_left=1 scope=x",
			"+ sessions: id=s"},
		{"- sent_codes: factor_id=a checks_left=1 scope=x", "- sent_codes: factor_id=a checks_left=1 scope=x"},
		{"- sent_codes: factor_id=a checks_left=5 scope=x\n- sent_codes: factor_id=a checks_left=5 scope=y\n" +
			"+ sent_codes: factor_id=a checks_left=4 scope=x\n+ sent_codes: factor_id=a checks_left=4 scope=y",
			"- sent_codes: factor_id=a checks_left=5 scope=y\n+ sent_codes: factor_id=a checks_left=4 scope=y"},
		{"+ mail queued (outbox ids 3 to 3)", "+ mail queued (outbox ids 3 to 3)"},
	} {
		if got := testenv.WithoutChecksTaken(c.diff); got != c.want {
			t.Errorf("WithoutChecksTaken(%q) = %q, want %q", c.diff, got, c.want)
		}
	}
	// Another table's rows only by its name: an email change's check is
	// not a sent code's, nor the other way round.
	change := "- email_changes: account_id=a checks_left=5 email=x\n+ email_changes: account_id=a checks_left=4 email=x"
	if got := testenv.WithoutChecksTaken(change); got != change {
		t.Errorf("WithoutChecksTaken took an email change's check: %q", got)
	}
	if got := testenv.WithoutCheckTakenFrom(change, "email_changes"); got != "" {
		t.Errorf("WithoutCheckTakenFrom(%q, email_changes) = %q, want nothing", change, got)
	}
}

// TestWithoutRowGone: only the removal of the row of the table named whose
// column holds the whole value is taken out of a diff; a row of another
// table, a row added, and a value that only starts the same stay.
func TestWithoutRowGone(t *testing.T) {
	d := strings.Join([]string{
		"- passkey_logins: id=a challenge=abc expires_at=9",
		"- passkey_logins: id=b challenge=abcd expires_at=9",
		"+ passkey_logins: id=c challenge=abc expires_at=9",
		"- webauthn_ceremonies: scope=s challenge=abc",
	}, "\n")
	got, gone := testenv.WithoutRowGone(d, "passkey_logins", "challenge", "abc")
	want := strings.Join([]string{
		"- passkey_logins: id=b challenge=abcd expires_at=9",
		"+ passkey_logins: id=c challenge=abc expires_at=9",
		"- webauthn_ceremonies: scope=s challenge=abc",
	}, "\n")
	if !gone || got != want {
		t.Fatalf("got %v\n%s\nwant\n%s", gone, got, want)
	}
	if got, gone := testenv.WithoutRowGone(want, "passkey_logins", "challenge", "abc"); gone || got != want {
		t.Fatalf("a second time: got %v\n%s", gone, got)
	}
	if got, _ := testenv.WithoutRowGone("- webauthn_ceremonies: scope=s challenge=abc", "webauthn_ceremonies", "challenge", "abc"); got != "" {
		t.Fatalf("the last row: got %q", got)
	}
}

// TestWithoutLastUse: a key's row that changed in its last use alone goes
// out of a diff; one that changed otherwise stays, and so does another
// table's.
func TestWithoutLastUse(t *testing.T) {
	d := strings.Join([]string{
		"- api_keys: id=a name=x last_used_at=1 revoked_at=<nil>",
		"- api_keys: id=b name=y last_used_at=1 revoked_at=<nil>",
		"- sessions: id=s last_used_at=1",
		"+ api_keys: id=a name=x last_used_at=2 revoked_at=<nil>",
		"+ api_keys: id=b name=y last_used_at=2 revoked_at=3",
		"+ sessions: id=s last_used_at=2",
	}, "\n")
	want := strings.Join([]string{
		"- api_keys: id=b name=y last_used_at=1 revoked_at=<nil>",
		"- sessions: id=s last_used_at=1",
		"+ api_keys: id=b name=y last_used_at=2 revoked_at=3",
		"+ sessions: id=s last_used_at=2",
	}, "\n")
	if got := testenv.WithoutLastUse(d); got != want {
		t.Fatalf("got\n%s\nwant\n%s", got, want)
	}
	if got := testenv.WithoutLastUse(""); got != "" {
		t.Fatalf("nothing: got %q", got)
	}
}

// TestExecKeepsForeignKeys: on either store, a row testenv.Exec deletes
// takes its dependent rows with it as the schema says (a team its
// members), and a row that names no existing one is refused, as the
// store's own connections have it; on SQLite that is a connection setting.
func TestExecKeepsForeignKeys(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			s := testenv.NewServer(t, dsn(t))
			a, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery"}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Store.CreateTeam(ctx, twofold.Team{ID: "team1", Name: "ops", CreatedAt: s.Clock.Now()}, a.ID, 10); err != nil {
				t.Fatal(err)
			}
			snaps := testenv.OpenSnapshots(t, s.Config.DB)
			before := snaps.Take(t)
			testenv.Exec(t, s.Config.DB, `DELETE FROM teams WHERE id = 'team1'`)
			if d := before.Diff(snaps.Take(t)); !strings.Contains(d, "- teams:") || !strings.Contains(d, "- team_members:") {
				t.Fatalf("the team's owner is still its member:\n%s", d)
			}
			orphan := &fakeTB{TB: t}
			done := make(chan struct{})
			go func() { // fakeTB ends the goroutine of a failed Exec
				defer close(done)
				testenv.Exec(orphan, s.Config.DB, `INSERT INTO team_members (team_id, account_id, role, created_at) VALUES ('none', '`+a.ID+`', 'admin', 0)`)
			}()
			<-done
			if !orphan.failed {
				t.Fatal("a member of no team was written")
			}
		})
	}
}

// fakeTB records a helper's failure instead of ending the test.
type fakeTB struct {
	testing.TB
	failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Fatal(...any)          { f.failed = true; runtime.Goexit() }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true; runtime.Goexit() }
