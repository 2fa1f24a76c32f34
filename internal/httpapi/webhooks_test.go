package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// allowLoopbackWebhooks lets webhooks go to the test's receiver: http, on
// 127.0.0.1.
var allowLoopbackWebhooks = func(c *config.Config) { c.WebhookAllowHTTP, c.WebhookAllowPrivate = true, true }

// receiver is a webhook receiver on loopback: it records every request,
// answers 500 to as many as it is told to fail, 204 to the others.
type receiver struct {
	srv     *httptest.Server
	mu      sync.Mutex
	fail    int
	tries   int         // requests, failed ones included
	got     []delivered // the requests answered 204
	changed chan struct{}
}

type delivered struct {
	header http.Header
	body   []byte
	events []map[string]any
}

func newReceiver(t *testing.T) *receiver {
	rc := &receiver{changed: make(chan struct{}, 1)}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		defer func() {
			rc.mu.Unlock()
			select {
			case rc.changed <- struct{}{}:
			default:
			}
		}()
		rc.tries++
		if rc.fail > 0 {
			rc.fail--
			w.WriteHeader(500)
			return
		}
		var b struct {
			Events []map[string]any `json:"events"`
		}
		if err := json.Unmarshal(body, &b); err != nil || r.Method != "POST" || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("receiver: got %s %q %q: %v", r.Method, r.Header.Get("Content-Type"), body, err)
		}
		rc.got = append(rc.got, delivered{header: r.Header.Clone(), body: body, events: b.Events})
		w.WriteHeader(204)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

// failNext makes the next n requests fail.
func (rc *receiver) failNext(n int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.fail = n
}

// state returns the number of requests and the deliveries accepted.
func (rc *receiver) state() (int, []delivered) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.tries, slices.Clone(rc.got)
}

// events returns every event accepted, in the order received.
func (rc *receiver) events() []map[string]any {
	_, got := rc.state()
	var out []map[string]any
	for _, d := range got {
		out = append(out, d.events...)
	}
	return out
}

// waitFor waits until cond holds of what the receiver got, failing the
// test if it does not within a minute (deliveries run in the background).
func (rc *receiver) waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(time.Minute)
	for !cond() {
		select {
		case <-rc.changed:
		case <-deadline:
			t.Fatalf("receiver: %s did not happen", what)
		}
	}
}

// deliver runs one round of webhook deliveries as instance "test".
func deliver(t *testing.T, s *testenv.Server, allowPrivate bool) {
	t.Helper()
	if err := s.Service.DeliverWebhooks(context.Background(), webhook.NewSender(allowPrivate), "test"); err != nil {
		t.Fatalf("DeliverWebhooks: %v", err)
	}
}

// deliverUntil runs rounds of webhook deliveries as deliver does until
// cond holds, failing the test if it does not within a minute. On
// PostgreSQL a round delivers only the events of transactions older than
// every one still running in the database, and the server's own sweeps
// run short transactions at any time: a single round may find an event
// not yet deliverable.
func deliverUntil(t *testing.T, s *testenv.Server, allowPrivate bool, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for deliver(t, s, allowPrivate); !cond(); deliver(t, s, allowPrivate) {
		if time.Now().After(deadline) {
			t.Fatalf("deliveries: %s did not happen", what)
		}
		time.Sleep(5 * time.Millisecond) // a pause between rounds, not a time step
	}
}

// addWebhook adds a webhook to url for the event types given, as operator
// client c, and returns its id.
func addWebhook(t *testing.T, c *testenv.Client, url string, events ...string) string {
	t.Helper()
	r := c.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": url, "events": events})
	if r.Status != 201 {
		t.Fatalf("add webhook: got %d %s", r.Status, r.Body)
	}
	return r.JSON["webhook"].(map[string]any)["id"].(string)
}

// eventIDs returns the events' ids, in order.
func eventIDs(evs []map[string]any) []int64 {
	out := make([]int64, 0, len(evs))
	for _, e := range evs {
		out = append(out, int64(e["id"].(float64)))
	}
	return out
}

// addEvents records n events of type typ from each of k goroutines at once.
func addEvents(t *testing.T, s *testenv.Server, typ string, k, n int) {
	t.Helper()
	var wg sync.WaitGroup
	for g := range k {
		wg.Go(func() {
			for i := range n {
				e := twofold.AuditEvent{Type: typ, At: s.Clock.Now(), Detail: fmt.Sprintf("writer %d event %d", g, i)}
				if err := s.Store.AddEvent(context.Background(), e); err != nil {
					t.Errorf("AddEvent: %v", err)
				}
			}
		})
	}
	wg.Wait()
}

