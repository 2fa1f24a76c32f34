package web_test

import (
	"context"
	"encoding/base32"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// operatorPage is one state of an operator's page: where it is (path),
// what only that state shows (must), and what its heading and <title> say.
type operatorPage struct {
	name, path, must string
	heading, title   string
}

// operatorPagesFixture fills a server with what an operator's pages show
// at their longest: a user with a 64-character username without a
// space, an email of 110 characters, many authenticators and API keys
// with many permits, sessions with a user agent of 600 characters, a
// reset of two-factor waiting, a long-named team; a suspended user; 60
// audit events with long details; webhooks to a URL of 200 characters,
// one disabled for its failures and one failing; hardware tokens with
// 64-character serials, one claimed. It returns the server, the
// operator olivia's TOTP secret, and every state of every operator page,
// the confirmation pages included.
func operatorPagesFixture(t *testing.T) (*testenv.Server, string, []operatorPage) {
	t.Helper()
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	secret := account(t, ts, "olivia", true, true)
	op := sessionOf(t, ts, "olivia", secret)
	ua := core.Meta{UserAgent: "Mozilla/5.0-" + strings.Repeat("x", 588), Source: "2001:db8:85a3:8d3:1319:8a2e:370:7348"}

	const long = "maximilian.alexander-wolfgang.hohenzollern-sigmaringen.security"
	const email = "maximilian.alexander.wolfgang.hohenzollern.sigmaringen@security-operations.example-corporation-holdings.co.uk"
	if _, err := ts.Service.CreateAccount(ctx, core.NewAccount{Username: long, Email: email, Password: testPassword}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	k := enrolPhone(t, ts, long)
	res, err := ts.Service.Login(ctx, long, testPassword, ua)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodTOTP, Code: testenv.TOTP(t, k.secret, ts.Clock.Now())}, ua)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAuth(t, ts, v.Token)
	for i := range 5 {
		label := fmt.Sprintf("%d-%s", i, strings.Repeat("W", 62))
		if i%2 == 1 {
			label = fmt.Sprintf("Work laptop %d, the one on the desk by the window", i)
		}
		e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: label}, ua)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), ua); err != nil {
			t.Fatal(err)
		}
	}
	var permits []twofold.Permit
	for _, line := range []string{"account * read", "dns customer-portal-staging.eu-west.example-hosting.co.uk/_acme-challenge/TXT read,write",
		"dns internal-billing-services.example-corporation-holdings.co.uk read", "dns eu-central.example-hosting.co.uk/_acme-challenge/TXT read,write"} {
		pm, err := permit.Parse(line)
		if err != nil {
			t.Fatal(err)
		}
		permits = append(permits, pm)
	}
	key, _, err := ts.Service.CreateAPIKey(ctx, a, core.NewAPIKey{Name: strings.Repeat("K", 64), Permits: permits}, ua)
	if err != nil {
		t.Fatal(err)
	}
	team, err := ts.Service.CreateTeam(ctx, a, "Infrastructure-and-Security-Operations-EMEA-Customer-Portal-Team", ua)
	if err != nil {
		t.Fatal(err)
	}
	account(t, ts, "sam", false, true)
	if _, err := ts.Service.InviteTeamMember(ctx, a, team.ID, "sam", "admin", ua); err != nil {
		t.Fatal(err)
	}

	// A hardware token of 64-character serial, claimed by the long user,
	// and one not claimed.
	seed := func(serial string, b byte) otp.Seed {
		return otp.Seed{Serial: serial, Manufacturer: "Example Security Tokens International", Type: otp.TypeHOTP,
			Secret: []byte(strings.Repeat(string(rune('a'+b)), 20)), Params: otp.Params{Algorithm: otp.SHA1, Digits: 6}}
	}
	claimed, unclaimed := seed("HOTP-"+strings.Repeat("0123456789", 5)+"ABCDEFGHI", 0), seed("HOTP-"+strings.Repeat("9876543210", 5)+"ZYXWVUTSR", 1)
	if _, err := ts.Service.ImportTokensFor(ctx, op, []otp.Seed{claimed, unclaimed}, ua); err != nil {
		t.Fatal(err)
	}
	code := testenv.HOTP(t, base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(claimed.Secret), 0)
	if _, err := ts.Service.ClaimToken(ctx, a, claimed.Serial, code, "Token on the key ring", ua); err != nil {
		t.Fatal(err)
	}

	// A reset of the long user's two-factor, waiting; bob, whose
	// two-factor can be reset; sam, suspended.
	if _, err := ts.Service.RequestTwoFactorReset(ctx, op, userID(t, ts, long), ua); err != nil {
		t.Fatal(err)
	}
	account(t, ts, "bob", false, true)
	if _, _, err := ts.Service.SetSuspended(ctx, op, userID(t, ts, "sam"), true, ua); err != nil {
		t.Fatal(err)
	}

	// 60 audit events of the long user, with long details.
	longID := userID(t, ts, long)
	for i := range 60 {
		e := twofold.AuditEvent{AccountID: longID, Type: "account.unlocked", At: ts.Clock.Now().Add(time.Duration(i) * time.Second),
			Source: ua.Source, UserAgent: ua.UserAgent, Detail: fmt.Sprintf("n%02d ", i) + strings.Repeat("detail-without-a-space-", 12)}
		if err := ts.Store.AddEvent(ctx, e); err != nil {
			t.Fatal(err)
		}
	}

	// Three webhooks to long URLs: one disabled after its failures, one
	// failing, one well.
	url := "https://hooks.internal-control-panel.example-corporation-holdings.co.uk/api/v2/integrations/twofold/audit-events/receiver?tenant=3f9a2c0e-5d1b-4b7e-9c1a-8e2f4d6b7a90&v=2"
	var hooks []twofold.Webhook
	for i, events := range [][]string{{"login.*", "account.suspended", "account.unsuspended", "factor.*", "recovery.*", "webhook.*"}, nil, {"login.throttled"}} {
		w, _, err := ts.Service.CreateWebhook(ctx, op, core.NewWebhook{URL: fmt.Sprintf("%s&n=%d", url, i), Events: events,
			Description: "The customer control panel's security feed, read by the on-call team's dashboards and kept for a year"}, ua)
		if err != nil {
			t.Fatal(err)
		}
		hooks = append(hooks, w)
	}
	now := ts.Clock.Now()
	for i, disable := range []bool{true, false} {
		if ok, err := ts.Store.ClaimWebhook(ctx, hooks[i].ID, "test", now, now.Add(time.Minute)); err != nil || !ok {
			t.Fatalf("claim webhook: %v, %v", ok, err)
		}
		if ok, err := ts.Store.FailWebhook(ctx, hooks[i].ID, "test", now, now.Add(time.Hour), "tls", disable); err != nil || !ok {
			t.Fatalf("fail webhook: %v, %v", ok, err)
		}
	}

	u, bob, sam := "/admin/users/"+longID, "/admin/users/"+userID(t, ts, "bob"), "/admin/users/"+userID(t, ts, "sam")
	return ts, secret, []operatorPage{
		{"users", "/admin/users", "#resets", "Users", "Users"},
		{"users found", "/admin/users?q=a", "table.users", "Users", "Users"},
		{"nobody found", "/admin/users?q=" + strings.Repeat("z", 60), ".empty", "Users", "Users"},
		{"a user with a reset waiting", u, "#reset-pending", long, long},
		{"a suspended user", sam, "#suspended-note", "sam", "sam"},
		{"reset two-factor", bob + "/reset-two-factor", "#confirm", "bob", "Reset two-factor — bob"},
		{"cancel a reset", u + "/reset-two-factor/cancel", "#confirm", long, "Cancel reset — " + long},
		{"sign a user out", u + "/logout", "#confirm", long, "Sign out everywhere — " + long},
		{"change an email", u + "/email", "#email", long, "Change email address — " + long},
		{"revoke an API key", u + "/api-keys/" + key.ID + "/revoke", "#confirm", key.Name, "Revoke API key — " + long},
		{"suspend", u + "/suspend", "#confirm", long, "Suspend account — " + long},
		{"lift a suspension", sam + "/unsuspend", "#confirm", "sam", "Lift suspension — sam"},
		{"delete a user", bob + "/delete", "#confirm", "bob", "Delete account — bob"},
		{"all teams", "/admin/teams", "#teams", "All teams", "All teams"},
		{"a team", "/admin/teams/" + team.ID, "#invitation-sam", team.Name, team.Name},
		{"audit log", "/admin/events", "#events", "Audit log", "Audit"},
		{"audit log of one account and type", "/admin/events?type=account.unlocked&account=" + longID, "#older", "Audit log", "Audit"},
		{"audit log with a malformed filter", "/admin/events?type=" + strings.Repeat("not-a-type!", 12), "#error", "Audit log", "Audit"},
		{"hardware tokens", "/admin/tokens", "#token-" + claimed.Serial, "Hardware tokens", "Hardware tokens"},
		{"unclaimed hardware tokens", "/admin/tokens?unclaimed=1", "#token-" + unclaimed.Serial, "Hardware tokens", "Hardware tokens"},
		{"webhooks", "/admin/webhooks", "#disabled-reason-" + hooks[0].ID, "Webhooks", "Webhooks"},
		{"enable a webhook", "/admin/webhooks/" + hooks[0].ID + "/enable", "#confirm", "hooks.internal-control-panel", "webhook"},
		{"new secret of a webhook", "/admin/webhooks/" + hooks[1].ID + "/rotate-secret", "#confirm", "hooks.internal-control-panel", "secret"},
		{"delete a webhook", "/admin/webhooks/" + hooks[2].ID + "/delete", "#confirm", "hooks.internal-control-panel", "webhook"},
	}
}

