package dnsapi_test

import (
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/testenv"
)

// eachDNSStore runs f against a fresh server that answers DNS too, on
// SQLite and on PostgreSQL.
func eachDNSStore(t *testing.T, f func(t *testing.T, s *testenv.Server)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, dnsServer(t, dsn(t)))
		})
	}
}

// keyAuth makes an API key of the account whose session token is token and
// returns its Authorization header.
func keyAuth(t testing.TB, s *testenv.Server, token string, permits ...string) string {
	t.Helper()
	id, secret := makeKey(t, s, token, permits...)
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(id+":"+secret))
}

// ask asks Twofold's DNS listener for name's records of qtype.
func ask(t *testing.T, s *testenv.Server, name string, qtype uint16) *dns.Msg {
	t.Helper()
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	r, _, err := (&dns.Client{Timeout: time.Minute}).Exchange(m, s.DNSAddr()) // the default 2 s is short for a loaded machine
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// wantAnswer fails unless the listener answers name's A records itself
// (authoritative, no referral) with addrs.
func wantAnswer(t *testing.T, s *testenv.Server, name string, addrs ...string) {
	t.Helper()
	r := ask(t, s, name, dns.TypeA)
	var got []string
	for _, rr := range r.Answer {
		if a, ok := rr.(*dns.A); ok {
			got = append(got, a.A.String())
		}
	}
	if !r.Authoritative || !slices.Equal(got, addrs) {
		t.Errorf("%s A: got aa %v answer %q authority %v, want aa and %q", name, r.Authoritative, got, r.Ns, addrs)
	}
}

// isReferral reports whether the listener refers a query for name to
// other servers.
func isReferral(t *testing.T, s *testenv.Server, name string, qtype uint16) bool {
	t.Helper()
	r := ask(t, s, name, qtype)
	return !r.Authoritative && len(r.Ns) > 0 && r.Ns[0].Header().Rrtype == dns.TypeNS
}

// TestKeysCannotDelegate: an NS record below the apex hands the name and
// every name below it to other servers, so a key that may write at shop
// must not add one there and take over api.shop and www.shop, which it may
// not write (a certificate for them would follow). Only a key that may write
// the whole zone, or a person, may delegate; a key may still remove a
// delegation at a name it may write.
func TestKeysCannotDelegate(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "other.org")
		sess := "Bearer " + token
		base := "/dns/v2/zones/other.org/records"
		form := "application/x-www-form-urlencoded"
		want(t, "seed", call(t, s, sess, "PUT", base, "text/dns",
			"shop 300 A 192.0.2.1\nwww.shop 300 A 192.0.2.2\napi.shop 300 A 192.0.2.3\nsub 300 NS ns1.owner.example.\n"), 200, nil)
		shop := keyAuth(t, s, token, "dns other.org/shop read,write")
		allNS := keyAuth(t, s, token, "dns other.org/*/NS write")
		sub := keyAuth(t, s, token, "dns other.org/sub write")
		zone := keyAuth(t, s, token, "dns other.org write")

		for _, tt := range []struct {
			name, auth, method, path, body string
			status                         int
		}{
			{"the key writes at its name", shop, "POST", "/shop/A", "data=192.0.2.4", 200},
			{"the key may not write below it", shop, "POST", "/api.shop/A", "data=192.0.2.9", 403},
			{"the key may not delegate its name", shop, "POST", "/shop/NS", "data=ns.attacker.example.", 403},
			{"nor by PUT", shop, "PUT", "/shop/NS", "data=ns.attacker.example.", 403},
			{"nor may a key for NS everywhere", allNS, "POST", "/shop/NS", "data=ns.attacker.example.", 403},
			{"nor point a delegation elsewhere", sub, "PUT", "/sub/NS", "data=ns.attacker.example.", 403},
			{"nor add a server to it", sub, "POST", "/sub/NS", "data=ns.attacker.example.", 403},
		} {
			if a := call(t, s, tt.auth, tt.method, base+tt.path, form, tt.body); a.status != tt.status {
				t.Errorf("%s: got %d %s, want %d", tt.name, a.status, a.body, tt.status)
			}
		}
		wantAnswer(t, s, "api.shop.other.org.", "192.0.2.3")
		if isReferral(t, s, "_acme-challenge.www.shop.other.org.", dns.TypeTXT) {
			t.Error("_acme-challenge.www.shop is referred to other servers after the refused writes")
		}

		// The key may remove the delegation at its name: the zone's own
		// records answer again.
		want(t, "a key removes a delegation", call(t, s, sub, "DELETE", base+"/sub/NS", "", ""), 200, map[string]float64{"records_removed": 1})
		// A key for the whole zone may delegate, and so may a person.
		want(t, "a key for the zone delegates", call(t, s, zone, "POST", base+"/shop/NS", form, "data=ns1.shop.example."), 200, nil)
		want(t, "a person delegates", call(t, s, sess, "POST", base+"/sub/NS", form, "data=ns1.sub.example."), 200, nil)
		if !isReferral(t, s, "api.shop.other.org.", dns.TypeA) {
			t.Error("api.shop: no referral after the zone's key delegated shop")
		}
	})
}

