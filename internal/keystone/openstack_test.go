package keystone_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/twofold/twofold/internal/testenv"
)

// The tests of this file run the real openstack command-line client
// (python-openstackclient with keystoneauth1, as Debian packages them)
// against a test server, as a user runs it.

// osc is one user's openstack command line: its environment (OS_*
// variables, secrets included, never in argv) and a home of its own, so
// that no clouds.yaml but the one a test writes is read.
type osc struct {
	s    *testenv.Server
	home string
	env  map[string]string
}

// openstackCLI returns a command line pointed at s's Identity API, with no
// credentials yet. The client reaches nothing but s: its environment holds
// no proxy, and its home is a temporary directory.
func openstackCLI(t *testing.T, s *testenv.Server) *osc {
	t.Helper()
	if _, err := exec.LookPath("openstack"); err != nil {
		t.Fatalf("the openstack command-line client is not installed (apt-get install python3-openstackclient): %v", err)
	}
	// The client compares a token's expiry with its own clock, and asks
	// for a new token (spending a TOTP code again) when one looks expired:
	// the server's clock is the real one, as a deployment's is.
	s.Clock.Set(time.Now().UTC().Truncate(time.Second))
	return &osc{s: s, home: t.TempDir(), env: map[string]string{
		"OS_AUTH_URL":             s.URL() + "/v3",
		"OS_IDENTITY_API_VERSION": "3",
		"OS_INTERFACE":            "public",
	}}
}

// with returns a copy of o with the variables kv (name, value, …) set, or
// unset where the value is "".
func (o *osc) with(kv ...string) *osc {
	c := &osc{s: o.s, home: o.home, env: map[string]string{}}
	for k, v := range o.env {
		c.env[k] = v
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(c.env, kv[i])
		} else {
			c.env[kv[i]] = kv[i+1]
		}
	}
	return c
}

// cliResult is what one run of the client printed, and how it exited.
type cliResult struct {
	args           []string
	stdout, stderr string
	code           int
}

func (r cliResult) String() string {
	return fmt.Sprintf("openstack %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.stdout, r.stderr)
}

// run runs `openstack args…` and returns what it printed and its exit
// code. Whatever it printed, the test fails if that holds the password or
// a secret of the environment (a passcode, an application credential's).
func (o *osc) run(t *testing.T, args ...string) cliResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "openstack", args...)
	// Nothing of the test's own environment: no proxy, no OS_* of the
	// machine, no configuration but the home's.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + o.home, "LANG=C.UTF-8",
		"XDG_CONFIG_HOME=" + filepath.Join(o.home, ".config"), "XDG_CACHE_HOME=" + filepath.Join(o.home, ".cache")}
	for k, v := range o.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(""), &stdout, &stderr
	err := cmd.Run()
	r := cliResult{args: args, stdout: stdout.String(), stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.code = ee.ExitCode()
	default:
		t.Fatalf("openstack %v: %v", args, err)
	}
	for _, secret := range []string{password, o.env["OS_PASSWORD"], o.env["OS_PASSCODE"], o.env["OS_APPLICATION_CREDENTIAL_SECRET"]} {
		if secret != "" && strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("%v\nprinted a secret of its environment", r)
		}
	}
	return r
}

// ok runs `openstack args… -f json`, fails the test unless it succeeds,
// and decodes what it printed into v (unless nil).
func (o *osc) ok(t *testing.T, v any, args ...string) {
	t.Helper()
	if v != nil {
		args = append(args, "-f", "json")
	}
	r := o.run(t, args...)
	if r.code != 0 {
		t.Fatalf("%v\nwant success", r)
	}
	if v != nil {
		if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
			t.Fatalf("%v\nnot JSON: %v", r, err)
		}
	}
}

// fails runs `openstack args…` and fails the test unless it exits
// non-zero, saying want on standard error, with nothing on standard output.
func (o *osc) fails(t *testing.T, want string, args ...string) {
	t.Helper()
	r := o.run(t, args...)
	if r.code == 0 || !strings.Contains(r.stderr, want) || strings.TrimSpace(r.stdout) != "" {
		t.Errorf("%v\nwant a failure saying %q", r, want)
	}
}

