package dnsapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

const password = "correct horse battery"

// eachStore runs f against a fresh server on SQLite and on PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, s *testenv.Server)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, testenv.NewServer(t, dsn(t)))
		})
	}
}

// owner creates account name owning zones, and returns its session token.
func owner(t testing.TB, s *testenv.Server, name string, zones ...string) string {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: name, Email: name + "@example.com", Password: password}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	for _, z := range zones {
		if _, err := s.Service.AddZone(ctx, z, name, core.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	c := testenv.NewClient(s.URL())
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("token") == "" {
		t.Fatalf("login: got %d %s", r.Status, r.Body)
	}
	return r.String("token")
}

// answer is an HTTP answer.
type answer struct {
	status int
	header http.Header
	body   string
	json   map[string]any
}

// problem returns the last part of a problem answer's type.
func (a answer) problem() string {
	t, _ := a.json["type"].(string)
	return t[strings.LastIndex(t, "/")+1:]
}

// call sends a request with the body of content type ct ("" for none) and
// the header kv pairs.
func call(t testing.TB, s *testenv.Server, auth, method, path, ct, body string, kv ...string) answer {
	t.Helper()
	h := http.Header{}
	if ct != "" {
		h.Set("Content-Type", ct)
	}
	if auth != "" {
		h.Set("Authorization", auth)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Set(kv[i], kv[i+1])
	}
	return send(t, testenv.NewRequest(t, method, s.URL()+path, body, h))
}

// send sends req and returns its answer.
func send(t testing.TB, req *http.Request) answer {
	t.Helper()
	r := testenv.Send(t, nil, req)
	return answer{status: r.Status, header: r.Header, body: string(r.Body), json: r.JSON}
}

// want fails unless a has status and, when given, the numbers in fields.
func want(t testing.TB, what string, a answer, status int, fields map[string]float64) {
	t.Helper()
	if a.status != status {
		t.Fatalf("%s: got %d %s, want %d", what, a.status, a.body, status)
	}
	for k, v := range fields {
		if got, _ := a.json[k].(float64); got != v {
			t.Errorf("%s: got %s %v, want %v (%s)", what, k, a.json[k], v, a.body)
		}
	}
}

func TestRecordsJSON(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com", "example.net")
		base := "/dns/v2/zones/example.com/records"

		a := call(t, s, auth, "GET", "/dns/v2/zones", "", "")
		want(t, "zones", a, 200, nil)
		if diff := cmp.Diff(map[string]any{"zones": []any{"example.com", "example.net"}}, a.json); diff != "" {
			t.Errorf("zones (-want +got):\n%s", diff)
		}

		a = call(t, s, auth, "POST", base, "application/json", `{"records":[
			{"host":"www","ttl":300,"type":"A","data":"192.0.2.1"},
			{"host":"www","ttl":300,"type":"A","data":"192.0.2.2"},
			{"host":"@","ttl":300,"type":"MX","data":"mx.example.net.","mx_priority":10},
			{"host":"_sip._tcp","ttl":300,"type":"SRV","data":"sip","srv_priority":10,"srv_weight":5,"srv_port":5060},
			{"host":"@","ttl":300,"type":"CAA","data":"0 issue \"letsencrypt.org\""},
			{"host":"_acme-challenge","ttl":120,"type":"TXT","data":"token one"}]}`)
		want(t, "POST zone", a, 200, map[string]float64{"records_added": 6})
		if msg, _ := a.json["message"].(string); msg == "" {
			t.Errorf("POST: no message in %s", a.body)
		}
		// lego's request: the path names host and type, and so does the record.
		a = call(t, s, auth, "POST", base+"/_acme-challenge/TXT", "application/json", `{"records":[{"host":"_acme-challenge","ttl":120,"type":"TXT","data":"token two"}]}`)
		want(t, "POST host/type", a, 200, map[string]float64{"records_added": 1})

		a = call(t, s, auth, "GET", base, "", "")
		want(t, "GET records", a, 200, nil)
		wantRecords := []any{
			rec("@", 300, "CAA", `0 issue "letsencrypt.org"`),
			rec("@", 300, "MX", "10 mx.example.net."),
			rec("_acme-challenge", 120, "TXT", "token one"),
			rec("_acme-challenge", 120, "TXT", "token two"),
			rec("_sip._tcp", 300, "SRV", "10 5 5060 sip.example.com."),
			rec("www", 300, "A", "192.0.2.1"),
			rec("www", 300, "A", "192.0.2.2"),
		}
		if diff := cmp.Diff(map[string]any{"records": wantRecords}, a.json); diff != "" {
			t.Errorf("GET records (-want +got):\n%s", diff)
		}
		a = call(t, s, auth, "GET", base+"/www/A", "", "")
		if diff := cmp.Diff(map[string]any{"records": wantRecords[5:]}, a.json); diff != "" {
			t.Errorf("GET www/A (-want +got):\n%s", diff)
		}

		// PUT replaces the set at once.
		a = call(t, s, auth, "PUT", base+"/www/A", "application/json", `{"records":[{"ttl":600,"data":"192.0.2.3"}]}`)
		want(t, "PUT www/A", a, 200, map[string]float64{"records_added": 1, "records_removed": 2})
		a = call(t, s, auth, "GET", base+"/www", "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{rec("www", 600, "A", "192.0.2.3")}}, a.json); diff != "" {
			t.Errorf("GET www after PUT (-want +got):\n%s", diff)
		}
		// A PUT of the same record with another TTL adds and removes
		// nothing, but changes the zone, and says so.
		a = call(t, s, auth, "PUT", base+"/www/A", "application/json", `{"records":[{"ttl":900,"data":"192.0.2.3"}]}`)
		want(t, "PUT www/A with a new TTL", a, 200, map[string]float64{"records_added": 0, "records_removed": 0, "records_retimed": 1})
		if msg, _ := a.json["message"].(string); msg != "0 records added, 0 records removed, 1 kept with a new TTL" {
			t.Errorf("PUT www/A with a new TTL: message %q", msg)
		}
		a = call(t, s, auth, "PUT", base+"/www/A", "application/json", `{"records":[{"ttl":900,"data":"192.0.2.3"}]}`)
		want(t, "PUT www/A again", a, 200, map[string]float64{"records_added": 0, "records_removed": 0, "records_retimed": 0})
		if a = call(t, s, auth, "GET", base+"/www", "", ""); a.json["records"].([]any)[0].(map[string]any)["ttl"] != float64(900) {
			t.Errorf("GET www after the TTL's change: %s", a.body)
		}

		// DELETE with data removes only the matching record, as lego's CleanUp does.
		a = call(t, s, auth, "DELETE", base+"/_acme-challenge/TXT?data=token+one", "", "")
		want(t, "DELETE by data", a, 200, map[string]float64{"records_removed": 1})
		a = call(t, s, auth, "DELETE", base+"/_acme-challenge/TXT?data=token+one", "", "")
		want(t, "DELETE by data again", a, 200, map[string]float64{"records_removed": 0})
		a = call(t, s, auth, "DELETE", base+"/_acme-challenge", "", "")
		want(t, "DELETE host", a, 200, map[string]float64{"records_removed": 1})

		// A record's type defaults to the path's, also for the numbers MX
		// and SRV records give apart.
		a = call(t, s, auth, "POST", base+"/mx1/MX", "application/json", `{"records":[{"data":"mx.example.net.","mx_priority":10}]}`)
		want(t, "POST mx1/MX with mx_priority", a, 200, map[string]float64{"records_added": 1})
		a = call(t, s, auth, "PUT", base+"/_xmpp._tcp/SRV", "application/json", `{"records":[{"ttl":300,"data":"xmpp","srv_priority":5,"srv_weight":0,"srv_port":5222}]}`)
		want(t, "PUT _xmpp._tcp/SRV with srv_*", a, 200, map[string]float64{"records_added": 1})
		a = call(t, s, auth, "POST", base+"/mx2/A", "application/json", `{"records":[{"data":"192.0.2.1","mx_priority":10}]}`)
		want(t, "POST mx2/A with mx_priority", a, 400, nil)
		a = call(t, s, auth, "GET", base+"/mx1", "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{rec("mx1", 3600, "MX", "10 mx.example.net.")}}, a.json); diff != "" {
			t.Errorf("GET mx1 (-want +got):\n%s", diff)
		}
		a = call(t, s, auth, "GET", base+"/_xmpp._tcp", "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{rec("_xmpp._tcp", 300, "SRV", "5 0 5222 xmpp.example.com.")}}, a.json); diff != "" {
			t.Errorf("GET _xmpp._tcp (-want +got):\n%s", diff)
		}
	})
}

