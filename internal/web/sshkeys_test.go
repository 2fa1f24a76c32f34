package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// TestBrowserSSHKey: in Chromium, a user registers an SSH key on the
// security pages, proving it with a signature the real ssh-keygen -Y sign
// made over the downloaded challenge; signs in with a signed challenge at
// the second step (a wrong signature first); and removes the key with a
// fresh code (SPEC §1 story 4).
func TestBrowserSSHKey(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "sid", false, true)
	kp := testenv.SSHKeygen(t, "ed25519", 0)
	other := testenv.SSHKeygen(t, "ed25519", 0)

	p := newPage(t, ts.URL())
	p.shots = artifactsDir(t)
	p.signInWithCode(ts, "sid", secret)
	p.click("#manage-ssh-keys")
	p.wantPath("/settings/security/ssh-keys")
	p.fill("#ssh-label", "laptop")
	p.setValue("#ssh-public-key", "not a key")
	p.click("#add-ssh-key-button")
	if got := p.text(".flash"); !strings.HasPrefix(got, "Not an SSH public key: paste the line of your .pub file") {
		t.Fatalf("a bad key: the page says %q", got)
	}
	p.setValue("#ssh-public-key", kp.Public)
	p.click("#add-ssh-key-button")
	p.wantPath("/settings/security/ssh-keys/")
	keyPage := p.path()
	text := p.text("#ssh-challenge")
	if cmd := p.text("#ssh-command"); cmd != sshkey.Command("~/.ssh/id_ed25519") {
		t.Errorf("command %q", cmd)
	}
	p.screenshot("ssh-key-confirm")
	name, file := p.download("#download-challenge")
	if name != "challenge.txt" || string(file) != text {
		t.Fatalf("downloaded %q holding %q, want challenge.txt holding %q", name, file, text)
	}
	p.setValue("#signature", testenv.SSHSign(t, kp.File, sshkey.Namespace, string(file)))
	p.click("#confirm-ssh-key")
	p.wantPath("/settings/security/ssh-keys")
	if got := p.texts("#ssh-keys .factor-label"); len(got) != 1 || got[0] != "laptop" {
		t.Fatalf("keys after confirming: %q", got)
	}
	if got := p.text("#ssh-keys .fingerprint"); got != testenv.SSHFingerprint(t, kp.File+".pub") {
		t.Errorf("fingerprint shown %q", got)
	}
	if p.exists("#ssh-keys .pill") {
		t.Error("the confirmed key is still marked not confirmed")
	}
	// Its page again (a link kept, the back button), and a key that is
	// not the account's: each says what it is, not a silent list.
	p.open(keyPage)
	p.wantPath("/settings/security/ssh-keys")
	if got := p.text(".flash"); !strings.HasPrefix(got, "That SSH key is confirmed already") {
		t.Errorf("the confirmed key's page again: the page says %q", got)
	}
	p.open("/settings/security/ssh-keys/nosuchkey")
	if got := p.text(".flash"); !strings.HasPrefix(got, "That SSH key is not among yours") {
		t.Errorf("a key not the account's: the page says %q", got)
	}

	// Sign in with the key: the second step offers it among the others.
	p.click("form[action='/logout'] button")
	p.signIn("sid", testPassword)
	p.wantPath("/login/verify")
	p.click("#use-ssh_key")
	if got := p.text("h1"); got != "Sign a challenge with your SSH key" {
		t.Fatalf("second step heading %q", got)
	}
	p.click("#ssh-challenge-button")
	text = p.text("#ssh-challenge")
	if !strings.HasPrefix(text, "twofold-ssh-challenge v1 for=login account=sid ") {
		t.Fatalf("challenge %q", text)
	}
	p.screenshot("verify-ssh-key")
	p.setValue("#signature", testenv.SSHSign(t, other.File, sshkey.Namespace, text))
	p.click("#verify-ssh")
	if got := p.text(".flash"); !strings.Contains(got, "not accepted") {
		t.Fatalf("a signature by another key: the page says %q", got)
	}
	if got := p.text("#ssh-challenge"); got != text {
		t.Fatalf("after a refusal the challenge is %q, want the same %q", got, text)
	}
	p.setValue("#signature", testenv.SSHSign(t, kp.File, sshkey.Namespace, text))
	p.click("#verify-ssh")
	p.wantPath("/settings/security")
	if got := p.text(".flash"); !strings.Contains(got, "signed in with your SSH key") {
		t.Errorf("after signing in: the page says %q", got)
	}

	// Removing it after the elevation lapsed asks for a code.
	ts.Clock.Add(11 * time.Minute)
	p.open("/settings/security/ssh-keys")
	p.click("#ssh-keys a.danger-outline")
	if got := p.attr("input[name=elevate_method]", "value"); got != "totp" {
		t.Fatalf("removal asks for %q, want a totp code", got)
	}
	p.fill("#elevate_code", testenv.TOTP(t, secret, ts.Clock.Now()))
	p.click("#confirm")
	p.wantPath("/settings/security/ssh-keys")
	if !p.exists("#no-ssh-keys") {
		t.Fatal("the key is still listed after removing it")
	}
}

// setValue sets the value of the field sel, a textarea say, as a paste would.
func (p *page) setValue(sel, v string) {
	p.t.Helper()
	p.do(chromedp.SetValue(chromedp.CSS(sel), v))
}
