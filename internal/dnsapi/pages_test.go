package dnsapi_test

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// bigZone returns n records of example.com in canonical form, in no
// particular order: names and data whose order differs between comparing
// bytes and a language's rules (punctuation, case, digits), TXT text of
// textSize bytes and more, and sets spread over many pages.
func bigZone(t *testing.T, n, textSize int) []twofold.Record {
	t.Helper()
	hosts := []string{"@", "*", "*.dev", "_acme-challenge", "_dmarc", "a-b", "ab", "a0", "a.b", "z", "xn--caf-dma", "0", "9z", "_sip._tcp"}
	var out []twofold.Record
	seen := map[string]bool{}
	add := func(in core.RecordInput) {
		r, err := core.ParseRecord("example.com", in)
		if err != nil {
			t.Fatalf("ParseRecord(%v): %v", in, err)
		}
		k := r.Host + " " + r.Type + " " + r.Data
		if !seen[k] {
			seen[k] = true
			out = append(out, r)
		}
	}
	for i := 0; len(out) < n; i++ {
		host := hosts[i%len(hosts)]
		if i%3 == 0 {
			host = fmt.Sprintf("h%d", i%97)
		}
		switch i % 5 {
		case 0, 1:
			// Case and punctuation that sort apart in en-US and in bytes.
			text := []string{"B", "a", "_", "Z", "b", "-", "é"}[i%7] + fmt.Sprintf("%05d ", i) + strings.Repeat("x", textSize)
			add(core.RecordInput{Host: host, Type: "TXT", TTL: 300, Data: text})
		case 2:
			add(core.RecordInput{Host: host, Type: "SSHFP", TTL: 300, Data: fmt.Sprintf("1 1 %040x", i*7919)})
		case 3:
			if host != "@" {
				add(core.RecordInput{Host: host, Type: "AAAA", TTL: 600, Data: fmt.Sprintf("2001:db8::%x", i)})
			}
		case 4:
			add(core.RecordInput{Host: host, Type: "CAA", TTL: 3600, Data: fmt.Sprintf(`0 issue "ca%d.Example"`, i)})
		}
	}
	return out
}

// jsonRecord is a record as the DNS API writes it.
type jsonRecord struct {
	Host string `json:"host"`
	TTL  int    `json:"ttl"`
	Type string `json:"type"`
	Data string `json:"data"`
}

// wantAnswers returns the JSON and zone-file answers for recs, assembled
// at once as the API wrote them before it wrote them in pages: sorted by
// host, type and data (bytes), encoded whole.
func wantAnswers(t *testing.T, recs []twofold.Record) (jsonText, zoneText string) {
	t.Helper()
	recs = slices.Clone(recs)
	slices.SortFunc(recs, func(x, y twofold.Record) int {
		return cmp.Or(cmp.Compare(x.Host, y.Host), cmp.Compare(x.Type, y.Type), cmp.Compare(x.Data, y.Data))
	})
	out := make([]jsonRecord, len(recs))
	for i, r := range recs {
		out[i] = jsonRecord{Host: r.Host, TTL: int(r.TTL), Type: r.Type, Data: r.Data}
		if r.Type == "TXT" {
			out[i].Data = core.TXTText(r.Data)
		}
	}
	var b strings.Builder
	if err := json.NewEncoder(&b).Encode(map[string][]jsonRecord{"records": out}); err != nil {
		t.Fatal(err)
	}
	return b.String(), core.FormatZoneText(recs)
}