// TestWebhooks walks the webhooks of the operator API on both stores: who
// may manage them, what is refused, the secret shown once, deliveries
// signed, complete and in commit order while events are written at once
// (on PostgreSQL with a transaction of a lower event id committing last),
// a retry after a failure, the endpoint disabled after failing three days
// and enabled again with nothing skipped, secret rotation and deletion.
func TestWebhooks(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, op, ctx := f.s, f.opc, context.Background()
		rc := newReceiver(t)

		// Only operators.
		wantProblem(t, f.user.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL}), 403, "forbidden")
		wantProblem(t, f.user.Do(t, "GET", "/v1/admin/webhooks", nil), 403, "forbidden")

		for name, body := range map[string]map[string]any{
			"no url":          {"events": []string{}},
			"ftp":             {"url": "ftp://example.com/x"},
			"relative":        {"url": "/hook"},
			"credentials":     {"url": "https://user:pw@example.com/hook"},
			"fragment":        {"url": "https://example.com/hook#x"},
			"bad event type":  {"url": "https://example.com/hook", "events": []string{"login failed"}},
			"bad prefix":      {"url": "https://example.com/hook", "events": []string{"login*"}},
			"unknown field":   {"url": "https://example.com/hook", "secret": "mine"},
			"too many events": {"url": "https://example.com/hook", "events": strings.Split("a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q,r,s,t,u", ",")},
		} {
			t.Run(name, func(t *testing.T) {
				wantProblem(t, op.Do(t, "POST", "/v1/admin/webhooks", body), 400, "invalid")
			})
		}

		// Made: the secret once.
		r := op.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL + "/hook", "description": "panel"})
		secret := r.String("secret")
		if r.Status != 201 || !strings.HasPrefix(secret, "whsec_") {
			t.Fatalf("create: got %d %s", r.Status, r.Body)
		}
		hook := r.JSON["webhook"].(map[string]any)
		id := hook["id"].(string)
		if r.Header.Get("Location") != "/v1/admin/webhooks/"+id || hook["enabled"] != true || hook["description"] != "panel" {
			t.Errorf("create: got %s", r.Body)
		}
		status := func() map[string]any {
			t.Helper()
			r := op.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
			if r.Status != 200 || strings.Contains(string(r.Body), secret) || strings.Contains(string(r.Body), "secret") {
				t.Fatalf("GET webhook: got %d %s", r.Status, r.Body)
			}
			return r.JSON["webhook"].(map[string]any)
		}
		st := status()["status"].(map[string]any)
		if st["failures"] != float64(0) {
			t.Errorf("status: got %v", st)
		}
		if r := op.Do(t, "GET", "/v1/admin/webhooks", nil); len(objects(t, r, "webhooks")) != 1 || strings.Contains(string(r.Body), secret) {
			t.Errorf("list: got %s", r.Body)
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/webhooks/wh_nothing", nil), 404, "not-found")

		// Events written at once, from many goroutines; on PostgreSQL one
		// transaction takes its event id first and commits last.
		var held chan struct{}
		heldDone := make(chan error, 1)
		if s.Store.Dialect() == store.Postgres {
			held = make(chan struct{})
			wrote := make(chan struct{})
			go func() {
				heldDone <- s.Store.InTx(ctx, func(ctx context.Context) error {
					if err := s.Store.AddEvent(ctx, twofold.AuditEvent{Type: "test.held", At: s.Clock.Now()}); err != nil {
						return err
					}
					close(wrote)
					<-held
					return nil
				})
			}()
			<-wrote
		}
		addEvents(t, s, "test.concurrent", 8, 10)
		wrongPassword(t, s, "dave")
		if held != nil {
			deliverUntil(t, s, true, "the event before the held transaction", func() bool { return len(rc.events()) > 0 })
			for range 3 {
				deliver(t, s, true)
			}
			for _, e := range rc.events() {
				if e["type"] != "webhook.created" {
					t.Fatalf("delivered %v while an older transaction was open: the feed must wait for it", e)
				}
			}
			close(held)
			if err := <-heldDone; err != nil {
				t.Fatal(err)
			}
		}
		// What the audit log holds from the webhook's creation on, as
		// GET /v1/admin/events shows it (the GET itself is no event).
		all := objects(t, op.Do(t, "GET", "/v1/admin/events?after=0&limit=200", nil), "events")
		var want []map[string]any
		for _, e := range all {
			if e["type"] == "webhook.created" || len(want) > 0 {
				want = append(want, e)
			}
		}
		deliverUntil(t, s, true, "every event", func() bool { return len(rc.events()) >= len(want) })
		deliver(t, s, true) // nothing new: nothing sent
		got := rc.events()
		byID := func(evs []map[string]any) map[int64]map[string]any {
			m := map[int64]map[string]any{}
			for _, e := range evs {
				m[int64(e["id"].(float64))] = e
			}
			return m
		}
		if len(got) != len(want) || len(byID(got)) != len(got) {
			t.Fatalf("delivered %d events (%d distinct), want %d: %v", len(got), len(byID(got)), len(want), eventIDs(got))
		}
		if diff := cmp.Diff(byID(want), byID(got)); diff != "" {
			t.Errorf("delivered events differ from GET /v1/admin/events (-want +got):\n%s", diff)
		}
		if s.Store.Dialect() == store.SQLite && !slices.IsSorted(eventIDs(got)) {
			t.Errorf("SQLite: delivered out of id order: %v", eventIDs(got))
		}
		if held != nil {
			at := slices.IndexFunc(got, func(e map[string]any) bool { return e["type"] == "test.held" })
			for i, e := range got {
				if e["type"] == "test.concurrent" && i < at {
					t.Fatalf("an event committed after the held transaction's came before it: %v", eventIDs(got))
				}
			}
		}
		_, ds := rc.state()
		for _, d := range ds {
			ts, sig := d.header.Get(webhook.HeaderTimestamp), d.header.Get(webhook.HeaderSignature)
			if !webhook.Verify([]byte(secret), ts, sig, d.body, s.Clock.Now(), 5*time.Minute) {
				t.Errorf("signature %q of %s does not verify", sig, d.body)
			}
			if webhook.Verify([]byte(secret), ts, sig, append(slices.Clone(d.body), ' '), s.Clock.Now(), 5*time.Minute) ||
				webhook.Verify([]byte(secret), ts, sig, d.body, s.Clock.Now().Add(time.Hour), 5*time.Minute) {
				t.Errorf("a changed body or an old timestamp verifies")
			}
			if d.header.Get(webhook.HeaderID) != id || d.header.Get(webhook.HeaderDelivery) == "" {
				t.Errorf("headers: got %v", d.header)
			}
		}
		if st := status()["status"].(map[string]any); st["last_delivered_at"] == nil || st["cursor"] == nil {
			t.Errorf("status after deliveries: got %v", st)
		}

		// A failure, then the retry after the backoff.
		rc.failNext(1)
		addEvents(t, s, "test.retried", 1, 1)
		tries, _ := rc.state()
		deliverUntil(t, s, true, "a try", func() bool { n, _ := rc.state(); return n > tries })
		tries, _ = rc.state()
		st = status()["status"].(map[string]any)
		if st["failures"] != float64(1) || st["last_error"] != "status-500" || st["next_attempt_at"] == nil {
			t.Fatalf("status after a 500: got %v", st)
		}
		deliver(t, s, true) // not due yet
		if n, _ := rc.state(); n != tries {
			t.Fatalf("tried again before the backoff: %d requests, want %d", n, tries)
		}
		s.Clock.Add(6 * time.Second)
		deliverUntil(t, s, true, "the retry", func() bool { return len(rc.events()) > len(got) })
		if evs := rc.events(); evs[len(evs)-1]["type"] != "test.retried" || len(evs) != len(got)+1 {
			t.Fatalf("after the retry: got %v", eventIDs(evs))
		}
		if st := status()["status"].(map[string]any); st["failures"] != float64(0) || st["last_error"] != nil {
			t.Errorf("status after the retry: got %v", st)
		}

		// Failing for three days: disabled, audited; enabled again,
		// delivery resumes where it stopped.
		rc.failNext(1 << 20)
		addEvents(t, s, "test.while.failing", 1, 1)
		tried := func() {
			t.Helper()
			tries, _ := rc.state()
			deliverUntil(t, s, true, "a try", func() bool { n, _ := rc.state(); return n > tries })
		}
		tried()
		for range 3 {
			s.Clock.Add(24 * time.Hour)
			tried()
		}
		// The operator's session has expired meanwhile: a new one.
		signIn := func() {
			t.Helper()
			loginID, _ := startLogin(t, s, "carol")
			r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.opPhone.secret, s.Clock.Now())})
			if r.Status != 200 {
				t.Fatalf("sign in again: got %d %s", r.Status, r.Body)
			}
			op.Token = r.String("token")
		}
		signIn()
		if h := status(); h["enabled"] != false || h["disabled_at"] == nil {
			t.Fatalf("after three days of failures: got %v", h)
		}
		if countEvents(t, s, f.op.Account.ID, "webhook.disabled") != 1 {
			t.Error("no webhook.disabled event")
		}
		tries, _ = rc.state()
		s.Clock.Add(time.Hour)
		deliver(t, s, true)
		if n, _ := rc.state(); n != tries {
			t.Fatal("a disabled webhook was tried")
		}
		rc.failNext(0)
		signIn()
		if r := op.Do(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil); r.Status != 200 || r.JSON["webhook"].(map[string]any)["enabled"] != true {
			t.Fatalf("enable: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil), 409, "conflict")
		deliverUntil(t, s, true, "the events held back", func() bool { return len(rc.events()) >= len(got)+8 })
		var types []any
		for _, e := range rc.events()[len(got)+1:] {
			types = append(types, e["type"])
		}
		signedIn := []any{"login.password_succeeded", "login.succeeded"} // the operator's two sign-ins
		if want := slices.Concat([]any{"test.while.failing", "webhook.disabled"}, signedIn, signedIn, []any{"webhook.enabled"}); !slices.Equal(types, want) {
			t.Fatalf("after enabling: got %v, want %v", types, want)
		}

		// A new secret signs from then on, and the old one still does for a
		// while (TestWebhookSecretGrace).
		r = op.Do(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", nil)
		secret2 := r.String("secret")
		if r.Status != 200 || secret2 == secret || !strings.HasPrefix(secret2, "whsec_") {
			t.Fatalf("rotate: got %d %s", r.Status, r.Body)
		}
		n := len(rc.events())
		deliverUntil(t, s, true, "a delivery", func() bool { return len(rc.events()) > n })
		_, ds = rc.state()
		last := ds[len(ds)-1]
		ts, sig := last.header.Get(webhook.HeaderTimestamp), last.header.Get(webhook.HeaderSignature)
		if !webhook.Verify([]byte(secret2), ts, sig, last.body, s.Clock.Now(), time.Minute) || !webhook.Verify([]byte(secret), ts, sig, last.body, s.Clock.Now(), time.Minute) {
			t.Errorf("after rotation: the delivery is not signed with both the new and the old secret")
		}

		// Deleted: nothing more.
		if r := op.Do(t, "DELETE", "/v1/admin/webhooks/"+id, nil); r.Status != 204 {
			t.Fatalf("delete: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, op.Do(t, "GET", "/v1/admin/webhooks/"+id, nil), 404, "not-found")
		wantProblem(t, op.Do(t, "DELETE", "/v1/admin/webhooks/"+id, nil), 404, "not-found")
		tries, _ = rc.state()
		addEvents(t, s, "test.after.delete", 1, 1)
		deliver(t, s, true)
		if n, _ := rc.state(); n != tries {
			t.Error("a deleted webhook was tried")
		}
		for _, typ := range []string{"webhook.created", "webhook.secret_rotated", "webhook.enabled", "webhook.deleted"} {
			if n := countEvents(t, s, f.op.Account.ID, typ); n != 1 {
				t.Errorf("%s events: got %d, want 1", typ, n)
			}
		}
	})
}

// TestWebhookTypes checks that a webhook receives only the types and
// prefixes it names, and the events of other types do not hold it back.
func TestWebhookTypes(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		rc := newReceiver(t)
		r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL, "events": []string{"test.a", "test.b.*"}})
		if r.Status != 201 || fmt.Sprint(r.JSON["webhook"].(map[string]any)["events"]) != "[test.a test.b.*]" {
			t.Fatalf("create: got %d %s", r.Status, r.Body)
		}
		for _, typ := range []string{"test.a", "test.ab", "test.b", "test.b.x", "test.c", "test.b.y"} {
			addEvents(t, f.s, typ, 1, 1)
		}
		addEvents(t, f.s, "test.other", 2, 150) // more than a batch of events it does not take
		addEvents(t, f.s, "test.a", 1, 1)
		deliverUntil(t, f.s, true, "four events", func() bool { return len(rc.events()) >= 4 })
		var types []string
		for _, e := range rc.events() {
			types = append(types, e["type"].(string))
		}
		if want := []string{"test.a", "test.b.x", "test.b.y", "test.a"}; !slices.Equal(types, want) {
			t.Errorf("delivered %v, want %v", types, want)
		}
	})
}

