package web_test

import (
	"context"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// Tests of what a walk through the pages in a browser found.

// keys are an account's first authenticator and what its confirmation
// showed once: the recovery codes and the paper key.
type keys struct {
	secret   string
	codes    []string
	paperKey string
}

// accountWithKeys creates username with a confirmed TOTP factor "Phone"
// through the core and returns its secret, recovery codes and paper key.
func accountWithKeys(t testing.TB, ts *testenv.Server, username string) keys {
	t.Helper()
	if _, err := ts.Service.CreateAccount(context.Background(), core.NewAccount{Username: username, Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	k := enrolPhone(t, ts, username)
	if len(k.codes) == 0 || k.paperKey == "" {
		t.Fatal("the first authenticator's confirmation gave no recovery codes or paper key")
	}
	return k
}

// enrolPhone signs username in through the core and enrols and confirms a
// TOTP factor "Phone"; the recovery codes and paper key are there when it
// was the first.
func enrolPhone(t testing.TB, ts *testenv.Server, username string) keys {
	t.Helper()
	ctx := context.Background()
	res, err := ts.Service.Login(ctx, username, testPassword, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := ts.Service.Authenticate(ctx, res.Token)
	if err != nil {
		t.Fatal(err)
	}
	e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: "totp", Label: "Phone"}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	ts.Clock.Add(30 * time.Second) // the confirming code is used up
	return keys{secret: e.Secret, codes: c.RecoveryCodes, paperKey: c.PaperKey}
}

// methodLink returns the link of the page in body to the way of confirming
// method, unescaped, or fails.
func methodLink(t *testing.T, body string, method string) *url.URL {
	t.Helper()
	for _, m := range regexp.MustCompile(`href="([^"]*)"`).FindAllStringSubmatch(body, -1) {
		u, err := url.Parse(html.UnescapeString(m[1]))
		if err == nil && u.Query().Get("method") == method {
			return u
		}
	}
	t.Fatalf("the page has no link to confirm with %s", method)
	return nil
}

// labelField returns the value of the page's field for the new
// authenticator's name, unescaped.
func labelField(t *testing.T, body string) string {
	t.Helper()
	m := regexp.MustCompile(`name="label" value="([^"]*)"`).FindStringSubmatch(body)
	if m == nil {
		t.Fatal("the page has no field for the new authenticator's name")
	}
	return html.UnescapeString(m[1])
}

// TestAddAnotherKeepsTheName: on "Add another authenticator?", the links to
// confirm with a recovery code or the paper key instead carry the name typed
// for the new authenticator, sealed (never in clear), so that after
// confirming with either the setup goes on under that name; a bad name in
// such a link is told at once, before any code is spent.
func TestAddAnotherKeepsTheName(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	k := accountWithKeys(t, ts, "walt")
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "walt", k.secret)

	for _, tc := range []struct {
		method, label, code string
	}{
		{"recovery_code", `Tablet & "work" <2>`, k.codes[0]},
		{"paper_key", "Laptop ?method=totp#x", k.paperKey},
	} {
		t.Run(tc.method, func(t *testing.T) {
			ts.Clock.Add(11 * time.Minute) // any elevation lapses
			r := c.post("/settings/security/totp", url.Values{"label": {tc.label}})
			if r.status != http.StatusOK || !strings.Contains(r.body, `name="elevate_code"`) {
				t.Fatalf("adding without a fresh code: status %d, want the page asking for one: %s", r.status, pageError(r.body))
			}
			link := methodLink(t, r.body, tc.method)
			if link.Path != "/settings/security/totp" || link.Query().Has("label") || !link.Query().Has("kept") {
				t.Fatalf("the link to confirm with %s is %s: want the same page with the name %q sealed", tc.method, link, tc.label)
			}
			r = c.get(link.RequestURI())
			if r.status != http.StatusOK || labelField(t, r.body) != tc.label {
				t.Fatalf("GET %s: status %d, name field %q, want %q", link, r.status, labelField(t, r.body), tc.label)
			}
			back := methodLink(t, r.body, "totp")
			if r := c.get(back.RequestURI()); labelField(t, r.body) != tc.label {
				t.Errorf("the way back to the app's code (%s) shows the name %q, want %q", back, labelField(t, r.body), tc.label)
			}
			// The form as the browser sends it.
			r = c.post("/settings/security/totp", url.Values{"label": {labelField(t, r.body)}, "elevate_method": {tc.method}, "elevate_code": {tc.code}})
			if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") {
				t.Fatalf("confirming with %s: at %s (%d): %s", tc.method, r.url, r.status, pageError(r.body))
			}
			if want := "Add “" + tc.label + "”"; !strings.Contains(html.UnescapeString(r.body), want) {
				t.Errorf("the setup page does not say %q", want)
			}
		})
	}

	// A name that no authenticator may have is refused on the page itself.
	ts.Clock.Add(11 * time.Minute)
	r := c.get("/settings/security/totp?method=paper_key&label=" + url.QueryEscape("Lap\u200btop"))
	if r.status != http.StatusBadRequest || !strings.Contains(r.body, `name="elevate_code"`) || labelField(t, r.body) != "Lap\u200btop" {
		t.Errorf("a bad name in the link: status %d, %q; want 400, the page with the name kept", r.status, pageError(r.body))
	}
	r = c.get("/settings/security/totp?method=paper_key&label=phone")
	if r.status != http.StatusConflict {
		t.Errorf("a name already taken in the link: status %d, %q; want 409", r.status, pageError(r.body))
	}
}

// TestSignInIgnoresCase: the sign-in form takes a username in any case, as
// the account was created or not, and signs in to that account.
func TestSignInIgnoresCase(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	r := c.signIn("ALICE")
	if r.url.Path != "/settings/security" || !strings.Contains(r.body, "Signed in as <strong>alice</strong>") {
		t.Errorf("sign-in as ALICE: at %s (%d): %s", r.url, r.status, pageError(r.body))
	}
}

// TestTwoFactorSettingHasOneControl: "Two-factor at sign-in" on the security
// page shows its state as text beside one real control, the button that
// changes it; nothing there looks like a switch that does nothing.
func TestTwoFactorSettingHasOneControl(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	k := accountWithKeys(t, ts, "tara")
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "tara", k.secret)
	section := regexp.MustCompile(`(?s)<section class="card" id="required">.*?</section>`)
	for _, tc := range []struct {
		state, button, action string
	}{
		{"On", `id="required-off"`, ""},
		{"Off", `id="required-on"`, "false"},
	} {
		if tc.action != "" {
			if r := c.post("/settings/security/two-factor", url.Values{"required": {tc.action}}); r.url.RawQuery != "m=required_off" {
				t.Fatalf("turning it off: at %s: %s", r.url, pageError(r.body))
			}
		}
		s := section.FindString(c.get("/settings/security").body)
		if s == "" {
			t.Fatal("the security page has no two-factor setting")
		}
		if !strings.Contains(s, `id="required-state">`+tc.state+`</span>`) || !strings.Contains(s, tc.button) {
			t.Errorf("%s: the setting does not show its state as text beside its button:\n%s", tc.state, s)
		}
		if strings.Contains(s, `class="switch`) || strings.Contains(s, `aria-hidden="true"`) {
			t.Errorf("%s: the setting has a decorative switch:\n%s", tc.state, s)
		}
	}
}