func rec(host string, ttl float64, typ, data string) map[string]any {
	return map[string]any{"host": host, "ttl": ttl, "type": typ, "data": data}
}

func TestZoneTextAndForm(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"

		zone := "www 300 A 192.0.2.1\n@ 3600 MX 10 mx\n_acme-challenge 120 TXT \"a b\" \"c\"\n; a comment\nhost 300 SSHFP 4 2 " + strings.Repeat("ab", 32) + "\n"
		a := call(t, s, auth, "POST", base, "text/dns", zone)
		want(t, "POST text/dns", a, 200, map[string]float64{"records_added": 4})
		a = call(t, s, auth, "GET", base, "", "", "Accept", "text/dns")
		if a.status != 200 || a.header.Get("Content-Type") != "text/dns" {
			t.Fatalf("GET text/dns: got %d %q %s", a.status, a.header.Get("Content-Type"), a.body)
		}
		wantText := "@ 3600 MX 10 mx.example.com.\n_acme-challenge 120 TXT \"a b\" \"c\"\nhost 300 SSHFP 4 2 " + strings.Repeat("AB", 32) + "\nwww 300 A 192.0.2.1\n"
		if a.body != wantText {
			t.Errorf("GET text/dns: got\n%s\nwant\n%s", a.body, wantText)
		}
		// PUT in zone-file form replaces the whole zone with what it reads.
		a = call(t, s, auth, "PUT", base, "text/dns", a.body+"new 300 AAAA 2001:db8::1\n")
		want(t, "PUT text/dns", a, 200, map[string]float64{"records_added": 1, "records_removed": 0})

		// Form parameters, as curl -d sends them.
		a = call(t, s, auth, "POST", base+"/www/A", "application/x-www-form-urlencoded", "data=192.0.2.2&ttl=300")
		want(t, "POST form", a, 200, map[string]float64{"records_added": 1})
		a = call(t, s, auth, "PUT", base+"/www/A", "application/x-www-form-urlencoded", "data=192.0.2.9")
		want(t, "PUT form", a, 200, map[string]float64{"records_added": 1, "records_removed": 2})
		a = call(t, s, auth, "GET", base+"/www/A", "", "", "Accept", "text/dns")
		if want := "www 3600 A 192.0.2.9\n"; a.body != want {
			t.Errorf("GET www/A: got %q, want %q", a.body, want)
		}

		// Accept's qualities count (RFC 9110 §12.4.2): text/dns of q=0 is
		// not acceptable, and JSON preferred over it is answered.
		for _, tt := range []struct{ accept, want string }{
			{"text/dns;q=0, application/json", "application/json"},
			{"text/dns; q=0", "application/json"},
			{"application/json, text/dns;q=0.5", "application/json"},
			{"*/*;q=0.9, text/dns;q=0.1", "application/json"},
			{"text/dns, application/json;q=0.9", "text/dns"},
			{"application/json;q=0.5, text/dns;q=0.8", "text/dns"},
			{"*/*, text/dns", "text/dns"},
		} {
			a = call(t, s, auth, "GET", base+"/www/A", "", "", "Accept", tt.accept)
			if ct := a.header.Get("Content-Type"); a.status != 200 || ct != tt.want {
				t.Errorf("GET with Accept %q: got %d %q, want 200 %q", tt.accept, a.status, ct, tt.want)
			}
		}
	})
}

