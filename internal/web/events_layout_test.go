package web_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// emulateWidth sets the page's viewport to width CSS pixels.
func emulateWidth(width int64) chromedp.Action[chromedp.Void] {
	return chromedp.EmulateViewport(width, 900)
}

// TestBrowserEventsPageHasNoEmptyBands: on the events page the list of
// events sits in its card with the card's own padding above and below, no
// empty band or rule along the card's edges, narrow and wide; the security
// page's list, under its heading and above its link, keeps its spacing; an
// empty page past the oldest events says so and leads back.
func TestBrowserEventsPageHasNoEmptyBands(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "edna", false, false)
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("edna", testPassword)
	p.wantPath("/settings/security")

	// gaps returns, in CSS pixels, the space between the list's first and
	// last event texts and its card's edges, less the card's padding, and
	// whether a rule runs along an edge.
	type gaps struct {
		Top, Bottom float64
		Rule        bool
	}
	measure := func() gaps {
		t.Helper()
		return eval[gaps](p, `(() => {
			const ol = document.querySelector("ol.events"), card = ol.closest(".card");
			const cs = getComputedStyle(card), c = card.getBoundingClientRect();
			const first = ol.querySelector("li:first-child .ev-what").getBoundingClientRect();
			const last = ol.querySelector("li:last-child .ev-meta").getBoundingClientRect();
			const rule = getComputedStyle(ol).borderTopWidth !== "0px" || getComputedStyle(ol.querySelector("li:last-child")).borderBottomWidth !== "0px";
			return {Top: first.top - c.top - parseFloat(cs.paddingTop) - parseFloat(cs.borderTopWidth),
				Bottom: c.bottom - last.bottom - parseFloat(cs.paddingBottom) - parseFloat(cs.borderBottomWidth), Rule: rule};
		})()`)
	}
	for _, width := range []int64{wideWidth, narrowWidth} {
		p.do(emulateWidth(width))
		p.open("/settings/security/events")
		if g := measure(); g.Top > 1 || g.Bottom > 1 || g.Rule {
			t.Errorf("events page at %d px: %.1f px above the first event and %.1f px below the last beyond the card's padding, rule along the edge %v; want none", width, g.Top, g.Bottom, g.Rule)
		}
	}
	p.do(emulateWidth(wideWidth))
	p.screenshot("events")
	p.open("/settings/security")
	if g := measure(); !g.Rule {
		t.Error("security page: the list of events, between its heading and its link, lost its rules")
	}

	p.open("/settings/security/events?before=1")
	if got := p.text(".card .empty"); !strings.HasPrefix(got, "No older events.") || !p.exists(`.card .empty a[href="/settings/security/events"]`) {
		t.Errorf("a page past the oldest events says %q, want that there are no older ones, with a link back", got)
	}
}