// signedInOperator starts Chromium signed in as olivia, with focus
// emulated (a headless tab is not the focused window: without it no
// element matches :focus), and the sign-in's confirmation lapsed, so
// that each form asks for a code as it does after a few minutes.
func signedInOperator(t *testing.T, ts *testenv.Server, secret string) *page {
	t.Helper()
	ts.Clock.Add(30 * time.Second) // a code of its own
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "olivia", secret)
	if _, err := chromedp.Call(p.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	ts.Clock.Add(11 * time.Minute)
	return p
}

// TestBrowserOperatorUserPagesFit: at 320 and 390 CSS pixels (a phone)
// and 1280 (a desktop), no page of the users' part of the operator's pages
// scrolls sideways with its longest contents: the list, a user's page,
// every confirmation page an action on a user leads to. A table wider
// than the screen scrolls in its own box, which a keyboard can reach and
// which is named, and its headings stay on one line; nothing is clipped
// out of reach; the heading and the title say which page it is.
// (TestBrowserOperatorOtherPagesFit covers the other operator pages.)
func TestBrowserOperatorUserPagesFit(t *testing.T) {
	operatorPagesFit(t, true)
}

// TestBrowserOperatorOtherPagesFit: as TestBrowserOperatorUserPagesFit,
// for the teams, the audit log, the hardware tokens and the webhooks with
// their confirmation pages.
func TestBrowserOperatorOtherPagesFit(t *testing.T) {
	operatorPagesFit(t, false)
}

