package core_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// maxZoneBytes is the bound of a zone's record data (README "DNS API").
const maxZoneBytes = 4 << 20

// txtOf returns a TXT record at host of zone example.com whose data in
// canonical form takes exactly n bytes: 3 to 257, or more but not 0 to 2
// more than a multiple of 258 (split into strings of 255 bytes, k of them
// take 3k-1 bytes more than the text).
func txtOf(t *testing.T, host string, n int) twofold.Record {
	t.Helper()
	for k := 1; 258*k-255 <= n; k++ {
		if n <= 258*k-1 {
			r, err := core.ParseRecord("example.com", in(host, "TXT", 300, strings.Repeat("x", n-3*k+1)))
			if err != nil || len(r.Data) != n {
				t.Fatalf("TXT record of %d bytes: got %d, %v", n, len(r.Data), err)
			}
			return r
		}
	}
	t.Fatalf("no TXT record of %d bytes", n)
	return twofold.Record{}
}

// txtSize reports whether a TXT record's data can take n bytes (txtOf).
func txtSize(n int) bool { return n >= 3 && n%258 > 2 }

// txtText returns the text of r, a record of txtOf, as a request sends it.
func txtText(r twofold.Record) core.RecordInput {
	return in(r.Host, r.Type, int(r.TTL), strings.NewReplacer(`"`, "", " ", "").Replace(r.Data))
}

// fillZone stores records straight in example.com, as an older version
// could have, of bytes bytes of data in all, each at most 2,000 bytes, at
// a name of its own.
func fillZone(t *testing.T, f dnsFixture, prefix string, bytes int) {
	t.Helper()
	if err := f.db.AddRecords(t.Context(), "example.com", zoneFill(t, prefix, bytes)); err != nil {
		t.Fatal(err)
	}
}

// zoneFill returns the records of fillZone.
func zoneFill(t *testing.T, prefix string, bytes int) []twofold.Record {
	t.Helper()
	var recs []twofold.Record
	for i := 0; bytes > 0; i++ {
		n := bytes
		if !txtSize(n) || n > 2000 {
			n = 2000
			for !txtSize(n) || !(bytes-n > 2000 || txtSize(bytes-n)) {
				n--
			}
		}
		recs = append(recs, txtOf(t, fmt.Sprintf("%s%05d", prefix, i), n))
		bytes -= n
	}
	return recs
}

// TestZoneBytesBound: a zone holds at most 4 MiB of record data; a write
// that would take it beyond is refused, and a zone beyond it (stored by an
// older version) may shrink, or change records for others no bigger.
func TestZoneBytesBound(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newDNSFixture(t, dsn(t))
			ctx := t.Context()
			fillZone(t, f, "fill", maxZoneBytes-100)
			acme := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
			over, fits := txtOf(t, "_acme-challenge", 101), txtOf(t, "_acme-challenge", 100)
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(over)}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("a record of 101 bytes with 100 left: got %v, want invalid", err)
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(fits)}, core.Meta{}); err != nil {
				t.Fatalf("a record of 100 bytes with 100 left: %v", err)
			}
			// Full: even a small record at another name is refused, and
			// through the zone's path.
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com"}, []core.RecordInput{in("www", "A", 300, "192.0.2.1")}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("an A record in a full zone: got %v, want invalid", err)
			}

			// Beyond the bound, as an older version allowed.
			fillZone(t, f, "more", 50000)
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, acme, []core.RecordInput{in("", "", 300, "token")}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("a record in a zone beyond the bound: got %v, want invalid", err)
			}
			if _, err := f.svc.ReplaceDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(over)}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("a record replaced by a bigger one beyond the bound: got %v, want invalid", err)
			}
			same := txtOf(t, "_acme-challenge", 100)
			same = twofold.Record{Host: same.Host, Type: same.Type, TTL: 300, Data: `"` + strings.Repeat("y", 98) + `"`}
			if _, err := f.svc.ReplaceDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(same)}, core.Meta{}); err != nil {
				t.Fatalf("a record replaced by another of its size beyond the bound: %v", err)
			}
			if _, err := f.svc.DeleteDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "fill00000"}, "", core.Meta{}); err != nil {
				t.Fatalf("a record removed beyond the bound: %v", err)
			}
			if _, err := f.svc.DeleteDNSRecords(ctx, f.alice, acme, "", core.Meta{}); err != nil {
				t.Fatalf("a record removed beyond the bound: %v", err)
			}
		})
	}
}

