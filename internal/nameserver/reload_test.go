package nameserver_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/nameserver"
	"github.com/twofold/twofold/internal/testenv"
)

// TestOneLoadAfterAChange: after a change to a large zone, the queries that
// find its records out of date wait for one reading of the zone, shared,
// rather than each reading it (which, for a zone of 10,000 records, kept
// every zone's answers waiting and many SERVFAIL); while that reading runs
// they are answered from the records read before, with the serial before,
// and other zones answer as ever. Loads are counted as they start, not
// timed.
func TestOneLoadAfterAChange(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			if _, err := env.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			acct, err := env.Store.AccountByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			for _, zone := range []string{"big.example", "other.example"} {
				if _, err := env.Service.AddZone(ctx, zone, "alice", core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}
			var in []core.RecordInput
			for i := range 1000 {
				in = append(in, core.RecordInput{Host: fmt.Sprintf("h%d", i), Type: "TXT", TTL: 300, Data: `"record ` + fmt.Sprint(i) + `"`})
			}
			if _, err := env.Service.AddDNSRecords(ctx, core.Auth{Account: acct}, core.RecordSet{Zone: "big.example"}, in, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := env.Service.AddDNSRecords(ctx, core.Auth{Account: acct}, core.RecordSet{Zone: "other.example", Host: "www", Type: "A"},
				[]core.RecordInput{{Data: "192.0.2.1", TTL: 300}}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			change := func(data string) {
				t.Helper()
				if _, err := env.Service.ReplaceDNSRecords(ctx, core.Auth{Account: acct}, core.RecordSet{Zone: "big.example", Host: "h999", Type: "TXT"},
					[]core.RecordInput{{Data: `"` + data + `"`, TTL: 300}}, core.Meta{}); err != nil {
					t.Fatal(err)
				}
			}

			// The server counts each load of big.example as it starts; one
			// load is held back until the test lets it go.
			var (
				mu      sync.Mutex
				loads   int
				hold    = false
				release = make(chan struct{})
			)
			// Generous bounds: a burst of queries on a fresh PostgreSQL
			// database opens its connections, which takes a while on 2 CPUs.
			ns := &nameserver.Server{Service: env.Service, Nameservers: []string{"ns1.example.net."}, Timeout: time.Minute}
			nameserver.SetLoaded(ns, func(zone string) {
				if zone != "big.example" {
					return
				}
				mu.Lock()
				loads++
				wait := hold
				hold = false
				mu.Unlock()
				if wait {
					<-release
				}
			})
			letGo := startHeld(t, ns, release)
			loadsSince := func(n int) int {
				mu.Lock()
				defer mu.Unlock()
				return loads - n
			}

			ask := func(network, name string, qtype uint16) (*dns.Msg, error) {
				m := new(dns.Msg)
				m.SetQuestion(name, qtype)
				r, _, err := (&dns.Client{Net: network, Timeout: answerWait}).Exchange(m, ns.Addr())
				return r, err
			}
			// askMany asks for h999's TXT n times at once, over UDP and
			// TCP, and returns the data of the answers, or fails the test
			// on any answer but one record.
			askMany := func(n int) []string {
				t.Helper()
				var (
					wg   sync.WaitGroup
					amu  sync.Mutex
					got  []string
					errs []string
				)
				for i := range n {
					network := "udp"
					if i%5 == 0 {
						network = "tcp"
					}
					wg.Go(func() {
						r, err := ask(network, "h999.big.example.", dns.TypeTXT)
						amu.Lock()
						defer amu.Unlock()
						switch {
						case err != nil:
							errs = append(errs, fmt.Sprintf("over %s: %v", network, err))
						case r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1:
							errs = append(errs, fmt.Sprintf("over %s: rcode %s with %d records", network, dns.RcodeToString[r.Rcode], len(r.Answer)))
						default:
							got = append(got, strings.Join(r.Answer[0].(*dns.TXT).Txt, ""))
						}
					})
				}
				wg.Wait()
				for _, e := range errs[:min(len(errs), 5)] {
					t.Errorf("h999.big.example TXT %s; want one record (%d of %d queries failed)", e, len(errs), n)
				}
				return got
			}
			serial := func() uint32 {
				t.Helper()
				r, err := ask("udp", "big.example.", dns.TypeSOA)
				if err != nil || len(r.Answer) != 1 {
					t.Fatalf("big.example SOA: got %v, %v", r, err)
				}
				return r.Answer[0].(*dns.SOA).Serial
			}

			before := serial() // the first load
			if n := loadsSince(0); n != 1 {
				t.Fatalf("first query: got %d loads, want 1", n)
			}

			// A change, and its load held back: queries are answered from the
			// records before it, other zones as ever.
			mu.Lock()
			hold = true
			mu.Unlock()
			change("changed once")
			for _, data := range askMany(40) {
				if data != "record 999" {
					t.Errorf("while the load is held: got %q, want the data before the change", data)
				}
			}
			if got := serial(); got != before {
				t.Errorf("while the load is held: got serial %d, want %d, the records' before the change", got, before)
			}
			if r, err := ask("udp", "www.other.example.", dns.TypeA); err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Errorf("another zone while the load is held: got %v, %v; want its record", r, err)
			}
			letGo()
			for _, data := range askMany(40) {
				if data != "changed once" {
					t.Errorf("after the load: got %q, want the changed data", data)
				}
			}
			if got := serial(); got != before+1 {
				t.Errorf("after the load: got serial %d, want %d", got, before+1)
			}
			if n := loadsSince(1); n != 1 {
				t.Errorf("a change and the queries after it: got %d loads, want 1", n)
			}

			// Another change, and many queries at once: one load among them.
			change("changed twice")
			for _, data := range askMany(100) {
				if data != "changed twice" && data != "changed once" {
					t.Errorf("after the second change: got %q, want the data of either change", data)
				}
			}
			if n := loadsSince(2); n != 1 {
				t.Errorf("a second change and 100 queries at once: got %d loads, want 1", n)
			}
		})
	}
}

