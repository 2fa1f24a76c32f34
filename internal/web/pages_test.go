package web_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"html"
	"io"
	"io/fs"
	"maps"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// client is a cookie-keeping HTTP client that fills in the CSRF token, like
// a browser without JavaScript.
type client struct {
	t    testing.TB
	base string
	http *http.Client
	csrf string
}

func newClient(t testing.TB, base string) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &client{t: t, base: base, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// reply is a page as the client got it.
type reply struct {
	status int
	header http.Header
	body   string
	url    *url.URL // after redirects
	method string   // of the last request, after redirects
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (c *client) do(req *http.Request) reply {
	c.t.Helper()
	res, err := c.http.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		c.csrf = m[1]
	}
	return reply{status: res.StatusCode, header: res.Header, body: string(b), url: res.Request.URL, method: res.Request.Method}
}

func (c *client) get(path string) reply {
	c.t.Helper()
	return c.do(testenv.NewRequest(c.t, "GET", c.base+path, nil, nil))
}

// post sends a form with the client's CSRF token (fetching a page first
// when it has none yet).
func (c *client) post(path string, form url.Values) reply {
	c.t.Helper()
	if c.csrf == "" {
		c.get("/login")
	}
	if form.Get("csrf") == "" {
		form.Set("csrf", c.csrf)
	}
	return c.postRaw(path, form, nil)
}

func (c *client) postRaw(path string, form url.Values, header http.Header) reply {
	c.t.Helper()
	h := http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}
	for k, v := range header {
		h[k] = v
	}
	return c.do(testenv.NewRequest(c.t, "POST", c.base+path, form.Encode(), h))
}

const testPassword = "correct horse battery staple"

// account creates a user; with totp, it also enrols and confirms a TOTP
// factor through the core and returns its secret.
func account(t testing.TB, ts *testenv.Server, username string, operator, totp bool) string {
	t.Helper()
	ctx := context.Background()
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: username, Password: testPassword, Operator: operator}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if !totp {
		return ""
	}
	return enrolPhone(t, ts, username).secret
}

func (c *client) signIn(username string) reply {
	c.t.Helper()
	return c.post("/login", url.Values{"username": {username}, "password": {testPassword}})
}

// totp sends the second step with the code of secret at ts's clock.
func (c *client) totp(ts *testenv.Server, secret string) reply {
	c.t.Helper()
	return c.post("/login/verify", url.Values{"method": {"totp"}, "code": {testenv.TOTP(c.t, secret, ts.Clock.Now())}})
}

// signInWithCode signs username in with the password and a code from
// secret, and fails unless that lands on the security settings.
func (c *client) signInWithCode(ts *testenv.Server, username, secret string) {
	c.t.Helper()
	c.signIn(username)
	if r := c.totp(ts, secret); r.url.Path != "/settings/security" {
		c.t.Fatalf("%s's second step: at %s: %s", username, r.url, pageError(r.body))
	}
}

// signedIn makes username an account with TOTP (an operator when operator
// is true) and returns its secret and a client signed in with a code.
func signedIn(t testing.TB, ts *testenv.Server, username string, operator bool) (string, *client) {
	t.Helper()
	secret := account(t, ts, username, operator, true)
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, username, secret)
	return secret, c
}

func TestSafetyHeaders(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	c := newClient(t, ts.URL())
	r := c.get("/login")
	if r.status != 200 {
		t.Fatalf("GET /login: %d", r.status)
	}
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'self'; img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Frame-Options":         "DENY",
		"Referrer-Policy":         "same-origin",
		"Cache-Control":           "no-store",
		"X-Content-Type-Options":  "nosniff",
	}
	for k, v := range want {
		if got := r.header.Get(k); got != v {
			t.Errorf("%s: got %q, want %q", k, got, v)
		}
	}
	// Scripts only from this site's static files (the security keys' one,
	// on the pages that use a key): no inline script or style, which the
	// CSP forbids.
	if m := inlineCode(r.body); m != "" {
		t.Errorf("the login page has %q, which the CSP forbids", m)
	}
	if !strings.Contains(r.body, `<meta name="viewport"`) {
		t.Error("the page has no viewport meta")
	}
	if r := c.get("/static/"); r.status != http.StatusNotFound {
		t.Errorf("GET /static/: status %d, want 404 (no folder listing)", r.status)
	}
	css := c.get("/static/style.css")
	if css.status != 200 || !strings.HasPrefix(css.header.Get("Content-Type"), "text/css") {
		t.Errorf("stylesheet: %d %s", css.status, css.header.Get("Content-Type"))
	}
}

// TestCacheControl: only a static file may be kept by a cache; every other
// answer, a 404 under /static/ included (it shows the visitor's menu and a
// CSRF token), is no-store.
func TestCacheControl(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, c := signedIn(t, ts, "sam", false)
	for _, tc := range []struct {
		path   string
		status int
		want   string
	}{
		{"/static/style.css", http.StatusOK, "public, max-age=3600"},
		{"/static/x.css", http.StatusNotFound, "no-store"},
		{"/static/", http.StatusNotFound, "no-store"},
		{"/static/style.css/", http.StatusNotFound, "no-store"},
		{"/static", http.StatusNotFound, "no-store"},
		{"/nowhere", http.StatusNotFound, "no-store"},
		{"/settings/security", http.StatusOK, "no-store"},
	} {
		r := c.get(tc.path)
		if r.status != tc.status || r.header.Get("Cache-Control") != tc.want {
			t.Errorf("GET %s: status %d, Cache-Control %q; want %d, %q", tc.path, r.status, r.header.Get("Cache-Control"), tc.status, tc.want)
		}
	}
	if r := c.post("/static/style.css", url.Values{}); r.status != http.StatusMethodNotAllowed || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("POST /static/style.css: status %d, Cache-Control %q; want 405, no-store", r.status, r.header.Get("Cache-Control"))
	}
}

