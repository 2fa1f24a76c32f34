package web_test

import (
	"html"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

var recoveryLeft = regexp.MustCompile(`(?s)<p class="flash (\w+)" role="status" id="recovery-left">(.*?)</p>`)

// TestRecoveryCodeLeftAfterConfirming: a recovery code typed in a page's
// "confirm it's you" fields is followed, on the next page, by how many are
// left, and from 3 left by a warning to make a new set, as the login's
// second step does (SPEC §1 story 4): after a form that goes on to
// another page and after one that answers itself. It is said once. On
// SQLite and PostgreSQL.
func TestRecoveryCodeLeftAfterConfirming(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "rita", false, false)
			k := enrolPhone(t, ts, "rita")
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "rita", k.secret)

			note := func(r reply) (class, text string) {
				m := recoveryLeft.FindStringSubmatch(r.body)
				if m == nil {
					return "", ""
				}
				return m[1], html.UnescapeString(m[2])
			}
			confirmWith := func(code string) url.Values {
				ts.Clock.Add(11 * time.Minute) // the last check no longer counts
				return url.Values{"elevate_method": {"recovery_code"}, "elevate_code": {code}}
			}
			for i, code := range k.codes[:6] {
				left := 9 - i
				form := confirmWith(code)
				form.Set("required", []string{"false", "true"}[i%2])
				r := c.post("/settings/security/two-factor", form)
				if r.url.Path != "/settings/security" {
					t.Fatalf("two-factor at sign-in: at %s: %s", r.url, pageError(r.body))
				}
				class, text := note(r)
				if want := strconv.Itoa(left) + " codes are left"; !strings.Contains(text, want) || class != "ok" || strings.Contains(text, "new set") {
					t.Errorf("after a code with %d left: %q %q, want %q without a warning", left, class, text, want)
				}
			}
			if class, _ := note(c.get("/settings/security")); class != "" {
				t.Error("the count is said again on the next page")
			}

			// The API key page answers the form itself.
			form := confirmWith(k.codes[6])
			form.Set("name", "k")
			form.Set("permits", "account * read")
			form.Set("expiry", "1d")
			r := c.post("/settings/security/api-keys", form)
			if r.status != 200 || !strings.Contains(r.body, "account * read") {
				t.Fatalf("make a key: %d %s", r.status, pageError(r.body))
			}
			class, text := note(r)
			if !strings.Contains(text, "3 codes are left") || class != "warn" || !strings.Contains(text, "Generate a new set") {
				t.Errorf("after a code with 3 left: %q %q, want a warning to make a new set", class, text)
			}
			if class, _ := note(c.get("/settings/security/api-keys")); class != "" {
				t.Error("the count is said again on the next page")
			}
		})
	}
}
