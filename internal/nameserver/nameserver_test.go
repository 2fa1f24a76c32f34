package nameserver_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// dnsServer starts a server answering DNS on loopback, with alice owning
// example.com and its records.
func dnsServer(t testing.TB, dsn string) *testenv.Server {
	t.Helper()
	s := testenv.NewServer(t, dsn, func(c *config.Config) {
		c.DNSAddr = "127.0.0.1:0"
		c.DNSNameservers = []string{"ns1.example.net", "NS2.example.net."}
		c.DNSHostmaster = "dns-admin@example.net"
	})
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Service.AddZone(ctx, "example.com", "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return s
}

// addRecords adds records in zone-file form to example.com as alice.
func addRecords(t testing.TB, s *testenv.Server, text string) {
	t.Helper()
	addZoneRecords(t, s, "alice", "example.com", text)
}

// addZoneRecords adds records in zone-file form to zone as its owner.
func addZoneRecords(t testing.TB, s *testenv.Server, owner, zone, text string) {
	t.Helper()
	ctx := context.Background()
	acct, err := s.Store.AccountByUsername(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := core.ParseZoneText(zone, text)
	if err != nil {
		t.Fatal(err)
	}
	in := make([]core.RecordInput, len(recs))
	for i, r := range recs {
		in[i] = core.RecordInput{Host: r.Host, Type: r.Type, TTL: int(r.TTL), Data: r.Data}
	}
	if _, err := s.Service.AddDNSRecords(ctx, core.Auth{Account: acct}, core.RecordSet{Zone: zone}, in, core.Meta{}); err != nil {
		t.Fatal(err)
	}
}

// answerWait is how long the tests' DNS clients wait for an answer: the
// server reads the database for a query, which on a loaded machine may take
// longer than the client's default of 2 s. A bound against a hang, not a
// timing.
const answerWait = time.Minute

// query asks the server over network (udp or tcp) with a real DNS client.
func query(t *testing.T, s *testenv.Server, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: answerWait}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.SetEdns0(1232, false)
	r, _, err := c.Exchange(m, s.DNSAddr())
	if err != nil {
		t.Fatalf("query %s %s over %s: %v", name, dns.TypeToString[qtype], network, err)
	}
	return r
}

// brief writes records as "name TYPE data", sorted.
func brief(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, rr.Header().Name+" "+dns.TypeToString[rr.Header().Rrtype]+" "+strings.TrimPrefix(rr.String(), rr.Header().String()))
	}
	slices.Sort(out)
	return out
}

const soa = "example.com. SOA ns1.example.net. dns-admin.example.net. 2 3600 900 1209600 300"