// TestZoneBytesBoundOlderWriter: records that a release from before the
// record sizes (migration 0076) writes, naming no size, as it may while a
// newer one serves the same database during a rolling upgrade, count
// toward the 4 MiB bound by the bytes of their data (migration 0081).
func TestZoneBytesBoundOlderWriter(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			dsn := dsn(t)
			f := newDNSFixture(t, dsn)
			ctx := t.Context()
			var rows [][]any
			for _, r := range zoneFill(t, "old", maxZoneBytes-100) {
				rows = append(rows, []any{"example.com", r.Host, r.Type, int64(r.TTL), r.Data})
			}
			// As release 28968ac writes a record (store.AddRecords then).
			testenv.Exec(t, dsn, `INSERT INTO dns_records (zone, host, type, ttl, data) VALUES ($1, $2, $3, $4, $5)`, rows...)
			acme := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
			over, fits := txtOf(t, "_acme-challenge", 101), txtOf(t, "_acme-challenge", 100)
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(over)}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("a record of 101 bytes with 100 left by an older release's records: got %v, want invalid", err)
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, acme, []core.RecordInput{txtText(fits)}, core.Meta{}); err != nil {
				t.Fatalf("a record of 100 bytes with 100 left by an older release's records: %v", err)
			}
		})
	}
}

// dataCountingStore counts the records whose data the service reads.
type dataCountingStore struct {
	testDB
	read atomic.Int64
}

func (s *dataCountingStore) Records(ctx context.Context, zone string) ([]twofold.Record, error) {
	recs, err := s.testDB.Records(ctx, zone)
	s.read.Add(int64(len(recs)))
	return recs, err
}

func (s *dataCountingStore) RecordsAt(ctx context.Context, zone string, hosts []string) ([]twofold.Record, error) {
	recs, err := s.testDB.RecordsAt(ctx, zone, hosts)
	s.read.Add(int64(len(recs)))
	return recs, err
}

// TestChangeReadsItsNamesOnly: a write reads the data of the records at
// the names it changes, not the whole zone's, so that its time holding the
// zone (on SQLite, the one writer) does not grow with the zone's data.
func TestChangeReadsItsNamesOnly(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			db := openStore(t, dsn(t))
			cs := &dataCountingStore{testDB: db}
			now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
			svc := newService(t, cs, db, func() time.Time { return now }, nil)
			alice := signedIn(t, svc, "alice")
			if _, err := svc.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			var many []core.RecordInput
			for i := range 300 {
				many = append(many, in(fmt.Sprintf("h%03d", i), "TXT", 300, strings.Repeat("x", 1000)))
			}
			if _, err := svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com"}, many, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			www := core.RecordSet{Zone: "example.com", Host: "www"}
			for _, tt := range []struct {
				name string
				op   func() error
				want int64 // records whose data is read
			}{
				{"add at a new name", func() error {
					_, err := svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.1")}, core.Meta{})
					return err
				}, 0},
				{"add beside one", func() error {
					_, err := svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com"}, []core.RecordInput{in("www", "AAAA", 300, "2001:db8::1")}, core.Meta{})
					return err
				}, 1},
				{"replace a name's records", func() error {
					_, err := svc.ReplaceDNSRecords(ctx, alice, www, []core.RecordInput{in("", "A", 300, "192.0.2.2")}, core.Meta{})
					return err
				}, 2},
				{"delete at a name", func() error {
					_, err := svc.DeleteDNSRecords(ctx, alice, www, "", core.Meta{})
					return err
				}, 1},
			} {
				cs.read.Store(0)
				if err := tt.op(); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if got := cs.read.Load(); got != tt.want {
					t.Errorf("%s: read the data of %d records, want %d (those at www)", tt.name, got, tt.want)
				}
			}
		})
	}
}