// TestUnknownPagesAnswerWithTheSitesPage: a path that is no page gets the
// site's own error page with 404 (signed in, with the menu), not Go's bare
// text, under /static/ too; a page's path with another method gets it with
// 405 and Allow; paths under /v1/ keep their problem answers.
func TestUnknownPagesAnswerWithTheSitesPage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "uma", false, false)
	c := newClient(t, ts.URL())
	isErrorPage := func(r reply, status int) bool {
		return r.status == status && strings.HasPrefix(r.header.Get("Content-Type"), "text/html") &&
			strings.Contains(r.body, fmt.Sprintf(`<p class="eyebrow">Error %d</p>`, status)) &&
			r.header.Get("Content-Security-Policy") != "" && r.header.Get("X-Frame-Options") == "DENY"
	}
	for _, path := range []string{"/no-such-page", "/settings/security/nothing", "/static/", "/static/nothing.css"} {
		r := c.get(path)
		if !isErrorPage(r, http.StatusNotFound) || !strings.Contains(r.body, `href="/login"`) {
			t.Errorf("GET %s signed out: status %d, %s, want the site's 404 page:\n%s", path, r.status, r.header.Get("Content-Type"), r.body)
		}
	}
	c.signIn("uma")
	if r := c.get("/no-such-page"); !isErrorPage(r, http.StatusNotFound) || !strings.Contains(r.body, "Sign out") || !strings.Contains(r.body, `href="/settings/security"`) {
		t.Errorf("GET /no-such-page signed in: status %d, want the 404 page with the menu", r.status)
	}
	req, err := http.NewRequest("PUT", ts.URL()+"/login", nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := c.do(req); !isErrorPage(r, http.StatusMethodNotAllowed) || r.header.Get("Allow") != "GET, HEAD, POST" {
		t.Errorf("PUT /login: status %d, Allow %q, want the 405 page with Allow GET, HEAD, POST", r.status, r.header.Get("Allow"))
	}
	if r := c.get("/static/style.css"); r.status != http.StatusOK {
		t.Errorf("GET /static/style.css: status %d", r.status)
	}
	if r := c.get("/v1/nothing"); r.status != http.StatusNotFound || r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("GET /v1/nothing: %d %s, want a 404 problem", r.status, r.header.Get("Content-Type"))
	}
}