// TestStaticVersioned: a page links to each of its scripts and its
// stylesheet with a hash of the file's content, so that a browser holding
// an older release's copy fetches the new one; that link may be kept for
// a year, the file under any other version for an hour.
func TestStaticVersioned(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	c := newClient(t, ts.URL())
	page := c.get("/login").body
	for _, name := range []string{"style.css", "once.js", "tablebox.js", "webauthn.js"} {
		b, err := fs.ReadFile(os.DirFS("static"), name)
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256(b)
		link := "/static/" + name + "?v=" + hex.EncodeToString(sum[:6])
		if !strings.Contains(page, `"`+link+`"`) {
			t.Errorf("the login page does not link to %s", link)
			continue
		}
		for _, tc := range []struct{ path, want string }{
			{link, "public, max-age=31536000, immutable"},
			{"/static/" + name, "public, max-age=3600"},
			{"/static/" + name + "?v=000000000000", "public, max-age=3600"},
		} {
			r := c.get(tc.path)
			if r.status != http.StatusOK || r.header.Get("Cache-Control") != tc.want || r.body != string(b) {
				t.Errorf("GET %s: status %d, Cache-Control %q, %d bytes; want 200, %q, the file (%d bytes)",
					tc.path, r.status, r.header.Get("Cache-Control"), len(r.body), tc.want, len(b))
			}
		}
	}
}

// TestStrictTransportSecurity: with an https base URL every answer of the
// pages, a static file and an error page too, tells the browser to come
// back over https only, for a year; on plain http it is not sent.
func TestStrictTransportSecurity(t *testing.T) {
	for _, tc := range []struct {
		name, base, want string
	}{
		{"plain http", "", ""},
		{"https base url", "https://twofold.example", "max-age=31536000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testenv.NewServer(t, testenv.SQLiteDSN(t), func(c *config.Config) { c.BaseURL = tc.base })
			c := newClient(t, "http://"+ts.Addr())
			for _, path := range []string{"/login", "/static/style.css", "/static/x.css", "/nowhere"} {
				if got := c.get(path).header.Get("Strict-Transport-Security"); got != tc.want {
					t.Errorf("GET %s: Strict-Transport-Security %q, want %q", path, got, tc.want)
				}
			}
		})
	}
}

func TestCSRF(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	form := url.Values{"username": {"alice"}, "password": {testPassword}}
	for _, tc := range []struct {
		name   string
		csrf   string
		header http.Header
	}{
		{"no token", "", nil},
		{"wrong token", "forged", nil},
		{"cross-site", "", http.Header{"Sec-Fetch-Site": {"cross-site"}}},
		{"other origin", "", http.Header{"Origin": {"https://evil.example"}}},
		{"other origin over http", "", http.Header{"Origin": {"http://evil.example"}}},
		// An opaque origin (a sandboxed frame, a data: page, a site whose
		// Referrer-Policy is no-referrer): the pages' own forms never send
		// it, as theirs is same-origin (TestSignInWithoutFetchMetadata).
		{"null origin", "", http.Header{"Origin": {"null"}}},
		{"null origin, cross-site", "", http.Header{"Origin": {"null"}, "Sec-Fetch-Site": {"cross-site"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newClient(t, ts.URL())
			c.get("/login")
			f := url.Values{}
			for k, v := range form {
				f[k] = v
			}
			switch tc.csrf {
			case "":
				if tc.header != nil {
					f.Set("csrf", c.csrf) // a valid token; the origin check must still refuse
				}
			default:
				f.Set("csrf", tc.csrf)
			}
			r := c.postRaw("/login", f, tc.header)
			if r.status != http.StatusForbidden {
				t.Errorf("status %d, want 403", r.status)
			}
			if r.url.Path != "/login" || strings.Contains(r.body, "Sign out") {
				t.Errorf("the forged form signed in: now at %s", r.url)
			}
		})
	}
	// A token from another browser does not fit this one's cookie.
	other := newClient(t, ts.URL())
	other.get("/login")
	c := newClient(t, ts.URL())
	c.get("/login")
	f := url.Values{"username": {"alice"}, "password": {testPassword}, "csrf": {other.csrf}}
	if r := c.postRaw("/login", f, nil); r.status != http.StatusForbidden {
		t.Errorf("another browser's token: status %d, want 403", r.status)
	}
	// With its own token the same form works.
	if r := c.signIn("alice"); r.status != 200 || r.url.Path != "/settings/security" {
		t.Errorf("sign-in with a valid token: %d at %s", r.status, r.url)
	}
}

// httpsJar keeps cookies as a browser does behind a TLS-terminating proxy:
// the pages are https to it, so Secure cookies go back over the test's
// plain-http connection.
type httpsJar struct{ http.CookieJar }

func asHTTPS(u *url.URL) *url.URL {
	v := *u
	v.Scheme = "https"
	return &v
}

func (j httpsJar) SetCookies(u *url.URL, cs []*http.Cookie) { j.CookieJar.SetCookies(asHTTPS(u), cs) }
func (j httpsJar) Cookies(u *url.URL) []*http.Cookie        { return j.CookieJar.Cookies(asHTTPS(u)) }

// TestCookieNames: on plain http (development on 127.0.0.1) the cookies
// have plain names; with an https base URL they are Secure and prefixed,
// "__Host-" for those of the whole site (Path=/, no Domain) and "__Secure-"
// for those of narrower Path, so that browsers refuse them from a sibling
// subdomain or a plain-http answer. Each mode reads only its own names: a
// session or CSRF cookie planted under the other name is not taken. All
// are HttpOnly and SameSite=Lax.
func TestCookieNames(t *testing.T) {
	for _, tc := range []struct {
		name   string
		base   string
		secure bool
	}{
		{"plain http", "", false},
		{"behind tls proxy", "https://twofold.example", true},
		{"scheme in upper case", "HTTPS://twofold.example", true}, // schemes know no case (RFC 3986 §3.1)
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := testenv.NewServer(t, testenv.SQLiteDSN(t), func(c *config.Config) { c.BaseURL = tc.base })
			secret := account(t, ts, "alice", false, true)
			wire := func(name, path string) string {
				switch {
				case !tc.secure:
					return name
				case path == "/":
					return "__Host-" + name
				}
				return "__Secure-" + name
			}
			other := func(name, path string) string { // the name of the other mode
				if tc.secure {
					return name
				}
				return "__Host-" + name
			}

			c := newClient(t, "http://"+ts.Addr())
			if tc.secure {
				c.http.Jar = httpsJar{c.http.Jar}
			}
			// Every cookie set on the way in, redirects included: its name,
			// path and flags.
			set := map[string]*http.Cookie{}
			recordHeader := func(h http.Header) {
				for _, line := range h.Values("Set-Cookie") {
					k, err := http.ParseSetCookie(line)
					if err != nil {
						t.Fatalf("Set-Cookie %q: %v", line, err)
					}
					set[k.Name] = k
					if !strings.Contains(line, "HttpOnly") || !strings.Contains(line, "SameSite=Lax") || k.Secure != tc.secure || k.Domain != "" {
						t.Errorf("cookie %q: want HttpOnly, SameSite=Lax, Secure %v, no Domain", line, tc.secure)
					}
				}
			}
			c.http.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
				recordHeader(req.Response.Header)
				return nil
			}
			record := func(r reply) { recordHeader(r.header) }
			record(c.get("/login"))
			record(c.signIn("alice"))
			r := c.totp(ts, secret)
			record(r)
			if r.url.Path != "/settings/security" {
				t.Fatalf("signing in: at %s: %s", r.url, pageError(r.body))
			}
			for _, want := range []struct{ name, path string }{
				{"twofold_csrf", "/"}, {"twofold_login", "/login"}, {"twofold_session", "/"},
			} {
				k := set[wire(want.name, want.path)]
				if k == nil {
					t.Errorf("no cookie %s among %v", wire(want.name, want.path), slices.Collect(maps.Keys(set)))
					continue
				}
				if k.Path != want.path {
					t.Errorf("cookie %s: path %q, want %q", k.Name, k.Path, want.path)
				}
				if k.Secure != tc.secure {
					t.Errorf("cookie %s: Secure %v, want %v", k.Name, k.Secure, tc.secure)
				}
				if _, ok := set[other(want.name, want.path)]; ok {
					t.Errorf("cookie %s is set too", other(want.name, want.path))
				}
			}

			// A valid session under its own name is taken; under the other
			// mode's name it is not.
			account(t, ts, "bob", false, false)
			token := loginToken(t, ts, "bob")
			for name, want := range map[string]string{wire("twofold_session", "/"): "/settings/security", other("twofold_session", "/"): "/login"} {
				req, err := http.NewRequest("GET", "http://"+ts.Addr()+"/settings/security", nil)
				if err != nil {
					t.Fatal(err)
				}
				req.AddCookie(&http.Cookie{Name: name, Value: token})
				if r := newClient(t, "http://"+ts.Addr()).do(req); r.url.Path != want {
					t.Errorf("session cookie %s: at %s, want %s", name, r.url.Path, want)
				}
			}

			// A CSRF cookie planted under the other mode's name, with the
			// token that fits its value, does not make a form valid: the
			// login form (login CSRF, into the planter's account) is refused.
			planter := newClient(t, "http://"+ts.Addr())
			if tc.secure {
				planter.http.Jar = httpsJar{planter.http.Jar}
			}
			planter.get("/login")
			var value string
			u, _ := url.Parse("https://" + ts.Addr() + "/login")
			for _, k := range planter.http.Jar.Cookies(u) {
				if k.Name == wire("twofold_csrf", "/") {
					value = k.Value
				}
			}
			if value == "" {
				t.Fatal("the planter has no CSRF cookie")
			}
			form := url.Values{"username": {"alice"}, "password": {testPassword}, "csrf": {planter.csrf}}
			for name, want := range map[string]int{wire("twofold_csrf", "/"): http.StatusOK, other("twofold_csrf", "/"): http.StatusForbidden} {
				victim := newClient(t, "http://"+ts.Addr())
				victim.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
				r := victim.postRaw("/login", form, http.Header{"Cookie": {name + "=" + value}})
				if got := r.status; got != want && !(want == http.StatusOK && got == http.StatusSeeOther) {
					t.Errorf("login form with the CSRF cookie as %s: status %d, want %d", name, got, want)
				}
			}
		})
	}
}

