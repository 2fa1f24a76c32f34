package web_test

import (
	"context"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// jarCookie returns the value of cookie name that c holds for its base
// URL, or "".
func jarCookie(t *testing.T, c *client, name string) string {
	t.Helper()
	return jarValue(t, c, "/", name)
}

// withCookie GETs path at base with only the cookie name=value, following
// no redirect, as a copy of a cookie would be used elsewhere.
func withCookie(t *testing.T, base, path, name, value string) reply {
	t.Helper()
	c := newClient(t, base)
	c.http.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	req, err := http.NewRequest("GET", base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: name, Value: value})
	return c.do(req)
}

// renewCase is one way of confirming it's the holder on the pages: setup
// makes an account, signs c in and lets the sign-in's elevation lapse;
// elevate confirms on a page and checks that the page goes on where it
// did.
type renewCase struct {
	name   string
	secure bool // served as https behind a proxy: Secure, __Host- cookies
	setup  func(t *testing.T, ts *testenv.Server, c *client) (elevate func())
}

// TestElevationRenewsSessionCookie: confirming it's the holder on a page
// (with a code on a confirmation page, on the team page, with a security
// key, with a push) gives the session a new cookie, with the same name and
// attributes, and ends the old token in the same step: a copy of the
// cookie made before (from a shared machine, a log, a proxy) is signed
// out, on the pages (once the renewal is core.LostRenewalWindow old) and
// as a bearer token, and never elevated, while the
// browser that confirmed goes on where it was, elevated, in the same
// session, and a form it loaded before still posts with its CSRF token.
// On SQLite and PostgreSQL.
func TestElevationRenewsSessionCookie(t *testing.T) {
	code := func(t *testing.T, ts *testenv.Server, c *client) func() {
		secret := account(t, ts, "alice", false, true)
		c.signInWithCode(ts, "alice", secret)
		ts.Clock.Add(11 * time.Minute)
		return func() {
			r := c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"totp"},
				"elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
			if r.url.Path != "/settings/security" || r.url.RawQuery != "m=required_off" {
				t.Fatalf("confirming with a code: at %s: %s", r.url, pageError(r.body))
			}
		}
	}
	cases := []renewCase{
		{name: "code", setup: code},
		{name: "code over https", secure: true, setup: code},
		{name: "team page", setup: func(t *testing.T, ts *testenv.Server, c *client) func() {
			secret := account(t, ts, "alice", false, true)
			c.signInWithCode(ts, "alice", secret)
			teamPath := c.post("/settings/teams", url.Values{"name": {"Acme"}}).url.Path
			if !strings.HasPrefix(teamPath, "/settings/teams/") {
				t.Fatalf("making a team: at %s", teamPath)
			}
			ts.Clock.Add(11 * time.Minute)
			return func() {
				r := c.post(teamPath+"/elevate", url.Values{"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
				if r.url.Path != teamPath || !strings.Contains(r.body, "Confirmed.") {
					t.Fatalf("confirming on the team page: at %s: %s", r.url, pageError(r.body))
				}
			}
		}},
		{name: "security key", setup: func(t *testing.T, ts *testenv.Server, c *client) func() {
			k, codes := keyAccount(t, ts, "kim")
			c.signIn("kim")
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {codes[0]}}); r.url.Path != "/settings/security" {
				t.Fatalf("signing in with a recovery code: at %s: %s", r.url, pageError(r.body))
			}
			ts.Clock.Add(11 * time.Minute)
			return func() {
				options := keyOptionsByPost(t, c, elevateKeyPath, "session")
				r := c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"webauthn"},
					"elevate_credential": {string(k.Get(t, options))}})
				if r.url.Path != "/settings/security" || r.url.RawQuery != "m=required_off" {
					t.Fatalf("confirming with the key: at %s: %s", r.url, pageError(r.body))
				}
			}
		}},
		{name: "push", setup: func(t *testing.T, ts *testenv.Server, c *client) func() {
			ctx := context.Background()
			account(t, ts, "pam", false, false)
			res, err := ts.Service.Login(ctx, "pam", testPassword, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			a, err := ts.Service.Authenticate(ctx, res.Token)
			if err != nil {
				t.Fatal(err)
			}
			e, err := ts.Service.EnrolPush(ctx, a, "Laptop", ts.URL(), core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			st, en, err := pushdevice.Enrol(ctx, http.DefaultClient, e.URI)
			if err != nil || len(en.RecoveryCodes) == 0 {
				t.Fatalf("device enrol: %+v %v", en, err)
			}
			d := &pushdevice.Client{State: st, HTTP: http.DefaultClient, Now: ts.Clock.Now}
			c.signIn("pam")
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {en.RecoveryCodes[0]}}); r.url.Path != "/settings/security" {
				t.Fatalf("signing in with a recovery code: at %s: %s", r.url, pageError(r.body))
			}
			ts.Clock.Add(11 * time.Minute)
			return func() {
				r := c.post("/settings/security/elevate/push", url.Values{"elevate_method": {"push"}, "elevate_factor": {e.Factor.ID},
					"return": {"/settings/security/two-factor?method=push"}})
				m := regexp.MustCompile(`id="elevate-number">([0-9]{2})<`).FindStringSubmatch(r.body)
				if m == nil {
					t.Fatalf("sending a push: at %s, no number: %s", r.url, pageError(r.body))
				}
				cs, err := d.Challenges(ctx, time.Second)
				if err != nil || len(cs) != 1 {
					t.Fatalf("device sees %+v (%v)", cs, err)
				}
				if _, err := d.Approve(ctx, cs[0].ID, m[1]); err != nil {
					t.Fatal(err)
				}
				r = c.post("/settings/security/two-factor", url.Values{"required": {"false"}, "elevate_method": {"push"},
					"elevate_factor": {e.Factor.ID}, "elevate_push": {"1"}})
				if r.url.Path != "/settings/security" || r.url.RawQuery != "m=required_off" {
					t.Fatalf("confirming with the push: at %s: %s", r.url, pageError(r.body))
				}
			}
		}},
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					testRenewal(t, dsn(t), tc)
				})
			}
		})
	}
}

