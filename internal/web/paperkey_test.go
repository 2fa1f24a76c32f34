package web_test

import (
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// postForms returns the fields of each POST form on the page, by action.
func postForms(body string) map[string]url.Values {
	forms := map[string]url.Values{}
	field := regexp.MustCompile(`<input type="hidden" name="([a-z_]+)" value="([^"]*)">`)
	for _, f := range regexp.MustCompile(`(?s)<form method="post" action="([^"]+)"[^>]*>(.*?)</form>`).FindAllStringSubmatch(body, -1) {
		v := url.Values{}
		for _, m := range field.FindAllStringSubmatch(f[2], -1) {
			if m[1] != "csrf" {
				v.Add(m[1], html.UnescapeString(m[2]))
			}
		}
		forms[f[1]] = v
	}
	return forms
}

// enrolFirst adds the first authenticator on the pages of a signed-in c and
// returns the page of recovery codes and paper key its confirmation shows.
func enrolFirst(t *testing.T, ts *testenv.Server, c *client) reply {
	t.Helper()
	r := c.post("/settings/security/totp", url.Values{"label": {"Phone"}})
	m := regexp.MustCompile(`<p class="secret" id="secret">(.*?)</p>`).FindStringSubmatch(r.body)
	if m == nil {
		t.Fatalf("starting the setup: at %s, no secret: %s", r.url, pageError(r.body))
	}
	secret := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), "")
	r = c.post(r.url.Path+"/confirm", url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}})
	if !strings.Contains(r.body, `id="recovery-codes"`) || !strings.Contains(r.body, `id="paper-key"`) {
		t.Fatalf("confirming the first authenticator: at %s, no codes and paper key shown: %s", r.url, pageError(r.body))
	}
	return r
}

// TestPaperKeyHasItsOwnSheet: the page that shows the recovery codes and the
// paper key once prints and downloads each on a sheet or file of its own,
// and no sheet or file takes both; the security page says whether the
// account has a paper key and what it is for, and never shows the key.
func TestPaperKeyHasItsOwnSheet(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	c := newClient(t, ts.URL())
	c.signIn("alice")
	if r := c.get("/settings/security"); strings.Contains(r.body, `id="paper-key-status"`) {
		t.Error("with two-factor off the security page speaks of a paper key")
	}
	page := enrolFirst(t, ts, c)
	paperKey := html.UnescapeString(regexp.MustCompile(`<code id="paper-key">([^<]+)</code>`).FindStringSubmatch(page.body)[1])
	forms := postForms(page.body)
	for _, action := range []string{"/settings/security/recovery-codes.txt", "/settings/security/recovery-codes/print"} {
		if f := forms[action]; len(f["code"]) != core.RecoveryCodeCount || f.Has("paper_key") {
			t.Errorf("the form to %s sends %d codes and paper key %v; want %d codes and no paper key", action, len(f["code"]), f.Has("paper_key"), core.RecoveryCodeCount)
		}
	}
	for _, action := range []string{"/settings/security/paper-key.txt", "/settings/security/paper-key/print"} {
		if forms[action] == nil {
			t.Fatalf("the page has no form to %s", action)
		}
		if f := forms[action]; f.Get("paper_key") != paperKey || f.Has("code") {
			t.Errorf("the form to %s sends paper key %q and codes %q; want the paper key only", action, f.Get("paper_key"), f["code"])
		}
	}
	codes := forms["/settings/security/recovery-codes.txt"]

	// Each sheet and file as the forms send them.
	for _, tc := range []struct {
		action, want, not string
	}{
		{"/settings/security/recovery-codes.txt", codes.Get("code"), paperKey},
		{"/settings/security/recovery-codes/print", codes.Get("code"), paperKey},
		{"/settings/security/paper-key.txt", paperKey, codes.Get("code")},
		{"/settings/security/paper-key/print", paperKey, codes.Get("code")},
	} {
		r := c.post(tc.action, forms[tc.action])
		if r.status != http.StatusOK || !strings.Contains(r.body, tc.want) || strings.Contains(r.body, tc.not) {
			t.Errorf("POST %s: status %d, has %q: %v, has %q: %v; want 200, only the first", tc.action, r.status,
				tc.want, strings.Contains(r.body, tc.want), tc.not, strings.Contains(r.body, tc.not))
		}
		if strings.HasSuffix(tc.action, "/print") && strings.Contains(r.body, "Paper key") == strings.Contains(tc.action, "recovery-codes") {
			t.Errorf("POST %s: the sheet's heading is not its own", tc.action)
		}
	}
	r := c.post("/settings/security/paper-key.txt", forms["/settings/security/paper-key.txt"])
	if got, want := r.header.Get("Content-Disposition"), `attachment; filename="twofold-paper-key-alice.txt"`; got != want {
		t.Errorf("paper key download: Content-Disposition %q, want %q", got, want)
	}
	// Both at once, or something else, is refused.
	both := url.Values{"code": codes["code"], "paper_key": {paperKey}}
	for _, action := range []string{"/settings/security/recovery-codes.txt", "/settings/security/recovery-codes/print", "/settings/security/paper-key.txt", "/settings/security/paper-key/print"} {
		if r := c.post(action, both); r.status != http.StatusBadRequest {
			t.Errorf("POST %s with codes and paper key: status %d, want 400", action, r.status)
		}
	}
	if r := c.post("/settings/security/paper-key.txt", url.Values{"paper_key": {"<b>no key</b>"}}); r.status != http.StatusBadRequest {
		t.Errorf("a paper key download of something else: status %d, want 400", r.status)
	}

	// The security page tells of the paper key, never the key.
	sec := c.get("/settings/security")
	if !strings.Contains(sec.body, `id="paper-key-status"`) || !strings.Contains(sec.body, "Your account has a paper key") {
		t.Error("the security page does not say the account has a paper key")
	}
	if strings.Contains(sec.body, paperKey) || strings.Contains(sec.body, strings.ReplaceAll(paperKey, "-", "")) {
		t.Error("the security page shows the paper key")
	}
}