// TestWebhookPrivateAddresses checks the defence against request forgery:
// without --webhook-allow-private an address of this machine or a private
// network is refused when given as an IP, and when a name resolves to one
// the delivery is refused and nothing reaches it.
func TestWebhookPrivateAddresses(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, func(c *config.Config) { c.WebhookAllowHTTP = true })
		rc := newReceiver(t)
		for _, u := range []string{rc.srv.URL, "http://[::1]/", "http://10.1.2.3/", "http://169.254.169.254/latest", "http://[::ffff:127.0.0.1]/", "http://0.0.0.0/"} {
			wantProblem(t, f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": u}), 400, "invalid")
		}
		r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": strings.Replace(rc.srv.URL, "127.0.0.1", "localhost", 1)})
		if r.Status != 201 {
			t.Fatalf("create with a name: got %d %s", r.Status, r.Body)
		}
		id := r.JSON["webhook"].(map[string]any)["id"].(string)
		addEvents(t, f.s, "test.event", 1, 1)
		deliverUntil(t, f.s, false, "a failure", func() bool {
			w, err := f.s.Store.Webhook(context.Background(), id)
			return err != nil || w.Status.LastError != ""
		})
		st := f.opc.Do(t, "GET", "/v1/admin/webhooks/"+id, nil).JSON["webhook"].(map[string]any)["status"].(map[string]any)
		if tries, _ := rc.state(); tries != 0 || st["last_error"] != "refused-address" {
			t.Errorf("delivery to localhost: %d requests, status %v; want none, refused-address", tries, st)
		}
	})
}