// operatorPages returns the fixture's pages of users (users true) or the
// others: half of them each, for one browser to walk in its time.
func operatorPages(t *testing.T, users bool) (*testenv.Server, string, []operatorPage) {
	t.Helper()
	ts, secret, all := operatorPagesFixture(t)
	var pages []operatorPage
	for _, pg := range all {
		if strings.HasPrefix(pg.path, "/admin/users") == users {
			pages = append(pages, pg)
		}
	}
	return ts, secret, pages
}

func operatorPagesFit(t *testing.T, users bool) {
	ts, secret, pages := operatorPages(t, users)
	p := signedInOperator(t, ts, secret)
	for _, pg := range pages {
		failed := false
		for _, width := range []int64{320, narrowWidth, wideWidth} {
			p.do(chromedp.EmulateViewport(width, 844))
			p.open(pg.path)
			if !p.exists(pg.must) {
				t.Fatalf("%s: no %s; it says: %s", pg.name, pg.must, p.text("main"))
			}
			if over, what := overflow(p); over > 0 {
				t.Errorf("%s at %d px: the page is %.0f px wider than the screen (%s)", pg.name, width, over, what)
				failed = true
			}
			for _, bad := range eval[[]string](p, pageLayoutProblems) {
				t.Errorf("%s at %d px: %s", pg.name, width, bad)
				failed = true
			}
		}
		if h1 := p.text("h1"); !strings.Contains(h1, pg.heading) {
			t.Errorf("%s: heading %q, want it to name %q", pg.name, h1, pg.heading)
		}
		if title := eval[string](p, "document.title"); !strings.Contains(title, pg.title) || !strings.HasSuffix(title, " · Twofold") {
			t.Errorf("%s: title %q, want it to name %q", pg.name, title, pg.title)
		}
		if failed || pg.name == "webhooks" || pg.name == "audit log" || pg.name == "a user with a reset waiting" {
			p.screenshot("operator-" + strings.ReplaceAll(pg.name, " ", "-"))
		}
	}
	if users {
		return
	}
	// The answer that shows a webhook's new signing secret, once: not
	// opened again, which would send the form again.
	for _, pg := range pages {
		if pg.name != "new secret of a webhook" {
			continue
		}
		p.do(chromedp.EmulateViewport(320, 844))
		p.open(pg.path)
		p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "#confirm")
		if !strings.HasPrefix(p.text("#webhook-secret"), "whsec_") {
			t.Fatalf("no new secret shown; the page says: %s", p.text("main"))
		}
		for _, width := range []int64{320, narrowWidth, wideWidth} {
			p.do(chromedp.EmulateViewport(width, 844))
			renderedTwice(p) // resized, not reloaded: let static/tablebox.js see the new width
			if over, what := overflow(p); over > 0 {
				t.Errorf("the new secret at %d px: the page is %.0f px wider than the screen (%s)", width, over, what)
			}
			for _, bad := range eval[[]string](p, pageLayoutProblems) {
				t.Errorf("the new secret at %d px: %s", width, bad)
			}
		}
		p.screenshot("operator-webhook-new-secret")
	}
}