// TestProblems: the DNS API answers what it refuses with a problem of the
// /v1 kind, and an invalid one about one input names it (pointer, or
// parameter and in) as /v1's do.
func TestProblems(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		alice := "Bearer " + owner(t, s, "alice", "example.com")
		bob := "Bearer " + owner(t, s, "bob", "example.org")
		base := "/dns/v2/zones/example.com/records"
		tests := []struct {
			name, auth, method, path, ct, body string
			status                             int
			problem                            string
		}{
			{"no credentials", "", "GET", "/dns/v2/zones", "", "", 401, "unauthorized"},
			{"wrong token", "Bearer nope", "GET", base, "", "", 401, "unauthorized"},
			{"another account's zone", bob, "GET", base, "", "", 404, "not-found"},
			{"another account's zone, write", bob, "POST", base + "/www/A", "application/x-www-form-urlencoded", "data=192.0.2.1", 404, "not-found"},
			{"no such zone", alice, "GET", "/dns/v2/zones/example.info/records", "", "", 404, "not-found"},
			{"bad address", alice, "POST", base + "/www/A", "application/x-www-form-urlencoded", "data=192.0.2", 400, "invalid"},
			{"unknown type", alice, "GET", base + "/www/HINFO", "", "", 400, "invalid"},
			{"bad host", alice, "GET", base + "/w%20w/A", "", "", 400, "invalid"},
			{"unknown field", alice, "POST", base, "application/json", `{"records":[],"extra":1}`, 400, "invalid"},
			{"not JSON", alice, "POST", base, "application/json", `records`, 400, "invalid"},
			{"no records", alice, "POST", base, "application/json", `{"records":[]}`, 400, "invalid"},
			{"record without type", alice, "POST", base, "application/json", `{"records":[{"host":"www","data":"192.0.2.1"}]}`, 400, "invalid"},
			{"record outside the path", alice, "POST", base + "/www/A", "application/json", `{"records":[{"host":"mail","type":"A","data":"192.0.2.1"}]}`, 400, "invalid"},
			{"mx_priority on an A", alice, "POST", base, "application/json", `{"records":[{"host":"www","type":"A","data":"192.0.2.1","mx_priority":1}]}`, 400, "invalid"},
			{"form without a type", alice, "POST", base + "/www", "application/x-www-form-urlencoded", "data=192.0.2.1", 400, "invalid"},
			{"form unknown parameter", alice, "POST", base + "/www/A", "application/x-www-form-urlencoded", "data=192.0.2.1&host=x", 400, "invalid"},
			{"form bad ttl", alice, "POST", base + "/www/A", "application/x-www-form-urlencoded", "data=192.0.2.1&ttl=soon", 400, "invalid"},
			{"zone text directive", alice, "POST", base, "text/dns", "$ORIGIN example.org.\nwww A 192.0.2.1\n", 400, "invalid"},
			{"zone text of class CH", alice, "POST", base, "text/dns", "www 300 CH A 192.0.2.1\n", 400, "invalid"},
			{"zone text of class HS", alice, "POST", base, "text/dns", "txt HS TXT hello\n", 400, "invalid"},
			{"zone text line without a name", alice, "POST", base, "text/dns", "www 300 A 192.0.2.1\n 300 A 192.0.2.2\n", 400, "invalid"},
			{"other content type", alice, "POST", base, "text/plain", "www A 192.0.2.1", 400, "invalid"},
			{"TXT with a tab", alice, "POST", base + "/_acme-challenge/TXT", "application/x-www-form-urlencoded", "data=a%09b", 400, "invalid"},
			{"TXT with an escape", alice, "POST", base + "/_acme-challenge/TXT", "application/json", `{"records":[{"data":"a\u001b[2Jb"}]}`, 400, "invalid"},
			{"SSHFP of reserved type 0", alice, "POST", base + "/host/SSHFP", "application/x-www-form-urlencoded", "data=1+0+abcd", 400, "invalid"},
			{"TLSA SHA-256 of 1 byte", alice, "POST", base + "/_443._tcp/TLSA", "application/x-www-form-urlencoded", "data=3+1+1+ab", 400, "invalid"},
			{"third record's ttl", alice, "POST", base, "application/json", `{"records":[{"host":"a","type":"A","data":"192.0.2.1"},{"host":"b","type":"A","data":"192.0.2.2"},{"host":"c","type":"A","ttl":5,"data":"192.0.2.3"}]}`, 400, "invalid"},
			{"second record's host", alice, "POST", base, "application/json", `{"records":[{"host":"a","type":"A","data":"192.0.2.1"},{"host":"w w","type":"A","data":"192.0.2.2"}]}`, 400, "invalid"},
			{"record's type", alice, "POST", base, "application/json", `{"records":[{"host":"a","type":"HINFO","data":"x y"}]}`, 400, "invalid"},
			{"record's data", alice, "PUT", base + "/www", "application/json", `{"records":[{"type":"A","data":"192.0.2.1"},{"type":"AAAA","data":"192.0.2.1"}]}`, 400, "invalid"},
			{"form ttl out of range", alice, "POST", base + "/www/A", "application/x-www-form-urlencoded", "data=192.0.2.1&ttl=5", 400, "invalid"},
			{"zone text outside the path", alice, "POST", base + "/www/A", "text/dns", "mail 300 A 192.0.2.1\n", 400, "invalid"},
			{"zone text bad address", alice, "POST", base, "text/dns", "www 300 A 192.0.2\n", 400, "invalid"},
			{"DELETE data too long", alice, "DELETE", base + "/www/TXT?data=" + strings.Repeat("d", 4097), "", "", 400, "invalid"},
			{"CNAME at the apex", alice, "POST", base + "/@/CNAME", "application/x-www-form-urlencoded", "data=web", 400, "invalid"},
			{"other method", alice, "PATCH", base, "", "", 405, "method-not-allowed"},
			{"unknown path", alice, "GET", "/dns/v2/nothing", "", "", 404, "not-found"},
		}
		// The input a problem is about, as pointer, parameter and in; none
		// for the others.
		inputs := map[string][3]string{
			"unknown type":           {"", "type", "path"},
			"bad host":               {"", "host", "path"},
			"unknown field":          {"/extra", "", ""},
			"mx_priority on an A":    {"/records/0/mx_priority", "", ""},
			"form unknown parameter": {"", "host", "query"},
			"form bad ttl":           {"", "ttl", "query"},
			// A record's field, where the body holds it: a JSON body's
			// record by its index, a form's parameter; zone-file text
			// has no names for its parts.
			"bad address":              {"", "data", "query"},
			"record without type":      {"/records/0/type", "", ""},
			"record outside the path":  {"/records/0", "", ""},
			"TXT with a tab":           {"", "data", "query"},
			"TXT with an escape":       {"/records/0/data", "", ""},
			"SSHFP of reserved type 0": {"", "data", "query"},
			"TLSA SHA-256 of 1 byte":   {"", "data", "query"},
			"third record's ttl":       {"/records/2/ttl", "", ""},
			"second record's host":     {"/records/1/host", "", ""},
			"record's type":            {"/records/0/type", "", ""},
			"record's data":            {"/records/1/data", "", ""},
			"form ttl out of range":    {"", "ttl", "query"},
			"DELETE data too long":     {"", "data", "query"},
		}
		for _, tt := range tests {
			a := call(t, s, tt.auth, tt.method, tt.path, tt.ct, tt.body)
			if a.status != tt.status || a.problem() != tt.problem {
				t.Errorf("%s: got %d %s, want %d %s", tt.name, a.status, a.body, tt.status, tt.problem)
			}
			for i, member := range []string{"pointer", "parameter", "in"} {
				if got, _ := a.json[member].(string); got != inputs[tt.name][i] {
					t.Errorf("%s: problem's %q is %q, want %q: %s", tt.name, member, got, inputs[tt.name][i], a.body)
				}
			}
			if ct := a.header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("%s: got Content-Type %q, want a problem", tt.name, ct)
			}
		}
		// Nothing of the refused writes was stored.
		a := call(t, s, alice, "GET", base, "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{}}, a.json); diff != "" {
			t.Errorf("records after refused writes (-want +got):\n%s", diff)
		}
	})
}