// TestWebhookHTTPSAndKeys checks that without --webhook-allow-http a
// webhook must be https, and what API keys may do: read with admin
// webhooks read; change with admin webhooks write and, since an endpoint
// receives the audit log, admin events read.
func TestWebhookHTTPSAndKeys(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		wantProblem(t, f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "http://panel.example.com/hook"}), 400, "invalid")
		const full = "https://panel.example.com/hook?token=receivers-own"
		r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": full})
		if r.Status != 201 {
			t.Fatalf("https: got %d %s", r.Status, r.Body)
		}
		id := r.JSON["webhook"].(map[string]any)["id"].(string)

		reader := makeKey(t, f.opc, "hooks read", nil, "admin webhooks read")
		blind := makeKey(t, f.opc, "hooks write", nil, "admin webhooks read,write")
		panel := makeKey(t, f.opc, "panel", nil, "admin webhooks read,write", "admin events read")
		rc, bc, pc := keyClient(f.s, reader.id, reader.secret), keyClient(f.s, blind.id, blind.secret), keyClient(f.s, panel.id, panel.secret)
		// A reader sees where the endpoint is, not the path and query that
		// may hold the receiver's token; whoever may change webhooks sees
		// it whole.
		for _, c := range []struct {
			name      string
			c         *testenv.Client
			url       string
			shortened bool
		}{{"read key", rc, "https://panel.example.com", true}, {"write key without events", bc, "https://panel.example.com", true},
			{"panel key", pc, full, false}, {"operator session", f.opc, full, false}} {
			r := c.c.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
			if r.Status != 200 {
				t.Fatalf("%s: got %d %s", c.name, r.Status, r.Body)
			}
			wh := r.JSON["webhook"].(map[string]any)
			if got, short := wh["url"], wh["url_shortened"] == true; got != c.url || short != c.shortened {
				t.Errorf("%s: url %v shortened %v; want %s %v", c.name, got, short, c.url, c.shortened)
			}
			r = c.c.Do(t, "GET", "/v1/admin/webhooks", nil)
			if list := r.JSON["webhooks"].([]any); len(list) != 1 || list[0].(map[string]any)["url"] != c.url {
				t.Errorf("%s: list %s; want url %s", c.name, r.Body, c.url)
			}
		}
		wantProblem(t, rc.Do(t, "GET", "/v1/admin/events", nil), 403, "forbidden")
		body := map[string]any{"url": "https://panel.example.com/other"}
		for _, c := range []*testenv.Client{rc, bc} {
			wantProblem(t, c.Do(t, "POST", "/v1/admin/webhooks", body), 403, "forbidden")
			wantProblem(t, c.Do(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", nil), 403, "forbidden")
			wantProblem(t, c.Do(t, "DELETE", "/v1/admin/webhooks/"+id, nil), 403, "forbidden")
		}
		if r := pc.Do(t, "POST", "/v1/admin/webhooks", body); r.Status != 201 || r.String("secret") == "" {
			t.Errorf("panel key: got %d %s", r.Status, r.Body)
		}
		if r := pc.Do(t, "DELETE", "/v1/admin/webhooks/"+id, nil); r.Status != 204 {
			t.Errorf("panel key delete: got %d %s", r.Status, r.Body)
		}
		if d := eventWith(t, f.s, f.op.Account.ID, "webhook.deleted"); !strings.Contains(d, panel.id) || strings.Contains(d, "/hook") {
			t.Errorf("webhook.deleted detail %q: want the key named, and no path", d)
		}
	})
}

