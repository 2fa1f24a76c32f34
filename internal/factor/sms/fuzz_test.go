package sms

import (
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/nyaruka/phonenumbers"
)

// FuzzParse: whatever a user types as a phone number, a number taken is
// E.164 ("+" and digits), reads back as itself, is one the allow-list
// admits, and is masked to its calling code and last four digits alone; a
// refusal says why in valid text.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"+44 7400 123456", "0044 7400 123456", "+1 (201) 555-0123", "+1 800 FLOWERS", "+44 7400 123456 ext. 99", "tel:+44-7400-123456", "+49 1512 3456789", "+٤٤٧٤٠٠١٢٣٤٥٦"} {
		f.Add(s)
	}
	allowed := DefaultCountries()
	f.Fuzz(func(t *testing.T, s string) {
		e164, err := Parse(s, allowed)
		if err != nil {
			if !utf8.ValidString(err.Error()) || err.Error() == "" {
				t.Fatalf("Parse(%q): refusal %q", s, err)
			}
			return
		}
		if len(e164) < 2 || e164[0] != '+' || strings.Trim(e164[1:], "0123456789") != "" {
			t.Fatalf("Parse(%q) = %q, not E.164", s, e164)
		}
		if again, err := Parse(e164, allowed); err != nil || again != e164 {
			t.Fatalf("Parse(%q) = %q, which reads back as %q, %v", s, e164, again, err)
		}
		if !allowed.Allows(e164) {
			t.Fatalf("Parse(%q) = %q, which the allow-list does not admit", s, e164)
		}
		masked := Mask(e164)
		shown := strings.Map(func(r rune) rune {
			if r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, masked)
		n, _ := phonenumbers.Parse(e164, "ZZ")
		cc := strconv.Itoa(int(n.GetCountryCode()))
		if shown != cc+e164[len(e164)-4:] {
			t.Fatalf("Mask(%q) = %q shows more than its calling code and last four digits", e164, masked)
		}
	})
}
