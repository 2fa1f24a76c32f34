package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/inspector"
	"github.com/chromedp/cdproto/network"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// chromiumPath returns the browser the tests drive: $CHROMIUM, or Debian's
// chromium. Without one the browser tests skip, except under CI, where they fail.
func chromiumPath(tb testing.TB) string {
	tb.Helper()
	for _, p := range []string{os.Getenv("CHROMIUM"), "/usr/bin/chromium", "chromium", "chromium-browser"} {
		if p == "" {
			continue
		}
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	if os.Getenv("CI") != "" {
		tb.Fatal("chromium is not installed, and under CI the browser tests must run (apt-get install -y chromium)")
	}
	tb.Skip("chromium is not installed; browser tests skipped (apt-get install -y chromium)")
	return ""
}

// artifactsDir is where screenshots go: $TWOFOLD_ARTIFACTS, or
// artifacts/screenshots at the top of the repository (gitignored).
func artifactsDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("TWOFOLD_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join("..", "..", "artifacts", "screenshots")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	return dir
}

// page drives one headless Chromium tab against a server.
type page struct {
	t    *testing.T
	ctx  context.Context
	base string
	// shots is the folder for screenshots, "" to take none.
	shots string
	// crashes counts the tab's renderer crashes (Inspector.targetCrashed).
	crashes *atomic.Int32
	// browserErrs keeps what chromedp itself reported, for a failure's message.
	browserErrs *errLog
}

// errLog collects chromedp's own error messages for the lifetime of a tab,
// to be shown when a step fails. It never writes to the test's log, which
// must not be written after the test ends.
type errLog struct {
	mu   sync.Mutex
	msgs []string
}

func (l *errLog) add(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) < 20 {
		l.msgs = append(l.msgs, fmt.Sprintf(format, args...))
	}
}

func (l *errLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.msgs) == 0 {
		return "none"
	}
	return strings.Join(l.msgs, "; ")
}

const wideWidth, narrowWidth = 1280, 390

// newPage starts headless Chromium with a fresh profile, for the length of the test.
func newPage(t *testing.T, base string) *page {
	t.Helper()
	return newPageWith(t, base, nil)
}

// newPageWith is newPage with more command-line options for the browser
// and more options for its tab (such as listeners).
func newPageWith(t *testing.T, base string, more []chromedp.ExecAllocatorOption, tabOpts ...chromedp.ContextOption) *page {
	t.Helper()
	path := chromiumPath(t)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(wideWidth, 900),
	)
	opts = append(opts, more...)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	crashes, errs := new(atomic.Int32), new(errLog)
	bctx, cancelTab := chromedp.NewContext(actx, append([]chromedp.ContextOption{chromedp.WithErrorf(errs.add), countCrashes(crashes)}, tabOpts...)...)
	t.Cleanup(cancelTab)
	p := &page{t: t, ctx: bctx, base: base, crashes: crashes, browserErrs: errs}
	p.do(chromedp.EmulateViewport(wideWidth, 900))
	return p
}

// countCrashes counts the renderer crashes of a tab.
func countCrashes(n *atomic.Int32) chromedp.ContextOption {
	return chromedp.WithListener(func(ev any) {
		if _, ok := ev.(*inspector.EventTargetCrashed); ok {
			n.Add(1)
		}
	})
}

// newTab opens another tab of p's browser (its cookies are p's), closed at
// the end of the test.
func (p *page) newTab() *page {
	p.t.Helper()
	crashes := new(atomic.Int32)
	tab, cancel := chromedp.NewContext(p.ctx, countCrashes(crashes))
	p.t.Cleanup(cancel)
	return &page{t: p.t, ctx: tab, base: p.base, crashes: crashes, browserErrs: p.browserErrs}
}

func (p *page) do(steps ...chromedp.Action[chromedp.Void]) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, steps...); err != nil {
		p.t.Fatalf("browser: %v", err)
	}
}

// open loads path (relative to the server, or a full URL) and returns the
// status. Like click, it marks the current document, sends the tab to path
// and polls for a loaded document without the mark, rather than waiting for
// the browser's response event.
func (p *page) open(path string) int64 {
	p.t.Helper()
	if strings.HasPrefix(path, "/") {
		path = p.base + path
	}
	nav := "window." + clickMark + " = true; window.location.assign(" + jsString(path) + ")"
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](nav)); err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	return p.loaded("open " + path)
}

// clickMark is a global that click and open set on the page before they
// leave it: the page they lead to lacks it.
const clickMark = "__twofoldBeforeClick"