// TestWebhookTwoInstances runs two servers on one database, each with its
// own delivery loop: every event reaches the one receiver exactly once,
// also when the instance that held the endpoint stops and the other takes
// it over once the lease has run out.
func TestWebhookTwoInstances(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		a := testenv.NewWebhookServer(t, dsn, allowLoopbackWebhooks)
		b := testenv.NewWebhookServer(t, dsn, allowLoopbackWebhooks, func(c *config.Config) { c.KeyFile = a.Config.KeyFile })
		ctx := context.Background()
		if _, err := a.Service.CreateAccount(ctx, core.NewAccount{Username: "carol", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		opc := login(t, b, "carol")
		phone := enrol(t, b, opc, map[string]any{"type": "totp", "label": "phone"})
		if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		rc := newReceiver(t)
		if r := opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL, "events": []string{"test.*"}}); r.Status != 201 {
			t.Fatalf("create: got %d %s", r.Status, r.Body)
		}
		var wg sync.WaitGroup
		wg.Go(func() { addEvents(t, a, "test.a", 4, 25) })
		wg.Go(func() { addEvents(t, b, "test.b", 4, 25) })
		wg.Wait()
		rc.waitFor(t, "200 events", func() bool { return len(rc.events()) >= 200 })

		// The holder stops; the other takes over after the lease.
		a.Close()
		addEvents(t, b, "test.after", 2, 10)
		b.Clock.Add(2 * time.Minute)
		addEvents(t, b, "test.last", 1, 1)
		rc.waitFor(t, "the last event", func() bool {
			evs := rc.events()
			return len(evs) > 0 && evs[len(evs)-1]["type"] == "test.last"
		})
		got := eventIDs(rc.events())
		seen := map[int64]bool{}
		for _, id := range got {
			if seen[id] {
				t.Fatalf("event %d delivered twice: %v", id, got)
			}
			seen[id] = true
		}
		if len(got) != 221 {
			t.Errorf("delivered %d events, want 221", len(got))
		}
	})
}

