package dnsapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzKeyScope sends any request to the DNS API (a method of GET, POST,
// PUT and DELETE, any path under /dns/v2/zones with any query, any
// Content-Type, or Accept for a GET, and any body) with one of alice's
// API keys, each allowed a part of her zone example.com:
//
//	certbot  dns example.com/_acme-challenge/TXT write
//	acmes    dns example.com/_acme-challenge*/TXT write
//	adder    dns example.com/_acme-challenge/TXT add
//	reader   dns example.com read
//	mixed    dns example.com/www/A replace, dns example.com/_acme-challenge/TXT read,delete
//
// alice also owns example.net, and bob example.org, with records at the
// same names. Whatever the request:
//
//   - the answer is never a server error;
//   - every record it adds, removes or gives a new TTL is in example.com,
//     at a name and type a permit of the key allows for what the method
//     does (POST adds, PUT replaces, DELETE removes, write is all three);
//     a POST removes nothing and a DELETE adds nothing;
//   - a refusal (4xx) changes no record, and nothing else is written but
//     the zone's serial when its records changed, and the key's last use;
//   - a read (200) answers only records example.com held, at names and
//     types the key may read, and a list of zones names only example.com.
//
// The zone's records at _acme-challenge* grow as keys add them; past 40 the
// extra ones are removed before the next request. On SQLite;
// FuzzKeyScopePostgres is the same on PostgreSQL.
func FuzzKeyScope(f *testing.F) { keyScope(f, testenv.SQLiteDSN(f)) }

// FuzzKeyScopePostgres is FuzzKeyScope on PostgreSQL.
func FuzzKeyScopePostgres(f *testing.F) { keyScope(f, testenv.PostgresDSN(f)) }

// scopePermit is a permit of a FuzzKeyScope key in example.com: a host
// ("_acme-challenge", a prefix ending in "*", or "*") and a type ("*" for
// any), and the actions it allows.
type scopePermit struct {
	host, typ string
	actions   []string // read, add, replace, delete
}

// allows reports whether p lets action be done to a record at host (lower
// case, "@" for the apex) of type typ.
func (p scopePermit) allows(action, host, typ string) bool {
	hostOK := p.host == "*" || p.host == host
	if prefix, ok := strings.CutSuffix(p.host, "*"); ok && p.host != "*" {
		hostOK = strings.HasPrefix(host, prefix) && !strings.HasPrefix(host, "*")
	}
	return hostOK && (p.typ == "*" || p.typ == typ) && slices.Contains(p.actions, action)
}

// scopeKey is a key of FuzzKeyScope, with its permits as the server is
// told them and as the oracle reads them.
type scopeKey struct {
	name    string
	permits []string
	scope   []scopePermit
	auth    string
}

func (k scopeKey) allows(action string, r twofold.Record) bool {
	return slices.ContainsFunc(k.scope, func(p scopePermit) bool { return p.allows(action, r.Host, r.Type) })
}

var (
	writeActions = []string{"add", "replace", "delete"}
	scopeKeys    = []scopeKey{
		{name: "certbot", permits: []string{"dns example.com/_acme-challenge/TXT write"},
			scope: []scopePermit{{"_acme-challenge", "TXT", writeActions}}},
		{name: "acmes", permits: []string{"dns example.com/_acme-challenge*/TXT write"},
			scope: []scopePermit{{"_acme-challenge*", "TXT", writeActions}}},
		{name: "adder", permits: []string{"dns example.com/_acme-challenge/TXT add"},
			scope: []scopePermit{{"_acme-challenge", "TXT", []string{"add"}}}},
		{name: "reader", permits: []string{"dns example.com read"},
			scope: []scopePermit{{"*", "*", []string{"read"}}}},
		{name: "mixed", permits: []string{"dns example.com/www/A replace", "dns example.com/_acme-challenge/TXT read,delete"},
			scope: []scopePermit{{"www", "A", []string{"replace"}}, {"_acme-challenge", "TXT", []string{"read", "delete"}}}},
	}
	// scopeZones are the zones FuzzKeyScope fills, and what with: the
	// same names in each, other data.
	scopeZones = map[string]string{
		"example.com": "@ 300 TXT \"v=spf1 -all\"\nwww 300 A 192.0.2.1\nmail 300 MX 10 mx.example.net.\n" +
			"_acme-challenge 300 TXT t1\n_acme-challenge 300 TXT t2\n_acme-challenge 300 A 192.0.2.7\n" +
			"_acme-challenge.www 300 TXT w1\n_acme-challengex 300 TXT x1\n*.dev 300 A 192.0.2.3\n",
		"example.net": "www 300 A 198.51.100.1\n_acme-challenge 300 TXT net1\n",
		"example.org": "www 300 A 203.0.113.1\n_acme-challenge 300 TXT org1\n",
	}
)

func keyScope(f *testing.F, dsn string) {
	s := testenv.NewServer(f, dsn)
	alice := "Bearer " + owner(f, s, "alice", "example.com", "example.net")
	bob := "Bearer " + owner(f, s, "bob", "example.org")
	for zone, text := range scopeZones {
		auth := alice
		if zone == "example.org" {
			auth = bob
		}
		want(f, "filling "+zone, call(f, s, auth, "PUT", "/dns/v2/zones/"+zone+"/records", "text/dns", text), 200, nil)
	}
	keys := slices.Clone(scopeKeys)
	for i := range keys {
		keys[i].auth = keyAuth(f, s, strings.TrimPrefix(alice, "Bearer "), keys[i].permits...)
	}
	snaps := testenv.OpenSnapshots(f, dsn)
	initial := zoneRecords(f, s, "example.com")

	form := "application/x-www-form-urlencoded"
	for _, in := range []struct {
		key, method       uint8
		path, ctype, body string
	}{
		{0, 1, "/example.com/records/_acme-challenge/TXT", form, "data=tok"},
		{0, 1, "/example.com/records/www/A", form, "data=192.0.2.9"},
		{0, 1, "/example.com/records/_acme-challenge/A", form, "data=192.0.2.9"},
		{0, 1, "/example.com/records/_acme-challenge.www/TXT", form, "data=tok"},
		{0, 1, "/example.com/records", "application/json", `{"records":[{"host":"_acme-challenge","type":"TXT","data":"a"},{"host":"www","type":"A","data":"192.0.2.5"}]}`},
		{0, 1, "/EXAMPLE.COM./records/_ACME-CHALLENGE/txt", form, "data=tok2"},
		{0, 1, "/example.com/records/_acme-challenge.example.com./TXT", form, "data=tok3"},
		{0, 2, "/example.com/records", "text/dns", "_acme-challenge 300 TXT a\nwww 300 A 192.0.2.9\n"},
		{0, 2, "/example.com/records/_acme-challenge/TXT", form, "data=only"},
		{0, 2, "/example.com/records/_acme-challenge", "text/dns", "_acme-challenge 300 TXT a\n"},
		{0, 3, "/example.com/records", "", ""},
		{0, 3, "/example.com/records/_acme-challenge", "", ""},
		{0, 3, "/example.com/records/_acme-challenge/TXT?data=t1", "", ""},
		{0, 1, "/example.org/records/_acme-challenge/TXT", form, "data=x"},
		{0, 1, "/example.net/records/_acme-challenge/TXT", form, "data=x"},
		{0, 0, "/example.com/records", "", ""},
		{0, 0, "", "", ""},
		{3, 0, "", "", ""},
		{0, 0, "/", "", ""},
		{1, 1, "/example.com/records/_acme-challenge.www/TXT", form, "data=z"},
		{1, 2, "/example.com/records/_acme-challengex/TXT", form, "data=z"},
		{1, 3, "/example.com/records", "", ""},
		{2, 1, "/example.com/records/_acme-challenge/TXT", "application/json", `{"records":[{"ttl":600,"data":"t1"}]}`},
		{2, 2, "/example.com/records/_acme-challenge/TXT", form, "data=z"},
		{2, 3, "/example.com/records/_acme-challenge/TXT", "", ""},
		{3, 0, "/example.com/records", "text/dns", ""},
		{3, 0, "/example.net/records", "", ""},
		{3, 0, "/example.org/records", "", ""},
		{3, 1, "/example.com/records/www/A", form, "data=192.0.2.9"},
		{4, 2, "/example.com/records/www/A", form, "data=192.0.2.8"},
		{4, 2, "/example.com/records/www", "text/dns", "www 300 A 192.0.2.8\nwww 300 AAAA 2001:db8::1\n"},
		{4, 3, "/example.com/records/_acme-challenge/TXT?data=t2", "", ""},
		{4, 3, "/example.com/records/_acme-challenge", "", ""},
		{4, 0, "/example.com/records/_acme-challenge/TXT", "", ""},
		{4, 0, "/example.com/records", "", ""},
		{4, 0, "/example.com/records/_acme-challenge", "text/dns", ""},
		{4, 0, "", "", ""},
	} {
		f.Add(in.key, in.method, in.path, in.ctype, in.body)
	}

	methods := []string{"GET", "POST", "PUT", "DELETE"}
	actions := []string{"read", "add", "replace", "delete"}
	f.Fuzz(func(t *testing.T, keyIndex, methodIndex uint8, path, ctype, body string) {
		k := keys[int(keyIndex)%len(keys)]
		m := int(methodIndex) % len(methods)
		method, action := methods[m], actions[m]
		req, err := http.NewRequest(method, s.URL()+"/dns/v2/zones"+path, strings.NewReader(body))
		if err != nil || strings.ContainsFunc(ctype, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }) {
			return // not a request a client could send
		}
		req.Header.Set("Authorization", k.auth)
		if ctype != "" {
			if method == "GET" {
				req.Header.Set("Accept", ctype)
			} else {
				req.Header.Set("Content-Type", ctype)
			}
		}

		trimZone(t, s, initial)
		before := zoneRecords(t, s, "example.com")
		snap := snaps.Take(t)
		r := testenv.Send(t, nil, req)
		if r.Status >= 500 {
			t.Fatalf("%s %s (%s): %d %s", method, req.URL, k.name, r.Status, r.Body)
		}
		after := zoneRecords(t, s, "example.com")

		// What changed in example.com, each at most once.
		changed := false
		for id, b := range before {
			a, ok := after[id]
			switch {
			case ok && a.TTL == b.TTL:
				continue
			case !ok && method == "POST":
				t.Fatalf("%s %s (%s): a POST removed %v", method, req.URL, k.name, b)
			}
			changed = true
			if !k.allows(action, b) {
				t.Fatalf("%s %s (%s): %d, and %v went or changed, which the key may not %s", method, req.URL, k.name, r.Status, b, action)
			}
		}
		for id, a := range after {
			if _, ok := before[id]; ok {
				continue
			}
			changed = true
			if method == "DELETE" || !k.allows(action, a) {
				t.Fatalf("%s %s (%s): %d, and %v came, which the key may not %s", method, req.URL, k.name, r.Status, a, action)
			}
		}
		if changed && r.Status >= 300 {
			t.Fatalf("%s %s (%s): refused %d, yet records changed: %s", method, req.URL, k.name, r.Status, r.Body)
		}
		var rest []string
		for _, l := range strings.Split(testenv.WithoutLastUse(snap.Diff(snaps.Take(t))), "\n") {
			switch {
			case l == "",
				strings.HasPrefix(l[2:], "dns_records: zone=example.com "),
				changed && strings.HasPrefix(l[2:], "dns_zones: name=example.com "):
			default:
				rest = append(rest, l)
			}
		}
		if len(rest) > 0 {
			t.Fatalf("%s %s (%s): %d, and wrote more than example.com's records:\n%s", method, req.URL, k.name, r.Status, strings.Join(rest, "\n"))
		}

		if method != "GET" || r.Status != 200 {
			return
		}
		var read struct {
			Zones   []string `json:"zones"`
			Records []struct {
				Host, Type, Data string
			} `json:"records"`
		}
		if err := json.Unmarshal(r.Body, &read); err != nil {
			// text/dns: one record a line, host ttl type data
			for _, line := range strings.Split(strings.TrimSpace(string(r.Body)), "\n") {
				if f := strings.Fields(line); len(f) >= 4 {
					read.Records = append(read.Records, struct{ Host, Type, Data string }{f[0], f[2], strings.Join(f[3:], " ")})
				} else if line != "" {
					t.Fatalf("%s %s (%s): 200 with a line that is no record: %q", method, req.URL, k.name, line)
				}
			}
		}
		for _, z := range read.Zones {
			if z != "example.com" {
				t.Fatalf("%s %s (%s): the zones read name %q: %s", method, req.URL, k.name, z, r.Body)
			}
		}
		for _, rec := range read.Records {
			host, typ := strings.ToLower(rec.Host), strings.ToUpper(rec.Type)
			known := slices.ContainsFunc(mapValues(before), func(b twofold.Record) bool {
				return b.Host == host && b.Type == typ && sameData(typ, b.Data, rec.Data)
			})
			if !known || !k.allows("read", twofold.Record{Host: host, Type: typ}) {
				t.Fatalf("%s %s (%s): read %v, which is not example.com's or the key may not read: %s", method, req.URL, k.name, rec, r.Body)
			}
		}
	})
}

