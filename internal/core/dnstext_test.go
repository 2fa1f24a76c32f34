package core

import (
	"testing"

	"github.com/miekg/dns"
)

// FuzzServedText: whatever TXT text or CAA value ParseRecord takes, the
// bytes the name server puts on the wire for it (miekg/dns packing the
// stored form, as internal/nameserver does) pass badText: what is checked
// is what is served.
func FuzzServedText(f *testing.F) {
	for _, seed := range []struct{ typ, data string }{
		{"TXT", `"\411[31mRED \256 nul"`},
		{"TXT", `"caf\195\169" "\169"`},
		{"TXT", `"a\\" "\"b\""`},
		{"TXT", `"\999\300\255\256"`},
		{"TXT", `"x\0001"`},
		{"TXT", `"a\`},
		{"TXT", `plain text \411`},
		{"CAA", `0 issue "le\256\411.org"`},
		{"CAA", `0 issue "letsencrypt.org"`},
		{"CAA", `0 iodef "mailto:a@example.com\027[2J"`},
		{"CAA", `128 issuewild "caf\195\169\\"`},
	} {
		f.Add(seed.typ, seed.data)
	}
	f.Fuzz(func(t *testing.T, typ, data string) {
		if typ != "TXT" && typ != "CAA" {
			return
		}
		got, err := ParseRecord("example.com", RecordInput{Host: "x", Type: typ, TTL: 300, Data: data})
		if err != nil {
			return
		}
		rr, err := dns.NewRR(". 60 IN " + got.Type + " " + got.Data)
		if err != nil || rr == nil {
			t.Fatalf("stored form %q of %q does not parse: %v", got.Data, data, err)
		}
		msg := make([]byte, dns.Len(rr)+16)
		off, err := dns.PackRR(rr, msg, 0, nil, false)
		if err != nil {
			t.Fatalf("stored form %q of %q does not pack: %v", got.Data, data, err)
		}
		rdata := msg[11:off] // owner ".", type, class, TTL, length: 1+2+2+4+2 bytes
		var served []byte
		switch typ {
		case "TXT":
			for len(rdata) > 0 {
				n := int(rdata[0])
				served = append(served, rdata[1:1+n]...)
				rdata = rdata[1+n:]
			}
		case "CAA":
			served = rdata[2+int(rdata[1]):] // flags, tag length, tag, value
		}
		if why := badText(served); why != "" {
			t.Errorf("%s %q accepted as %q, served as bytes %q: %s", typ, data, got.Data, served, why)
		}
	})
}