func TestAnswers(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, `
www 300 A 192.0.2.1
www 300 A 192.0.2.2
www 300 AAAA 2001:db8::1
@ 300 MX 10 mail
@ 300 TXT "v=spf1 -all"
@ 300 CAA 0 issue "letsencrypt.org"
mail 300 A 192.0.2.25
alias 300 CNAME www
ext 300 CNAME other.example.net.
below 300 CNAME host.sub
*.dev 300 A 192.0.2.80
a.b.deep 300 A 192.0.2.90
sub 300 NS ns1.sub
ns1.sub 300 A 192.0.2.53
_acme-challenge 120 TXT "token"
_sip._tcp 300 SRV 10 5 5060 sip
host 300 SSHFP 4 2 abababababababababababababababababababababababababababababababab
_443._tcp 300 TLSA 3 1 0 ABCDEF
1 300 PTR host.example.com.
`)
			tests := []struct {
				name, qname string
				qtype       uint16
				network     string
				rcode       int
				aa          bool
				answer      []string
				ns          []string
				extra       []string
			}{
				{"SOA", "example.com.", dns.TypeSOA, "udp", dns.RcodeSuccess, true, []string{soa}, nil, nil},
				{"NS", "example.com.", dns.TypeNS, "udp", dns.RcodeSuccess, true,
					[]string{"example.com. NS ns1.example.net.", "example.com. NS ns2.example.net."}, nil, nil},
				{"A", "www.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true,
					[]string{"www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"}, nil, nil},
				{"A over TCP", "www.example.com.", dns.TypeA, "tcp", dns.RcodeSuccess, true,
					[]string{"www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"}, nil, nil},
				{"name in any case", "WWW.Example.COM.", dns.TypeAAAA, "udp", dns.RcodeSuccess, true,
					[]string{"WWW.Example.COM. AAAA 2001:db8::1"}, nil, nil},
				{"MX", "example.com.", dns.TypeMX, "udp", dns.RcodeSuccess, true, []string{"example.com. MX 10 mail.example.com."}, nil, nil},
				{"CAA", "example.com.", dns.TypeCAA, "tcp", dns.RcodeSuccess, true, []string{`example.com. CAA 0 issue "letsencrypt.org"`}, nil, nil},
				{"TXT", "_acme-challenge.example.com.", dns.TypeTXT, "udp", dns.RcodeSuccess, true, []string{`_acme-challenge.example.com. TXT "token"`}, nil, nil},
				{"no such type", "www.example.com.", dns.TypeTXT, "udp", dns.RcodeSuccess, true, nil, []string{soa}, nil},
				{"no such name", "nothing.example.com.", dns.TypeA, "udp", dns.RcodeNameError, true, nil, []string{soa}, nil},
				{"empty non-terminal", "b.deep.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true, nil, []string{soa}, nil},
				{"CNAME followed", "alias.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true,
					[]string{"alias.example.com. CNAME www.example.com.", "www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"}, nil, nil},
				{"CNAME out of the zone", "ext.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true,
					[]string{"ext.example.com. CNAME other.example.net."}, nil, nil},
				{"wildcard", "x.dev.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true, []string{"x.dev.example.com. A 192.0.2.80"}, nil, nil},
				{"wildcard, no such type", "x.dev.example.com.", dns.TypeAAAA, "udp", dns.RcodeSuccess, true, nil, []string{soa}, nil},
				{"delegation", "host.sub.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, false, nil,
					[]string{"sub.example.com. NS ns1.sub.example.com."}, []string{"ns1.sub.example.com. A 192.0.2.53"}},
				// The CNAME is this server's own: authoritative (RFC 1035
				// §4.1.1, AA of the first owner in the answer), with the
				// referral for its target.
				{"CNAME into a delegation", "below.example.com.", dns.TypeA, "udp", dns.RcodeSuccess, true,
					[]string{"below.example.com. CNAME host.sub.example.com."},
					[]string{"sub.example.com. NS ns1.sub.example.com."}, []string{"ns1.sub.example.com. A 192.0.2.53"}},
				{"SRV", "_sip._tcp.example.com.", dns.TypeSRV, "udp", dns.RcodeSuccess, true, []string{"_sip._tcp.example.com. SRV 10 5 5060 sip.example.com."}, nil, nil},
				{"SSHFP", "host.example.com.", dns.TypeSSHFP, "udp", dns.RcodeSuccess, true,
					[]string{"host.example.com. SSHFP 4 2 ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB"}, nil, nil},
				{"TLSA", "_443._tcp.example.com.", dns.TypeTLSA, "udp", dns.RcodeSuccess, true, []string{"_443._tcp.example.com. TLSA 3 1 0 abcdef"}, nil, nil},
				{"PTR", "1.example.com.", dns.TypePTR, "udp", dns.RcodeSuccess, true, []string{"1.example.com. PTR host.example.com."}, nil, nil},
				{"outside every zone", "www.example.org.", dns.TypeA, "udp", dns.RcodeRefused, false, nil, nil, nil},
				{"a parent of the zone", "com.", dns.TypeNS, "udp", dns.RcodeRefused, false, nil, nil, nil},
			}
			for _, tt := range tests {
				r := query(t, s, tt.network, tt.qname, tt.qtype)
				if r.Rcode != tt.rcode || r.Authoritative != tt.aa {
					t.Errorf("%s: got rcode %s aa %v, want %s aa %v", tt.name, dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], tt.aa)
				}
				for _, sec := range []struct {
					name      string
					got, want []string
				}{{"answer", brief(r.Answer), tt.answer}, {"authority", brief(r.Ns), tt.ns}, {"additional", brief(r.Extra), tt.extra}} {
					if diff := cmp.Diff(sec.want, sec.got); diff != "" {
						t.Errorf("%s: %s section (-want +got):\n%s", tt.name, sec.name, diff)
					}
				}
			}
		})
	}
}