// TestEventsNameTheirFactors: the events of a factor show its label while it
// exists, on the user's pages and the operator's, looked up as the page is
// made: the stored detail keeps the factor's id, which the operator still
// sees; a removed factor's events name none but its removal, which recorded
// its label and kind.
func TestEventsNameTheirFactors(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	k := accountWithKeys(t, ts, "vera") // "Phone"
	opSecret := account(t, ts, "olga", true, true)
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "vera", k.secret)
	m := regexp.MustCompile(`id="factor-([a-z0-9]+)"`).FindStringSubmatch(c.get("/settings/security").body)
	if m == nil {
		t.Fatal("the security page lists no authenticator")
	}
	phone := m[1]
	// A second authenticator, set up and cancelled: its events name none.
	r := c.post("/settings/security/totp", url.Values{"label": {"Gone tablet"}})
	if !strings.HasPrefix(r.url.Path, "/settings/security/totp/") {
		t.Fatalf("starting a setup: at %s: %s", r.url, pageError(r.body))
	}
	gone := strings.TrimPrefix(r.url.Path, "/settings/security/totp/")
	if r := c.post("/settings/security/factors/"+gone+"/remove", url.Values{}); r.url.RawQuery != "m=setup_cancelled" {
		t.Fatalf("cancelling the setup: at %s: %s", r.url, pageError(r.body))
	}

	named := `Authenticator added <span class="ev-factor">“Phone”</span>`
	for _, path := range []string{"/settings/security/events", "/settings/security"} {
		body := c.get(path).body
		if !strings.Contains(body, named) || !strings.Contains(body, `Authenticator setup started <span class="ev-factor">“Phone”</span>`) {
			t.Errorf("%s: the events of Phone do not name it", path)
		}
		// Its removal names it as it was, by label and kind; its other
		// events, looked up by the factor's id, name it no more.
		if !strings.Contains(body, `Authenticator removed <span class="ev-factor">“Gone tablet” (Authenticator app (TOTP))</span>`) ||
			strings.Contains(body, `Authenticator setup started <span class="ev-factor">“Gone tablet”`) {
			t.Errorf("%s: the removal of the cancelled setup does not name it, or its setup does", path)
		}
		if evs := regexp.MustCompile(`(?s)<ol class="events">.*?</ol>`).FindString(body); strings.Contains(evs, phone) || strings.Contains(evs, gone) {
			t.Errorf("%s: the user's events show a factor's id", path)
		}
	}

	op := newClient(t, ts.URL())
	op.signInWithCode(ts, "olga", opSecret)
	vera, err := ts.Store.AccountByUsername(context.Background(), "vera")
	if err != nil {
		t.Fatal(err)
	}
	body := op.get("/admin/users/" + vera.ID).body
	if !strings.Contains(body, named) {
		t.Error("the operator's view of vera does not name Phone in its events")
	}
	for _, detail := range []string{"totp " + phone, "totp " + gone} {
		if !strings.Contains(body, `<p class="ev-detail">`+detail+`</p>`) {
			t.Errorf("the operator's view of vera lacks the stored detail %q", detail)
		}
	}
}

// TestNameErrorsSayName: the fields for an authenticator's label are called
// its name on the pages, and so are they in the errors about them.
func TestNameErrorsSayName(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	k := accountWithKeys(t, ts, "wanda")
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "wanda", k.secret)
	id := regexp.MustCompile(`id="factor-([a-z0-9]+)"`).FindStringSubmatch(c.get("/settings/security").body)[1]
	long := strings.Repeat("x", 65)
	ts.Clock.Add(11 * time.Minute) // the page with the link asks for a code
	for _, tc := range []struct {
		name string
		r    reply
	}{
		{"empty name", c.post("/settings/security/totp", url.Values{"label": {"  "}})},
		{"long name", c.post("/settings/security/totp", url.Values{"label": {long}})},
		{"hidden character", c.post("/settings/security/totp", url.Values{"label": {"Tab\u200blet"}})},
		{"rename to empty", c.post("/settings/security/factors/"+id+"/rename", url.Values{"label": {" "}})},
		{"rename too long", c.post("/settings/security/factors/"+id+"/rename", url.Values{"label": {long}})},
		{"link with a bad name", c.get("/settings/security/totp?method=paper_key&label=" + url.QueryEscape("Tab\u200blet"))},
	} {
		msg := pageError(tc.r.body)
		if tc.r.status != http.StatusBadRequest || !strings.Contains(strings.ToLower(msg), "name") || strings.Contains(strings.ToLower(msg), "label") {
			t.Errorf("%s: status %d, error %q; want 400 and an error about the name", tc.name, tc.r.status, msg)
		}
	}
}

// TestErrorPageSaysItOnce: the error page says its message once, in its
// card, not again in a banner above it.
func TestErrorPageSaysItOnce(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	c := newClient(t, ts.URL())
	for _, path := range []string{"/no-such-page", "/setup/not-the-token"} {
		r := c.get(path)
		msg := pageError(r.body)
		if r.status != http.StatusNotFound || strings.Count(r.body, `id="error"`) != 1 || strings.Count(html.UnescapeString(r.body), msg) != 1 {
			t.Errorf("GET %s: status %d, %d elements with id error, message %q said %d times; want 404, one, once",
				path, r.status, strings.Count(r.body, `id="error"`), msg, strings.Count(html.UnescapeString(r.body), msg))
		}
	}
}
