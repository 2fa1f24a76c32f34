package web_test

import (
	"fmt"
	"html"
	"regexp"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestZonePageInParts: a zone's page lists a large zone a part at a time,
// with a link to the records that follow, and the parts together are the
// zone in order.
func TestZonePageInParts(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "alice", false, false)
			if _, err := ts.Service.AddZone(t.Context(), "example.com", "alice", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			var recs []twofold.Record
			for i := range 1200 {
				r, err := core.ParseRecord("example.com", core.RecordInput{Host: fmt.Sprintf("h%d", i%300), Type: "TXT", TTL: 300, Data: fmt.Sprintf("text %d & more", i)})
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			if err := ts.Store.AddRecords(t.Context(), "example.com", recs); err != nil {
				t.Fatal(err)
			}
			want, err := ts.Store.Records(t.Context(), "example.com")
			if err != nil {
				t.Fatal(err)
			}

			c := newClient(t, ts.URL())
			c.signIn("alice")
			row := regexp.MustCompile(`<td class="record-host"><code>([^<]*)</code></td>\s*<td class="record-type">([^<]*)</td>\s*<td>\d+</td>\s*<td class="record-data"><code>([^<]*)</code>`)
			more := regexp.MustCompile(`<a id="more-records" href="([^"]*)"`)
			var got []string
			path := "/settings/dns/example.com"
			for pages := 0; path != ""; pages++ {
				if pages > 3 {
					t.Fatalf("more than 3 pages for 1200 records: %s", path)
				}
				r := c.get(path)
				if r.status != 200 {
					t.Fatalf("GET %s: %d", path, r.status)
				}
				rows := row.FindAllStringSubmatch(r.body, -1)
				if len(rows) == 0 || len(rows) > 500 {
					t.Fatalf("GET %s: %d records listed, want 1 to 500", path, len(rows))
				}
				for _, m := range rows {
					got = append(got, html.UnescapeString(m[1]+" "+m[2]+" "+m[3]))
				}
				path = ""
				if m := more.FindStringSubmatch(r.body); m != nil {
					path = html.UnescapeString(m[1])
				}
			}
			if len(got) != len(want) {
				t.Fatalf("the pages list %d records, want %d", len(got), len(want))
			}
			for i, r := range want {
				if w := r.Host + " " + r.Type + " " + r.Data; got[i] != w {
					t.Fatalf("record %d listed: got %q, want %q", i, got[i], w)
				}
			}
		})
	}
}
