package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestKeyRemovePages: the pages that remove a security key, or cancel its
// setup, speak of a key. Removing a passkey says it will no longer sign in
// (not that "codes" stop working: a key has none). The "Cancel" of the page
// that asks to cancel a key's unfinished setup (the user keeps it after
// all) leads back to that key's "Finish setup" page, with the setup still
// there, not to an app's setup page that calls it finished or cancelled.
// On SQLite and PostgreSQL.
func TestKeyRemovePages(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			key, factorID := enrolPasskey(t, ts, "kim")

			// Signed in with the passkey: an elevated session.
			c := newClient(t, ts.URL())
			c.get("/login")
			o := c.post("/login/passkey/options", url.Values{})
			if o.status != http.StatusOK {
				t.Fatalf("options: %d %s", o.status, o.body)
			}
			if s := c.post("/login/passkey", url.Values{"credential": {string(key.Get(t, []byte(o.body)))}}); s.url.Path != "/settings/security" {
				t.Fatalf("signed in with the passkey: at %s, %q", s.url.Path, pageError(s.body))
			}

			rm := c.get("/settings/security/factors/" + factorID + "/remove")
			if rm.status != http.StatusOK || strings.Contains(rm.body, "Codes from this authenticator") || !strings.Contains(rm.body, "no longer sign you in") {
				t.Errorf("removing the passkey: %d, the page says:\n%s", rm.status, mainOf(rm.body))
			}

			// A key's setup left unfinished; "Cancel the setup?", then "Cancel".
			page := c.get("/settings/security").body
			add := c.post("/settings/security/webauthn", url.Values{"label": {"YubiKey"}, "once": {onceOf(t, page, "/settings/security/webauthn")}})
			m := regexp.MustCompile(`action="/settings/security/webauthn/([a-z0-9]+)"`).FindStringSubmatch(add.body)
			if add.status != http.StatusOK || m == nil {
				t.Fatalf("adding a key: %d %q", add.status, pageError(add.body))
			}
			id := m[1]
			ask := c.get("/settings/security/factors/" + id + "/remove")
			if strings.Contains(ask.body, "Codes from this authenticator") {
				t.Errorf("cancelling a key's setup speaks of codes:\n%s", mainOf(ask.body))
			}
			back := regexp.MustCompile(`<a class="btn ghost" href="([^"]+)">Cancel</a>`).FindStringSubmatch(ask.body)
			if back == nil {
				t.Fatalf("no Cancel on the page asking to cancel the setup:\n%s", mainOf(ask.body))
			}
			kept := c.get(back[1])
			if kept.status != http.StatusOK || kept.url.Path != "/settings/security/webauthn/"+id || kept.url.Query().Get("m") != "" {
				t.Errorf("Cancel of the page asking to cancel the setup: %d at %s, want the key's setup page", kept.status, kept.url)
			}
			if !strings.Contains(c.get("/settings/security").body, `id="finish-`+id+`"`) {
				t.Error("the key's setup is no longer pending")
			}
		})
	}
}

// mainOf returns the main part of an HTML page, for failure messages.
func mainOf(body string) string {
	if i := strings.Index(body, "<main"); i >= 0 {
		body = body[i:]
	}
	if i := strings.Index(body, "</main>"); i >= 0 {
		body = body[:i]
	}
	return body
}