// TestAnswersFollowTheDatabase: a change through the API is answered at
// once, with the SOA serial moved on.
func TestAnswersFollowTheDatabase(t *testing.T) {
	s := dnsServer(t, testenv.SQLiteDSN(t))
	serial := func() uint32 {
		t.Helper()
		r := query(t, s, "udp", "example.com.", dns.TypeSOA)
		if len(r.Answer) != 1 {
			t.Fatalf("SOA: got %v", r.Answer)
		}
		return r.Answer[0].(*dns.SOA).Serial
	}
	before := serial()
	if r := query(t, s, "udp", "_acme-challenge.example.com.", dns.TypeTXT); r.Rcode != dns.RcodeNameError {
		t.Fatalf("before: got rcode %s, want NXDOMAIN", dns.RcodeToString[r.Rcode])
	}
	addRecords(t, s, `_acme-challenge 120 TXT "token"`)
	r := query(t, s, "tcp", "_acme-challenge.example.com.", dns.TypeTXT)
	if diff := cmp.Diff([]string{`_acme-challenge.example.com. TXT "token"`}, brief(r.Answer)); diff != "" {
		t.Errorf("after: (-want +got):\n%s", diff)
	}
	if after := serial(); after != before+1 {
		t.Errorf("serial: got %d after %d, want one more", after, before)
	}
}

// TestTruncation: an answer too large for UDP is truncated there, and
// whole over TCP.
func TestTruncation(t *testing.T) {
	s := dnsServer(t, testenv.SQLiteDSN(t))
	var b strings.Builder
	for i := range 20 {
		b.WriteString("big 300 TXT \"" + strings.Repeat(string(rune('a'+i)), 200) + "\"\n")
	}
	addRecords(t, s, b.String())
	m := new(dns.Msg)
	m.SetQuestion("big.example.com.", dns.TypeTXT) // no EDNS0: 512 bytes over UDP
	r, _, err := (&dns.Client{Net: "udp", Timeout: answerWait}).Exchange(m, s.DNSAddr())
	if err != nil {
		t.Fatal(err)
	}
	if !r.Truncated || len(r.Answer) >= 20 {
		t.Errorf("over UDP: got TC %v with %d records, want a truncated answer", r.Truncated, len(r.Answer))
	}
	if r := query(t, s, "tcp", "big.example.com.", dns.TypeTXT); r.Truncated || len(r.Answer) != 20 {
		t.Errorf("over TCP: got TC %v with %d records, want all 20", r.Truncated, len(r.Answer))
	}
}

// bigTXT returns TXT data of about 1,900 bytes, distinct for each i.
func bigTXT(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("x", 1896) }

// TestWhatTheAPITakesAnswersOverTCP: TXT records of 1,900 bytes added at
// one name through the DNS API, one at a time, until it refuses, all
// answer over TCP, asked by type and by ANY, in one message: the API keeps
// a name's records within what one DNS message carries, so that a DNS-01
// check of a name with many tokens gets its answer.
func TestWhatTheAPITakesAnswersOverTCP(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			ctx := context.Background()
			acct, err := s.Store.AccountByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			added := 0
			for i := range 45 {
				_, err := s.Service.AddDNSRecords(ctx, core.Auth{Account: acct}, core.RecordSet{Zone: "example.com", Host: "big", Type: "TXT"},
					[]core.RecordInput{{TTL: core.DefaultTTL, Data: bigTXT(i)}}, core.Meta{})
				if twofold.ErrorCode(err) == twofold.CodeInvalid {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				added++
			}
			if added == 45 {
				t.Fatalf("the API took all 45 records of 1,900 bytes at one name")
			}
			for _, qtype := range []uint16{dns.TypeTXT, dns.TypeANY} {
				r := query(t, s, "tcp", "big.example.com.", qtype)
				if r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) != added {
					t.Errorf("%s over TCP: got rcode %s TC %v with %d records, want all %d", dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], r.Truncated, len(r.Answer), added)
				}
			}
		})
	}
}