// syncBuffer is a log's buffer that the server's goroutines write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLookupFailuresLoggedOnce: queries whose database reads fail (here:
// no time at all for them) answer SERVFAIL, and the failure is logged once
// a minute, not once a query, which under a flood filled the log.
func TestLookupFailuresLoggedOnce(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			env := testenv.NewServer(t, dsn(t))
			var log syncBuffer
			ns := &nameserver.Server{Service: env.Service, Nameservers: []string{"ns1.example.net."},
				Timeout: time.Nanosecond, Logger: slog.New(slog.NewTextHandler(&log, nil))}
			if err := ns.Start("127.0.0.1:0"); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { ns.Close() })
			for i := range 30 {
				m := new(dns.Msg)
				m.SetQuestion(fmt.Sprintf("h%d.example.com.", i), dns.TypeA)
				r, _, err := (&dns.Client{Timeout: answerWait}).Exchange(m, ns.Addr())
				if err != nil {
					t.Fatal(err)
				}
				if r.Rcode != dns.RcodeServerFailure {
					t.Fatalf("query %d: got rcode %s, want SERVFAIL", i, dns.RcodeToString[r.Rcode])
				}
			}
			if n := strings.Count(log.String(), "dns lookup failed"); n != 1 {
				t.Errorf("30 failed lookups: got %d log lines, want 1:\n%s", n, log.String())
			}
		})
	}
}

