package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestAddNameCheckedBeforeCode: adding a push device, a phone or an
// address with a name that is taken (ignoring case) or not fit to be one,
// or a phone that is already an authenticator, is refused before the code
// given to confirm it's the holder is checked: the code is not spent, and
// works once the form is put right, after the elevation it would have
// given has lapsed. On SQLite and PostgreSQL.
func TestAddNameCheckedBeforeCode(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			ts := testenv.NewServer(t, dsn(t), g.Option())
			k := accountWithKeys(t, ts, "nina") // a TOTP factor "Phone"
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "nina", k.secret)
			pushAdded := func(r reply) bool { return strings.Contains(r.body, `id="enrol-uri"`) }
			sentAdded := func(r reply) bool { return strings.HasPrefix(r.url.Path, "/settings/security/sent/") }
			sms := func(dest, label string) url.Values {
				return url.Values{"type": {"sms"}, "destination": {dest}, "label": {label}}
			}
			for i, tc := range []struct {
				name      string
				path      string
				bad, good url.Values
				status    int
				added     func(reply) bool
			}{
				{"push, name taken", "/settings/security/push", url.Values{"label": {"phone"}}, url.Values{"label": {"Laptop"}}, http.StatusConflict, pushAdded},
				{"push, hidden character", "/settings/security/push", url.Values{"label": {"Lap\u200btop"}}, url.Values{"label": {"Tablet"}}, http.StatusBadRequest, pushAdded},
				{"phone, name taken", "/settings/security/sent", sms("+447400123456", "PHONE"), sms("+447400123456", "Work phone"), http.StatusConflict, sentAdded},
				{"phone, name too long", "/settings/security/sent", sms("+447400123457", strings.Repeat("x", 65)), sms("+447400123457", "Home phone"), http.StatusBadRequest, sentAdded},
				{"phone already added", "/settings/security/sent", sms("+44 7400 123456", "Old phone"), sms("+447400123458", "Old phone"), http.StatusConflict, sentAdded},
			} {
				t.Run(tc.name, func(t *testing.T) {
					code := k.codes[i]
					ts.Clock.Add(11 * time.Minute) // any elevation lapses
					bad := tc.bad
					bad.Set("elevate_method", "recovery_code")
					bad.Set("elevate_code", code)
					r := c.post(tc.path, bad)
					if r.status != tc.status || tc.added(r) {
						t.Fatalf("refused form: status %d, added %v, want %d and nothing added: %s", r.status, tc.added(r), tc.status, pageError(r.body))
					}
					ts.Clock.Add(11 * time.Minute) // an elevation the code gave would lapse
					good := tc.good
					good.Set("elevate_method", "recovery_code")
					good.Set("elevate_code", code)
					if r = c.post(tc.path, good); !tc.added(r) {
						t.Errorf("the form put right, with the same recovery code: at %s (%d), not added: %s", r.url, r.status, pageError(r.body))
					}
				})
			}
		})
	}
}

// TestSentDestinationRefusalSaysWhy: a phone or an address the add form
// refuses is told on the page in the reason's own words, not after the
// core's field name put in upper case ("Phone: this is …").
func TestSentDestinationRefusalSaysWhy(t *testing.T) {
	g := testenv.NewSMSGateway(t)
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t), g.Option())
	_, c := signedIn(t, ts, "nina", false)
	for _, tc := range []struct{ kind, dest, want string }{
		{"sms", "7400 123456", "Give the phone number in international form, starting with + and the country code (+44 7400 123456)."},
		{"sms", "+44 12", "This is not a valid phone number."},
		{"email", "nina at example.com", "This is not an email address (want a bare address such as alice@example.com)."},
	} {
		r := c.post("/settings/security/sent", url.Values{"type": {tc.kind}, "destination": {tc.dest}, "label": {"Other"}})
		if got := pageError(r.body); r.status != http.StatusBadRequest || got != tc.want {
			t.Errorf("%s %q: %d %q; want 400 %q", tc.kind, tc.dest, r.status, got, tc.want)
		}
	}
}