func TestSecondStepThrottled(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)
	c := newClient(t, ts.URL())
	if r := c.signIn("alice"); r.url.Path != "/login/verify" {
		t.Fatalf("sign-in went to %s, want the second step", r.url)
	}
	good := testenv.TOTP(t, secret, ts.Clock.Now())
	wrong := "000000"
	if good == wrong {
		wrong = "111111"
	}
	var last reply
	for i := 0; i < 10; i++ {
		last = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {wrong}})
		if last.status == http.StatusTooManyRequests {
			break
		}
		if last.status != http.StatusUnauthorized || !strings.Contains(last.body, "That code was not accepted.") {
			t.Fatalf("wrong code %d: status %d", i+1, last.status)
		}
	}
	if last.status != http.StatusTooManyRequests {
		t.Fatalf("ten wrong codes in a row were never throttled (last status %d)", last.status)
	}
	if last.header.Get("Retry-After") == "" {
		t.Error("throttled page has no Retry-After")
	}
	if !regexp.MustCompile(`Too many attempts\. Wait (a second|\d+ seconds|a minute|\d+ minutes) and try again\.`).MatchString(last.body) {
		t.Errorf("throttled page does not say how long to wait:\n%s", pageError(last.body))
	}
	// Even the right code waits until the lock passes; then it works.
	if r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {good}}); r.status != http.StatusTooManyRequests {
		t.Errorf("right code while locked: status %d, want 429", r.status)
	}
	ts.Clock.Add(time.Minute)
	if r := c.totp(ts, secret); r.url.Path != "/settings/security" {
		t.Errorf("right code after the lock: at %s, status %d: %s", r.url, r.status, pageError(r.body))
	}
}

// noPageError is what pageError returns for a page that shows no error.
const noPageError = "(no error on the page)"

// pageError returns the error a page shows (id="error"), or noPageError.
func pageError(body string) string {
	m := regexp.MustCompile(`(?s)id="error"[^>]*>(.*?)</p>`).FindStringSubmatch(body)
	if m == nil {
		return noPageError
	}
	return html.UnescapeString(m[1])
}

