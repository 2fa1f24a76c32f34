package permit

import (
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/twofold/twofold"
)

// FuzzPermits checks, for any two permit lines a key's maker could send
// and any request, what keys rely on: a permit read is read the same again
// (Normalize is idempotent, Format and Parse round-trip), a refusal is an
// invalid error with a message of valid text, and a key made within
// another's permits allows nothing the other does not (Within, then Allows).
func FuzzPermits(f *testing.F) {
	for _, seed := range [][5]string{
		{"dns example.com/_acme-challenge/TXT write", "dns example.com write", "dns", "example.com/_acme-challenge/TXT", "add"},
		{"dns exam*/www* read", "dns * read,write", "dns", "example.com/www/A", "read"},
		{"dns example.com/www.example.com./TXT add,delete", "dns example.com/www/TXT replace", "dns", "example.com/www/TXT", "delete"},
		{"admin users read", "admin * write", "admin", "users", "read"},
		{"keys * write", "account * read", "keys", "*", "write"},
		{"dns example.com/@/* read", "dns example.com/@ write", "dns", "example.com/@/MX", "read"},
	} {
		f.Add(seed[0], seed[1], seed[2], seed[3], seed[4])
	}
	f.Fuzz(func(t *testing.T, innerLine, outerLine, service, resource, action string) {
		inner, ok := parsed(t, innerLine)
		if !ok {
			return
		}
		outer, ok := parsed(t, outerLine)
		if !ok {
			return
		}
		in, out := []twofold.Permit{inner}, []twofold.Permit{outer}
		if !Within(in, in) {
			t.Fatalf("%q is not within itself", Format(inner))
		}
		if !Within(in, out) {
			return
		}
		if Allows(in, service, resource, action) && !Allows(out, service, resource, action) {
			t.Fatalf("%q is within %q but allows %s %q %s, which the other does not", Format(inner), Format(outer), service, resource, action)
		}
		if AllowsSome(in, service, resource, action) && !AllowsSome(out, service, resource, action) {
			t.Fatalf("%q is within %q but allows some of %s %q %s, which the other does not", Format(inner), Format(outer), service, resource, action)
		}
	})
}

// parsed reads line as Parse does and checks what the read promises: a
// refusal is an invalid error of valid text; a permit is in normal form,
// read back the same from its Format.
func parsed(t *testing.T, line string) (twofold.Permit, bool) {
	t.Helper()
	p, err := Parse(line)
	if err != nil {
		if twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Fatalf("Parse(%q): %v, want an invalid error", line, err)
		}
		if msg := err.Error(); !utf8.ValidString(msg) {
			t.Fatalf("Parse(%q): the message %q is not valid UTF-8", line, msg)
		}
		return p, false
	}
	again, err := Normalize(p)
	if err != nil {
		t.Fatalf("Normalize(%+v), the normal form of %q: %v", p, line, err)
	}
	if !samePermit(again, p) {
		t.Fatalf("Normalize(%+v) = %+v: not idempotent (from %q)", p, again, line)
	}
	back, err := Parse(Format(p))
	if err != nil || !samePermit(back, p) {
		t.Fatalf("Parse(Format(%+v)) = %+v, %v (from %q)", p, back, err, line)
	}
	if strings.ContainsAny(p.Resource, " \t\n") || slices.Contains(p.Actions, "") {
		t.Fatalf("Parse(%q) = %+v: blank in the normal form", line, p)
	}
	return p, true
}

func samePermit(a, b twofold.Permit) bool {
	return a.Service == b.Service && a.Resource == b.Resource && slices.Equal(a.Actions, b.Actions)
}
