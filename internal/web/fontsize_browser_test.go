package web_test

import (
	"os"
	"regexp"
	"strings"
	"testing"

	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserTextFollowsDefaultFontSize: with the reader's default font
// size set to 24px in Chromium, the sign-in page's text and its fields are
// 24px, not a size the style sheet pins: every size in it is relative.
func TestBrowserTextFollowsDefaultFontSize(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	p := newPage(t, ts.URL())
	if _, err := chromedp.Call(p.ctx, cdppage.SetFontSizes, cdppage.SetFontSizesParams{FontSizes: &cdppage.FontSizes{Standard: 24}}); err != nil {
		t.Fatalf("browser: set the default font size: %v", err)
	}
	p.open("/login")
	for sel, want := range map[string]string{"body": "24px", "#username": "24px", "#password": "24px", "label": "22.8px"} { // a label is .95em
		if got := eval[string](p, `getComputedStyle(document.querySelector(`+jsString(sel)+`)).fontSize`); got != want {
			t.Errorf("%s with a default font size of 24px: font-size %s, want %s", sel, got, want)
		}
	}
}

// TestStyleSheetSizesRelative: outside of print, the style sheet gives text
// no size in px or pt, which would not follow the reader's default.
func TestStyleSheetSizesRelative(t *testing.T) {
	b, err := os.ReadFile("static/style.css")
	if err != nil {
		t.Fatal(err)
	}
	css := string(b)
	if i := strings.Index(css, "@media print"); i >= 0 {
		if j := strings.Index(css[i:], "\n}"); j >= 0 {
			css = css[:i] + css[i+j:]
		}
	}
	for _, m := range regexp.MustCompile(`font(-size)?\s*:[^;}]*?\b[0-9.]+(px|pt)\b[^;}]*`).FindAllString(css, -1) {
		t.Errorf("style.css pins a font size: %q", m)
	}
}
