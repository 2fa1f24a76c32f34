package main

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// drillReceiver is a webhook receiver on loopback that checks each
// delivery's signature and records the ids of the events it received.
type drillReceiver struct {
	srv    *httptest.Server
	mu     sync.Mutex
	secret []byte
	ids    map[int64]bool
	bad    []string // deliveries refused, and why

	// While held is open, deliveries wait for it to close and are then
	// refused unrecorded (a receiver that never answered them).
	held    chan struct{}
	arrived chan struct{} // a held delivery came in
}

func newDrillReceiver(t *testing.T) *drillReceiver {
	t.Helper()
	r := &drillReceiver{ids: map[int64]bool{}, arrived: make(chan struct{}, 100)}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, err := io.ReadAll(req.Body)
		if err != nil {
			w.WriteHeader(400)
			return
		}
		r.mu.Lock()
		held := r.held
		r.mu.Unlock()
		if held != nil {
			r.arrived <- struct{}{}
			<-held
			w.WriteHeader(503)
			return
		}
		r.mu.Lock()
		defer r.mu.Unlock()
		// The signature over the body with the secret shown at the
		// endpoint's creation, also from the server on the restored
		// database; the timestamp against itself, as the servers' clocks
		// differ here (a test clock before the dump, the real one after).
		ts := req.Header.Get("Twofold-Timestamp")
		n, _ := strconv.ParseInt(ts, 10, 64)
		if !webhook.Verify(r.secret, ts, req.Header.Get("Twofold-Signature"), body, time.Unix(n, 0), time.Minute) {
			r.bad = append(r.bad, "a delivery with a bad signature")
			w.WriteHeader(401)
			return
		}
		var d struct {
			Events []struct {
				ID int64 `json:"id"`
			} `json:"events"`
		}
		if err := json.Unmarshal(body, &d); err != nil {
			r.bad = append(r.bad, "an undecodable delivery: "+err.Error())
			w.WriteHeader(400)
			return
		}
		for _, e := range d.Events {
			r.ids[e.ID] = true
		}
		w.WriteHeader(204)
	}))
	t.Cleanup(r.srv.Close)
	t.Cleanup(r.release) // before the server closes, which waits for a delivery held
	return r
}

// hold makes the deliveries that follow wait until release.
func (r *drillReceiver) hold() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.held = make(chan struct{})
}

// release refuses the deliveries held, and accepts the next ones.
func (r *drillReceiver) release() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.held != nil {
		close(r.held)
		r.held = nil
	}
}

