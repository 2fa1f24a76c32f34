package web_test

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// reload loads the page again as the browser's reload button does: a page
// that answered a form is asked for with that form again.
func (p *page) reload() int64 {
	p.t.Helper()
	p.do(chromedp.Evaluate[chromedp.Void]("window." + clickMark + " = true; location.reload()"))
	return p.loaded("reload")
}

// recoveryCodeShown matches a recovery code on the page that shows them.
var recoveryCodeShown = regexp.MustCompile(`<li><code>([a-z2-7-]+)</code>`)

// TestBrowserRecoveryCodesReloaded: in Chromium, the page showing new
// recovery codes loaded again (the reload button, which sends its form
// again) makes no other codes: it says the codes were made already and
// that those shown stay valid, and a code read off the first page still
// signs in. Without the form's one-time token answering the second
// sending, the reload voided the codes being read. On SQLite and
// PostgreSQL.
func TestBrowserRecoveryCodesReloaded(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)
			p := newPage(t, ts.URL())
			p.signInWithCode(ts, "alice", secret)
			p.open("/settings/security/recovery-codes")
			if st := p.click("#confirm"); st != http.StatusOK || !p.exists("#recovery-codes") {
				t.Fatalf("new recovery codes: %d: %s", st, p.text("main"))
			}
			shown := recoveryCodeShown.FindAllStringSubmatch(eval[string](p, "document.body.innerHTML"), -1)
			if len(shown) != 10 {
				t.Fatalf("codes shown: %d, want 10", len(shown))
			}
			st := p.reload()
			if p.exists("#recovery-codes") || !strings.Contains(p.text("main"), "made already") || !strings.Contains(p.text("main"), "stay valid") {
				t.Errorf("the page loaded again (%d): %s", st, p.text("main"))
			}
			// A code read off the first page still signs in.
			c := newClient(t, ts.URL())
			c.signIn("alice")
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {shown[3][1]}}); r.url.Path != "/settings/security" {
				t.Errorf("a code shown the first time, after the reload: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
		})
	}
}

// TestBrowserJoinTeamTwice: in Chromium, bob's teams page open in two tabs,
// he joins from the first, then presses Join in the second: that lands on
// the team's page saying he is already a member, not on a 404. The join
// form's one-time token is bound to bob's session and the invitation; eve,
// sending the same invitation's form, with bob's token or none, gets the
// 404 anyone gets for an invitation not theirs, and so does bob's session
// without the token. On SQLite and PostgreSQL.
func TestBrowserJoinTeamTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "alice", false, false)
			account(t, ts, "bob", false, false)
			account(t, ts, "eve", false, false)
			alice := newClient(t, ts.URL())
			alice.signIn("alice")
			teamPath := alice.post("/settings/teams", url.Values{"name": {"Zephyr"}}).url.Path
			if r := alice.post(teamPath+"/invitations", url.Values{"username": {"bob"}, "role": {"ops"}}); !strings.Contains(r.body, "Invitation sent") {
				t.Fatalf("inviting bob: %d %s", r.status, pageError(r.body))
			}

			p := newPage(t, ts.URL())
			p.signIn("bob", testPassword)
			p.wantPath("/settings/security")
			p.open("/settings/teams")
			second := p.newTab()
			second.open("/settings/teams")
			join := `#invitations button[aria-label="Join Zephyr"]`
			action := p.attr(`#invitations form[action$="/accept"]`, "action")
			token := p.attr(`#invitations form[action$="/accept"] input[name=once]`, "value")
			if action == "" || token == "" {
				t.Fatalf("the join form: action %q, token %q", action, token)
			}
			p.click(join)
			p.wantPath(teamPath)
			if got := p.text("#my-role"); got != "ops" {
				t.Fatalf("bob's role once he joined: %q", got)
			}
			st := second.click(join)
			second.wantPath(teamPath)
			if got := second.text("main"); st != http.StatusOK || !strings.Contains(got, "already a member of this team") {
				t.Errorf("joining again from the second tab: %d: %s", st, got)
			}

			// Anyone else learns nothing: the plain 404 of an invitation
			// not theirs, with bob's token or without one.
			eve := newClient(t, ts.URL())
			eve.signIn("eve")
			for _, form := range []url.Values{{"once": {token}}, {}} {
				if r := eve.post(action, maps.Clone(form)); r.status != http.StatusNotFound || strings.Contains(r.body, "Zephyr") || strings.Contains(r.body, "already") {
					t.Errorf("eve sending bob's join form %v: %d at %s: %s", form, r.status, r.url, pageError(r.body))
				}
			}
			bob := newClient(t, ts.URL())
			bob.signIn("bob")
			if r := bob.post(action, url.Values{"once": {token}}); r.status != http.StatusNotFound {
				t.Errorf("bob's other session with the first one's token: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
		})
	}
}