// unauthorized is how the client says a sign-in was refused.
const unauthorized = "The request you have made requires authentication. (HTTP 401)"

// whoAmI returns the username that token is a session of on /v1/me, and
// whether it is elevated; "" when /v1 refuses it.
func whoAmI(t *testing.T, s *testenv.Server, token string) (string, bool) {
	t.Helper()
	c := testenv.NewClient(s.URL())
	c.Token = token
	r := c.Do(t, "GET", "/v1/me", nil)
	if r.Status != 200 {
		return "", false
	}
	return r.String("username"), r.JSON["elevated"] == true
}

// TestOpenStackCLIPassword: an account without two-factor uses the
// openstack CLI with its password (OS_PASSWORD): `token issue` gives a
// Twofold session, `token revoke` ends it; `user show` finds the user by
// name or id, with its options, and no other user; `user list --domain`
// lists it alone in the one domain, which `domain show` shows. A wrong password is the Identity API's 401, said as such.
func TestOpenStackCLIPassword(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		cli := openstackCLI(t, s)
		patID, _ := account(t, s, "pat", false)
		otherID, _ := account(t, s, "quinn", false)
		pat := cli.with("OS_USERNAME", "pat", "OS_USER_DOMAIN_NAME", "Default", "OS_PASSWORD", password)

		var tok struct {
			ID     string `json:"id"`
			UserID string `json:"user_id"`
		}
		pat.ok(t, &tok, "token", "issue")
		if name, _ := whoAmI(t, s, tok.ID); name != "pat" || tok.UserID != patID {
			t.Fatalf("token issue: %+v, a session of %q; want pat's", tok, name)
		}
		pat.ok(t, nil, "token", "revoke", tok.ID)
		if name, _ := whoAmI(t, s, tok.ID); name != "" {
			t.Errorf("the revoked token is still %s's session", name)
		}
		pat.with("OS_PASSWORD", "not the password at all").fails(t, unauthorized, "token", "issue")

		var user struct {
			ID      string `json:"id"`
			Name    string `json:"name"`
			Domain  string `json:"domain_id"`
			Options struct {
				MFA   *bool      `json:"multi_factor_auth_enabled"`
				Rules [][]string `json:"multi_factor_auth_rules"`
			} `json:"options"`
		}
		pat.ok(t, &user, "user", "show", "pat") // by name: GET /v3/users?name=pat
		if user.ID != patID || user.Name != "pat" || user.Domain != "default" || user.Options.MFA == nil || *user.Options.MFA || user.Options.Rules == nil || len(user.Options.Rules) != 0 {
			t.Errorf("user show pat: %+v", user)
		}
		for _, other := range []string{"quinn", otherID} {
			pat.fails(t, "No user with a name or ID of '"+other+"' exists.", "user", "show", other)
		}
		// The one domain, by id or name, as --domain gives it.
		var users []map[string]any
		pat.ok(t, &users, "user", "list", "--domain", "default")
		if len(users) != 1 || users[0]["ID"] != patID || users[0]["Name"] != "pat" {
			t.Errorf("user list --domain default: %v, want pat alone", users)
		}
		var domain map[string]any
		pat.ok(t, &domain, "domain", "show", "Default")
		if domain["id"] != "default" || domain["name"] != "Default" || domain["enabled"] != true {
			t.Errorf("domain show Default: %v", domain)
		}
		pat.fails(t, "No domain with a name or ID of 'elsewhere' exists.", "user", "list", "--domain", "elsewhere")
		// Two-factor at sign-in cannot be required before an authenticator is.
		pat.fails(t, "confirm an authenticator before requiring two-factor (HTTP 400)", "user", "set", "--enable-multi-factor-auth", patID)
	})
}

