package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestPasswordResetPageAtHardCap: the owner whose codes someone with the
// password brought to the hard cap, and who then forgot the password,
// opens the mailed link: the page says that codes are refused and asks for
// a recovery code or the paper key, offering no code (not even when the
// address asks for one), and a recovery code sets the password. On SQLite
// and PostgreSQL.
func TestPasswordResetPageAtHardCap(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			ts := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			k := mailedAccount(t, ts, "ruth", true)
			guessToHardCap(t, ts, newClient(t, ts.URL()), "ruth", k.secret)

			owner := newClient(t, ts.URL())
			if r := owner.post("/password-reset", url.Values{"username": {"ruth"}}); r.status != 200 {
				t.Fatalf("ask for a link: status %d: %s", r.status, pageError(r.body))
			}
			for _, path := range []string{resetLinkPath(t, ts, mb, 1), "/new-password?method=totp"} {
				r := owner.get(path)
				if r.url.Path != "/new-password" || !strings.Contains(r.body, `id="codes-refused"`) {
					t.Fatalf("%s at the hard cap: at %s, and the page does not say that codes are refused:\n%s", path, r.url, r.body)
				}
				if !strings.Contains(r.body, `name="method" value="recovery_code"`) || !strings.Contains(r.body, `id="use-paper_key"`) {
					t.Errorf("%s at the hard cap: the page asks for no recovery code, or offers no paper key", path)
				}
				if strings.Contains(r.body, `value="totp"`) || strings.Contains(r.body, `id="use-totp"`) {
					t.Errorf("%s at the hard cap: the page offers the app's code, which is refused", path)
				}
			}
			form := url.Values{"password": {"a brand new passphrase"}, "password2": {"a brand new passphrase"}, "method": {"recovery_code"}, "code": {k.codes[0]}}
			if r := owner.post("/new-password", form); r.url.Path != "/login" || r.url.Query().Get("m") != "password_reset" {
				t.Fatalf("the reset with a recovery code: at %s: %s", r.url, pageError(r.body))
			}
		})
	}
}
