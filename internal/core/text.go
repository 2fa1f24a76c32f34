package core

import (
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// TimeText says t as the pages and messages show a time to people, in UTC
// with the zone named: "7 Dec 2026, 16:20 UTC". The JSON API's fields and
// the HTML datetime attributes stay RFC 3339.
func TimeText(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04 UTC")
}

// hiddenRune reports whether r shows as nothing, or as something other
// than itself, where a name or a client's text is shown on a page, in a log
// or in an email: a control character (line breaks, tabs, terminal
// escapes, DEL, C1 controls such as U+009B); an invisible format character
// (text-direction marks, overrides and isolates, zero-width spaces and
// joiners, soft hyphens, tags); a line or paragraph separator; the other
// characters Unicode says to show as nothing (Other_Default_Ignorable_Code_Point:
// the combining grapheme joiner U+034F, the Hangul fillers U+115F, U+1160,
// U+3164 and U+FFA0); the blank braille pattern U+2800; a private-use
// character or a noncharacter, which show as whatever a font makes of them;
// or the replacement character that stands for bytes that were not UTF-8.
// Variation selectors are not among them: an emoji needs its own.
func hiddenRune(r rune) bool {
	return unicode.IsControl(r) || r == utf8.RuneError || r == '\u2800' ||
		unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Bidi_Control,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point)
}

// checkName trims name and reports whether it is fit to show as a name (a
// factor's label, an API key's, an SSH key's, a team's): one line of 1 to
// 64 characters, none of them hidden (hiddenRune), not all of them
// combining marks, which have nothing of their own to sit on. It returns
// the trimmed name, or "" and false.
func checkName(name string) (string, bool) {
	name = strings.TrimSpace(name)
	if name == "" || !utf8.ValidString(name) || utf8.RuneCountInString(name) > 64 || strings.IndexFunc(name, hiddenRune) >= 0 {
		return "", false
	}
	if strings.IndexFunc(name, func(r rune) bool { return !unicode.IsMark(r) && !unicode.IsSpace(r) }) < 0 {
		return "", false
	}
	return name, true
}

// nameKey is what two names are compared by to tell whether one could pass
// for the other: without hidden characters (names stored before they were
// refused may hold some) and variation selectors, in NFKC (so that
// "ｐｈｏｎｅ", "𝐩𝐡𝐨𝐧𝐞" and "phone" are one), without the generic
// diacritics NFKC leaves on their own (an overlay such as U+0336 on
// "phone"), with runs of white space as one space, in lower case.
func nameKey(name string) string {
	name = strings.Map(func(r rune) rune {
		if hiddenRune(r) || unicode.Is(unicode.Variation_Selector, r) {
			return -1
		}
		return r
	}, name)
	name = strings.Map(func(r rune) rune {
		if genericDiacritic(r) {
			return -1
		}
		return r
	}, norm.NFKC.String(name))
	return strings.ToLower(strings.Join(strings.Fields(name), " "))
}

// genericDiacritic reports whether r is in one of the blocks of combining
// marks that belong to no one script (Combining Diacritical Marks and their
// Extended and Supplement blocks, those for symbols, half marks).
func genericDiacritic(r rune) bool {
	return r >= 0x0300 && r <= 0x036F || r >= 0x1AB0 && r <= 0x1AFF || r >= 0x1DC0 && r <= 0x1DFF ||
		r >= 0x20D0 && r <= 0x20FF || r >= 0xFE20 && r <= 0xFE2F
}

// sameName reports whether names a and b could not be told apart when
// shown: equal once hidden characters are dropped, compatibility forms
// folded (NFKC), lone generic diacritics dropped and case ignored.
func sameName(a, b string) bool {
	return strings.EqualFold(nameKey(a), nameKey(b))
}