// TestOpenStackCLIApplicationCredential: `openstack application credential
// create` (with access rules and an expiry), `list`, `show` and `delete`;
// the credential signs in by id, and by name with the user's name or id
// (its secret in OS_APPLICATION_CREDENTIAL_SECRET), not with a wrong
// secret nor once expired. Roles and a description, which Twofold does not
// keep, are refused with a message saying so, and no credential is made.
func TestOpenStackCLIApplicationCredential(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		cli := openstackCLI(t, s)
		userID, _ := account(t, s, "ruth", false)
		ruth := cli.with("OS_USERNAME", "ruth", "OS_USER_DOMAIN_NAME", "Default", "OS_PASSWORD", password)

		ruth.fails(t, "Twofold has no roles", "application", "credential", "create", "--role", "reader", "a")
		ruth.fails(t, "Twofold keeps no description", "application", "credential", "create", "--description", "for acme", "b")
		expires := s.Clock.Now().Add(time.Hour).UTC()
		type appCred struct {
			ID          string           `json:"id"`
			Name        string           `json:"name"`
			Secret      string           `json:"secret"`
			UserID      string           `json:"user_id"`
			ExpiresAt   string           `json:"expires_at"`
			AccessRules []map[string]any `json:"access_rules"`
		}
		var made, shown appCred
		ruth.ok(t, &made, "application", "credential", "create", "--expiration", expires.Format("2006-01-02T15:04:05"),
			"--access-rules", `[{"service":"dns","method":"POST","path":"/zones/example.com/records/_acme-challenge/TXT"}]`, "acme")
		wantRules := []map[string]any{{"service": "dns", "method": "POST", "path": "/zones/example.com/records/_acme-challenge/TXT"}}
		if made.ID == "" || len(made.Secret) < 40 || made.UserID != userID || !strings.HasPrefix(made.ExpiresAt, expires.Format("2006-01-02T15:04:05")) || !cmp.Equal(made.AccessRules, wantRules) {
			t.Fatalf("application credential create: %+v", made)
		}
		ruth.ok(t, &shown, "application", "credential", "show", "acme")
		secret := made.Secret
		made.Secret = "" // shown once
		if !cmp.Equal(shown, made) {
			t.Errorf("application credential show acme: %s", cmp.Diff(made, shown))
		}
		var list []map[string]any
		ruth.ok(t, &list, "application", "credential", "list")
		if len(list) != 1 || list[0]["ID"] != made.ID || list[0]["Name"] != "acme" {
			t.Errorf("application credential list: %v, want acme alone", list)
		}

		app := cli.with("OS_AUTH_TYPE", "v3applicationcredential", "OS_APPLICATION_CREDENTIAL_SECRET", secret)
		for what, by := range map[string]*osc{
			"by id":               app.with("OS_APPLICATION_CREDENTIAL_ID", made.ID),
			"by name and user":    app.with("OS_APPLICATION_CREDENTIAL_NAME", "acme", "OS_USERNAME", "ruth", "OS_USER_DOMAIN_NAME", "Default"),
			"by name and user id": app.with("OS_APPLICATION_CREDENTIAL_NAME", "acme", "OS_USER_ID", userID),
		} {
			var tok struct {
				ID     string `json:"id"`
				UserID string `json:"user_id"`
			}
			by.ok(t, &tok, "token", "issue")
			if tok.ID == "" || tok.UserID != userID {
				t.Errorf("token issue %s: %+v", what, tok)
			}
		}
		byID := app.with("OS_APPLICATION_CREDENTIAL_ID", made.ID)
		// A wrong secret and an expired credential get one answer.
		const refused = "the API key or token is invalid, expired or revoked (HTTP 401)"
		byID.with("OS_APPLICATION_CREDENTIAL_SECRET", secret[:len(secret)-1]+"x").fails(t, refused, "token", "issue")
		s.Clock.Add(time.Hour + time.Second)
		byID.fails(t, refused, "token", "issue")

		ruth.ok(t, nil, "application", "credential", "delete", "acme")
		ruth.fails(t, "No applicationcredential with a name or ID of 'acme' exists.", "application", "credential", "show", "acme")
	})
}

