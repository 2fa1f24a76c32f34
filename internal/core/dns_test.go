package core_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

func TestParseRecord(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name     string
		in       core.RecordInput
		want     twofold.Record
		wantCode twofold.Code // "" for success
	}{
		{"A", in("WWW", "a", 3600, "192.0.2.1"), rr("www", "A", 3600, "192.0.2.1"), ""},
		{"ttl 0 is no default", in("www", "A", 0, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"AAAA shortened", in("www", "AAAA", 300, "2001:DB8:0::0:1"), rr("www", "AAAA", 300, "2001:db8::1"), ""},
		{"CNAME relative", in("www", "CNAME", 300, "Web"), rr("www", "CNAME", 300, "web.example.com."), ""},
		{"MX", in("@", "MX", 300, "10 MX.example.net."), rr("@", "MX", 300, "10 mx.example.net."), ""},
		{"SRV", in("_sip._tcp", "SRV", 300, "10 5 5060 sip"), rr("_sip._tcp", "SRV", 300, "10 5 5060 sip.example.com."), ""},
		{"CAA", in("@", "CAA", 300, `0 ISSUE "letsencrypt.org"`), rr("@", "CAA", 300, `0 issue "letsencrypt.org"`), ""},
		{"CAA with parameters", in("@", "CAA", 300, `0 issue "ca.example; account=230123"`), rr("@", "CAA", 300, `0 issue "ca.example; account=230123"`), ""},
		{"SSHFP", in("host", "SSHFP", 300, "4 2 "+strings.Repeat("ab", 32)), rr("host", "SSHFP", 300, "4 2 "+strings.Repeat("AB", 32)), ""},
		{"SSHFP SHA-1", in("host", "SSHFP", 300, "1 1 "+strings.Repeat("Cd", 20)), rr("host", "SSHFP", 300, "1 1 "+strings.Repeat("CD", 20)), ""},
		{"TLSA full", in("_443._tcp", "TLSA", 300, "3 1 0 ABCDEF"), rr("_443._tcp", "TLSA", 300, "3 1 0 abcdef"), ""},
		{"TLSA SHA-256", in("_443._tcp", "TLSA", 300, "3 1 1 "+strings.Repeat("AB", 32)), rr("_443._tcp", "TLSA", 300, "3 1 1 "+strings.Repeat("ab", 32)), ""},
		{"TLSA SHA-512", in("_443._tcp", "TLSA", 300, "3 0 2 "+strings.Repeat("AB", 64)), rr("_443._tcp", "TLSA", 300, "3 0 2 "+strings.Repeat("ab", 64)), ""},
		{"PTR", in("1", "PTR", 300, "host.example.net."), rr("1", "PTR", 300, "host.example.net."), ""},
		{"NS delegation", in("sub", "NS", 300, "ns1.Example.net."), rr("sub", "NS", 300, "ns1.example.net."), ""},
		{"TXT text", in("_acme-challenge", "TXT", 120, `v=spf1 "a" -all; x`), rr("_acme-challenge", "TXT", 120, `"v=spf1 \"a\" -all; x"`), ""},
		{"TXT presentation", in("@", "TXT", 300, `"a b" "c"`), rr("@", "TXT", 300, `"a b" "c"`), ""},
		{"TXT split at 255", in("@", "TXT", 300, long), rr("@", "TXT", 300, `"`+long[:255]+`" "`+long[255:]+`"`), ""},
		{"TXT text trimmed", in("_acme-challenge", "TXT", 120, "tok\n"), rr("_acme-challenge", "TXT", 120, `"tok"`), ""},
		{"TXT text with a backslash", in("@", "TXT", 300, `c:\d \010`), rr("@", "TXT", 300, `"c:\\d \\010"`), ""},
		{"TXT text in UTF-8", in("@", "TXT", 300, "café ✓"), rr("@", "TXT", 300, `"caf\195\169 \226\156\147"`), ""},
		{"TXT UTF-8 escaped", in("@", "TXT", 300, `"caf\195\169"`), rr("@", "TXT", 300, `"caf\195\169"`), ""},
		{"TXT UTF-8 across strings", in("@", "TXT", 300, `"caf\195" "\169"`), rr("@", "TXT", 300, `"caf\195" "\169"`), ""},
		{"TXT spaces trimmed", in("_acme-challenge", "TXT", 120, "  lead and tail \t"), rr("_acme-challenge", "TXT", 120, `"lead and tail"`), ""},
		{"host fully qualified", in("www.Example.com.", "A", 300, "192.0.2.1"), rr("www", "A", 300, "192.0.2.1"), ""},
		{"apex fully qualified", in("example.com.", "A", 300, "192.0.2.1"), rr("@", "A", 300, "192.0.2.1"), ""},
		{"wildcard", in("*.dev", "A", 300, "192.0.2.1"), rr("*.dev", "A", 300, "192.0.2.1"), ""},

		{"bad IPv4", in("www", "A", 300, "192.0.2"), twofold.Record{}, twofold.CodeInvalid},
		{"IPv6 as A", in("www", "A", 300, "::1"), twofold.Record{}, twofold.CodeInvalid},
		{"IPv4 as AAAA", in("www", "AAAA", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"MX without preference", in("@", "MX", 300, "mx.example.net."), twofold.Record{}, twofold.CodeInvalid},
		{"SSHFP not hex", in("h", "SSHFP", 300, "1 1 zz"), twofold.Record{}, twofold.CodeInvalid},
		{"SSHFP wrong length", in("h", "SSHFP", 300, "1 2 abcd"), twofold.Record{}, twofold.CodeInvalid},
		{"SSHFP reserved type 0", in("h", "SSHFP", 300, "1 0 abcd"), twofold.Record{}, twofold.CodeInvalid},
		{"SSHFP unassigned type", in("h", "SSHFP", 300, "1 3 "+strings.Repeat("ab", 32)), twofold.Record{}, twofold.CodeInvalid},
		{"SSHFP SHA-1 too long", in("h", "SSHFP", 300, "1 1 "+strings.Repeat("ab", 32)), twofold.Record{}, twofold.CodeInvalid},
		{"TLSA not hex", in("h", "TLSA", 300, "3 1 1 xyz"), twofold.Record{}, twofold.CodeInvalid},
		{"TLSA SHA-256 of 1 byte", in("h", "TLSA", 300, "3 1 1 ab"), twofold.Record{}, twofold.CodeInvalid},
		{"TLSA SHA-512 of 32 bytes", in("h", "TLSA", 300, "3 1 2 "+strings.Repeat("ab", 32)), twofold.Record{}, twofold.CodeInvalid},
		{"TLSA unassigned matching type", in("h", "TLSA", 300, "3 1 3 "+strings.Repeat("ab", 32)), twofold.Record{}, twofold.CodeInvalid},
		{"unsupported type", in("www", "HINFO", 300, `"a" "b"`), twofold.Record{}, twofold.CodeInvalid},
		{"SOA", in("@", "SOA", 300, "ns. host. 1 2 3 4 5"), twofold.Record{}, twofold.CodeInvalid},
		{"TTL too low", in("www", "A", 59, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"TTL too high", in("www", "A", 604801, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"TTL negative", in("www", "A", -5, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"empty data", in("www", "A", 300, " "), twofold.Record{}, twofold.CodeInvalid},
		{"two lines", in("www", "A", 300, "192.0.2.1\nwww 300 A 192.0.2.2"), twofold.Record{}, twofold.CodeInvalid},
		{"two records", in("www", "A", 300, "192.0.2.1 192.0.2.2"), twofold.Record{}, twofold.CodeInvalid},
		{"host outside the zone", in("www.example.org.", "A", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"host with a space", in("w w", "A", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"host with a slash", in("a/b", "A", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"empty host", in("", "A", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"wildcard inside", in("a.*", "A", 300, "192.0.2.1"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT escaped backslash before digits", in("@", "TXT", 300, `"c:\\411"`), rr("@", "TXT", 300, `"c:\\411"`), ""},
		{"CNAME to a DKIM key", in("sel._domainkey", "CNAME", 300, "Sel._DomainKey.mail.example.net."), rr("sel._domainkey", "CNAME", 300, "sel._domainkey.mail.example.net."), ""},
		{"null MX", in("@", "MX", 300, "0 ."), rr("@", "MX", 300, "0 ."), ""},
		{"SRV no service", in("_sip._tcp", "SRV", 300, "0 0 0 ."), rr("_sip._tcp", "SRV", 300, "0 0 0 ."), ""},
		{"CNAME target NUL", in("c", "CNAME", 300, `a\000b.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"CNAME target space", in("c", "CNAME", 300, `a\032b`), twofold.Record{}, twofold.CodeInvalid},
		{"CNAME target escaped dot", in("c", "CNAME", 300, `a\.b.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"CNAME target wildcard", in("c", "CNAME", 300, `*.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"CNAME to the root", in("c", "CNAME", 300, `.`), twofold.Record{}, twofold.CodeInvalid},
		{"MX target C1 byte", in("@", "MX", 300, `10 mail\155.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"MX target underscore", in("@", "MX", 300, `10 _mail.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"NS target hyphen first", in("sub", "NS", 300, `-ns.example.net.`), twofold.Record{}, twofold.CodeInvalid},
		{"SRV target UTF-8", in("_sip._tcp", "SRV", 300, `10 5 5060 caf\195\169.example.com.`), twofold.Record{}, twofold.CodeInvalid},
		{"PTR target tab", in("1", "PTR", 300, `a\009b.example.net.`), twofold.Record{}, twofold.CodeInvalid},
		{"CAA bad tag", in("@", "CAA", 300, `0 is-sue "x"`), twofold.Record{}, twofold.CodeInvalid},
		{"CAA NUL", in("@", "CAA", 300, "0 issue \"ca.example\x00\""), twofold.Record{}, twofold.CodeInvalid},
		{"CAA quoted NUL", in("@", "CAA", 300, `0 issue "ca.example\000"`), twofold.Record{}, twofold.CodeInvalid},
		{"CAA quoted escape", in("@", "CAA", 300, `0 iodef "mailto:a@example.com\027[2J"`), twofold.Record{}, twofold.CodeInvalid},
		{"CAA tab", in("@", "CAA", 300, "0 issue \"a\tb\""), twofold.Record{}, twofold.CodeInvalid},
		{"CAA C1 control", in("@", "CAA", 300, "0 issue \"a\u0085b\""), twofold.Record{}, twofold.CodeInvalid},
		{"CAA byte not UTF-8", in("@", "CAA", 300, `0 issue "caf\233"`), twofold.Record{}, twofold.CodeInvalid},
		{"data too long", in("@", "TXT", 300, strings.Repeat("x", 5000)), twofold.Record{}, twofold.CodeInvalid},
		{"TXT tab inside", in("@", "TXT", 300, "a\tb"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT NUL", in("@", "TXT", 300, "a\x00b"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT escape", in("@", "TXT", 300, "a\x1b[2Jb"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT C1 control", in("@", "TXT", 300, "a\u0085b"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted control", in("@", "TXT", 300, `"a\010b"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted tab", in("@", "TXT", 300, "\"a\tb\""), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted DEL", in("@", "TXT", 300, `"a" "\127"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted 8-bit CSI", in("@", "TXT", 300, `"a\155[31mb"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted C1 in UTF-8", in("@", "TXT", 300, `"a\194\155[31mb"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted byte not UTF-8", in("@", "TXT", 300, `"caf\233"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT text not UTF-8", in("@", "TXT", 300, "caf\xe9"), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted escape above 255", in("@", "TXT", 300, `"\411[31mRED \256 nul"`), twofold.Record{}, twofold.CodeInvalid},
		{"TXT quoted escape 256 alone", in("@", "TXT", 300, `"a" "\256"`), twofold.Record{}, twofold.CodeInvalid},
		{"CAA escape above 255", in("@", "CAA", 300, `0 issue "le\256\411.org"`), twofold.Record{}, twofold.CodeInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := core.ParseRecord("example.com", tt.in)
			if tt.wantCode != "" {
				if code := twofold.ErrorCode(err); code != tt.wantCode {
					t.Fatalf("got %+v, code %q (%v); want code %q", got, code, err, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// The canonical form reads back as itself, as the DNS server and
			// ?data= read it.
			again, err := core.ParseRecord("example.com", in(got.Host, got.Type, int(got.TTL), got.Data))
			if err != nil || again != got {
				t.Errorf("canonical form read again: got %+v, %v; want %+v", again, err, got)
			}
		})
	}
}

// TestTXTText: the JSON form of a TXT record reads back as the same
// record, the text itself when that does.
func TestTXTText(t *testing.T) {
	long := strings.Repeat("x", 254) + `\d` + strings.Repeat("é", 200)
	for _, tt := range []struct{ data, want string }{
		{`c:\d`, `c:\d`},
		{`say "hi"`, `say "hi"`},
		{`\"quoted\" \\ `, `\"quoted\" \\`},
		{"café ✓", "café ✓"},
		{long, long},
		{`"a b"`, "a b"},
		{`"a b" "c"`, `"a b" "c"`},               // not cut as text is
		{`"\"hi\" there"`, `"\"hi\" there"`},     // text that starts with a quote
		{`" padded "`, `" padded "`},             // text that would be trimmed
		{`""`, `""`},                             // no text
		{`"caf\195" "\169"`, `"caf\195" "\169"`}, // a character across strings
	} {
		r, err := core.ParseRecord("example.com", in("@", "TXT", 300, tt.data))
		if err != nil {
			t.Errorf("ParseRecord(%q): %v", tt.data, err)
			continue
		}
		got := core.TXTText(r.Data)
		if got != tt.want {
			t.Errorf("TXTText of %q (stored %s): got %q, want %q", tt.data, r.Data, got, tt.want)
		}
		if again, err := core.ParseRecord("example.com", in("@", "TXT", 300, got)); err != nil || again != r {
			t.Errorf("TXTText of %q read back: got %+v, %v; want %+v", tt.data, again, err, r)
		}
	}
	// Records stored before today's checks give their zone-file form.
	for _, data := range []string{`"a\155b"`, `"a\009b"`} {
		if got := core.TXTText(data); got != data {
			t.Errorf("TXTText(%s): got %q, want it as stored", data, got)
		}
	}
}

func TestZoneText(t *testing.T) {
	text := "; a comment\nwww 300 A 192.0.2.1\n\n@ MX 10 mx\n_acme-challenge 120 IN TXT \"token\"\nmail.example.com. 300 AAAA 2001:db8::1\n"
	got, err := core.ParseZoneText("example.com", text)
	if err != nil {
		t.Fatal(err)
	}
	want := []twofold.Record{
		rr("www", "A", 300, "192.0.2.1"),
		rr("@", "MX", core.DefaultTTL, "10 mx.example.com."),
		rr("_acme-challenge", "TXT", 120, `"token"`),
		rr("mail", "AAAA", 300, "2001:db8::1"),
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ParseZoneText (-want +got):\n%s", diff)
	}
	again, err := core.ParseZoneText("example.com", core.FormatZoneText(got))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("ParseZoneText of FormatZoneText (-want +got):\n%s", diff)
	}

	for name, text := range map[string]string{
		"origin":           "$ORIGIN example.org.\nwww 300 A 192.0.2.1\n",
		"include":          "$INCLUDE /etc/passwd\n",
		"generate":         "$GENERATE 1-100 host$ A 192.0.2.$\n",
		"outside":          "www.example.org. 300 A 192.0.2.1\n",
		"bad data":         "www 300 A 192.0.2\n",
		"unsupported":      "www 300 HINFO \"a\" \"b\"\n",
		"ttl out of range": "www 5 A 192.0.2.1\n",
		"ttl 0":            "z0 0 A 192.0.2.1\n",
		"ttl 00":           "z0 00 A 192.0.2.1\n",
	} {
		if _, err := core.ParseZoneText("example.com", text); twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("ParseZoneText of %s: got %v, want code invalid", name, err)
		}
	}
	// A type known only by number is named as it was given.
	_, err = core.ParseZoneText("example.com", "www 300 TYPE65534 \\# 1 00\n")
	if msg := twofold.ErrorMessage(err); !strings.Contains(msg, `record type "TYPE65534" is not supported`) {
		t.Errorf("ParseZoneText of TYPE65534: %q, want it named", msg)
	}
}

// dnsFixture is a service with two accounts: alice owns example.com and
// example.net, bob owns example.org.
type dnsFixture struct {
	svc   *core.Service
	db    testDB
	alice core.Auth
	bob   core.Auth
}

func newDNSFixture(t *testing.T, dsn string) dnsFixture {
	t.Helper()
	db := openStore(t, dsn)
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	svc := newService(t, db, db, func() time.Time { return now }, nil)
	f := dnsFixture{svc: svc, db: db, alice: signedIn(t, svc, "alice"), bob: signedIn(t, svc, "bob")}
	for zone, owner := range map[string]string{"example.com": "alice", "Example.NET.": "alice", "example.org": "bob"} {
		if _, err := svc.AddZone(t.Context(), zone, owner, core.Meta{}); err != nil {
			t.Fatalf("AddZone(%s): %v", zone, err)
		}
	}
	return f
}

// withKey returns a as an API key with permits, made by a on svc: a DNS
// write checks again that its key stands.
func withKey(t testing.TB, svc *core.Service, a core.Auth, permits ...twofold.Permit) core.Auth {
	t.Helper()
	k, _, err := svc.CreateAPIKey(t.Context(), a, core.NewAPIKey{Name: "script", Permits: permits}, core.Meta{})
	if err != nil {
		t.Fatalf("make a key with %v: %v", permits, err)
	}
	a.Key = &k
	return a
}

func dnsPermit(resource string, actions ...string) twofold.Permit {
	return twofold.Permit{Service: "dns", Resource: resource, Actions: actions}
}

func in(host, typ string, ttl int, data string) core.RecordInput {
	return core.RecordInput{Host: host, Type: typ, TTL: ttl, Data: data}
}

func TestDNSPermits(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newDNSFixture(t, dsn(t))
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com"},
				[]core.RecordInput{in("www", "A", 300, "192.0.2.1"), in("www", "AAAA", 300, "2001:db8::1"), in("_acme-challenge", "TXT", 120, "old")}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			acme := withKey(t, f.svc, f.alice, dnsPermit("example.com/_acme-challenge/TXT", "write"))
			reader := withKey(t, f.svc, f.alice, dnsPermit("example.com/www/A", "read"))
			netOnly := withKey(t, f.svc, f.alice, dnsPermit("example.net", "read", "write"))
			acmeSet := core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}
			token := []core.RecordInput{in("_acme-challenge", "TXT", 120, "token")}
			tests := []struct {
				name string
				op   func() error
				want twofold.Code // "" for success
			}{
				{"key adds its TXT", func() error { _, err := f.svc.AddDNSRecords(ctx, acme, acmeSet, token, core.Meta{}); return err }, ""},
				{"key deletes its TXT by data", func() error {
					_, err := f.svc.DeleteDNSRecords(ctx, acme, acmeSet, "token", core.Meta{})
					return err
				}, ""},
				{"key adds an A", func() error {
					_, err := f.svc.AddDNSRecords(ctx, acme, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.9")}, core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"key adds a TXT elsewhere through the zone path", func() error {
					_, err := f.svc.AddDNSRecords(ctx, acme, core.RecordSet{Zone: "example.com"}, []core.RecordInput{in("www", "TXT", 300, "x")}, core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"key replaces the whole zone", func() error {
					_, err := f.svc.ReplaceDNSRecords(ctx, acme, core.RecordSet{Zone: "example.com"}, token, core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"key deletes a host", func() error {
					_, err := f.svc.DeleteDNSRecords(ctx, acme, core.RecordSet{Zone: "example.com", Host: "_acme-challenge"}, "", core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"key reads without read", func() error {
					_, err := f.svc.DNSRecords(ctx, acme, acmeSet, "", core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"key writes in another account's zone", func() error {
					_, err := f.svc.AddDNSRecords(ctx, withKey(t, f.svc, f.alice, dnsPermit("*", "write")), core.RecordSet{Zone: "example.org", Host: "_acme-challenge", Type: "TXT"}, token, core.Meta{})
					return err
				}, twofold.CodeNotFound},
				{"key reads another account's zone", func() error {
					_, err := f.svc.DNSRecords(ctx, withKey(t, f.svc, f.alice, dnsPermit("*", "read")), core.RecordSet{Zone: "example.org"}, "", core.Meta{})
					return err
				}, twofold.CodeNotFound},
				{"session reads another account's zone", func() error {
					_, err := f.svc.DNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.org"}, "", core.Meta{})
					return err
				}, twofold.CodeNotFound},
				{"unknown zone", func() error {
					_, err := f.svc.DNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.info"}, "", core.Meta{})
					return err
				}, twofold.CodeNotFound},
				{"key of another zone: not told this one exists", func() error {
					_, err := f.svc.DNSRecords(ctx, netOnly, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
					return err
				}, twofold.CodeNotFound},
				{"reader reads its A", func() error {
					_, err := f.svc.DNSRecords(ctx, reader, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, "", core.Meta{})
					return err
				}, ""},
				{"reader writes its A", func() error {
					_, err := f.svc.AddDNSRecords(ctx, reader, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.9")}, core.Meta{})
					return err
				}, twofold.CodeForbidden},
				{"bad zone name", func() error {
					_, err := f.svc.DNSRecords(ctx, f.alice, core.RecordSet{Zone: "exa mple.com"}, "", core.Meta{})
					return err
				}, twofold.CodeInvalid},
			}
			for _, tt := range tests {
				err := tt.op()
				if got := twofold.ErrorCode(err); err == nil && tt.want != "" || err != nil && got != tt.want {
					t.Errorf("%s: got %v, want code %q", tt.name, err, tt.want)
				}
			}

			// Reads are filtered to what the key may read.
			recs, err := f.svc.DNSRecords(ctx, reader, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]twofold.Record{rr("www", "A", 300, "192.0.2.1")}, recs); diff != "" {
				t.Errorf("records the reader sees (-want +got):\n%s", diff)
			}
			// The zone list shows the zones where the key may do something.
			for _, c := range []struct {
				name string
				a    core.Auth
				want []string
			}{
				{"session", f.alice, []string{"example.com", "example.net"}},
				{"acme key", acme, []string{"example.com"}},
				{"net key", netOnly, []string{"example.net"}},
				{"bob", f.bob, []string{"example.org"}},
				{"account key", withKey(t, f.svc, f.alice, twofold.Permit{Service: "account", Resource: "*", Actions: []string{"read"}}), []string{}},
			} {
				got, err := f.svc.DNSZones(ctx, c.a)
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(c.want, got); diff != "" {
					t.Errorf("zones of %s (-want +got):\n%s", c.name, diff)
				}
			}
		})
	}
}

func TestDNSChanges(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			f := newDNSFixture(t, dsn(t))
			zone := core.RecordSet{Zone: "example.com"}
			www := core.RecordSet{Zone: "example.com", Host: "www"}
			wwwA := core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}
			serial := func() uint32 {
				t.Helper()
				z, err := f.db.Zone(ctx, "example.com")
				if err != nil {
					t.Fatal(err)
				}
				return z.Serial
			}
			records := func() []twofold.Record {
				t.Helper()
				rs, err := f.svc.DNSRecords(ctx, f.alice, zone, "", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				return rs
			}
			change := func(what string, ch core.Change, err error, added, removed int) {
				t.Helper()
				if err != nil {
					t.Fatalf("%s: %v", what, err)
				}
				if ch.Added != added || ch.Removed != removed {
					t.Errorf("%s: got %+v, want %d added, %d removed", what, ch, added, removed)
				}
			}

			ch, err := f.svc.AddDNSRecords(ctx, f.alice, wwwA, []core.RecordInput{in("", "", 300, "192.0.2.1"), in("www", "A", 300, "192.0.2.2")}, core.Meta{})
			change("add two", ch, err, 2, 0)
			if got := serial(); got != 2 {
				t.Errorf("serial after one change: got %d, want 2", got)
			}
			// Adding one that is there is no change of records; a new TTL applies to the set.
			ch, err = f.svc.AddDNSRecords(ctx, f.alice, wwwA, []core.RecordInput{in("", "", 600, "192.0.2.1")}, core.Meta{})
			change("add one again", ch, err, 0, 0)
			if got := serial(); got != 3 {
				t.Errorf("serial after a new TTL: got %d, want 3", got)
			}
			// The same again changes nothing: the serial stays, no event.
			ch, err = f.svc.AddDNSRecords(ctx, f.alice, wwwA, []core.RecordInput{in("", "", 600, "192.0.2.1")}, core.Meta{})
			change("add one again, same TTL", ch, err, 0, 0)
			if got := serial(); got != 3 {
				t.Errorf("serial after a write that changed nothing: got %d, want 3", got)
			}
			// Two events: the records added, then the set's new TTL, told
			// as such (the set's two records take it).
			evs, err := f.db.Events(ctx, f.alice.Account.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var details []string
			for _, e := range evs {
				if e.Type == "dns.records_changed" {
					details = append(details, e.Detail)
				}
			}
			if len(details) != 2 || !strings.HasSuffix(details[0], "0 added, 0 removed, 2 kept with a new TTL") || !strings.HasSuffix(details[1], "2 added, 0 removed") {
				t.Errorf("dns.records_changed events, newest first: %q; want the new TTL, then the two added", details)
			}
			want := []twofold.Record{rr("www", "A", 600, "192.0.2.1"), rr("www", "A", 600, "192.0.2.2")}
			if diff := cmp.Diff(want, records()); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}

			// A replacement with one bad record writes nothing.
			before, beforeSerial := records(), serial()
			_, err = f.svc.ReplaceDNSRecords(ctx, f.alice, wwwA, []core.RecordInput{in("", "", 300, "192.0.2.7"), in("", "", 300, "192.0.2")}, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("replace with a bad record: got %v, want code invalid", err)
			}
			// A record outside the path's set is refused too.
			_, err = f.svc.ReplaceDNSRecords(ctx, f.alice, wwwA, []core.RecordInput{in("mail", "A", 300, "192.0.2.7")}, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("replace with a record of another host: got %v, want code invalid", err)
			}
			// A CNAME beside other records is refused, whole.
			_, err = f.svc.AddDNSRecords(ctx, f.alice, zone, []core.RecordInput{in("new", "A", 300, "192.0.2.5"), in("www", "CNAME", 300, "web")}, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("CNAME beside an A: got %v, want code invalid", err)
			}
			for _, bad := range []core.RecordInput{in("@", "CNAME", 300, "web"), in("@", "NS", 300, "ns1.example.net.")} {
				if _, err := f.svc.AddDNSRecords(ctx, f.alice, zone, []core.RecordInput{bad}, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
					t.Errorf("%s at the apex: got %v, want code invalid", bad.Type, err)
				}
			}
			if diff := cmp.Diff(before, records()); diff != "" {
				t.Errorf("records after refused changes (-want +got):\n%s", diff)
			}
			if got := serial(); got != beforeSerial {
				t.Errorf("serial after refused changes: got %d, want %d", got, beforeSerial)
			}

			// PUT of the host replaces the A records by a CNAME at once.
			ch, err = f.svc.ReplaceDNSRecords(ctx, f.alice, www, []core.RecordInput{in("", "CNAME", 300, "web")}, core.Meta{})
			change("replace by a CNAME", ch, err, 1, 2)
			want = []twofold.Record{rr("www", "CNAME", 300, "web.example.com.")}
			if diff := cmp.Diff(want, records()); diff != "" {
				t.Errorf("records (-want +got):\n%s", diff)
			}
			// Delete by data, in any form that means the same.
			ch, err = f.svc.DeleteDNSRecords(ctx, f.alice, www, "web", core.Meta{})
			change("delete by data", ch, err, 0, 1)
			if got := len(records()); got != 0 {
				t.Errorf("records left: %d, want none", got)
			}
			// Writes that change nothing leave the serial and record no event.
			emptySerial := serial()
			ch, err = f.svc.DeleteDNSRecords(ctx, f.alice, www, "", core.Meta{})
			change("delete of nothing", ch, err, 0, 0)
			ch, err = f.svc.DeleteDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "nothere", Type: "TXT"}, "", core.Meta{})
			change("delete of a set that is not there", ch, err, 0, 0)
			ch, err = f.svc.DeleteDNSRecords(ctx, f.alice, www, "192.0.2.1", core.Meta{})
			change("delete by data that is not there", ch, err, 0, 0)
			ch, err = f.svc.ReplaceDNSRecords(ctx, f.alice, wwwA, nil, core.Meta{})
			change("replace of an empty set by nothing", ch, err, 0, 0)
			if got := serial(); got != emptySerial {
				t.Errorf("serial after writes that changed nothing: got %d, want %d", got, emptySerial)
			}

			events, err := f.db.Events(ctx, f.alice.Account.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			for _, e := range events {
				if e.Type == "dns.records_changed" {
					n++
					if !strings.Contains(e.Detail, "zone example.com") {
						t.Errorf("event detail %q does not name the zone", e.Detail)
					}
				}
			}
			if n != 4 {
				t.Errorf("dns.records_changed events: got %d, want 4 (one for each write that changed records)", n)
			}
		})
	}
}

func TestZonesByOperators(t *testing.T) {
	ctx := t.Context()
	f := newDNSFixture(t, testenv.SQLiteDSN(t))
	tests := []struct {
		name, zone, owner string
		want              twofold.Code
	}{
		{"taken", "EXAMPLE.com", "bob", twofold.CodeConflict},
		{"unknown owner", "example.info", "carol", twofold.CodeNotFound},
		{"one label", "com", "bob", twofold.CodeInvalid},
		{"bad label", "-x.example", "bob", twofold.CodeInvalid},
	}
	for _, tt := range tests {
		if _, err := f.svc.AddZone(ctx, tt.zone, tt.owner, core.Meta{}); twofold.ErrorCode(err) != tt.want {
			t.Errorf("AddZone %s: got %v, want code %q", tt.name, err, tt.want)
		}
	}
	all, err := f.svc.AllZones(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, z := range all {
		got = append(got, z.Name+" "+z.Owner)
	}
	if diff := cmp.Diff([]string{"example.com alice", "example.net alice", "example.org bob"}, got); diff != "" {
		t.Errorf("AllZones (-want +got):\n%s", diff)
	}
	if err := f.svc.RemoveZone(ctx, "example.net.", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.RemoveZone(ctx, "example.net", core.Meta{}); twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Errorf("RemoveZone twice: got %v, want code not-found", err)
	}
	z, recs, found, err := f.svc.LookupZone(ctx, "a.b.Example.COM.")
	if err != nil || !found || z.Name != "example.com" || len(recs) != 0 {
		t.Errorf("LookupZone: got %v, %v, %v, %v; want example.com", z, recs, found, err)
	}
	if _, _, found, err := f.svc.LookupZone(ctx, "example.net."); err != nil || found {
		t.Errorf("LookupZone of a removed zone: got found %v, %v", found, err)
	}
}

func rr(host, typ string, ttl uint32, data string) twofold.Record {
	return twofold.Record{Host: host, Type: typ, TTL: ttl, Data: data}
}

// TestDNSChangesTakeTurns: writes to one zone at once all land, each moving
// the serial on once, on both stores.
func TestDNSChangesTakeTurns(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newDNSFixture(t, dsn(t))
			const n = 8
			var wg sync.WaitGroup
			errs := make(chan error, n)
			for i := range n {
				wg.Go(func() {
					_, err := f.svc.AddDNSRecords(context.Background(), f.alice, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"},
						[]core.RecordInput{in("", "", 300, fmt.Sprintf("192.0.2.%d", i+1))}, core.Meta{})
					errs <- err
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				if err != nil {
					t.Errorf("AddDNSRecords: %v", err)
				}
			}
			recs, err := f.svc.DNSRecords(t.Context(), f.alice, core.RecordSet{Zone: "example.com"}, "", core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			z, err := f.db.Zone(t.Context(), "example.com")
			if err != nil {
				t.Fatal(err)
			}
			if len(recs) != n || z.Serial != 1+n {
				t.Errorf("got %d records at serial %d, want %d at %d", len(recs), z.Serial, n, 1+n)
			}
		})
	}
}

// TestKeysCannotFillAZone: an API key for one name may put at most 50
// records in one set, and not grow the zone beyond half its limit, so that
// its owner can always add records; the owner's session has no such limit.
func TestKeysCannotFillAZone(t *testing.T) {
	f := newDNSFixture(t, testenv.SQLiteDSN(t))
	ctx := t.Context()
	acme := withKey(t, f.svc, f.alice, dnsPermit("example.com/_acme-challenge*/TXT", "write"))
	many := func(host string, n int) []core.RecordInput {
		var out []core.RecordInput
		for i := range n {
			out = append(out, in(host, "TXT", 120, fmt.Sprintf("token-%d", i)))
		}
		return out
	}
	zone := core.RecordSet{Zone: "example.com"}
	if _, err := f.svc.AddDNSRecords(ctx, acme, zone, many("_acme-challenge", 50), core.Meta{}); err != nil {
		t.Fatalf("a key adds 50 records to one set: %v", err)
	}
	_, err := f.svc.AddDNSRecords(ctx, acme, zone, many("_acme-challenge", 51), core.Meta{})
	if twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Fatalf("a key adds a 51st record to one set: %v, want invalid", err)
	}
	// The owner may; the key may still remove.
	if _, err := f.svc.AddDNSRecords(ctx, f.alice, zone, many("_acme-challenge", 60), core.Meta{}); err != nil {
		t.Fatalf("the owner adds 60 records to one set: %v", err)
	}
	if _, err := f.svc.DeleteDNSRecords(ctx, acme, core.RecordSet{Zone: "example.com", Host: "_acme-challenge", Type: "TXT"}, "token-0", core.Meta{}); err != nil {
		t.Fatalf("a key removes from a set over its limit: %v", err)
	}
	// Growing the zone past half its limit.
	for i := 0; ; i++ {
		_, err := f.svc.AddDNSRecords(ctx, acme, zone, many(fmt.Sprintf("_acme-challenge.h%d", i), 50), core.Meta{})
		if err != nil {
			if twofold.ErrorCode(err) != twofold.CodeInvalid || i < 90 {
				t.Fatalf("batch %d: %v", i, err)
			}
			break
		}
	}
	if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "www", Type: "A"}, []core.RecordInput{in("", "", 300, "192.0.2.1")}, core.Meta{}); err != nil {
		t.Fatalf("the owner adds a record after a key filled what keys may: %v", err)
	}
}

// TestKeysCannotHideWildcards: a key for _acme-challenge names may not add
// one whose parent exists only through the zone's wildcard, since the
// wildcard would then stop answering for the parent (RFC 4592); the owner
// may, and so may the key where the parent already exists. A key for TXT
// records may make _acme-challenge itself a name where the wildcard
// answers: an attribute leaf (RFC 8552) is no host, and what the wildcard
// would answer there for A matters to nobody.
func TestKeysCannotHideWildcards(t *testing.T) {
	f := newDNSFixture(t, testenv.SQLiteDSN(t))
	ctx := t.Context()
	zone := core.RecordSet{Zone: "example.com"}
	if _, err := f.svc.AddDNSRecords(ctx, f.alice, zone, []core.RecordInput{in("*", "A", 300, "192.0.2.7"), in("www", "A", 300, "192.0.2.1")}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	acme := withKey(t, f.svc, f.alice, dnsPermit("example.com/_acme-challenge*/TXT", "write"))
	add := func(a core.Auth, host string) error {
		_, err := f.svc.AddDNSRecords(ctx, a, zone, []core.RecordInput{in(host, "TXT", 120, "token")}, core.Meta{})
		return err
	}
	for _, tt := range []struct {
		auth core.Auth
		host string
		want twofold.Code
	}{
		{acme, "_acme-challenge", ""},
		{acme, "_acme-challenge.www", ""},
		{acme, "_acme-challenge.shop", twofold.CodeForbidden},
		{acme, "_acme-challenge.a.b", twofold.CodeForbidden},
		{f.alice, "_acme-challenge.shop", ""},
	} {
		if err := add(tt.auth, tt.host); twofold.ErrorCode(err) != tt.want && !(err == nil && tt.want == "") {
			t.Errorf("%s: got %v, want %q", tt.host, err, tt.want)
		}
	}
	// One request making two such parents, of which the key may write only
	// one, is refused whichever of them comes first.
	acmeA := withKey(t, f.svc, f.alice, dnsPermit("example.com/_acme-challenge*/TXT", "write"), dnsPermit("example.com/a", "write"))
	both := []core.RecordInput{in("_acme-challenge.a", "TXT", 120, "token"), in("_acme-challenge.b", "TXT", 120, "token")}
	for range 16 { // the zone's records come in no set order
		if _, err := f.svc.AddDNSRecords(ctx, acmeA, zone, both, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeForbidden {
			t.Fatalf("a key for a adds below a and b: got %v, want forbidden", err)
		}
	}
}

// TestKeysForOneTypeKeepWildcards: a record at a name the zone's wildcard
// answers for makes the name exist, and then the wildcard answers there for
// no type at all (RFC 4592 §2.2.2): a key that may write only TXT (or only
// CNAME) records at www must not blank the A records *.example.com gives
// www.example.com, nor, removing the last record at www, bring them back.
// A key that may write every type at www may do both, and the owner may.
func TestKeysForOneTypeKeepWildcards(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newDNSFixture(t, dsn(t))
			ctx := t.Context()
			zone := core.RecordSet{Zone: "example.com"}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, zone, []core.RecordInput{in("*", "A", 300, "192.0.2.7"), in("api", "TXT", 300, "a")}, core.Meta{}); err != nil {
				t.Fatal(err)
			}
			wwwTXT := core.RecordSet{Zone: "example.com", Host: "www", Type: "TXT"}
			wwwCNAME := core.RecordSet{Zone: "example.com", Host: "www", Type: "CNAME"}
			txtKey := withKey(t, f.svc, f.alice, dnsPermit("example.com/www/TXT", "write"))
			cnameKey := withKey(t, f.svc, f.alice, dnsPermit("example.com/www/CNAME", "write"))
			wwwKey := withKey(t, f.svc, f.alice, dnsPermit("example.com/www", "write"))
			apiTXT := withKey(t, f.svc, f.alice, dnsPermit("example.com/api/TXT", "write"))
			hello := []core.RecordInput{in("", "", 300, "hello")}
			records := func() string {
				t.Helper()
				recs, err := f.db.Records(ctx, "example.com")
				if err != nil {
					t.Fatal(err)
				}
				sortRecs(recs)
				return core.FormatZoneText(recs)
			}
			for _, tt := range []struct {
				name string
				op   func() (core.Change, error)
				want twofold.Code // "" for success
			}{
				{"a TXT key adds TXT at www", func() (core.Change, error) {
					return f.svc.AddDNSRecords(ctx, txtKey, wwwTXT, hello, core.Meta{})
				}, twofold.CodeForbidden},
				{"a TXT key puts TXT at www", func() (core.Change, error) {
					return f.svc.ReplaceDNSRecords(ctx, txtKey, wwwTXT, hello, core.Meta{})
				}, twofold.CodeForbidden},
				{"a CNAME key adds a CNAME at www", func() (core.Change, error) {
					return f.svc.AddDNSRecords(ctx, cnameKey, wwwCNAME, []core.RecordInput{in("", "", 300, "elsewhere.example.net.")}, core.Meta{})
				}, twofold.CodeForbidden},
				// At a name with records of its own, a key for one type
				// changes that type only, until it would remove the last.
				{"a TXT key adds TXT at api", func() (core.Change, error) {
					return f.svc.AddDNSRecords(ctx, apiTXT, core.RecordSet{Zone: "example.com", Host: "api", Type: "TXT"}, []core.RecordInput{in("", "", 300, "b")}, core.Meta{})
				}, ""},
				{"a TXT key removes one of api's TXT", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, apiTXT, core.RecordSet{Zone: "example.com", Host: "api", Type: "TXT"}, "a", core.Meta{})
				}, ""},
				{"a TXT key removes api's last record", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, apiTXT, core.RecordSet{Zone: "example.com", Host: "api", Type: "TXT"}, "", core.Meta{})
				}, twofold.CodeForbidden},
				{"a key for every type at www adds TXT there", func() (core.Change, error) {
					return f.svc.AddDNSRecords(ctx, wwwKey, wwwTXT, hello, core.Meta{})
				}, ""},
				{"a TXT key removes www's last record", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, txtKey, wwwTXT, "", core.Meta{})
				}, twofold.CodeForbidden},
				{"a TXT key removes it by data", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, txtKey, wwwTXT, "hello", core.Meta{})
				}, twofold.CodeForbidden},
				{"a TXT key puts nothing at www", func() (core.Change, error) {
					return f.svc.ReplaceDNSRecords(ctx, txtKey, wwwTXT, nil, core.Meta{})
				}, twofold.CodeForbidden},
				{"a key for every type at www removes it", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, wwwKey, wwwTXT, "", core.Meta{})
				}, ""},
				{"the owner adds TXT at www", func() (core.Change, error) {
					return f.svc.AddDNSRecords(ctx, f.alice, wwwTXT, hello, core.Meta{})
				}, ""},
				{"the owner removes it", func() (core.Change, error) {
					return f.svc.DeleteDNSRecords(ctx, f.alice, wwwTXT, "", core.Meta{})
				}, ""},
			} {
				before := records()
				_, err := tt.op()
				if code := twofold.ErrorCode(err); code != tt.want && !(err == nil && tt.want == "") {
					t.Errorf("%s: got %v, want %q", tt.name, err, tt.want)
				}
				if after := records(); tt.want != "" && after != before {
					t.Errorf("%s: refused, yet the zone went from\n%s to\n%s", tt.name, before, after)
				}
			}
		})
	}
}

// sortRecs sorts records by host, type and data.
func sortRecs(recs []twofold.Record) {
	slices.SortFunc(recs, func(x, y twofold.Record) int {
		return strings.Compare(x.Host+" "+x.Type+" "+x.Data, y.Host+" "+y.Type+" "+y.Data)
	})
}

// TestNameSizeFitsOneDNSMessage: the records at one name must fit one DNS
// answer with room to spare, else the name server could answer the name
// over neither UDP (truncated) nor TCP (over 65,535 bytes): 45 TXT records
// of 1,900 bytes, each within the limits of one record and of a set, are
// refused at once, and one at a time they stop well before the answer
// would reach 65,535 bytes. Nothing refused is written; removing still
// works, and other names are not held back.
func TestNameSizeFitsOneDNSMessage(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			f := newDNSFixture(t, dsn(t))
			ctx := t.Context()
			big := core.RecordSet{Zone: "example.com", Host: "big", Type: "TXT"}
			text := func(i int) string { return fmt.Sprintf("%04d", i) + strings.Repeat("x", 1896) }
			count := func() int {
				t.Helper()
				recs, err := f.svc.DNSRecords(ctx, f.alice, big, "", core.Meta{})
				if err != nil {
					t.Fatal(err)
				}
				return len(recs)
			}
			var many []core.RecordInput
			for i := range 45 {
				many = append(many, in("", "", 300, text(i)))
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, big, many, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("45 TXT records of 1,900 bytes at one name: got %v, want invalid", err)
			}
			if n := count(); n != 0 {
				t.Fatalf("after the refused request: got %d records, want none", n)
			}
			// Each record takes over 1,900 bytes of an answer: 34 would
			// pass 65,535.
			added := 0
			for i := range 34 {
				_, err := f.svc.AddDNSRecords(ctx, f.alice, big, []core.RecordInput{in("", "", 300, text(i))}, core.Meta{})
				if err != nil {
					if twofold.ErrorCode(err) != twofold.CodeInvalid {
						t.Fatalf("record %d: %v", i+1, err)
					}
					break
				}
				added++
			}
			if added < 10 || added >= 34 {
				t.Fatalf("one at a time: %d records of 1,900 bytes accepted at one name, want 10 or more and a refusal before 34", added)
			}
			if n := count(); n != added {
				t.Fatalf("got %d records, want the %d accepted", n, added)
			}
			// A set of another type at the full name, small on its own: an
			// ANY answer carries every type.
			// (The TXT records take more than the limit less one of them,
			// and these ten over 2,000 bytes.)
			var caa []core.RecordInput
			for i := range 10 {
				caa = append(caa, in("", "", 300, fmt.Sprintf(`0 issue "ca%d.example; x=%s"`, i, strings.Repeat("y", 200))))
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "big", Type: "CAA"}, caa, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("ten CAA records of 220 bytes at the full name: got %v, want invalid", err)
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "other", Type: "CAA"}, caa, core.Meta{}); err != nil {
				t.Fatalf("the same CAA records at another name: %v", err)
			}
			if _, err := f.svc.AddDNSRecords(ctx, f.alice, core.RecordSet{Zone: "example.com", Host: "other", Type: "TXT"},
				[]core.RecordInput{in("", "", 300, text(0))}, core.Meta{}); err != nil {
				t.Fatalf("a record at another name: %v", err)
			}
			if _, err := f.svc.DeleteDNSRecords(ctx, f.alice, big, text(0), core.Meta{}); err != nil {
				t.Fatalf("removing one of the full name's records: %v", err)
			}
		})
	}
}