// TestRulesSeeTheWholeZone: the rules of a change that span the zone see
// its records at names the change leaves alone, whose data a write no
// longer reads: their number (per zone, and what a key may grow it to),
// their names and types (a CNAME's name, the names a wildcard answers for),
// and the size of a name's records reached through the zone's path.
func TestRulesSeeTheWholeZone(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newDNSFixture(t, dsn(t))
			ctx := t.Context()
			zone := core.RecordSet{Zone: "example.com"}
			addAt := func(a core.Auth, rs core.RecordSet, recs ...core.RecordInput) error {
				_, err := f.svc.AddDNSRecords(ctx, a, rs, recs, core.Meta{})
				return err
			}
			wantCode := func(what string, err error, want twofold.Code) {
				t.Helper()
				if twofold.ErrorCode(err) != want && !(err == nil && want == "") {
					t.Errorf("%s: got %v, want %q", what, err, want)
				}
			}
			if err := addAt(f.alice, zone, in("mail", "CNAME", 300, "mx.example.net."), in("*", "A", 300, "192.0.2.7"),
				in("deep.web", "A", 300, "192.0.2.8"), in("www", "TXT", 300, "site")); err != nil {
				t.Fatal(err)
			}
			mailA := core.RecordSet{Zone: "example.com", Host: "mail", Type: "A"}
			wantCode("an A beside a CNAME", addAt(f.alice, mailA, in("", "", 300, "192.0.2.1")), twofold.CodeInvalid)

			// Wildcards: the key may write TXT at www and web only.
			key := withKey(t, f.svc, f.alice, dnsPermit("example.com/www/TXT", "write"), dnsPermit("example.com/web/TXT", "write"),
				dnsPermit("example.com/shop/TXT", "write"))
			wantCode("a key adds a TXT at a name the wildcard answers for",
				addAt(key, core.RecordSet{Zone: "example.com", Host: "shop", Type: "TXT"}, in("", "", 300, "x")), twofold.CodeForbidden)
			wantCode("a key adds a TXT at a name that exists through a name below it",
				addAt(key, core.RecordSet{Zone: "example.com", Host: "web", Type: "TXT"}, in("", "", 300, "x")), "")
			_, err := f.svc.DeleteDNSRecords(ctx, key, core.RecordSet{Zone: "example.com", Host: "www", Type: "TXT"}, "", core.Meta{})
			wantCode("a key removes the last record at a name, which the wildcard would answer for", err, twofold.CodeForbidden)
			_, err = f.svc.DeleteDNSRecords(ctx, key, core.RecordSet{Zone: "example.com", Host: "web", Type: "TXT"}, "", core.Meta{})
			wantCode("a key removes a record at a name that exists through a name below it", err, "")

			// The size of a name's records, reached through the zone's path.
			text := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("x", 1896) }
			big := core.RecordSet{Zone: "example.com", Host: "big", Type: "TXT"}
			var seventeen []core.RecordInput
			for i := range 17 {
				seventeen = append(seventeen, in("", "", 300, text(i)))
			}
			if err := addAt(f.alice, big, seventeen...); err != nil {
				t.Fatal(err)
			}
			wantCode("an 18th TXT of 1,900 bytes at a name, beside a record at another",
				addAt(f.alice, zone, in("other", "A", 300, "192.0.2.9"), in("big", "TXT", 300, text(17))), twofold.CodeInvalid)

			// A CNAME beside another record at a name the change leaves
			// alone, stored by an older version: the zone breaks the rule,
			// and a write refuses to leave it so.
			if err := f.db.AddRecords(ctx, "example.com", []twofold.Record{rr("mail", "TXT", 300, `"old"`)}); err != nil {
				t.Fatal(err)
			}
			wantCode("a write elsewhere in a zone with a CNAME beside a record", addAt(f.alice, zone, in("ftp", "A", 300, "192.0.2.3")), twofold.CodeInvalid)
			if _, err := f.svc.DeleteDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "mail", Type: "TXT"}, "", core.Meta{}); err != nil {
				t.Fatal(err)
			}

			// Numbers: a key grows a zone to 5,000 records, the owner to
			// 10,000, counting those at names the change leaves alone.
			recs, err := f.db.Records(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			var fill []twofold.Record
			for i := range 5000 - len(recs) {
				fill = append(fill, rr(fmt.Sprintf("n%05d", i), "A", 300, "192.0.2.1"))
			}
			if err := f.db.AddRecords(ctx, "example.com", fill); err != nil {
				t.Fatal(err)
			}
			acme := withKey(t, f.svc, f.alice, dnsPermit("example.com/_acme-challenge/TXT", "write"))
			acmeSet := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
			wantCode("a key adds a record to a zone of 5,000", addAt(acme, acmeSet, in("", "", 120, "token")), twofold.CodeInvalid)
			wantCode("the owner adds a record to a zone of 5,000", addAt(f.alice, acmeSet, in("", "", 120, "token")), "")
			fill = fill[:0]
			for i := range 4999 {
				fill = append(fill, rr(fmt.Sprintf("m%05d", i), "A", 300, "192.0.2.1"))
			}
			if err := f.db.AddRecords(ctx, "example.com", fill); err != nil {
				t.Fatal(err)
			}
			wantCode("the owner adds a record to a zone of 10,000", addAt(f.alice, acmeSet, in("", "", 120, "token 2")), twofold.CodeInvalid)
			if _, err := f.svc.ReplaceDNSRecords(ctx, f.alice, acmeSet, []core.RecordInput{in("", "", 120, "token 3")}, core.Meta{}); err != nil {
				t.Errorf("the owner replaces a record in a zone of 10,000: %v", err)
			}
		})
	}
}