// pageNotice returns the text of the notice a page shows ("" for none),
// unescaped.
func pageNotice(body string) string {
	m := regexp.MustCompile(`(?s)<p class="flash ok" role="status">(.*?)</p>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return html.UnescapeString(m[1])
}

// showsError reports whether a page shows an error with some text.
func showsError(body string) bool {
	e := pageError(body)
	return e != noPageError && strings.TrimSpace(e) != ""
}

func TestWrongPasswordSaysNothingMore(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	wrongPassword := c.post("/login", url.Values{"username": {"alice"}, "password": {"not the password"}})
	unknownUser := c.post("/login", url.Values{"username": {"mallory"}, "password": {"not the password"}})
	for _, r := range []reply{wrongPassword, unknownUser} {
		if r.status != http.StatusUnauthorized || pageError(r.body) != "Wrong username or password." {
			t.Errorf("status %d, error %q", r.status, pageError(r.body))
		}
	}
}

func TestOperatorPagesForbidden(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	opSecret := account(t, ts, "olivia", true, true)
	account(t, ts, "oscar", true, false)
	account(t, ts, "bob", false, false)
	c := newClient(t, ts.URL())
	c.signIn("bob")
	for _, path := range []string{"/admin", "/admin/users", "/admin/users/x"} {
		if r := c.get(path); r.status != http.StatusForbidden {
			t.Errorf("GET %s as a user: status %d, want 403", path, r.status)
		}
	}
	// Every operator route, read or write, on bob's own account.
	walkOperatorRoutes(t, ts, c, userID(t, ts, "bob"))
	if a, err := ts.Store.AccountByUsername(context.Background(), "bob"); err != nil || a.Suspended {
		t.Errorf("bob suspended by his own refused request (%v)", err)
	}
	if r := c.get("/settings/security"); strings.Contains(r.body, `href="/admin/users"`) {
		t.Error("a user's page links to the operator pages")
	}
	// Signed out, the pages send you to sign in.
	anon := newClient(t, ts.URL())
	if r := anon.get("/admin/users"); r.url.Path != "/login" {
		t.Errorf("GET /admin/users signed out: at %s, want /login", r.url)
	}
	// The operator sees the users and can unlock one, with a fresh code.
	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "olivia", opSecret)
	r := op.get("/admin/users?q=bo")
	if r.status != 200 || !strings.Contains(r.body, ">bob</a>") || strings.Contains(r.body, ">olivia</a>") {
		t.Fatalf("operator's search for bo: status %d", r.status)
	}
	id := regexp.MustCompile(`href="/admin/users/([a-z0-9]+)"`).FindStringSubmatch(r.body)[1]
	if r := op.get("/admin/users/" + id); !strings.Contains(r.body, `id="no-locks"`) || strings.Contains(r.body, `id="unlock"`) {
		t.Error("the page of an account without failed attempts offers to unlock it")
	}
	wrongPasswords := func(n int) {
		for range n {
			if _, err := ts.Service.Login(context.Background(), "bob", "not bob's password", core.Meta{Source: "192.0.2.7"}); err == nil {
				t.Fatal("a wrong password was accepted")
			}
		}
	}
	wrongPasswords(3)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	if r := op.get("/admin/users/" + id); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the unlock form asks for no code once the operator's elevation lapsed")
	} else if !strings.Contains(r.body, "<dt>Passwords</dt><dd>3 wrong from 1 address</dd>") {
		t.Error("the page does not show the wrong passwords counted")
	}
	if r := op.post("/admin/users/"+id+"/unlock", url.Values{}); r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("unlock without a code: status %d: %q", r.status, pageError(r.body))
	}
	if r := op.post("/admin/users/"+id+"/unlock", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, opSecret, ts.Clock.Now())}}); r.status != 200 || !strings.Contains(r.body, "The account is unlocked.") {
		t.Errorf("unlock: status %d: %s", r.status, pageError(r.body))
	} else if !strings.Contains(r.body, `id="no-locks"`) {
		t.Error("after the unlock the page still shows failed attempts")
	}
	// Unlocking again finds nothing: no event, no email.
	if r := op.post("/admin/users/"+id+"/unlock", url.Values{}); r.status != 200 || !strings.Contains(r.body, "Nothing to unlock") {
		t.Errorf("a second unlock: status %d: %s", r.status, pageError(r.body))
	}
	wrongPasswords(1)
	// An operator without two-factor is told to add it, and cannot unlock.
	oscar := newClient(t, ts.URL())
	oscar.signIn("oscar")
	if r := oscar.get("/admin/users/" + id); !strings.Contains(r.body, `id="unlock-needs-2fa"`) || strings.Contains(r.body, `id="unlock"`) {
		t.Error("an operator without two-factor is offered the unlock button")
	}
	if r := oscar.post("/admin/users/"+id+"/unlock", url.Values{}); r.status != http.StatusForbidden || !strings.Contains(pageError(r.body), "two-factor on your own account") {
		t.Errorf("unlock by an operator without two-factor: status %d: %q", r.status, pageError(r.body))
	}
	if r := op.get("/admin/users/" + id); strings.Count(r.body, "Failed-attempt locks cleared by an operator") != 1 {
		t.Error("bob's events do not show the one unlock")
	}
}

func TestSetupLink(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	if ts.SetupURL == "" {
		t.Fatal("no setup link on an empty database")
	}
	c := newClient(t, ts.URL())
	if r := c.get("/setup/not-the-token"); r.status != http.StatusNotFound {
		t.Errorf("wrong token: status %d, want 404", r.status)
	}
	if r := c.get("/setup"); r.status != http.StatusNotFound {
		t.Errorf("setup page without the link: status %d, want 404", r.status)
	}
	r := c.get(strings.TrimPrefix(ts.SetupURL, ts.URL()))
	if r.status != 200 || r.url.Path != "/setup" {
		t.Fatalf("setup link: status %d at %s", r.status, r.url)
	}
	// Mismatched passwords and a bad username keep the form, with a clear error.
	r = c.post("/setup", url.Values{"username": {"root"}, "password": {testPassword}, "password2": {"something else"}})
	if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "passwords differ") {
		t.Errorf("mismatched passwords: status %d, %q", r.status, pageError(r.body))
	}
	r = c.post("/setup", url.Values{"username": {"no spaces"}, "password": {testPassword}, "password2": {testPassword}})
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `value="no spaces"`) {
		t.Errorf("bad username: status %d, %q", r.status, pageError(r.body))
	}
	r = c.post("/setup", url.Values{"username": {"root"}, "password": {testPassword}, "password2": {testPassword}})
	if r.url.Path != "/settings/security" || !strings.Contains(r.body, "operator account is ready") {
		t.Fatalf("setup: at %s: %s", r.url, pageError(r.body))
	}
	a, err := ts.Store.AccountByUsername(context.Background(), "root")
	if err != nil || !a.Operator {
		t.Fatalf("account root: operator %v, err %v", a.Operator, err)
	}
	// The link is spent, in this browser and any other.
	if r := newClient(t, ts.URL()).get(strings.TrimPrefix(ts.SetupURL, ts.URL())); r.status != http.StatusNotFound {
		t.Errorf("setup link after setup: status %d, want 404", r.status)
	}
	// A server started on a database with accounts prints no link.
	if ts2 := testenv.NewServer(t, "sqlite:"+ts.DBPath, sameKeyFile(ts)); ts2.SetupURL != "" {
		t.Errorf("second server on a set-up database has a setup link")
	}
}

func TestRecoveryCodesDownloadAndPrint(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	c.signIn("alice")
	codes := []string{"abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567"}
	r := c.post("/settings/security/recovery-codes.txt", url.Values{"code": codes})
	if r.status != 200 || r.header.Get("Content-Type") != "text/plain; charset=utf-8" ||
		r.header.Get("Content-Disposition") != `attachment; filename="twofold-recovery-codes-alice.txt"` || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("download: %d %v", r.status, r.header)
	}
	for _, want := range append(codes, "Twofold recovery codes for alice") {
		if !strings.Contains(r.body, want) {
			t.Errorf("download lacks %q:\n%s", want, r.body)
		}
	}
	r = c.post("/settings/security/recovery-codes/print", url.Values{"code": codes})
	if r.status != 200 || !strings.Contains(r.body, "<code>abcd-efgh-ijkl-mnop</code>") {
		t.Errorf("print sheet: status %d", r.status)
	}
	if r := c.post("/settings/security/recovery-codes.txt", url.Values{"code": {"<b>not a code</b>"}}); r.status != http.StatusBadRequest {
		t.Errorf("download of something else: status %d, want 400", r.status)
	}
	// Signed out, no download at all.
	anon := newClient(t, ts.URL())
	anon.get("/login")
	if r := anon.post("/settings/security/recovery-codes.txt", url.Values{"code": codes}); r.url.Path != "/login" {
		t.Errorf("download signed out: at %s", r.url)
	}
}

func TestEnrolmentPageIsNeverCached(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	c.signIn("alice")
	r := c.post("/settings/security/totp", url.Values{"label": {"Phone"}})
	if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("enrolment page at %s, Cache-Control %q", r.url, r.header.Get("Cache-Control"))
	}
	qr := c.get(r.url.Path + "/qr.png")
	if qr.status != 200 || qr.header.Get("Content-Type") != "image/png" || qr.header.Get("Cache-Control") != "no-store" {
		t.Errorf("QR code: %d %s, Cache-Control %q", qr.status, qr.header.Get("Content-Type"), qr.header.Get("Cache-Control"))
	}
	// Another account cannot see it.
	account(t, ts, "bob", false, false)
	bob := newClient(t, ts.URL())
	bob.signIn("bob")
	if r := bob.get(r.url.Path + "/qr.png"); r.status != http.StatusNotFound {
		t.Errorf("bob fetching alice's QR code: status %d, want 404", r.status)
	}
	// An empty label is refused with the form kept.
	if r := c.post("/settings/security/totp", url.Values{"label": {"  "}}); r.status != http.StatusBadRequest || pageError(r.body) != "The authenticator needs a name." {
		t.Errorf("empty label: %d %q", r.status, pageError(r.body))
	}
}

func TestTurningOffTwoFactorNeedsAFreshCode(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, c := signedIn(t, ts, "alice", false)
	ts.Clock.Add(11 * time.Minute) // the elevation from the sign-in lapses
	if r := c.get("/settings/security/two-factor"); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Fatal("the confirmation page asks for no code")
	}
	r := c.post("/settings/security/two-factor", url.Values{"required": {"false"}})
	if r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("without a code: status %d, %q", r.status, pageError(r.body))
	}
	r = c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"totp"}, "elevate_code": {"000000"}})
	if r.status != http.StatusUnauthorized || pageError(r.body) != "That code was not accepted. Check it and try again." {
		t.Errorf("with a wrong code: status %d, %q", r.status, pageError(r.body))
	}
	ts.Clock.Add(30 * time.Second)
	r = c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if r.url.RawQuery != "m=required_off" {
		t.Fatalf("with the right code: at %s: %s", r.url, pageError(r.body))
	}
	// Now sign-in asks for the password only; turning it back on needs no code.
	c.post("/logout", url.Values{})
	if r := c.signIn("alice"); r.url.Path != "/settings/security" {
		t.Errorf("sign-in with two-factor not required went to %s", r.url)
	}
	if r := c.post("/settings/security/two-factor", url.Values{"required": {"true"}}); r.url.RawQuery != "m=required_on" {
		t.Errorf("turning it on: at %s: %s", r.url, pageError(r.body))
	}
}

// TestSetupLinkExpires: a setup link works for a day; a restart on the still
// empty database while it works prints none of its own (setup is pending,
// until when the link works), and the first link works there too. Core's
// TestOneSetupLinkAtATime covers the new link of a start a day later.
func TestSetupLinkExpires(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	old := strings.TrimPrefix(ts.SetupURL, ts.URL())
	if old == "" {
		t.Fatal("first start on an empty database: no setup link")
	}
	again := testenv.NewServer(t, "sqlite:"+ts.DBPath, sameKeyFile(ts))
	if want := ts.Clock.Now().Add(core.SetupTTL); again.SetupURL != "" || !again.SetupPendingUntil.Equal(want) {
		t.Fatalf("restart while the link works: setup link %q, pending until %v; want none, pending until %v", again.SetupURL, again.SetupPendingUntil, want)
	}
	if r := newClient(t, again.URL()).get(old); r.status != 200 {
		t.Errorf("the first link on the restarted server: status %d, want 200", r.status)
	}
	ts.Clock.Add(core.SetupTTL + time.Minute)
	if r := newClient(t, ts.URL()).get(old); r.status != http.StatusNotFound {
		t.Errorf("setup link a day later: status %d, want 404", r.status)
	}
}

// TestEventsPages: the full security log shows the signed-in user's own
// events only, 50 to a page, newest first, with a link to older ones exactly
// when there are older ones (SPEC §1 story 10).
func TestEventsPages(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	// Another account, whose enrolment and second step are events that the
	// password-only accounts below never have.
	account(t, ts, "other", false, true)
	res, err := ts.Service.Login(ctx, "other", testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if res.LoginID == "" {
		t.Fatal("other: a password alone completed the login")
	}

	// signedIn makes user with n events in all, the last its sign-in on
	// the pages, and returns its page client.
	signedIn := func(user string, n int) *client {
		t.Helper()
		account(t, ts, user, false, false)
		c := newClient(t, ts.URL())
		c.signIn(user)
		a, err := ts.Service.Authenticate(ctx, loginToken(t, ts, user))
		if err != nil {
			t.Fatal(err)
		}
		have, err := ts.Service.Events(ctx, a, twofold.EventQuery{Limit: 200})
		if err != nil {
			t.Fatal(err)
		}
		for range n - len(have) {
			loginToken(t, ts, user)
		}
		return c
	}
	rows := func(body string) int { return strings.Count(body, "<p class=\"ev-what\">") }
	older := regexp.MustCompile(`href="/settings/security/events\?before=(\d+)"`)

	c := signedIn("olga", 62)
	first := c.get("/settings/security/events")
	if first.status != 200 || rows(first.body) != 50 {
		t.Fatalf("first page: status %d, %d events; want 200 and 50", first.status, rows(first.body))
	}
	m := older.FindStringSubmatch(first.body)
	if m == nil {
		t.Fatal("first page of 62 events: no link to older ones")
	}
	second := c.get("/settings/security/events?before=" + m[1])
	if second.status != 200 || rows(second.body) != 12 || older.MatchString(second.body) {
		t.Errorf("second page: status %d, %d events, link %v; want 200, 12 and none", second.status, rows(second.body), older.FindString(second.body))
	}
	for _, r := range []reply{first, second} {
		if strings.Contains(r.body, "Authenticator") || strings.Contains(r.body, "Password accepted") {
			t.Error("olga's log shows another account's events")
		}
	}

	c = signedIn("paul", 50)
	if r := c.get("/settings/security/events"); rows(r.body) != 50 || older.MatchString(r.body) {
		t.Errorf("exactly one page: %d events, link %q; want 50 and none", rows(r.body), older.FindString(r.body))
	}
}

// loginToken signs user in with the password through the service (an event
// each time) and returns the session token.
func loginToken(t *testing.T, ts *testenv.Server, user string) string {
	t.Helper()
	res, err := ts.Service.Login(context.Background(), user, testPassword, core.Meta{})
	if err != nil || res.Token == "" {
		t.Fatalf("login %s: %+v, %v", user, res, err)
	}
	return res.Token
}

// TestFactorPagesRefuse: the pages that rename and remove authenticators
// refuse what they must, say why, and change nothing: a label with a hidden
// character, a removal without a fresh code or with a wrong one, another
// account's authenticator. Cancelling a setup that was never confirmed needs
// no code (SPEC §1 stories 3 and 5).
func TestFactorPagesRefuse(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)
	bobSecret := account(t, ts, "bob", false, true)
	removeLink := regexp.MustCompile(`/settings/security/factors/([a-z0-9]+)/remove`)
	factorIDs := func(c *client) []string {
		t.Helper()
		var ids []string
		for _, m := range removeLink.FindAllStringSubmatch(c.get("/settings/security").body, -1) {
			if !slices.Contains(ids, m[1]) {
				ids = append(ids, m[1])
			}
		}
		return ids
	}
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "alice", secret)
	ids := factorIDs(c)
	if len(ids) != 1 {
		t.Fatalf("alice's security page links to removing %v, want one authenticator", ids)
	}
	phone := ids[0]

	r := c.post("/settings/security/factors/"+phone+"/rename", url.Values{"label": {"Phone\u202eenohp"}})
	if r.status != http.StatusBadRequest || !strings.HasPrefix(pageError(r.body), "Renaming failed: A name must be") {
		t.Errorf("rename to a label with a direction override: status %d, %q", r.status, pageError(r.body))
	}
	if body := c.get("/settings/security").body; strings.Contains(body, "enohp") || !strings.Contains(body, "Phone") {
		t.Error("a refused rename changed the label")
	}

	ts.Clock.Add(11 * time.Minute) // the elevation from the sign-in lapses
	r = c.post("/settings/security/factors/"+phone+"/remove", url.Values{})
	if r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("remove without a code: status %d, %q", r.status, pageError(r.body))
	}
	r = c.post("/settings/security/factors/"+phone+"/remove", url.Values{"elevate_method": {"totp"}, "elevate_code": {otherCode(testenv.TOTP(t, secret, ts.Clock.Now()))}})
	if r.status != http.StatusUnauthorized || pageError(r.body) != "That code was not accepted. Check it and try again." {
		t.Errorf("remove with a wrong code: status %d, %q", r.status, pageError(r.body))
	}
	if got := factorIDs(c); !slices.Equal(got, []string{phone}) {
		t.Errorf("after refused removals: authenticators %v, want %v", got, []string{phone})
	}

	// Bob cannot remove or rename Alice's authenticator, even with his own
	// fresh code.
	bob := newClient(t, ts.URL())
	bob.signInWithCode(ts, "bob", bobSecret)
	r = bob.post("/settings/security/factors/"+phone+"/remove", url.Values{})
	if r.status != http.StatusNotFound {
		t.Errorf("bob removing alice's authenticator: status %d, %q", r.status, pageError(r.body))
	}
	r = bob.post("/settings/security/factors/"+phone+"/rename", url.Values{"label": {"mine"}})
	if r.status != http.StatusNotFound || !strings.Contains(pageError(r.body), "No such authenticator") {
		t.Errorf("bob renaming alice's authenticator: status %d, %q", r.status, pageError(r.body))
	}
	if got := factorIDs(c); !slices.Equal(got, []string{phone}) {
		t.Errorf("after bob's attempts: alice's authenticators %v, want %v", got, []string{phone})
	}

	// Another authenticator needs a fresh code before its setup starts.
	r = c.post("/settings/security/totp", url.Values{"label": {"Tablet"}})
	if r.status != http.StatusOK || !strings.Contains(r.body, `name="elevate_code"`) || !strings.Contains(r.body, `name="label" value="Tablet"`) {
		t.Errorf("starting a setup without a fresh code: status %d, no code field asked for, or the label lost: %s", r.status, pageError(r.body))
	}
	// Its links to the other ways of confirming lead to the same page.
	alt := regexp.MustCompile(`href="(/settings/security/totp\?method=[a-z_]+[^"]*)"`).FindAllStringSubmatch(r.body, -1)
	if len(alt) == 0 {
		t.Fatal("the page offers no other way to confirm")
	}
	for _, m := range alt {
		if r := c.get(html.UnescapeString(m[1])); r.status != http.StatusOK || !strings.Contains(r.body, `name="elevate_code"`) || !strings.Contains(r.body, `name="label"`) {
			t.Errorf("GET %s: status %d, want the page again", m[1], r.status)
		}
	}
	if got := factorIDs(c); !slices.Equal(got, []string{phone}) {
		t.Fatalf("a setup started without a code: authenticators %v", got)
	}
	// A name like an existing one is refused before the code is spent.
	ts.Clock.Add(30 * time.Second)
	dupCode := testenv.TOTP(t, secret, ts.Clock.Now())
	if r := c.post("/settings/security/totp", url.Values{"label": {"PHONE"}, "elevate_method": {"totp"}, "elevate_code": {dupCode}}); r.status != http.StatusConflict {
		t.Errorf("a duplicate name with a code: status %d, %q", r.status, pageError(r.body))
	}
	if r := c.get("/settings/security/totp?label=Tablet"); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the code sent with a duplicate name was spent: the session is elevated")
	}
	r = c.post("/settings/security/totp", url.Values{"label": {"Tablet"}, "elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") {
		t.Fatalf("starting a setup with a code: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}

	// A setup never confirmed is cancelled without a code.
	ts.Clock.Add(11 * time.Minute)
	pending := ""
	for _, id := range factorIDs(c) {
		if id != phone {
			pending = id
		}
	}
	if pending == "" {
		t.Fatalf("starting a setup: at %s (%d), no second authenticator listed", r.url, r.status)
	}
	// Its confirmation asks for a fresh code too, once the one given lapsed.
	if r := c.get("/settings/security/totp/" + pending); !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the setup page of another authenticator asks for no code once the elevation lapsed")
	}
	r = c.post("/settings/security/totp/"+pending+"/confirm", url.Values{"code": {"123456"}})
	if r.status != http.StatusForbidden || pageError(r.body) != "Confirm it's you with a code first." {
		t.Errorf("confirming another authenticator without a fresh code: status %d, %q", r.status, pageError(r.body))
	}
	if r := c.get("/settings/security/factors/" + pending + "/remove"); !strings.Contains(r.body, "Cancel the setup") || strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the page cancelling a pending setup does not say so, or asks for a code")
	}
	if r := c.post("/settings/security/factors/"+pending+"/remove", url.Values{}); r.url.RawQuery != "m=setup_cancelled" {
		t.Errorf("cancel setup: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
	if got := factorIDs(c); !slices.Equal(got, []string{phone}) {
		t.Errorf("after cancelling the setup: authenticators %v, want %v", got, []string{phone})
	}
}

// TestHome: the site's root sends a visitor to the login page, and a
// signed-in one to their security settings.
func TestHome(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "hana", false, false)
	c := newClient(t, ts.URL())
	if r := c.get("/"); r.status != 200 || r.url.Path != "/login" {
		t.Errorf("signed out: / led to %s (%d), want /login", r.url.Path, r.status)
	}
	c.signIn("hana")
	if r := c.get("/"); r.status != 200 || r.url.Path != "/settings/security" {
		t.Errorf("signed in: / led to %s (%d), want /settings/security", r.url.Path, r.status)
	}
	if r := c.get("/no-such-page"); r.status != http.StatusNotFound {
		t.Errorf("an unknown page: got %d, want 404", r.status)
	}
}

// TestSecondStepExpires: a sign-in left at its second step for longer than
// the login lasts (5 minutes) starts over at the login page with a message
// that says so, whether the code is sent late or the page is opened late;
// without a sign-in under way the second step's page sends to the login
// page.
func TestSecondStepExpires(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "lena", false, true)
	const expired = "That sign-in took too long and has expired. Start again."

	if r := newClient(t, ts.URL()).get("/login/verify"); r.url.Path != "/login" {
		t.Errorf("second step without a sign-in: at %s, want /login", r.url)
	}

	c := newClient(t, ts.URL())
	if r := c.signIn("lena"); r.url.Path != "/login/verify" {
		t.Fatalf("sign-in: at %s, want the second step", r.url)
	}
	ts.Clock.Add(5*time.Minute + time.Second)
	r := c.totp(ts, secret)
	if r.url.Path != "/login" || r.url.RawQuery != "m=expired" || !strings.Contains(html.UnescapeString(r.body), expired) {
		t.Errorf("a code after the login expired: at %s, want /login?m=expired saying so", r.url)
	}
	if r := c.get("/settings/security"); r.url.Path != "/login" {
		t.Errorf("after the expired sign-in: /settings/security at %s, want the login page", r.url)
	}

	// The same when the page itself is opened late; then a new sign-in
	// works with the same code's successor.
	c.signIn("lena")
	ts.Clock.Add(5*time.Minute + time.Second)
	if r := c.get("/login/verify"); r.url.RawQuery != "m=expired" {
		t.Errorf("the second step's page opened late: at %s, want /login?m=expired", r.url)
	}
	ts.Clock.Add(30 * time.Second)
	c.signInWithCode(ts, "lena", secret)
}

