package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserSecurityKeyRefused: a security key's answer that the server
// refuses (here a signature the virtual authenticator spoils; the same
// answer as a used or expired challenge, a key removed meanwhile) is told
// as the key's, not as a code's: the second step of a sign-in and the
// "confirm it's you" fields of the password page say the security key was
// not accepted, and the next touch goes through. On SQLite and
// PostgreSQL.
func TestBrowserSecurityKeyRefused(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			account(t, ts, "kim", false, false)
			p, va := keyPage(t, ts)
			spoil := func(bogus bool) {
				t.Helper()
				if _, err := chromedp.Call(p.ctx, webauthn.SetResponseOverrideBits, webauthn.SetResponseOverrideBitsParams{AuthenticatorID: va, IsBogusSignature: &bogus}); err != nil {
					t.Fatal(err)
				}
			}
			refusal := func(where string) {
				t.Helper()
				got := p.text(".flash.err")
				if !strings.Contains(got, "security key") || strings.Contains(got, "code") {
					t.Errorf("%s: a refused key: the page says %q, want the security key named, no code", where, got)
				}
			}
			p.signIn("kim", testPassword)
			p.wantPath("/settings/security")
			p.fill("#key-label", "YubiKey")
			p.click("#add-key-button")
			p.submitKey("#webauthn-register", "/settings/security/webauthn/")

			// The second step of a sign-in.
			p.click(".nav-button")
			p.signIn("kim", testPassword)
			p.wantPath("/login/verify")
			spoil(true)
			p.submitKey("#verify", "/login/verify")
			refusal("second step")
			spoil(false)
			p.submitKey("#verify", "/settings/security")

			// "Confirm it's you" on the password page.
			ts.Clock.Add(11 * time.Minute)
			p.open("/settings/security/password?method=webauthn")
			p.fill("#current_password", testPassword)
			p.fill("#new_password", "a new horse battery")
			p.fill("#new_password2", "a new horse battery")
			spoil(true)
			p.submitKey("#change-password", "/settings/security/password")
			refusal("confirm it's you")
			spoil(false)
			p.fill("#current_password", testPassword)
			p.fill("#new_password", "a new horse battery")
			p.fill("#new_password2", "a new horse battery")
			p.submitKey("#change-password", "/settings/security?m=password_changed")
		})
	}
}