// missing returns the ids of events stored in dsn, from the webhook's
// creation (event id from) on, that the receiver has not received.
func (r *drillReceiver) missing(t *testing.T, dsn string, from int64) []int64 {
	t.Helper()
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	evs, err := st.Events(context.Background(), "", 0, 10000)
	if err != nil {
		t.Fatal(err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int64
	for _, e := range evs {
		if e.ID >= from && !r.ids[e.ID] {
			out = append(out, e.ID)
		}
	}
	slices.Sort(out)
	return out
}

// waitAll waits until the receiver has every event stored in dsn from
// the webhook's creation on, failing when a minute passes first (a
// deadline, not a timed assertion: a skipped event never comes, a
// stalled cursor never moves).
func (r *drillReceiver) waitAll(t *testing.T, dsn string, from int64, what string) {
	t.Helper()
	var miss []int64
	for end := time.Now().Add(time.Minute); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if miss = r.missing(t, dsn, from); len(miss) == 0 {
			break
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		t.Errorf("%s: the receiver refused deliveries: %v", what, r.bad)
	}
	if len(miss) > 0 {
		t.Fatalf("%s: events never delivered: %v (received %d events)", what, miss, len(r.ids))
	}
}

// TestRestoreDrillPostgres is the restore drill (README "Backup and
// restore"): a Twofold database on one PostgreSQL cluster, with a webhook
// endpoint that has received events, events not yet delivered and sessions,
// is dumped with pg_dump, restored with pg_restore into a second cluster,
// mended by `twofold restore --db`, and served by `twofold serve`: the
// webhook receives every event not yet delivered and every new one (the
// cursor, reckoned in the old cluster's transaction ids, is re-based), the
// sessions from before stay ended, and users sign in. Both clusters are
// the test's own (initdb): the first has run four billion transactions
// (pg_resetwal), as a long-lived one may, the second is fresh, so the
// restored transaction ids are far above the new cluster's, as after a
// real move; and the other way round.
func TestRestoreDrillPostgres(t *testing.T) {
	const long = 1<<32 + 1<<20 // the second epoch: transaction ids above 2^32
	for _, tt := range []struct {
		name           string
		oldXID, newXID uint64
	}{
		{"into a fresh cluster", long, 0},
		{"into a cluster further on", 0, long},
	} {
		t.Run(tt.name, func(t *testing.T) { restoreDrill(t, tt.oldXID, tt.newXID) })
	}
}

func restoreDrill(t *testing.T, oldXID, newXID uint64) {
	ctx := context.Background()
	oldCluster := testenv.NewPostgresCluster(t, oldXID)
	oldDSN := oldCluster.CreateDatabase(t, "twofold")
	keyFile := filepath.Join(t.TempDir(), "twofold.key")
	allowLoopback := func(c *config.Config) { c.WebhookAllowHTTP, c.WebhookAllowPrivate = true, true }

	// On the old cluster: an operator with TOTP adds a webhook endpoint,
	// which receives the events that follow; alice signs in.
	s := testenv.NewWebhookServer(t, oldDSN, keysWithKeyFile(keyFile), allowLoopback)
	s.Clock.Set(time.Now()) // leases and times as a server's in production
	for _, a := range []core.NewAccount{{Username: "carol", Email: "carol@example.com", Password: keysPassword, Operator: true},
		{Username: "alice", Email: "alice@example.com", Password: keysPassword}} {
		if _, err := s.Service.CreateAccount(ctx, a, core.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	carol := drillLogin(t, s.URL(), "carol", "", time.Time{})
	fid, secret := keysEnrolTOTP(t, s, carol, "phone", false)
	confirmed := s.Clock.Now()
	code := testenv.TOTP(t, secret, confirmed)
	r := carol.Do(t, "POST", "/v1/me/factors/"+fid+"/confirm", map[string]string{"code": code})
	if r.Status != 200 {
		t.Fatalf("confirm: got %d %s", r.Status, r.Body)
	}
	recovery := r.JSON["recovery_codes"].([]any)
	if r := carol.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": recovery[0].(string)}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	rcv := newDrillReceiver(t)
	r = carol.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rcv.srv.URL, "events": []string{}})
	if r.Status != 201 {
		t.Fatalf("create webhook: got %d %s", r.Status, r.Body)
	}
	webhookID := r.JSON["webhook"].(map[string]any)["id"].(string)
	rcv.mu.Lock()
	rcv.secret = []byte(r.String("secret"))
	rcv.mu.Unlock()
	var created int64
	evs, err := s.Store.Events(ctx, "", 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs {
		if e.Type == "webhook.created" {
			created = e.ID
		}
	}
	sessions := []*testenv.Client{carol, drillLogin(t, s.URL(), "alice", "", time.Time{})}
	for range 3 {
		if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password!"}); r.Status != 401 {
			t.Fatalf("wrong password: got %d %s", r.Status, r.Body)
		}
	}
	rcv.waitAll(t, oldDSN, created, "before the dump")

	// Then the dump, made while the server runs, a delivery in flight:
	// its events, alice's sign-in and a wrong password, are not received
	// (the receiver refuses them once the dump is made).
	rcv.hold()
	sessions = append(sessions, drillLogin(t, s.URL(), "alice", "", time.Time{}))
	if r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password!"}); r.Status != 401 {
		t.Fatalf("wrong password: got %d %s", r.Status, r.Body)
	}
	select {
	case <-rcv.arrived:
	case <-time.After(time.Minute):
		t.Fatal("no delivery of the events before the dump")
	}
	undelivered := rcv.missing(t, oldDSN, created)
	if len(undelivered) < 2 {
		t.Fatalf("events not delivered at the dump: %v, want the last sign-ins", undelivered)
	}
	var oldTxID int64
	if err := oldCluster.Open(t, "twofold").QueryRowContext(ctx, `SELECT MAX(txid::text::bigint) FROM audit_events`).Scan(&oldTxID); err != nil {
		t.Fatal(err)
	}
	dump := filepath.Join(t.TempDir(), "twofold.dump")
	if out, err := exec.Command(oldCluster.Tool("pg_dump"), "--format=custom", "--file", dump, "--dbname", oldDSN).CombinedOutput(); err != nil {
		t.Fatalf("pg_dump: %v\n%s", err, out)
	}
	rcv.release()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// The old cluster is gone.
	if err := oldCluster.Stop(); err != nil {
		t.Fatal(err)
	}

	// The new cluster: pg_restore, then twofold restore.
	newCluster := testenv.NewPostgresCluster(t, newXID)
	newDSN := newCluster.CreateDatabase(t, "twofold")
	if out, err := exec.Command(newCluster.Tool("pg_restore"), "--no-owner", "--exit-on-error", "--dbname", newDSN, dump).CombinedOutput(); err != nil {
		t.Fatalf("pg_restore: %v\n%s", err, out)
	}
	var newTxID int64
	if err := newCluster.Open(t, "twofold").QueryRowContext(ctx, `SELECT pg_current_xact_id()::text::bigint`).Scan(&newTxID); err != nil {
		t.Fatal(err)
	}
	if (newTxID < oldTxID) != (oldXID > newXID) {
		t.Fatalf("the new cluster's transaction id %d, the restored events' up to %d: not the case this drill is for", newTxID, oldTxID)
	}
	tm := newTestMain(t, time.Now(), "")
	if err := tm.run(t, "restore", "--db", newDSN, "--key-file", keyFile); err != nil {
		t.Fatalf("restore: %v\n%s", err, tm.stderr)
	}
	if want := strconv.Itoa(len(sessions)) + " sessions ended"; !strings.Contains(tm.stdout.String(), want) {
		t.Errorf("restore said %q, want %q", tm.stdout, want)
	}

	// No server of the old cluster holds the endpoint any more: the lease
	// taken for the delivery in flight at the dump is over, and an
	// instance on the new cluster takes it at once.
	st, err := store.Open(ctx, newDSN)
	if err != nil {
		t.Fatal(err)
	}
	due, err := st.DueWebhooks(ctx, "an instance on the new cluster", time.Now())
	st.Close()
	if err != nil || !slices.Equal(due, []string{webhookID}) {
		t.Errorf("webhooks due after the restore: %v, %v; want %s", due, err, webhookID)
	}

	// twofold serve on the restored database.
	srv := newTestMain(t, time.Now(), "")
	srv.Now = time.Now
	srvCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() {
		done <- srv.Run(srvCtx, []string{"serve", "--listen", "127.0.0.1:0", "--db", newDSN, "--key-file", keyFile,
			"--webhook-allow-http", "--webhook-allow-private"})
	}()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(time.Minute):
			t.Error("serve did not stop within a minute")
		}
		if err := srv.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	url := waitListening(t, srv.stdout, done)

	for i, old := range sessions {
		c := testenv.NewClient(url)
		c.Token = old.Token
		if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
			t.Errorf("session %d from before the dump, after the restore: got %d %s, want 401", i, r.Status, r.Body)
		}
	}
	// The events not delivered at the dump come, and those of the new
	// cluster after them: sign-ins, with carol's TOTP secret read under
	// the key file. Her code is of a later time step than the one that
	// confirmed the factor (restored: it is not accepted twice), at most
	// one ahead of the server's clock.
	at := time.Now()
	if next := confirmed.Add(30 * time.Second); at.Before(next) {
		at = next
	}
	drillLogin(t, url, "carol", secret, at)
	rcv.waitAll(t, newDSN, created, "after the restore")
	for i := range 3 {
		if r := testenv.NewClient(url).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": "wrong password!"}); r.Status != 401 {
			t.Fatalf("wrong password: got %d %s", r.Status, r.Body)
		}
		rcv.waitAll(t, newDSN, created, "later event "+strconv.Itoa(i))
	}
	alice := drillLogin(t, url, "alice", "", time.Time{})
	if r := alice.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
		t.Errorf("GET /v1/me after signing in on the restored database: got %d %s", r.Status, r.Body)
	}
	rcv.waitAll(t, newDSN, created, "the last sign-in")
}

// drillLogin signs username in at the server at base with keysPassword
// and, when asked for it, a TOTP code of secret at now.
func drillLogin(t *testing.T, base, username, secret string, now time.Time) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(base)
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": keysPassword})
	if r.Status == 200 && r.String("status") == "second_factor_required" {
		r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, now)})
	}
	if r.Status != 200 || r.String("token") == "" {
		t.Fatalf("sign-in of %s: got %d %s, want 200 with a token", username, r.Status, r.Body)
	}
	c.Token = r.String("token")
	return c
}
