package core_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// countingStore is a real store that counts the records each read of
// records returns.
type countingStore struct {
	testDB
	mu    sync.Mutex
	reads []int // records returned, one entry a read
}

func (c *countingStore) count(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.reads = append(c.reads, n)
}

func (c *countingStore) take() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.reads
	c.reads = nil
	return r
}

func (c *countingStore) Records(ctx context.Context, zone string) ([]twofold.Record, error) {
	rs, err := c.testDB.Records(ctx, zone)
	c.count(len(rs))
	return rs, err
}

func (c *countingStore) RecordPage(ctx context.Context, zone, host, typ string, starts []string, after twofold.Record, limit int) ([]twofold.Record, error) {
	rs, err := c.testDB.RecordPage(ctx, zone, host, typ, starts, after, limit)
	c.count(len(rs))
	return rs, err
}

// pagedZone opens a store on dsn under a countingStore, for a service that
// reads records in pages of 40, and returns them with a session of alice,
// who holds the zone example.com.
func pagedZone(t *testing.T, dsn string) (testDB, *countingStore, *core.Service, core.Auth) {
	t.Helper()
	db := openStore(t, dsn)
	cs := &countingStore{testDB: db}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := newService(t, cs, db, func() time.Time { return now }, nil)
	core.SetRecordPage(svc, 40)
	alice := signedIn(t, svc, "alice")
	if _, err := svc.AddZone(t.Context(), "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return db, cs, svc, alice
}

// TestDNSReadsInPages checks that a read of a zone's records takes them
// from the store a page at a time, and a read of a set only the set's.
func TestDNSReadsInPages(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, cs, svc, alice := pagedZone(t, dsn(t))
			var recs []twofold.Record
			for i := range 1000 {
				ri := in(fmt.Sprintf("h%d", i%100), "A", 300, fmt.Sprintf("192.0.2.%d", i/4))
				if i%2 == 1 {
					ri = in(fmt.Sprintf("h%d", i%100), "TXT", 300, fmt.Sprintf("text %d", i))
				}
				r, err := core.ParseRecord("example.com", ri)
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			if err := db.AddRecords(ctx, "example.com", recs); err != nil {
				t.Fatal(err)
			}
			all, err := db.Records(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}

			cs.take()
			got, err := svc.DNSRecords(ctx, alice, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(all, got); diff != "" {
				t.Errorf("DNSRecords of the zone (-want +got):\n%s", diff)
			}
			reads := cs.take()
			if len(reads) < 1000/40 {
				t.Errorf("a read of 1000 records took %d reads of the store (%v), want one a page of 40", len(reads), reads)
			}
			for _, n := range reads {
				if n > 40 {
					t.Errorf("a read of the zone took %d records from the store at once (reads %v), want at most a page of 40", n, reads)
					break
				}
			}

			set, err := svc.DNSRecords(ctx, alice, core.RecordSet{Zone: "example.com", Host: "h7", Type: "TXT"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if len(set) != 10 {
				t.Errorf("DNSRecords of h7/TXT: got %d records, want 10: %v", len(set), set)
			}
			if reads := cs.take(); !cmp.Equal(reads, []int{10}) {
				t.Errorf("a read of a set of 10 records took records from the store %v, want [10]", reads)
			}

			// A change between two pages ends the read with a conflict,
			// rather than mixing the zone before and after it.
			seq, err := svc.EachDNSRecord(ctx, alice, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			n, changed := 0, false
			var seqErr error
			for _, err := range seq {
				if err != nil {
					seqErr = err
					break
				}
				if n++; n == 1 {
					if _, err := svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com"}, []core.RecordInput{in("h0", "A", 300, "198.51.100.1")}, core.Meta{}); err != nil {
						t.Fatal(err)
					}
					changed = true
				}
			}
			if !changed || twofold.ErrorCode(seqErr) != twofold.CodeConflict || n != 40 {
				t.Errorf("a read of the zone changed after its first record: got %d records then %v, want the first page's 40 then a conflict", n, seqErr)
			}
		})
	}
}

// TestNarrowKeyReadsItsNames: a key that may read records at a few names
// of a big zone (a literal name, a prefix pattern) reads the zone without
// taking every page of it from the store, only the records at names that
// start like its permits' names, and gets exactly the records it may read,
// in the order of a read of the whole zone, on SQLite, on PostgreSQL and
// on PostgreSQL in a database sorting text by en-US rules.
func TestNarrowKeyReadsItsNames(t *testing.T) {
	dsns := testenv.DSNs(t)
	if _, ok := dsns["postgres"]; ok {
		dsns["postgres en-US"] = func(tb testing.TB) string { return testenv.PostgresCollatedDSN(tb, "en-US") }
	}
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			db, cs, svc, alice := pagedZone(t, dsn(t))
			var recs []twofold.Record
			for i := range 2000 {
				host := fmt.Sprintf("h%d", i%500)
				switch i % 100 {
				case 0:
					host = fmt.Sprintf("_acme-challenge.s%d", i)
				case 1:
					host = "_acme-challenge"
				case 2:
					host = fmt.Sprintf("_acme-challenge-%d", i) // after the prefix's end in en-US, not in bytes
				case 3:
					host = fmt.Sprintf("_acme-challengf%d", i)
				case 4:
					host = "www"
				case 5:
					host = fmt.Sprintf("www%d", i)
				}
				r, err := core.ParseRecord("example.com", in(host, "TXT", 300, fmt.Sprintf("text %d", i)))
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			if err := db.AddRecords(ctx, "example.com", recs); err != nil {
				t.Fatal(err)
			}
			all, err := svc.DNSRecords(ctx, alice, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			for _, tt := range []struct {
				name     string
				permits  []twofold.Permit
				maxTaken int // records taken from the store, at most
			}{
				{"a prefix pattern", []twofold.Permit{dnsPermit("example.com/_acme-challenge*/TXT", "read")}, 200},
				{"a name and a prefix", []twofold.Permit{dnsPermit("example.com/www", "read"), dnsPermit("example.com/_acme-challenge*", "read", "write"),
					dnsPermit("example.com/h1*", "write")}, 200},
				{"a name pattern of any zone", []twofold.Permit{dnsPermit("*/www/TXT", "read")}, 100},
				{"every name", []twofold.Permit{dnsPermit("example.com/*/TXT", "read")}, 2000},
			} {
				key := withKey(t, svc, alice, tt.permits...)
				var want []twofold.Record
				for _, r := range all {
					if key.Allows("dns", "example.com/"+r.Host+"/"+r.Type, "read") {
						want = append(want, r)
					}
				}
				cs.take()
				got, err := svc.DNSRecords(ctx, key, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
				if err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if diff := cmp.Diff(want, got); diff != "" || len(want) == 0 {
					t.Errorf("%s: records read (-want +got, %d wanted):\n%s", tt.name, len(want), diff)
				}
				taken := 0
				for _, n := range cs.take() {
					taken += n
				}
				if taken > tt.maxTaken {
					t.Errorf("%s: took %d records from the store for %d, want at most %d", tt.name, taken, len(want), tt.maxTaken)
				}
			}
		})
	}
}
