package httpapi_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/testenv"
)

// fuzzServer is a whole-server fuzz target's server on dsn: its log goes
// to logs through testenv.CodeSafeLogger, its mail to a test SMTP server,
// and it has no per-address login bucket, so that every input is answered.
func fuzzServer(f *testing.F, dsn string, logs *testenv.Buffer, opts ...testenv.ServerOption) (*testenv.Server, *testenv.SMTPServer) {
	mb := testenv.NewSMTPServer(f)
	opts = append(opts, mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.LoginRate = 0 })
	return testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(logs), opts...), mb
}

// holderWithApp adds the account name with an app, Phone, and returns the
// session that enrolled it, elevated by confirming it, and one signed in
// before it, so never elevated.
func holderWithApp(f *testing.F, s *testenv.Server, name string) (elevated, other *testenv.Client, phone enrolled) {
	addUser(f, s, name)
	other = login(f, s, name)
	elevated = login(f, s, name)
	phone = enrol(f, s, elevated, map[string]any{"type": "totp", "label": "Phone"})
	return elevated, other, phone
}

// idRequest is a POST of body, as JSON, to prefix+id+suffix of s by the
// session token, and the id as the server reads it (the path's segment,
// unescaped); ok is false for an id that makes no URL a client could send.
func idRequest(s *testenv.Server, prefix, id, suffix, body, token string) (req *http.Request, named string, ok bool) {
	req, err := http.NewRequest("POST", s.URL()+prefix+id+suffix, strings.NewReader(body))
	if err != nil || !testenv.Sendable(req) {
		return nil, "", false
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	named, _ = url.PathUnescape(strings.TrimSuffix(strings.TrimPrefix(req.URL.EscapedPath(), prefix), suffix))
	return req, named, true
}

// unredirected sends requests without following redirects: a path the
// server cleans is answered with one.
var unredirected = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// wantRefusal fails t unless r, an answer to input that is not a 200, is
// problem+json of its status or a redirect with a Location.
func wantRefusal(t *testing.T, r testenv.Response, input string) {
	t.Helper()
	if r.Status >= 300 && r.Status < 400 {
		if r.Header.Get("Location") == "" {
			t.Fatalf("%s: answered %d without a Location", input, r.Status)
		}
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" || r.JSON["status"] != float64(r.Status) {
		t.Fatalf("%s: refused as %d (%s): %s", input, r.Status, ct, r.Body)
	}
}
