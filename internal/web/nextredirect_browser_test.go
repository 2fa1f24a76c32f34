package web_test

import (
	"net"
	"net/http"
	"net/url"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserNextStaysOnSite: the page a sign-in goes on to (?next=, and
// the form's next and return fields, all read by safePath) is a path of
// this site, however a link writes another: a whole URL, a
// scheme-relative one, backslashes (which browsers read as slashes), a
// scheme without slashes, %-encoded and double-encoded slashes, a tab and
// a line break. Chromium, signed in, opens /login?next=… (which goes on at
// once) and must stay on the server's host; evil.example answers, on
// 127.0.0.1, so that a redirect there would load.
func TestBrowserNextStaysOnSite(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "nadia", false, false)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	evil := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.Write([]byte("evil")) })}
	go evil.Serve(l)
	t.Cleanup(func() { evil.Close() })
	p := newPageWith(t, ts.URL(), []chromedp.ExecAllocatorOption{chromedp.Flag("host-resolver-rules", "MAP evil.example "+l.Addr().String())})
	p.open("/login")
	p.fill("#username", "nadia")
	p.fill("#password", testPassword)
	p.click(`form[action="/login"] button[type="submit"]`)
	p.wantPath("/settings/security")

	for _, next := range []string{
		"//evil.example/",
		`/\evil.example/`,
		`\\evil.example/`,
		"https:evil.example",
		"%2F%2Fevil.example",
		"/%5Cevil.example",
		"%252F%252Fevil.example",
		"/\t/evil.example",
		"/\r\n/evil.example",
		"/.//evil.example",
		"javascript:alert(1)",
		"http://evil.example/",
		"https://evil.example/", // last: a redirect there does not load at all
	} {
		p.open("/login?next=" + url.QueryEscape(next))
		loc := eval[string](p, "location.href")
		u, err := url.Parse(loc)
		if err != nil || u.Host != ts.Addr() {
			t.Errorf("next=%q led to %s, want a page of %s", next, loc, ts.Addr())
		}
	}
}