// testRenewal runs one renewCase on a server over dsn.
func testRenewal(t *testing.T, dsn string, tc renewCase) {
	var opts []testenv.ServerOption
	wire := "twofold_session"
	if tc.secure {
		opts = append(opts, func(c *config.Config) { c.BaseURL = "https://twofold.example" })
		wire = "__Host-twofold_session"
	}
	ts := testenv.NewServer(t, dsn, opts...)
	base := "http://" + ts.Addr()
	c := newClient(t, base)
	if tc.secure {
		c.http.Jar = httpsJar{c.http.Jar}
	}
	elevate := tc.setup(t, ts, c)
	stale, csrf := jarCookie(t, c, wire), c.csrf
	if stale == "" || csrf == "" {
		t.Fatalf("signed in with no cookie %s or no CSRF token", wire)
	}
	if r := withCookie(t, base, "/settings/security", wire, stale); r.status != http.StatusOK {
		t.Fatalf("a copy of the cookie before confirming: status %d, want 200", r.status)
	}

	// Every session cookie set on the way, redirects included.
	var set []*http.Cookie
	record := func(h http.Header) {
		for _, line := range h.Values("Set-Cookie") {
			k, err := http.ParseSetCookie(line)
			if err != nil {
				t.Fatalf("Set-Cookie %q: %v", line, err)
			}
			if k.Name == wire {
				set = append(set, k)
			}
		}
	}
	c.http.CheckRedirect = func(req *http.Request, _ []*http.Request) error {
		record(req.Response.Header)
		return nil
	}
	elevate()
	c.http.CheckRedirect = nil

	fresh := jarCookie(t, c, wire)
	if fresh == "" || fresh == stale {
		t.Fatalf("confirming kept the session cookie: before %.12s…, after %.12s…", stale, fresh)
	}
	if len(set) == 0 {
		t.Error("no session cookie was set on the way")
	}
	for _, k := range set {
		if !k.HttpOnly || k.SameSite != http.SameSiteLaxMode || k.Path != "/" || k.Domain != "" || k.Secure != tc.secure || k.MaxAge != 0 {
			t.Errorf("session cookie %s set as %s: want HttpOnly, SameSite=Lax, Path=/, no Domain, Secure %v, for the browser session", k.Name, k.String(), tc.secure)
		}
	}
	idOf := func(token string) string { id, _, _ := strings.Cut(token, "."); return id }
	if idOf(fresh) != idOf(stale) {
		t.Errorf("the new cookie names session %s, want the same session %s", idOf(fresh), idOf(stale))
	}

	// The copy is signed out: on the pages, as a bearer token, in the core.
	// (Used on a page within core.LostRenewalWindow of the renewal, it
	// would end the session: TestRenewalAnswerLost.)
	ts.Clock.Add(core.LostRenewalWindow)
	if r := withCookie(t, base, "/settings/security/two-factor", wire, stale); r.status != http.StatusSeeOther || !strings.HasPrefix(r.header.Get("Location"), "/login") {
		t.Errorf("the copy of the old cookie: status %d to %q, want 303 to /login", r.status, r.header.Get("Location"))
	}
	req, err := http.NewRequest("GET", base+"/v1/me", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+stale)
	if r := newClient(t, base).do(req); r.status != http.StatusUnauthorized {
		t.Errorf("the old token as a bearer token: status %d, want 401", r.status)
	}
	if a, err := ts.Service.Authenticate(context.Background(), stale); err == nil {
		t.Errorf("the old token still authenticates (elevated %v)", a.Elevated(ts.Clock.Now()))
	}

	// The browser that confirmed is elevated, with the same session.
	a, err := ts.Service.Authenticate(context.Background(), fresh)
	if err != nil || !a.Elevated(ts.Clock.Now()) || a.Session.ID != idOf(stale) {
		t.Fatalf("the new cookie: session %q elevated %v (%v); want session %s, elevated", a.Session.ID, a.Elevated(ts.Clock.Now()), err, idOf(stale))
	}
	if r := c.get("/settings/security/two-factor"); r.status != http.StatusOK || strings.Contains(r.body, `name="elevate_code"`) {
		t.Errorf("a page that needs elevation, with the new cookie: status %d, asks for a code %v", r.status, strings.Contains(r.body, `name="elevate_code"`))
	}
	if r := withCookie(t, base, "/settings/security/two-factor", wire, fresh); r.status != http.StatusOK {
		t.Errorf("the new cookie alone: status %d, want 200", r.status)
	}
	// A form loaded before confirming still posts: its CSRF token is the
	// browser's, not the session's. (Where two-factor login is on already,
	// the page says so.)
	r := c.post("/settings/security/two-factor", url.Values{"required": {"true"}, "csrf": {csrf}})
	if m := r.url.Query().Get("m"); r.url.Path != "/settings/security" || m != "required_on" && m != "required_on_already" {
		t.Errorf("a form loaded before confirming: at %s: %s", r.url, pageError(r.body))
	}
}

