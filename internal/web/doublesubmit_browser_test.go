package web_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/fetch"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserDoubleSubmit: pressing "Continue" twice on a page that asks
// to confirm it's you, the second time while the answer to the first is
// still on its way, sends the form once (/static/once.js): the browser
// takes that answer, with the session's new cookie, and goes on signed in
// and elevated, with one authenticator being added, not two. The test
// holds the first answer in Chromium (Fetch interception at the response
// stage: the server has answered, the browser has not taken the answer)
// while it clicks again, as a quick double click on a slow line does;
// without the script the second click sends the form again with the old
// cookie, and the browser drops the first answer. On SQLite and
// PostgreSQL.
func TestBrowserDoubleSubmit(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)
			p := newPage(t, ts.URL())
			p.signInWithCode(ts, "alice", secret)
			ts.Clock.Add(11 * time.Minute) // the sign-in's elevation lapses

			p.fill("#label", "Laptop")
			p.click("#add-totp")
			if !p.exists("#elevate_code") || !strings.Contains(p.text("#confirm"), "Continue") {
				t.Fatalf("adding another authenticator does not ask to confirm it's you: %s", p.text("main"))
			}
			stale := sessionCookieOf(t, p)
			p.fill("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()))

			// Hold the answers to the form's POSTs in the browser.
			ctx, cancel := context.WithCancel(p.ctx)
			defer cancel()
			paused := chromedp.Events(ctx, fetch.RequestPaused)
			if _, err := chromedp.Call(p.ctx, fetch.Enable, fetch.EnableParams{Patterns: []*fetch.RequestPattern{
				{URLPattern: "*/settings/security/totp", RequestStage: fetch.RequestStageResponse},
			}}); err != nil {
				t.Fatalf("intercept the form's answers: %v", err)
			}
			first, release := make(chan struct{}), make(chan struct{})
			var more atomic.Int32 // POSTs of the form after the first
			go func() {
				n := 0
				for ev, err := range paused {
					if err != nil {
						return
					}
					if n++; n == 1 {
						close(first)
						<-release
					} else {
						more.Add(1)
					}
					// A request the browser gave up is gone: nothing to continue.
					_, _ = chromedp.Call(ctx, fetch.ContinueResponse, fetch.ContinueResponseParams{RequestID: ev.RequestID})
				}
			}()

			// A real double click on the button: Input events, raw, as
			// chromedp's own actions wait for a page that is navigating.
			box := eval[[]float64](p, `(() => { const r = document.querySelector("#confirm").getBoundingClientRect();
				return [r.left + r.width/2, r.top + r.height/2] })()`)
			p.do(chromedp.Evaluate[chromedp.Void]("window." + clickMark + " = true"))
			mouse := func(typ input.DispatchMouseEventType, count int64) {
				t.Helper()
				mctx, mcancel := context.WithTimeout(p.ctx, 30*time.Second)
				defer mcancel()
				if _, err := chromedp.Call(mctx, input.DispatchMouseEvent, input.DispatchMouseEventParams{
					Type: typ, X: box[0], Y: box[1], Button: input.MouseButtonLeft, Buttons: 1, ClickCount: count,
				}); err != nil {
					t.Fatalf("mouse %s: %v", typ, err)
				}
			}
			mouse(input.DispatchMouseEventTypeMousePressed, 1)
			mouse(input.DispatchMouseEventTypeMouseReleased, 1)
			select {
			case <-first:
			case <-time.After(time.Minute):
				t.Fatal("the form's first POST was never answered")
			}
			mouse(input.DispatchMouseEventTypeMousePressed, 2)
			mouse(input.DispatchMouseEventTypeMouseReleased, 2)
			// Input.dispatchMouseEvent answers once the page has handled
			// the event: the click's submit has run. (Runtime.evaluate is
			// not answered while a navigation waits for its answer.)
			close(release)
			p.loaded("the double click")
			if _, err := chromedp.Call(p.ctx, fetch.Disable, cdp.Empty{}); err != nil {
				t.Fatalf("stop intercepting: %v", err)
			}

			p.wantPath("/settings/security/totp/")
			if n := more.Load(); n != 0 {
				t.Errorf("the form was sent %d more times", n)
			}
			fresh := sessionCookieOf(t, p)
			if fresh == stale {
				t.Fatal("the browser kept the session cookie from before confirming")
			}
			a, err := ts.Service.Authenticate(context.Background(), fresh)
			if err != nil || !a.Elevated(ts.Clock.Now()) {
				t.Fatalf("the browser's session after the double click: elevated %v (%v), want signed in and elevated", a.Elevated(ts.Clock.Now()), err)
			}
			pr, err := ts.Service.Me(context.Background(), a)
			if err != nil {
				t.Fatal(err)
			}
			pending := 0
			for _, f := range pr.Factors {
				if f.Status == twofold.FactorPending {
					pending++
				}
			}
			if pending != 1 {
				t.Errorf("authenticators being added: %d, want 1", pending)
			}
			if p.open("/settings/security"); !p.exists("#add-totp") {
				t.Errorf("the security page after the double click: at %s: %s", p.path(), p.text("main"))
			}
		})
	}
}

// sessionCookieOf returns the value of the browser's session cookie.
func sessionCookieOf(t *testing.T, p *page) string {
	t.Helper()
	for _, k := range p.cookies() {
		if k.Name == "twofold_session" {
			return k.Value
		}
	}
	t.Fatal("the browser has no session cookie")
	return ""
}