// TestWebhookOutlivesNoOperator: a webhook hands out the whole audit log,
// so once the operator who made it is no operator any more it stops
// (disabled, on the record) until another operator turns it on and
// answers for it.
func TestWebhookOutlivesNoOperator(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, ctx := f.s, context.Background()
		rc := newReceiver(t)
		id := addWebhook(t, f.opc, rc.srv.URL, "test.a")
		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "the first event", func() bool { return len(rc.events()) == 1 })

		if _, err := s.Service.SetOperatorByName(ctx, "carol", false, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		addEvents(t, s, "test.a", 1, 1)
		for range 3 {
			deliver(t, s, true)
		}
		if n := len(rc.events()); n != 1 {
			t.Fatalf("the receiver got %d events after its maker's demotion, want 1", n)
		}
		w, err := s.Store.Webhook(ctx, id)
		if err != nil || w.DisabledAt.IsZero() {
			t.Fatalf("the webhook after its maker's demotion: disabled at %v (%v), want disabled", w.DisabledAt, err)
		}
		if n := countEvents(t, s, f.op.Account.ID, "webhook.disabled"); n != 1 {
			t.Errorf("got %d webhook.disabled events, want 1", n)
		}

		// Another operator turns it on, and answers for it: nothing skipped.
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "olga", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		olga := login(t, s, "olga")
		phone := enrol(t, s, olga, map[string]any{"type": "totp", "label": "phone"})
		if r := olga.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := olga.Do(t, "POST", "/v1/admin/webhooks/"+id+"/enable", nil); r.Status != 200 {
			t.Fatalf("enable: got %d %s", r.Status, r.Body)
		}
		deliverUntil(t, s, true, "the second event", func() bool { return len(rc.events()) == 2 })
	})
}

// TestWebhookLimit: a server has at most core.MaxWebhooks endpoints.
func TestWebhookLimit(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		for i := range core.MaxWebhooks {
			if r := f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": fmt.Sprintf("https://panel.example.com/hook/%d", i)}); r.Status != 201 {
				t.Fatalf("webhook %d: got %d %s", i+1, r.Status, r.Body)
			}
		}
		wantProblem(t, f.opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": "https://panel.example.com/one-more"}), 409, "conflict")
	})
}

// TestWebhookSecretUnreadable: an instance that cannot open a webhook's
// secret (its key file lacks the key, or the value is damaged) records a
// failure and backs off, rather than trying again every second; nothing is
// sent unsigned.
func TestWebhookSecretUnreadable(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, ctx := f.s, context.Background()
		rc := newReceiver(t)
		id := addWebhook(t, f.opc, rc.srv.URL, "test.a")
		w, err := s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		// Under the webhook's own data key, bytes that key never sealed:
		// opening them fails, as it would for a damaged or foreign value.
		if ok, err := s.Store.SetWebhookSecret(ctx, id, w.SecretKeyID, w.SealedSecret, w.SecretKeyID, []byte("bytes that key never sealed, too long to pass for nothing"), "", nil, time.Time{}); err != nil || !ok {
			t.Fatalf("SetWebhookSecret: %v, %v", ok, err)
		}
		addEvents(t, s, "test.a", 1, 1)
		deliverUntil(t, s, true, "the failure recorded", func() bool {
			w, err := s.Store.Webhook(ctx, id)
			return err == nil && w.Status.LastError != ""
		})
		w, err = s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.Status.LastError != "secret-unreadable" || !w.Status.NextAttemptAt.After(s.Clock.Now()) {
			t.Errorf("status %+v, want the failure recorded and the next attempt later", w.Status)
		}
		if n, _ := rc.state(); n != 0 {
			t.Errorf("the receiver got %d requests", n)
		}
	})
}