// TestRemoveFactorSentAgain: the form that removes an authenticator, sent
// again by the same session (a reload, the browser's back and resend, the
// form of a second tab), removes nothing more and leads to the security
// page saying it is gone. Its one-time token is bound to the session and
// the factor: bob sending it, or his own token, for alice's authenticator,
// and alice sending it for an id not hers or without it, get the plain 404
// (TestFactorPagesRefuse), never a success. On SQLite and PostgreSQL.
func TestRemoveFactorSentAgain(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)
			bobSecret := account(t, ts, "bob", false, true)
			removeLink := regexp.MustCompile(`/settings/security/factors/([a-z0-9]+)/remove`)
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "alice", secret)
			phone := removeLink.FindStringSubmatch(c.get("/settings/security").body)[1]
			remove := "/settings/security/factors/" + phone + "/remove"
			form := postForms(c.get(remove).body)[remove]
			tab := postForms(c.get(remove).body)[remove] // a second tab's
			if form.Get("once") == "" || tab.Get("once") == "" {
				t.Fatalf("the remove form carries no one-time token: %v", form)
			}
			if r := c.post(remove, maps.Clone(form)); r.url.RawQuery != "m=factor_removed" {
				t.Fatalf("removing: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			for what, f := range map[string]url.Values{"the form sent again": form, "the second tab's form": tab} {
				r := c.post(remove, maps.Clone(f))
				if r.status != http.StatusOK || r.url.RawQuery != "m=factor_gone" || !strings.Contains(r.body, "no longer on your account") {
					t.Errorf("%s: at %s (%d): %s", what, r.url, r.status, pageError(r.body))
				}
			}
			if r := c.post(remove, url.Values{}); r.status != http.StatusNotFound {
				t.Errorf("alice without the form's token: %d at %s", r.status, r.url)
			}
			if r := c.post("/settings/security/factors/aaaaaaaaaaaaaaaaaaaaaaaaaa/remove", maps.Clone(form)); r.status != http.StatusNotFound {
				t.Errorf("alice's token for another id: %d at %s", r.status, r.url)
			}

			// Bob, with alice's token or with one of his own.
			bob := newClient(t, ts.URL())
			bob.signInWithCode(ts, "bob", bobSecret)
			bobPhone := removeLink.FindStringSubmatch(bob.get("/settings/security").body)[1]
			bobRemove := "/settings/security/factors/" + bobPhone + "/remove"
			own := postForms(bob.get(bobRemove).body)[bobRemove]
			for what, f := range map[string]url.Values{"alice's form": form, "his own token": own, "no token": {}} {
				if r := bob.post(remove, maps.Clone(f)); r.status != http.StatusNotFound || strings.Contains(r.body, "no longer on your account") {
					t.Errorf("bob sending %s for alice's authenticator: %d at %s: %s", what, r.status, r.url, pageError(r.body))
				}
			}
			if !removeLink.MatchString(bob.get("/settings/security").body) {
				t.Error("bob's authenticator is gone")
			}
		})
	}
}