// txMark marks the context of a transaction of txWatchStore.
type txMark struct{}

// txWatchStore counts the reads of a zone's records made inside a
// transaction, and runs meanwhile, when set, after each read of the records
// at names outside one, a write's last read of the zone: a change another
// instance commits between a write's reads and its transaction.
type txWatchStore struct {
	testDB
	inTx      atomic.Int64
	meanwhile func(ctx context.Context)
}

func (s *txWatchStore) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return s.testDB.InTx(ctx, func(ctx context.Context) error { return fn(context.WithValue(ctx, txMark{}, true)) })
}

func (s *txWatchStore) read(ctx context.Context) {
	if ctx.Value(txMark{}) != nil {
		s.inTx.Add(1)
	} else if s.meanwhile != nil {
		s.meanwhile(ctx)
	}
}

func (s *txWatchStore) Records(ctx context.Context, zone string) ([]twofold.Record, error) {
	s.read(ctx)
	return s.testDB.Records(ctx, zone)
}

func (s *txWatchStore) RecordsAt(ctx context.Context, zone string, hosts []string) ([]twofold.Record, error) {
	recs, err := s.testDB.RecordsAt(ctx, zone, hosts)
	s.read(ctx)
	return recs, err
}

func (s *txWatchStore) RecordSetSizes(ctx context.Context, zone string) ([]twofold.RecordSetSize, error) {
	if ctx.Value(txMark{}) != nil {
		s.inTx.Add(1)
	}
	return s.testDB.RecordSetSizes(ctx, zone)
}

