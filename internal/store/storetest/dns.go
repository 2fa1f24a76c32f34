package storetest

import (
	"context"
	"errors"
	"math"
	"strconv"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/store"
)

// newZone stores zone name for accountID with serial 1.
func newZone(tb testing.TB, s *store.Store, accountID, name string) twofold.Zone {
	tb.Helper()
	z := twofold.Zone{Name: name, AccountID: accountID, Serial: 1, CreatedAt: t0}
	if err := s.CreateZone(tb.Context(), z); err != nil {
		tb.Fatalf("CreateZone(%q): %v", name, err)
	}
	return z
}

// records reads the zone's records.
func records(tb testing.TB, s *store.Store, zone string) []twofold.Record {
	tb.Helper()
	rs, err := s.Records(tb.Context(), zone)
	if err != nil {
		tb.Fatalf("Records(%q): %v", zone, err)
	}
	return rs
}

func rec(host, typ, data string) twofold.Record {
	return twofold.Record{Host: host, Type: typ, TTL: 300, Data: data}
}

func testZoneRoundTrip(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	b := newAccount(t, s, "bob")
	za := newZone(t, s, a.ID, "example.com")
	zb := newZone(t, s, a.ID, "example.net")
	zc := newZone(t, s, b.ID, "example.org")

	got, err := s.Zone(ctx, "example.com")
	if err != nil {
		t.Fatalf("Zone: %v", err)
	}
	if diff := cmp.Diff(za, got); diff != "" {
		t.Errorf("Zone (-want +got):\n%s", diff)
	}
	_, err = s.Zone(ctx, "example.info")
	wantCode(t, "Zone of an unknown name", err, twofold.CodeNotFound)
	wantCode(t, "CreateZone of a name taken by another account",
		s.CreateZone(ctx, twofold.Zone{Name: "example.com", AccountID: b.ID, Serial: 1, CreatedAt: t0}), twofold.CodeConflict)

	tests := []struct {
		name    string
		account string
		want    []twofold.Zone
	}{
		{"alice", a.ID, []twofold.Zone{za, zb}},
		{"bob", b.ID, []twofold.Zone{zc}},
		{"nobody", "acct-nobody", nil},
		{"all", "", []twofold.Zone{za, zb, zc}},
	}
	for _, tt := range tests {
		got, err := s.Zones(ctx, tt.account)
		if err != nil {
			t.Fatalf("Zones(%s): %v", tt.name, err)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("Zones(%s) (-want +got):\n%s", tt.name, diff)
		}
	}
}

func testZoneOf(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "sub.example.com")
	tests := []struct {
		name  string
		names []string
		want  string // "" for none
	}{
		{"apex", []string{"example.com", "com"}, "example.com"},
		{"below", []string{"www.example.com", "example.com", "com"}, "example.com"},
		{"longest wins", []string{"a.sub.example.com", "sub.example.com", "example.com", "com"}, "sub.example.com"},
		{"outside", []string{"www.example.org", "example.org", "org"}, ""},
		{"none asked", nil, ""},
	}
	for _, tt := range tests {
		z, found, err := s.ZoneOf(t.Context(), tt.names)
		if err != nil {
			t.Fatalf("ZoneOf(%s): %v", tt.name, err)
		}
		if found != (tt.want != "") || z.Name != tt.want {
			t.Errorf("ZoneOf(%s): got %q (found %v), want %q", tt.name, z.Name, found, tt.want)
		}
	}
}

func testZoneDelete(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "example.net")
	if err := s.AddRecords(ctx, "example.com", []twofold.Record{rec("www", "A", "192.0.2.1")}); err != nil {
		t.Fatal(err)
	}
	if err := s.AddRecords(ctx, "example.net", []twofold.Record{rec("www", "A", "192.0.2.2")}); err != nil {
		t.Fatal(err)
	}
	if found, err := s.DeleteZone(ctx, "example.com"); err != nil || !found {
		t.Fatalf("DeleteZone: got %v, %v; want true", found, err)
	}
	if found, err := s.DeleteZone(ctx, "example.com"); err != nil || found {
		t.Fatalf("DeleteZone again: got %v, %v; want false", found, err)
	}
	_, err := s.Zone(ctx, "example.com")
	wantCode(t, "Zone after DeleteZone", err, twofold.CodeNotFound)
	// A zone made again under the name starts empty; the other keeps its records.
	newZone(t, s, a.ID, "example.com")
	if got := records(t, s, "example.com"); len(got) != 0 {
		t.Errorf("Records of a zone made again: got %v, want none", got)
	}
	if got := records(t, s, "example.net"); len(got) != 1 {
		t.Errorf("Records of the other zone: got %v, want its one", got)
	}
}