// TestOperatorViewsAUser: the operator's page of one account shows its
// authenticators, active and unfinished, whether two-factor is on, the
// recovery codes left and its events with their details; the user list says
// when a search matched more accounts than it shows.
func TestOperatorViewsAUser(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "opal", true, false)
	secret := account(t, ts, "nina", false, true) // an active authenticator, "Phone"
	ctx := context.Background()
	a := sessionOf(t, ts, "nina", secret)
	if _, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: "totp", Label: "Tablet"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}

	op := newClient(t, ts.URL())
	op.signIn("opal")
	r := op.get("/admin/users?q=nina")
	m := regexp.MustCompile(`href="/admin/users/([a-z0-9]+)"`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("operator's search for nina found no link: %d", r.status)
	}
	r = op.get("/admin/users/" + m[1])
	body := html.UnescapeString(r.body)
	for _, want := range []string{
		`<span class="pill on">On</span>`,
		`<dt>Recovery codes left</dt><dd>10</dd>`,
		`<span class="factor-label">Phone</span>`,
		`<span class="factor-label">Tablet</span> <span class="tag">Authenticator app (TOTP)</span> <span class="pill off">setup not finished</span>`,
		"Authenticator added",
		`<p class="ev-detail">totp `, // the operator sees details
	} {
		if !strings.Contains(body, want) {
			t.Errorf("operator's view of nina lacks %q", want)
		}
	}

	const listed = 100 // the most accounts the list shows
	for i := range listed + 1 {
		if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: fmt.Sprintf("many%03d", i), Password: testPassword}, core.Meta{}); err != nil {
			t.Fatal(err)
		}
	}
	r = op.get("/admin/users?q=many")
	const more = "Only the first 100 matches are shown."
	if n := strings.Count(r.body, `href="/admin/users/`); n != listed || !strings.Contains(r.body, more) {
		t.Errorf("a search matching %d accounts: %d shown, notice %v; want %d and a notice", listed+1, n, strings.Contains(r.body, more), listed)
	}
}