// TestDeleteData: a DELETE removes one record when it names its data, in
// the query or in a form body (curl -X DELETE -d data=…), and refuses what
// it cannot take for sure rather than remove the whole set.
func TestDeleteData(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		sess := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"
		set := base + "/_acme-challenge/TXT"
		form := "application/x-www-form-urlencoded"
		want(t, "seed", call(t, s, sess, "PUT", base, "text/dns", "_acme-challenge 300 TXT tokA\n_acme-challenge 300 TXT tokB\n_acme-challenge 300 TXT tokC\n"), 200, nil)
		id, secret := makeKey(t, s, sess[len("Bearer "):], "dns example.com/_acme-challenge/TXT write")
		key := "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))

		want(t, "DELETE with data in a form body", call(t, s, key, "DELETE", set, form, "data=tokA"), 200, map[string]float64{"records_removed": 1})
		for _, tt := range []struct{ name, path, ct, body string }{
			{"query and body differ", set + "?data=tokB", form, "data=tokC"},
			{"data twice in the body", set, form, "data=tokB&data=tokC"},
			{"data twice in the query", set + "?data=tokB&data=tokC", "", ""},
			{"empty data", set, form, "data="},
			{"empty data in the query", set + "?data=", "", ""},
			{"another parameter", set, form, "data=tokB&ttl=60"},
			{"a JSON body", set, "application/json", `{"records":[{"data":"tokB"}]}`},
		} {
			a := call(t, s, key, "DELETE", tt.path, tt.ct, tt.body)
			if a.status != 400 || a.problem() != "invalid" {
				t.Errorf("%s: got %d %s, want 400 invalid", tt.name, a.status, a.body)
			}
		}
		want(t, "DELETE with the same data in query and body", call(t, s, key, "DELETE", set+"?data=tokB", form, "data=tokB"), 200, map[string]float64{"records_removed": 1})
		a := call(t, s, sess, "GET", set, "", "", "Accept", "text/dns")
		if want := "_acme-challenge 300 TXT \"tokC\"\n"; a.body != want {
			t.Errorf("records left: got %q, want %q", a.body, want)
		}
	})
}