func testZoneSerial(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	for _, serial := range []uint32{2, math.MaxUint32, 1} {
		if err := s.SetZoneSerial(ctx, "example.com", serial); err != nil {
			t.Fatalf("SetZoneSerial(%d): %v", serial, err)
		}
		z, err := s.LockZone(ctx, "example.com")
		if err != nil {
			t.Fatalf("LockZone: %v", err)
		}
		if z.Serial != serial {
			t.Errorf("LockZone: got serial %d, want %d", z.Serial, serial)
		}
	}
	wantCode(t, "SetZoneSerial of an unknown zone", s.SetZoneSerial(ctx, "example.org", 5), twofold.CodeNotFound)
	_, err := s.LockZone(ctx, "example.org")
	wantCode(t, "LockZone of an unknown zone", err, twofold.CodeNotFound)
}

func testRecords(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "example.net")
	long := twofold.Record{Host: "@", Type: "TXT", TTL: 86400, Data: `"v=spf1 -all"`}
	in := []twofold.Record{rec("www", "A", "192.0.2.2"), rec("www", "A", "192.0.2.1"), rec("@", "MX", "10 mx.example.com."), long,
		rec("_acme-challenge", "TXT", `"abc"`)}
	if err := s.AddRecords(ctx, "example.com", in); err != nil {
		t.Fatalf("AddRecords: %v", err)
	}
	want := []twofold.Record{rec("@", "MX", "10 mx.example.com."), long, rec("_acme-challenge", "TXT", `"abc"`),
		rec("www", "A", "192.0.2.1"), rec("www", "A", "192.0.2.2")}
	if diff := cmp.Diff(want, records(t, s, "example.com")); diff != "" {
		t.Errorf("Records (-want +got):\n%s", diff)
	}
	if got := records(t, s, "example.net"); len(got) != 0 {
		t.Errorf("Records of another zone: got %v, want none", got)
	}

	// A batch with a record already stored is refused whole.
	err := s.AddRecords(ctx, "example.com", []twofold.Record{rec("new", "A", "192.0.2.9"), rec("www", "A", "192.0.2.1")})
	wantCode(t, "AddRecords with a duplicate", err, twofold.CodeConflict)
	if diff := cmp.Diff(want, records(t, s, "example.com")); diff != "" {
		t.Errorf("Records after a refused batch (-want +got):\n%s", diff)
	}
	err = s.AddRecords(ctx, "example.org", []twofold.Record{rec("www", "A", "192.0.2.1")})
	wantCode(t, "AddRecords to an unknown zone", err, twofold.CodeNotFound)

	n, err := s.DeleteRecords(ctx, "example.com", []twofold.Record{rec("www", "A", "192.0.2.1"), rec("www", "A", "192.0.2.7"), rec("www", "AAAA", "192.0.2.2")})
	if err != nil || n != 1 {
		t.Fatalf("DeleteRecords: got %d, %v; want 1", n, err)
	}
	want = []twofold.Record{rec("@", "MX", "10 mx.example.com."), long, rec("_acme-challenge", "TXT", `"abc"`), rec("www", "A", "192.0.2.2")}
	if diff := cmp.Diff(want, records(t, s, "example.com")); diff != "" {
		t.Errorf("Records after DeleteRecords (-want +got):\n%s", diff)
	}
}

// testRecordSizes checks RecordsAt and RecordSetSizes: the records at some
// names, and every name's and type's count and data bytes.
func testRecordSizes(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "example.net")
	in := []twofold.Record{rec("www", "A", "192.0.2.2"), rec("www", "A", "192.0.2.1"), rec("www", "TXT", `"a b"`),
		rec("@", "MX", "10 mx.example.com."), rec("mail", "A", "192.0.2.3")}
	if err := s.AddRecords(ctx, "example.com", in); err != nil {
		t.Fatalf("AddRecords: %v", err)
	}
	if err := s.AddRecords(ctx, "example.net", []twofold.Record{rec("www", "A", "192.0.2.9")}); err != nil {
		t.Fatalf("AddRecords: %v", err)
	}
	at, err := s.RecordsAt(ctx, "example.com", []string{"www", "@", "none"})
	if err != nil {
		t.Fatalf("RecordsAt: %v", err)
	}
	want := []twofold.Record{rec("@", "MX", "10 mx.example.com."), rec("www", "A", "192.0.2.1"), rec("www", "A", "192.0.2.2"), rec("www", "TXT", `"a b"`)}
	if diff := cmp.Diff(want, at); diff != "" {
		t.Errorf("RecordsAt (-want +got):\n%s", diff)
	}
	sizes, err := s.RecordSetSizes(ctx, "example.com")
	if err != nil {
		t.Fatalf("RecordSetSizes: %v", err)
	}
	wantSizes := []twofold.RecordSetSize{{Host: "@", Type: "MX", Count: 1, Bytes: 18}, {Host: "mail", Type: "A", Count: 1, Bytes: 9},
		{Host: "www", Type: "A", Count: 2, Bytes: 18}, {Host: "www", Type: "TXT", Count: 1, Bytes: 5}}
	if diff := cmp.Diff(wantSizes, sizes); diff != "" {
		t.Errorf("RecordSetSizes (-want +got):\n%s", diff)
	}
	if sizes, err := s.RecordSetSizes(ctx, "example.org"); err != nil || len(sizes) != 0 {
		t.Errorf("RecordSetSizes of no zone: got %v, %v; want none", sizes, err)
	}
}