// pageLayoutProblems lists, in the page at its present width, a table
// whose box scrolls sideways but that a keyboard cannot reach or that has
// no name; a box that does not scroll but is a Tab stop all the same (one
// that does nothing); a table heading broken over lines; and an element that clips
// its text with no title to show it whole.
const pageLayoutProblems = `(() => {
	const out = [];
	const name = e => e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : "");
	for (const w of document.querySelectorAll(".table-wrap")) {
		if (w.scrollWidth <= w.clientWidth) {
			if (w.tabIndex >= 0) out.push("the table in " + name(w) + " does not scroll sideways but is a Tab stop");
			continue;
		}
		if (window.innerWidth >= 1000) out.push("the table in " + name(w) + " scrolls sideways on a desktop's width");
		if (w.tabIndex < 0 && !w.querySelector("a[href], button, input, select, textarea")) out.push("the table in " + name(w) + " scrolls sideways but a keyboard cannot reach it");
		if (!w.getAttribute("aria-label") && !w.getAttribute("aria-labelledby")) out.push("the table in " + name(w) + " scrolls sideways in a box without a name");
	}
	for (const th of document.querySelectorAll("th")) {
		if (!th.checkVisibility() || !th.textContent.trim()) continue;
		const r = document.createRange(); r.selectNodeContents(th);
		const lines = new Set([...r.getClientRects()].map(b => Math.round(b.top)));
		if (lines.size > 1) out.push("the table heading " + JSON.stringify(th.textContent.trim()) + " is broken over " + lines.size + " lines");
	}
	for (const e of document.querySelectorAll("main *")) {
		const cs = getComputedStyle(e);
		if (e.closest(".sr")) continue;
		if ((cs.overflowX === "hidden" || cs.overflowX === "clip" || cs.textOverflow === "ellipsis") && e.scrollWidth > e.clientWidth + 1 && !e.title && e.checkVisibility() && e.textContent.trim())
			out.push(name(e) + " cuts its text with no title showing it whole");
	}
	return out;
})()`