// TestKeysCannotUncoverWildcards: a key may not remove the last name below
// one that exists only as their parent (shop2 with _acme-challenge.shop2
// below it) when the zone's wildcard would then answer for it; it may where
// the parent stays (www), or may write at the parent. Nor may a key for TXT
// records add the first record at a name (web): the wildcard's A records
// would stop answering there; a key for every type at the name may. A name
// whose first label starts with "_" is an attribute leaf (RFC 8552), not a
// host: a key for its TXT records may remove the last of them although the
// wildcard then answers there again.
func TestKeysCannotUncoverWildcards(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "other.org")
		sess := "Bearer " + token
		base := "/dns/v2/zones/other.org/records"
		want(t, "seed", call(t, s, sess, "PUT", base, "text/dns",
			"* 300 A 192.0.2.7\nwww 300 A 192.0.2.1\n_acme-challenge.shop2 120 TXT tok\n_acme-challenge.www 120 TXT tok\n_acme-challenge 120 TXT tok\n"), 200, nil)
		acme := keyAuth(t, s, token, "dns other.org/_acme-challenge*/TXT write")
		acmeAll := keyAuth(t, s, token, "dns other.org/_acme-challenge* write")
		acmeShop2 := keyAuth(t, s, token, "dns other.org/_acme-challenge* write", "dns other.org/shop2 write")
		webTXT := keyAuth(t, s, token, "dns other.org/web/TXT write")
		form := "application/x-www-form-urlencoded"

		for _, tt := range []struct {
			name, auth, method, path, ct, body string
			status                             int
		}{
			{"DELETE uncovering shop2", acme, "DELETE", "/_acme-challenge.shop2/TXT", "", "", 403},
			{"DELETE by data uncovering shop2", acme, "DELETE", "/_acme-challenge.shop2/TXT?data=tok", "", "", 403},
			{"PUT of nothing (refused before any check: DELETE empties a set)", acme, "PUT", "/_acme-challenge.shop2/TXT", "application/json", `{"records":[]}`, 400},
			{"DELETE uncovering shop2 by a key for every type below it", acmeAll, "DELETE", "/_acme-challenge.shop2/TXT", "", "", 403},
			{"DELETE below a name that stays", acme, "DELETE", "/_acme-challenge.www/TXT", "", "", 200},
			{"POST of the first record at a name", webTXT, "POST", "/web/TXT", form, "data=hello", 403},
		} {
			if a := call(t, s, tt.auth, tt.method, base+tt.path, tt.ct, tt.body); a.status != tt.status {
				t.Errorf("%s: got %d %s, want %d", tt.name, a.status, a.body, tt.status)
			}
		}
		wantAnswer(t, s, "shop2.other.org.") // NODATA: still a name of its own
		wantAnswer(t, s, "web.other.org.", "192.0.2.7")
		want(t, "a key for TXT removes the last record at its own attribute leaf", call(t, s, acme, "DELETE", base+"/_acme-challenge/TXT", "", ""), 200, map[string]float64{"records_removed": 1})
		wantAnswer(t, s, "_acme-challenge.other.org.", "192.0.2.7")
		want(t, "and adds it again", call(t, s, acme, "POST", base+"/_acme-challenge/TXT", form, "data=tok"), 200, nil)
		want(t, "a key for every type at web", call(t, s, keyAuth(t, s, token, "dns other.org/web write"), "POST", base+"/web/TXT", form, "data=hello"), 200, nil)
		wantAnswer(t, s, "web.other.org.")
		want(t, "a key that may write shop2", call(t, s, acmeShop2, "DELETE", base+"/_acme-challenge.shop2/TXT", "", ""), 200, map[string]float64{"records_removed": 1})
		wantAnswer(t, s, "shop2.other.org.", "192.0.2.7")
	})
}

// TestKeysCannotHideWildcardsDeep: a new name brings into being every name
// between it and its closest encloser, not only its parent: a key that may
// write x* may not add x.y.x, which would make y.x (which it may not write)
// a name of its own that the zone's wildcard no longer answers for.
func TestKeysCannotHideWildcardsDeep(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, s *testenv.Server) {
		token := owner(t, s, "alice", "a.example")
		sess := "Bearer " + token
		base := "/dns/v2/zones/a.example/records"
		form := "application/x-www-form-urlencoded"
		want(t, "seed", call(t, s, sess, "PUT", base, "text/dns", "* 300 A 192.0.2.9\n"), 200, nil)
		x := keyAuth(t, s, token, "dns a.example/x* read,write")
		xy := keyAuth(t, s, token, "dns a.example/x* read,write", "dns a.example/y.x write")

		for _, tt := range []struct {
			name, auth, method, path, ct, body string
			status                             int
		}{
			{"the key may not write y.x", x, "POST", "/y.x/TXT", form, "data=hello", 403},
			{"nor hide it by POST below it", x, "POST", "/x.y.x/TXT", form, "data=hello", 403},
			{"nor by PUT", x, "PUT", "/x.y.x/TXT", form, "data=hello", 403},
		} {
			if a := call(t, s, tt.auth, tt.method, base+tt.path, tt.ct, tt.body); a.status != tt.status {
				t.Errorf("%s: got %d %s, want %d", tt.name, a.status, a.body, tt.status)
			}
		}
		wantAnswer(t, s, "y.x.a.example.", "192.0.2.9")
		wantAnswer(t, s, "x.a.example.", "192.0.2.9")
		want(t, "a key that may write y.x", call(t, s, xy, "POST", base+"/x.y.x/TXT", form, "data=hello"), 200, nil)
		wantAnswer(t, s, "y.x.a.example.") // NODATA: a name of its own now
	})
}

