package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// wantRepeatRefused fails unless r is the pages' 400 error page naming
// name as given more than once.
func wantRepeatRefused(t *testing.T, what string, r reply, name string) {
	t.Helper()
	if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "“"+name+"” more than once") || !strings.Contains(r.body, "Error 400") {
		t.Errorf("%s: status %d at %s, error %q; want 400 naming %q", what, r.status, r.url, pageError(r.body), name)
	}
}

// TestRepeatedFieldsRefused: a page form with a field sent twice (two
// codes, two csrf tokens, two names or labels), or a page address with a
// query parameter given twice, is refused with a 400 page naming it, as
// the JSON API refuses them: nothing is stored, and no code is checked or
// counted as a failure. Without the refusal, the pages took the first
// value. The fields designed as lists (the recovery codes posted back for
// download or print, the "keep" of the "confirm it's you" fields) still
// repeat. On SQLite and PostgreSQL.
func TestRepeatedFieldsRefused(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)
			account(t, ts, "bob", false, false)

			// The login's second step: the right code first, a wrong one
			// after, signs nobody in; wrong codes sent twice, more often
			// than the throttle allows failures, count for nothing.
			c := newClient(t, ts.URL())
			if r := c.signIn("alice"); r.url.Path != "/login/verify" {
				t.Fatalf("sign-in went to %s, want the second step", r.url)
			}
			good := testenv.TOTP(t, secret, ts.Clock.Now())
			wrong := "000000"
			if good == wrong {
				wrong = "111111"
			}
			wantRepeatRefused(t, "the right code and a wrong one", c.post("/login/verify", url.Values{"method": {"totp"}, "code": {good, wrong}}), "code")
			for i := range 12 {
				r := c.post("/login/verify", url.Values{"method": {"totp"}, "code": {wrong, wrong}})
				if wantRepeatRefused(t, "two wrong codes", r, "code"); r.status != http.StatusBadRequest {
					t.Fatalf("two wrong codes, try %d", i+1)
				}
			}
			wantRepeatRefused(t, "two methods", c.post("/login/verify", url.Values{"method": {"totp", "recovery_code"}, "code": {good}}), "method")
			if r := c.get("/settings/security"); r.url.Path != "/login" {
				t.Fatalf("a refused second step signed alice in: at %s", r.url)
			}
			if r := c.totp(ts, secret); r.url.Path != "/settings/security" {
				t.Fatalf("the right code alone after the refused forms: at %s (%d): %s", r.url, r.status, pageError(r.body))
			}

			// Creating an API key (alice is elevated by her sign-in).
			for field, form := range map[string]url.Values{
				"name":    {"name": {"certbot", "other"}, "permits": {"account * read"}, "expiry": {"1d"}},
				"permits": {"name": {"certbot"}, "permits": {"account * read", "account * write"}, "expiry": {"1d"}},
				"csrf":    {"name": {"certbot"}, "permits": {"account * read"}, "expiry": {"1d"}, "csrf": {c.csrf, c.csrf}},
			} {
				wantRepeatRefused(t, "an API key with two "+field, c.post("/settings/security/api-keys", form), field)
			}
			if r := c.get("/settings/security/api-keys"); !strings.Contains(r.body, `id="no-keys"`) {
				t.Error("a refused form made an API key")
			}
			wantRepeatRefused(t, "the API keys page with ?expiry= twice", c.get("/settings/security/api-keys?expiry=1d&expiry=7d"), "expiry")
			wantRepeatRefused(t, "the login page with ?next= twice", newClient(t, ts.URL()).get("/login?next=/settings/security&next=/admin/users"), "next")
			// "keep", a list, may repeat.
			r := c.post("/settings/security/api-keys", url.Values{"name": {"certbot"}, "permits": {"account * read"}, "expiry": {"1d"}, "keep": {"name", "permits"}})
			if r.status != http.StatusOK || !strings.Contains(r.body, `id="key-secret"`) {
				t.Errorf("an API key with keep twice: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
			// So do the recovery codes posted back for download and print.
			codes := []string{"abcd-efgh-ijkl-mnop", "qrst-uvwx-yz23-4567"}
			if r := c.post("/settings/security/recovery-codes.txt", url.Values{"code": codes}); r.status != http.StatusOK || !strings.Contains(r.body, codes[1]) {
				t.Errorf("downloading two recovery codes: %d", r.status)
			}
			if r := c.post("/settings/security/recovery-codes/print", url.Values{"code": codes}); r.status != http.StatusOK || !strings.Contains(r.body, codes[1]) {
				t.Errorf("printing two recovery codes: %d", r.status)
			}
			// but not elsewhere.
			wantRepeatRefused(t, "two paper keys", c.post("/settings/security/paper-key.txt", url.Values{"paper_key": {codes[0], codes[1]}}), "paper_key")

			// Enrolling bob's first authenticator: two labels start
			// nothing; the right code and a wrong one confirm nothing, and
			// the right code, alone, still does afterwards.
			b := newClient(t, ts.URL())
			b.signIn("bob")
			wantRepeatRefused(t, "an authenticator with two labels", b.post("/settings/security/totp", url.Values{"label": {"Laptop", "Desk"}}), "label")
			if r := b.get("/settings/security"); strings.Contains(r.body, "Laptop") || strings.Contains(r.body, "Desk") {
				t.Error("a refused form started an authenticator")
			}
			r = b.post("/settings/security/totp", url.Values{"label": {"Phone"}})
			m := regexp.MustCompile(`<p class="secret" id="secret">(.*?)</p>`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("starting the setup: at %s, no secret: %s", r.url, pageError(r.body))
			}
			bobSecret := strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), "")
			confirm := r.url.Path + "/confirm"
			code := testenv.TOTP(t, bobSecret, ts.Clock.Now())
			wantRepeatRefused(t, "confirming with the right code and a wrong one", b.post(confirm, url.Values{"code": {code, wrong}}), "code")
			if r := b.get("/settings/security"); !strings.Contains(r.body, "Phone") || !strings.Contains(r.body, "not finished") {
				t.Errorf("after the refused confirmation, the authenticator is not listed as not finished: %s", pageError(r.body))
			}
			if r := b.post(confirm, url.Values{"code": {code}}); r.status != http.StatusOK || !recoveryCodeShown.MatchString(r.body) {
				t.Errorf("the right code alone after the refused confirmation: %d at %s: %s", r.status, r.url, pageError(r.body))
			}
		})
	}
}

