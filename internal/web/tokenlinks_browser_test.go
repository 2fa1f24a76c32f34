package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	cdppage "github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// refererLog is another site, on an origin of its own, that keeps the
// Referer of every request it gets (but its icon's).
type refererLog struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string
}

func newRefererLog(t *testing.T) *refererLog {
	t.Helper()
	l := &refererLog{}
	l.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/favicon.ico" {
			http.NotFound(w, r)
			return
		}
		l.mu.Lock()
		l.seen = append(l.seen, r.URL.Path+" Referer: "+r.Header.Get("Referer"))
		l.mu.Unlock()
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte("<!doctype html><title>elsewhere</title><p>another site"))
	}))
	t.Cleanup(l.Close)
	return l
}

// referers returns what the site got: each request's path and Referer.
func (l *refererLog) referers() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.seen...)
}

// history returns the URLs of the tab's history (its back and forward
// list).
func (p *page) history() []string {
	p.t.Helper()
	res, err := chromedp.Call(p.ctx, cdppage.GetNavigationHistory, cdp.Empty{})
	if err != nil {
		p.t.Fatal(err)
	}
	var urls []string
	for _, e := range res.Entries {
		urls = append(urls, e.URL)
	}
	return urls
}

// TestBrowserTokenLinksLeaveNoTrace: in Chromium, the first run's setup
// link and a mailed password-reset link, once opened, leave their token in
// neither the tab's history nor the address bar; leaving the page they
// lead to for another site (a link followed, an address typed), and
// leaving the error page a used link shows at the link's own address,
// sends that site no Referer; and the server, logging at debug level, logs
// neither token nor any cookie the browser was given.
func TestBrowserTokenLinksLeaveNoTrace(t *testing.T) {
	const password = "correct horse battery staple"
	var logs testenv.Buffer
	mb := testenv.NewSMTPServer(t)
	ts := testenv.NewLoggedServer(t, testenv.SQLiteDSN(t), slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		mb.Option("Twofold <twofold@example.com>"))
	other := newRefererLog(t)
	p := newPage(t, ts.URL())

	// noTrace checks that the tab is at path, and that neither its history
	// nor what another site is sent holds token.
	noTrace := func(what, token, path string) {
		t.Helper()
		p.wantPath(path)
		for _, u := range p.history() {
			if strings.Contains(u, token) {
				t.Errorf("%s: the tab's history holds the token: %q", what, u)
			}
		}
		n := len(other.referers())
		p.open(other.URL + "/from-" + strings.ReplaceAll(what, " ", "-"))
		got := other.referers()
		if len(got) != n+1 || !strings.HasSuffix(got[n], " Referer: ") {
			t.Errorf("%s: another site got %q, want one request without a Referer", what, got[n:])
		}
		p.open(path) // back to the page, by its cookie
	}

	setupToken := ts.SetupURL[strings.LastIndex(ts.SetupURL, "/")+1:]
	if st := p.open(ts.SetupURL); st != 200 {
		t.Fatalf("setup link: status %d", st)
	}
	noTrace("setup link", setupToken, "/setup")
	p.fill("#username", "alice")
	p.fill("#email", "alice@example.com")
	p.fill("#password", password)
	p.fill("#password2", password)
	p.click(`button[type=submit]`)
	p.wantPath("/settings/security")
	cookies := p.cookies()

	// A password reset, asked for from the sign-in page when signed out.
	p.click(".nav-button")
	p.wantPath("/login")
	p.click("#forgot-password")
	p.fillAndSubmit("#username", "alice", "#send-link")
	link := resetLinkPath(t, ts, mb, 1)
	resetToken := strings.TrimPrefix(link, "/password-reset/")
	if st := p.open(link); st != 200 {
		t.Fatalf("reset link: status %d", st)
	}
	noTrace("reset link", resetToken, "/new-password")
	cookies = append(cookies, p.cookies()...)
	p.fill("#password", "a brand new passphrase")
	p.fillAndSubmit("#password2", "a brand new passphrase", "#set-password")
	p.wantPath("/login?m=password_reset")

	// The used link shows an error page at its own address: that page too
	// sends another site no Referer.
	if st := p.open(link); st != http.StatusGone {
		t.Fatalf("the used link: status %d, want 410", st)
	}
	n := len(other.referers())
	p.open(other.URL + "/from-used-link")
	if got := other.referers(); len(got) != n+1 || !strings.HasSuffix(got[n], " Referer: ") {
		t.Errorf("from the used link's page, another site got %q, want one request without a Referer", got[n:])
	}

	text := logs.String()
	if !strings.Contains(text, "level=DEBUG") {
		t.Fatalf("the server logged nothing at debug level:\n%s", text)
	}
	secrets := map[string]string{"the setup token": setupToken, "the reset token": resetToken, "the password": password}
	for _, c := range cookies {
		if len(c.Value) >= 8 {
			secrets["cookie "+c.Name] = c.Value
		}
	}
	for what, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the log holds %s", what)
		}
	}
}
