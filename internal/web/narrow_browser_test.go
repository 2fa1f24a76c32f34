package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/permit"
	"github.com/twofold/twofold/internal/testenv"
)

// overflow returns by how many CSS pixels the page is wider than the
// viewport (0 when it fits), and the element that reaches furthest right,
// for the failure's message.
func overflow(p *page) (float64, string) {
	p.t.Helper()
	type result struct {
		Over float64
		What string
	}
	r := eval[result](p, `(() => {
		const w = window.innerWidth, over = document.documentElement.scrollWidth - w;
		let what = "", right = w;
		for (const e of document.querySelectorAll("body *")) {
			const b = e.getBoundingClientRect();
			if (b.width > 0 && b.right > right) {
				right = b.right;
				what = e.tagName.toLowerCase() + (e.id ? "#" + e.id : "") + (e.className ? "." + String(e.className).split(" ").join(".") : "") + " (right edge " + Math.round(b.right) + ")";
			}
		}
		return {Over: Math.max(over, 0), What: what};
	})()`)
	return r.Over, r.What
}

// TestBrowserNarrowPagesFit: on a phone's width (390 and 320 CSS pixels)
// no page scrolls sideways: the security page with its "Add another
// authenticator" row, a DNS zone with a record (its table's hidden
// "Actions" heading, in a table wider than the screen that scrolls in its
// own box), and an operator's page of a user in a team with a
// long name (the team's id beside it).
func TestBrowserNarrowPagesFit(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	opSecret := account(t, ts, "olivia", true, true)
	account(t, ts, "bob", false, false)
	const zone = "customer-portal-staging.eu-west.example-hosting.co.uk"
	if _, err := ts.Service.AddZone(ctx, zone, "olivia", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if r := apiSession(t, ts, "bob", "").Do(t, "POST", "/v1/teams", map[string]string{"name": "Acme hosting and very long named company limited"}); r.Status != 201 {
		t.Fatalf("bob's team: %d %s", r.Status, r.Body)
	}

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "olivia", opSecret)
	p.open("/settings/dns/" + zone)
	setSelect(p, "#record-type", "TXT")
	p.fill("#record-host", "_acme-challenge.some-very-long-subdomain-name.www")
	p.fill("#record-data", `"v=spf1 include:_spf.provider-example.net include:_spf.provider-example.net include:_spf.provider-example.net ~all"`)
	p.click("#add-record-button")
	p.wantPath("/settings/dns/" + zone + "?m=record_added")

	for _, pg := range []struct{ name, shot, path, must string }{
		{"security page", "narrow-security", "/settings/security", "select#type"},
		{"DNS zone", "narrow-dns-zone", "/settings/dns/" + zone, ".record .record-data"},
		{"operator's page of a user in a team", "narrow-admin-user", "/admin/users/" + userID(t, ts, "bob"), "#teams ul.zones li code"},
	} {
		for _, width := range []int64{narrowWidth, 320} {
			p.do(chromedp.EmulateViewport(width, 844))
			p.open(pg.path)
			if !p.exists(pg.must) {
				t.Fatalf("%s: no %s; it says: %s", pg.name, pg.must, p.text("main"))
			}
			if over, what := overflow(p); over > 0 {
				t.Errorf("%s at %d px: the page is %.0f px wider than the screen (%s)", pg.name, width, over, what)
			}
		}
		p.screenshot(pg.shot)
	}
}

