// Package sms holds the rules of the SMS code factor that need neither SQL
// nor HTTP (SPEC §2 "SMS code"): phone numbers parsed and validated with
// libphonenumber's rules, kept as E.164, limited to an allow-list of regions
// against SMS pumping, and masked for display.
package sms

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/nyaruka/phonenumbers"
)

// defaultCountries is the default allow-list: the United States and
// Canada, most of western Europe, Australia and New Zealand. It names
// regions rather than the calling codes they use, so that +1 admits neither
// the Caribbean's nor the Pacific territories' numbers, nor +44 those of
// the Channel Islands and the Isle of Man, all known targets of SMS pumping.
const defaultCountries = "US,CA,GB,IE,NL,BE,FR,ES,IT,CH,AT,DE,DK,SE,NO,FI,AU,NZ"

// Countries is an allow-list of where text messages may go, against SMS
// pumping (SPEC §2): regions, as libphonenumber names them (ISO 3166-1
// alpha-2: "US", "GB"), and whole country calling codes ("44"), each of
// which admits every region that shares it. The zero value admits nothing.
type Countries struct {
	entries []string // "US", or a calling code's digits "44"
}

// DefaultCountries returns the default allow-list of --sms-countries.
func DefaultCountries() Countries {
	return Countries{entries: strings.Split(defaultCountries, ",")}
}

// ParseCountries parses a comma-separated list of regions and country
// calling codes ("US, ca, GB, +49"); regions are upper-cased, a calling
// code's "+" dropped.
func ParseCountries(s string) (Countries, error) {
	var c Countries
	regions := phonenumbers.GetSupportedRegions()
	for _, p := range strings.Split(s, ",") {
		p = strings.TrimSpace(p)
		if p == "" {
			continue
		}
		var e string
		if d := strings.TrimPrefix(p, "+"); d != "" && strings.Trim(d, "0123456789") == "" {
			n, err := strconv.Atoi(d)
			if err != nil || d[0] == '0' || n > 999 || len(phonenumbers.GetRegionCodesForCountryCode(n)) == 0 {
				return Countries{}, fmt.Errorf("%q is not a country calling code", p)
			}
			e = strconv.Itoa(n)
		} else {
			e = strings.ToUpper(p)
			if !regions[e] {
				return Countries{}, fmt.Errorf("%q is neither a region (two letters: US, GB) nor a country calling code (44)", p)
			}
		}
		if !slices.Contains(c.entries, e) {
			c.entries = append(c.entries, e)
		}
	}
	if len(c.entries) == 0 {
		return Countries{}, errors.New("no region or country calling code given")
	}
	return c, nil
}

// String is the inverse of ParseCountries.
func (c Countries) String() string { return strings.Join(c.entries, ",") }

// allows reports whether a valid number n may be texted.
func (c Countries) allows(n *phonenumbers.PhoneNumber) bool {
	return slices.Contains(c.entries, phonenumbers.GetRegionCodeForNumber(n)) ||
		slices.Contains(c.entries, strconv.Itoa(int(n.GetCountryCode())))
}

// Allows reports whether the number e164, as Parse returned it, may be
// texted: a number added while the list was wider is not.
func (c Countries) Allows(e164 string) bool {
	n, err := phonenumbers.Parse(e164, "ZZ")
	return err == nil && c.allows(n)
}

// Warnings says, for each calling code on the list that regions share, that
// it admits all of them: "1" admits the whole North American Numbering
// Plan, the Caribbean's premium-rate ranges included.
func (c Countries) Warnings() []string {
	var out []string
	for _, e := range c.entries {
		n, err := strconv.Atoi(e)
		if err != nil {
			continue
		}
		rs := phonenumbers.GetRegionCodesForCountryCode(n)
		if len(rs) < 2 {
			continue
		}
		w := fmt.Sprintf("calling code %d admits the numbers of every region that shares it (%s); name the regions to admit instead (%s)",
			n, strings.Join(rs, ","), rs[0])
		if n == 1 {
			w = "calling code 1 admits the whole North American Numbering Plan, the Caribbean's ranges that SMS pumping targets included (" +
				strings.Join(rs, ",") + "); name the regions to admit instead (US,CA)"
		}
		out = append(out, w)
	}
	return out
}

// Problem is why a phone number was refused; its text is fit for the user.
type Problem struct {
	// CountryNotAllowed is set when the number is valid but its region is
	// not on the allow-list.
	CountryNotAllowed bool
	msg               string
}

func (p *Problem) Error() string { return p.msg }

// Parse reads a phone number typed in international form ("+44 7400
// 123456", "0044 7400 123456") and returns it in E.164 ("+447400123456").
// The number must be a valid mobile number (or one that may be mobile, as in
// North America) of a region on the allow-list.
func Parse(s string, allowed Countries) (string, error) {
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
	if !allowed.allows(n) {
		return "", &Problem{CountryNotAllowed: true, msg: fmt.Sprintf("this server sends no text messages to numbers of %s (+%d)", phonenumbers.GetRegionCodeForNumber(n), n.GetCountryCode())}
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
