package httpapi_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// fuzzServer is a whole-server fuzz target's server on dsn: its log goes
// to logs through testenv.CodeSafeLogger, its mail to a test SMTP server,
// and it has no per-address login bucket, so that every input is answered.
func fuzzServer(f *testing.F, dsn string, logs *testenv.Buffer, opts ...testenv.ServerOption) (*testenv.Server, *testenv.SMTPServer) {
	mb := testenv.NewSMTPServer(f)
	return fuzzServerVia(f, dsn, logs, mb, opts...), mb
}

// fuzzServerVia is fuzzServer with its mail to mb.
func fuzzServerVia(f *testing.F, dsn string, logs *testenv.Buffer, mb *testenv.SMTPServer, opts ...testenv.ServerOption) *testenv.Server {
	opts = append(opts, mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.LoginRate = 0 })
	return testenv.NewLoggedServer(f, dsn, testenv.CodeSafeLogger(logs), opts...)
}

// dropAccount deletes account id ("" for none), which a fuzz target made
// and now makes anew: so that the database, which each input snapshots
// twice, stays as small as at the start. Left in place, the accounts of a
// few thousand inputs, with their factors, keys and sessions, make every
// snapshot slower. One deleted by the input already is passed over.
func dropAccount(t testing.TB, s *testenv.Server, id string) {
	t.Helper()
	if id == "" {
		return
	}
	if err := s.Store.DeleteAccount(context.Background(), id, s.Clock.Now()); err != nil && twofold.ErrorCode(err) != twofold.CodeNotFound {
		t.Fatal(err)
	}
}

// holderWithApp adds the account name with an app, Phone, and returns the
// session that enrolled it, elevated by confirming it, and one signed in
// before it, so never elevated.
func holderWithApp(t testing.TB, s *testenv.Server, name string) (elevated, other *testenv.Client, phone enrolled) {
	addUser(t, s, name)
	other = login(t, s, name)
	elevated = login(t, s, name)
	phone = enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"})
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

// pathRequest is a request of method to pattern on s with body, sent by
// c (asCaller), where "{id}" in pattern stands for id, and the id as the
// server reads it (its path segment, unescaped). ok is false for a request
// no client could send, and for one whose path the server would clean or
// split so that another route serves it.
func pathRequest(s *testenv.Server, method, pattern, id, body string, c *testenv.Client) (req *http.Request, named string, ok bool) {
	prefix, suffix, withID := strings.Cut(pattern, "{id}")
	if withID {
		pattern = prefix + id + suffix
	}
	req, err := http.NewRequest(method, s.URL()+pattern, strings.NewReader(body))
	if err != nil || !testenv.Sendable(req) {
		return nil, "", false
	}
	if withID {
		shape := []string{""}
		if suffix != "" {
			shape = append(shape, strings.Split(strings.TrimPrefix(suffix, "/"), "/")...)
		}
		if named, ok = adminSegment(req.URL, prefix, shape); !ok {
			return nil, "", false
		}
	}
	asCaller(req, c)
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

// asCaller marks req as JSON sent by c: its session token as a Bearer, or
// its key as HTTP Basic.
func asCaller(req *http.Request, c *testenv.Client) {
	req.Header.Set("Content-Type", "application/json")
	if c.Token != "" {
		req.Header.Set("Authorization", "Bearer "+c.Token)
	}
	for k, v := range c.Header {
		req.Header[k] = v
	}
}

// sendJudged sends req without following redirects, with every counter
// and rationing bucket cleared first (what they count is other tests'),
// and waits for the server's queued work. It fails t on a server error;
// on a refusal (300 or more) it fails t unless the answer is problem+json
// of its status or a redirect and nothing was written, and returns ok
// false. Else it returns the answer and the database's change
// (testenv.Snapshot.Diff). input names the request in failures.
func sendJudged(t *testing.T, s *testenv.Server, snaps *testenv.Snapshots, dsn string, req *http.Request, input string) (r testenv.Response, d string, ok bool) {
	t.Helper()
	if _, err := s.Store.ResetThrottlePrefix(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	testenv.Exec(t, dsn, `DELETE FROM rate_buckets`)
	before := snaps.Take(t)
	r = testenv.Send(t, unredirected, req)
	if r.Status >= 500 {
		t.Fatalf("%s: %d %s", input, r.Status, r.Body)
	}
	s.Service.Wait()
	d = before.Diff(snaps.Take(t))
	if r.Status >= 300 {
		wantRefusal(t, r, input)
		if d != "" {
			t.Fatalf("%s: refused (%d %s), but the database changed:\n%s", input, r.Status, r.Body, d)
		}
		return r, d, false
	}
	return r, d, true
}

// rowsOf fails t unless every line of the change d holds one of marks
// (an account's or a team's id, a zone's name), or is mail queued.
func rowsOf(t *testing.T, input, d string, marks ...string) {
	t.Helper()
	for _, l := range strings.Split(strings.TrimSpace(d), "\n") {
		if l == "" || strings.HasPrefix(l, "+ mail queued") || slices.ContainsFunc(marks, func(m string) bool { return m != "" && strings.Contains(l, m) }) {
			continue
		}
		t.Fatalf("%s: a row not of %q changed: %s\n%s", input, marks, l, d)
	}
}

// fuzzKey makes an API key with permits through c, a session, and uses
// it once (a key's last use is written once a minute at most: so before
// any snapshot), and returns a client that sends it, and its id.
func fuzzKey(t testing.TB, s *testenv.Server, c *testenv.Client, permits ...string) (*testenv.Client, string) {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/api-keys", keyRequest("fuzz", nil, permits...))
	if r.Status != 201 {
		t.Fatalf("make a key: %d %s", r.Status, r.Body)
	}
	id := r.JSON["api_key"].(map[string]any)["id"].(string)
	k := keyClient(s, id, r.String("secret"))
	if r := k.Do(t, "GET", "/v1/me", nil); r.Status == 401 {
		t.Fatalf("key %s: %d %s", id, r.Status, r.Body)
	}
	return k, id
}

// operatorWithApp adds the operator name with an app, and returns the
// session that enrolled it, elevated by confirming it, one signed in
// before it, so never elevated nor past a second factor, and the
// account's id.
func operatorWithApp(t testing.TB, s *testenv.Server, name string) (elevated, other *testenv.Client, id string) {
	t.Helper()
	a, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: name, Email: name + "@example.com", Password: password, Operator: true}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	other = login(t, s, name)
	elevated = login(t, s, name)
	enrol(t, s, elevated, map[string]any{"type": "totp", "label": "Phone"})
	return elevated, other, a.ID
}

// operatorCallers adds alice, an operator with an app, and bob, no
// operator, and returns the callers of a fuzz target about the operator
// API: alice's elevated session, another of hers never elevated, a key of
// hers for each of keys' permits, and bob's session.
func operatorCallers(f *testing.F, s *testenv.Server, keys [][]string) []*testenv.Client {
	elevated, other, _ := operatorWithApp(f, s, "alice")
	addUser(f, s, "bob")
	callers := []*testenv.Client{elevated, other}
	for _, permits := range keys {
		k, _ := fuzzKey(f, s, elevated, permits...)
		callers = append(callers, k)
	}
	return append(callers, login(f, s, "bob"))
}
