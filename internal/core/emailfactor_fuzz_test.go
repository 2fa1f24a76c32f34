package core

import (
	"net/mail"
	"strings"
	"testing"

	"golang.org/x/net/idna"

	"github.com/twofold/twofold"
)

// FuzzEmailFactorAddress: an address a new email code factor takes
// (parseDestination) reads back as itself, net/mail reads it as itself, its
// domain is a host name or has IDNA A-labels (the form the mail sender puts
// on the envelope),
// and it holds nothing an SMTP command or a header could be split at:
// otherwise a user could enrol a factor whose codes never leave the server.
func FuzzEmailFactorAddress(f *testing.F) {
	for _, s := range []string{"alice@example.com", "jürgen@Bücher.example", "a+b@x.y", `"q r"@example.com`, "a@xn--bcher-kva.example", "0@0Aô00!00000ô00.0"} {
		f.Add(s)
	}
	var s Service
	f.Fuzz(func(t *testing.T, in string) {
		addr, err := s.parseDestination(twofold.Account{}, NewFactor{Type: twofold.FactorEmail, Email: in})
		if err != nil {
			if twofold.ErrorCode(err) != twofold.CodeInvalid {
				t.Fatalf("parseDestination(%q): %v, want an invalid error", in, err)
			}
			return
		}
		if again, err := s.parseDestination(twofold.Account{}, NewFactor{Type: twofold.FactorEmail, Email: addr}); err != nil || again != addr {
			t.Fatalf("%q taken as %q, which reads back as %q, %v", in, addr, again, err)
		}
		if parsed, err := mail.ParseAddress(addr); err != nil || parsed.Address != addr {
			t.Fatalf("%q taken as %q, which net/mail reads as %v, %v", in, addr, parsed, err)
		}
		if _, err := idna.Lookup.ToASCII(addr[strings.LastIndexByte(addr, '@')+1:]); err != nil {
			t.Fatalf("%q taken as %q, whose domain is no host name and has no A-labels: %v", in, addr, err)
		}
		if strings.ContainsAny(addr, "<> \t\r\n\x00") {
			t.Fatalf("%q taken as %q, which could split an SMTP command", in, addr)
		}
	})
}
