package nameserver_test

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// FuzzQuery sends whatever bytes anyone on the network may send as a DNS
// query, over UDP or TCP, to a real server hosting example.com (alice's:
// names, a CNAME chain into the next zone, a delegation with glue, a
// wildcard, records too many for 512 bytes, a record written before the
// next zone was added under it) and other.example.com (bob's).
// Every message with a header that is not a response is answered, with
// its id, as a response; over UDP within the size the query allows
// (512 bytes, or its EDNS0 size up to 1,232); and an answer's records
// (in every section, glue too) are all of the zone that holds the
// question: none of another account's zone, none for a name the server
// does not host.
func FuzzQuery(f *testing.F) {
	s := dnsServer(f, testenv.SQLiteDSN(f))
	addRecords(f, s, `
www 300 A 192.0.2.1
www 300 AAAA 2001:db8::1
@ 300 MX 10 mail
@ 300 TXT "v=spf1 -all"
mail 300 A 192.0.2.25
alias 300 CNAME www
toother 300 CNAME www.other
www.other 300 A 192.0.2.99
*.w 300 A 192.0.2.9
sub 300 NS ns1.sub
sub 300 NS ns2.sub
ns1.sub 300 A 192.0.2.53
ns2.sub 300 AAAA 2001:db8::53
_acme-challenge 120 TXT "token"
big 300 TXT "`+strings.Repeat("x", 200)+`"
big 300 TXT "one"
big 300 TXT "two"
big 300 TXT "three"
big 300 TXT "`+strings.Repeat("y", 250)+`"
big 300 TXT "`+strings.Repeat("z", 250)+`"
`)
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "bob", Email: "bob@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
		f.Fatal(err)
	}
	if _, err := s.Service.AddZone(ctx, "other.example.com", "bob", core.Meta{}); err != nil {
		f.Fatal(err)
	}
	addZoneRecords(f, s, "bob", "other.example.com", "www 300 A 198.51.100.7\nback 300 CNAME www.example.com.\n")

	for _, q := range []struct {
		name  string
		qtype uint16
		edns  bool
	}{
		{"www.example.com.", dns.TypeA, false}, {"toother.example.com.", dns.TypeA, true},
		{"big.example.com.", dns.TypeTXT, false}, {"big.example.com.", dns.TypeTXT, true},
		{"x.sub.example.com.", dns.TypeA, true}, {"a.w.example.com.", dns.TypeANY, false},
		{"back.other.example.com.", dns.TypeA, true}, {"example.org.", dns.TypeA, false},
		{"example.com.", dns.TypeAXFR, false}, {`www\.example.com.`, dns.TypeSOA, true},
	} {
		m := new(dns.Msg)
		m.SetQuestion(q.name, q.qtype)
		if q.edns {
			m.SetEdns0(700, true)
		}
		b, err := m.Pack()
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
		f.Add(b, true)
	}
	f.Add([]byte{0, 1, 0x80, 0, 0, 1}, false) // a response: not answered
	f.Add([]byte{0, 1, 0x28, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 1}, true)

	zoneOf := func(name string) string {
		name = strings.ToLower(dns.Fqdn(name))
		for _, z := range []string{"other.example.com.", "example.com."} {
			if dns.IsSubDomain(z, name) {
				return z
			}
		}
		return ""
	}
	var sources atomic.Uint32
	f.Fuzz(func(t *testing.T, query []byte, overTCP bool) {
		if len(query) > 4096 {
			return
		}
		// A source of its own for each query, so that none is over the
		// server's rate for one source.
		n := sources.Add(1)
		src := net.IPv4(127, byte(n>>16), byte(n>>8), byte(n)|1)
		answered := len(query) >= 12 && query[2]&0x80 == 0
		resp, stray := exchange(t, s.DNSAddr(), overTCP, src, query, answered)
		if stray != nil {
			t.Fatalf("%x (TCP %v): a response or shorter than a header, answered %x", query, overTCP, stray)
		}
		if !answered {
			return
		}
		var r dns.Msg
		if err := r.Unpack(resp); err != nil {
			t.Fatalf("%x: the answer does not unpack: %v: %x", query, err, resp)
		}
		if !r.Response || r.Id != binary.BigEndian.Uint16(query) {
			t.Fatalf("%x: answered as %v, id %d", query, r.MsgHdr, r.Id)
		}
		u16 := func(i int) uint16 { return binary.BigEndian.Uint16(query[i:]) }
		h := dns.Header{Id: u16(0), Bits: u16(2), Qdcount: u16(4), Ancount: u16(6), Nscount: u16(8), Arcount: u16(10)}
		var req dns.Msg
		if dns.DefaultMsgAcceptFunc(h) != dns.MsgAccept || req.Unpack(query) != nil {
			// Answered FORMERR or NOTIMP by the DNS library, as the
			// server's MsgAcceptFunc (the library's) says, before the
			// server reads it: the library echoes the query's header
			// bits, TC and AA too, and nothing else.
			if len(r.Answer)+len(r.Ns)+len(r.Extra) > 0 || r.Rcode != dns.RcodeFormatError && r.Rcode != dns.RcodeNotImplemented {
				t.Fatalf("%x: refused by the DNS library with %s and records %v", query, dns.RcodeToString[r.Rcode], r)
			}
			return
		}
		limit := dns.MaxMsgSize
		if !overTCP {
			limit = dns.MinMsgSize
			if opt := req.IsEdns0(); opt != nil {
				limit = min(max(int(opt.UDPSize()), dns.MinMsgSize), 1232)
			}
		}
		if len(resp) > limit {
			t.Fatalf("%x (TCP %v): an answer of %d bytes, over %d", query, overTCP, len(resp), limit)
		}
		if overTCP && r.Truncated {
			t.Fatalf("%x: truncated over TCP", query)
		}
		zone := ""
		if len(req.Question) == 1 {
			zone = zoneOf(req.Question[0].Name)
		}
		if r.Authoritative && zone == "" {
			t.Fatalf("%x: authoritative for %v, which is not hosted here", query, req.Question)
		}
		for _, sec := range [][]dns.RR{r.Answer, r.Ns, r.Extra} {
			for _, rr := range sec {
				if rr.Header().Rrtype == dns.TypeOPT {
					continue
				}
				if zone == "" || zoneOf(rr.Header().Name) != zone {
					t.Fatalf("%x: the answer to %v holds %v, of another zone", query, req.Question, rr)
				}
			}
		}
	})
}

