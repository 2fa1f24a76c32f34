package web_test

import (
	"net/http"
	"net/url"
	"regexp"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRefusedProofsNamed: a refused SSH signature, recovery code or paper
// key is named as what was sent, with what to check, at the second step
// of a sign-in, in "confirm it's you" and in a password reset; never "that
// code" for a signature. The words depend on the method alone: a used
// recovery code reads as a mistyped one. On SQLite and PostgreSQL.
func TestRefusedProofsNamed(t *testing.T) {
	const (
		signature = "That signature was not accepted. Sign the challenge shown here with the SSH key you registered, by the command shown, and paste all of challenge.txt.sig. Or use another way."
		recovery  = "That recovery code was not accepted. Check it and try again: each code works once."
		paper     = "That paper key was not accepted. Check it and try again."
	)
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "ravi")
			kp, other := testenv.SSHKeygen(t, "ed25519", 0), testenv.SSHKeygen(t, "ed25519", 0)
			registerSSHKey(t, ts, "ravi", k.secret, kp)
			want := func(r reply, what, msg string) {
				t.Helper()
				if r.status != http.StatusUnauthorized || pageError(r.body) != msg {
					t.Errorf("%s: got %d %q, want 401 %q", what, r.status, pageError(r.body), msg)
				}
				ts.Clock.Add(time.Minute) // past the recovery counter's short lock
			}

			// The second step of a sign-in.
			c := newClient(t, ts.URL())
			c.signIn("ravi")
			r := c.post("/login/verify/ssh", url.Values{})
			m := regexp.MustCompile(`id="ssh-challenge">([^<]+)<`).FindStringSubmatch(r.body)
			if m == nil {
				t.Fatalf("no challenge shown: %s", pageError(r.body))
			}
			text := m[1]
			want(c.post("/login/verify", url.Values{"method": {"ssh_key"}, "signature": {testenv.SSHSign(t, other.File, sshkey.Namespace, text)}}), "another key's signature", signature)
			want(c.post("/login/verify", url.Values{"method": {"ssh_key"}, "signature": {testenv.SSHSign(t, kp.File, "git", text)}}), "another namespace", signature)
			want(c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {"aaaa-bbbb-cccc-dddd"}}), "a wrong recovery code", recovery)
			want(c.post("/login/verify", url.Values{"method": {"paper_key"}, "code": {"aaaa-bbbb-cccc-dddd"}}), "a wrong paper key", paper)
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {k.codes[0]}}); r.url.Path != "/settings/security" {
				t.Fatalf("a right recovery code: at %s: %s", r.url, pageError(r.body))
			}

			// "Confirm it's you", where a used recovery code reads as a
			// mistyped one.
			ts.Clock.Add(11 * time.Minute) // the elevation lapses
			want(c.post("/settings/security/recovery-codes", url.Values{"elevate_method": {"recovery_code"}, "elevate_code": {k.codes[0]}}), "a used recovery code", recovery)
			want(c.post("/settings/security/recovery-codes", url.Values{"elevate_method": {"paper_key"}, "elevate_code": {"aaaa-bbbb-cccc-dddd"}}), "a wrong paper key", paper)

			// A one-time code is still "that code".
			want(c.post("/settings/security/recovery-codes", url.Values{"elevate_method": {"totp"}, "elevate_code": {"000000"}}), "a wrong app code", "That code was not accepted. Check it and try again.")

			// A password reset, confirmed by the paper key.
			mb := testenv.NewSMTPServer(t)
			ts = testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"))
			mailedAccount(t, ts, "rena", true)
			sent := len(mb.Wait(t, 1, time.Minute))
			c = newClient(t, ts.URL())
			c.post("/password-reset", url.Values{"username": {"rena"}})
			if r := c.get(resetLinkPath(t, ts, mb, sent+1)); r.url.Path != "/new-password" {
				t.Fatalf("the reset link: at %s: %s", r.url, pageError(r.body))
			}
			const np = "a brand new passphrase"
			want(c.post("/new-password", url.Values{"method": {"paper_key"}, "code": {"aaaa-bbbb-cccc-dddd"}, "password": {np}, "password2": {np}}), "a reset with a wrong paper key", paper)
		})
	}
}