// zoneRecords is what zone holds now, by zone, host, type and data.
func zoneRecords(tb testing.TB, s *testenv.Server, zone string) map[string]twofold.Record {
	tb.Helper()
	rs, err := s.Store.Records(context.Background(), zone)
	if err != nil {
		tb.Fatal(err)
	}
	out := make(map[string]twofold.Record, len(rs))
	for _, r := range rs {
		out[r.Host+" "+r.Type+" "+r.Data] = r
	}
	return out
}

// trimZone removes, when example.com holds more than 40 records, those
// it did not hold at first, so that the keys' additions do not grow it
// without end.
func trimZone(tb testing.TB, s *testenv.Server, initial map[string]twofold.Record) {
	tb.Helper()
	now := zoneRecords(tb, s, "example.com")
	if len(now) <= 40 {
		return
	}
	var extra []twofold.Record
	for id, r := range now {
		if _, ok := initial[id]; !ok {
			extra = append(extra, r)
		}
	}
	if _, err := s.Store.DeleteRecords(context.Background(), "example.com", extra); err != nil {
		tb.Fatal(err)
	}
}

func mapValues(m map[string]twofold.Record) []twofold.Record {
	out := make([]twofold.Record, 0, len(m))
	for _, r := range m {
		out = append(out, r)
	}
	return out
}

// sameData reports whether data as the API answered it is the stored
// data of a record of type typ: TXT answers give the text itself, or the
// quoted strings, which mean the same text.
func sameData(typ, stored, answered string) bool {
	if stored == answered {
		return true
	}
	if typ != "TXT" {
		return false
	}
	text, ok := txtText(stored)
	if !ok {
		return false
	}
	quoted, ok := txtText(answered)
	return text == answered || ok && text == quoted
}

// txtText is the text of TXT data in zone-file form (quoted strings),
// its strings joined.
func txtText(data string) (string, bool) {
	rr, err := dns.NewRR("x. 300 IN TXT " + data)
	txt, ok := rr.(*dns.TXT)
	if err != nil || !ok {
		return "", false
	}
	return strings.Join(txt.Txt, ""), true
}
