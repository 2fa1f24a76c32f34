package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// hardCapText is what a page says at the hard cap of wrong codes: no wait
// lifts it, and these are the ways in left, those the account has (no SSH
// key, no security key).
const hardCapText = "Too many wrong codes: use a recovery code or the paper key, or ask an operator to unlock the account."

// TestHardCapPagesSayHowToGetIn: at the hard cap of wrong codes, the
// second step and the "confirm it's you" fields say that codes are
// refused until another way in is used, with links to those ways, never
// to wait and try again; and a recovery code then signs in. On SQLite and
// PostgreSQL.
func TestHardCapPagesSayHowToGetIn(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "hana")
			// A session signed in before the guessing starts.
			owner := newClient(t, ts.URL())
			owner.signInWithCode(ts, "hana", k.secret)
			// Someone with the password guesses codes up to the cap.
			guesser := newClient(t, ts.URL())
			last := guessToHardCap(t, ts, guesser, "hana", k.secret)
			if got := pageError(last.body); got != hardCapText {
				t.Errorf("second step at the hard cap says %q, want %q", got, hardCapText)
			}
			// Codes are refused, so the page offers the other ways in: the
			// recovery code's form, or a link to it, and the paper key's.
			for _, m := range []string{"recovery_code", "paper_key"} {
				if !strings.Contains(last.body, `id="use-`+m+`"`) && !strings.Contains(last.body, `name="method" value="`+m+`"`) {
					t.Errorf("second step at the hard cap offers no %s, neither its form nor a link to it", m)
				}
			}
			// The owner's session, its elevation long lapsed, confirming
			// it's them with the right code to add a device.
			form := url.Values{"label": {"Tablet"}, "elevate_method": {"totp"}, "elevate_code": {testenv.TOTP(t, k.secret, ts.Clock.Now())}}
			r := owner.post("/settings/security/push", form)
			if r.status != http.StatusTooManyRequests || pageError(r.body) != hardCapText {
				t.Errorf("confirm it's you at the hard cap: status %d, %q; want 429 and %q", r.status, pageError(r.body), hardCapText)
			}
			for _, m := range []string{"recovery_code", "paper_key"} {
				if !strings.Contains(r.body, `href="/settings/security/push?method=`+m) {
					t.Errorf("confirm it's you at the hard cap has no link to %s", m)
				}
			}
			// The right code still meets the cap; a recovery code, as the
			// page says, signs in.
			if r := guesser.totp(ts, k.secret); r.status != http.StatusTooManyRequests || pageError(r.body) != hardCapText {
				t.Errorf("the right code at the hard cap: status %d, %q; want 429 and %q", r.status, pageError(r.body), hardCapText)
			}
			if r := guesser.get("/login/verify?method=recovery_code"); !strings.Contains(r.body, `name="method" value="recovery_code"`) {
				t.Fatalf("the recovery code link shows no recovery code form: %s", pageError(r.body))
			}
			if r := guesser.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {k.codes[0]}}); r.url.Path == "/login/verify" {
				t.Errorf("a recovery code at the hard cap: still at the second step (%d): %s", r.status, pageError(r.body))
			}
		})
	}
}

// guessToHardCap has guesser, who knows username's password, sign in and
// type wrong codes for the app with secret until the hard cap refuses
// them, the clock moved past every shorter lock before each sign-in, and
// returns the refusal.
func guessToHardCap(t testing.TB, ts *testenv.Server, guesser *client, username, secret string) reply {
	t.Helper()
	var last reply
	for i := 0; i < 25; i++ {
		ts.Clock.Add(16 * time.Minute) // past every lock below the cap, and the sign-in's end
		if r := guesser.signIn(username); r.url.Path != "/login/verify" {
			t.Fatalf("sign-in went to %s, want the second step", r.url)
		}
		wrong := "000000"
		if testenv.TOTP(t, secret, ts.Clock.Now()) == wrong {
			wrong = "111111"
		}
		last = guesser.post("/login/verify", url.Values{"method": {"totp"}, "code": {wrong}})
		if last.status == http.StatusTooManyRequests {
			return last
		}
	}
	t.Fatalf("wrong codes never met the hard cap (last status %d)", last.status)
	return last
}