// TestBrowserFormsSendNoRepeats: in Chromium, the pages' own forms still
// go through now that a repeated field is refused: the sign-in and its
// second step, an API key made with the "confirm it's you" fields (whose
// "keep", a list, names each field they carry along), and new recovery
// codes downloaded (a "code" for each). On SQLite and PostgreSQL.
func TestBrowserFormsSendNoRepeats(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "alice", false, true)
			p := newPage(t, ts.URL())
			p.signInWithCode(ts, "alice", secret)
			ts.Clock.Add(11 * time.Minute) // the elevation of the sign-in lapses

			p.open("/settings/security/api-keys")
			if n := eval[int](p, `document.querySelectorAll("input[name=keep]").length`); n < 2 {
				t.Fatalf("the API key form keeps %d fields, want a list", n)
			}
			p.fill("#key-name", "certbot")
			setTextarea(p, "#key-permits", "account * read")
			p.fillAndSubmit("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()), "button#create-key")
			if id := p.text("#key-id"); id == "" {
				t.Fatalf("no key made: %s", p.text("main"))
			}

			p.open("/settings/security/recovery-codes")
			if st := p.click("#confirm"); st != http.StatusOK || !p.exists("#recovery-codes") {
				t.Fatalf("new recovery codes: %d: %s", st, p.text("main"))
			}
			shown := recoveryCodeShown.FindAllStringSubmatch(eval[string](p, "document.body.innerHTML"), -1)
			if len(shown) != 10 {
				t.Fatalf("codes shown: %d, want 10", len(shown))
			}
			_, file := p.download("#download")
			for _, m := range shown {
				if !strings.Contains(string(file), m[1]) {
					t.Errorf("the downloaded file lacks the code %s:\n%s", m[1], file)
				}
			}
		})
	}
}

// TestUnreadableFormsSaySo: a page form larger than the pages take is
// refused with a 413 page that says so and by how much it may be, and one
// holding bytes that are not text with a 400 page that says that; neither
// is read further, so neither counts as a wrong password.
func TestUnreadableFormsSaySo(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	account(t, ts, "ivy", false, false)
	c := newClient(t, ts.URL())
	r := c.post("/login", url.Values{"username": {"ivy"}, "password": {strings.Repeat("x", 70<<10)}})
	if r.status != http.StatusRequestEntityTooLarge || !strings.Contains(pageError(r.body), "larger than 64 KiB") {
		t.Errorf("a 70 KiB form: status %d, error %q; want 413 saying it is larger than 64 KiB", r.status, pageError(r.body))
	}
	r = c.post("/login", url.Values{"username": {"ivy"}, "password": {"caf\xe9 au lait"}})
	if r.status != http.StatusBadRequest || !strings.Contains(pageError(r.body), "not text") {
		t.Errorf("a form that is not UTF-8: status %d, error %q; want 400 saying it is not text", r.status, pageError(r.body))
	}
	if !strings.Contains(r.body, `href="/login">Go to sign in</a>`) {
		t.Error("the 413 page offers someone signed out no way to sign in")
	}
	if r := c.signIn("ivy"); r.url.Path == "/login" {
		t.Fatalf("ivy cannot sign in after the refused forms: at %s, %q", r.url, pageError(r.body))
	}
	// Signed in, the way back is to her security page, not to sign in.
	r = c.post("/settings/security/reset/cancel", url.Values{"label": {strings.Repeat("x", 70<<10)}})
	if r.status != http.StatusRequestEntityTooLarge {
		t.Fatalf("a 70 KiB form, signed in: status %d, want 413", r.status)
	}
	if strings.Contains(r.body, "Go to sign in") || !strings.Contains(r.body, `href="/settings/security">Go to your security settings</a>`) {
		t.Errorf("the 413 page to someone signed in does not lead back to the security page: %s", r.body)
	}
}
