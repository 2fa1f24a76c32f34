package store_test

import (
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// addTestEvents writes n events of type typ, each in its own transaction,
// and returns their ids.
func addTestEvents(t *testing.T, s *store.Store, typ string, n int) []int64 {
	t.Helper()
	var ids []int64
	for i := range n {
		if err := s.AddEvent(t.Context(), twofold.AuditEvent{Type: typ, At: keysT0, Detail: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		evs, err := s.Events(t.Context(), "", 0, 1)
		if err != nil || len(evs) != 1 {
			t.Fatalf("Events: %v, %v", evs, err)
		}
		ids = append(ids, evs[0].ID)
	}
	return ids
}

// followWebhook delivers webhook id as the dispatcher does (claim, read
// the webhook, its feed, advance) until every event of want has come or
// a minute has passed, and returns the ids delivered in order.
func followWebhook(t *testing.T, s *store.Store, id string, want []int64) []int64 {
	t.Helper()
	ctx := t.Context()
	var got []int64
	deadline := time.Now().Add(time.Minute)
	for !containsAll(got, want) {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %v; %v never came", got, missing(got, want))
		}
		if ok, err := s.ClaimWebhook(ctx, id, "reader", keysT0, keysT0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("ClaimWebhook: %v, %v", ok, err)
		}
		w, err := s.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		evs, next, err := s.WebhookFeed(ctx, w.Cursor, nil, 3)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 && next == w.Cursor {
			continue
		}
		if ok, err := s.AdvanceWebhook(ctx, id, "reader", w.Cursor, next, keysT0, len(evs) > 0); err != nil {
			t.Fatal(err)
		} else if !ok {
			continue // a rebase moved the cursor meanwhile
		}
		for _, e := range evs {
			got = append(got, e.ID)
		}
	}
	return got
}

func containsAll(got, want []int64) bool { return len(missing(got, want)) == 0 }

func missing(got, want []int64) []int64 {
	var out []int64
	for _, id := range want {
		if !slices.Contains(got, id) {
			out = append(out, id)
		}
	}
	return out
}

// TestWebhookForeignCursor: a PostgreSQL database restored from pg_dump
// into another cluster, whose transaction counter is far behind the old
// one's, keeps its webhooks' cursors and events' txids from the old
// cluster. Simulated here by moving them a billion transactions ahead:
// the events not yet delivered when the dump was made, and those written
// after the restore, are all delivered (none skipped, none held back until
// the counter passes the old one), and so are the ones after.
func TestWebhookForeignCursor(t *testing.T) {
	dsn := testenv.PostgresDSN(t)
	s := open(t, dsn)
	ctx := t.Context()
	ensureKeys(t, s, "key-1")
	if err := s.CreateWebhook(ctx, twofold.Webhook{ID: "wh-1", URL: "https://panel.example.com/events", CreatedAt: keysT0, CreatedBy: "op",
		SecretKeyID: "key-1", SealedSecret: []byte("sealed"), URLKeyID: "key-1", SealedURL: []byte("sealed url")}); err != nil {
		t.Fatal(err)
	}
	delivered := addTestEvents(t, s, "test.delivered", 4)
	followWebhook(t, s, "wh-1", delivered)
	undelivered := addTestEvents(t, s, "test.in_the_dump", 3)

	// The dump restored into a cluster a billion transactions behind.
	db, err := sql.Open("pgx", dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const ahead = 1_000_000_000
	for _, q := range []string{
		fmt.Sprintf(`UPDATE audit_events SET txid = ((txid::text::bigint + %d)::text)::xid8`, ahead),
		fmt.Sprintf(`UPDATE webhooks SET cursor_txid = cursor_txid + %d, pending_xmax = CASE WHEN pending_xmax = 0 THEN 0 ELSE pending_xmax + %[1]d END`, ahead),
	} {
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	w, err := s.Webhook(ctx, "wh-1")
	if err != nil {
		t.Fatal(err)
	}
	if w.Cursor.TxID < ahead {
		t.Fatalf("cursor %+v: not moved ahead", w.Cursor)
	}

	after := addTestEvents(t, s, "test.after_restore", 3)
	got := followWebhook(t, s, "wh-1", append(slices.Clone(undelivered), after...))
	lastDumped, firstAfter := 0, len(got)
	for i, id := range got {
		if slices.Contains(undelivered, id) {
			lastDumped = i
		}
		if slices.Contains(after, id) {
			firstAfter = min(firstAfter, i)
		}
	}
	if lastDumped > firstAfter {
		t.Errorf("delivered %v: an event written after the restore came before one of the dump's %v", got, undelivered)
	}
	if w, err = s.Webhook(ctx, "wh-1"); err != nil || w.Cursor.TxID >= ahead || w.Cursor.PendingXmax >= ahead {
		t.Errorf("cursor after the restore: %+v, %v; want one of this cluster", w.Cursor, err)
	}
	// And on: the next events come too.
	later := addTestEvents(t, s, "test.later", 2)
	if got := followWebhook(t, s, "wh-1", later); !slices.Equal(got, later) {
		t.Errorf("later events: got %v, want %v", got, later)
	}
}

// TestAfterRestoreCancelsResets: a two-factor reset waiting in a backup
// may have been cancelled after it; restored, it would fall due and wipe
// the holder's factors. The fix-ups cancel every one, on the record of
// each account, on both stores.
func TestAfterRestoreCancelsResets(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			s := open(t, dsn(t))
			ctx := t.Context()
			for _, user := range []string{"alice", "bob", "carol"} {
				if err := s.CreateAccount(ctx, twofold.Account{ID: "acct-" + user, Username: user, Email: user + "@example.com",
					PasswordHash: "$argon2id$v=19$" + user, CreatedAt: keysT0}); err != nil {
					t.Fatal(err)
				}
			}
			for _, id := range []string{"acct-alice", "acct-bob"} {
				if err := s.AddTwoFactorReset(ctx, twofold.TwoFactorReset{AccountID: id, RequestedBy: "operator dave",
					RequestedAt: keysT0, Due: keysT0.Add(72 * time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}
			r, err := s.AfterRestore(ctx, 0, twofold.AuditEvent{Type: "database.restored", At: keysT0.Add(time.Hour), Source: "cli"})
			if err != nil {
				t.Fatal(err)
			}
			if r.ResetsCancelled != 2 {
				t.Errorf("ResetsCancelled = %d, want 2", r.ResetsCancelled)
			}
			if due, err := s.DueTwoFactorResets(ctx, keysT0.Add(1000*time.Hour), 10); err != nil || len(due) != 0 {
				t.Errorf("resets due after the restore: %v, %v; want none", due, err)
			}
			for user, want := range map[string]int{"alice": 1, "bob": 1, "carol": 0} {
				evs, err := s.Events(ctx, "acct-"+user, 0, 10)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for _, e := range evs {
					if e.Type == "two_factor.reset_cancelled" {
						n++
						if !e.ByOperator || e.Source != "cli" || !strings.Contains(e.Detail, "restore") || !strings.Contains(e.Detail, "operator dave") {
							t.Errorf("%s's event: %+v", user, e)
						}
					}
				}
				if n != want {
					t.Errorf("%s: %d two_factor.reset_cancelled events, want %d", user, n, want)
				}
			}
			evs, err := s.Events(ctx, "", 0, 1)
			if err != nil || len(evs) != 1 || evs[0].Type != "database.restored" || evs[0].ID != r.EventID || !strings.Contains(evs[0].Detail, "2 two-factor resets waiting cancelled") {
				t.Errorf("the newest event: %+v, %v; want the restore's, id %d, saying so", evs, err, r.EventID)
			}
		})
	}
}

// TestAfterRestoreEndsWebhookLeases: a backup made while a delivery was
// in flight (pg_dump, or twofold backup, of a database servers run on)
// holds that instance's lease on the endpoint; restored, it would hold
// every server back until it ran out. The fix-ups end it, on both stores.
// (The restore drill, TestRestoreDrillPostgres, meets it end to end.)
func TestAfterRestoreEndsWebhookLeases(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			s := open(t, dsn(t))
			ctx := t.Context()
			ensureKeys(t, s, "key-1")
			if err := s.CreateWebhook(ctx, twofold.Webhook{ID: "wh-1", URL: "https://panel.example.com/events", CreatedAt: keysT0, CreatedBy: "op",
				SecretKeyID: "key-1", SealedSecret: []byte("sealed"), URLKeyID: "key-1", SealedURL: []byte("sealed url")}); err != nil {
				t.Fatal(err)
			}
			if ok, err := s.ClaimWebhook(ctx, "wh-1", "instance-at-the-backup", keysT0, keysT0.Add(time.Minute)); err != nil || !ok {
				t.Fatalf("ClaimWebhook: %v, %v", ok, err)
			}
			if _, err := s.AfterRestore(ctx, 0, twofold.AuditEvent{Type: "database.restored", At: keysT0, Source: "cli"}); err != nil {
				t.Fatal(err)
			}
			if due, err := s.DueWebhooks(ctx, "instance-after-the-restore", keysT0); err != nil || !slices.Equal(due, []string{"wh-1"}) {
				t.Errorf("webhooks due after the restore: %v, %v; want wh-1 at once", due, err)
			}
		})
	}
}

// TestRestoreSQLiteCrashAtRename: until the restored copy is in place,
// the database is whole at its path, however the restore stops (here, the
// rename that puts the copy in place fails, as a crash there would): the
// next server opens the old database, not a new empty one.
func TestRestoreSQLiteCrashAtRename(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "twofold.db")
	s, err := store.Open(t.Context(), "sqlite:"+path)
	if err != nil {
		t.Fatal(err)
	}
	backup := filepath.Join(dir, "backup.db")
	if _, _, err := store.Backup(t.Context(), "sqlite:"+path, backup); err != nil {
		t.Fatal(err)
	}
	ids := addTestEvents(t, s, "test.after_backup", 1)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	store.FailRenameInForTest(t, errors.New("crashed"))
	if _, err := store.RestoreSQLite(t.Context(), "sqlite:"+path, backup, twofold.AuditEvent{Type: "database.restored", At: keysT0, Source: "cli"}, keysT0, nil); err == nil {
		t.Fatal("restore with the rename failing: no error")
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("no database at its path after a restore stopped: %v", err)
	}
	s = open(t, "sqlite:"+path)
	if evs, err := s.Events(t.Context(), "", 0, 1); err != nil || len(evs) != 1 || evs[0].ID != ids[0] {
		t.Errorf("the database after a restore stopped: newest event %+v, %v; want the old one's, id %d", evs, err, ids[0])
	}
}