// TestSignInReturnsToThePage: a page opened signed out leads to the login
// page and, after both steps, back to that page; a "next" that leaves the
// site is dropped; the login page opened while signed in goes on at once.
func TestSignInReturnsToThePage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "nell", false, true)
	c := newClient(t, ts.URL())
	r := c.get("/settings/security/events?before=99")
	if r.url.Path != "/login" || r.url.Query().Get("next") != "/settings/security/events?before=99" {
		t.Fatalf("signed out: at %s, want /login with next", r.url)
	}
	r = c.post("/login", url.Values{"username": {"nell"}, "password": {testPassword}, "next": {r.url.Query().Get("next")}})
	if r.url.Path != "/login/verify" {
		t.Fatalf("password: at %s, want the second step", r.url)
	}
	r = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "next": {r.url.Query().Get("next")}})
	if r.url.RequestURI() != "/settings/security/events?before=99" {
		t.Errorf("after the second step: at %s, want back at the events page", r.url)
	}
	if r := c.get("/login?next=/settings/security/events"); r.url.Path != "/settings/security/events" {
		t.Errorf("the login page while signed in: at %s, want the next page", r.url)
	}

	for _, next := range []string{"//evil.example/x", "https://evil.example/", "/\\evil.example", "/\t/evil.example", "/login/verify", "javascript:alert(1)"} {
		c := newClient(t, ts.URL())
		ts.Clock.Add(30 * time.Second)
		r := c.post("/login", url.Values{"username": {"nell"}, "password": {testPassword}, "next": {next}})
		if strings.Contains(r.url.RawQuery, "evil") {
			t.Errorf("next %q carried to the second step: %s", next, r.url)
		}
		r = c.post("/login/verify", url.Values{"method": {"totp"}, "code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "next": {next}})
		if r.url.Host != strings.TrimPrefix(ts.URL(), "http://") || r.url.Path != "/settings/security" {
			t.Errorf("next %q: after the second step at %s, want /settings/security here", next, r.url)
		}
	}
}

// TestSecondAuthenticatorPages: adding a second authenticator on the pages
// (SPEC §1 story 3) confirms it without issuing new recovery codes; the
// setup page of a finished or cancelled setup, and a second confirmation,
// lead back to the settings with a notice instead of an error.
func TestSecondAuthenticatorPages(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	first, c := signedIn(t, ts, "tess", false)
	r := c.post("/settings/security/totp", url.Values{"label": {"Laptop"}})
	setup := r.url.Path
	m := regexp.MustCompile(`<p class="secret" id="secret">(.*?)</p>`).FindStringSubmatch(r.body)
	if !strings.HasPrefix(setup, "/settings/security/totp/") || m == nil {
		t.Fatalf("starting a setup: at %s, no secret on the page", r.url)
	}
	secret := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), "")
	code := testenv.TOTP(t, secret, ts.Clock.Now())
	r = c.post(setup+"/confirm", url.Values{"code": {code}})
	if r.url.RawQuery != "m=factor_added" || strings.Contains(r.body, `id="recovery-codes"`) {
		t.Fatalf("confirming the second authenticator: at %s", r.url)
	}
	if !strings.Contains(r.body, "Authenticator added.") || !strings.Contains(r.body, "Laptop") {
		t.Error("the settings do not show the added authenticator")
	}
	for _, r := range []reply{c.post(setup+"/confirm", url.Values{"code": {code}}), c.get(setup)} {
		if r.url.RawQuery != "m=enrol_gone" || !strings.Contains(r.body, "That authenticator setup is finished or was cancelled.") {
			t.Errorf("the finished setup again: at %s, want the settings with a notice", r.url)
		}
	}
	// Both authenticators now pass the second step.
	for _, secret := range []string{first, secret} {
		ts.Clock.Add(30 * time.Second)
		newClient(t, ts.URL()).signInWithCode(ts, "tess", secret)
	}
}