// TestTXTText: TXT data in JSON is the text itself, read back as written
// (a backslash and a quote are themselves); the zone-file form escapes it
// as RFC 1035 says, and ?data= takes the text.
func TestTXTText(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		set := "/dns/v2/zones/example.com/records/txt/TXT"
		texts := []string{`c:\d \010`, "café ✓", `say "hi"`} // as the zone-file form sorts
		body, err := json.Marshal(map[string]any{"records": []any{
			map[string]any{"data": texts[0]}, map[string]any{"data": texts[1]}, map[string]any{"data": texts[2]}}})
		if err != nil {
			t.Fatal(err)
		}
		want(t, "POST texts", call(t, s, auth, "POST", set, "application/json", string(body)), 200, map[string]float64{"records_added": 3})
		a := call(t, s, auth, "GET", set, "", "")
		var got []string
		for _, r := range a.json["records"].([]any) {
			got = append(got, r.(map[string]any)["data"].(string))
		}
		if diff := cmp.Diff(texts, got); diff != "" {
			t.Errorf("GET JSON (-want +got):\n%s", diff)
		}
		a = call(t, s, auth, "GET", set, "", "", "Accept", "text/dns")
		if want := "txt 3600 TXT \"c:\\\\d \\\\010\"\ntxt 3600 TXT \"caf\\195\\169 \\226\\156\\147\"\ntxt 3600 TXT \"say \\\"hi\\\"\"\n"; a.body != want {
			t.Errorf("GET text/dns: got\n%s\nwant\n%s", a.body, want)
		}
		// What a read gives, written again, is the same record.
		a = call(t, s, auth, "POST", set, "application/json", string(body))
		want(t, "POST the texts again", a, 200, map[string]float64{"records_added": 3}) // there as asked; held once (the DELETEs below remove 1 each)
		for _, text := range texts {
			a = call(t, s, auth, "DELETE", set+"?data="+url.QueryEscape(text), "", "")
			want(t, "DELETE "+text, a, 200, map[string]float64{"records_removed": 1})
		}

		// A C1 control as an escape is refused like one sent as such, and so
		// is a byte that is not part of a UTF-8 character.
		// A \DDD escape above 255 names no byte: miekg/dns would serve
		// another (\411 as 155, \256 as NUL) than the one checked.
		for _, data := range []string{`"a\155[31mb"`, `"a\194\155[31mb"`, "a\u009b[31mb", `"caf\233"`, `"\411[31mRED \256 nul"`, `"ok" "\300"`} {
			body, _ := json.Marshal(map[string]any{"records": []any{map[string]any{"data": data}}})
			if a := call(t, s, auth, "POST", set, "application/json", string(body)); a.status != 400 || a.problem() != "invalid" {
				t.Errorf("POST %q: got %d %s, want 400 invalid", data, a.status, a.body)
			}
		}
		if a := call(t, s, auth, "POST", set, "application/x-www-form-urlencoded", "data=caf%E9"); a.status != 400 || a.problem() != "invalid" {
			t.Errorf("POST form caf%%E9: got %d %s, want 400 invalid", a.status, a.body)
		}
		if a := call(t, s, auth, "PUT", set, "application/x-www-form-urlencoded", "data="+url.QueryEscape(`"\411[31mRED"`)); a.status != 400 || a.problem() != "invalid" {
			t.Errorf("PUT form \\411: got %d %s, want 400 invalid", a.status, a.body)
		}
		caa := `{"records":[{"data":"0 issue \"le\\256\\411.org\""}]}`
		if a := call(t, s, auth, "PUT", "/dns/v2/zones/example.com/records/@/CAA", "application/json", caa); a.status != 400 || a.problem() != "invalid" {
			t.Errorf("PUT CAA %s: got %d %s, want 400 invalid", caa, a.status, a.body)
		}
		if a := call(t, s, auth, "GET", set, "", ""); len(a.json["records"].([]any)) != 0 {
			t.Errorf("records after refusals: %s", a.body)
		}
	})
}