// TestBrowserSkipLink: the first thing a keyboard reaches on a page is
// "Skip to content", shown on screen when it has focus with a solid focus ring (not the faint one of before);
// following it puts the focus on the page's main part. An input's edge and
// its focus ring are solid enough to see (WCAG 1.4.11).
func TestBrowserSkipLink(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	p := newPage(t, ts.URL())
	// A headless tab is not the focused window: without this no element
	// matches :focus.
	if _, err := chromedp.Call(p.ctx, emulation.SetFocusEmulationEnabled, emulation.SetFocusEmulationEnabledParams{Enabled: true}); err != nil {
		t.Fatal(err)
	}
	p.open("/login")
	if top := eval[float64](p, `document.querySelector("a.skip").getBoundingClientRect().bottom`); top > 0 {
		t.Errorf("the skip link shows before it has focus (bottom at %.0f px)", top)
	}
	if !eval[bool](p, `document.querySelector("a[href], button, input:not([type=hidden]), select, textarea") === document.querySelector("a.skip")`) {
		t.Error("the skip link is not the first thing a keyboard reaches")
	}
	p.do(chromedp.Evaluate[chromedp.Void](`document.querySelector("a.skip").focus()`))
	type focus struct {
		Class, Outline string
		Top            float64
	}
	f := eval[focus](p, `(() => { const e = document.activeElement, cs = getComputedStyle(e);
		return {Class: e.className, Outline: cs.outlineStyle + " " + cs.outlineColor, Top: e.getBoundingClientRect().top}; })()`)
	if f.Class != "skip" || f.Top < 0 {
		t.Fatalf("focus on %q at %.0f px, want the skip link on screen", f.Class, f.Top)
	}
	if f.Outline != "solid rgb(52, 81, 178)" {
		t.Errorf("focus ring of the skip link: %q, want solid in the accent", f.Outline)
	}
	p.do(chromedp.KeyEvent("\r"))
	if got := eval[string](p, `document.activeElement.id + " " + location.hash`); got != "main #main" {
		t.Errorf("after the skip link, focus and address: %q, want main and #main", got)
	}
	if got := eval[string](p, `getComputedStyle(document.querySelector("#username")).borderTopColor`); got != "rgb(123, 133, 150)" {
		t.Errorf("an idle field's edge: %s, want the darker rgb(123, 133, 150)", got)
	}
}

// TestBrowserLongTextsFit: on a phone's width (390 CSS pixels) no page
// scrolls sideways for a long text without a place to break it: a user
// agent of 600 characters (the sessions page, an operator's page of the
// user), and names of 64 (an authenticator's, an API key's, a team's),
// on the pages that show them. (TestBrowserNarrowPagesFit covers a DNS
// zone's records.)
func TestBrowserLongTextsFit(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	ctx := context.Background()
	secret := account(t, ts, "olivia", true, true)
	account(t, ts, "bob", false, false)
	long := strings.Repeat("W", 64)
	ua := core.Meta{UserAgent: "Mozilla/5.0-" + strings.Repeat("x", 588)}

	// A session of olivia's with that user agent, which names a new
	// authenticator, an API key and a team with long names.
	res, err := ts.Service.Login(ctx, "olivia", testPassword, ua)
	if err != nil {
		t.Fatal(err)
	}
	v, err := ts.Service.VerifyLogin(ctx, res.LoginID, core.SecondFactor{Method: twofold.MethodTOTP, Code: testenv.TOTP(t, secret, ts.Clock.Now())}, ua)
	if err != nil {
		t.Fatal(err)
	}
	a := mustAuth(t, ts, v.Token)
	e, err := ts.Service.EnrolFactor(ctx, a, core.NewFactor{Type: twofold.FactorTOTP, Label: long}, ua)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.ConfirmFactor(ctx, a, e.Factor.ID, testenv.TOTP(t, e.Secret, ts.Clock.Now()), ua); err != nil {
		t.Fatal(err)
	}
	pm, err := permit.Parse("account * read")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := ts.Service.CreateAPIKey(ctx, a, core.NewAPIKey{Name: long, Permits: []twofold.Permit{pm}}, ua); err != nil {
		t.Fatal(err)
	}
	team, err := ts.Service.CreateTeam(ctx, a, long, ua)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Service.Login(ctx, "bob", testPassword, ua); err != nil {
		t.Fatal(err)
	}

	ts.Clock.Add(30 * time.Second) // a code of its own
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "olivia", secret)
	p.do(chromedp.EmulateViewport(narrowWidth, 844))
	for _, path := range []string{"/settings/security", "/settings/security/sessions", "/settings/security/api-keys", "/settings/teams",
		"/settings/teams/" + team.ID, "/admin/users/" + userID(t, ts, "olivia"), "/admin/users/" + userID(t, ts, "bob"),
		"/admin/teams", "/admin/teams/" + team.ID} {
		p.open(path)
		if !strings.Contains(p.text("main"), long[:20]) && !strings.Contains(p.text("main"), "xxxxxxxxxxxxxxxxxxxx") {
			t.Fatalf("%s shows none of the long texts: %s", path, p.text("main"))
		}
		if over, what := overflow(p); over > 0 {
			t.Errorf("%s at %d px: the page is %.0f px wider than the screen (%s)", path, narrowWidth, over, what)
			p.screenshot("long-texts" + strings.ReplaceAll(path, "/", "-"))
		}
	}
}