// sameKeyFile starts a server with ts's key file, as a restart on the same
// database must be.
func sameKeyFile(ts *testenv.Server) testenv.ServerOption {
	return func(c *config.Config) { c.KeyFile = ts.Config.KeyFile }
}

// TestPagesWhenTheDatabaseIsGone: with PostgreSQL unreachable, the pages
// answer 503 with a calm page that says to try again shortly and nothing
// of the cause, no one is signed out by it, and everything works again
// once the database is back.
func TestPagesWhenTheDatabaseIsGone(t *testing.T) {
	ts := testenv.NewServer(t, testenv.PostgresDSN(t))
	account(t, ts, "gina", false, false)
	c := newClient(t, ts.URL())
	if r := c.signIn("gina"); r.url.Path != "/settings/security" {
		t.Fatalf("sign-in: at %s", r.url)
	}
	restore := testenv.CutPostgres(t, ts.Config.DB)
	for _, r := range []reply{c.get("/settings/security"), newClient(t, ts.URL()).signIn("gina")} {
		body := html.UnescapeString(r.body)
		if r.status != http.StatusServiceUnavailable || !strings.Contains(body, "try again shortly") {
			t.Errorf("%s with the database gone: status %d, want 503 and a page saying to try again shortly (%q)", r.url, r.status, pageError(r.body))
		}
		for _, leak := range []string{"twofold_test", "pgx", "postgres", "connect", "SQLSTATE"} {
			if strings.Contains(body, leak) {
				t.Errorf("%s: the page tells the visitor %q", r.url.Path, leak)
			}
		}
	}
	// Signing out cannot end the session now, so it says it failed and
	// keeps the cookie.
	if r := c.post("/logout", url.Values{}); r.status != http.StatusServiceUnavailable {
		t.Errorf("sign-out with the database gone: status %d at %s, want 503", r.status, r.url)
	}
	restore()
	// The outage signed no one out.
	if r := c.get("/settings/security"); r.status != 200 || r.url.Path != "/settings/security" {
		t.Errorf("with the database back: status %d at %s, want the settings, still signed in", r.status, r.url)
	}
}

// outsideEvents returns body without its "Recent security events" card: an
// event names a removed factor by the label it had, so what the page lists
// is checked on the rest of it.
func outsideEvents(body string) string {
	return regexp.MustCompile(`(?s)<section class="card" id="events">.*?</section>`).ReplaceAllString(body, "")
}
