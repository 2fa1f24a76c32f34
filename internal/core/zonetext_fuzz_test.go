package core

import (
	"slices"
	"strconv"
	"testing"
	"unicode/utf8"

	"github.com/miekg/dns"

	"github.com/twofold/twofold"
)

// FuzzZoneText: a zone's records exported in zone-file form (GET of the
// DNS API with text/dns, FormatZoneText) and imported again (ParseZoneText)
// are the same records, whether they came in one by one as JSON
// (ParseRecord) or as zone-file text, and the name server serves every
// record taken; and a refusal of either is an
// invalid error of valid text that never echoes more than a bounded part
// of the input.
func FuzzZoneText(f *testing.F) {
	for _, s := range []struct {
		host, typ string
		ttl       int
		data      string
	}{
		{"www", "A", 300, "192.0.2.1"},
		{"@", "MX", 3600, "10 mail.example.com."},
		{"_acme-challenge", "TXT", 60, `"token-value" "second part"`},
		{"txt", "TXT", 60, `"a\\" "\"b\"" "caf\195\169 \009 ;x"`},
		{"*.wild", "CNAME", 300, "target"},
		{"@", "CAA", 300, `0 issue "letsencrypt.org"`},
		{"_sip._tcp", "SRV", 300, "10 60 5060 sip.example.com."},
		{"v6", "AAAA", 300, "2001:db8::1"},
	} {
		f.Add(s.host, s.typ, s.ttl, s.data, s.host+" "+s.typ+" "+s.data+"\n; note\nx 60 IN TXT plain")
	}
	f.Fuzz(func(t *testing.T, host, typ string, ttl int, data, text string) {
		const zone = "example.com"
		r, err := ParseRecord(zone, RecordInput{Host: host, Type: typ, TTL: ttl, Data: data})
		if err != nil {
			checkRefusal(t, err)
		} else {
			roundTrip(t, zone, []twofold.Record{r})
		}
		recs, err := ParseZoneText(zone, text)
		if err != nil {
			checkRefusal(t, err)
			return
		}
		roundTrip(t, zone, recs)
	})
}

// roundTrip checks that recs, written in zone-file form, read back the
// same, and that the name server serves each as it builds it from a stored
// record (internal/nameserver leaves out, silently, one it cannot).
func roundTrip(t *testing.T, zone string, recs []twofold.Record) {
	t.Helper()
	for _, r := range recs {
		owner := zone + "."
		if r.Host != "@" {
			owner = r.Host + "." + owner
		}
		rr, err := dns.NewRR(owner + " " + strconv.FormatUint(uint64(r.TTL), 10) + " IN " + r.Type + " " + r.Data)
		if err != nil || rr == nil {
			t.Fatalf("%+v, taken, is not a record to the name server: %v", r, err)
		}
		if why := Unservable(rr); why != "" {
			t.Fatalf("%+v, taken, is unservable: %s", r, why)
		}
		if _, err := dns.PackRR(rr, make([]byte, dns.Len(rr)+16), 0, nil, false); err != nil {
			t.Fatalf("%+v, taken, does not pack: %v", r, err)
		}
	}
	text := FormatZoneText(recs)
	again, err := ParseZoneText(zone, text)
	if err != nil {
		t.Fatalf("%+v written as %q does not read back: %v", recs, text, err)
	}
	if !slices.Equal(again, recs) {
		t.Fatalf("%+v written as %q reads back as %+v", recs, text, again)
	}
}

// checkRefusal checks that err is an invalid error with a message of valid
// text, bounded whatever the input's length.
func checkRefusal(t *testing.T, err error) {
	t.Helper()
	if twofold.ErrorCode(err) != twofold.CodeInvalid {
		t.Fatalf("%v, want an invalid error", err)
	}
	if msg := twofold.ErrorMessage(err); !utf8.ValidString(msg) || len(msg) > 1000 {
		t.Fatalf("message %q (%d bytes) is not valid text of at most 1,000 bytes", msg, len(msg))
	}
}
