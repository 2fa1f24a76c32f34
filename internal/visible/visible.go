// Package visible tells which characters a reader cannot see for what they
// are. It is the one rule for names, labels, serial numbers and every
// client-supplied text that Twofold shows on a page, in a log or in an
// email, so that core and the token-file readers in otp refuse or clean the
// same characters.
package visible

import (
	"unicode"
	"unicode/utf8"
)

// Hidden reports whether r shows as nothing, or as something other than
// itself: a control character (line breaks, tabs, terminal escapes, DEL, C1
// controls such as U+009B); an invisible format character (text-direction
// marks, overrides and isolates, zero-width spaces and joiners, soft
// hyphens, tags); a line or paragraph separator; the other characters
// Unicode says to show as nothing (Other_Default_Ignorable_Code_Point: the
// combining grapheme joiner U+034F, the Hangul fillers U+115F, U+1160,
// U+3164 and U+FFA0); the blank braille pattern U+2800; a private-use
// character or a noncharacter, which show as whatever a font makes of
// them; or the replacement character that stands for bytes that were not
// UTF-8. Variation selectors are not among them: an emoji needs its own.
func Hidden(r rune) bool {
	return unicode.IsControl(r) || r == utf8.RuneError || r == '\u2800' ||
		unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Co, unicode.Bidi_Control,
			unicode.Other_Default_Ignorable_Code_Point, unicode.Noncharacter_Code_Point)
}