// TestWebhookSecretGrace checks the grace period of a rotated secret on
// both stores: for 24 hours each delivery carries the new and the old
// signature, so that a receiver holding either accepts it; a second
// rotation meanwhile keeps the then-current secret as the previous one;
// `keys rotate` reseals the previous secret and its data key goes; once
// the grace ends only the new secret signs and the old one is cleared.
// Neither secret is ever shown by GET.
func TestWebhookSecretGrace(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s, op, ctx := f.s, f.opc, context.Background()
		rc := newReceiver(t)
		r := op.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL, "events": []string{"test.a"}})
		if r.Status != 201 {
			t.Fatalf("create: got %d %s", r.Status, r.Body)
		}
		id, secret1 := r.JSON["webhook"].(map[string]any)["id"].(string), r.String("secret")
		if _, ok := r.JSON["webhook"].(map[string]any)["previous_secret_until"]; ok {
			t.Errorf("a new webhook shows previous_secret_until: %s", r.Body)
		}
		rotate := func() string {
			t.Helper()
			r := op.Do(t, "POST", "/v1/admin/webhooks/"+id+"/rotate-secret", nil)
			if r.Status != 200 || !strings.HasPrefix(r.String("secret"), "whsec_") {
				t.Fatalf("rotate: got %d %s", r.Status, r.Body)
			}
			want := s.Clock.Now().Add(24 * time.Hour).Format(time.RFC3339Nano)
			if got, _ := r.JSON["webhook"].(map[string]any)["previous_secret_until"].(string); got != want {
				t.Errorf("rotate: previous_secret_until %q, want %q", got, want)
			}
			return r.String("secret")
		}
		// next delivers one more event and returns the signature header and
		// whether each of secrets verifies the delivery.
		next := func(secrets ...string) (string, []bool) {
			t.Helper()
			_, ds := rc.state()
			addEvents(t, s, "test.a", 1, 1)
			deliverUntil(t, s, true, "a delivery", func() bool { _, got := rc.state(); return len(got) > len(ds) })
			_, ds = rc.state()
			last := ds[len(ds)-1]
			ts, sig := last.header.Get(webhook.HeaderTimestamp), last.header.Get(webhook.HeaderSignature)
			var ok []bool
			for _, sec := range secrets {
				ok = append(ok, webhook.Verify([]byte(sec), ts, sig, last.body, s.Clock.Now(), time.Minute))
			}
			return sig, ok
		}

		secret2 := rotate()
		r = op.Do(t, "GET", "/v1/admin/webhooks/"+id, nil)
		if r.Status != 200 || r.JSON["webhook"].(map[string]any)["previous_secret_until"] == nil {
			t.Fatalf("GET after rotation: got %d %s, want previous_secret_until", r.Status, r.Body)
		}
		for _, path := range []string{"/v1/admin/webhooks/" + id, "/v1/admin/webhooks"} {
			body := string(op.Do(t, "GET", path, nil).Body)
			for _, sec := range []string{secret1, secret2, strings.TrimPrefix(secret1, "whsec_"), strings.TrimPrefix(secret2, "whsec_")} {
				if strings.Contains(body, sec) {
					t.Fatalf("GET %s shows a secret", path)
				}
			}
		}
		sig, ok := next(secret1, secret2, "whsec_neither")
		if want := []bool{true, true, false}; !slices.Equal(ok, want) || strings.Count(sig, "v1=") != 2 {
			t.Fatalf("after rotation: old, new, other secret verify %v, want %v (header with %d entries)", ok, want, strings.Count(sig, "v1="))
		}

		// keys rotate reseals the previous secret too, and the data key it
		// was sealed under goes.
		before, err := s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		res, err := keyring.Rotate(ctx, s.Config.KeyFile, s.Store, keyring.RotateOptions{})
		if err != nil {
			t.Fatalf("keys rotate: %v", err)
		}
		after, err := s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if after.PreviousSecretKeyID != res.DataKey || after.PreviousSecretKeyID == before.PreviousSecretKeyID ||
			slices.Equal(after.PreviousSealedSecret, before.PreviousSealedSecret) || !after.PreviousSecretUntil.Equal(before.PreviousSecretUntil) {
			t.Fatalf("keys rotate: previous secret under %s (was %s), want resealed under %s", after.PreviousSecretKeyID, before.PreviousSecretKeyID, res.DataKey)
		}
		keys, err := s.Store.DataKeys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			if k.ID == before.PreviousSecretKeyID {
				t.Errorf("keys rotate kept the data key %s the previous secret was sealed under", k.ID)
			}
		}
		if _, ok := next(secret1, secret2); !slices.Equal(ok, []bool{true, true}) {
			t.Fatalf("after keys rotate: old, new secret verify %v, want both", ok)
		}

		// A second rotation within the grace: the then-current secret is
		// the previous one.
		s.Clock.Add(time.Minute) // within the elevation
		secret3 := rotate()
		if _, ok := next(secret1, secret2, secret3); !slices.Equal(ok, []bool{false, true, true}) {
			t.Fatalf("after a second rotation: first, second, third secret verify %v, want the last two", ok)
		}

		// The grace over (24 h after the second rotation): the new secret
		// alone, the old one cleared.
		s.Clock.Add(24 * time.Hour)
		sig, ok = next(secret2, secret3)
		if !slices.Equal(ok, []bool{false, true}) || strings.Count(sig, "v1=") != 1 {
			t.Fatalf("after the grace: old, new secret verify %v, want the new alone (header with %d entries)", ok, strings.Count(sig, "v1="))
		}
		w, err := s.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if w.PreviousSealedSecret != nil || w.PreviousSecretKeyID != "" || !w.PreviousSecretUntil.IsZero() {
			t.Errorf("after the grace: previous secret still stored (under %q until %v)", w.PreviousSecretKeyID, w.PreviousSecretUntil)
		}
		shown, err := s.Service.Webhook(ctx, f.op, id)
		if err != nil || !shown.PreviousSecretUntil.IsZero() {
			t.Errorf("after the grace: Webhook shows previous secret until %v, %v", shown.PreviousSecretUntil, err)
		}
	})
}

