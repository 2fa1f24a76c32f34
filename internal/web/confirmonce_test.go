package web_test

import (
	"context"
	"fmt"
	"html"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
	"github.com/twofold/twofold/internal/testenv"
)

var paperKeyShown = regexp.MustCompile(`<code id="paper-key">([^<]+)</code>`)

// paperKeyOf returns the paper key the page shows, or "".
func paperKeyOf(body string) string {
	if m := paperKeyShown.FindStringSubmatch(body); m != nil {
		return html.UnescapeString(m[1])
	}
	return ""
}

// wantSentTwice checks the answer to the second sending of the form that
// confirmed the first authenticator: it says so, shows no recovery codes,
// offers new ones, with the "confirm it's you" fields unless elevated (the
// sessions here sign in with a password only, and confirming an
// authenticator with its code elevates them; claiming a token does not), and shows a new paper key
// when newKey; else, with why, says no new paper key was made and why, and
// without, says that the codes and paper key shown the first time remain
// valid and offers a new paper key. It returns the new paper key, if any.
func wantSentTwice(t *testing.T, r reply, elevated, newKey bool, why string) string {
	t.Helper()
	if r.status != http.StatusOK || !strings.Contains(r.body, `id="sent-twice"`) {
		t.Fatalf("second sending: at %s (%d), want the page of a form sent twice: %s", r.url, r.status, pageError(r.body))
	}
	if strings.Contains(r.body, `id="recovery-codes"`) {
		t.Error("the second answer shows recovery codes")
	}
	if f, ok := postForms(r.body)["/settings/security/recovery-codes"]; !ok || elevated != (f.Get("elevate_method") == "") {
		t.Errorf("the second answer's offer of new recovery codes: found %v, fields %v; want \"confirm it's you\" fields %v", ok, f, !elevated)
	}
	key := paperKeyOf(r.body)
	switch {
	case newKey && key == "":
		t.Errorf("the second answer shows no new paper key: %s", pageError(r.body))
	case !newKey && key != "":
		t.Errorf("the second answer shows a new paper key, want none (%s)", why)
	case !newKey && why != "" && (!strings.Contains(r.body, `id="paper-key-gone"`) || !strings.Contains(r.body, why)):
		t.Errorf("the second answer does not say why no new paper key was made, %q", why)
	case !newKey && why == "" && (!strings.Contains(r.body, "The recovery codes and paper key shown the first time remain valid") ||
		!strings.Contains(r.body, `id="make-paper-key"`)):
		t.Errorf("the second answer does not say the first codes and key remain valid, offering a new key: %s", pageError(r.body))
	}
	if strings.Contains(r.body, "did not show") || strings.Contains(r.body, "dropped") {
		t.Error("the second answer claims the browser did not show the first")
	}
	return key
}

// askPaperKey posts the form of the page r that asks for a new paper key.
func askPaperKey(t *testing.T, c *client, r reply, confirm string) reply {
	t.Helper()
	f, ok := postForms(r.body)[confirm]
	if !ok || f.Get("new_paper_key") == "" {
		t.Fatalf("at %s: no form asking for a new paper key: %s", r.url, pageError(r.body))
	}
	return c.post(confirm, f)
}

// regenerateWith posts the new recovery codes form, confirming it's the
// holder with paper key key, and reports whether it made codes.
func regenerateWith(t *testing.T, c *client, key string) bool {
	t.Helper()
	r := c.post("/settings/security/recovery-codes", url.Values{"elevate_method": {"paper_key"}, "elevate_code": {key}})
	return strings.Count(r.body, "<li><code>") == core.RecoveryCodeCount && strings.Contains(r.body, `id="recovery-codes"`)
}