// TestStrictBodies: the DNS API reads JSON as /v1 does, names matching
// exactly and once each (with encoding/json alone "Records" or a second
// "records" would be read, the last one winning), and a GET, which takes no
// body, refuses one rather than pass over what it may have meant to select.
func TestStrictBodies(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"
		one := `[{"host":"www","ttl":300,"type":"A","data":"192.0.2.1"}]`
		for what, body := range map[string]string{
			"Records":         `{"Records":` + one + `}`,
			"records twice":   `{"records":[],"records":` + one + `}`,
			"a record's Data": `{"records":[{"host":"www","ttl":300,"type":"A","Data":"192.0.2.1"}]}`,
		} {
			a := call(t, s, auth, "POST", base, "application/json", body)
			if a.status != 400 || a.problem() != "invalid" {
				t.Errorf("%s: got %d %s, want 400 invalid", what, a.status, a.body)
			}
		}
		want(t, "POST", call(t, s, auth, "POST", base, "application/json", `{"records":`+one+`}`), 200, map[string]float64{"records_added": 1})
		a := call(t, s, auth, "GET", base+"/www", "application/json", `{"type":"TXT"}`)
		if a.status != 400 || a.problem() != "invalid" {
			t.Errorf("GET with a body: got %d %s, want 400 invalid", a.status, a.body)
		}
		a = call(t, s, auth, "GET", base+"/www", "", "")
		if diff := cmp.Diff(map[string]any{"records": []any{rec("www", 300, "A", "192.0.2.1")}}, a.json); diff != "" {
			t.Errorf("GET www after the refusals (-want +got):\n%s", diff)
		}
	})
}

// TestPutNamesRecords: a PUT whose body names no record is refused and
// changes nothing, rather than empty what the path selects (an empty body
// is what curl sends for a mistyped @file).
func TestPutNamesRecords(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"
		seed := "www 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n"
		want(t, "seed", call(t, s, auth, "PUT", base, "text/dns", seed), 200, map[string]float64{"records_added": 2})
		for _, tt := range []struct{ name, path, ct, body string }{
			{"no records", base, "application/json", `{}`},
			{"records null", base, "application/json", `{"records":null}`},
			{"records empty", base + "/www/A", "application/json", `{"records":[]}`},
			{"form without data", base + "/www/A", "application/x-www-form-urlencoded", "ttl=300"},
			{"empty zone file", base, "text/dns", ""},
			{"comment-only zone file", base, "text/dns", "; nothing\n\n"},
		} {
			a := call(t, s, auth, "PUT", tt.path, tt.ct, tt.body)
			if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, "DELETE") {
				t.Errorf("%s: got %d %s, want 400 invalid pointing to DELETE", tt.name, a.status, a.body)
			}
		}
		a := call(t, s, auth, "GET", base, "", "", "Accept", "text/dns")
		if want := "www 300 A 192.0.2.1\nwww 300 A 192.0.2.2\n"; a.body != want {
			t.Errorf("records after the refusals: got %q, want %q", a.body, want)
		}
	})
}

