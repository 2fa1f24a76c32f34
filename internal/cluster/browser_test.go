package cluster_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserAcrossInstances drives a real headless Chromium through a
// balancer that sends each request to the other instance than the one
// before (two `twofold serve` processes on one PostgreSQL database), with
// the browser's virtual authenticator as the security key: a sign-in, a
// key's registration, a sign-out, a sign-in with the key at the second
// step and a sign-out again, every page, form, script fetch and redirect
// of them landing on whichever instance its turn gives.
func TestBrowserAcrossInstances(t *testing.T) {
	chromium := chromiumPath(t)
	// The balancer's address, the pages' origin, comes before the
	// servers, whose relying party and links it is.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	origin := "http://localhost:" + port
	c := newCluster(t, testenv.PostgresDSN(t), 2, "--base-url", origin)
	lb := &balancer{}
	for _, n := range c.nodes {
		u, err := url.Parse(n.url)
		if err != nil {
			t.Fatal(err)
		}
		lb.to = append(lb.to, u)
	}
	srv := &http.Server{Handler: lb}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	c.addUser(t, "kim")

	p := newBrowser(t, chromium, origin)
	p.open("/login")
	p.authenticator()
	p.fill("#username", "kim")
	p.fill("#password", password)
	p.click(`button[type=submit]`)
	p.wantPath("/settings/security")

	// A key's registration: its options on one page, the key's answer
	// sent by webauthn.js to whichever instance comes next.
	p.fill("#key-label", "YubiKey")
	p.click("#add-key-button")
	if !p.exists("input[data-webauthn-create]") {
		t.Fatalf("no registration on the page: %s", p.text("main"))
	}
	p.submitKey("#webauthn-register")
	if n := p.count("#recovery-codes li"); n != 10 {
		t.Fatalf("after registering the key: %d recovery codes shown, want 10; page: %s", n, p.text("main"))
	}
	for range 2 { // the session and its key, on both instances
		p.open("/settings/security")
		if got := p.text(".factor .factor-label"); got != "YubiKey" {
			t.Fatalf("the security page lists %q, want the key: %s", got, p.text("main"))
		}
	}

	// Sign out, and in with the key at the second step.
	p.click(".nav-button")
	p.open("/login")
	p.fill("#username", "kim")
	p.fill("#password", password)
	p.click(`button[type=submit]`)
	p.wantPath("/login/verify")
	if !p.exists("input[data-webauthn-get]") {
		t.Fatalf("the second step offers no security key: %s", p.text("main"))
	}
	p.submitKey("#verify")
	p.wantPath("/settings/security")

	// Signed out on one instance, signed out on both.
	p.click(".nav-button")
	for range 2 {
		p.open("/settings/security")
		p.wantPath("/login")
	}
	lb.mu.Lock()
	t.Logf("the balancer sent %d requests to A and %d to B", lb.sent[0], lb.sent[1])
	lb.mu.Unlock()
}

// balancer is a reverse proxy that sends each request to the next of its
// instances in turn, keeping the Host the browser sent.
type balancer struct {
	to   []*url.URL
	mu   sync.Mutex
	next int
	sent [2]int
}

func (lb *balancer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lb.mu.Lock()
	i := lb.next
	lb.next = (lb.next + 1) % len(lb.to)
	lb.sent[i]++
	lb.mu.Unlock()
	target := lb.to[i]
	(&httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.SetURL(target)
		pr.Out.Host = pr.In.Host
	}}).ServeHTTP(w, r)
}

// chromiumPath returns the browser the test drives: $CHROMIUM, or Debian's
// chromium. Without one the test skips, except under CI, where it fails.
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
	tb.Skip("chromium is not installed; browser test skipped (apt-get install -y chromium)")
	return ""
}

// browser is one headless Chromium tab.
type browser struct {
	t    *testing.T
	ctx  context.Context
	base string
}

func newBrowser(t *testing.T, path, base string) *browser {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	t.Cleanup(cancel)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path), chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(cancelAlloc)
	bctx, cancelTab := chromedp.NewContext(actx)
	t.Cleanup(cancelTab)
	p := &browser{t: t, ctx: bctx, base: base}
	if err := chromedp.Do(bctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return p
}

