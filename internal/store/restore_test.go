package store_test

import (
	"database/sql"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twofold/twofold"
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
		SecretKeyID: "key-1", SealedSecret: []byte("sealed")}); err != nil {
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
