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
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// enrolToken creates username with a hardware token (HOTP) "Key fob" as its
// only authenticator, confirmed through the core with the token's first
// code (oathtool is the token), and returns the token's secret and id.
func enrolToken(t *testing.T, ts *testenv.Server, username string) (secret, id string) {
	t.Helper()
	ctx := context.Background()
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: username, Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	a := sessionOf(t, ts, username, "")
	e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorHOTP, Label: "Key fob"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.HOTP(t, e.Secret, 0), core.Meta{}); err != nil {
		t.Fatal(err)
	}
	return e.Secret, e.Factor.ID
}

// eventsOf returns username's audit events of type typ, newest first.
func eventsOf(t *testing.T, ts *testenv.Server, username, typ string) []twofold.AuditEvent {
	t.Helper()
	ctx := context.Background()
	a, err := ts.Store.AccountByUsername(ctx, username)
	if err != nil {
		t.Fatal(err)
	}
	evs, err := ts.Store.Events(ctx, a.ID, 0, 500)
	if err != nil {
		t.Fatal(err)
	}
	var out []twofold.AuditEvent
	for _, ev := range evs {
		if ev.Type == typ {
			out = append(out, ev)
		}
	}
	return out
}

// codeFields matches the resync form's two code fields with the attributes
// phones and password managers need to offer a one-time code.
var codeFields = regexp.MustCompile(`<input id="(code|next_code)" name="(code|next_code)" class="code-input" autocomplete="one-time-code" inputmode="numeric" placeholder="123456" required`)

