package httpapi_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/testenv"
)

// pathReceiver is a webhook receiver on loopback that records the path
// and query each delivery was posted to.
type pathReceiver struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []string
}

func newPathReceiver(t *testing.T) *pathReceiver {
	pr := &pathReceiver{}
	pr.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		pr.mu.Lock()
		pr.got = append(pr.got, r.URL.RequestURI())
		pr.mu.Unlock()
		w.WriteHeader(204)
	}))
	t.Cleanup(pr.srv.Close)
	return pr
}

// count returns how many deliveries went to uri.
func (pr *pathReceiver) count(uri string) int {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	n := 0
	for _, g := range pr.got {
		if g == uri {
			n++
		}
	}
	return n
}

// writerDB returns the server's pool that writes, for a test that reads
// or sets rows as they are stored.
func writerDB(s *testenv.Server) *sql.DB {
	ps := s.Store.Pools()
	if w, ok := ps["writer"]; ok {
		return w
	}
	return ps["pool"]
}

// webhookRow returns every column of the webhook's row as stored, each as
// text or bytes, by column name.
func webhookRow(t *testing.T, s *testenv.Server, id string) map[string][]byte {
	t.Helper()
	rows, err := writerDB(s).QueryContext(context.Background(), `SELECT * FROM webhooks WHERE id = $1`, id)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	if !rows.Next() {
		t.Fatalf("no row of webhook %s", id)
	}
	vals := testenv.ScanAny(t, rows, cols)
	out := map[string][]byte{}
	for i, c := range cols {
		switch v := vals[i].(type) {
		case nil:
		case []byte:
			out[c] = v
		default:
			out[c] = fmt.Append(nil, v)
		}
	}
	return out
}

// wantNoClearURL fails the test when a column of the webhook's row holds
// any of the parts given (the URL, its host, the token in its path or
// query) in the clear.
func wantNoClearURL(t *testing.T, s *testenv.Server, id string, parts ...string) {
	t.Helper()
	for col, v := range webhookRow(t, s, id) {
		for _, p := range parts {
			if bytes.Contains(v, []byte(p)) {
				t.Errorf("column %s of webhook %s holds %q in the clear", col, id, p)
			}
		}
	}
}

// TestWebhookURLSealed: a webhook's URL, which may carry a token of the
// receiver's in its path or query, is stored sealed on both stores: its row
// holds neither the URL, nor its host, nor the token; the operator API
// shows it whole, deliveries go to it, path and query included, and `keys
// rotate` reseals it (its old data key goes).
func TestWebhookURLSealed(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, op, ctx := f.s, f.opc, context.Background()
		pr := newPathReceiver(t)
		const uri = "/hooks/T0KEN-in-path?token=s3cret-in-query"
		full := pr.srv.URL + uri
		host := strings.TrimPrefix(pr.srv.URL, "http://")
		id := addWebhook(t, op, full, "test.a")
		parts := []string{full, host, "T0KEN-in-path", "s3cret-in-query"}
		wantNoClearURL(t, s, id, parts...)

		shows := func(when string) {
			t.Helper()
			r := op.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
			if r.Status != 200 || r.JSON["webhook"].(map[string]any)["url"] != full {
				t.Errorf("%s: GET webhook: got %d %s, want its URL %s", when, r.Status, r.Body, full)
			}
			r = op.Do(t, "GET", "/v1/admin/webhooks", nil)
			if ws := objects(t, r, "webhooks"); len(ws) != 1 || ws[0]["url"] != full || ws[0]["url_unavailable"] != nil {
				t.Errorf("%s: list: got %s, want its URL %s", when, r.Body, full)
			}
		}
		shows("sealed")
		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "a delivery to the sealed URL", func() bool { return pr.count(uri) == 1 })

		before := webhookRow(t, s, id)
		res, err := keyring.Rotate(ctx, s.Config.KeyFile, s.Store, keyring.RotateOptions{})
		if err != nil {
			t.Fatalf("keys rotate: %v", err)
		}
		after := webhookRow(t, s, id)
		if string(after["url_key_id"]) != res.DataKey || string(before["url_key_id"]) == res.DataKey || bytes.Equal(after["sealed_url"], before["sealed_url"]) {
			t.Errorf("keys rotate: URL under %s (was %s), want it resealed under %s", after["url_key_id"], before["url_key_id"], res.DataKey)
		}
		keys, err := s.Store.DataKeys(ctx)
		if err != nil || len(keys) != 1 || keys[0].ID != res.DataKey {
			t.Errorf("data keys after keys rotate: %v, %v; want %s alone", keys, err, res.DataKey)
		}
		wantNoClearURL(t, s, id, parts...)
		shows("after keys rotate")
		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "a delivery after keys rotate", func() bool { return pr.count(uri) == 2 })

		// Audit events name the scheme and host alone.
		evs, err := s.Store.Events(ctx, "", 0, 500)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range evs {
			if strings.Contains(e.Detail, "T0KEN") || strings.Contains(e.Detail, "s3cret") {
				t.Errorf("event %s names the URL's path or query: %q", e.Type, e.Detail)
			}
		}
	})
}

