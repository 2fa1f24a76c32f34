package httpapi_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
	"github.com/twofold/twofold/internal/webhook"
)

// heldReceiver is a webhook receiver on loopback that holds every request
// until released, then answers 204.
type heldReceiver struct {
	srv     *httptest.Server
	arrived chan struct{} // a request came in
	release chan struct{} // closed: answer
	once    sync.Once
	ended   atomic.Int32 // requests that ended before the release (the sender gave up)
}

func newHeldReceiver(t *testing.T) *heldReceiver {
	h := &heldReceiver{arrived: make(chan struct{}, 100), release: make(chan struct{})}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.arrived <- struct{}{}
		select {
		case <-h.release:
			w.WriteHeader(204)
		case <-r.Context().Done():
			h.ended.Add(1)
		}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// let releases the requests held and the ones to come.
func (h *heldReceiver) let() { h.once.Do(func() { close(h.release) }) }

// TestWebhookSlowReceiver runs the server's own delivery loop with two
// endpoints, one whose receiver holds its first delivery: the other keeps
// receiving new events while it is held, and the held one gets the rest
// once it answers.
func TestWebhookSlowReceiver(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		s := testenv.NewWebhookServer(t, dsn, allowLoopbackWebhooks)
		slow := newHeldReceiver(t)
		t.Cleanup(slow.let) // before the server closes, which waits for the delivery held
		fast := newReceiver(t)
		ctx := context.Background()
		if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "carol", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		opc := login(t, s, "carol")
		phone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
		if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		var slowID string
		for _, url := range []string{slow.srv.URL, fast.srv.URL} {
			r := opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": url, "events": []string{"test.*"}})
			if r.Status != 201 {
				t.Fatalf("create: got %d %s", r.Status, r.Body)
			}
			if slowID == "" {
				slowID = r.JSON["webhook"].(map[string]any)["id"].(string)
			}
		}

		addEvents(t, s, "test.first", 1, 1)
		select {
		case <-slow.arrived:
		case <-time.After(time.Minute):
			t.Fatal("the slow receiver got no delivery")
		}
		// While the slow receiver holds its delivery, new events reach the
		// fast one.
		addEvents(t, s, "test.second", 1, 3)
		fast.waitFor(t, "the events after the slow receiver's hold", func() bool { return len(fast.events()) >= 4 })
		if n := slow.ended.Load(); n != 0 {
			t.Errorf("the slow delivery ended (%d) before the fast receiver got the later events", n)
		}
		w, err := s.Store.Webhook(ctx, slowID)
		if err != nil {
			t.Fatal(err)
		}
		if w.Status.Failures != 0 || !w.Status.LastDeliveredAt.IsZero() {
			t.Errorf("the slow delivery was recorded before the fast receiver got the later events: %+v", w.Status)
		}
		if got := len(slow.arrived); got != 0 {
			t.Errorf("the slow receiver got %d more requests while one was held", got)
		}

		// Released, the slow receiver gets the later events.
		slow.let()
		select {
		case <-slow.arrived:
		case <-time.After(time.Minute):
			t.Fatal("the slow receiver got no second delivery")
		}
		var types []string
		for _, e := range fast.events() {
			types = append(types, e["type"].(string))
		}
		if want := []string{"test.first", "test.second", "test.second", "test.second"}; !slices.Equal(types, want) {
			t.Errorf("fast receiver got %v, want %v", types, want)
		}
	})
}

// TestWebhookLeaseReleasedOnShutdown: an instance that stops while a
// delivery is in flight finishes it and hands the endpoint over at once,
// so that another instance need not wait for the lease to run out.
func TestWebhookLeaseReleasedOnShutdown(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		f := newResetFixture(t, dsn, allowLoopbackWebhooks)
		s := f.s
		held := newHeldReceiver(t)
		t.Cleanup(held.let)
		id := addWebhook(t, f.opc, held.srv.URL, "test.*")
		addEvents(t, s, "test.one", 1, 1)
		ctx, stop := context.WithCancel(context.Background())
		d := s.Service.NewWebhookDispatcher(webhook.NewSender(true), "instance-a")
		deadline := time.Now().Add(time.Minute)
	wait:
		for {
			if err := d.Start(ctx); err != nil {
				t.Fatal(err)
			}
			select {
			case <-held.arrived:
				break wait
			case <-time.After(10 * time.Millisecond): // a pause between rounds, not a time step
			}
			if time.Now().After(deadline) {
				t.Fatal("no delivery arrived")
			}
		}
		stop() // shutting down while the delivery is in flight
		held.let()
		d.Wait()
		now := s.Clock.Now()
		if ok, err := s.Store.ClaimWebhook(context.Background(), id, "instance-b", now, now.Add(time.Minute)); err != nil || !ok {
			t.Errorf("another instance claims the endpoint after the first stopped: %v, %v; want it at once", ok, err)
		}
	})
}