// TestQueriesAtOnceBounded: past MaxInFlight queries being answered at once
// (here held waiting for their zone's first load), a query is dropped
// unanswered, whatever its source, and the server says so in its log, once;
// the queries held are answered once the load ends, and the server answers
// again. On SQLite: the bound is the server's own, not the database's.
func TestQueriesAtOnceBounded(t *testing.T) {
	env := dnsServer(t, testenv.SQLiteDSN(t))
	addRecords(t, env, "www 300 IN A 192.0.2.7")
	var log syncBuffer
	release := make(chan struct{})
	ns := &nameserver.Server{Service: env.Service, Nameservers: []string{"ns1.example.net."}, Timeout: time.Minute,
		MaxInFlight: 4, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	nameserver.SetLoaded(ns, func(string) { <-release })
	letGo := startHeld(t, ns, release)

	ask := func(timeout time.Duration) (*dns.Msg, error) {
		m := new(dns.Msg)
		m.SetQuestion("www.example.com.", dns.TypeA)
		r, _, err := (&dns.Client{Net: "udp", Timeout: timeout}).Exchange(m, ns.Addr())
		return r, err
	}
	var wg sync.WaitGroup
	answers := make(chan error, 4)
	for range 4 {
		wg.Go(func() {
			r, err := ask(answerWait)
			if err == nil && (r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1) {
				err = fmt.Errorf("rcode %s with %d records", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
			answers <- err
		})
	}
	// A bound against a hang, not a timing: the four reach the server.
	for deadline := time.Now().Add(answerWait); nameserver.InFlight(ns) < 4; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d queries in flight, want 4", nameserver.InFlight(ns))
		}
	}
	if r, err := ask(2 * time.Second); err == nil {
		t.Errorf("a fifth query at once was answered (%s), want it dropped", dns.RcodeToString[r.Rcode])
	}
	if n := strings.Count(log.String(), "dns queries dropped"); n != 1 {
		t.Errorf("the dropped query: %d log lines, want 1:\n%s", n, log.String())
	}
	letGo()
	wg.Wait()
	close(answers)
	for err := range answers {
		if err != nil {
			t.Errorf("a query held for the load: %v, want its record", err)
		}
	}
	if r, err := ask(answerWait); err != nil || len(r.Answer) != 1 {
		t.Errorf("after the load: %v, %v; want the record", r, err)
	}
}

// TestZoneCacheMakesRoomOneAtATime: past the bound on the zones kept
// parsed (here 3), a zone read makes room by dropping one other, not
// every other (which had each zone's next query read all its records
// again): the cache stays full, and every zone is still answered.
func TestZoneCacheMakesRoomOneAtATime(t *testing.T) {
	env := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	if _, err := env.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	zones := []string{"a.example", "b.example", "c.example", "d.example"}
	for _, z := range zones {
		if _, err := env.Service.AddZone(ctx, z, "alice", core.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	ns := &nameserver.Server{Service: env.Service, Nameservers: []string{"ns1.example.net."}, Timeout: time.Minute}
	nameserver.SetMaxCachedZones(ns, 3)
	if err := ns.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	for round := range 2 {
		for _, z := range zones {
			m := new(dns.Msg)
			m.SetQuestion(z+".", dns.TypeSOA)
			r, _, err := (&dns.Client{Timeout: answerWait}).Exchange(m, ns.Addr())
			if err != nil || r.Rcode != dns.RcodeSuccess || len(r.Answer) != 1 {
				t.Fatalf("%s SOA: %v, %v", z, r, err)
			}
			if n, want := nameserver.CachedZones(ns), min(3, round*4+len(zones[:slices.Index(zones, z)+1])); n != want {
				t.Errorf("round %d, after %s: %d zones kept, want %d", round, z, n, want)
			}
		}
	}
}

// startHeld starts ns, whose loads the test holds until release is
// closed, and returns letGo, which closes it once; the test's cleanup
// lets the loads go before it closes ns (cleanups run last first).
func startHeld(t *testing.T, ns *nameserver.Server, release chan struct{}) (letGo func()) {
	t.Helper()
	if err := ns.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ns.Close() })
	var once sync.Once
	letGo = func() { once.Do(func() { close(release) }) }
	t.Cleanup(letGo)
	return letGo
}