// TestAfterRestoreEndsOutboxLeases: a backup made while a worker held a
// mail (claimed for its 5-minute lease, sending) or while a mail waited
// to be retried holds it back; restored, the servers would not send it
// until the claim ran out. The fix-ups make every mail due at once, its
// attempts kept, on both stores; a mail with a code or a link, which the
// restore voids, is dropped, but not a team invitation's notice (sealed
// too), since the invitation outlives the restore.
func TestAfterRestoreEndsOutboxLeases(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			s := open(t, dsn(t))
			ctx := t.Context()
			for _, subject := range []string{"in flight", "waiting for its retry", "not yet claimed"} {
				if _, err := s.EnqueueMail(ctx, store.Mail{To: "alice@example.com", Subject: subject, Body: "b", CreatedAt: keysT0}); err != nil {
					t.Fatal(err)
				}
			}
			// A worker at the backup claimed the first two; the second
			// failed and waits for its retry.
			var claimed []store.Mail
			for range 2 {
				m, ok, err := s.ClaimMail(ctx, keysT0, keysT0.Add(5*time.Minute))
				if err != nil || !ok {
					t.Fatalf("ClaimMail: %v, %v", ok, err)
				}
				claimed = append(claimed, m)
			}
			if ok, err := s.RetryMail(ctx, claimed[1].ID, claimed[1].Attempts, keysT0.Add(30*time.Second), "451 try later"); err != nil || !ok {
				t.Fatalf("RetryMail: %v, %v", ok, err)
			}
			// A mail with a password-reset link, sealed, waits too: the
			// restore voids the link, so the mail must not go out.
			if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: "key-1", MasterID: "m", Wrapped: []byte("wrapped"), Created: keysT0}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.EnqueueMail(ctx, store.Mail{To: "alice@example.com", Subject: "reset your password", BodyKeyID: "key-1", SealRef: "mail-ref", SealedBody: []byte("sealed"), CreatedAt: keysT0, DiscardAt: keysT0.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.EnqueueMail(ctx, store.Mail{To: "", Subject: "you are invited", BodyKeyID: "key-1", SealRef: "mail-ref-2", SealedBody: []byte("sealed"), CreatedAt: keysT0,
				Code: twofold.MailedCode{Kind: twofold.MailedTeamInvitation, Key: "inv-1"}}); err != nil {
				t.Fatal(err)
			}
			r, err := s.AfterRestore(ctx, 0, twofold.AuditEvent{Type: "database.restored", At: keysT0.Add(time.Second), Source: "cli"})
			if err != nil {
				t.Fatal(err)
			}
			if r.MailsWaiting != 4 || r.CodeMailsDropped != 1 {
				t.Errorf("MailsWaiting = %d, CodeMailsDropped = %d; want 4 and 1", r.MailsWaiting, r.CodeMailsDropped)
			}
			// A worker after the restore, a second after the backup, gets
			// all three, oldest first, and the attempts go on.
			now := keysT0.Add(time.Second)
			var got []string
			for {
				m, ok, err := s.ClaimMail(ctx, now, now.Add(5*time.Minute))
				if err != nil {
					t.Fatal(err)
				}
				if !ok {
					break
				}
				got = append(got, fmt.Sprintf("%s %d", m.Subject, m.Attempts))
			}
			if want := []string{"in flight 2", "waiting for its retry 2", "not yet claimed 1", "you are invited 1"}; !slices.Equal(got, want) {
				t.Errorf("mails claimed after the restore: %q, want %q", got, want)
			}
			evs, err := s.Events(ctx, "", 0, 1)
			if err != nil || len(evs) != 1 || !strings.Contains(evs[0].Detail, "4 mails in the outbox due at once") || !strings.Contains(evs[0].Detail, "1 mails of voided codes and links dropped") {
				t.Errorf("the restore's event: %+v, %v; want it to say the mails are due", evs, err)
			}
		})
	}
}

