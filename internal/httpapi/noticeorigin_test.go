package httpapi_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// hostileUA is a User-Agent made to abuse a mail that quotes it: markup,
// line breaks (a line separator and NEL, which a client can send), and
// far more than fits a line.
var hostileUA = "Evil/1.0 <b>x</b>\u2028Subject: forged\u0085" + strings.Repeat("A", 3000)

// TestNoticesSayWhereFrom: the security notices of a recovery code or the
// paper key used, a password changed, an authenticator added or removed
// and an API key made say where the request came from, its address and
// what its client called itself, as the sign-in mail does; a hostile user
// agent is quoted shortened, without its markup or line breaks.
func TestNoticesSayWhereFrom(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "nina")
		c := signInAs(t, s, "nina", hostileUA)
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		s.Clock.Add(30 * time.Second)
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": e.paperKey}); r.Status != 200 {
			t.Fatalf("elevate with the paper key: got %d %s", r.Status, r.Body)
		}
		makeKey(t, c, "deploy", nil, "account * read")
		tablet := enrol(t, s, c, map[string]any{"type": "totp", "label": "tablet"})
		if r := c.Do(t, "DELETE", "/v1/me/factors/"+tablet.id, nil); r.Status != 204 {
			t.Fatalf("remove tablet: got %d %s", r.Status, r.Body)
		}
		if r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword}); r.Status != 200 {
			t.Fatalf("change password: got %d %s", r.Status, r.Body)
		}
		rc := testenv.NewClient(s.URL())
		rc.Header = http.Header{"User-Agent": {hostileUA}}
		r := rc.Do(t, "POST", "/v1/login", map[string]string{"username": "nina", "password": newPassword})
		if r.String("status") != "second_factor_required" {
			t.Fatalf("login: got %d %s", r.Status, r.Body)
		}
		if v := rc.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "recovery_code", "code": e.codes[0]}); v.Status != 200 {
			t.Fatalf("recovery code: got %d %s", v.Status, v.Body)
		}
		const from = "This came from 127.0.0.1, with a browser or app that called itself \"Evil/1.0 ‹b›x‹/b›\uFFFDSubject: forged\uFFFDAAAAAA…\"."
		for _, subject := range []string{
			"a new authenticator was added", "your paper key was used", "an API key was created",
			"an authenticator was removed", "your password was changed", "a recovery code was used",
		} {
			body := mailWith(t, mb, subject)
			if !strings.Contains(body, from) {
				t.Errorf("%q does not say where it came from (want %s):\n%s", subject, from, body)
			}
			for _, bad := range []string{"<b>", "\u2028", "\u0085", "\nSubject: forged", strings.Repeat("A", 41)} {
				if strings.Contains(body, bad) {
					t.Errorf("%q carries %+q of the user agent:\n%s", subject, bad, body)
				}
			}
		}
	})
}
