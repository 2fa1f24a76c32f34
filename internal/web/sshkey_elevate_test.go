package web_test

import (
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// registerSSHKey signs username in over the API with a code of secret and
// registers kp's public key there, proving it with the real ssh-keygen; it
// returns the API client, still signed in.
func registerSSHKey(t *testing.T, ts *testenv.Server, username, secret string, kp testenv.SSHKeyPair) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(ts.URL())
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": username, "password": testPassword})
	if r.Status != 200 || r.String("status") != "second_factor_required" {
		t.Fatalf("login: got %d %s", r.Status, r.Body)
	}
	r = c.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, secret, ts.Clock.Now())})
	if r.Status != 200 {
		t.Fatalf("second step: got %d %s", r.Status, r.Body)
	}
	c.Token = r.String("token")
	r = c.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public})
	if r.Status != 201 {
		t.Fatalf("add ssh key: got %d %s", r.Status, r.Body)
	}
	id := r.JSON["ssh_key"].(map[string]any)["id"].(string)
	text := r.JSON["challenge"].(map[string]any)["challenge"].(string)
	if r := c.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}); r.Status != 200 {
		t.Fatalf("confirm ssh key: got %d %s", r.Status, r.Body)
	}
	ts.Clock.Add(30 * time.Second) // the code is used up
	return c
}

// factorLabels returns the labels of the account's factors, pending ones
// included, as the API lists them.
func factorLabels(t *testing.T, c *testenv.Client) []string {
	t.Helper()
	r := c.Do(t, "GET", "/v1/me", nil)
	if r.Status != 200 {
		t.Fatalf("GET /v1/me: got %d %s", r.Status, r.Body)
	}
	var out []string
	for _, f := range r.JSON["factors"].([]any) {
		out = append(out, f.(map[string]any)["label"].(string))
	}
	return out
}

// TestBrowserElevateWithSSHKey: in Chromium, after the session's elevation
// lapsed, adding another authenticator asks to confirm it's you; the user
// switches to "your SSH key" (the name typed for the new authenticator goes
// along), asks for a challenge (the name changed meanwhile goes along too),
// signs the challenge shown on the page with the real ssh-keygen -Y sign,
// and pastes the signature. One made by another key is refused, says so,
// keeps the challenge and the name, and adds nothing; the right one lets
// the setup of the new authenticator begin. On SQLite and PostgreSQL.
func TestBrowserElevateWithSSHKey(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			secret := account(t, ts, "sid", false, true)
			kp := testenv.SSHKeygen(t, "ed25519", 0)
			other := testenv.SSHKeygen(t, "ed25519", 0)
			api := registerSSHKey(t, ts, "sid", secret, kp)

			p := newPage(t, ts.URL())
			p.shots = artifactsDir(t)
			p.signInWithCode(ts, "sid", secret)
			ts.Clock.Add(11 * time.Minute) // the elevation lapses

			p.fill("#label", "Tablet")
			p.click("#add-totp")
			if got := p.attr("input[name=elevate_method]", "value"); got != "totp" {
				t.Fatalf("adding another authenticator asks for %q, want a totp code: %s", got, p.text("main"))
			}
			p.click(`fieldset.elevate a[href*="method=ssh_key"]`)
			if got := p.attr("input[name=elevate_method]", "value"); got != "ssh_key" {
				t.Fatalf("after choosing the SSH key: elevate_method %q: %s", got, p.text("main"))
			}
			if got := p.attr("#label", "value"); got != "Tablet" {
				t.Fatalf("switching to the SSH key: the name is %q, want Tablet", got)
			}
			if p.exists("#elevate-ssh-challenge") {
				t.Fatal("a challenge is shown before one was asked for")
			}
			p.fill("#label", "Tablet 2")
			p.click("#elevation-ssh-challenge")
			text := p.text("#elevate-ssh-challenge")
			if !strings.HasPrefix(text, "twofold-ssh-challenge v1 for=elevation account=sid ") {
				t.Fatalf("challenge %q", text)
			}
			if cmd := p.text("#elevate-ssh-command"); cmd != sshkey.Command("~/.ssh/id_ed25519") {
				t.Errorf("command %q", cmd)
			}
			if got := p.attr("#label", "value"); got != "Tablet 2" {
				t.Fatalf("after asking for a challenge the name is %q, want the one typed, Tablet 2", got)
			}
			p.screenshot("elevate-ssh-key")
			if name, file := p.download("#download-elevation-challenge"); name != "challenge.txt" || string(file) != text {
				t.Fatalf("downloaded %q holding %q, want challenge.txt holding %q", name, file, text)
			}

			// A signature by another key: refused, nothing added.
			p.setValue("#elevate_signature", testenv.SSHSign(t, other.File, sshkey.Namespace, text))
			p.click("#confirm")
			if got := p.text(".flash"); !strings.Contains(got, "not accepted") {
				t.Fatalf("a signature by another key: the page says %q", got)
			}
			if got := p.text("#elevate-ssh-challenge"); got != text {
				t.Fatalf("after a refusal the challenge is %q, want the same %q", got, text)
			}
			if got := p.attr("#label", "value"); got != "Tablet 2" {
				t.Errorf("after a refusal the name is %q, want Tablet 2", got)
			}
			if got := factorLabels(t, api); len(got) != 1 {
				t.Fatalf("after a refused signature the factors are %q, want the phone alone", got)
			}

			// The right key's signature: the setup begins.
			p.setValue("#elevate_signature", testenv.SSHSign(t, kp.File, sshkey.Namespace, text))
			p.click("#confirm")
			p.wantPath("/settings/security/totp/")
			if got := factorLabels(t, api); len(got) != 2 || got[1] != "Tablet 2" {
				t.Fatalf("after confirming with the SSH key the factors are %q, want a pending Tablet 2", got)
			}
		})
	}
}

// TestLoginSSHChallengeNoNewButton: at the second step, once the page shows
// the sign-in's SSH challenge it offers no "New challenge": asking again
// answers the same challenge, which lives as long as the sign-in, so such
// a button would only show the same text. Before, it offers "Get a
// challenge".
func TestLoginSSHChallengeNoNewButton(t *testing.T) {
	ts := testenv.NewServer(t, testenv.SQLiteDSN(t))
	secret := account(t, ts, "sol", false, true)
	registerSSHKey(t, ts, "sol", secret, testenv.SSHKeygen(t, "ed25519", 0))

	c := newClient(t, ts.URL())
	c.signIn("sol")
	r := c.get("/login/verify?method=ssh_key")
	if !strings.Contains(r.body, `id="ssh-challenge-button">Get a challenge<`) || strings.Contains(r.body, `id="ssh-challenge"`) {
		t.Fatalf("before a challenge: the page offers no \"Get a challenge\", or shows one: %s", pageError(r.body))
	}
	r = c.post("/login/verify/ssh", url.Values{})
	first := regexp.MustCompile(`id="ssh-challenge">([^<]+)<`).FindStringSubmatch(r.body)
	if first == nil {
		t.Fatalf("after asking: at %s, no challenge shown: %s", r.url, pageError(r.body))
	}
	if strings.Contains(r.body, `id="ssh-challenge-button"`) {
		t.Error("with a challenge shown, the page still offers a button for a new one")
	}
	// Asked again all the same (a form sent twice): the same challenge.
	r = c.post("/login/verify/ssh", url.Values{})
	if again := regexp.MustCompile(`id="ssh-challenge">([^<]+)<`).FindStringSubmatch(r.body); again == nil || again[1] != first[1] {
		t.Errorf("asked again: challenge %v, want the same %q", again, first[1])
	}
}