// TestConfirmFormSentTwice: the form that confirms the first authenticator
// sent twice with the same one-time token (a double click, or a reload
// whose first answer, with the recovery codes and the paper key, the
// browser did show) confirms it once, and the second answer says so: the
// codes and the paper key shown the first time remain valid, nothing is
// made again, and it offers new recovery codes, which need a check as
// ever, and a new paper key, the first one then no longer working; that
// request sent again makes no other. A later sending, the new key having
// been used since, makes no other; a form that confirms a second
// authenticator sent twice lands where its first sending did. On SQLite
// and PostgreSQL.
func TestConfirmFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "bob", false, false)
			c := newClient(t, ts.URL())
			if r := c.signIn("bob"); r.url.Path != "/settings/security" {
				t.Fatalf("sign-in: at %s", r.url)
			}
			r := c.post("/settings/security/totp", url.Values{"label": {"Phone"}})
			secret, confirm := setupKey(r.body), r.url.Path+"/confirm"
			if secret == "" {
				t.Fatalf("setup: at %s: %s", r.url, pageError(r.body))
			}
			form := url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "once": {onceOf(t, r.body, confirm)}}
			first := c.post(confirm, maps.Clone(form))
			shown := paperKeyOf(first.body)
			if !strings.Contains(first.body, `id="recovery-codes"`) || shown == "" {
				t.Fatalf("first sending: at %s (%d), no codes and paper key: %s", first.url, first.status, pageError(first.body))
			}
			again := c.post(confirm, maps.Clone(form))
			wantSentTwice(t, again, true, false, "")
			if n := strings.Count(c.get("/settings/security").body, `class="factor-label"`); n != 1 {
				t.Errorf("authenticators: got %d, want 1", n)
			}
			if r := c.get("/settings/security/events"); strings.Contains(r.body, "New paper key made") {
				t.Error("the form sent again made a new paper key")
			}

			// Asked for, a new paper key replaces the first; the request
			// sent again (a reload) makes no other.
			asked := askPaperKey(t, c, again, confirm)
			fresh := wantSentTwice(t, asked, true, true, "")
			if fresh == "" || fresh == shown {
				t.Fatalf("new paper key %q, first one %q: want another", fresh, shown)
			}
			if r := c.get("/settings/security/events"); !strings.Contains(r.body, "New paper key made") {
				t.Error("the events lack the new paper key")
			}
			reload := c.post(confirm, postForms(again.body)[confirm])
			if paperKeyOf(reload.body) != "" || !strings.Contains(reload.body, "no other was made") {
				t.Errorf("the request for a new paper key sent again: at %s (%d), want no other key: %s", reload.url, reload.status, pageError(reload.body))
			}

			// The first paper key no longer works; the new one does, and
			// makes new recovery codes from the page's offer, once the
			// elevation the confirmation gave has lapsed (an elevated
			// session's form checks no key).
			ts.Clock.Add(core.PaperKeyAgainWindow + time.Second)
			if regenerateWith(t, c, shown) {
				t.Error("the replaced paper key confirmed it's the holder")
			}
			if !regenerateWith(t, c, fresh) {
				t.Fatal("the new paper key did not make new recovery codes")
			}

			// Asked once more, late: the new key stays (core's
			// TestConfirmSentAgainLateOrUsed covers a key used since, within the window).
			again = c.post(confirm, maps.Clone(form))
			if !strings.Contains(again.body, "the newest one made since") {
				t.Errorf("the form sent again does not tell of the paper key made since: %s", pageError(again.body))
			}
			wantSentTwice(t, askPaperKey(t, c, again, confirm), true, false, "minutes have passed")

			// A second authenticator (the session is elevated now): its
			// form sent twice lands where the first sending did.
			r = c.post("/settings/security/totp", url.Values{"label": {"Laptop"}})
			secret, confirm = setupKey(r.body), r.url.Path+"/confirm"
			if secret == "" {
				t.Fatalf("second setup: at %s: %s", r.url, pageError(r.body))
			}
			ts.Clock.Add(30 * time.Second)
			form = url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "once": {onceOf(t, r.body, confirm)}}
			for i := range 2 {
				if r := c.post(confirm, maps.Clone(form)); r.url.Path != "/settings/security" || r.url.Query().Get("m") != "factor_added" {
					t.Errorf("sending %d of the second authenticator's form: at %s: %s", i+1, r.url, pageError(r.body))
				}
			}
			if n := strings.Count(c.get("/settings/security").body, `class="factor-label"`); n != 2 {
				t.Errorf("authenticators: got %d, want 2", n)
			}
		})
	}
}