// TestTeammatesChangesInOwnersLog: a change to a zone by a member of the
// team it is shared with, by session or API key, is in the zone owner's
// audit log too, naming the member.
func TestTeammatesChangesInOwnersLog(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		alice := testenv.NewClient(s.URL())
		alice.Token = owner(t, s, "alice", "other.org")
		bob := testenv.NewClient(s.URL())
		bob.Token = owner(t, s, "bob")
		r := alice.Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme"})
		if r.Status != 201 {
			t.Fatalf("create team: got %d %s", r.Status, r.Body)
		}
		team := r.JSON["team"].(map[string]any)["id"].(string)
		r = alice.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "bob", "role": "ops"})
		if r.Status != 201 {
			t.Fatalf("invite: got %d %s", r.Status, r.Body)
		}
		if r := bob.Do(t, "POST", "/v1/me/invitations/"+r.JSON["invitation"].(map[string]any)["id"].(string)+"/accept", nil); r.Status != 200 {
			t.Fatalf("accept: got %d %s", r.Status, r.Body)
		}
		if r := alice.Do(t, "PUT", "/v1/teams/"+team+"/zones/other.org", nil); r.Status != 200 {
			t.Fatalf("share: got %d %s", r.Status, r.Body)
		}
		keyID, secret := makeKey(t, s, bob.Token, "dns other.org/www write")
		key := "Basic " + base64.StdEncoding.EncodeToString([]byte(keyID+":"+secret))
		base := "/dns/v2/zones/other.org/records/www/A"
		form := "application/x-www-form-urlencoded"
		want(t, "bob's session", call(t, s, "Bearer "+bob.Token, "POST", base, form, "data=192.0.2.1"), 200, nil)
		want(t, "bob's key", call(t, s, key, "POST", base, form, "data=192.0.2.2"), 200, nil)
		want(t, "alice's session", call(t, s, "Bearer "+alice.Token, "POST", base, form, "data=192.0.2.3"), 200, nil)

		changes := func(c *testenv.Client) []string {
			t.Helper()
			var out []string
			for _, e := range c.Do(t, "GET", "/v1/me/events?limit=100", nil).JSON["events"].([]any) {
				if ev := e.(map[string]any); ev["type"] == "dns.records_changed" {
					out = append(out, ev["detail"].(string))
				}
			}
			slices.Reverse(out) // oldest first
			return out
		}
		got := changes(alice)
		if len(got) != 3 || !strings.Contains(got[0], "by bob's session") || !strings.Contains(got[1], "by bob's API key "+keyID) ||
			!strings.Contains(got[2], "by session") || strings.Contains(got[2], "bob") {
			t.Errorf("alice's dns.records_changed events: got %q, want bob's session, bob's key %s, then her own", got, keyID)
		}
		if got := changes(bob); len(got) != 2 {
			t.Errorf("bob's dns.records_changed events: got %q, want his two", got)
		}
	})
}

// TestNameTooLargeForOneAnswer: records that would take more at one name
// than one DNS answer may carry are refused with a problem saying so, 400
// invalid, and nothing is written; the listener answers the name whole.
func TestNameTooLargeForOneAnswer(t *testing.T) {
	eachDNSStore(t, func(t *testing.T, s *testenv.Server) {
		sess := "Bearer " + owner(t, s, "alice", "other.org")
		base := "/dns/v2/zones/other.org/records"
		var zone strings.Builder
		for i := range 20 { // about 38,000 bytes of TXT, under the body's 64 KiB
			fmt.Fprintf(&zone, "big 300 TXT \"%02d%s\"\n", i, strings.Repeat("x", 1898))
		}
		a := call(t, s, sess, "PUT", base+"/big/TXT", "text/dns", zone.String())
		if a.status != 400 || a.problem() != "invalid" || !strings.HasPrefix(a.header.Get("Content-Type"), "application/problem+json") {
			t.Errorf("20 TXT records of 1,900 bytes at one name: got %d %s %s, want a 400 invalid problem", a.status, a.header.Get("Content-Type"), a.body)
		}
		if r := ask(t, s, "big.other.org.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
			t.Errorf("big after the refused PUT: got rcode %s with %d records, want NXDOMAIN", dns.RcodeToString[r.Rcode], len(r.Answer))
		}
	})
}
