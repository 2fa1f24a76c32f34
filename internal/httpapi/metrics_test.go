package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/store"
	"github.com/twofold/twofold/internal/testenv"
)

// scrape reads the server's /metrics as metric families.
func scrape(t *testing.T, s *testenv.Server) map[string]*dto.MetricFamily {
	t.Helper()
	res, err := http.Get(s.URL() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// poolValue returns the value of family name's series for pool db.
func poolValue(t *testing.T, fams map[string]*dto.MetricFamily, name, db string) (float64, bool) {
	t.Helper()
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "db_name" && l.GetValue() == db {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// TestStoreMetrics: /metrics shows the database pools' statistics on both
// stores, and on SQLite how many second steps each group commit carried and
// how long it took (issue 6: what an operator watches when the store is the
// limit).
func TestStoreMetrics(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		_, f := phoneUser(t, s, "mo")
		const logins = 3
		for range logins {
			s.Clock.Add(30 * time.Second)
			id, _ := startLogin(t, s, "mo")
			if r := verify(t, s, id, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}); r.Status != 200 {
				t.Fatalf("verify: got %d %s", r.Status, r.Body)
			}
		}
		fams := scrape(t, s)

		pools := map[string]float64{"pool": 0} // the most open connections each pool allows; 0: no limit
		if s.Store.Dialect() == store.SQLite {
			pools = map[string]float64{"writer": 1, "reader": 8}
		}
		for db, max := range pools {
			got, ok := poolValue(t, fams, "go_sql_max_open_connections", db)
			if !ok {
				t.Errorf("no go_sql_max_open_connections for pool %q", db)
			} else if max != 0 && got != max {
				t.Errorf("pool %q: got at most %v open connections, want %v", db, got, max)
			}
			if _, ok := poolValue(t, fams, "go_sql_open_connections", db); !ok {
				t.Errorf("no go_sql_open_connections for pool %q", db)
			}
		}

		steps, took := fams["twofold_store_commit_steps"], fams["twofold_store_commit_duration_seconds"]
		if s.Store.Dialect() != store.SQLite {
			if steps != nil || took != nil || fams["twofold_store_queued_steps"] != nil {
				t.Error("PostgreSQL has no group commit, yet /metrics shows its histograms")
			}
			return
		}
		if steps == nil || took == nil {
			t.Fatal("no group commit histograms on SQLite")
		}
		h := steps.GetMetric()[0].GetHistogram()
		// Each verification above ran alone, so each commit carried one step.
		if h.GetSampleCount() != logins || h.GetSampleSum() != logins {
			t.Errorf("commit steps: got %d commits carrying %v steps, want %d carrying %d", h.GetSampleCount(), h.GetSampleSum(), logins, logins)
		}
		if q := fams["twofold_store_queued_steps"]; q == nil || q.GetMetric()[0].GetGauge().GetValue() != 0 {
			t.Errorf("queued second steps: got %v, want a gauge at 0 when nothing runs", q)
		}
		d := took.GetMetric()[0].GetHistogram()
		if d.GetSampleCount() != logins || d.GetSampleSum() <= 0 {
			t.Errorf("commit duration: got %d commits taking %v s in all, want %d taking more than 0", d.GetSampleCount(), d.GetSampleSum(), logins)
		}
	})
}

// namedMetrics are the families a request naming an account may touch: its
// events, the mail it queues, and the request itself.
var namedMetrics = []string{"twofold_events_total", "twofold_mail_total", "twofold_outbox_oldest_mail_seconds",
	"twofold_http_requests_total", "twofold_http_request_duration_seconds"}

// snapshot returns the series of namedMetrics by family and labels: a
// counter's or gauge's value, a histogram's count of samples.
func snapshot(t *testing.T, s *testenv.Server) map[string]float64 {
	t.Helper()
	fams := scrape(t, s)
	out := map[string]float64{}
	for _, name := range namedMetrics {
		for _, m := range fams[name].GetMetric() {
			key := name
			for _, l := range m.GetLabel() {
				key += fmt.Sprintf(" %s=%q", l.GetName(), l.GetValue())
			}
			out[key] = m.GetCounter().GetValue() + m.GetGauge().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	return out
}

// moved returns how the series moved from before to after; a gauge's
// value is kept as it is after.
func moved(before, after map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range after {
		if !strings.HasPrefix(k, "twofold_outbox_oldest_mail_seconds") {
			v -= before[k]
		}
		if v != 0 {
			out[k] = v
		}
	}
	return out
}

// outboxUntil waits, bounded against a hang, until every mail in the
// outbox satisfies cond (at once when it is empty).
func outboxUntil(t *testing.T, s *testenv.Server, what string, cond func(store.Mail) bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bound for a loaded machine, not a timing
	for {
		mails, err := s.Store.Outbox(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if !slices.ContainsFunc(mails, func(m store.Mail) bool { return !cond(m) }) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the outbox never %s: %d mails", what, len(mails))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// metricsAfter returns how namedMetrics moved while do ran, twice: while
// the mail server refuses the first attempt of any mail do queued (and 10
// seconds later), and once that mail was sent.
func metricsAfter(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer, do func()) (refused, sent map[string]float64) {
	t.Helper()
	outboxUntil(t, s, "emptied before the request", func(store.Mail) bool { return false })
	mb.FailNext(1)
	before := snapshot(t, s)
	do()
	s.Service.Wait() // a password-reset request looks the account up after answering
	outboxUntil(t, s, "saw its mail refused", func(m store.Mail) bool { return m.LastError != "" })
	s.Clock.Add(10 * time.Second)
	refused = moved(before, snapshot(t, s))
	mb.FailNext(0)
	s.Clock.Add(time.Minute) // the retry is due 30 s after the refusal
	outboxUntil(t, s, "emptied", func(store.Mail) bool { return false })
	return refused, moved(before, snapshot(t, s))
}

// TestMetricsKeepUsernamesSecret: /metrics answers whoever reaches the
// server, so a request whose answer is the same for a known and an unknown
// username moves the counters and gauges alike for both: its events, its
// route's counts, and the outbox's, whether the mail server refuses the
// mail queued for a known name or takes it.
func TestMetricsKeepUsernamesSecret(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "bob")
		addUser(t, s, "alice")
		c := testenv.NewClient(s.URL())
		alice := login(t, s, "alice")
		team := makeTeam(t, alice, "Acme hosting")
		for _, tc := range []struct {
			name         string
			known, other func()
		}{
			{"password reset", func() { askReset(t, s, "bob") }, func() { askReset(t, s, "nobody") }},
			{"login", func() {
				c.Do(t, "POST", "/v1/login", map[string]string{"username": "bob", "password": "wrong password here"})
			},
				func() {
					c.Do(t, "POST", "/v1/login", map[string]string{"username": "nobody", "password": "wrong password here"})
				}},
			{"team invitation", func() { invite(t, alice, team, "bob", "ops") }, func() { invite(t, alice, team, "nobody", "ops") }},
		} {
			knownRefused, knownSent := metricsAfter(t, s, mb, tc.known)
			unknownRefused, unknownSent := metricsAfter(t, s, mb, tc.other)
			if diff := cmp.Diff(knownRefused, unknownRefused); diff != "" || len(knownRefused) == 0 {
				t.Errorf("%s, mail server refusing: /metrics moves apart for a known and an unknown username (-known +unknown):\n%s\nknown: %v", tc.name, diff, knownRefused)
			}
			if diff := cmp.Diff(knownSent, unknownSent); diff != "" {
				t.Errorf("%s, mail sent: /metrics moves apart for a known and an unknown username (-known +unknown):\n%s", tc.name, diff)
			}
		}
	})
}

// seriesValue returns the value of family name's series whose label has
// value (the first series when label is ""), and whether there is one.
func seriesValue(fams map[string]*dto.MetricFamily, name, label, value string) (float64, bool) {
	for _, m := range fams[name].GetMetric() {
		match := label == ""
		for _, l := range m.GetLabel() {
			match = match || l.GetName() == label && l.GetValue() == value
		}
		if match {
			return m.GetGauge().GetValue() + m.GetCounter().GetValue(), true
		}
	}
	return 0, false
}

// TestMailMetrics: /metrics counts the outbox's attempts by outcome and
// shows how long the mail longest in the outbox has waited, so that a mail
// server that refuses reaches operators as more than log lines.
func TestMailMetrics(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "mia")
		c := login(t, s, "mia")
		mb.FailNext(1)
		enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"}) // mails a notice
		want := func(what, name, label, value string, v float64) {
			t.Helper()
			deadline := time.Now().Add(time.Minute) // a bound for a loaded machine, not a timing
			for {
				got, ok := seriesValue(scrape(t, s), name, label, value)
				if ok && got == v {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: got %s{%s=%q} %v (present %v), want %v", what, name, label, value, got, ok, v)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		want("the refused attempt", "twofold_mail_total", "outcome", "failed", 1)
		s.Clock.Add(20 * time.Second) // the retry is due 30 s after the refusal
		want("the waiting mail's age", "twofold_outbox_oldest_mail_seconds", "", "", 20)
		s.Clock.Add(10 * time.Second)
		mb.Wait(t, 1, time.Minute)
		want("the sent mail", "twofold_mail_total", "outcome", "sent", 1)
		want("the empty outbox", "twofold_outbox_oldest_mail_seconds", "", "", 0)
	})
}

// TestWebhookMetrics: /metrics shows the webhook endpoints by state and
// how long the one failing longest has failed, so that a receiver that
// refuses reaches operators as more than log lines, and one disabled after
// three days of failures stays seen, not silent.
func TestWebhookMetrics(t *testing.T) {
	eachDSN(t, func(t *testing.T, dsn string) {
		s := testenv.NewWebhookServer(t, dsn, allowLoopbackWebhooks)
		good, bad := newReceiver(t), newReceiver(t)
		bad.mu.Lock()
		bad.fail = 1 << 30
		bad.mu.Unlock()
		if _, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: "carol", Password: password, Operator: true}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
		opc := login(t, s, "carol")
		phone := enrol(t, s, opc, map[string]any{"type": "totp", "label": "phone"})
		if r := opc.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		want := func(what, name, label, value string, ok func(float64) bool) {
			t.Helper()
			deadline := time.Now().Add(time.Minute) // a bound for a loaded machine, not a timing
			for {
				got, present := seriesValue(scrape(t, s), name, label, value)
				if present && ok(got) {
					return
				}
				if time.Now().After(deadline) {
					t.Fatalf("%s: got %s{%s=%q} %v (present %v)", what, name, label, value, got, present)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
		is := func(v float64) func(float64) bool { return func(got float64) bool { return got == v } }
		want("no endpoint", "twofold_webhooks", "state", "failing", is(0))
		want("no endpoint failing", "twofold_webhook_failing_seconds", "", "", is(0))
		for _, rc := range []*receiver{good, bad} {
			if r := opc.Do(t, "POST", "/v1/admin/webhooks", map[string]any{"url": rc.srv.URL}); r.Status != 201 {
				t.Fatalf("create: got %d %s", r.Status, r.Body)
			}
		}
		want("the refusing receiver", "twofold_webhooks", "state", "failing", is(1))
		want("the accepting receiver", "twofold_webhooks", "state", "delivering", is(1))
		s.Clock.Add(90 * time.Second)
		want("how long it has failed", "twofold_webhook_failing_seconds", "", "", func(got float64) bool { return got >= 90 })
		// Three days of failures: disabled, and still shown.
		s.Clock.Add(73 * time.Hour)
		want("the endpoint disabled", "twofold_webhooks", "state", "disabled", is(1))
		want("none failing once disabled", "twofold_webhooks", "state", "failing", is(0))
		want("no endpoint failing once disabled", "twofold_webhook_failing_seconds", "", "", is(0))
	})
}