// TestWebhookURLUpgrade: a webhook stored before migration 0089, its URL in
// the clear, is delivered to as it is, and sealed by the next server that
// starts on the database, which lists it and delivers to it.
func TestWebhookURLUpgrade(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, ctx := f.s, context.Background()
		pr := newPathReceiver(t)
		const uri = "/hooks/0LD-T0KEN?token=0ld-s3cret"
		full := pr.srv.URL + uri
		id := addWebhook(t, f.opc, full, "test.a")
		// The row as a release before migration 0089 stored it.
		if _, err := writerDB(s).ExecContext(ctx, `UPDATE webhooks SET url = $1, url_key_id = '', sealed_url = NULL WHERE id = $2`, full, id); err != nil {
			t.Fatal(err)
		}
		if r := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil); r.Status != 200 || r.JSON["webhook"].(map[string]any)["url"] != full {
			t.Errorf("GET a webhook stored in the clear: got %d %s", r.Status, r.Body)
		}
		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "a delivery to the URL stored in the clear", func() bool { return pr.count(uri) == 1 })

		// The next start seals it.
		b := testenv.NewServer(t, dsn, allowLoopbackWebhooks, func(c *config.Config) { c.KeyFile = s.Config.KeyFile })
		wantNoClearURL(t, b, id, full, "0LD-T0KEN", "0ld-s3cret", strings.TrimPrefix(pr.srv.URL, "http://"))
		if row := webhookRow(t, b, id); len(row["url_key_id"]) == 0 || len(row["sealed_url"]) == 0 {
			t.Fatalf("after a start: url_key_id %q, sealed_url %d bytes; want it sealed", row["url_key_id"], len(row["sealed_url"]))
		}
		w, err := b.Service.Webhook(ctx, f.op, id)
		if err != nil || w.URL != full {
			t.Fatalf("Webhook after sealing: %q, %v; want %s", w.URL, err, full)
		}
		addEvents(t, b, "test.a", 1, 1)
		deliverUntil(t, b, true, "a delivery after sealing", func() bool { return pr.count(uri) == 2 })
	})
}

// TestWebhookURLUndecryptable: a webhook whose stored URL no longer
// decrypts (bit rot, a bad restore, tampering) is listed, and shown, with
// no URL and url_unavailable saying why, rather than failing the list; its
// deliveries are skipped, recorded as failures with a back-off, and can be
// deleted. Other webhooks go on.
func TestWebhookURLUndecryptable(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, op, ctx := f.s, f.opc, context.Background()
		pr := newPathReceiver(t)
		bad := addWebhook(t, op, pr.srv.URL+"/bad?token=b4d", "test.a")
		good := addWebhook(t, op, pr.srv.URL+"/good", "test.a")
		values, err := s.Store.SealedValues(ctx)
		if err != nil {
			t.Fatal(err)
		}
		flipped := false
		for _, v := range values {
			if v.Table == "webhooks" && v.Column == "url" && v.Row == bad {
				changed := bytes.Clone(v.Ciphertext)
				changed[len(changed)-1] ^= 1
				if ok, err := s.Store.Reseal(ctx, v, v.KeyID, changed); !ok || err != nil {
					t.Fatalf("changing the ciphertext: %v, %v", ok, err)
				}
				flipped = true
			}
		}
		if !flipped {
			t.Fatalf("webhook %s has no sealed URL among the sealed values", bad)
		}

		r := op.Do(t, "GET", "/v1/admin/webhooks", nil)
		ws := objects(t, r, "webhooks")
		if r.Status != 200 || len(ws) != 2 {
			t.Fatalf("list: got %d %s, want both webhooks", r.Status, r.Body)
		}
		for _, w := range ws {
			switch w["id"] {
			case bad:
				if w["url"] != "" || w["url_unavailable"] == nil || w["url_unavailable"] == "" {
					t.Errorf("list: the damaged webhook is %v, want no url and url_unavailable", w)
				}
			case good:
				if w["url"] != pr.srv.URL+"/good" || w["url_unavailable"] != nil {
					t.Errorf("list: the other webhook is %v", w)
				}
			}
		}
		r = op.Do(t, "GET", "/v1/admin/webhooks/"+bad, nil)
		if w, _ := r.JSON["webhook"].(map[string]any); r.Status != 200 || w["url"] != "" || w["url_unavailable"] == nil {
			t.Errorf("GET the damaged webhook: got %d %s", r.Status, r.Body)
		}

		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "the other webhook delivered and the damaged one's failure recorded", func() bool {
			w, err := s.Store.Webhook(ctx, bad)
			return err == nil && w.Status.LastError != "" && pr.count("/good") == 1
		})
		w, err := s.Store.Webhook(ctx, bad)
		if err != nil {
			t.Fatal(err)
		}
		if w.Status.LastError != "url-unreadable" || !w.Status.NextAttemptAt.After(s.Clock.Now()) {
			t.Errorf("status %+v, want url-unreadable and the next attempt later", w.Status)
		}
		if n := pr.count("/bad?token=b4d"); n != 0 {
			t.Errorf("the damaged webhook's URL got %d deliveries", n)
		}
		if r := op.Do(t, "DELETE", "/v1/admin/webhooks/"+bad, nil); r.Status != 204 {
			t.Errorf("delete the damaged webhook: got %d %s", r.Status, r.Body)
		}
	})
}
