package storetest

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

// newWebhook stores webhook id, starting now, with its secret sealed
// (in name) under key-1 and its URL under key-7, which it stores if no
// data key is.
func newWebhook(tb testing.TB, s *store.Store, id string, events ...string) twofold.Webhook {
	tb.Helper()
	ensureDataKeys(tb, s)
	w := twofold.Webhook{ID: id, URL: "https://panel.example.com/" + id, Events: events, CreatedAt: t0, CreatedBy: "acct-op",
		SecretKeyID: "key-1", SealedSecret: []byte("sealed " + id), URLKeyID: "key-7", SealedURL: []byte("sealed url")}
	if err := s.CreateWebhook(tb.Context(), w); err != nil {
		tb.Fatal(err)
	}
	got, err := s.Webhook(tb.Context(), id)
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

// testWebhookFeedConcurrent writes events from many transactions at once,
// of one to three events each, while a reader takes the feed as the
// dispatcher does: every event arrives once, each transaction's events
// together, and (on SQLite) in id order; the cursor's scan bound moves on.
func testWebhookFeedConcurrent(t *testing.T, s *store.Store) {
	ctx := t.Context()
	before := twofold.AuditEvent{Type: "test.before", At: t0}
	if err := s.AddEvent(ctx, before); err != nil {
		t.Fatal(err)
	}
	w := newWebhook(t, s, "wh-1")
	const writers, txs = 12, 15
	var wg sync.WaitGroup
	written := make(chan int, writers*txs)
	for g := range writers {
		wg.Go(func() {
			for i := range txs {
				n := 1 + (g+i)%3
				err := s.InTx(ctx, func(ctx context.Context) error {
					for k := range n {
						if k == 1 {
							// Something else in between, so that
							// transactions overlap.
							if _, err := s.Webhooks(ctx); err != nil {
								return err
							}
						}
						e := twofold.AuditEvent{Type: "test.event", At: t0, Detail: fmt.Sprintf("w%d t%d e%d", g, i, k)}
						if err := s.AddEvent(ctx, e); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					t.Error(err)
					return
				}
				written <- n
			}
		})
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()

	var got []twofold.AuditEvent
	total, finished := 0, false
	deadline := time.Now().Add(time.Minute)
	cur := w.Cursor
	for !finished || len(got) < total {
		if time.Now().After(deadline) {
			t.Fatalf("the feed gave %d of %d events", len(got), total)
		}
		if !finished {
			select {
			case <-done:
				finished = true
				close(written)
				for n := range written {
					total += n
				}
			default:
			}
		}
		if ok, err := s.ClaimWebhook(ctx, w.ID, "reader", t0, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("ClaimWebhook: %v, %v", ok, err)
		}
		evs, next, err := s.WebhookFeed(ctx, cur, nil, 7)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) == 0 && next == cur {
			continue
		}
		ok, err := s.AdvanceWebhook(ctx, w.ID, "reader", cur, next, t0, len(evs) > 0)
		if err != nil || !ok {
			t.Fatalf("AdvanceWebhook: %v, %v", ok, err)
		}
		got, cur = append(got, evs...), next
	}
	if len(got) != total {
		t.Fatalf("the feed gave %d events, want %d", len(got), total)
	}
	seen := map[int64]bool{}
	lastOf := map[string]int{} // the index of each transaction's last event
	for i, e := range got {
		if seen[e.ID] || e.Type != "test.event" {
			t.Fatalf("event %d (%s) twice, or not written by the test", e.ID, e.Type)
		}
		seen[e.ID] = true
		tx := e.Detail[:strings.LastIndex(e.Detail, " ")]
		if j, ok := lastOf[tx]; ok && j != i-1 {
			t.Errorf("the events of transaction %q are not together", tx)
		}
		lastOf[tx] = i
	}
	if s.Dialect() == store.SQLite {
		if !slices.IsSortedFunc(got, func(a, b twofold.AuditEvent) int { return int(a.ID - b.ID) }) {
			t.Error("SQLite: the feed is not in id order")
		}
	}
	w, err := s.Webhook(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if w.Cursor != cur || w.Status.LastDeliveredAt != t0 {
		t.Errorf("stored cursor %+v, status %+v; want %+v, delivered at t0", w.Cursor, w.Status, cur)
	}
	// The scan bound moves past the events delivered, a round or two
	// behind the cursor.
	minID := slices.MinFunc(got, func(a, b twofold.AuditEvent) int { return int(a.ID - b.ID) }).ID
	for cur.Low < minID {
		if time.Now().After(deadline) {
			t.Fatalf("scan bound %d, want at least the first event's id %d", cur.Low, minID)
		}
		evs, next, err := s.WebhookFeed(ctx, cur, nil, 7)
		if err != nil || len(evs) > 0 {
			t.Fatalf("WebhookFeed at the end: %v, %v", evs, err)
		}
		if next != cur {
			if ok, err := s.AdvanceWebhook(ctx, w.ID, "reader", cur, next, t0, false); err != nil || !ok {
				t.Fatalf("AdvanceWebhook: %v, %v", ok, err)
			}
			cur = next
		}
	}
}

// testWebhookLease checks that of several instances one leases a webhook,
// that only it may move the cursor, and only from where the cursor is.
func testWebhookLease(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newWebhook(t, s, "wh-1")
	if wins := race(t, func(i int) (bool, error) {
		return s.ClaimWebhook(ctx, w.ID, fmt.Sprint("owner-", i), t0, t0.Add(time.Minute))
	}); wins != 1 {
		t.Fatalf("claims won: %d, want 1", wins)
	}
	holder := ""
	for i := range racers {
		if ok, _ := s.ClaimWebhook(ctx, w.ID, fmt.Sprint("owner-", i), t0.Add(time.Second), t0.Add(time.Minute)); ok {
			holder = fmt.Sprint("owner-", i)
		}
	}
	if holder == "" {
		t.Fatal("the holder could not extend its lease")
	}
	if err := s.AddEvent(ctx, twofold.AuditEvent{Type: "test.event", At: t0}); err != nil {
		t.Fatal(err)
	}
	to := w.Cursor
	to.ID++
	if ok, err := s.AdvanceWebhook(ctx, w.ID, "someone-else", w.Cursor, to, t0, true); err != nil || ok {
		t.Fatalf("AdvanceWebhook by another owner: got %v, %v; want false", ok, err)
	}
	if wins := race(t, func(int) (bool, error) { return s.AdvanceWebhook(ctx, w.ID, holder, w.Cursor, to, t0, true) }); wins != 1 {
		t.Fatalf("advances won: %d, want 1", wins)
	}
	if ok, err := s.FailWebhook(ctx, w.ID, "someone-else", t0, t0, "timeout", true); err != nil || ok {
		t.Fatalf("FailWebhook by another owner: got %v, %v; want false", ok, err)
	}
	// Failing, then disabled: not due, not claimed, until enabled.
	if ok, err := s.FailWebhook(ctx, w.ID, holder, t0, t0.Add(time.Minute), "status-500", false); err != nil || !ok {
		t.Fatalf("FailWebhook: %v, %v", ok, err)
	}
	if ids, _ := s.DueWebhooks(ctx, holder, t0.Add(time.Second)); len(ids) != 0 {
		t.Errorf("due during the backoff: %v", ids)
	}
	if ok, err := s.ClaimWebhook(ctx, w.ID, "owner-x", t0.Add(2*time.Minute), t0.Add(3*time.Minute)); err != nil || !ok {
		t.Fatalf("claim after a failure released the lease: %v, %v", ok, err)
	}
	if ok, err := s.FailWebhook(ctx, w.ID, "owner-x", t0.Add(2*time.Minute), t0.Add(3*time.Minute), "timeout", true); err != nil || !ok {
		t.Fatalf("FailWebhook disabling: %v, %v", ok, err)
	}
	got, err := s.Webhook(ctx, w.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.DisabledAt.IsZero() || got.DisabledReason != twofold.WebhookDisabledFailing || got.Status.Failures != 2 || got.Status.FailingSince != t0 ||
		got.Status.LastError != "timeout" || got.Cursor != to {
		t.Errorf("after two failures: got %+v %+v, disabled for %q", got.Status, got.Cursor, got.DisabledReason)
	}
	if ids, _ := s.DueWebhooks(ctx, "owner-x", t0.Add(time.Hour)); len(ids) != 0 {
		t.Errorf("a disabled webhook is due: %v", ids)
	}
	if ok, err := s.EnableWebhook(ctx, w.ID, "acct-op", ""); err != nil || !ok {
		t.Fatalf("EnableWebhook: %v, %v", ok, err)
	}
	if ok, _ := s.EnableWebhook(ctx, w.ID, "acct-op", ""); ok {
		t.Error("EnableWebhook of an enabled webhook: got true")
	}
	if ids, _ := s.DueWebhooks(ctx, "owner-y", t0.Add(time.Hour)); !slices.Equal(ids, []string{w.ID}) {
		t.Errorf("due after enabling: got %v", ids)
	}
	if got, err := s.Webhook(ctx, w.ID); err != nil || got.DisabledReason != "" || got.Status.LastError != "timeout" {
		t.Errorf("after enabling: disabled for %q, last error %q (%v); want no reason, timeout kept", got.DisabledReason, got.Status.LastError, err)
	}
	// A delivery after a failure clears the failure and its next try.
	if ok, err := s.ClaimWebhook(ctx, w.ID, "owner-y", t0.Add(time.Hour), t0.Add(2*time.Hour)); err != nil || !ok {
		t.Fatalf("claim after enabling: %v, %v", ok, err)
	}
	if ok, err := s.FailWebhook(ctx, w.ID, "owner-y", t0.Add(time.Hour), t0.Add(90*time.Minute), "timeout", false); err != nil || !ok {
		t.Fatalf("FailWebhook: %v, %v", ok, err)
	}
	if ok, err := s.ClaimWebhook(ctx, w.ID, "owner-y", t0.Add(2*time.Hour), t0.Add(3*time.Hour)); err != nil || !ok {
		t.Fatalf("claim after the backoff: %v, %v", ok, err)
	}
	if ok, err := s.AdvanceWebhook(ctx, w.ID, "owner-y", to, to, t0.Add(2*time.Hour), true); err != nil || !ok {
		t.Fatalf("AdvanceWebhook after a failure: %v, %v", ok, err)
	}
	if got, err = s.Webhook(ctx, w.ID); err != nil {
		t.Fatal(err)
	}
	if st := got.Status; st.Failures != 0 || !st.FailingSince.IsZero() || st.LastError != "" || !st.NextAttemptAt.IsZero() || st.LastDeliveredAt != t0.Add(2*time.Hour) {
		t.Errorf("after a delivery that followed a failure: got %+v, want no failure and no next attempt", st)
	}
}

// testWebhookSealedValues checks that key rotation sees webhook secrets:
// listed, resealed only from the value read, and their data key kept.
func testWebhookSealedValues(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, id := range []string{"key-1", "key-2", "key-7"} { // key-7: newWebhook's URL
		if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: id, MasterID: "master-1", Wrapped: []byte{1}, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	newWebhook(t, s, "wh-1")
	vs, err := s.SealedValues(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var hooks []keyring.Sealed
	for _, v := range vs {
		if v.Table == "webhooks" && v.Column == "secret" {
			hooks = append(hooks, v)
		}
	}
	if len(hooks) != 1 || hooks[0].Row != "wh-1" || hooks[0].KeyID != "key-1" || string(hooks[0].Ciphertext) != "sealed wh-1" {
		t.Fatalf("sealed webhook secrets: got %+v", hooks)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-1"); err != nil || ok {
		t.Fatalf("DeleteDataKey of a key a webhook secret is sealed under: got %v, %v", ok, err)
	}
	// Rotated meanwhile: the reseal of the old value must not win.
	if ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-1", []byte("sealed wh-1"), "key-1", []byte("rotated"), "", nil, time.Time{}); err != nil || !ok {
		t.Fatalf("SetWebhookSecret: %v, %v", ok, err)
	}
	if ok, err := s.Reseal(ctx, hooks[0], "key-2", []byte("old resealed")); err != nil || ok {
		t.Fatalf("Reseal of a replaced secret: got %v, %v; want false", ok, err)
	}
	hooks[0].Ciphertext = []byte("rotated")
	if ok, err := s.Reseal(ctx, hooks[0], "key-2", []byte("resealed")); err != nil || !ok {
		t.Fatalf("Reseal: got %v, %v; want true", ok, err)
	}
	w, _ := s.Webhook(ctx, "wh-1")
	if w.SecretKeyID != "key-2" || string(w.SealedSecret) != "resealed" {
		t.Errorf("after Reseal: got %s %q", w.SecretKeyID, w.SealedSecret)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-1"); err != nil || !ok {
		t.Fatalf("DeleteDataKey of the key no secret is sealed under any more: got %v, %v", ok, err)
	}
	if ok, err := s.DeleteWebhook(ctx, "wh-1"); err != nil || !ok {
		t.Fatalf("DeleteWebhook: %v, %v", ok, err)
	}
	if _, err := s.Webhook(ctx, "wh-1"); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("Webhook after delete: got %v, want not-found", err)
	}
}

// testWebhookBacklog: through a backlog, where every batch is full, the
// scan bound keeps up with the cursor, so that each read scans about a
// batch rather than the whole backlog again.
func testWebhookBacklog(t *testing.T, s *store.Store) {
	ctx := t.Context()
	w := newWebhook(t, s, "wh-1")
	for i := range 12 {
		err := s.InTx(ctx, func(ctx context.Context) error {
			for k := range 50 {
				if err := s.AddEvent(ctx, twofold.AuditEvent{Type: "test.event", At: t0, Detail: fmt.Sprintf("t%d e%d", i, k)}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	cur, total := w.Cursor, 0
	for batch := 1; ; batch++ {
		evs, next, err := s.WebhookFeed(ctx, cur, nil, 100)
		if err != nil {
			t.Fatal(err)
		}
		total += len(evs)
		if len(evs) < 100 {
			break
		}
		// Every event up to Low is delivered, and Low is close behind.
		if behind := evs[len(evs)-1].ID - next.Low; next.Low > evs[len(evs)-1].ID || behind > 100 {
			t.Fatalf("batch %d: scan bound %d, last event delivered %d; want the bound at most a batch behind", batch, next.Low, evs[len(evs)-1].ID)
		}
		cur = next
	}
	if total != 600 {
		t.Errorf("the feed gave %d events, want 600", total)
	}
}

// testWebhookPreviousSecret checks a rotation's previous secret: stored
// by a compare-and-set on the current one, listed and resealed by key
// rotation, its data key kept while it is there, and cleared once expired.
func testWebhookPreviousSecret(t *testing.T, s *store.Store) {
	ctx := t.Context()
	for _, id := range []string{"key-1", "key-2", "key-3", "key-7"} {
		if err := s.AddDataKey(ctx, keyring.WrappedKey{ID: id, MasterID: "master-1", Wrapped: []byte{1}, Created: t0}); err != nil {
			t.Fatal(err)
		}
	}
	newWebhook(t, s, "wh-1")
	until := t0.Add(24 * time.Hour)
	if ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-1", []byte("not the current one"), "key-2", []byte("new"), "key-1", []byte("prev"), until); err != nil || ok {
		t.Fatalf("SetWebhookSecret from a stale value: got %v, %v; want false", ok, err)
	}
	if ok, err := s.SetWebhookSecret(ctx, "wh-1", "key-1", []byte("sealed wh-1"), "key-2", []byte("new"), "key-1", []byte("prev"), until); err != nil || !ok {
		t.Fatalf("SetWebhookSecret: got %v, %v; want true", ok, err)
	}
	w, err := s.Webhook(ctx, "wh-1")
	if err != nil {
		t.Fatal(err)
	}
	if w.SecretKeyID != "key-2" || string(w.SealedSecret) != "new" || w.PreviousSecretKeyID != "key-1" ||
		string(w.PreviousSealedSecret) != "prev" || !w.PreviousSecretUntil.Equal(until) {
		t.Fatalf("after SetWebhookSecret: got %s %q, previous %s %q until %v", w.SecretKeyID, w.SealedSecret,
			w.PreviousSecretKeyID, w.PreviousSealedSecret, w.PreviousSecretUntil)
	}
	prev := func() []keyring.Sealed {
		t.Helper()
		vs, err := s.SealedValues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out []keyring.Sealed
		for _, v := range vs {
			if v.Table == "webhooks" && v.Column == "previous_secret" {
				out = append(out, v)
			}
		}
		return out
	}
	ps := prev()
	if len(ps) != 1 || ps[0].Row != "wh-1" || ps[0].KeyID != "key-1" || string(ps[0].Ciphertext) != "prev" {
		t.Fatalf("sealed previous webhook secrets: got %+v", ps)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-1"); err != nil || ok {
		t.Fatalf("DeleteDataKey of a key only a previous secret is sealed under: got %v, %v; want false", ok, err)
	}
	stale := ps[0]
	stale.Ciphertext = []byte("other")
	if ok, err := s.Reseal(ctx, stale, "key-3", []byte("prev resealed")); err != nil || ok {
		t.Fatalf("Reseal of a replaced previous secret: got %v, %v; want false", ok, err)
	}
	if ok, err := s.Reseal(ctx, ps[0], "key-3", []byte("prev resealed")); err != nil || !ok {
		t.Fatalf("Reseal of the previous secret: got %v, %v; want true", ok, err)
	}
	w, _ = s.Webhook(ctx, "wh-1")
	if w.PreviousSecretKeyID != "key-3" || string(w.PreviousSealedSecret) != "prev resealed" || string(w.SealedSecret) != "new" {
		t.Fatalf("after Reseal: got previous %s %q, current %q", w.PreviousSecretKeyID, w.PreviousSealedSecret, w.SealedSecret)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-1"); err != nil || !ok {
		t.Fatalf("DeleteDataKey of the key nothing is sealed under any more: got %v, %v", ok, err)
	}
	if n, err := s.ClearWebhookPreviousSecrets(ctx, until.Add(-time.Microsecond)); err != nil || n != 0 {
		t.Fatalf("ClearWebhookPreviousSecrets before expiry: got %d, %v; want 0", n, err)
	}
	if n, err := s.ClearWebhookPreviousSecrets(ctx, until); err != nil || n != 1 {
		t.Fatalf("ClearWebhookPreviousSecrets at expiry: got %d, %v; want 1", n, err)
	}
	w, _ = s.Webhook(ctx, "wh-1")
	if w.PreviousSecretKeyID != "" || w.PreviousSealedSecret != nil || !w.PreviousSecretUntil.IsZero() || string(w.SealedSecret) != "new" {
		t.Fatalf("after clearing: got previous %s %q until %v, current %q", w.PreviousSecretKeyID, w.PreviousSealedSecret, w.PreviousSecretUntil, w.SealedSecret)
	}
	if ps := prev(); len(ps) != 0 {
		t.Errorf("sealed previous webhook secrets after clearing: got %+v, want none", ps)
	}
	if ok, err := s.DeleteDataKey(ctx, "key-3"); err != nil || !ok {
		t.Fatalf("DeleteDataKey of the cleared previous secret's key: got %v, %v", ok, err)
	}
}

// testWebhookEndedKeys: a webhook keeps the API key that made it or last
// turned it on (none for a session), and DisableWebhooksOfEndedKeys turns
// off those whose key is revoked (its row gone, with the keys it made) or
// has expired, each with its class, and no other.
func testWebhookEndedKeys(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "olga")
	apiKey(t, s, a.ID, "k-parent", "")
	apiKey(t, s, a.ID, "k-child", "k-parent") // expires at t0+24h, as its maker
	forever := twofold.APIKey{ID: "k-forever", AccountID: a.ID, Name: "forever", SecretHash: []byte("h"), CreatedAt: t0,
		Permits: []twofold.Permit{{Service: "admin", Resource: "webhooks", Actions: []string{"read", "write"}}}}
	if err := s.CreateAPIKey(ctx, forever); err != nil {
		t.Fatal(err)
	}
	ensureDataKeys(t, s)
	add := func(id, key string) {
		t.Helper()
		w := twofold.Webhook{ID: id, URL: "https://panel.example.com/" + id, CreatedAt: t0, CreatedBy: a.ID, CreatedByKey: key,
			SecretKeyID: "key-1", SealedSecret: []byte("sealed " + id), URLKeyID: "key-1", SealedURL: []byte("sealed url")}
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		if got, err := s.Webhook(ctx, id); err != nil || got.CreatedByKey != key {
			t.Fatalf("webhook %s: CreatedByKey %q (%v), want %q", id, got.CreatedByKey, err, key)
		}
	}
	add("wh-session", "")
	add("wh-child", "k-child")
	add("wh-forever", "k-forever")
	if got, err := s.DisableWebhooksOfEndedKeys(ctx, t0.Add(time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("with every key standing: disabled %v, %v; want none", got, err)
	}
	if got, err := s.DisableWebhooksOfEndedKeys(ctx, t0.Add(24*time.Hour)); err != nil || len(got) != 1 || got[0].ID != "wh-child" ||
		got[0].DisabledReason != twofold.WebhookDisabledKeyExpired || got[0].Status.LastError != "" || got[0].DisabledAt.IsZero() {
		t.Fatalf("once k-child expired: disabled %+v, %v; want wh-child, key-expired", got, err)
	}
	// Turned on again by a session: no key answers for it.
	if ok, err := s.EnableWebhook(ctx, "wh-child", a.ID, ""); err != nil || !ok {
		t.Fatalf("EnableWebhook: %v, %v", ok, err)
	}
	if got, _ := s.Webhook(ctx, "wh-child"); got.CreatedByKey != "" {
		t.Errorf("enabled by a session: CreatedByKey %q, want none", got.CreatedByKey)
	}
	if got, err := s.DisableWebhooksOfEndedKeys(ctx, t0.Add(48*time.Hour)); err != nil || len(got) != 0 {
		t.Fatalf("after a session turned it on: disabled %v, %v; want none", got, err)
	}
	// Turned on by a key: that key answers for it; revoking its maker
	// takes it.
	if ok, err := s.FailWebhook(ctx, "wh-child", "x", t0, t0, "timeout", true); err != nil || ok {
		t.Fatalf("FailWebhook without the lease: %v, %v; want false", ok, err)
	}
	if ok, err := s.ClaimWebhook(ctx, "wh-child", "x", t0, t0.Add(time.Minute)); err != nil || !ok {
		t.Fatalf("ClaimWebhook: %v, %v", ok, err)
	}
	if ok, err := s.FailWebhook(ctx, "wh-child", "x", t0, t0, "timeout", true); err != nil || !ok {
		t.Fatalf("FailWebhook: %v, %v", ok, err)
	}
	apiKey(t, s, a.ID, "k-child2", "k-parent")
	if ok, err := s.EnableWebhook(ctx, "wh-child", a.ID, "k-child2"); err != nil || !ok {
		t.Fatalf("EnableWebhook by a key: %v, %v", ok, err)
	}
	if ok, err := s.DeleteAPIKey(ctx, a.ID, "k-parent"); err != nil || !ok {
		t.Fatalf("DeleteAPIKey: %v, %v", ok, err)
	}
	if got, err := s.DisableWebhooksOfEndedKeys(ctx, t0.Add(time.Hour)); err != nil || len(got) != 1 || got[0].ID != "wh-child" ||
		got[0].DisabledReason != twofold.WebhookDisabledKeyRevoked || got[0].Status.LastError != "timeout" || got[0].CreatedByKey != "k-child2" {
		t.Fatalf("once k-parent was revoked: disabled %+v, %v; want wh-child, key-revoked, its last error timeout kept", got, err)
	}
	for _, id := range []string{"wh-session", "wh-forever"} {
		if got, _ := s.Webhook(ctx, id); !got.DisabledAt.IsZero() {
			t.Errorf("%s disabled: want it on", id)
		}
	}
}

// testWebhookDisabledReason checks that disabling a webhook for a reason
// other than failing (DisableWebhook, while leased; DisableWebhooksBy)
// records the reason and keeps the status, its deliveries' last error
// above all, and that enabling clears the reason.
func testWebhookDisabledReason(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "dora")
	ensureDataKeys(t, s)
	failing := func(id string) {
		t.Helper()
		w := twofold.Webhook{ID: id, URL: "https://hooks.example.com/" + id, CreatedAt: t0, CreatedBy: a.ID,
			SecretKeyID: "key-1", SealedSecret: []byte("sealed " + id), URLKeyID: "key-1", SealedURL: []byte("sealed url")}
		if err := s.CreateWebhook(ctx, w); err != nil {
			t.Fatal(err)
		}
		if ok, err := s.ClaimWebhook(ctx, id, "x", t0, t0.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("ClaimWebhook %s: %v, %v", id, ok, err)
		}
		if ok, err := s.FailWebhook(ctx, id, "x", t0, t0.Add(time.Second), "reset", false); err != nil || !ok {
			t.Fatalf("FailWebhook %s: %v, %v", id, ok, err)
		}
	}
	failing("wh-lease")
	failing("wh-owner")
	check := func(id, reason string) {
		t.Helper()
		got, err := s.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if got.DisabledReason != reason || got.DisabledAt.IsZero() != (reason == "") {
			t.Errorf("%s: disabled at %v for %q, want %q", id, got.DisabledAt, got.DisabledReason, reason)
		}
		if st := got.Status; st.LastError != "reset" || st.Failures != 1 || st.FailingSince != t0 || st.LastAttemptAt != t0 {
			t.Errorf("%s: status %+v, want one failure, reset, at t0, kept", id, st)
		}
	}
	if ok, err := s.DisableWebhook(ctx, "wh-lease", "other", t0.Add(time.Minute), twofold.WebhookDisabledKeyExpired); err != nil || ok {
		t.Fatalf("DisableWebhook without the lease: %v, %v; want false", ok, err)
	}
	if ok, err := s.ClaimWebhook(ctx, "wh-lease", "x", t0.Add(time.Minute), t0.Add(2*time.Minute)); err != nil || !ok {
		t.Fatalf("ClaimWebhook: %v, %v", ok, err)
	}
	if ok, err := s.DisableWebhook(ctx, "wh-lease", "x", t0.Add(time.Minute), twofold.WebhookDisabledKeyExpired); err != nil || !ok {
		t.Fatalf("DisableWebhook: %v, %v", ok, err)
	}
	check("wh-lease", twofold.WebhookDisabledKeyExpired)
	if ok, err := s.DisableWebhook(ctx, "wh-lease", "x", t0.Add(time.Minute), twofold.WebhookDisabledNotOperator); err != nil || ok {
		t.Fatalf("DisableWebhook of a disabled webhook: %v, %v; want false", ok, err)
	}
	check("wh-lease", twofold.WebhookDisabledKeyExpired)
	got, err := s.DisableWebhooksBy(ctx, a.ID, t0.Add(time.Minute), twofold.WebhookDisabledNotOperator)
	if err != nil || len(got) != 1 || got[0].ID != "wh-owner" || got[0].DisabledReason != twofold.WebhookDisabledNotOperator || got[0].Status.LastError != "reset" {
		t.Fatalf("DisableWebhooksBy: %+v, %v; want wh-owner alone, owner-not-operator, reset kept", got, err)
	}
	check("wh-owner", twofold.WebhookDisabledNotOperator)
	if ok, err := s.EnableWebhook(ctx, "wh-owner", a.ID, ""); err != nil || !ok {
		t.Fatalf("EnableWebhook: %v, %v", ok, err)
	}
	if got, err := s.Webhook(ctx, "wh-owner"); err != nil || !got.DisabledAt.IsZero() || got.DisabledReason != "" || got.Status.LastError != "reset" {
		t.Errorf("enabled: disabled at %v for %q, last error %q (%v); want on, no reason, reset kept", got.DisabledAt, got.DisabledReason, got.Status.LastError, err)
	}
}