// TestAnswerTooLargeIsServerFailure: records stored beyond what one DNS
// message carries (as by a version of the API without its limit) answer
// SERVFAIL over TCP, at once, rather than nothing, which a client would
// wait out; over UDP the answer is truncated as before, and other names
// answer as ever.
func TestAnswerTooLargeIsServerFailure(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, "www 300 A 192.0.2.1")
			ctx := context.Background()
			var recs []twofold.Record
			for i := range 45 {
				r, err := core.ParseRecord("example.com", core.RecordInput{Host: "big", Type: "TXT", TTL: 300, Data: bigTXT(i)})
				if err != nil {
					t.Fatal(err)
				}
				recs = append(recs, r)
			}
			z, err := s.Store.Zone(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			// Straight into the store, past the API's checks; the serial
			// moves on so that the server reads the zone again.
			if err := s.Store.AddRecords(ctx, "example.com", recs); err != nil {
				t.Fatal(err)
			}
			if err := s.Store.SetZoneSerial(ctx, "example.com", z.Serial+1); err != nil {
				t.Fatal(err)
			}
			for _, qtype := range []uint16{dns.TypeTXT, dns.TypeANY} {
				r := query(t, s, "tcp", "big.example.com.", qtype)
				if r.Rcode != dns.RcodeServerFailure || len(r.Answer) != 0 || len(r.Question) != 1 || r.Id == 0 {
					t.Errorf("%s over TCP: got rcode %s with %d records, want SERVFAIL to the question", dns.TypeToString[qtype], dns.RcodeToString[r.Rcode], len(r.Answer))
				}
			}
			if r := query(t, s, "udp", "big.example.com.", dns.TypeTXT); !r.Truncated {
				t.Errorf("over UDP: got rcode %s TC %v, want a truncated answer", dns.RcodeToString[r.Rcode], r.Truncated)
			}
			r := query(t, s, "tcp", "www.example.com.", dns.TypeA)
			if diff := cmp.Diff([]string{"www.example.com. A 192.0.2.1"}, brief(r.Answer)); diff != "" {
				t.Errorf("another name over TCP (-want +got):\n%s", diff)
			}
		})
	}
}

// TestReferralGlueTrimmedToFit: a delegation whose glue, each name within
// the API's limit, makes a referral longer than any DNS message answers
// over TCP with the referral and as much glue as fits, an address of each
// name server among it, rather than SERVFAIL; UDP truncates as before.
func TestReferralGlueTrimmedToFit(t *testing.T) {
	s := dnsServer(t, testenv.SQLiteDSN(t))
	addRecords(t, s, "sub 300 NS ns1.sub.example.com.\nsub 300 NS ns2.sub.example.com.\nsub 300 NS ns3.sub.example.com.\n")
	for n := 1; n <= 3; n++ {
		for half := range 2 { // the API takes at most 1,000 records at once
			var b strings.Builder
			for i := half * 570; i < (half+1)*570; i++ {
				fmt.Fprintf(&b, "ns%d.sub 300 AAAA 2001:db8:%x::%x\n", n, n, i+1)
			}
			addRecords(t, s, b.String())
		}
	}
	r := query(t, s, "tcp", "www.sub.example.com.", dns.TypeA)
	if r.Rcode != dns.RcodeSuccess || r.Truncated || len(r.Answer) != 0 || len(r.Ns) != 3 {
		t.Fatalf("over TCP: got rcode %s TC %v with %d answers and %d in authority, want the referral's 3 NS", dns.RcodeToString[r.Rcode], r.Truncated, len(r.Answer), len(r.Ns))
	}
	glue := map[string]int{}
	total := 0
	for _, rr := range r.Extra {
		if rr.Header().Rrtype == dns.TypeAAAA {
			glue[rr.Header().Name]++
			total++
		}
	}
	for n := 1; n <= 3; n++ {
		if name := fmt.Sprintf("ns%d.sub.example.com.", n); glue[name] == 0 {
			t.Errorf("over TCP: no glue for %s among %d records", name, total)
		}
	}
	if total == 0 || total >= 3*1140 {
		t.Errorf("over TCP: got %d glue records, want some but fewer than all %d", total, 3*1140)
	}
	if r := query(t, s, "udp", "www.sub.example.com.", dns.TypeA); r.Rcode != dns.RcodeSuccess || len(r.Ns) != 3 {
		t.Errorf("over UDP: got rcode %s with %d in authority, want the referral", dns.RcodeToString[r.Rcode], len(r.Ns))
	}
}

