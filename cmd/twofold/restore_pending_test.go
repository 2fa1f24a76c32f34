package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/notify"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// restoreCopy backs the database dsn up and restores the copy, every
// server on it stopped, as README "Backup and restore" says: on SQLite
// with twofold backup and twofold restore in place, on PostgreSQL with
// pg_dump, pg_restore into a new database and twofold restore --db. It
// returns the restored database and what twofold restore said.
func restoreCopy(t *testing.T, dsn, keyFile string, now time.Time) (string, string) {
	t.Helper()
	restored := dsn
	var args []string
	if store.IsPostgres(dsn) {
		dump := filepath.Join(t.TempDir(), "twofold.dump")
		if out, err := exec.Command("pg_dump", "--format=custom", "--file", dump, "--dbname", dsn).CombinedOutput(); err != nil {
			t.Fatalf("pg_dump: %v\n%s", err, out)
		}
		restored = testenv.PostgresDSN(t)
		if out, err := exec.Command("pg_restore", "--no-owner", "--exit-on-error", "--dbname", restored, dump).CombinedOutput(); err != nil {
			t.Fatalf("pg_restore: %v\n%s", err, out)
		}
		args = []string{"restore", "--db", restored, "--key-file", keyFile}
	} else {
		backup := filepath.Join(t.TempDir(), "copy.db")
		if err := newTestMain(t, now, "").run(t, "backup", "--db", dsn, "--key-file", keyFile, backup); err != nil {
			t.Fatal(err)
		}
		args = []string{"restore", "--db", dsn, "--key-file", keyFile, backup}
	}
	tm := newTestMain(t, now, "")
	if err := tm.run(t, args...); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	return restored, tm.stdout.String()
}

// TestRestoreSendsMailInFlight: a backup made while a worker was sending a
// mail holds the worker's claim on it (5 minutes); restored soon after, the
// servers would wait for the claim to run out. After twofold restore the
// first server to start sends it at once (its clock here stands still at
// the time of the backup, so a claim left in place would hold the mail
// back for good), on both stores.
func TestRestoreSendsMailInFlight(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			dsn := newDSN(t)
			keyFile := filepath.Join(t.TempDir(), "twofold.key")
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile))
			at := s.Clock.Now()
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			// A worker at the backup: the mail queued and claimed, being sent.
			st, err := store.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.EnqueueMail(context.Background(), store.Mail{To: "alice@example.com", Subject: "Twofold: a notice in flight",
				Body: "A notice.", CreatedAt: at}); err != nil {
				t.Fatal(err)
			}
			if _, ok, err := st.ClaimMail(context.Background(), at, at.Add(notify.DefaultLease)); err != nil || !ok {
				t.Fatalf("ClaimMail: %v, %v", ok, err)
			}
			st.Close()

			restored, out := restoreCopy(t, dsn, keyFile, at)
			if want := "1 mail waiting in the outbox, all due at once"; !strings.Contains(out, want) {
				t.Errorf("restore said %q, want %q", out, want)
			}
			mb := testenv.NewSMTPServer(t)
			testenv.NewServer(t, restored, keysWithKeyFile(keyFile), mb.Option("twofold@example.com"))
			msgs := mb.Wait(t, 1, time.Minute)
			if len(msgs) != 1 || len(msgs[0].To) != 1 || msgs[0].To[0] != "alice@example.com" || !strings.Contains(string(msgs[0].Data), "a notice in flight") {
				t.Errorf("mail after the restore: %+v; want the notice to alice", msgs)
			}
		})
	}
}

// TestRestoreFailingWebhook: an endpoint that had been failing for a day
// when the backup was made, restored three days later, is not disabled
// at its first failure after the restore (the days the backup was kept
// are not days of failure): it fails from then on, counted anew, and is
// tried at once, on both stores.
func TestRestoreFailingWebhook(t *testing.T) {
	for dialect, newDSN := range testenv.DSNs(t) {
		t.Run(dialect, func(t *testing.T) {
			t.Parallel()
			var posts atomic.Int64
			rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				posts.Add(1)
				w.WriteHeader(http.StatusServiceUnavailable)
			}))
			t.Cleanup(rcv.Close)
			allowLoopback := func(c *config.Config) { c.WebhookAllowHTTP, c.WebhookAllowPrivate = true, true }
			dsn := newDSN(t)
			keyFile := filepath.Join(t.TempDir(), "twofold.key")
			s := testenv.NewServer(t, dsn, keysWithKeyFile(keyFile), allowLoopback)
			restoredAt := s.Clock.Now()
			backupAt := restoredAt.Add(-3 * 24 * time.Hour)
			failingSince := backupAt.Add(-24 * time.Hour)
			s.Clock.Set(failingSince)

			ctx := context.Background()
			carol, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "carol", Email: "carol@example.com", Password: keysPassword, Operator: true}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			var permits []twofold.Permit
			for _, line := range []string{"admin webhooks read,write", "admin events read"} {
				p, err := permit.Parse(line)
				if err != nil {
					t.Fatal(err)
				}
				permits = append(permits, p)
			}
			// A key that is stored: a webhook stops once the key that
			// made it is gone.
			key := twofold.APIKey{ID: "key-hooks", AccountID: carol.ID, Name: "hooks", SecretHash: []byte("unused"), Permits: permits, CreatedAt: failingSince}
			if err := s.Store.CreateAPIKey(ctx, key); err != nil {
				t.Fatal(err)
			}
			op := core.Auth{Account: carol, Key: &key}
			w, _, err := s.Service.CreateWebhook(ctx, op, core.NewWebhook{URL: rcv.URL}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			// Failing since a day before the backup.
			for _, at := range []time.Time{failingSince, backupAt} {
				s.Clock.Set(at)
				if err := s.Service.DeliverWebhooks(ctx, webhook.NewSender(true), "instance-at-the-backup"); err != nil {
					t.Fatal(err)
				}
			}
			if got, err := s.Store.Webhook(ctx, w.ID); err != nil || got.Status.Failures != 2 || !got.Status.FailingSince.Equal(failingSince) || !got.DisabledAt.IsZero() {
				t.Fatalf("the endpoint at the backup: %+v, %v; want failing since %v, on", got, err, failingSince)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			restored, out := restoreCopy(t, dsn, keyFile, restoredAt)
			if want := "1 webhook endpoint failing at the backup tried again at once"; !strings.Contains(out, want) {
				t.Errorf("restore said %q, want %q", out, want)
			}
			// A server delivering on its own, its clock three days after
			// the backup: the endpoint fails again.
			r := testenv.NewWebhookServer(t, restored, keysWithKeyFile(keyFile), allowLoopback)
			var got twofold.Webhook
			for end := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
				if got, err = r.Store.Webhook(ctx, w.ID); err != nil {
					t.Fatal(err)
				}
				if got.Status.LastAttemptAt.Equal(restoredAt) {
					break
				}
				if time.Now().After(end) {
					t.Fatalf("no delivery after the restore: %+v (%d posts)", got, posts.Load())
				}
			}
			if !got.DisabledAt.IsZero() || !got.Status.FailingSince.Equal(restoredAt) || got.Status.Failures < 1 {
				t.Errorf("the endpoint after its first failure after the restore: %+v, disabled at %v; want it on, failing since %v", got.Status, got.DisabledAt, restoredAt)
			}
			evs, err := r.Store.Events(ctx, "", 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Type == "webhook.disabled" {
					t.Errorf("after the restore: %+v", e)
				}
			}
		})
	}
}