// exchange sends query from src to addr over UDP or TCP, then a probe (a
// question for example.com of its own id), and reads the answers until the
// probe's and, when answered is set, query's: query's answer when it is
// answered, any other message when it is not (stray). Over TCP the server
// answers a connection's messages in turn, so that an answer to a query
// that must have none comes before the probe's; over UDP it may come
// after, and be missed. No answer within answerWait fails the test: a
// bound against a hang, not a timing.
func exchange(t *testing.T, addr string, overTCP bool, src net.IP, query []byte, answered bool) (resp, stray []byte) {
	t.Helper()
	var id uint16
	if len(query) >= 2 {
		id = binary.BigEndian.Uint16(query)
	}
	probe := new(dns.Msg)
	probe.SetQuestion("probe.example.com.", dns.TypeA)
	probe.Id = ^id
	pb, err := probe.Pack()
	if err != nil {
		t.Fatal(err)
	}
	var c net.Conn
	if overTCP {
		c, err = (&net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}).Dial("tcp", addr)
	} else {
		c, err = (&net.Dialer{LocalAddr: &net.UDPAddr{IP: src}}).Dial("udp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, m := range [][]byte{query, pb} {
		if overTCP {
			m = append(binary.BigEndian.AppendUint16(nil, uint16(len(m))), m...)
		}
		if _, err := c.Write(m); err != nil {
			t.Fatal(err)
		}
	}
	c.SetReadDeadline(time.Now().Add(answerWait))
	buf := make([]byte, 65536)
	for probed := false; !probed || answered && resp == nil; {
		var m []byte
		if overTCP {
			var n [2]byte
			if _, err := io.ReadFull(c, n[:]); err != nil {
				t.Fatalf("%x: reading the answers over TCP: %v", query, err)
			}
			m = make([]byte, binary.BigEndian.Uint16(n[:]))
			if _, err := io.ReadFull(c, m); err != nil {
				t.Fatalf("%x: reading the answers over TCP: %v", query, err)
			}
		} else {
			n, err := c.Read(buf)
			if err != nil {
				t.Fatalf("%x: reading the answers over UDP: %v", query, err)
			}
			m = append([]byte(nil), buf[:n]...)
		}
		switch {
		case len(m) >= 2 && binary.BigEndian.Uint16(m) == probe.Id && !probed:
			probed = true
		case !answered:
			return nil, m
		default:
			resp = m
		}
	}
	return resp, nil
}