// click clicks the element sel, waits until the page it leads to has
// loaded, and returns that page's HTTP status. It does not wait for the
// browser's response event (RunResponse), which a loaded machine once
// missed, so that a click waited out the whole test: it marks the page,
// clicks, and polls for a loaded document without the mark.
func (p *page) click(sel string) int64 {
	p.t.Helper()
	q, _ := json.Marshal(sel)
	link, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`document.querySelector(`+string(q)+`)?.tagName === "A"`))
	if err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void]("window."+clickMark+" = true"), chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	var again func() error
	if link {
		// A link is a GET: following it once more is harmless.
		again = func() error {
			return chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector(`+string(q)+`).click()`))
		}
	}
	return p.loadedOr("click "+sel, again)
}

// loaded polls until the tab holds a new document (one without clickMark)
// that has loaded, and returns the HTTP status of its response (Navigation
// Timing's responseStatus, the status after any redirects). A check that
// fails while the old document goes away counts as "not yet".
func (p *page) loaded(what string) int64 {
	p.t.Helper()
	return p.loadedOr(what, nil)
}

// staleClick is how long loadedOr waits, with the old document still
// there and loaded, before it calls again.
const staleClick = 20 * time.Second

// loadedOr is loaded, calling again (when not nil) once if the old
// document is still there and loaded staleClick after the click: a
// machine under load has been seen to lose a mouse click on a link, which
// left the tab where it was.
func (p *page) loadedOr(what string, again func() error) int64 {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute)
	defer cancel()
	check := chromedp.Evaluate[int64](`(() => {
		if (document.readyState !== "complete") return -1;
		if (window.` + clickMark + `) return -2;
		const nav = performance.getEntriesByType("navigation")[0];
		return nav ? nav.responseStatus : 0;
	})()`)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	var failingSince time.Time
	reloaded := false
	var staleSince time.Time
	for {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		status, err := chromedp.Run(actx, check)
		acancel()
		switch {
		case err != nil:
			last = err
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
		case status == 0:
			p.t.Fatalf("%s: the page it led to has no HTTP status (it did not load): %s", what, p.text("body"))
		case status > 0:
			return status
		case status == -2 && again != nil:
			failingSince = time.Time{}
			if staleSince.IsZero() {
				staleSince = time.Now()
			} else if time.Since(staleSince) > staleClick {
				p.t.Logf("%s: the tab is still on the page it left (%s); following the link once more", what, p.targetURL())
				if err := again(); err != nil {
					p.t.Logf("%s: %v", what, err)
				}
				again = nil
			}
		default:
			failingSince = time.Time{}
		}
		// A renderer that crashed, or that answers nothing for half a
		// minute, is the browser's fault, not the page's: reload the tab once
		// (the browser process does that) and go on waiting. Our forms
		// redirect after a POST, so the address reloaded is a GET.
		if !reloaded && (p.crashes.Load() > 0 || (!failingSince.IsZero() && time.Since(failingSince) > 30*time.Second)) {
			reloaded = true
			p.t.Logf("%s: the tab stopped answering (renderer crashes: %d, last error: %v, at %s); reloading it", what, p.crashes.Load(), last, p.targetURL())
			p.crashes.Store(0)
			rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
			if _, err := chromedp.Call(rctx, cdppage.Reload, cdppage.ReloadParams{}); err != nil {
				p.t.Logf("%s: reload: %v", what, err)
			}
			rcancel()
			failingSince = time.Time{}
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("%s: no new page loaded (last error: %v; renderer crashes: %d; tab at %s; browser errors: %s)", what, last, p.crashes.Load(), p.targetURL(), p.browserErrs)
		case <-tick.C:
		}
	}
}

// targetURL asks the browser process, not the page, where the tab is: it
// answers when the page does not.
func (p *page) targetURL() string {
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	defer cancel()
	c := chromedp.FromContext(p.ctx)
	if c == nil || c.Target == nil {
		return "(no tab)"
	}
	infos, err := chromedp.Targets(ctx)
	if err != nil {
		return "(unknown: " + err.Error() + ")"
	}
	for _, in := range infos {
		if in.TargetID == c.Target.TargetID {
			return in.URL
		}
	}
	return "(tab not listed)"
}

// fill types v into the field sel, replacing what it held.
func (p *page) fill(sel, v string) {
	p.t.Helper()
	p.do(chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), v))
}

// eval runs a JavaScript expression in the page.
func eval[T any](p *page, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

func jsString(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// text returns the visible text of the first element sel, or "" when there is none.
func (p *page) text(sel string) string {
	p.t.Helper()
	v := eval[*string](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.innerText : null })()`)
	if v == nil {
		return ""
	}
	return *v
}

// texts returns the text of every element sel.
func (p *page) texts(sel string) []string {
	p.t.Helper()
	return eval[[]string](p, `[...document.querySelectorAll(`+jsString(sel)+`)].map(e => e.textContent.trim())`)
}

