package sms

import (
	"slices"
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
		{"empty", " ", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Parse(tt.in, DefaultCountries)
			if got != tt.want || (err == nil) != (tt.want != "") {
				t.Fatalf("Parse(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
			if p, ok := err.(*Problem); ok && p.CountryNotAllowed != tt.country {
				t.Errorf("Parse(%q): CountryNotAllowed %v, want %v", tt.in, p.CountryNotAllowed, tt.country)
			}
		})
	}
	if _, err := Parse("+44 7400 123456", []int{1}); err == nil || !err.(*Problem).CountryNotAllowed {
		t.Errorf("a UK number with only +1 allowed: got %v, want refused for its country", err)
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
	got, err := ParseCountries(" 44, +1,49,44 ")
	if err != nil || !slices.Equal(got, []int{44, 1, 49}) {
		t.Errorf("ParseCountries = %v, %v; want [44 1 49]", got, err)
	}
	for _, bad := range []string{"", "uk", "0", "1000", ","} {
		if _, err := ParseCountries(bad); err == nil {
			t.Errorf("ParseCountries(%q): got no error", bad)
		}
	}
	if s := FormatCountries(DefaultCountries); s == "" {
		t.Error("FormatCountries of the defaults is empty")
	} else if back, err := ParseCountries(s); err != nil || !slices.Equal(back, DefaultCountries) {
		t.Errorf("the defaults do not round-trip: %v, %v", back, err)
	}
}
