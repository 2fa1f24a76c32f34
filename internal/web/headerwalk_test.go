package web_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
)

// TestEveryPageSendsSafetyHeaders walks every GET route of the pages as a
// signed-in operator and as a visitor, each answer on its own (redirects
// not followed), and wants from each the pages' safety headers: the strict
// CSP (scripts of the site itself, no inline script, no framing), the
// framing, referrer and type headers, and no-store, as on the sign-in page
// (TestSafetyHeaders); and in each HTML answer no inline script, event
// handler attribute, inline style or javascript: link, which that CSP
// would block or which would need it loosened. A route added later is
// walked too.
func TestEveryPageSendsSafetyHeaders(t *testing.T) {
	ts, _, op := operatorFixture(t)
	nina := userID(t, ts, "nina")
	if _, err := ts.Service.AddZone(t.Context(), "example.com", "opal", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"X-Content-Type-Options":  "nosniff",
		"Cache-Control":           "no-store",
	}
	values := strings.NewReplacer("{id}", nina, "{zone}", "example.com", "{token}", "x", "{key}", "x", "{$}", "")
	anon := newClient(t, ts.URL())
	anon.get("/login")
	n := 0
	for pattern := range pageRoutes(t, ts) {
		method, path, _ := strings.Cut(pattern, " ")
		if method != http.MethodGet {
			continue
		}
		n++
		path = values.Replace(path)
		if path == "/static/" {
			path = "/static/nothing.css" // a file of static/ itself may be cached (TestCacheControl)
		}
		for who, c := range map[string]*client{"signed in": op, "signed out": anon} {
			raw := *c.http
			raw.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
			res, err := raw.Get(ts.URL() + path)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range want {
				if got := res.Header.Get(k); got != v {
					t.Errorf("GET %s (%s, %d): %s %q, want %q", path, who, res.StatusCode, k, got, v)
				}
			}
			if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
				if m := inlineCode(string(body)); m != "" {
					t.Errorf("GET %s (%s, %d): %q in the page, which the CSP forbids", path, who, res.StatusCode, m)
				}
			}
		}
	}
	if n < 60 {
		t.Errorf("walked %d GET routes, want at least 60", n)
	}
}

// inlineAttr matches an event handler attribute, an inline style or a
// javascript: link in a page.
var inlineAttr = regexp.MustCompile(`(?i)\son[a-z]+\s*=|\sstyle\s*=|javascript:`)

// inlineCode returns the first thing in body that the pages' CSP forbids
// (a script that is not one of the site's static files, an event handler
// attribute, an inline style, a javascript: link), or "".
func inlineCode(body string) string {
	for rest := body; strings.Contains(rest, "<script"); {
		rest = rest[strings.Index(rest, "<script"):]
		tag, _, _ := strings.Cut(rest, ">")
		if !strings.Contains(tag, ` src="/static/`) || !strings.HasPrefix(rest[len(tag):], "></script>") {
			return tag
		}
		rest = rest[len(tag):]
	}
	return inlineAttr.FindString(body)
}