// TestAfterRestoreClearsWebhookFailures: an endpoint failing at the backup
// keeps failing_since; restored days later, the days the backup was kept
// would count as days of failure and the first failure after the restore
// would disable it. The fix-ups clear the failures of every endpoint that
// is on (the last error kept for the record), and leave a disabled one as
// it is, on both stores.
func TestAfterRestoreClearsWebhookFailures(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			s := open(t, dsn(t))
			ctx := t.Context()
			ensureKeys(t, s, "key-1")
			for _, id := range []string{"wh-failing", "wh-disabled", "wh-fine"} {
				if err := s.CreateWebhook(ctx, twofold.Webhook{ID: id, URL: "https://panel.example.com/" + id, CreatedAt: keysT0, CreatedBy: "op",
					SecretKeyID: "key-1", SealedSecret: []byte("sealed"), URLKeyID: "key-1", SealedURL: []byte("sealed url")}); err != nil {
					t.Fatal(err)
				}
			}
			for id, disable := range map[string]bool{"wh-failing": false, "wh-disabled": true} {
				for i := range 2 {
					at := keysT0.Add(time.Duration(i) * time.Hour)
					if ok, err := s.ClaimWebhook(ctx, id, "instance-at-the-backup", at, at.Add(time.Minute)); err != nil || !ok {
						t.Fatalf("ClaimWebhook %s: %v, %v", id, ok, err)
					}
					if ok, err := s.FailWebhook(ctx, id, "instance-at-the-backup", at, at.Add(10*time.Minute), "status-503", disable && i == 1); err != nil || !ok {
						t.Fatalf("FailWebhook %s: %v, %v", id, ok, err)
					}
				}
			}
			restoredAt := keysT0.Add(30 * 24 * time.Hour) // a backup a month old
			r, err := s.AfterRestore(ctx, 0, twofold.AuditEvent{Type: "database.restored", At: restoredAt, Source: "cli"})
			if err != nil {
				t.Fatal(err)
			}
			if r.WebhooksFailing != 1 {
				t.Errorf("WebhooksFailing = %d, want 1", r.WebhooksFailing)
			}
			w, err := s.Webhook(ctx, "wh-failing")
			if err != nil {
				t.Fatal(err)
			}
			if st := w.Status; st.Failures != 0 || !st.FailingSince.IsZero() || !st.NextAttemptAt.IsZero() ||
				st.LastError != "status-503" || !st.LastAttemptAt.Equal(keysT0.Add(time.Hour)) || !w.DisabledAt.IsZero() {
				t.Errorf("the failing endpoint after the restore: %+v, disabled at %v; want its failures cleared, its last error kept", st, w.DisabledAt)
			}
			w, err = s.Webhook(ctx, "wh-disabled")
			if err != nil {
				t.Fatal(err)
			}
			if st := w.Status; st.Failures != 2 || !st.FailingSince.Equal(keysT0) || w.DisabledAt.IsZero() {
				t.Errorf("the disabled endpoint after the restore: %+v, disabled at %v; want it as it was", st, w.DisabledAt)
			}
			if due, err := s.DueWebhooks(ctx, "instance-after-the-restore", keysT0.Add(time.Hour)); err != nil || !slices.Equal(due, []string{"wh-failing", "wh-fine"}) {
				t.Errorf("webhooks due after the restore: %v, %v; want wh-failing and wh-fine at once", due, err)
			}
		})
	}
}

