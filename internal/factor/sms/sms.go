// Package sms holds the rules of the SMS code factor that need neither SQL
// nor HTTP (SPEC §2 "SMS code"): phone numbers parsed and validated with
// libphonenumber's rules, kept as E.164, limited to an allow-list of country
// calling codes against SMS pumping, and masked for display.
package sms

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// DefaultCountries is the default allow-list of country calling codes: North
// America (1), most of western Europe, Australia and New Zealand. Operators
// widen or narrow it with --sms-countries; every country on it is one whose
// numbers an attacker could make the server text at the operator's expense.
var DefaultCountries = []int{1, 31, 32, 33, 34, 39, 41, 43, 44, 45, 46, 47, 49, 61, 64, 353, 358}

// ParseCountries parses a comma-separated list of country calling codes
// ("44,1,+49").
func ParseCountries(s string) ([]int, error) {
	var out []int
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimPrefix(strings.TrimSpace(p), "+")
		if p == "" {
			continue
		}
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 999 {
			return nil, fmt.Errorf("%q is not a country calling code (1 to 999)", p)
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no country calling code given")
	}
	return out, nil
}

// FormatCountries is the inverse of ParseCountries.
func FormatCountries(cc []int) string {
	s := make([]string, len(cc))
	for i, c := range cc {
		s[i] = strconv.Itoa(c)
	}
	return strings.Join(s, ",")
}

// Problem is why a phone number was refused; its text is fit for the user.
type Problem struct {
	// CountryNotAllowed is set when the number is valid but its country
	// calling code is not on the allow-list.
	CountryNotAllowed bool
	msg               string
}

func (p *Problem) Error() string { return p.msg }

// Parse reads a phone number typed in international form ("+44 7700
// 900123", "0044 7400 123456") and returns it in E.164 ("+447400123456").
// The number must be a valid mobile number (or one that may be mobile, as in
// North America) of a country whose calling code is in allowed.
func Parse(s string, allowed []int) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", &Problem{msg: "a phone number is required"}
	}
	if len(s) > 64 {
		return "", &Problem{msg: "a phone number is at most 64 characters"}
	}
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	if !strings.HasPrefix(s, "+") {
		return "", &Problem{msg: "give the phone number in international form, starting with + and the country code (+44 7400 123456)"}
	}
	n, err := phonenumbers.Parse(s, "ZZ")
	if err != nil {
		return "", &Problem{msg: "this is not a valid phone number"}
	}
	e164 := phonenumbers.Format(n, phonenumbers.E164)
	if !phonenumbers.IsValidNumber(n) {
		return "", &Problem{msg: "this is not a valid phone number"}
	}
	switch phonenumbers.GetNumberType(n) {
	case phonenumbers.MOBILE, phonenumbers.FIXED_LINE_OR_MOBILE:
	default:
		return "", &Problem{msg: "this number cannot receive text messages: give a mobile number"}
	}
	if !slices.Contains(allowed, int(n.GetCountryCode())) {
		return "", &Problem{CountryNotAllowed: true, msg: fmt.Sprintf("text messages to numbers starting +%d are not sent by this server", n.GetCountryCode())}
	}
	return e164, nil
}

// Mask returns an E.164 number for display with all but its country code
// and last four digits hidden, grouped as the country writes it: "+44
// •••• ••3456".
func Mask(e164 string) string {
	n, err := phonenumbers.Parse(e164, "ZZ")
	if err != nil {
		return "•••"
	}
	intl := phonenumbers.Format(n, phonenumbers.INTERNATIONAL)
	cc := "+" + strconv.Itoa(int(n.GetCountryCode()))
	rest := []rune(strings.TrimPrefix(intl, cc))
	keep := 4
	for i := len(rest) - 1; i >= 0; i-- {
		if rest[i] < '0' || rest[i] > '9' {
			continue
		}
		if keep > 0 {
			keep--
			continue
		}
		rest[i] = '•'
	}
	return cc + string(rest)
}
