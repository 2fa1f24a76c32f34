package web_test

import (
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// onceOf returns the one-time form token of the form that posts to action
// on the page body, failing the test when it has none.
func onceOf(t *testing.T, body, action string) string {
	t.Helper()
	i := strings.Index(body, `action="`+action+`"`)
	if i < 0 {
		t.Fatalf("no form posting to %s on the page", action)
	}
	form := body[i:]
	if j := strings.Index(form, "</form>"); j >= 0 {
		form = form[:j]
	}
	m := regexp.MustCompile(`name="once" value="([^"]+)"`).FindStringSubmatch(form)
	if m == nil {
		t.Fatalf("the form posting to %s has no one-time token", action)
	}
	return m[1]
}

var keyIDShown = regexp.MustCompile(`id="key-id">([^<]+)<`)

// countKeys is how many API keys the keys page lists.
func countKeys(t *testing.T, c *client) int {
	t.Helper()
	return strings.Count(c.get("/settings/security/api-keys").body, `<li class="factor" id="key-`)
}

// TestAPIKeyFormSentTwice: the API key form sent twice with the same
// one-time token (a double click, whose first answer, the one with the
// secret, the browser drops) makes one key. The second answer names the
// key the first made, says its secret cannot be shown again, and offers to
// revoke it and make it anew with the form filled in. A code given to
// confirm it's you is not checked again. An out-of-date token, or another
// session's, makes nothing. On SQLite and PostgreSQL.
func TestAPIKeyFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret, c := signedIn(t, ts, "alice", false)
			const path = "/settings/security/api-keys"

			form := url.Values{"name": {"certbot"}, "permits": {"dns example.com/_acme-challenge/TXT write\naccount * read"}, "expiry": {"30d"},
				"once": {onceOf(t, c.get(path).body, path)}}
			first := c.post(path, maps.Clone(form))
			m := keyIDShown.FindStringSubmatch(first.body)
			if first.status != http.StatusOK || m == nil || !strings.Contains(first.body, `id="key-secret"`) {
				t.Fatalf("first sending: %d, no key shown: %s", first.status, pageError(first.body))
			}
			id := m[1]
			again := c.post(path, maps.Clone(form))
			if again.status != http.StatusOK || strings.Contains(again.body, `id="key-secret"`) || keyIDShown.MatchString(again.body) {
				t.Fatalf("second sending: %d, a key shown: %s", again.status, pageError(again.body))
			}
			if !strings.Contains(again.body, `id="again-key-id">`+id+`<`) || !strings.Contains(again.body, "“certbot” was already created") {
				t.Errorf("second sending: the page does not name the key the first made: %s", pageError(again.body))
			}
			// A reload sends the form again too, its first answer shown:
			// the page claims no more than it knows.
			if strings.Contains(again.body, "dropped") || !strings.Contains(again.body, "which your browser may not have shown") {
				t.Errorf("second sending: the page says the browser dropped the first answer")
			}
			if n := countKeys(t, c); n != 1 {
				t.Fatalf("keys after the form was sent twice: got %d, want 1", n)
			}

			// Revoke it and make it anew: the form comes back as it was sent.
			r := c.post(path+"/"+id+"/revoke", url.Values{"again": {"1"}, "name": form["name"], "permits": form["permits"], "expiry": form["expiry"]})
			if r.url.Path != path || r.url.Query().Get("m") != "api_key_revoked" || !strings.Contains(r.body, `id="key-name" name="name" value="certbot"`) ||
				!strings.Contains(r.body, "account * read</textarea>") || !strings.Contains(r.body, `<option value="30d" selected>`) {
				t.Errorf("revoke and create again: at %s, the form not filled in as sent", r.url)
			}
			// The first form sent once more (Back, then send): its key is
			// revoked, which the page says, with the form filled in again.
			if r := c.post(path, maps.Clone(form)); r.status != http.StatusOK || !strings.Contains(r.body, "has been revoked since") ||
				!strings.Contains(r.body, `id="key-name" name="name" value="certbot"`) || strings.Contains(r.body, `id="key-secret"`) {
				t.Errorf("the form sent again after its key was revoked: %d %s", r.status, pageError(r.body))
			}
			remade := url.Values{"name": {"certbot"}, "permits": form["permits"], "expiry": {"30d"}, "once": {onceOf(t, r.body, path)}}
			if r := c.post(path, remade); !strings.Contains(r.body, `id="key-secret"`) {
				t.Fatalf("making the key anew: %d %s", r.status, pageError(r.body))
			}

			// With a code to confirm it's you: the second sending checks no
			// code again (the first spent it), and makes no key.
			ts.Clock.Add(11 * time.Minute)
			form = url.Values{"name": {"backup"}, "permits": {"account * read"}, "expiry": {"1d"}, "once": {onceOf(t, c.get(path).body, path)},
				"elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, secret, ts.Clock.Now())}}
			if r := c.post(path, maps.Clone(form)); !strings.Contains(r.body, `id="key-secret"`) {
				t.Fatalf("first sending with a code: %d %s", r.status, pageError(r.body))
			}
			if r := c.post(path, maps.Clone(form)); r.status != http.StatusOK || !strings.Contains(r.body, "“backup” was already created") {
				t.Errorf("second sending with the same code: %d %s", r.status, pageError(r.body))
			}
			if n := countKeys(t, c); n != 2 {
				t.Errorf("keys: got %d, want 2 (certbot made anew, backup)", n)
			}

			// A token an hour old, or of another session, makes nothing.
			stale := onceOf(t, c.get(path).body, path)
			other := newClient(t, ts.URL())
			ts.Clock.Add(30 * time.Second) // a fresh code
			other.signInWithCode(ts, "alice", secret)
			foreign := onceOf(t, other.get(path).body, path)
			enrolToken := onceOf(t, c.get("/settings/security").body, "/settings/security/totp")
			ts.Clock.Add(time.Hour)
			c.signInWithCode(ts, "alice", secret)
			for what, token := range map[string]string{"out of date": stale, "another session's": foreign, "another form's": enrolToken, "garbage": "x.1.y"} {
				r := c.post(path, url.Values{"name": {"late"}, "permits": {"account * read"}, "expiry": {"1d"}, "once": {token}})
				if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "send it again") || !strings.Contains(r.body, `value="late"`) {
					t.Errorf("%s token: %d, error %q; want 400 with the form as sent", what, r.status, pageError(r.body))
				}
			}
			if n := countKeys(t, c); n != 2 {
				t.Errorf("keys after refused tokens: got %d, want 2", n)
			}
		})
	}
}