// TestEscapedNamesAndCNAMEChains: a name is cut into labels where the wire
// cuts it, never at an escaped dot; a CNAME chain answers each record once,
// however it loops, and its RCODE is its last name's (RFC 6604 §3).
func TestEscapedNamesAndCNAMEChains(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, `
*.w 300 A 192.0.2.9
www.w 300 A 192.0.2.1
*.www.w 300 A 192.0.2.66
dangling 300 CNAME nothere
loop 300 CNAME loop
ping 300 CNAME pong
pong 300 CNAME ping
txtonly 300 TXT "text"
totxt 300 CNAME txtonly
towild 300 CNAME a.w
`)
			tests := []struct {
				name, qname string
				rcode       int
				aa          bool
				answer      []string
				ns          []string
			}{
				{"escaped dot above the zone", `x.evil\.example.com.`, dns.RcodeRefused, false, nil, nil},
				{"escaped dot in the zone's own label", `example\.com.`, dns.RcodeRefused, false, nil, nil},
				{"escaped dot: one label under w", `x\.www.w.example.com.`, dns.RcodeSuccess, true,
					[]string{`x\.www.w.example.com. A 192.0.2.9`}, nil},
				{"no escape: under www.w", `x.www.w.example.com.`, dns.RcodeSuccess, true,
					[]string{`x.www.w.example.com. A 192.0.2.66`}, nil},
				{"escaped dot: no such name", `www\.w.example.com.`, dns.RcodeNameError, true, nil, []string{soa}},
				{"CNAME to no such name", "dangling.example.com.", dns.RcodeNameError, true,
					[]string{"dangling.example.com. CNAME nothere.example.com."}, []string{soa}},
				{"CNAME to itself", "loop.example.com.", dns.RcodeSuccess, true,
					[]string{"loop.example.com. CNAME loop.example.com."}, nil},
				{"CNAME loop of two", "ping.example.com.", dns.RcodeSuccess, true,
					[]string{"ping.example.com. CNAME pong.example.com.", "pong.example.com. CNAME ping.example.com."}, nil},
				{"CNAME to a name without the type", "totxt.example.com.", dns.RcodeSuccess, true,
					[]string{"totxt.example.com. CNAME txtonly.example.com."}, []string{soa}},
				{"CNAME to a wildcard", "towild.example.com.", dns.RcodeSuccess, true,
					[]string{"a.w.example.com. A 192.0.2.9", "towild.example.com. CNAME a.w.example.com."}, nil},
			}
			for _, tt := range tests {
				r := query(t, s, "udp", tt.qname, dns.TypeA)
				if r.Rcode != tt.rcode || r.Authoritative != tt.aa {
					t.Errorf("%s: got rcode %s aa %v, want %s aa %v", tt.name, dns.RcodeToString[r.Rcode], r.Authoritative, dns.RcodeToString[tt.rcode], tt.aa)
				}
				if diff := cmp.Diff(tt.answer, brief(r.Answer)); diff != "" {
					t.Errorf("%s: answer section (-want +got):\n%s", tt.name, diff)
				}
				if diff := cmp.Diff(tt.ns, brief(r.Ns)); diff != "" {
					t.Errorf("%s: authority section (-want +got):\n%s", tt.name, diff)
				}
			}
		})
	}
}

// TestStoredUnsafeRecordsNotServed: records stored before the API refused
// them, text with bytes that are not UTF-8 or are controls (as \DDD
// escapes above 255 once let in) and targets that are not host names, are
// left out of answers; the zone's other records are served.
func TestStoredUnsafeRecordsNotServed(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, "esc 300 TXT \"fine\"\nesc 300 CAA 0 issue \"letsencrypt.org\"")
			ctx := context.Background()
			z, err := s.Store.Zone(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			// Straight into the store, past the API's checks, in the form
			// the API stored them in before it refused them.
			recs := []twofold.Record{
				{Host: "esc", Type: "TXT", TTL: 300, Data: `"\155[31mRED \000 nul"`},
				{Host: "esc", Type: "CAA", TTL: 300, Data: `0 issue "le\000\155.org"`},
				{Host: "c", Type: "CNAME", TTL: 300, Data: `a\000b.example.com.`},
				{Host: "@", Type: "MX", TTL: 300, Data: `10 mail\155.example.com.`},
			}
			if err := s.Store.AddRecords(ctx, "example.com", recs); err != nil {
				t.Fatal(err)
			}
			if err := s.Store.SetZoneSerial(ctx, "example.com", z.Serial+1); err != nil {
				t.Fatal(err)
			}
			for _, q := range []struct {
				name  string
				qtype uint16
				want  []string
			}{
				{"esc.example.com.", dns.TypeTXT, []string{`esc.example.com. TXT "fine"`}},
				{"esc.example.com.", dns.TypeCAA, []string{`esc.example.com. CAA 0 issue "letsencrypt.org"`}},
				{"c.example.com.", dns.TypeCNAME, nil},
				{"example.com.", dns.TypeMX, nil},
			} {
				r := query(t, s, "udp", q.name, q.qtype)
				if diff := cmp.Diff(q.want, brief(r.Answer)); diff != "" {
					t.Errorf("%s %s (-want +got):\n%s", q.name, dns.TypeToString[q.qtype], diff)
				}
			}
		})
	}
}