// TestZoneNameRefusalSaysWhy checks that a refused zone name is told what
// is wrong with it: a name with a space or a "!" is told of its label, not
// of how many labels it has.
func TestZoneNameRefusalSaysWhy(t *testing.T) {
	for _, tt := range []struct{ name, want string }{
		{"Example.COM.", ""},
		{"my zone!", `label "my zone!" is not letters, digits`},
		{"bad!.example.com", `label "bad!" is not letters`},
		{"com", "needs at least two labels"},
		{"", "is not a domain name"},
	} {
		got, err := core.NormalizeZoneName(tt.name)
		switch {
		case tt.want == "" && (err != nil || got != "example.com"):
			t.Errorf("NormalizeZoneName(%q) = %q, %v; want example.com", tt.name, got, err)
		case tt.want != "" && (twofold.ErrorCode(err) != twofold.CodeInvalid || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("NormalizeZoneName(%q) = %q, %v; want invalid saying %q", tt.name, got, err, tt.want)
		}
	}
}

// TestRecordRefusalSaysWhich checks that record data the parser refuses is
// told which field is wrong and what it must be, in words, through the
// JSON form's data and a zone text's line alike, and not in the parser's
// own shorthand ("bad A A"); and a TTL out of range likewise.
func TestRecordRefusalSaysWhich(t *testing.T) {
	for _, tt := range []struct{ typ, data, want string }{
		{"A", "192.0.2", `www A: the address "192.0.2" is not an IPv4 address, such as 192.0.2.1`},
		{"AAAA", "192.0.2.1", `www AAAA: the address "192.0.2.1" is not an IPv6 address, such as 2001:db8::1`},
		{"MX", "mx.example.net.", `www MX: the preference "mx.example.net." is not a whole number from 0 to 65535, before the mail server's name`},
		{"MX", "10", "www MX: the mail server is missing: give a domain name, such as host.example.net."},
		{"SRV", "10 5 sip 5060", `www SRV: the port "sip" is not a whole number from 0 to 65535`},
		{"CAA", "0 issue", `www CAA: the value is not one quoted string after the tag, such as "letsencrypt.org"`},
		{"CAA", "x issue \"ca.example\"", `www CAA: the flags byte "x" is not a whole number from 0 to 255`},
		{"TXT", `"open`, `www TXT: the text is not strings each closed on the line, such as "v=spf1 -all"`},
		{"TLSA", "3 x 1 ab", `www TLSA: the selector "x" is not a whole number from 0 to 255`},
		{"CNAME", "web other", `www CNAME: "other" is more than the record's data: give each field once, separated by spaces`},
	} {
		_, err := core.ParseRecord("example.com", in("www", tt.typ, 300, tt.data))
		if twofold.ErrorCode(err) != twofold.CodeInvalid || twofold.ErrorMessage(err) != tt.want {
			t.Errorf("ParseRecord(%s %q) = %v; want invalid %q", tt.typ, tt.data, err, tt.want)
		}
	}
	if _, err := core.ParseRecord("example.com", in("www", "A", 5, "192.0.2.1")); twofold.ErrorMessage(err) != "the TTL of www A must be 60 to 604800 seconds, not 5" {
		t.Errorf("a TTL of 5: %v", err)
	}
	_, err := core.ParseZoneText("example.com", "@ 300 MX 10 mx\nwww 300 A 192.0.2\n")
	if want := `line 2: the A record's address "192.0.2" is not an IPv4 address, such as 192.0.2.1`; twofold.ErrorMessage(err) != want {
		t.Errorf("ParseZoneText = %v; want %q", err, want)
	}
}