// TestAddFactorFormSentTwice: the form that adds an app sent twice with the
// same one-time token starts one setup, and the second answer goes on with
// it (its key, for the session that started it) rather than refuse the
// name as a setup not finished; so do the forms that add a phone (one text
// message, not two) and a security key. A push device's second answer
// offers a new enrolment code, the first having been shown in the answer
// the browser dropped. On SQLite and PostgreSQL.
func TestAddFactorFormSentTwice(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			account(t, ts, "bob", false, false)
			c := newClient(t, ts.URL())
			if r := c.signIn("bob"); r.url.Path != "/settings/security" {
				t.Fatalf("sign-in: at %s", r.url)
			}
			page := c.get("/settings/security").body
			form := url.Values{"label": {"Phone"}, "type": {"totp"}, "once": {onceOf(t, page, "/settings/security/totp")}}
			first := c.post("/settings/security/totp", maps.Clone(form))
			if !strings.HasPrefix(first.url.Path, "/settings/security/totp/") || setupKey(first.body) == "" {
				t.Fatalf("first sending: at %s (%d): %s", first.url, first.status, pageError(first.body))
			}
			again := c.post("/settings/security/totp", maps.Clone(form))
			if again.status != http.StatusOK || again.url.Path != first.url.Path || setupKey(again.body) != setupKey(first.body) {
				t.Errorf("second sending: at %s (%d), want the first's setup page at %s: %s", again.url, again.status, first.url.Path, pageError(again.body))
			}
			if n := strings.Count(c.get("/settings/security").body, "Setup of <strong>Phone</strong>"); n != 1 {
				t.Errorf("setups of Phone: got %d, want 1", n)
			}

			push := url.Values{"label": {"Laptop"}, "once": {onceOf(t, page, "/settings/security/push")}}
			if r := c.post("/settings/security/push", maps.Clone(push)); r.status != http.StatusOK || !strings.Contains(r.body, "twofold device enrol") {
				t.Fatalf("first sending of the push form: %d %s", r.status, pageError(r.body))
			}
			r := c.post("/settings/security/push", maps.Clone(push))
			if r.status != http.StatusOK || !strings.Contains(r.body, "“Laptop” was already added") || !strings.Contains(r.body, "/renew\"") {
				t.Errorf("second sending of the push form: %d, want the offer of a new code: %s", r.status, pageError(r.body))
			}
			if m := regexp.MustCompile(`action="(/settings/security/push/[^"/]+/renew)"`).FindStringSubmatch(r.body); m == nil {
				t.Error("second sending of the push form: no form for a new enrolment code")
			} else if r := c.post(m[1], url.Values{}); r.status != http.StatusOK || !strings.Contains(r.body, "twofold device enrol") {
				t.Errorf("a new enrolment code: %d %s", r.status, pageError(r.body))
			}
			if n := strings.Count(c.get("/settings/security").body, "Setup of <strong>Laptop</strong>"); n != 1 {
				t.Errorf("setups of Laptop: got %d, want 1", n)
			}

			phone := url.Values{"destination": {"+44 7400 123456"}, "type": {"sms"}, "label": {"Mobile"}, "once": {onceOf(t, page, "/settings/security/sent")}}
			first = c.post("/settings/security/sent", maps.Clone(phone))
			if !strings.HasPrefix(first.url.Path, "/settings/security/sent/") {
				t.Fatalf("first sending of the phone form: at %s (%d): %s", first.url, first.status, pageError(first.body))
			}
			again = c.post("/settings/security/sent", maps.Clone(phone))
			if again.status != http.StatusOK || again.url.Path != first.url.Path {
				t.Errorf("second sending of the phone form: at %s (%d), want %s: %s", again.url, again.status, first.url.Path, pageError(again.body))
			}
			if n := len(g.Messages()); n != 1 {
				t.Errorf("text messages sent: got %d, want 1", n)
			}

			key := url.Values{"label": {"YubiKey"}, "once": {onceOf(t, page, "/settings/security/webauthn")}}
			if r := c.post("/settings/security/webauthn", maps.Clone(key)); r.status != http.StatusOK || !strings.Contains(r.body, "data-webauthn-create") {
				t.Fatalf("first sending of the key form: %d %s", r.status, pageError(r.body))
			}
			r = c.post("/settings/security/webauthn", maps.Clone(key))
			if r.status != http.StatusOK || !strings.HasPrefix(r.url.Path, "/settings/security/webauthn/") {
				t.Errorf("second sending of the key form: at %s (%d), want the key's setup page: %s", r.url, r.status, pageError(r.body))
			}
			if n := strings.Count(c.get("/settings/security").body, "Setup of <strong>YubiKey</strong>"); n != 1 {
				t.Errorf("setups of YubiKey: got %d, want 1", n)
			}
		})
	}
}

