package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestElevationButtonFailureKeepsThePage: a button of the "confirm it's
// you" fields that fails (here "Get a challenge" once the account has no
// SSH key) answers with the page it came from, its fields as typed since
// and the failure as the page's error, with the failure's status: not a
// bare error page, which lost the typing and the other ways to confirm.
func TestElevationButtonFailureKeepsThePage(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	k := accountWithKeys(t, ts, "bea")
	c := newClient(t, ts.URL())
	c.signInWithCode(ts, "bea", k.secret)
	ts.Clock.Add(11 * time.Minute) // any elevation lapses

	const path = "/settings/security/api-keys"
	r := c.post(path, url.Values{"name": {"certbot"}, "permits": {"dns example.com/_acme-challenge/TXT write"}, "expiry": {"30d"}})
	if !strings.Contains(r.body, `name="elevate_code"`) {
		t.Fatalf("adding a key without a fresh code: %d, want the page asking for one: %s", r.status, pageError(r.body))
	}
	back := methodLink(t, r.body, "recovery_code") // as the buttons' return: the page, with what it keeps
	typed := url.Values{"name": {"certbot & co"}, "permits": {"dns example.com/_acme-challenge/TXT write\naccount * read"}, "expiry": {"365d"}}
	form := url.Values{"return": {back.RequestURI()}, "keep": {"name", "permits", "expiry"}, "elevate_method": {"ssh_key"}}
	for k, v := range typed {
		form[k] = v
	}
	r = c.post("/settings/security/elevate/ssh", form)
	if r.status != http.StatusNotFound || r.url.Path != "/settings/security/elevate/ssh" {
		t.Fatalf("the failed button: %d at %s, want 404 where it was posted", r.status, r.url)
	}
	if msg := pageError(r.body); !strings.Contains(msg, "no SSH key") {
		t.Errorf("the page's error is %q, want it to say there is no SSH key", msg)
	}
	f := formFields(t, r.body, path)
	for k := range typed {
		if got := strings.ReplaceAll(f.Get(k), "\r\n", "\n"); got != typed.Get(k) {
			t.Errorf("the page shown holds %s=%q, want %q as typed", k, got, typed.Get(k))
		}
	}
	if !strings.Contains(r.body, `name="elevate_code"`) {
		t.Error("the page shown has no \"confirm it's you\" fields")
	}
	// Confirmed from there, the key is made with what was typed.
	f.Set("elevate_method", "totp")
	f.Set("elevate_code", testenv.TOTP(t, k.secret, ts.Clock.Now()))
	if r = c.post(path, f); !strings.Contains(r.body, `id="key-secret"`) || !strings.Contains(r.body, "certbot &amp; co") {
		t.Errorf("confirming from the page shown: %d at %s: %s", r.status, r.url, pageError(r.body))
	}
}
