package core

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/twofold/twofold/internal/otp"
)

// TestCheckName: a name with a character that shows as nothing, or of
// combining marks only, is refused; names in any script, with emoji and
// their variation selectors, are not.
func TestCheckName(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		ok       bool
	}{
		{"plain", " work phone ", true},
		{"accents", "Café", true},
		{"emoji with its selector", "phone ☎️", true},
		{"Japanese", "スマホ", true},
		{"Devanagari with its marks", "फ़ोन", true},
		{"Hangul syllables", "전화", true},
		{"Hangul filler", "phone\u3164", false},
		{"halfwidth Hangul filler", "phone\uffa0", false},
		{"choseong filler", "phone\u115f", false},
		{"jungseong filler", "phone\u1160", false},
		{"blank braille", "phone\u2800", false},
		{"grapheme joiner", "phone\u034f", false},
		{"Khmer inherent vowel", "phone\u17b4", false},
		{"private use", "phone\ue000", false},
		{"noncharacter", "phone\ufdd0", false},
		{"noncharacter at plane end", "phone\U0001fffe", false},
		{"tag", "phone\U000e0041", false},
		{"C1 control", "phone\u009b", false},
		{"direction override", "phone\u202e", false},
		{"zero-width space", "ph\u200bone", false},
		{"combining marks only", "\u0336\u0336", false},
		{"marks around a space", "\u0301 \u0336", false},
		{"not UTF-8", "ph\xffone", false},
		{"65 characters", strings.Repeat("é", 65), false},
	} {
		if _, ok := checkName(tc.in); ok != tc.ok {
			t.Errorf("%s: checkName(%+q) ok = %v, want %v", tc.name, tc.in, ok, tc.ok)
		}
	}
}

// TestSameName: names that would show alike are the same; names that read
// differently are not.
func TestSameName(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		same bool
	}{
		{"phone", "PHONE", true},
		{"phone", "ｐｈｏｎｅ", true},
		{"phone", "𝐩𝐡𝐨𝐧𝐞", true},
		{"phone", "phone\u0336", true},
		{"phone", "phone\ufe0f", true},
		{"phone", "phone\u200b", true}, // a label stored before such were refused
		{"phone", "phone\u3164", true},
		{"work phone", "work\u2003 phone", true},
		{"Café", "Cafe\u0301", true},
		{"phone", "phones", false},
		{"Café", "Cafe", false},
		{"スマホ", "スマホ2", false},
	} {
		if got := sameName(tc.a, tc.b); got != tc.same {
			t.Errorf("sameName(%+q, %+q) = %v, want %v", tc.a, tc.b, got, tc.same)
		}
	}
}

// TestShortUserAgent: a browser's user agent is named by browser and
// system; another is cut to 40 characters, between characters, with its
// hidden ones replaced.
func TestShortUserAgent(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"curl/8.5.0", "curl"},
		{"laptop", "laptop"},
		{strings.Repeat("é", 50), strings.Repeat("é", 40) + "…"},
		{"tool\u202eloot", "tool\uFFFDloot"},
	} {
		got := ShortUserAgent(tc.in)
		if got != tc.want || !utf8.ValidString(got) {
			t.Errorf("ShortUserAgent(%+q) = %+q, want %+q", tc.in, got, tc.want)
		}
	}
}

// TestSerialCheckHidesWhatNamesDo: otp, standard library only, keeps its
// own copy of hiddenRune for token serials; every character refused in a
// name is refused in a serial, and no other.
func TestSerialCheckHidesWhatNamesDo(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if 0xD800 <= r && r <= 0xDFFF {
			continue // surrogates are not characters of a Go string
		}
		_, err := otp.CheckSerial("A" + string(r) + "B")
		if refused := err != nil; refused != hiddenRune(r) {
			t.Errorf("U+%04X: serial refused %v, hidden in a name %v", r, refused, hiddenRune(r))
		}
	}
}

// TestValidEmailInternational: an account's address may hold characters
// beyond ASCII on either side of the @ (RFC 6532; a local part so needs a
// mail server with SMTPUTF8, README "Notifications"), but its domain must
// be one IDNA can write in ASCII, as mail goes to it so.
func TestValidEmailInternational(t *testing.T) {
	for address, ok := range map[string]bool{
		"jöran@example.com":       true,
		"jo@exämple.com":          true,
		"用户@例子.广告":                true,
		"jo@xn--exmple-cua.com":   true,
		"jo@-ä.example":           false, // a label may not begin with a hyphen
		"jo@ä..example":           false,
		"jo@" + "ä" + "\u0301.de": true, // combining accent: mapped to NFC
		"jo@Example.COM":          true,
		"jo@localhost":            true,
		"jo@ex!ample.com":         false, // net/mail takes it; no SMTP server does
		"jo@ex_ample.com":         false,
		"jo@-example.com":         false,
		"jo@example-.com":         false,
	} {
		if err := ValidEmail(address); (err == nil) != ok {
			t.Errorf("ValidEmail(%q): got %v, want ok %v", address, err, ok)
		}
	}
}