// TestLargeZoneRead reads a zone of several thousand records, which the
// API reads and writes in pages, and a set of it: the answers are the
// bytes of the whole zone sorted and encoded at once, in the same order on
// SQLite, on PostgreSQL and on PostgreSQL in a database sorting text by
// en-US rules.
func TestLargeZoneRead(t *testing.T) {
	recs := bigZone(t, 3000, 200)
	wantJSON, wantText := wantAnswers(t, recs)
	dsns := testenv.DSNs(t)
	dsns["postgres en-US"] = func(tb testing.TB) string { return testenv.PostgresCollatedDSN(tb, "en-US") }
	for name, dsn := range dsns {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := testenv.NewServer(t, dsn(t))
			token := owner(t, s, "alice", "example.com")
			if err := s.Store.AddRecords(t.Context(), "example.com", recs); err != nil {
				t.Fatal(err)
			}
			auth := "Bearer " + token
			base := "/dns/v2/zones/example.com/records"

			a := call(t, s, auth, "GET", base, "", "")
			if a.status != 200 || a.header.Get("Content-Type") != "application/json" || a.header.Get("Cache-Control") != "no-store" {
				t.Fatalf("GET zone: got %d %v", a.status, a.header)
			}
			if a.body != wantJSON {
				t.Errorf("GET zone: the JSON answer (%d bytes) differs from the zone sorted and encoded at once (%d bytes) first at byte %d",
					len(a.body), len(wantJSON), firstDiff(a.body, wantJSON))
			}
			a = call(t, s, auth, "GET", base, "", "", "Accept", "text/dns")
			if a.status != 200 || a.header.Get("Content-Type") != "text/dns" {
				t.Fatalf("GET zone as text/dns: got %d %v", a.status, a.header)
			}
			if a.body != wantText {
				t.Errorf("GET zone as text/dns: the answer (%d bytes) differs from the zone sorted at once (%d bytes) first at byte %d",
					len(a.body), len(wantText), firstDiff(a.body, wantText))
			}

			// A set: only its records, in the same order.
			for _, set := range [][2]string{{"a-b", ""}, {"a-b", "TXT"}, {"*", "SSHFP"}, {"@", ""}, {"h3", "CAA"}} {
				var in []twofold.Record
				for _, r := range recs {
					if r.Host == set[0] && (set[1] == "" || r.Type == set[1]) {
						in = append(in, r)
					}
				}
				if len(in) == 0 {
					t.Fatalf("no records at %v in the fixture", set)
				}
				wantSet, wantSetText := wantAnswers(t, in)
				path := base + "/" + set[0]
				if set[1] != "" {
					path += "/" + set[1]
				}
				if a := call(t, s, auth, "GET", path, "", ""); a.status != 200 || a.body != wantSet {
					t.Errorf("GET %s: got %d, %d bytes, want the %d records of the set (%d bytes)", path, a.status, len(a.body), len(in), len(wantSet))
				}
				if a := call(t, s, auth, "GET", path, "", "", "Accept", "text/dns"); a.status != 200 || a.body != wantSetText {
					t.Errorf("GET %s as text/dns: got %d %q, want %q", path, a.status, a.body, wantSetText)
				}
			}

			// A key that may read some names sees only their records, in
			// every page.
			key := keyAuth(t, s, token, "dns example.com/a* read", "dns example.com/_*/TXT read")
			var allowed []twofold.Record
			for _, r := range recs {
				if strings.HasPrefix(r.Host, "a") || strings.HasPrefix(r.Host, "_") && r.Type == "TXT" {
					allowed = append(allowed, r)
				}
			}
			wantKey, _ := wantAnswers(t, allowed)
			if a := call(t, s, key, "GET", base, "", ""); a.status != 200 || a.body != wantKey {
				t.Errorf("GET zone with a key for some names: got %d, %d bytes, want %d records (%d bytes)", a.status, len(a.body), len(allowed), len(wantKey))
			}

			// data= matches the record's data in canonical form, here TXT
			// text given as its presentation form.
			var txt twofold.Record
			for _, r := range recs {
				if r.Host == "a-b" && r.Type == "TXT" {
					txt = r
					break
				}
			}
			one, _ := wantAnswers(t, []twofold.Record{txt})
			for _, data := range []string{core.TXTText(txt.Data), txt.Data} {
				a := call(t, s, auth, "GET", base+"/a-b/TXT?data="+url.QueryEscape(data), "", "")
				if a.status != 200 || a.body != one {
					t.Errorf("GET a-b/TXT?data=…: got %d %.200s, want %.200s", a.status, a.body, one)
				}
			}
			if a := call(t, s, auth, "GET", base+"?data="+url.QueryEscape(core.TXTText(txt.Data)), "", ""); a.status != 200 || a.body != one {
				t.Errorf("GET zone?data=…: got %d %.200s, want %.200s", a.status, a.body, one)
			}
		})
	}
}

// firstDiff returns the index of the first byte where a and b differ.
func firstDiff(a, b string) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestZoneChangedWhileRead checks that a read of a large zone that a
// change overtakes, after some of its answer left the server, ends with the
// connection cut, so that the client cannot take what it got for the
// whole zone.
func TestZoneChangedWhileRead(t *testing.T) {
	recs := bigZone(t, 8000, 1800) // more than a server's socket buffers hold (4 MiB on Linux)
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "example.com")
		if err := s.Store.AddRecords(t.Context(), "example.com", recs); err != nil {
			t.Fatal(err)
		}
		auth := "Bearer " + token
		base := "/dns/v2/zones/example.com/records"

		// A client that reads slowly: a small receive buffer, so that the
		// server's writes wait for it long before the end of the zone.
		client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if tc, ok := c.(*net.TCPConn); ok {
				tc.SetReadBuffer(16 << 10)
			}
			return c, err
		}}}
		req, err := http.NewRequest("GET", s.URL()+base, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", auth)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		head := make([]byte, 64<<10)
		if _, err := io.ReadFull(res.Body, head); err != nil || res.StatusCode != 200 {
			t.Fatalf("GET zone: got %d, reading its start: %v", res.StatusCode, err)
		}
		// The zone is over the bound of its record data (an older version's
		// zone, stored directly), so the change shrinks it: that is allowed.
		gone := recs[len(recs)-1]
		n := 0
		for _, r := range recs {
			if r.Host == gone.Host && r.Type == gone.Type {
				n++
			}
		}
		set := base + "/" + gone.Host + "/" + gone.Type
		a := call(t, s, auth, "DELETE", set, "", "")
		want(t, "DELETE "+gone.Host+"/"+gone.Type, a, 200, map[string]float64{"records_removed": float64(n)})
		rest, err := io.ReadAll(res.Body)
		if err == nil {
			var v map[string]any
			t.Errorf("GET zone changed while read: the answer ended without an error (%d bytes; a JSON object: %v)",
				len(head)+len(rest), json.Unmarshal(append(head, rest...), &v) == nil)
		}

		if a := call(t, s, auth, "GET", set, "", ""); a.status != 200 || a.body != `{"records":[]}`+"\n" {
			t.Errorf("GET %s after the change: got %d %s", set, a.status, a.body)
		}
	})
}
