package web_test

import (
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
)

// TestBrowserScrollingTableTabStop: the box of a wide table is a Tab stop
// only while it scrolls sideways (static/tablebox.js), on the hardware
// tokens page, whose table holds no link, and on the list of users. At
// 1280 px, where the tables fit, Tab never stops on a box; at 320 px, where
// they scroll, Tab reaches each box; and the width changing without a
// reload (a window resized, a phone turned) is followed both ways.
func TestBrowserScrollingTableTabStop(t *testing.T) {
	ts, secret, _ := operatorPagesFixture(t)
	p := signedInOperator(t, ts, secret)
	for _, path := range []string{"/admin/tokens", "/admin/users"} {
		for _, step := range []struct {
			name   string
			width  int64
			reload bool
		}{
			{"opened at 1280 px", wideWidth, true},
			{"narrowed to 320 px", 320, false},
			{"opened at 320 px", 320, true},
			{"widened to 1280 px", wideWidth, false},
		} {
			p.do(chromedp.EmulateViewport(step.width, 844))
			if step.reload {
				p.open(path)
			} else {
				renderedTwice(p)
			}
			boxes := eval[[]tableBox](p, tableBoxes)
			if len(boxes) == 0 {
				t.Fatalf("%s %s: no table box", path, step.name)
			}
			reached := tabReaches(p)
			for i, b := range boxes {
				if b.Scrolls != (step.width == 320) {
					t.Fatalf("%s %s: box %d scrolls %v, want the tables to scroll at 320 px only", path, step.name, i, b.Scrolls)
				}
				if b.TabStop != b.Scrolls || reached[b.ID] != b.Scrolls {
					t.Errorf("%s %s: box %s (scrolls %v) is a Tab stop %v, reached by Tab %v; want both as it scrolls", path, step.name, b.ID, b.Scrolls, b.TabStop, reached[b.ID])
				}
			}
		}
	}
}

// tableBox is a table's box (.table-wrap) as the page shows it: the name
// tableBoxes gives it, whether it scrolls sideways and whether it is a Tab
// stop.
type tableBox struct {
	ID               string
	Scrolls, TabStop bool
}

const tableBoxes = `[...document.querySelectorAll(".table-wrap")].map((w, i) => {
	w.dataset.box = "box-" + i;
	return {ID: w.dataset.box, Scrolls: w.scrollWidth > w.clientWidth, TabStop: w.tabIndex >= 0};
})`

// tabReaches presses Tab from the page's first link (the skip link) once
// for each element a keyboard could reach, and returns the table boxes
// (by the names tableBoxes gave them) that had the focus on the way.
func tabReaches(p *page) map[string]bool {
	p.t.Helper()
	n := eval[int](p, `(document.querySelector("a[href]").focus(), document.querySelectorAll("`+focusable+`").length)`)
	reached := map[string]bool{}
	for range n {
		p.do(chromedp.KeyEvent(kb.Tab))
		if id := eval[string](p, `document.activeElement.dataset.box || ""`); id != "" {
			reached[id] = true
		}
	}
	return reached
}

// renderedTwice waits until the page has been rendered twice, by which
// time the resize observers a change of the viewport set off have run.
func renderedTwice(p *page) {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void](`new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r())))`, chromedp.EvalAwaitPromise))
}