// TestBrowserAPIKeyFormSentTwice: in Chromium, the API key form is sent
// once in the background (its answer, with the secret, never shown: as a
// browser drops the first answer of a double click) and then with its
// button. The page names the key the first sending made, and "Revoke and
// create it again" brings the form back filled in, which then makes the
// key anew with its secret shown.
func TestBrowserAPIKeyFormSentTwice(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)
	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "alice", secret)

	p.open("/settings/security/api-keys")
	p.fill("#key-name", "certbot")
	setTextarea(p, "#key-permits", "account * read")
	status := eval[int](p, `(() => {
		const f = document.querySelector("#add-key form"), x = new XMLHttpRequest();
		x.open("POST", f.action, false);
		x.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
		x.send(new URLSearchParams(new FormData(f)).toString());
		return x.status;
	})()`)
	if status != http.StatusOK {
		t.Fatalf("the first sending: %d", status)
	}
	p.click("button#create-key")
	if got := p.text("#sent-twice h2"); got != "The key “certbot” was already created" {
		t.Fatalf("second sending: heading %q", got)
	}
	if p.exists("#key-secret") || p.exists("#add-key") {
		t.Error("second sending: a secret or the form shown")
	}
	p.screenshot("api-key-sent-twice")
	p.click("#revoke-again")
	p.wantPath("/settings/security/api-keys?")
	if got := eval[string](p, `document.querySelector("#key-name").value + "|" + document.querySelector("#key-permits").value`); got != "certbot|account * read" {
		t.Errorf("the form after revoke and create again: %q", got)
	}
	if !p.exists("#no-keys") {
		t.Error("the key the first sending made is still listed")
	}
	p.click("button#create-key")
	if eval[string](p, `document.querySelector("#key-secret").value`) == "" {
		t.Error("making the key anew shows no secret")
	}
}
