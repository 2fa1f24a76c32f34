package web_test

import (
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// sent is what a browser sent with one request.
type sent struct {
	method, path, origin, fetchSite string
}

// recorder is a reverse proxy in front of a test server that keeps the
// method, path, Origin and Sec-Fetch-Site of every request it passes on,
// with the browser's Host unchanged.
type recorder struct {
	mu   sync.Mutex
	seen []sent
}

func (rec *recorder) requests() []sent {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]sent(nil), rec.seen...)
}

// startRecorder serves a recorder for ts on 127.0.0.1 and returns its port.
func startRecorder(t *testing.T, ts *testenv.Server) (*recorder, string) {
	t.Helper()
	target, err := url.Parse("http://" + ts.Addr())
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	rec := &recorder{}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.mu.Lock()
		rec.seen = append(rec.seen, sent{r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site")})
		rec.mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	_, port, _ := net.SplitHostPort(l.Addr().String())
	return rec, port
}

// TestSignInWithoutFetchMetadata: a browser that sends no Sec-Fetch-Site
// signs in with the pages' forms. Chromium sends it only to https and
// loopback origins, so a server reached over plain http at another
// address or name (--listen on a network address, an http:// --base-url)
// gets none, nor from browsers too old for Fetch Metadata; the
// cross-origin check then compares the form's Origin with the Host. Under
// Referrer-Policy no-referrer that Origin was "null", and every form,
// sign-in included, was refused; under same-origin it is the page's own.
// Chromium reaches the server as http://twofold.test (resolved to
// 127.0.0.1 by its --host-resolver-rules, so the test needs no network
// address of the machine) through a proxy that records what it sent, so
// that the test also checks its own premise.
func TestSignInWithoutFetchMetadata(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "nadia", false, false)
	rec, port := startRecorder(t, ts)
	base := "http://twofold.test:" + port
	p := newPageWith(t, base, []chromedp.ExecAllocatorOption{chromedp.Flag("host-resolver-rules", "MAP twofold.test 127.0.0.1")})
	if status := p.open("/login"); status != http.StatusOK {
		t.Fatalf("GET /login: status %d", status)
	}
	p.fill("#username", "nadia")
	p.fill("#password", testPassword)
	p.click(`form[action="/login"] button[type="submit"]`)
	p.wantPath("/settings/security")

	var posts []sent
	for _, s := range rec.requests() {
		if s.method == http.MethodPost {
			posts = append(posts, s)
		}
	}
	if len(posts) != 1 || posts[0].path != "/login" {
		t.Fatalf("the browser sent %+v, want one POST /login", posts)
	}
	if posts[0].fetchSite != "" {
		t.Fatalf("the sign-in came with Sec-Fetch-Site %q: the browser sends it to %s, so this test no longer tests its absence", posts[0].fetchSite, base)
	}
	if posts[0].origin != base {
		t.Errorf("the sign-in came with Origin %q, want %q", posts[0].origin, base)
	}
}