// TestChainsStopAtAZoneBelow: with shop.example.com hosted here as a zone
// of its own (bob's), example.com's data never answers for a name in it:
// a CNAME chain of example.com stops at such a target, rather than serving
// example.com's records stored there before bob's zone came, or its
// wildcard, or NXDOMAIN for a name bob's zone has; and the API refuses new
// records of example.com there. The DO bit of a query comes back.
func TestChainsStopAtAZoneBelow(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			ctx := context.Background()
			addRecords(t, s, `
login.shop 300 A 203.0.113.66
* 300 A 203.0.113.1
www3 300 CNAME login.shop
www4 300 CNAME api.shop
www5 300 CNAME any.shop
www6 300 CNAME www
www 300 A 192.0.2.1
`)
			if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "bob", Email: "bob@example.com", Password: "correct horse battery"}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			if _, err := s.Service.AddZone(ctx, "shop.example.com", "bob", core.Meta{}); err != nil {
				t.Fatal(err)
			}
			bob, err := s.Store.AccountByUsername(ctx, "bob")
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Service.AddDNSRecords(ctx, core.Auth{Account: bob}, core.RecordSet{Zone: "shop.example.com"}, []core.RecordInput{
				{Host: "login", Type: "A", TTL: 300, Data: "192.0.2.99"},
				{Host: "api", Type: "A", TTL: 300, Data: "192.0.2.100"},
			}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			for _, q := range []struct {
				qname  string
				answer []string
			}{
				{"login.shop.example.com.", []string{"login.shop.example.com. A 192.0.2.99"}},
				{"www3.example.com.", []string{"www3.example.com. CNAME login.shop.example.com."}},
				{"www4.example.com.", []string{"www4.example.com. CNAME api.shop.example.com."}},
				{"www5.example.com.", []string{"www5.example.com. CNAME any.shop.example.com."}},
				{"www6.example.com.", []string{"www.example.com. A 192.0.2.1", "www6.example.com. CNAME www.example.com."}},
			} {
				r := query(t, s, "udp", q.qname, dns.TypeA)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative {
					t.Errorf("%s: got rcode %s aa %v, want NOERROR aa", q.qname, dns.RcodeToString[r.Rcode], r.Authoritative)
				}
				if diff := cmp.Diff(q.answer, brief(r.Answer)); diff != "" {
					t.Errorf("%s: answer section (-want +got):\n%s", q.qname, diff)
				}
				if len(r.Ns) != 0 {
					t.Errorf("%s: authority section %v, want none", q.qname, brief(r.Ns))
				}
			}

			alice, err := s.Store.AccountByUsername(ctx, "alice")
			if err != nil {
				t.Fatal(err)
			}
			for _, host := range []string{"login.shop", "shop", "*.shop", "x.y.shop"} {
				_, err = s.Service.AddDNSRecords(ctx, core.Auth{Account: alice}, core.RecordSet{Zone: "example.com"}, []core.RecordInput{
					{Host: "fine", Type: "A", TTL: 300, Data: "192.0.2.7"},
					{Host: host, Type: "A", TTL: 300, Data: "203.0.113.67"},
				}, core.Meta{})
				if twofold.ErrorCode(err) != twofold.CodeConflict || !strings.Contains(twofold.ErrorMessage(err), "shop.example.com") {
					t.Errorf("a record of example.com at %s: got %v, want a conflict naming shop.example.com", host, err)
				}
			}
			recs, err := s.Store.Records(ctx, "example.com")
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range recs {
				if r.Host == "fine" || r.Data == "203.0.113.67" {
					t.Errorf("a refused change stored %s %s %s", r.Host, r.Type, r.Data)
				}
			}
			// A name next to the zone below, not in it, is still example.com's.
			if _, err := s.Service.AddDNSRecords(ctx, core.Auth{Account: alice}, core.RecordSet{Zone: "example.com"}, []core.RecordInput{
				{Host: "shopping", Type: "A", TTL: 300, Data: "192.0.2.8"},
			}, core.Meta{}); err != nil {
				t.Errorf("a record at shopping: %v", err)
			}

			m := new(dns.Msg)
			m.SetQuestion("www.example.com.", dns.TypeA)
			m.SetEdns0(1232, true)
			r, _, err := (&dns.Client{Net: "udp", Timeout: answerWait}).Exchange(m, s.DNSAddr())
			if err != nil {
				t.Fatal(err)
			}
			if opt := r.IsEdns0(); opt == nil || !opt.Do() {
				t.Errorf("the answer's OPT %v does not copy the query's DO bit", opt)
			}
		})
	}
}