// TestConfirmFormSentTwiceLate: asked for more than
// core.PaperKeyAgainWindow after the first authenticator was confirmed,
// on the page of its form sent again, no new paper key is made: the page says the key is gone and what
// still protects the account, and the first key, which may have been seen,
// keeps working. On SQLite and PostgreSQL.
func TestConfirmFormSentTwiceLate(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "carol", false, false)
			c := newClient(t, ts.URL())
			c.signIn("carol")
			r := c.post("/settings/security/totp", url.Values{"label": {"Phone"}})
			secret, confirm := setupKey(r.body), r.url.Path+"/confirm"
			form := url.Values{"code": {testenv.TOTP(t, secret, ts.Clock.Now())}, "once": {onceOf(t, r.body, confirm)}}
			first := paperKeyOf(c.post(confirm, maps.Clone(form)).body)
			if first == "" {
				t.Fatal("first sending: no paper key")
			}
			ts.Clock.Add(core.PaperKeyAgainWindow + time.Second)
			r = askPaperKey(t, c, c.post(confirm, maps.Clone(form)), confirm)
			wantSentTwice(t, r, false, false, "minutes have passed")
			if !strings.Contains(r.body, "stays protected") {
				t.Error("the page does not say what still protects the account")
			}
			if !regenerateWith(t, c, first) {
				t.Error("the first paper key stopped working")
			}
		})
	}
}

// TestClaimFormSentTwice: the form that adds an imported hardware token as
// the first authenticator, sent twice, adds it once, and the second answer
// says the paper key shown the first time remains valid, which it does;
// the form that confirms a phone as the first, sent twice, makes a new
// paper key when asked. On SQLite and PostgreSQL.
func TestClaimFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			fob := []byte("office key fob seed!")
			seeds, err := otp.ParseOATHCSV([]byte(fmt.Sprintf("FOB-77,%x,hotp,6,0\n", fob)))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ts.Service.ImportTokens(context.Background(), seeds, core.Meta{Source: "cli"}); err != nil {
				t.Fatal(err)
			}
			account(t, ts, "xena", false, false)
			c := newClient(t, ts.URL())
			c.signIn("xena")
			page := c.get("/settings/security/token?label=Fob")
			form := url.Values{"label": {"Fob"}, "serial": {"FOB-77"}, "code": {testenv.HOTP(t, otp.EncodeSecret(fob), 1)},
				"once": {onceOf(t, page.body, "/settings/security/token")}}
			r := c.post("/settings/security/token", maps.Clone(form))
			shown := paperKeyOf(r.body)
			if !strings.Contains(r.body, `id="recovery-codes"`) || shown == "" {
				t.Fatalf("first sending: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			wantSentTwice(t, c.post("/settings/security/token", maps.Clone(form)), false, false, "")
			if !regenerateWith(t, c, shown) {
				t.Error("the paper key shown the first time stopped working when the form was sent again")
			}
			if n := strings.Count(c.get("/settings/security").body, `class="factor-label"`); n != 1 {
				t.Errorf("authenticators: got %d, want 1", n)
			}

			// A phone as the first authenticator of another account.
			account(t, ts, "yann", false, false)
			d := newClient(t, ts.URL())
			d.signIn("yann")
			const phone = "+447400123456"
			r = d.post("/settings/security/sent", url.Values{"type": {"sms"}, "destination": {phone}, "label": {"Mobile"}})
			confirm := r.url.Path + "/confirm"
			if !strings.HasPrefix(r.url.Path, "/settings/security/sent/") {
				t.Fatalf("adding a phone: at %s: %s", r.url, pageError(r.body))
			}
			form = url.Values{"code": {g.LastCode(t, phone)}, "once": {onceOf(t, r.body, confirm)}}
			if r := d.post(confirm, maps.Clone(form)); paperKeyOf(r.body) == "" {
				t.Fatalf("confirming the phone: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}
			wantSentTwice(t, askPaperKey(t, d, d.post(confirm, maps.Clone(form)), confirm), true, true, "")
		})
	}
}