// testRecordPageStarts checks RecordPage's starts: a read of the records
// at names that start with one of them, page by page, takes exactly those
// of the whole zone's that start so, in the same order (bytes, whatever
// the database's collation), next door to each start's end included.
func testRecordPageStarts(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	newZone(t, s, a.ID, "example.net")
	var in []twofold.Record
	for _, h := range []string{"@", "_acme-challenge", "_acme-challenge.www", "_acme-challenge-2", "_acme-challengf", "_acme-challeng",
		"_acme", "a", "www", "www2", "www.shop", "wwv", "wwx", "ww", "x-_", "x-a", "x_", "z"} {
		in = append(in, rec(h, "TXT", `"`+h+`"`), rec(h, "A", "192.0.2.1"), rec(h, "A", "192.0.2.10"), rec(h, "A", "192.0.2.9"))
	}
	if err := s.AddRecords(ctx, "example.com", in); err != nil {
		t.Fatalf("AddRecords: %v", err)
	}
	if err := s.AddRecords(ctx, "example.net", []twofold.Record{rec("www", "A", "192.0.2.9")}); err != nil {
		t.Fatalf("AddRecords: %v", err)
	}
	all := records(t, s, "example.com")
	for _, starts := range [][]string{{"_acme-challenge"}, {"www"}, {"_acme-challenge", "www"}, {"x-"}, {"@", "z"}, {"none"}, {"a", "ww"}} {
		var want []twofold.Record
		for _, r := range all {
			for _, st := range starts {
				if len(r.Host) >= len(st) && r.Host[:len(st)] == st {
					want = append(want, r)
					break
				}
			}
		}
		for _, limit := range []int{1, 3, 1000} {
			var got []twofold.Record
			after := twofold.Record{}
			for range 1000 {
				page, err := s.RecordPage(ctx, "example.com", "", "", starts, after, limit)
				if err != nil {
					t.Fatalf("RecordPage(%v): %v", starts, err)
				}
				got = append(got, page...)
				if len(page) < limit {
					break
				}
				after = page[len(page)-1]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("RecordPage of starts %v, pages of %d (-want +got):\n%s", starts, limit, diff)
			}
		}
	}
}

// testRecordsTxRollback checks that a replacement whose transaction fails
// leaves the zone as it was: nothing half-written.
func testRecordsTxRollback(t *testing.T, s *store.Store) {
	ctx := t.Context()
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	before := []twofold.Record{rec("www", "A", "192.0.2.1"), rec("www", "A", "192.0.2.2")}
	if err := s.AddRecords(ctx, "example.com", before); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.LockZone(ctx, "example.com"); err != nil {
			return err
		}
		if n, err := s.DeleteRecords(ctx, "example.com", before); err != nil || n != 2 {
			t.Errorf("DeleteRecords in the transaction: got %d, %v", n, err)
		}
		if err := s.AddRecords(ctx, "example.com", []twofold.Record{rec("www", "A", "192.0.2.3")}); err != nil {
			t.Errorf("AddRecords in the transaction: %v", err)
		}
		if err := s.SetZoneSerial(ctx, "example.com", 9); err != nil {
			t.Errorf("SetZoneSerial in the transaction: %v", err)
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: got %v, want the function's error", err)
	}
	if diff := cmp.Diff(before, records(t, s, "example.com")); diff != "" {
		t.Errorf("Records after a failed replacement (-want +got):\n%s", diff)
	}
	z, err := s.Zone(ctx, "example.com")
	if err != nil || z.Serial != 1 {
		t.Errorf("Zone after a failed replacement: got serial %d, %v; want 1", z.Serial, err)
	}
}

// testRaceLockZone checks that changes of one zone take turns: each racer
// reads the serial under LockZone and writes it plus one, and none is lost.
func testRaceLockZone(t *testing.T, s *store.Store) {
	a := newAccount(t, s, "alice")
	newZone(t, s, a.ID, "example.com")
	race(t, func(i int) (bool, error) {
		err := s.InTx(t.Context(), func(ctx context.Context) error {
			z, err := s.LockZone(ctx, "example.com")
			if err != nil {
				return err
			}
			if err := s.AddRecords(ctx, "example.com", []twofold.Record{rec("r", "A", "192.0.2."+strconv.Itoa(i+1))}); err != nil {
				return err
			}
			return s.SetZoneSerial(ctx, "example.com", z.Serial+1)
		})
		return err == nil, err
	})
	z, err := s.Zone(t.Context(), "example.com")
	if err != nil {
		t.Fatal(err)
	}
	if want := uint32(1 + racers); z.Serial != want {
		t.Errorf("serial after %d changes: got %d, want %d", racers, z.Serial, want)
	}
	if got := len(records(t, s, "example.com")); got != racers {
		t.Errorf("records after %d changes: got %d, want %d", racers, got, racers)
	}
}