// TestWebhookHTTPWhereNotAllowed: an http:// endpoint added on a server
// started with --webhook-allow-http is not delivered to by an instance on
// the same database without it (nor by that server once restarted without
// it): the try fails as refused-scheme and nothing reaches the receiver in
// clear text. The instance that allows http delivers it.
func TestWebhookHTTPWhereNotAllowed(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		strict := testenv.NewServer(t, dsn, func(c *config.Config) { c.WebhookAllowPrivate, c.KeyFile = true, f.s.Config.KeyFile })
		ctx := context.Background()
		rc := newReceiver(t)
		id := addWebhook(t, f.opc, rc.srv.URL, "test.a")
		addEvents(t, f.s, "test.a", 1, 1)
		deliverUntil(t, strict, true, "the failure recorded", func() bool {
			w, err := strict.Store.Webhook(ctx, id)
			return err != nil || w.Status.LastError != ""
		})
		w, err := strict.Store.Webhook(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := rc.state(); n != 0 || w.Status.LastError != "refused-scheme" {
			t.Errorf("delivery by the instance without --webhook-allow-http: %d requests, status %+v; want none, refused-scheme", n, w.Status)
		}
		f.s.Clock.Add(time.Minute) // the retry is due
		deliverUntil(t, f.s, true, "the event delivered", func() bool { return len(rc.events()) == 1 })
	})
}

// TestWebhookEventsNeverHeld: an operator's changes to the webhooks are
// never held back by the bound on one type's events (core.EventBurst):
// after a burst of throwaway endpoints made and deleted, the one that
// stays is on the record too.
func TestWebhookEventsNeverHeld(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn)
		n := core.EventBurst + 3
		for i := range n {
			id := addWebhook(t, f.opc, fmt.Sprintf("https://hooks%d.example.com/h", i), "test.a")
			if r := f.opc.Do(t, "DELETE", "/v1/admin/webhooks/"+id, nil); r.Status != 204 {
				t.Fatalf("delete: got %d %s", r.Status, r.Body)
			}
		}
		addWebhook(t, f.opc, "https://kept.example.com/h", "test.a")
		a := accountID(t, f.s, "carol")
		if got := countEvents(t, f.s, a, "webhook.created"); got != n+1 {
			t.Errorf("webhook.created events: got %d, want %d", got, n+1)
		}
		if got := countEvents(t, f.s, a, "webhook.deleted"); got != n {
			t.Errorf("webhook.deleted events: got %d, want %d", got, n)
		}
		if got := countEvents(t, f.s, a, "audit.suppressed"); got != 0 {
			t.Errorf("audit.suppressed events: got %d, want none", got)
		}
	})
}

// TestWebhookEventsAsTheAPIShowsThem: each delivered event is exactly what
// GET /v1/admin/events shows of it: with the subject of an API key's
// event, and a user agent stored raw (before it was cleaned as it is
// stored) cleaned of hidden characters.
func TestWebhookEventsAsTheAPIShowsThem(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		rc := newReceiver(t)
		addWebhook(t, f.opc, rc.srv.URL, "api_key.*", "login.password_failed")
		makeKey(t, f.opc, "deploy", nil, "account * read")
		a := accountID(t, f.s, "carol")
		raw := twofold.AuditEvent{AccountID: a, Type: "login.password_failed", At: f.s.Clock.Now(), Source: "203.0.113.9", UserAgent: "curl/8\u202egnp.exe"}
		if err := f.s.Store.AddEvent(context.Background(), raw); err != nil {
			t.Fatal(err)
		}
		deliverUntil(t, f.s, true, "two events", func() bool { return len(rc.events()) >= 2 })
		r := f.opc.Do(t, "GET", "/v1/admin/events?type=api_key.created&type=login.password_failed", nil)
		if r.Status != 200 {
			t.Fatalf("admin events: got %d %s", r.Status, r.Body)
		}
		shown := map[float64]map[string]any{}
		for _, e := range objects(t, r, "events") {
			shown[e["id"].(float64)] = e
		}
		sawSubject := false
		for _, e := range rc.events() {
			want, ok := shown[e["id"].(float64)]
			if !ok {
				t.Fatalf("delivered %v, which the API does not show", e)
			}
			if d := cmp.Diff(want, e); d != "" {
				t.Errorf("a delivered event is not as the API shows it (-API +delivered):\n%s", d)
			}
			if strings.ContainsRune(fmt.Sprint(e["user_agent"]), '\u202e') {
				t.Errorf("delivered a user agent with a hidden character: %q", e["user_agent"])
			}
			_, has := e["subject"]
			sawSubject = sawSubject || has
		}
		if !sawSubject {
			t.Error("no delivered event names its subject (the API key made)")
		}
	})
}