// multiFactor returns name's command line for the v3multifactor auth type
// (password and TOTP), set in a clouds.yaml of mode 0600 in its home, as
// keystoneauth takes auth_methods only as a list; the code is OS_PASSCODE.
func (o *osc) multiFactor(t *testing.T, name string) *osc {
	t.Helper()
	file := filepath.Join(o.home, "clouds.yaml")
	yaml := "clouds:\n  twofold:\n    auth_type: v3multifactor\n    auth:\n      auth_url: " + o.s.URL() + "/v3\n" +
		"      username: " + name + "\n      password: " + password + "\n      user_domain_name: Default\n" +
		"      auth_methods: [v3password, v3totp]\n    identity_api_version: 3\n"
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return o.with("OS_CLOUD", "twofold", "OS_CLIENT_CONFIG_FILE", file, "OS_AUTH_URL", "")
}

// TestOpenStackCLITwoFactor: an account that requires two-factor signs in
// with the openstack CLI's v3multifactor auth type, its code in
// OS_PASSCODE, and so may turn two-factor at sign-in off and on with
// `user set`. A code used twice, a wrong code, the password alone and the
// code alone (v3totp) are refused, each said plainly. A password-only
// token may not add or delete a TOTP credential, and says which token may.
func TestOpenStackCLITwoFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		cli := openstackCLI(t, s)
		userID, secret := account(t, s, "tess", true)
		mf := cli.multiFactor(t, "tess")
		code := func() *osc {
			s.Clock.Add(30 * time.Second) // a fresh code each time
			return mf.with("OS_PASSCODE", testenv.TOTP(t, secret, s.Clock.Now()))
		}

		withCode := code()
		var tok struct {
			ID string `json:"id"`
		}
		withCode.ok(t, &tok, "token", "issue")
		if name, elevated := whoAmI(t, s, tok.ID); name != "tess" || !elevated {
			t.Fatalf("token issue with password and TOTP: a session of %q, elevated %v; want tess's, elevated", name, elevated)
		}
		withCode.fails(t, unauthorized, "token", "issue") // the same code again
		mf.with("OS_PASSCODE", wrongCode(testenv.TOTP(t, secret, s.Clock.Now().Add(30*time.Second)))).fails(t, unauthorized, "token", "issue")
		pw := cli.with("OS_USERNAME", "tess", "OS_USER_DOMAIN_NAME", "Default", "OS_PASSWORD", password)
		pw.fails(t, "Not all required auth rules were satisfied: [['password', 'totp']]", "token", "issue")
		s.Clock.Add(30 * time.Second)
		cli.with("OS_AUTH_TYPE", "v3totp", "OS_USERNAME", "tess", "OS_USER_DOMAIN_NAME", "Default", "OS_PASSCODE", testenv.TOTP(t, secret, s.Clock.Now())).
			fails(t, "Twofold signs in with the password method, then totp when the account requires it", "token", "issue")

		var user struct {
			Options struct {
				MFA   bool       `json:"multi_factor_auth_enabled"`
				Rules [][]string `json:"multi_factor_auth_rules"`
			} `json:"options"`
		}
		code().ok(t, &user, "user", "show", userID)
		if !user.Options.MFA || !cmp.Equal(user.Options.Rules, [][]string{{"password", "totp"}}) {
			t.Errorf("user show: %+v, want two-factor on with rules [[password totp]]", user)
		}
		// --disable beside it sends "enabled": false, which is refused whole.
		code().fails(t, "(HTTP 400)", "user", "set", "--disable", "--disable-multi-factor-auth", userID)
		code().ok(t, nil, "user", "set", "--disable-multi-factor-auth", userID)
		var creds []map[string]any
		pw.ok(t, &creds, "credential", "list") // the password alone signs in now
		if len(creds) != 1 || creds[0]["Type"] != "totp" || creds[0]["Data"] != "" {
			t.Fatalf("credential list: %v, want the authenticator, its secret not shown", creds)
		}
		// A password-only token is not elevated: it changes no factor.
		elevate := "a new token with the password and totp methods"
		pw.fails(t, elevate, "credential", "create", "--type", "totp", "tess", "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ")
		pw.fails(t, elevate, "credential", "delete", creds[0]["ID"].(string))
		code().ok(t, nil, "user", "set", "--enable-multi-factor-auth", userID)
		pw.fails(t, "Not all required auth rules were satisfied", "token", "issue")
	})
}