// TestBrowserCodesPagePrintsNoPaperKey: printed from the browser, the page
// that shows the codes and the paper key puts only the codes on paper; the
// paper key's own button prints it on its own sheet.
func TestBrowserCodesPagePrintsNoPaperKey(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "alice", false, false)
	p := newPage(t, ts.URL())
	p.signIn("alice", testPassword)
	p.wantPath("/settings/security")
	p.fillAndSubmit("#label", "Phone", "#add-totp")
	p.wantPath("/settings/security/totp/")
	secret := strings.Join(strings.Fields(p.text("#secret")), "")
	p.fillAndSubmit("#code", testenv.TOTP(t, secret, ts.Clock.Now()), "#confirm")
	paperKey := p.text("#paper-key")
	if paperKey == "" {
		t.Fatal("the codes page shows no paper key")
	}
	visible := `(sel => { const e = document.querySelector(sel); return e !== null && e.offsetParent !== null })`
	p.media("print")
	if eval[bool](p, visible+`("#recovery-codes")`) == false || eval[bool](p, visible+`("#paper-key")`) {
		t.Error("printed, the codes page does not show the codes alone")
	}
	p.media("")
	if !eval[bool](p, visible+`("#paper-key")`) {
		t.Error("on screen the codes page hides the paper key")
	}
	eval[bool](p, `document.querySelector("#print-paper-key").form.removeAttribute("target") === undefined`)
	p.click("#print-paper-key")
	p.wantPath("/settings/security/paper-key/print")
	if got := p.text(".print-sheet #paper-key"); got != paperKey {
		t.Errorf("the paper key's sheet shows %q, want %q", got, paperKey)
	}
	if p.exists(".print-sheet .codes") {
		t.Error("the paper key's sheet shows recovery codes")
	}
}
