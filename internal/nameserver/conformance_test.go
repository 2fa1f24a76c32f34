package nameserver_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"

	"github.com/twofold/twofold/internal/testenv"
)

// TestQuestionsNotOfAZone: the answers to what no zone holds, asked with a
// real client: zone transfers are refused (RFC 5936 §2.2.1: an empty
// NOERROR reads as an empty zone to a transfer client), MAILA and MAILB (obsolete)
// are answered NOTIMP, a question for a meta-type is malformed (RFC 9824 §3.5),
// as is a query with two OPT records (RFC 6891 §6.1.1); an EDNS version
// above 0 gets BADVERS with an OPT of version 0 (RFC 6891 §6.1.3). None
// carries a record or the zone's SOA.
func TestQuestionsNotOfAZone(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, "www 300 A 192.0.2.1\n")
			tests := []struct {
				name    string
				network string
				qtype   uint16
				edit    func(*dns.Msg)
				rcode   int
			}{
				{"AXFR", "tcp", dns.TypeAXFR, nil, dns.RcodeRefused},
				{"IXFR", "udp", dns.TypeIXFR, nil, dns.RcodeRefused},
				{"IXFR over TCP", "tcp", dns.TypeIXFR, nil, dns.RcodeRefused},
				{"MAILB", "udp", dns.TypeMAILB, nil, dns.RcodeNotImplemented},
				{"MAILA", "udp", dns.TypeMAILA, nil, dns.RcodeNotImplemented},
				{"OPT", "udp", dns.TypeOPT, nil, dns.RcodeFormatError},
				{"TSIG", "udp", dns.TypeTSIG, nil, dns.RcodeFormatError},
				{"TKEY", "tcp", dns.TypeTKEY, nil, dns.RcodeFormatError},
				{"NXNAME", "udp", 128, nil, dns.RcodeFormatError},
				{"EDNS version 1", "udp", dns.TypeA, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }, dns.RcodeBadVers},
				{"EDNS version 1 over TCP", "tcp", dns.TypeA, func(m *dns.Msg) { m.IsEdns0().SetVersion(1) }, dns.RcodeBadVers},
				{"two OPT records", "udp", dns.TypeA, func(m *dns.Msg) { m.Extra = append(m.Extra, dns.Copy(m.Extra[0])) }, dns.RcodeFormatError},
			}
			for _, tt := range tests {
				m := new(dns.Msg)
				m.SetQuestion("www.example.com.", tt.qtype)
				m.SetEdns0(1232, false)
				if tt.edit != nil {
					tt.edit(m)
				}
				r, _, err := (&dns.Client{Net: tt.network, Timeout: answerWait}).Exchange(m, s.DNSAddr())
				if err != nil {
					t.Errorf("%s: %v", tt.name, err)
					continue
				}
				if r.Rcode != tt.rcode || r.Id != m.Id || len(r.Question) != 1 {
					t.Errorf("%s: got rcode %s to %d questions, want %s to the question", tt.name, rcodeName(r.Rcode), len(r.Question), rcodeName(tt.rcode))
				}
				if len(r.Answer)+len(r.Ns) != 0 || len(brief(r.Extra)) != 0 {
					t.Errorf("%s: got records %v %v %v, want none", tt.name, r.Answer, r.Ns, r.Extra)
				}
				if opt := r.IsEdns0(); opt == nil || opt.Version() != 0 {
					t.Errorf("%s: got OPT %v, want one of version 0", tt.name, opt)
				}
			}
			// A zone transfer client is told, rather than reading an empty zone.
			m := new(dns.Msg)
			m.SetAxfr("example.com.")
			env, err := new(dns.Transfer).In(m, s.DNSAddr())
			if err == nil {
				for e := range env {
					if e.Error == nil {
						t.Errorf("AXFR with a transfer client: got %d records, want a refusal", len(e.RR))
					}
				}
			}
		})
	}
}

// TestAnyOverUDPIsMinimal: ANY over UDP answers one RRset of the name, that
// of its lowest type (RFC 8482 §4.1), so that a small forged query gets no
// large answer; over TCP it answers every record of the name.
func TestAnyOverUDPIsMinimal(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dnsServer(t, dsn(t))
			addRecords(t, s, `
www 300 AAAA 2001:db8::1
www 300 TXT "text"
www 300 A 192.0.2.1
www 300 A 192.0.2.2
*.dev 300 TXT "wild"
*.dev 300 MX 10 mail
`)
			tests := []struct {
				name, qname, network string
				answer               []string
			}{
				{"over UDP", "www.example.com.", "udp", []string{"www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2"}},
				{"over TCP", "www.example.com.", "tcp", []string{"www.example.com. A 192.0.2.1", "www.example.com. A 192.0.2.2",
					"www.example.com. AAAA 2001:db8::1", `www.example.com. TXT "text"`}},
				{"the apex over UDP", "example.com.", "udp", []string{"example.com. NS ns1.example.net.", "example.com. NS ns2.example.net."}},
				{"a wildcard over UDP", "x.dev.example.com.", "udp", []string{"x.dev.example.com. MX 10 mail.example.com."}},
			}
			for _, tt := range tests {
				r := query(t, s, tt.network, tt.qname, dns.TypeANY)
				if r.Rcode != dns.RcodeSuccess || !r.Authoritative || r.Truncated {
					t.Errorf("%s: got rcode %s aa %v tc %v, want NOERROR aa, whole", tt.name, dns.RcodeToString[r.Rcode], r.Authoritative, r.Truncated)
				}
				if diff := cmp.Diff(tt.answer, brief(r.Answer)); diff != "" {
					t.Errorf("%s: answer section (-want +got):\n%s", tt.name, diff)
				}
			}
			if r := query(t, s, "udp", "nothing.example.com.", dns.TypeANY); r.Rcode != dns.RcodeNameError || len(r.Answer) != 0 {
				t.Errorf("no such name over UDP: got rcode %s with %d records, want NXDOMAIN", dns.RcodeToString[r.Rcode], len(r.Answer))
			}
		})
	}
}

// rcodeName names rcode as an answer's RCODE: 16 is BADVERS there (and
// BADSIG only in TSIG, RFC 6895 §2.3), which miekg/dns's table calls it.
func rcodeName(rcode int) string {
	if rcode == dns.RcodeBadVers {
		return "BADVERS"
	}
	return dns.RcodeToString[rcode]
}
