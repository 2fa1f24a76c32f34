package web_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserAPIKeys makes an API key in Chromium on an account with
// two-factor: the page asks for a code, shows the secret once, and the key
// then works over HTTP within its permits until it is revoked on the page.
func TestBrowserAPIKeys(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "alice", false, true)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "alice", secret)
	ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses

	p.click("#manage-api-keys")
	p.wantPath("/settings/security/api-keys")
	if !p.exists("#no-keys") || !p.exists("#elevate_code") {
		t.Fatal("the page shows keys, or asks for no code once the elevation has lapsed")
	}
	p.fill("#key-name", "certbot")
	setTextarea(p, "#key-permits", "dns example.com/_acme-challenge/TXT write\naccount everything read")
	p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "button#create-key")
	if got := p.text("#error"); !strings.Contains(got, "ine 2 of the permits") {
		t.Errorf("a bad permit line: page says %q", got)
	}
	if got := eval[string](p, `document.querySelector("#key-name").value`); got != "certbot" {
		t.Errorf("the name typed was not kept: %q", got)
	}
	setTextarea(p, "#key-permits", "dns example.com/_acme-challenge/TXT write\naccount * read")
	p.click("button#create-key") // the code elevated the session: none is asked now
	id, keySecret := p.text("#key-id"), eval[string](p, `document.querySelector("#key-secret").value`)
	if id == "" || len(keySecret) < 50 {
		t.Fatalf("new key: id %q, secret %q", id, keySecret)
	}
	u, err := url.Parse(ts.URL())
	if err != nil {
		t.Fatal(err)
	}
	if got := p.text("pre.example"); got != "machine "+u.Hostname()+" login "+id+" password "+keySecret {
		t.Errorf(".netrc example %q, want machine %s", got, u.Hostname())
	}
	// The one-time secret is announced: the focus moves to its heading,
	// the warning is a status, and the secret is a read-only field, which
	// a keyboard or a phone selects whole.
	if got := p.focused("new-key-heading"); got != "new-key-heading" {
		t.Errorf("after the key is made the focus is on %q, want its heading", got)
	}
	if got := p.attr("#new-key-warning", "role"); got != "status" {
		t.Errorf("the warning to copy the secret has role %q, want status", got)
	}
	if !eval[bool](p, `(() => { const e = document.querySelector("#key-secret"); return e.tagName === "INPUT" && e.readOnly && e.labels.length === 1 })()`) {
		t.Error("the secret is not in a labelled read-only field")
	}
	p.screenshot("api-key-made")

	c := testenv.NewClient(ts.URL())
	c.Header = http.Header{"Authorization": {"Basic " + basic(id, keySecret)}}
	if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
		t.Fatalf("the new key on GET /v1/me: %d %s", r.Status, r.Body)
	}
	if r := c.Do(t, "GET", "/v1/me/factors", nil); r.Status != 403 {
		t.Fatalf("the new key on GET /v1/me/factors: %d, want 403", r.Status)
	}

	p.open("/settings/security/api-keys")
	if strings.Contains(p.text("main"), keySecret) {
		t.Fatal("the secret is shown again")
	}
	if got := p.texts("#key-" + id + " .permits code"); strings.Join(got, "|") != "dns example.com/_acme-challenge/TXT write|account * read" {
		t.Errorf("permits shown: %q", got)
	}
	p.click("#key-" + id + " button[type=submit]")
	p.wantPath("/settings/security/api-keys?m=api_key_revoked")
	if !p.exists("#no-keys") {
		t.Error("the revoked key is still listed")
	}
	if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 401 {
		t.Fatalf("the revoked key: %d, want 401", r.Status)
	}
}

// TestAPIKeyPageRefuses: without a code on an unelevated session, with an
// unknown expiry, or with no permit, nothing is made.
func TestAPIKeyPageRefuses(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	_, c := signedIn(t, ts, "alice", false)
	ts.Clock.Add(11 * time.Minute)
	for name, tt := range map[string]struct {
		form   url.Values
		status int
		field  string // the field the error is about; "" for none (no code was given)
	}{
		"no code":        {url.Values{"name": {"k"}, "permits": {"account * read"}, "expiry": {"1d"}}, http.StatusForbidden, ""},
		"unknown expiry": {url.Values{"name": {"k"}, "permits": {"account * read"}, "expiry": {"7y"}}, http.StatusBadRequest, "key-expiry"},
		"no permit":      {url.Values{"name": {"k"}, "permits": {"\n \n"}, "expiry": {"1d"}}, http.StatusBadRequest, "key-permits"},
	} {
		r := c.post("/settings/security/api-keys", tt.form)
		if r.status != tt.status || !showsError(r.body) || (tt.field != "" && !fieldInvalid(r.body, tt.field)) {
			t.Errorf("%s: status %d, error %q, %s invalid: %v; want %d with an error about %[4]s", name, r.status, pageError(r.body), tt.field, fieldInvalid(r.body, tt.field), tt.status)
		}
	}
	if r := c.get("/settings/security/api-keys"); !strings.Contains(r.body, `id="no-keys"`) {
		t.Error("a key was made by a refused form")
	}
}

// basic is the HTTP Basic credentials of user and password.
func basic(user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
}

// setTextarea sets a textarea's text (chromedp's Clear needs text in it).
func setTextarea(p *page, sel, v string) {
	p.t.Helper()
	eval[bool](p, `(document.querySelector(`+jsString(sel)+`).value = `+jsString(v)+`, true)`)
}