// TestResyncToken: a hardware token (HOTP) pressed too often, whose codes
// sign-in no longer takes, is resynchronised on the pages with two
// consecutive codes, as with POST /v1/me/factors/{id}/resync: the security
// page links to a form with two one-time-code fields and no "confirm it's
// you"; codes not in a row, blank fields, a cross-site form and a replay are
// refused with a clear message (only real attempts recorded as
// factor.resync_failed); the right codes move the counter on
// (factor.resynchronised), so the token's next code signs in; wrong codes
// are throttled as the API's are, with Retry-After. Another account's
// factor is not found, and a factor that cannot be resynchronised gets no
// form. On SQLite and PostgreSQL.
func TestResyncToken(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret, id := enrolToken(t, ts, "tara")
			code := func(n uint64) string { return testenv.HOTP(t, secret, n) }
			c := newClient(t, ts.URL())
			c.signIn("tara")
			if r := c.post("/login/verify", url.Values{"method": {"hotp"}, "code": {code(1)}}); r.url.Path != "/settings/security" {
				t.Fatalf("sign-in with the token: at %s: %s", r.url, pageError(r.body))
			}
			page := "/settings/security/factors/" + id + "/resync"
			if body := c.get("/settings/security").body; !strings.Contains(body, `href="`+page+`"`) {
				t.Fatal("the security page does not link to resynchronising the token")
			}
			r := c.get(page)
			if r.status != http.StatusOK || !strings.Contains(r.body, `action="`+page+`"`) || !strings.Contains(r.body, "Resynchronise “Key fob”") {
				t.Fatalf("GET %s: status %d, no form for the token: %s", page, r.status, pageError(r.body))
			}
			if got := len(codeFields.FindAllString(r.body, -1)); got != 2 {
				t.Errorf("the form has %d one-time-code fields (inputmode numeric, autocomplete one-time-code), want 2", got)
			}
			if strings.Contains(r.body, `name="elevate_code"`) {
				t.Error("the form asks to confirm it's you, which the API does not")
			}

			// Pressed 48 times in a drawer: the look-ahead of 10 misses code 50.
			post := func(first, next string) reply {
				t.Helper()
				return c.post(page, url.Values{"code": {first}, "next_code": {next}})
			}
			r = post(code(50), code(52))
			if r.status != http.StatusUnauthorized || !strings.HasPrefix(pageError(r.body), "Those codes were not accepted.") {
				t.Errorf("codes not in a row: status %d, %q; want 401 and the codes not accepted", r.status, pageError(r.body))
			}
			if strings.Contains(r.body, code(50)) || strings.Contains(r.body, code(52)) {
				t.Error("the refused page shows the codes typed")
			}
			if !strings.Contains(r.body, `action="`+page+`"`) {
				t.Error("the refused page offers no form to try again")
			}
			r = post(" - ", "  ")
			if r.status != http.StatusBadRequest || pageError(r.body) != "Type two codes: the one your token shows now, then the next one." {
				t.Errorf("blank codes: status %d, %q; want 400 asking for two codes", r.status, pageError(r.body))
			}
			if got := eventsOf(t, ts, "tara", "factor.resync_failed"); len(got) != 1 || !strings.HasPrefix(got[0].Detail, id+" (") {
				t.Errorf("factor.resync_failed events %v, want one, of the codes not in a row (blank codes are no attempt)", got)
			}
			cross := url.Values{"code": {code(50)}, "next_code": {code(51)}, "csrf": {c.csrf}}
			if r := c.postRaw(page, cross, http.Header{"Sec-Fetch-Site": {"cross-site"}}); r.status != http.StatusForbidden {
				t.Errorf("a cross-site form: status %d, want 403", r.status)
			}
			if r := c.postRaw(page, url.Values{"code": {code(50)}, "next_code": {code(51)}}, nil); r.status != http.StatusForbidden {
				t.Errorf("a form without its CSRF token: status %d, want 403", r.status)
			}
			if got := eventsOf(t, ts, "tara", "factor.resynchronised"); len(got) != 0 {
				t.Fatalf("a refused form resynchronised the token: %v", got)
			}

			r = post(code(50), code(51))
			if r.url.Path != "/settings/security" || r.url.RawQuery != "m=resynchronised" || !strings.Contains(r.body, "Authenticator resynchronised") {
				t.Fatalf("two codes in a row: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			evs := eventsOf(t, ts, "tara", "factor.resynchronised")
			if len(evs) != 1 || evs[0].Detail != id+" counter 51" || evs[0].Source == "" || !strings.HasPrefix(evs[0].UserAgent, "Go-http-client") {
				t.Errorf("factor.resynchronised events %+v, want one at counter 51 with the source and user agent", evs)
			}
			if r := post(code(50), code(51)); r.status != http.StatusUnauthorized {
				t.Errorf("the same codes again: status %d, want 401", r.status)
			}

			// The token's next code signs in.
			c.post("/logout", url.Values{})
			c.signIn("tara")
			if r := c.post("/login/verify", url.Values{"method": {"hotp"}, "code": {code(52)}}); r.url.Path != "/settings/security" {
				t.Fatalf("sign-in with the code after the resynchronised ones: at %s: %s", r.url, pageError(r.body))
			}

			// Wrong codes are throttled, the right ones too while locked.
			var last reply
			for i := uint64(0); i < 10; i++ {
				last = post(code(60+2*i), code(62+2*i))
				if last.status == http.StatusTooManyRequests {
					break
				}
				if last.status != http.StatusUnauthorized {
					t.Fatalf("wrong codes %d: status %d: %s", i+1, last.status, pageError(last.body))
				}
			}
			if last.status != http.StatusTooManyRequests || last.header.Get("Retry-After") == "" ||
				!regexp.MustCompile(`^Too many attempts\. Wait (a second|\d+ seconds|a minute|\d+ minutes) and try again\.$`).MatchString(pageError(last.body)) {
				t.Fatalf("wrong codes were not throttled with a wait: status %d, Retry-After %q, %q", last.status, last.header.Get("Retry-After"), pageError(last.body))
			}
			if r := post(code(100), code(101)); r.status != http.StatusTooManyRequests {
				t.Errorf("the right codes while locked: status %d, want 429", r.status)
			}
			ts.Clock.Add(time.Minute)
			if r := post(code(100), code(101)); r.url.RawQuery != "m=resynchronised" {
				t.Errorf("the right codes after the lock: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}

			// Another account's token is not found; a setup not finished
			// cannot be resynchronised.
			account(t, ts, "bob", false, false)
			bob := newClient(t, ts.URL())
			bob.signIn("bob")
			if r := bob.get(page); r.status != http.StatusNotFound {
				t.Errorf("bob's GET of tara's token: status %d, want 404", r.status)
			}
			if r := bob.post(page, url.Values{"code": {code(102)}, "next_code": {code(103)}}); r.status != http.StatusNotFound {
				t.Errorf("bob's POST to tara's token: status %d, want 404", r.status)
			}
			r = c.post("/settings/security/totp", url.Values{"label": {"Tablet"}})
			pending := strings.TrimPrefix(r.url.Path, "/settings/security/totp/")
			if pending == r.url.Path || pending == "" {
				t.Fatalf("starting a setup: at %s: %s", r.url, pageError(r.body))
			}
			for _, r := range []reply{
				c.get("/settings/security/factors/" + pending + "/resync"),
				c.post("/settings/security/factors/"+pending+"/resync", url.Values{"code": {"123456"}, "next_code": {"234567"}}),
			} {
				if r.status != http.StatusBadRequest || strings.Contains(r.body, `name="next_code"`) {
					t.Errorf("a setup not finished: status %d, %q; want 400 and no form", r.status, pageError(r.body))
				}
			}
			if body := c.get("/settings/security").body; strings.Contains(body, "/factors/"+pending+"/resync") {
				t.Error("the security page offers to resynchronise a setup not finished")
			}
		})
	}
}

// TestResyncApp: an authenticator app on a device whose clock runs five
// minutes fast, beyond the window sign-in allows, is resynchronised on the
// pages with two consecutive codes; the drift is learnt
// (factor.resynchronised says how many steps), and the device's next code
// then signs in. On SQLite and PostgreSQL.
func TestResyncApp(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "tom") // an app "Phone"
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "tom", k.secret)
			m := regexp.MustCompile(`href="(/settings/security/factors/([a-z0-9]+)/resync)"`).FindStringSubmatch(c.get("/settings/security").body)
			if m == nil {
				t.Fatal("the security page does not link to resynchronising the app")
			}
			page, id := m[1], m[2]
			device := func(n int) string { // the code the fast device shows n steps on
				return testenv.TOTP(t, k.secret, ts.Clock.Now().Add(5*time.Minute+time.Duration(n)*30*time.Second))
			}
			r := c.get(page)
			if r.status != http.StatusOK || !strings.Contains(r.body, "Code the app shows now") || len(codeFields.FindAllString(r.body, -1)) != 2 {
				t.Fatalf("GET %s: status %d, not the app's form: %s", page, r.status, pageError(r.body))
			}

			// Before: the device's code is refused at sign-in.
			c.post("/logout", url.Values{})
			c.signIn("tom")
			if r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {device(0)}}); r.status != http.StatusUnauthorized {
				t.Fatalf("the fast device's code at sign-in: status %d, want 401", r.status)
			}
			ts.Clock.Add(30 * time.Second)        // the code of the first sign-in is used up
			c.signInWithCode(ts, "tom", k.secret) // as if with a code of another device

			r = c.post(page, url.Values{"code": {device(1)}, "next_code": {device(3)}})
			if r.status != http.StatusUnauthorized || pageError(r.body) != "Those codes were not accepted. Type two codes your app shows one after the other, the second right after the first, and try again." {
				t.Errorf("codes not in a row: status %d, %q", r.status, pageError(r.body))
			}
			r = c.post(page, url.Values{"code": {device(1)}, "next_code": {device(2)}})
			if r.url.RawQuery != "m=resynchronised" {
				t.Fatalf("two codes in a row: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			if evs := eventsOf(t, ts, "tom", "factor.resynchronised"); len(evs) != 1 || evs[0].Detail != id+" drift 12 steps" {
				t.Errorf("factor.resynchronised events %+v, want one with a drift of 12 steps", evs)
			}

			// After: the device's next code signs in.
			c.post("/logout", url.Values{})
			c.signIn("tom")
			if r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {device(3)}}); r.url.Path != "/settings/security" {
				t.Errorf("the fast device's next code after resynchronising: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}

// TestBrowserResyncToken: in Chromium, the holder of a hardware token
// pressed too often opens its page from the security page, types two codes
// in a row (oathtool is the token), and is back on the security page, which
// says it is resynchronised; the token's next code then confirms it's them.
// The form's fields ask phones for numbers and one-time codes.
func TestBrowserResyncToken(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret, id := enrolToken(t, ts, "tara")
	code := func(n uint64) string { return testenv.HOTP(t, secret, n) }

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signIn("tara", testPassword)
	p.wantPath("/login/verify")
	p.fillAndSubmit("#code", code(1), "button[type=submit]")
	p.wantPath("/settings/security")
	p.screenshot("security-token")
	p.click("#resync-" + id)
	p.wantPath("/settings/security/factors/" + id + "/resync")
	if got := p.text("h1"); got != "Resynchronise “Key fob”" {
		t.Errorf("heading %q", got)
	}
	for _, sel := range []string{"#code", "#next_code"} {
		if p.attr(sel, "inputmode") != "numeric" || p.attr(sel, "autocomplete") != "one-time-code" {
			t.Errorf("%s: inputmode %q, autocomplete %q; want numeric, one-time-code", sel, p.attr(sel, "inputmode"), p.attr(sel, "autocomplete"))
		}
	}
	p.screenshot("resync-hotp")
	p.fill("#code", code(40))
	p.fill("#next_code", code(42))
	p.click("#resync")
	if got := p.text("#error"); !strings.HasPrefix(got, "Those codes were not accepted.") {
		t.Errorf("codes not in a row: error %q", got)
	}
	p.fill("#code", code(40))
	p.fill("#next_code", code(41))
	p.click("#resync")
	p.wantPath("/settings/security")
	if got := p.text(".flash.ok"); !strings.HasPrefix(got, "Authenticator resynchronised") {
		t.Errorf("notice %q, want that it is resynchronised", got)
	}

	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses
	p.open("/settings/security/two-factor")
	p.fillAndSubmit("#elevate_code", code(42), "#confirm")
	if got := p.text("#required-state"); got != "Off" {
		t.Errorf("turning two-factor at sign-in off with the token's next code: state %q, at %s", got, p.path())
	}
}