// newTxWatch returns a service on a txWatchStore with alice's zone
// example.com.
func newTxWatch(t *testing.T, dsn string) (*core.Service, *txWatchStore, core.Auth) {
	t.Helper()
	db := openStore(t, dsn)
	ws := &txWatchStore{testDB: db}
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := newService(t, ws, db, func() time.Time { return now }, nil)
	alice := signedIn(t, svc, "alice")
	if _, err := svc.AddZone(t.Context(), "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return svc, ws, alice
}

// TestChangeReadsBeforeItsTransaction: a write reads what its rules need
// of the zone (the sizes of its record sets, the records at its names, or
// every record for a write to the whole zone) before its transaction, so
// that on SQLite it holds the one writer, which sign-ins wait for, only to
// check the serial and write, however big the zone.
func TestChangeReadsBeforeItsTransaction(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, ws, alice := newTxWatch(t, dsn(t))
			zone := core.RecordSet{Zone: "example.com"}
			www := core.RecordSet{Zone: "example.com", Host: "www"}
			for _, tt := range []struct {
				name string
				op   func() error
			}{
				{"add at a name", func() error {
					_, err := svc.AddDNSRecords(ctx, alice, www, []core.RecordInput{in("", "A", 300, "192.0.2.1"), in("", "TXT", 300, "x")}, core.Meta{})
					return err
				}},
				{"replace at a name", func() error {
					_, err := svc.ReplaceDNSRecords(ctx, alice, www, []core.RecordInput{in("", "A", 300, "192.0.2.2")}, core.Meta{})
					return err
				}},
				{"delete at a name", func() error {
					_, err := svc.DeleteDNSRecords(ctx, alice, www, "", core.Meta{})
					return err
				}},
				{"replace the whole zone", func() error {
					_, err := svc.ReplaceDNSRecords(ctx, alice, zone, []core.RecordInput{in("mail", "A", 300, "192.0.2.3")}, core.Meta{})
					return err
				}},
				{"refused", func() error {
					_, err := svc.AddDNSRecords(ctx, alice, zone, []core.RecordInput{in("mail", "CNAME", 300, "mx.example.net.")}, core.Meta{})
					if twofold.ErrorCode(err) != twofold.CodeInvalid {
						return fmt.Errorf("a CNAME beside an A: got %v, want invalid", err)
					}
					return nil
				}},
			} {
				ws.inTx.Store(0)
				if err := tt.op(); err != nil {
					t.Fatalf("%s: %v", tt.name, err)
				}
				if n := ws.inTx.Load(); n != 0 {
					t.Errorf("%s: read the zone's records %d times inside its transaction, want 0", tt.name, n)
				}
			}
		})
	}
}

// TestChangeSeesChangesMadeWhileItRead: a change committed by another
// instance between a write's reads and its transaction moves the zone's
// serial on, and the write reads the zone again, so that its rules judge
// the zone it is written to: an A record is refused at a name where a
// CNAME arrived meanwhile, and a write whose zone changes on every read
// is answered as unavailable for a moment, having written nothing.
func TestChangeSeesChangesMadeWhileItRead(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			svc, ws, alice := newTxWatch(t, dsn(t))
			other := func(ctx context.Context, r twofold.Record) {
				t.Helper()
				z, err := ws.testDB.Zone(ctx, "example.com")
				if err == nil {
					err = ws.testDB.AddRecords(ctx, "example.com", []twofold.Record{r})
				}
				if err == nil {
					err = ws.testDB.SetZoneSerial(ctx, "example.com", z.Serial+1)
				}
				if err != nil {
					t.Errorf("a change of another instance: %v", err)
				}
			}
			var runs atomic.Int64
			ws.meanwhile = func(ctx context.Context) {
				if runs.Add(1) == 1 {
					other(ctx, rr("www", "CNAME", 300, "web.example.net."))
				}
			}
			_, err := svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.1")}, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Errorf("an A at a name that took a CNAME while the write read the zone: got %v, want invalid", err)
			}
			if n := runs.Load(); n != 2 {
				t.Errorf("the write read the zone %d times, want 2", n)
			}

			runs.Store(0)
			ws.meanwhile = func(ctx context.Context) {
				other(ctx, rr(fmt.Sprintf("n%d", runs.Add(1)), "A", 300, "192.0.2.9"))
			}
			_, err = svc.AddDNSRecords(ctx, alice, core.RecordSet{Zone: "example.com", Host: "ftp", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.1")}, core.Meta{})
			var te *twofold.Error
			if twofold.ErrorCode(err) != twofold.CodeUnavailable || !errors.As(err, &te) || te.RetryAfter <= 0 {
				t.Errorf("a write whose zone changes on every read: got %v, want unavailable with a time to retry after", err)
			}
			ws.meanwhile = nil
			recs, err := ws.testDB.RecordsAt(ctx, "example.com", []string{"ftp"})
			if err != nil || len(recs) != 0 {
				t.Errorf("records at ftp after the write answered unavailable: got %v, %v; want none", recs, err)
			}
			if n := runs.Load(); n < 2 || n > 10 {
				t.Errorf("the write read the zone %d times, want a few", n)
			}
		})
	}
}
