package sms

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name, in, want string
		country        bool // refused for its country only
	}{
		{"UK mobile", "+44 7400 123456", "+447400123456", false},
		{"international prefix 00", "0044 7400 123456", "+447400123456", false},
		{"US", "+1 (415) 555-2671", "+14155552671", false},
		{"Germany mobile", "+49 1512 3456789", "+4915123456789", false},
		{"national form", "07400 123456", "", false},
		{"letters", "+44 hello", "", false},
		{"too short", "+44 7700", "", false},
		{"UK landline", "+44 20 7946 0000", "", false},
		{"Russia, not on the list", "+7 912 345 67 89", "", true},
		// +1, but not the United States or Canada: Caribbean ranges that
		// SMS pumping targets.
		{"Jamaica", "+1 876 210 1234", "", true},
		{"Dominican Republic", "+1 809 234 5678", "", true},
		{"Antigua", "+1 268 464 1234", "", true},
		{"Canada", "+1 604 555 5555", "+16045555555", false},
		{"Isle of Man, +44 but not GB", "+44 7624 123456", "", true},
		{"empty", " ", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, DefaultCountries())
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if p, ok := err.(*Problem); ok && p.CountryNotAllowed != tt.country {
				t.Errorf("Parse(%q): CountryNotAllowed %v, want %v", tt.in, p.CountryNotAllowed, tt.country)
			}
		})
	}
	for _, tt := range []struct {
		list, number string
		want         bool
	}{
		{"1", "+44 7400 123456", false},
		{"1", "+1 876 210 1234", true}, // a bare calling code admits every region that shares it
		{"US", "+1 876 210 1234", false},
		{"US", "+1 415 555 2671", true},
		{"jm", "+1 876 210 1234", true},
		{"44", "+44 7624 123456", true},
		{"GB", "+44 7624 123456", false},
	} {
		c, err := ParseCountries(tt.list)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Parse(tt.number, c)
		if got := err == nil; got != tt.want {
			t.Errorf("Parse(%q) allowing %q: got %v, want allowed %v", tt.number, tt.list, err, tt.want)
		}
		if p, ok := err.(*Problem); err != nil && (!ok || !p.CountryNotAllowed) {
			t.Errorf("Parse(%q) allowing %q: got %v, want refused for its country", tt.number, tt.list, err)
		}
		e164 := "+" + strings.Map(func(r rune) rune {
			if r < '0' || r > '9' {
				return -1
			}
			return r
		}, tt.number)
		if got := c.Allows(e164); got != tt.want {
			t.Errorf("%q.Allows(%q) = %v, want %v", tt.list, e164, got, tt.want)
		}
	}
}

func TestMask(t *testing.T) {
	for in, want := range map[string]string{
		"+447400123456": "+44 •••• ••3456",
		"+14155552671":  "+1 •••-•••-2671",
		"+33612345678":  "+33 • •• •• 56 78",
	} {
		if got := Mask(in); got != want {
			t.Errorf("Mask(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseCountries(t *testing.T) {
	got, err := ParseCountries(" gb, +1,49,GB, us ")
	if err != nil || got.String() != "GB,1,49,US" {
		t.Errorf("ParseCountries = %v, %v; want GB,1,49,US", got, err)
	}
	for _, bad := range []string{"", "uk", "0", "1000", ",", "999", "001", "+US", "USA"} {
		if _, err := ParseCountries(bad); err == nil {
			t.Errorf("ParseCountries(%q): got no error", bad)
		}
	}
	d := DefaultCountries()
	if back, err := ParseCountries(d.String()); err != nil || back.String() != d.String() {
		t.Errorf("the defaults do not round-trip: %v, %v", back, err)
	}
	if w := d.Warnings(); len(w) != 0 {
		t.Errorf("the defaults warn: %q", w)
	}
	for _, e := range d.entries {
		if e == "1" || len(e) != 2 {
			t.Errorf("the defaults hold %q, want only regions", e)
		}
	}
}

func TestCountriesWarnings(t *testing.T) {
	for list, want := range map[string]int{"1": 1, "1,44,33": 2, "US,CA,GB": 0, "33": 0} {
		c, err := ParseCountries(list)
		if err != nil {
			t.Fatal(err)
		}
		w := c.Warnings()
		if len(w) != want {
			t.Errorf("%q: got warnings %q, want %d", list, w, want)
		}
		if strings.HasPrefix(list, "1") && (len(w) == 0 || !strings.Contains(w[0], "JM")) {
			t.Errorf("%q: got warnings %q, want one naming the Caribbean regions", list, w)
		}
	}
}