// TestBrowserOperatorUserPagesKeyboard: on every page of the users' part
// of the operator's pages, at a phone's width, Tab reaches every link,
// button, field and scrolling table shown, in the order of the page, each
// with a focus ring one can see; every field has a label, every button and
// link a name. (TestBrowserOperatorOtherPagesKeyboard covers the others.)
func TestBrowserOperatorUserPagesKeyboard(t *testing.T) {
	operatorPagesKeyboard(t, true)
}

// TestBrowserOperatorOtherPagesKeyboard: as
// TestBrowserOperatorUserPagesKeyboard, for the teams, the audit log, the
// hardware tokens and the webhooks with their confirmation pages.
func TestBrowserOperatorOtherPagesKeyboard(t *testing.T) {
	operatorPagesKeyboard(t, false)
}

func operatorPagesKeyboard(t *testing.T, users bool) {
	ts, secret, pages := operatorPages(t, users)
	p := signedInOperator(t, ts, secret)
	p.do(chromedp.EmulateViewport(narrowWidth, 844))
	for _, pg := range pages {
		p.open(pg.path)
		for _, bad := range eval[[]string](p, unnamedControls) {
			t.Errorf("%s: %s", pg.name, bad)
		}
		want := eval[[]string](p, `[...document.querySelectorAll("`+focusable+`")].filter(e => e.checkVisibility() && e.tabIndex >= 0).map(e => e.dataset.tabName = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + ":" + (e.getAttribute("aria-label") || e.textContent || e.name || "").trim().slice(0, 30) + "@" + Math.random().toString(36).slice(2, 6))`)
		if len(want) == 0 {
			t.Fatalf("%s: nothing to reach", pg.name)
		}
		// From the first (the skip link), not from a field that has
		// the focus when the page opens.
		p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("[data-tab-name]").focus()`))
		got := []string{want[0]}
		for range len(want) {
			p.do(chromedp.KeyEvent(kb.Tab))
			f := eval[focusState](p, focusNow)
			if f.Name == "" {
				continue // the skip link, the main part, or the browser's own
			}
			got = append(got, f.Name)
			if !f.Ring {
				t.Errorf("%s at %d px: %s has focus with no ring to see (outline %q, shadow %q)", pg.name, narrowWidth, f.Name, f.Outline, f.Shadow)
			}
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			t.Errorf("%s at %d px: Tab goes through\n  %s\nwant, in the page's order,\n  %s", pg.name, narrowWidth, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
}

// focusable is every element a keyboard may reach.
const focusable = `a[href], button, input:not([type=hidden]), select, textarea, summary, [tabindex]`

type focusState struct {
	Name, Outline, Shadow string
	Ring                  bool
}

// focusNow names the element that has focus (its data-tab-name, "" for
// another) and tells whether it shows a ring: an outline or a shadow of 2
// px or more.
const focusNow = `(() => {
	const e = document.activeElement, cs = getComputedStyle(e);
	const ring = (cs.outlineStyle !== "none" && parseFloat(cs.outlineWidth) >= 2) || cs.boxShadow !== "none";
	return {Name: e.dataset.tabName || "", Outline: cs.outlineStyle + " " + cs.outlineWidth, Shadow: cs.boxShadow, Ring: ring};
})()`

// unnamedControls lists the fields shown without a label, and the links
// and buttons without a name.
const unnamedControls = `(() => {
	const out = [];
	for (const e of document.querySelectorAll("input:not([type=hidden]), select, textarea")) {
		if (!e.checkVisibility()) continue;
		if (!e.labels.length && !e.getAttribute("aria-label") && !e.getAttribute("aria-labelledby")) out.push("the field " + (e.id || e.name) + " has no label");
	}
	for (const e of document.querySelectorAll("a[href], button, summary")) {
		if (e.checkVisibility() && !(e.getAttribute("aria-label") || e.textContent).trim()) out.push("a " + e.tagName.toLowerCase() + " without a name: " + e.outerHTML.slice(0, 80));
	}
	return out;
})()`