// TestAfterRestoreTwice: one backup restored twice, an hour apart, each
// time where no database was (nothing tells the second restore how far
// the ids of the first went): the events after the second restore take no
// id of those after the first, and go on above them, on both stores. The
// second restore is simulated by putting the database back as it was at
// the backup: its events and its id counter.
func TestAfterRestoreTwice(t *testing.T) {
	for name, dsn := range map[string]func(testing.TB) string{"sqlite": testenv.SQLiteDSN, "postgres": testenv.PostgresDSN} {
		t.Run(name, func(t *testing.T) {
			d := dsn(t)
			s := open(t, d)
			ctx := t.Context()
			backup := addTestEvents(t, s, "test.in_the_backup", 3)
			last := backup[len(backup)-1]
			var seen []int64
			for i := range 2 {
				if i > 0 {
					db, err := sql.Open(map[string]string{"sqlite": "sqlite", "postgres": "pgx"}[name], strings.TrimPrefix(d, "sqlite:"))
					if err != nil {
						t.Fatal(err)
					}
					rewind := []string{`DELETE FROM audit_events WHERE id > $1`, `UPDATE sqlite_sequence SET seq = $1 WHERE name = 'audit_events'`}
					if name == "postgres" {
						rewind[1] = `SELECT setval('audit_events_seq', $1)`
					}
					for _, q := range rewind {
						if _, err := db.ExecContext(ctx, q, last); err != nil {
							t.Fatal(err)
						}
					}
					db.Close()
				}
				r, err := s.AfterRestore(ctx, 0, twofold.AuditEvent{Type: "database.restored", At: keysT0.Add(time.Duration(i) * time.Hour), Source: "cli"})
				if err != nil {
					t.Fatal(err)
				}
				ids := append([]int64{r.EventID}, addTestEvents(t, s, "test.after_restore", 3)...)
				for _, id := range ids {
					if slices.Contains(seen, id) {
						t.Errorf("restore %d: id %d handed out again (after the first restore: %v; after this one: %v)", i+1, id, seen, ids)
					} else if len(seen) > 0 && id <= slices.Max(seen) {
						t.Errorf("restore %d: id %d not above %d, the greatest handed out after the first restore", i+1, id, slices.Max(seen))
					}
				}
				seen = append(seen, ids...)
			}
		})
	}
}
