package core

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/otp"
)

// The RFC 6238 SHA1 test secret gives the same code, 963181, at steps
// 59061240 and 59061241 (2026-02-23 09:00:00 and 09:00:30 UTC).
var (
	collisionSecret = []byte("12345678901234567890")
	collisionAt     = time.Unix(59061241*30, 0)
)

func TestVerifyAfterSkipsUsedSteps(t *testing.T) {
	p := otp.DefaultParams()
	if a, b := otp.HOTP(collisionSecret, 59061240, otp.SHA1, 6), otp.HOTP(collisionSecret, 59061241, otp.SHA1, 6); a != b {
		t.Fatalf("fixture: codes %s and %s differ", a, b)
	}
	for _, tc := range []struct {
		name     string
		lastStep int64
		want     uint64
		ok       bool
	}{
		{"nothing used: the earlier step matches first", -1, 59061240, true},
		{"earlier step used: the fresh step is accepted", 59061240, 59061241, true},
		{"both used: replay", 59061241, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := verifyAfter(collisionSecret, "963181", collisionAt, p, 0, 1, tc.lastStep)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("got %d, %v; want %d, %v", got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestVerifyAfterWindow(t *testing.T) {
	p := otp.DefaultParams()
	secret := []byte("another twenty bytes")
	now := time.Date(2026, 11, 23, 12, 0, 10, 0, time.UTC)
	step := int64(otp.Step(now, p.Period))
	code := func(s int64) string { return otp.HOTP(secret, uint64(s), otp.SHA1, 6) }
	for _, tc := range []struct {
		name        string
		codeStep    int64
		drift, last int64
		wantOK      bool
	}{
		{"current", step, 0, -1, true},
		{"one behind", step - 1, 0, -1, true},
		{"two behind", step - 2, 0, -1, false},
		{"two behind with learnt drift", step - 2, -1, -1, true},
		{"one ahead", step + 1, 0, -1, true},
		{"at the last accepted step", step, 0, step, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := verifyAfter(secret, code(tc.codeStep), now, p, tc.drift, 1, tc.last)
			if ok != tc.wantOK || (ok && int64(got) != tc.codeStep) {
				t.Fatalf("got %d, %v; want step %d, %v", got, ok, tc.codeStep, tc.wantOK)
			}
		})
	}
}

func TestClampDrift(t *testing.T) {
	for _, tc := range []struct{ d, want int64 }{{0, 0}, {39, 39}, {41, 40}, {-100, -40}} {
		if got := clampDrift(tc.d, 40); got != tc.want {
			t.Errorf("clampDrift(%d, 40) = %d, want %d", tc.d, got, tc.want)
		}
	}
}

// TestNormaliseKey: a recovery code or paper key typed by hand or pasted
// from a document folds to the form its hash is of (lower-case base32
// without separators): any space or dash, invisible characters, full-width
// forms, and 0 and 8 read as o and b. 1 is not read as a letter (l or i?),
// nor a letter of another alphabet that looks like a Latin one.
func TestNormaliseKey(t *testing.T) {
	const want = "obxk2m7qpabcdeio"
	for _, tc := range []struct{ name, in, want string }{
		{"as shown", "obxk-2m7q-pabc-deio", want},
		{"upper case, spaces", "OBXK 2M7Q PABC DEIO", want},
		{"0 for o, 8 for b", "0bxk-2m7q-pa8c-dei0", want},
		{"no-break spaces", "obxk\u00a02m7q\u00a0pabc\u00a0deio", want},
		{"thin and narrow spaces, ideographic space", "obxk\u20092m7q\u202fpabc\u3000deio", want},
		{"en and em dashes, minus sign", "obxk\u20132m7q\u2014pabc\u2212deio", want},
		{"hyphen, non-breaking hyphen, figure dash, bar", "obxk\u20102m7q\u2011pa\u2012bc\u2015deio", want},
		{"soft hyphen, zero-width space, BOM", "\ufeffobxk\u00ad2m7q\u200bpabc\u2060deio", want},
		{"tab and line break", "obxk\t2m7q\r\npabc\ndeio", want},
		{"1 stays 1", "obxk-2m7q-pabc-de1o", "obxk2m7qpabcde1o"},
		{"9 stays 9", "9bxk", "9bxk"},
		{"a line of the codes' file", " 3. obxk-2m7q-pabc-deio\r\n", want},
		{"the tenth line", "10. obxk-2m7q-pabc-deio", want},
		{"a list numbered 3)", "3) obxk-2m7q-pabc-deio", want},
		{"a number without its dot is kept", "3 obxk", "3obxk"},
		{"a number of three digits is kept", "100. obxk", "1oo.obxk"},
		{"full width, as an input method types it", "ｏｂｘｋ－２ｍ７ｑ　ＰＡＢＣ－ＤＥＩＯ", want},
		{"full-width 0 and 8", "０ｂｘｋ２ｍ７ｑｐａ８ｃｄｅｉ０", want},
		{"a full-width line of the codes' file", "３．ｏｂｘｋ－２ｍ７ｑ－ｐａｂｃ－ｄｅｉｏ", want},
		{"direction marks", "\u200fobxk\u200e-2m7q\u061cpabcdeio", want},
		{"Cyrillic look-alike stays", "\u043ebxk", "\u043ebxk"},
		{"too long", strings.Repeat("a", 257), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := normaliseKey(tc.in); got != tc.want {
				t.Errorf("normaliseKey(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
	// A key as issued is already in canonical form: stored hashes keep matching.
	for _, c := range []string{"abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567"} {
		if got := normaliseKey(c); got != strings.ReplaceAll(c, "-", "") {
			t.Errorf("normaliseKey(%q) = %q", c, got)
		}
	}
}

// TestNormaliseCode: a one-time code is taken with the spaces and dashes a
// copy and paste can put in it, ASCII or not, and with its digits in any
// width or script; nothing else changes.
func TestNormaliseCode(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"123456", "123456"},
		{"123 456", "123456"},
		{"123-456", "123456"},
		{"123\u00a0456", "123456"},
		{"123\u2009456\u200b", "123456"},
		{"123\u2013456", "123456"},
		{"\ufeff12345678", "12345678"},
		{"123456\n", "123456"}, // read from a file
		{"\t123 456\r\n", "123456"},
		{"12345a", "12345a"},              // left for the check to refuse
		{"１２３　４５６", "123456"},             // full width, from an input method
		{"١٢٣٤٥٦", "123456"},              // Arabic-Indic
		{"\u200f۱۲۳ ۴۵۶\u200f", "123456"}, // Persian, with right-to-left marks
		{"१२३४५६७८", "12345678"},          // Devanagari
		{"𝟏𝟐𝟑𝟒𝟓𝟔", "123456"},              // mathematical bold, pasted
		{"①②③④⑤⑥", "123456"},              // circled: NFKC reads them as digits
		{strings.Repeat("1", 65), ""},
	} {
		if got := normaliseCode(tc.in); got != tc.want {
			t.Errorf("normaliseCode(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
