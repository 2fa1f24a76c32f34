package testenv

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	urlpath "path"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Client is a JSON API client for tests.
type Client struct {
	Base  string
	Token string
	HTTP  *http.Client
	// Header is sent with every request.
	Header http.Header
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
	JSON   map[string]any
}

// NewClient returns a client for the server at base.
func NewClient(base string) *Client {
	return &Client{Base: base, HTTP: &http.Client{Timeout: 30 * time.Second}, Header: http.Header{}}
}

// Do sends a request with body encoded as JSON (a string is sent as is).
func (c *Client) Do(tb testing.TB, method, path string, body any) Response {
	tb.Helper()
	header := http.Header{}
	if body != nil {
		header.Set("Content-Type", "application/json")
	}
	if c.Token != "" {
		header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Header {
		header[k] = v
	}
	return Send(tb, c.HTTP, NewRequest(tb, method, c.Base+path, body, header))
}

// NewRequest returns a hand-made request to url, for tests that forge what
// a client says of itself or of its request (X-Forwarded-*, Forwarded, a
// Host other than the address dialled, a Cookie, any Content-Type). A
// string body is sent as is ("" for none), any other non-nil body as JSON;
// header holds every header sent (Content-Type too: none is added), and
// its "Host" entry, when there is one, is sent as the request's Host.
func NewRequest(tb testing.TB, method, url string, body any, header http.Header) *http.Request {
	tb.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		if b != "" {
			r = strings.NewReader(b)
		}
	default:
		j, err := json.Marshal(b)
		if err != nil {
			tb.Fatal(err)
		}
		r = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		tb.Fatal(err)
	}
	for k, v := range header {
		if http.CanonicalHeaderKey(k) == "Host" {
			req.Host = v[0]
			continue
		}
		req.Header[k] = v
	}
	return req
}

// Send sends req by hc (http.DefaultClient when nil) and returns the
// answer read whole; an answer that says it is JSON must be a JSON object.
func Send(tb testing.TB, hc *http.Client, req *http.Request) Response {
	tb.Helper()
	if hc == nil {
		hc = http.DefaultClient
	}
	res, err := hc.Do(req)
	if err != nil {
		tb.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	out := Response{Status: res.StatusCode, Header: res.Header}
	out.Body, err = io.ReadAll(res.Body)
	if err != nil {
		tb.Fatal(err)
	}
	if ct := res.Header.Get("Content-Type"); strings.Contains(ct, "json") && len(out.Body) > 0 {
		if err := json.Unmarshal(out.Body, &out.JSON); err != nil {
			tb.Fatalf("%s %s: response is not a JSON object: %v: %s", req.Method, req.URL.Path, err, out.Body)
		}
	}
	return out
}

// String returns a top-level string field of the response.
func (r Response) String(key string) string {
	s, _ := r.JSON[key].(string)
	return s
}

// Problem returns the last path element of a problem response's type.
func (r Response) Problem() string {
	t := r.String("type")
	return t[strings.LastIndex(t, "/")+1:]
}

// Details records the cause each problem detail was answered for, so that
// a test checks that answers tell their causes apart without comparing a
// sentence: a detail answered for two causes fails the test.
type Details map[string]string

// Add records detail as answered for cause, and fails tb (what names the
// request) when it was answered for another cause too.
func (d Details) Add(tb testing.TB, what, cause, detail string) {
	tb.Helper()
	if other, ok := d[detail]; ok && other != cause {
		tb.Errorf("%s: %s and %s both answered %q, want a detail telling which", what, other, cause, detail)
	}
	d[detail] = cause
}

// OATHTool runs the real oathtool with args and returns its first line of output.
func OATHTool(tb testing.TB, args ...string) string {
	tb.Helper()
	out, err := exec.Command("oathtool", args...).Output()
	if err != nil {
		tb.Fatalf("oathtool %v: %v (install it: apt-get install oathtool)", args, err)
	}
	return strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
}

// HOTP returns oathtool's HOTP code (RFC 4226) of the base32 secret at counter.
func HOTP(tb testing.TB, secret string, counter uint64, extra ...string) string {
	tb.Helper()
	return OATHTool(tb, append(append([]string{"-b", "--hotp", "-c", strconv.FormatUint(counter, 10)}, extra...), secret)...)
}

// TOTP returns the code oathtool computes for a base32 secret at t. extra
// holds options such as "--totp=sha256", "-d", "8", "-s", "60s"; without a
// --totp option, plain --totp (SHA1) is used.
func TOTP(tb testing.TB, secret string, t time.Time, extra ...string) string {
	tb.Helper()
	args := []string{"-b", "--now", t.UTC().Format("2006-01-02 15:04:05 UTC")}
	hasMode := false
	for _, e := range extra {
		hasMode = hasMode || strings.HasPrefix(e, "--totp")
	}
	if !hasMode {
		args = append(args, "--totp")
	}
	return OATHTool(tb, append(append(args, extra...), secret)...)
}

// Sendable reports whether req's request line is well formed as Go's
// client writes it: the client sends a query's bytes as they are, and one
// with a space or a byte outside printable ASCII makes a request line that
// Go's server refuses itself (400, in plain text) before any handler. Fuzz
// targets pass over such requests: no client that means it sends one.
func Sendable(req *http.Request) bool {
	for _, c := range []byte(req.URL.RawQuery) {
		if c <= ' ' || c >= 0x7f {
			return false
		}
	}
	return true
}

// ServedPath is the escaped path at which Go's ServeMux serves a request
// for u: the path cleaned as the mux cleans it (no "//", "." or ".."
// segments, a trailing slash kept), which it answers with a redirect that
// keeps the method and body (307), so that a browser posts the form again
// there, as the redirect's URL reads. A fuzz target that follows redirects
// tells what a form was about from this path, not the one it sent.
func ServedPath(u *url.URL) string {
	p := u.EscapedPath()
	if p == "" {
		return "/"
	}
	c := urlpath.Clean(p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	if c == p {
		return p
	}
	return (&url.URL{Path: c}).EscapedPath()
}