// mark is a global that open and click set on the page before they leave
// it: the page they lead to lacks it.
const mark = "__twofoldBeforeClick"

func js(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

func eval[T any](p *browser, expr string) T {
	p.t.Helper()
	v, err := chromedp.Run(p.ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		p.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// loaded polls until the tab holds a new document (without mark) that
// has loaded; a check that fails while the old document goes away counts
// as "not yet".
func (p *browser) loaded(what string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(p.ctx, 2*time.Minute)
	defer cancel()
	check := chromedp.Evaluate[bool](`document.readyState === "complete" && !window.` + mark)
	for {
		actx, acancel := context.WithTimeout(ctx, 10*time.Second)
		ok, err := chromedp.Run(actx, check)
		acancel()
		if err == nil && ok {
			return
		}
		select {
		case <-ctx.Done():
			p.t.Fatalf("%s: no new page loaded (last error: %v)", what, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *browser) open(path string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void]("window."+mark+" = true; window.location.assign("+js(p.base+path)+")")); err != nil {
		p.t.Fatalf("open %s: %v", path, err)
	}
	p.loaded("open " + path)
}

func (p *browser) click(sel string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void]("window."+mark+" = true"), chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	p.loaded("click " + sel)
}

// submitKey clicks the button sel, whose form webauthn.js sends once the
// virtual key has answered, and waits for the page that leads to.
func (p *browser) submitKey(sel string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Evaluate[chromedp.Void]("window."+mark+" = true"), chromedp.Click(chromedp.CSS(sel))); err != nil {
		p.t.Fatalf("click %s: %v", sel, err)
	}
	ctx, cancel := context.WithTimeout(p.ctx, time.Minute)
	defer cancel()
	for !eval[bool](p, `(document.readyState === "complete" && !window.`+mark+`) || document.querySelector(".webauthn-error") !== null`) {
		select {
		case <-ctx.Done():
			p.t.Fatalf("after %s the page stayed: %s", sel, p.text("main"))
		case <-time.After(50 * time.Millisecond):
		}
	}
	if e := p.text(".webauthn-error"); e != "" {
		p.t.Fatalf("after %s the page says: %s", sel, e)
	}
}

func (p *browser) fill(sel, v string) {
	p.t.Helper()
	if err := chromedp.Do(p.ctx, chromedp.Clear(chromedp.CSS(sel)), chromedp.SendKeys(chromedp.CSS(sel), v)); err != nil {
		p.t.Fatalf("fill %s: %v", sel, err)
	}
}

func (p *browser) text(sel string) string {
	p.t.Helper()
	v := eval[*string](p, `(() => { const e = document.querySelector(`+js(sel)+`); return e ? e.innerText.trim() : null })()`)
	if v == nil {
		return ""
	}
	return *v
}

func (p *browser) count(sel string) int {
	p.t.Helper()
	return eval[int](p, `document.querySelectorAll(`+js(sel)+`).length`)
}

func (p *browser) exists(sel string) bool {
	p.t.Helper()
	return p.count(sel) > 0
}

func (p *browser) wantPath(prefix string) {
	p.t.Helper()
	loc, err := chromedp.Run(p.ctx, chromedp.Location())
	if err != nil {
		p.t.Fatal(err)
	}
	u, err := url.Parse(loc)
	if err != nil {
		p.t.Fatal(err)
	}
	if !strings.HasPrefix(u.Path, prefix) {
		p.t.Fatalf("page is %s, want %s…; it says: %s", u.Path, prefix, p.text("main"))
	}
}

// authenticator gives the tab a CDP virtual authenticator: a CTAP2 USB key
// that verifies its user and is touched at once.
func (p *browser) authenticator() {
	p.t.Helper()
	if _, err := chromedp.Call(p.ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		p.t.Fatalf("WebAuthn.enable: %v", err)
	}
	if _, err := chromedp.Call(p.ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportUsb,
		HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}}); err != nil {
		p.t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
}
