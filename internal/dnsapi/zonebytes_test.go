package dnsapi_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestZoneBytesBound: a write that would take a zone beyond 4 MiB of
// record data is a 400 problem naming the bound.
func TestZoneBytesBound(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		// 2,097 records of 2,000 bytes, stored as an older version could:
		// 4,194,000 bytes, 304 short of 4 MiB.
		var recs []twofold.Record
		for i := range 2097 {
			r, err := core.ParseRecord("example.com", core.RecordInput{Host: fmt.Sprintf("h%04d", i), Type: "TXT", TTL: 300, Data: strings.Repeat("x", 1977)})
			if err != nil || len(r.Data) != 2000 {
				t.Fatalf("record of 2,000 bytes: got %d, %v", len(r.Data), err)
			}
			recs = append(recs, r)
		}
		if err := s.Store.AddRecords(context.Background(), "example.com", recs); err != nil {
			t.Fatal(err)
		}
		set := "/dns/v2/zones/example.com/records/_acme-challenge/TXT"
		a := call(t, s, auth, "POST", set, "application/x-www-form-urlencoded", "data="+strings.Repeat("y", 400))
		if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, "4194304") || !strings.Contains(a.body, "4 MiB") {
			t.Fatalf("a record of 405 bytes with 304 left: got %d %s, want 400 invalid naming the bound", a.status, a.body)
		}
		a = call(t, s, auth, "POST", set, "application/x-www-form-urlencoded", "data=token")
		want(t, "a small record with 304 bytes left", a, 200, map[string]float64{"records_added": 1})
	})
}