// acmeZone gives alice the zone example.com holding acmeRecords and
// returns her authorization, the path of the zone's records and that of its
// TXT set at _acme-challenge.
func acmeZone(t *testing.T, s *testenv.Server) (auth, base, set string) {
	t.Helper()
	auth = "Bearer " + owner(t, s, "alice", "example.com")
	base = "/dns/v2/zones/example.com/records"
	want(t, "seed", call(t, s, auth, "PUT", base, "text/dns", "_acme-challenge 300 TXT t1\n_acme-challenge 300 TXT t2\nwww 300 A 192.0.2.1\n"), 200, nil)
	return auth, base, base + "/_acme-challenge/TXT"
}

// acmeRecords is acmeZone's zone as GET answers it in text/dns.
const acmeRecords = "_acme-challenge 300 TXT \"t1\"\n_acme-challenge 300 TXT \"t2\"\nwww 300 A 192.0.2.1\n"

// oneRecord is a JSON body of one A record at www.
const oneRecord = `{"records":[{"host":"www","ttl":300,"type":"A","data":"192.0.2.9"}]}`

// acmeUnchanged checks that acmeZone's zone still holds acmeRecords alone.
func acmeUnchanged(t *testing.T, s *testenv.Server, auth string) {
	t.Helper()
	if a := call(t, s, auth, "GET", "/dns/v2/zones/example.com/records", "", "", "Accept", "text/dns"); a.body != acmeRecords {
		t.Errorf("records after the refusals: got %q, want %q", a.body, acmeRecords)
	}
}

// TestUnknownQuery: a query parameter a DNS API request does not read is
// refused, so that a misspelt ?data= cannot widen a DELETE to the whole
// set or the whole zone.
func TestUnknownQuery(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth, base, set := acmeZone(t, s)
		for _, tt := range []struct{ method, path, ct, body, param string }{
			{"DELETE", set + "?dat=t1", "", "", "dat"},
			{"DELETE", set + "?Data=t1", "", "", "Data"},
			{"DELETE", set + "?value=t1", "", "", "value"},
			{"DELETE", base + "?dat=x", "", "", "dat"},
			{"DELETE", set + "?data=t1&x=1", "", "", "x"},
			{"GET", set + "?dat=t1", "", "", "dat"},
			{"GET", "/dns/v2/zones?x=1", "", "", "x"},
			{"POST", base + "?x=1", "application/json", oneRecord, "x"},
			{"PUT", base + "/www/A?data=192.0.2.9", "application/json", oneRecord, "data"},
			// Given twice, a parameter is refused, rather than the first
			// winning while a proxy reads the last.
			{"DELETE", set + "?data=t1&data=t2", "", "", "data"},
			{"GET", set + "?data=t1&data=t2", "", "", "data"},
			{"GET", base + "?exclude-generated=true&exclude-generated=false", "", "", "exclude-generated"},
		} {
			a := call(t, s, auth, tt.method, tt.path, tt.ct, tt.body)
			if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, `\"`+tt.param+`\"`) {
				t.Errorf("%s %s: got %d %s, want 400 invalid naming %s", tt.method, tt.path, a.status, a.body, tt.param)
			}
		}
		acmeUnchanged(t, s, auth)
		want(t, "DELETE ?data=t1", call(t, s, auth, "DELETE", set+"?data=t1", "", ""), 200, map[string]float64{"records_removed": 1})
		if a := call(t, s, auth, "GET", set+"?data=t2", "", ""); a.status != 200 || len(a.json["records"].([]any)) != 1 {
			t.Errorf("GET ?data=t2: got %d %s", a.status, a.body)
		}
	})
}