func (p *page) attr(sel, name string) string {
	p.t.Helper()
	v := eval[*string](p, `(() => { const e = document.querySelector(`+jsString(sel)+`); return e ? e.getAttribute(`+jsString(name)+`) : null })()`)
	if v == nil {
		return ""
	}
	return *v
}

func (p *page) exists(sel string) bool {
	p.t.Helper()
	return eval[bool](p, `document.querySelector(`+jsString(sel)+`) !== null`)
}

// path returns the path and query of the page's address.
func (p *page) path() string {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		p.t.Fatal(err)
	}
	return u.RequestURI()
}

// wantPath fails unless the page's address starts with prefix.
func (p *page) wantPath(prefix string) {
	p.t.Helper()
	if got := p.path(); !strings.HasPrefix(got, prefix) {
		p.t.Fatalf("page is %s, want %s…; it says: %s", got, prefix, p.text("main"))
	}
}

// screenshot saves the whole page at a narrow (phone) and a wide width.
func (p *page) screenshot(name string) {
	p.t.Helper()
	if p.shots == "" {
		return
	}
	for _, v := range []struct {
		width  int64
		height int64
		opts   []chromedp.EmulateViewportOption
	}{
		{narrowWidth, 844, []chromedp.EmulateViewportOption{chromedp.EmulateScale(2), chromedp.EmulateMobile}},
		{wideWidth, 900, nil},
	} {
		p.do(chromedp.EmulateViewport(v.width, v.height, v.opts...))
		png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
		if err != nil {
			p.t.Fatalf("screenshot %s: %v", name, err)
		}
		file := filepath.Join(p.shots, name+"-"+strconv.FormatInt(v.width, 10)+".png")
		if err := os.WriteFile(file, png, 0o644); err != nil {
			p.t.Fatal(err)
		}
	}
	p.do(chromedp.EmulateViewport(wideWidth, 900))
}

// download clicks sel, which must start a download, and returns the file's
// suggested name and content.
func (p *page) download(sel string) (string, []byte) {
	p.t.Helper()
	dir := p.t.TempDir()
	if _, err := chromedp.CallBrowser(p.ctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
		Behavior: browser.SetDownloadBehaviorBehaviorAllowAndName, DownloadPath: dir, EventsEnabled: new(true),
	}); err != nil {
		p.t.Fatalf("allow downloads: %v", err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	begins := chromedp.BrowserEvents(ctx, browser.DownloadWillBegin)
	progress := chromedp.BrowserEvents(ctx, browser.DownloadProgress)
	p.do(chromedp.Click(chromedp.CSS(sel)))
	var name, guid string
	for ev, err := range begins {
		if err != nil {
			p.t.Fatalf("download of %s did not begin: %v", sel, err)
		}
		name, guid = ev.SuggestedFilename, ev.GUID
		break
	}
	for ev, err := range progress {
		if err != nil {
			p.t.Fatalf("download of %s did not finish: %v", sel, err)
		}
		if ev.GUID != guid {
			continue
		}
		if ev.State == browser.DownloadProgressStateCanceled {
			p.t.Fatalf("download of %s was cancelled", sel)
		}
		if ev.State == browser.DownloadProgressStateCompleted {
			break
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, guid))
	if err != nil {
		p.t.Fatal(err)
	}
	return name, b
}

// media emulates a CSS media type ("print"), or stops emulating ("").
func (p *page) media(m string) {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{Media: m}); err != nil {
		p.t.Fatal(err)
	}
}

// cookies returns the browser's cookies for the server.
func (p *page) cookies() []*network.Cookie {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, network.GetCookies, network.GetCookiesParams{URLs: []string{p.base}})
	if err != nil {
		p.t.Fatal(err)
	}
	return res.Cookies
}

// TestBrowserHarnessCrash: when the tab's renderer crashes while a test
// waits for a page, the harness reloads the tab once and goes on, rather
// than waiting out the test's time on a tab that can no longer answer.
func TestBrowserHarnessCrash(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	p := newPage(t, ts.URL())
	if status := p.open("/login"); status != http.StatusOK {
		t.Fatalf("open /login: status %d", status)
	}
	p.do(chromedp.Evaluate[chromedp.Void]("window." + clickMark + " = true"))
	ctx, cancel := context.WithTimeout(p.ctx, 10*time.Second)
	_, _ = chromedp.Call(ctx, cdppage.Crash, cdp.Empty{}) // no answer comes from a crashed renderer
	cancel()
	if status := p.loaded("crash"); status != http.StatusOK {
		t.Errorf("after the crash: status %d", status)
	}
	if !p.exists("#username") {
		t.Errorf("after the crash the tab is at %s without the sign-in form", p.path())
	}
}