// TestElevateRenewingOnce: of two confirmations racing with the same
// session token (two tabs), one renews the token; the other is a conflict
// that writes nothing, not even the use of its recovery code, so the
// holder can confirm again with the new cookie. Elevating as the JSON API
// does keeps the token. On SQLite and PostgreSQL.
func TestElevateRenewingOnce(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			account(t, ts, "alice", false, false)
			codes := enrolPhone(t, ts, "alice").codes
			res, err := ts.Service.Login(ctx, "alice", testPassword, core.Meta{})
			if err != nil || res.Authenticated {
				t.Fatalf("login: %+v %v, want a second step", res, err)
			}
			v, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: codes[0]}, core.Meta{})
			if err != nil {
				t.Fatal(err)
			}
			ts.Clock.Add(11 * time.Minute)
			a, err := ts.Service.Authenticate(ctx, v.Token)
			if err != nil {
				t.Fatal(err)
			}
			_, token, err := ts.Service.ElevateRenewing(ctx, a, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: codes[1]}, core.Meta{})
			if err != nil || token == "" || token == v.Token {
				t.Fatalf("first confirmation: token renewed %v (%v)", token != v.Token, err)
			}
			_, lost, err := ts.Service.ElevateRenewing(ctx, a, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: codes[2]}, core.Meta{})
			if twofold.ErrorCode(err) != twofold.CodeConflict || lost != "" {
				t.Fatalf("second confirmation with the same token: %v, token %q; want a conflict", twofold.ErrorCode(err), lost)
			}
			renewed, err := ts.Service.Authenticate(ctx, token)
			if err != nil {
				t.Fatal(err)
			}
			if p, err := ts.Service.Me(ctx, renewed); err != nil || p.RecoveryCodesRemaining != len(codes)-2 {
				t.Fatalf("recovery codes left: %d (%v), want %d: the conflict used none", p.RecoveryCodesRemaining, err, len(codes)-2)
			}
			// The JSON API's elevation keeps the bearer token.
			if _, err := ts.Service.Elevate(ctx, renewed, core.SecondFactor{Method: twofold.MethodRecoveryCode, Code: codes[2]}, core.Meta{}); err != nil {
				t.Fatalf("elevating with the code the conflict left: %v", err)
			}
			if _, err := ts.Service.Authenticate(ctx, token); err != nil {
				t.Errorf("the token after Elevate: %v, want it kept", err)
			}
		})
	}
}

// TestElevateRenewingSameFormTwice: the same confirmation sent twice with
// the same session token and the same code (a form sent twice, whose
// second sending the server reads before the first has renewed the
// token) is a conflict for the second, told before the code is judged: the
// code is not called wrong, and no failure is counted or recorded. On
// SQLite and PostgreSQL.
func TestElevateRenewingSameFormTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			ctx := context.Background()
			secret, c := signedIn(t, ts, "alice", false)
			ts.Clock.Add(11 * time.Minute)
			a, err := ts.Service.Authenticate(ctx, jarCookie(t, c, "twofold_session"))
			if err != nil {
				t.Fatal(err)
			}
			p := core.SecondFactor{Method: twofold.MethodTOTP, Code: testenv.TOTP(t, secret, ts.Clock.Now())}
			if _, _, err := ts.Service.ElevateRenewing(ctx, a, p, core.Meta{}); err != nil {
				t.Fatalf("first sending: %v", err)
			}
			if _, token, err := ts.Service.ElevateRenewing(ctx, a, p, core.Meta{}); twofold.ErrorCode(err) != twofold.CodeConflict || token != "" {
				t.Fatalf("second sending: %v, token %v; want a conflict", twofold.ErrorCode(err), token != "")
			}
			evs, err := ts.Store.Events(ctx, a.Account.ID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range evs {
				if e.Type == "session.elevation_failed" {
					t.Errorf("the second sending was recorded as a failure: %s %s", e.Type, e.Detail)
				}
			}
		})
	}
}