// TestExcludeParameters: a record read takes the Mythic Beasts parameters
// exclude-generated and exclude-template, booleans that leave out no record
// here (Twofold makes no records of its own and has no templates), and
// refuses a value that is not a boolean; other requests still refuse them.
func TestExcludeParameters(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"
		seed := "_acme-challenge 300 TXT t1\nwww 300 A 192.0.2.1\n"
		want(t, "seed", call(t, s, auth, "PUT", base, "text/dns", seed), 200, nil)
		all := map[string]any{"records": []any{rec("_acme-challenge", 300, "TXT", "t1"), rec("www", 300, "A", "192.0.2.1")}}
		www := map[string]any{"records": []any{rec("www", 300, "A", "192.0.2.1")}}
		for _, tt := range []struct {
			path string
			want map[string]any
		}{
			{base + "?exclude-generated=true", all},
			{base + "?exclude-template=true", all},
			{base + "?exclude-generated=true&exclude-template=true", all},
			{base + "?exclude-generated=false&exclude-template=0", all},
			{base + "?exclude-generated=1&exclude-template=TRUE", all},
			{base + "/www?exclude-generated=true", www},
			{base + "/www/A?exclude-template=true&data=192.0.2.1", www},
		} {
			a := call(t, s, auth, "GET", tt.path, "", "")
			if a.status != 200 {
				t.Errorf("GET %s: got %d %s, want 200", tt.path, a.status, a.body)
				continue
			}
			if diff := cmp.Diff(tt.want, a.json); diff != "" {
				t.Errorf("GET %s (-want +got):\n%s", tt.path, diff)
			}
		}
		if a := call(t, s, auth, "GET", base+"?exclude-generated=true", "", "", "Accept", "text/dns"); a.body != "_acme-challenge 300 TXT \"t1\"\nwww 300 A 192.0.2.1\n" {
			t.Errorf("GET text/dns ?exclude-generated=true: got %d %q", a.status, a.body)
		}
		for _, tt := range []struct{ method, path, param string }{
			{"GET", base + "?exclude-generated=yes", "exclude-generated"},
			{"GET", base + "?exclude-generated=", "exclude-generated"},
			{"GET", base + "?exclude-template", "exclude-template"},
			{"GET", base + "/www/A?exclude-template=true&exclude-template=maybe", "exclude-template"},
			{"GET", "/dns/v2/zones?exclude-generated=true", "exclude-generated"},
			{"DELETE", base + "/www/A?exclude-generated=true", "exclude-generated"},
		} {
			a := call(t, s, auth, tt.method, tt.path, "", "")
			if a.status != 400 || a.problem() != "invalid" || !strings.Contains(a.body, tt.param) {
				t.Errorf("%s %s: got %d %s, want 400 invalid naming %s", tt.method, tt.path, a.status, a.body, tt.param)
			}
		}
		if a := call(t, s, auth, "GET", base, "", ""); a.status != 200 || cmp.Diff(all, a.json) != "" {
			t.Errorf("records after the refusals: got %d %s", a.status, a.body)
		}
	})
}

// TestExplicitZeroTTL: a TTL given as 0, in any input form, is refused as
// 5 is (it must be 60 to 604800 seconds) rather than taken for the default; a
// TTL left out is the default, 3600; an empty or repeated form ttl is
// refused.
func TestExplicitZeroTTL(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		auth := "Bearer " + owner(t, s, "alice", "example.com")
		base := "/dns/v2/zones/example.com/records"
		form := "application/x-www-form-urlencoded"
		for _, tt := range []struct{ name, method, path, ct, body string }{
			{"form ttl=0", "POST", base + "/z0/A", form, "data=192.0.2.1&ttl=0"},
			{"form ttl=00", "POST", base + "/z0/A", form, "data=192.0.2.1&ttl=00"},
			{"form ttl=", "POST", base + "/z0/A", form, "data=192.0.2.1&ttl="},
			{"form ttl twice", "POST", base + "/z0/A", form, "data=192.0.2.1&ttl=300&ttl=600"},
			{"form ttl=5", "POST", base + "/z0/A", form, "data=192.0.2.1&ttl=5"},
			{"JSON ttl 0", "POST", base, "application/json", `{"records":[{"host":"z0","ttl":0,"type":"A","data":"192.0.2.1"}]}`},
			{"JSON ttl 0 PUT", "PUT", base + "/z0/A", "application/json", `{"records":[{"ttl":0,"data":"192.0.2.1"}]}`},
			{"zone file 0", "POST", base, "text/dns", "z0 0 A 192.0.2.1\n"},
			{"zone file 00", "PUT", base, "text/dns", "z0 00 A 192.0.2.1\n"},
		} {
			if a := call(t, s, auth, tt.method, tt.path, tt.ct, tt.body); a.status != 400 || a.problem() != "invalid" {
				t.Errorf("%s: got %d %s, want 400 invalid", tt.name, a.status, a.body)
			}
		}
		if a := call(t, s, auth, "GET", base, "", "", "Accept", "text/dns"); a.body != "" {
			t.Errorf("records after the refusals: got %q, want none", a.body)
		}
		// Left out, the TTL is the default in every form.
		for _, tt := range []struct{ name, method, path, ct, body string }{
			{"form", "POST", base + "/f/A", form, "data=192.0.2.1"},
			{"JSON", "POST", base, "application/json", `{"records":[{"host":"j","type":"A","data":"192.0.2.1"}]}`},
			{"zone file", "POST", base, "text/dns", "z 60 A 192.0.2.1\nz2 A 192.0.2.1\n"},
		} {
			if a := call(t, s, auth, tt.method, tt.path, tt.ct, tt.body); a.status != 200 {
				t.Errorf("%s: got %d %s, want 200", tt.name, a.status, a.body)
			}
		}
		want := "f 3600 A 192.0.2.1\nj 3600 A 192.0.2.1\nz 60 A 192.0.2.1\nz2 3600 A 192.0.2.1\n"
		if a := call(t, s, auth, "GET", base, "", "", "Accept", "text/dns"); a.body != want {
			t.Errorf("records: got %q, want %q", a.body, want)
		}
	})
}