// CleanText makes s fit a text column, a log line, a page and a mail: valid
// UTF-8, every hidden character (hiddenRune: controls, NUL among them,
// which PostgreSQL refuses in text, text-direction overrides, zero-width
// and filler characters) and every byte that is not UTF-8 replaced by
// U+FFFD, so that what a client sent can be neither run together with the
// text around it nor turn it around, of at most max bytes, cut between
// characters.
func CleanText(s string, max int) string {
	s = strings.Map(func(r rune) rune {
		if hiddenRune(r) {
			return utf8.RuneError
		}
		return r
	}, strings.ToValidUTF8(s, "\uFFFD"))
	if len(s) <= max {
		return s
	}
	for max > 0 && !utf8.RuneStart(s[max]) {
		max--
	}
	return s[:max]
}

// ClientCalled says what a client that sent the user agent ua called
// itself, for a mail or a device's prompt: "a browser or app that called
// itself "Firefox on Linux"", or "an unknown browser or app". The user
// agent is whatever the client chose to send, a thief's too: shortened and
// quoted, it reads as what the client called itself, never as the
// server's words (and CleanText has replaced any character that could
// hide or turn text around, line breaks among them). Angle brackets are
// shown as single guillemets, so that no markup a client sent reaches a
// mail reader that would make something of it.
func ClientCalled(ua string) string {
	if short := ShortUserAgent(CleanText(ua, 256)); short != "" {
		return fmt.Sprintf("a browser or app that called itself %q", markupFree.Replace(short))
	}
	return "an unknown browser or app"
}

// markupFree shows the angle brackets of a client's text as look-alikes
// that start no tag.
var markupFree = strings.NewReplacer("<", "\u2039", ">", "\u203a")

// ShortUserAgent names the browser and system of a user agent, roughly
// ("Firefox on Linux"); a user agent that names neither is shown as its
// first 40 characters. The result is what a client said of itself, to be
// shown as such (quoted), never as the server's own words.
func ShortUserAgent(ua string) string {
	if ua == "" {
		return ""
	}
	browser := ""
	for _, b := range []struct{ key, name string }{
		{"Edg/", "Edge"}, {"OPR/", "Opera"}, {"Firefox/", "Firefox"}, {"HeadlessChrome/", "Headless Chrome"},
		{"Chromium/", "Chromium"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go client"},
	} {
		if strings.Contains(ua, b.key) {
			browser = b.name
			break
		}
	}
	system := ""
	for _, o := range []struct{ key, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS X", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.key) {
			system = o.name
			break
		}
	}
	switch {
	case browser != "" && system != "":
		return browser + " on " + system
	case browser != "":
		return browser
	}
	ua = CleanText(ua, len(ua))
	if utf8.RuneCountInString(ua) > 40 {
		return string([]rune(ua)[:40]) + "…"
	}
	return ua
}

// foldTyped returns a typed code or key with each character that NFKC reads
// as ASCII in its place, so full-width letters and digits typed with an East
// Asian input method ("１２３４５６", "ｋ７ｑｍ") and styled ones pasted from a
// document ("𝟏𝟐𝟑") are the ASCII ones, and with every other decimal digit
// (Arabic-Indic "١٢٣", Persian "۱۲۳", Devanagari "१२३", as phone keypads
// of those locales type them) as the ASCII digit of its value. Input that
// is ASCII is returned as it is, without a look at Unicode's tables.
func foldTyped(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(asciiDigit, norm.NFKC.String(s))
		}
	}
	return s
}

// asciiDigit returns the ASCII digit of a decimal digit of any script, and
// any other rune as it is. Unicode encodes decimal digits (Nd) only in
// runs of ten from 0 to 9, so a digit's value is its distance from the
// start of its range in unicode.Nd, modulo ten.
func asciiDigit(r rune) rune {
	if r < utf8.RuneSelf || !unicode.Is(unicode.Nd, r) {
		return r
	}
	for _, g := range unicode.Nd.R16 {
		if rune(g.Lo) <= r && r <= rune(g.Hi) {
			return '0' + (r-rune(g.Lo))%10
		}
	}
	for _, g := range unicode.Nd.R32 {
		if rune(g.Lo) <= r && r <= rune(g.Hi) {
			return '0' + (r-rune(g.Lo))%10
		}
	}
	return r
}
