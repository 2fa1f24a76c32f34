package cluster_test

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/testenv"
)

// TestFlowsAcrossInstances walks every flow that spans more than one
// request with its steps split between two `twofold serve` processes on one
// database (issue 6): each step's state must be in the database, and every
// key that binds one step to the next must be the shared key file's, for
// the step on the other instance to work. One pair of processes serves
// every subtest; texts go to a fake Twilio-compatible gateway and mail to a
// fake SMTP server, both over real loopback connections.
func TestFlowsAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			g := testenv.NewSMSGateway(t)
			mb := &mailbox{SMTPServer: testenv.NewSMTPServer(t), seen: map[string]int{}}
			// The balancer's public origin, shared by both instances: the
			// relying party of security keys and the links mailed.
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			_, port, _ := net.SplitHostPort(ln.Addr().String())
			ln.Close()
			origin := "http://localhost:" + port
			c := newCluster(t, dsn(t), 2, "--base-url", origin,
				"--sms-url", g.URL, "--sms-account", g.AccountSID, "--sms-token", g.Token, "--sms-from", g.From,
				"--smtp-addr", mb.Addr, "--smtp-from", "twofold@example.com")
			a, b := c.nodes[0], c.nodes[1]

			t.Run("SecurityKeyCeremoniesMoveBetweenInstances", func(t *testing.T) {
				c.addUser(t, "kim")
				onA, onB := a.client(), b.client()
				onA.Token = apiLogin(t, a, "kim")
				onB.Token = onA.Token
				// Registration begun on A, finished on B.
				r := onA.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "YubiKey"})
				want(t, "begin a key's registration on A", r, 201, "")
				id := r.JSON["factor"].(map[string]any)["id"].(string)
				key := testenv.NewSecurityKey(t, origin)
				want(t, "finish it on B", onB.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]any{"credential": key.Create(t, options(t, r))}), 200, "")
				// A login's assertion asked for on A, answered to B; the
				// same answer again on A is refused.
				l := startLogin(t, a, "kim")
				r = a.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "webauthn"})
				want(t, "a login's key challenge on A", r, 200, "")
				cred := key.Get(t, options(t, r))
				v := verify2(t, b, l, map[string]any{"method": "webauthn", "credential": cred})
				want(t, "the key's answer on B", v, 200, "")
				want(t, "the same answer again on A", verify2(t, a, l, map[string]any{"method": "webauthn", "credential": cred}), 410, "login-expired")
				// Elevation asked for on B, answered to A.
				onA.Token, onB.Token = v.String("token"), v.String("token")
				r = onB.Do(t, "POST", "/v1/me/elevate/challenge", map[string]string{"method": "webauthn"})
				want(t, "an elevation's key challenge on B", r, 200, "")
				cred = key.Get(t, options(t, r))
				want(t, "the key's answer on A", onA.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": cred}), 200, "")
				want(t, "the same answer again on B", onB.Do(t, "POST", "/v1/me/elevate", map[string]any{"method": "webauthn", "credential": cred}), 401, "invalid-code")

				// A passkey: registered across both, then a sign-in with it
				// begun on B and finished on A.
				r = onB.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "webauthn", "label": "Phone", "passkey": true, "password": password})
				want(t, "begin a passkey's registration on B", r, 201, "")
				pid := r.JSON["factor"].(map[string]any)["id"].(string)
				phone := testenv.NewPasskey(t, origin)
				want(t, "finish it on A", onA.Do(t, "POST", "/v1/me/factors/"+pid+"/confirm", map[string]any{"credential": phone.Create(t, options(t, r))}), 200, "")
				r = b.client().Do(t, "POST", "/v1/login/passkey", nil)
				want(t, "begin a passkey sign-in on B", r, 200, "")
				finish := map[string]any{"login_id": r.String("login_id"), "credential": phone.Get(t, options(t, r))}
				v = a.client().Do(t, "POST", "/v1/login/passkey/finish", finish)
				want(t, "finish it on A", v, 200, "")
				if v.String("token") == "" {
					t.Fatalf("a passkey sign-in finished on A gave no session: %s", v.Body)
				}
				want(t, "the same finish again on B", b.client().Do(t, "POST", "/v1/login/passkey/finish", finish), 410, "login-expired")
			})

			t.Run("SSHKeyChallengesMoveBetweenInstances", func(t *testing.T) {
				u := c.enrol(t, a, "sal", 1)
				onA, onB := a.client(), b.client()
				onA.Token, onB.Token = u.token, u.token // elevated by the confirmation
				kp := testenv.SSHKeygen(t, "ed25519", 0)
				r := onA.Do(t, "POST", "/v1/me/ssh-keys", map[string]string{"label": "laptop", "public_key": kp.Public})
				want(t, "add an SSH key on A", r, 201, "")
				id := r.JSON["ssh_key"].(map[string]any)["id"].(string)
				text := r.JSON["challenge"].(map[string]any)["challenge"].(string)
				want(t, "prove it on B", onB.Do(t, "POST", "/v1/me/ssh-keys/"+id+"/confirm", map[string]string{"signature": testenv.SSHSign(t, kp.File, sshkey.Namespace, text)}), 200, "")
				// A recovery with the key: the challenge issued by A,
				// signed by ssh-keygen, answered to B.
				l := startLogin(t, a, u.name)
				r = a.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "ssh_key"})
				want(t, "a login's SSH challenge on A", r, 200, "")
				sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
				want(t, "its signature on B", verify(t, b, l, map[string]string{"method": "ssh_key", "signature": sig}), 200, "")
				want(t, "the same signature again on A", verify(t, a, l, map[string]string{"method": "ssh_key", "signature": sig}), 410, "login-expired")
			})

			t.Run("TextedCodesAndTheirLimitsAreShared", func(t *testing.T) {
				c.addUser(t, "tex")
				onA, onB := a.client(), b.client()
				onA.Token = apiLogin(t, a, "tex")
				onB.Token = onA.Token
				const number, e164 = "+44 7400 123456", "+447400123456"
				r := onA.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": number, "label": "mobile"})
				want(t, "add a phone on A", r, 201, "")
				id := r.JSON["factor"].(map[string]any)["id"].(string)
				want(t, "confirm it on B with the code A texted", onB.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": g.LastCode(t, e164)}), 200, "")
				// A sign-in's code texted at A's asking, typed on B.
				l := startLogin(t, a, "tex")
				r = a.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "sms", "factor_id": id})
				want(t, "text a sign-in code from A", r, 202, "")
				secret := r.String("code_secret")
				// While it lives, B sends no other code for that sign-in to
				// anyone without the requester's secret, and sends one with it.
				want(t, "another code asked of B without the secret", b.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "sms", "factor_id": id}), 409, "conflict")
				r = b.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "sms", "factor_id": id, "code_secret": secret})
				want(t, "a resend asked of B with the secret", r, 202, "")
				want(t, "the texted code on B", verify(t, b, l, map[string]string{"method": "sms", "code": g.LastCode(t, e164)}), 200, "")
				// The number's limit of sign-in codes counts sends from both:
				// 5 (core.DefaultSendLimits), of which the resend took 2.
				sent := 2
				for i := 0; i < 8; i++ {
					n := c.nodes[i%2]
					r := n.client().Do(t, "POST", "/v1/login/"+startLogin(t, n, "tex")+"/challenge", map[string]string{"method": "sms", "factor_id": id})
					if r.Status == 429 {
						break
					}
					want(t, "a sign-in code from "+n.name, r, 202, "")
					sent++
				}
				if sent != 5 {
					t.Fatalf("sent %d sign-in codes to one number, alternating A and B, want 5 (the number's limit counted on both)", sent)
				}
			})

			t.Run("MailedCodesResetsAndEmailChangesMoveBetweenInstances", func(t *testing.T) {
				c.run(t, password+"\n", append([]string{"user", "add", "eli", "--email", "eli@example.com"}, c.passwords()...)...)
				onA, onB := a.client(), b.client()
				onA.Token = apiLogin(t, a, "eli")
				onB.Token = onA.Token
				r := onA.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"})
				want(t, "add an email factor on A", r, 201, "")
				id := r.JSON["factor"].(map[string]any)["id"].(string)
				r = onB.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": mb.mailed(t, "eli@example.com", "your code", `\b[0-9]{6}\b`)})
				want(t, "confirm it on B with the code A mailed", r, 200, "")
				recovery := r.JSON["recovery_codes"].([]any)[0].(string)
				l := startLogin(t, b, "eli")
				want(t, "mail a sign-in code from B", b.client().Do(t, "POST", "/v1/login/"+l+"/challenge", map[string]string{"method": "email", "factor_id": id}), 202, "")
				v := verify(t, a, l, map[string]string{"method": "email", "code": mb.mailed(t, "eli@example.com", "your code", `\b[0-9]{6}\b`)})
				want(t, "the mailed code on A", v, 200, "")
				onA.Token, onB.Token = v.String("token"), v.String("token")

				// An address change asked of A (elevated by the sign-in),
				// confirmed on B with the code mailed to the new address.
				want(t, "change the address on A", onA.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "eli@new.example", "password": password}), 202, "")
				want(t, "confirm it on B", onB.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": mb.mailed(t, "eli@new.example", "", `\b[0-9]{6}\b`)}), 200, "")
				if got := onA.Do(t, "GET", "/v1/me", nil).String("email"); got != "eli@new.example" {
					t.Fatalf("the address on A after the change confirmed on B: %q", got)
				}

				// A password reset asked of B, its link checked on A and
				// the reset completed on B, with a recovery code (a mailed
				// code is no second factor beside a mailed link).
				want(t, "ask for a reset on B", b.client().Do(t, "POST", "/v1/password-reset", map[string]string{"username": "eli"}), 202, "")
				token := mb.mailed(t, "eli@new.example", "reset your password", `/password-reset/([a-z2-7]+\.[a-z2-7]+)\b`)
				r = a.client().Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token})
				want(t, "check the link on A", r, 200, "")
				if r.JSON["second_factor_required"] != true {
					t.Fatalf("check on A: %s, want a second factor required", r.Body)
				}
				const fresh = "a brand new passphrase here"
				r = b.client().Do(t, "POST", "/v1/password-reset/complete", map[string]string{"token": token, "password": fresh, "method": "recovery_code", "code": recovery})
				want(t, "complete the reset on B", r, 200, "")
				want(t, "the old session on A after the reset on B", onA.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
				want(t, "the link again on A", a.client().Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": token}), 410, "login-expired")
			})

			t.Run("InvitationsMoveBetweenInstances", func(t *testing.T) {
				c.addUser(t, "ida")
				c.addUser(t, "ivo")
				ida, ivo := a.client(), b.client()
				ida.Token, ivo.Token = apiLogin(t, a, "ida"), apiLogin(t, b, "ivo")
				r := ida.Do(t, "POST", "/v1/teams", map[string]string{"name": "Hosting"})
				want(t, "make a team on A", r, 201, "")
				team := r.JSON["team"].(map[string]any)["id"].(string)
				r = ida.Do(t, "POST", "/v1/teams/"+team+"/invitations", map[string]string{"username": "ivo", "role": "ops"})
				want(t, "invite on A", r, 201, "")
				inv := r.JSON["invitation"].(map[string]any)["id"].(string)
				want(t, "accept on B", ivo.Do(t, "POST", "/v1/me/invitations/"+inv+"/accept", nil), 200, "")
				want(t, "the team on A for the new member", func() testenv.Response {
					a := a.client()
					a.Token = ivo.Token
					return a.Do(t, "GET", "/v1/teams/"+team, nil)
				}(), 200, "")
				want(t, "accept again on A", func() testenv.Response {
					a := a.client()
					a.Token = ivo.Token
					return a.Do(t, "POST", "/v1/me/invitations/"+inv+"/accept", nil)
				}(), 404, "")
			})

			t.Run("KeystoneTokensAndDNSKeysAreShared", func(t *testing.T) {
				c.addUser(t, "kai")
				body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"kai","domain":{"id":"default"},"password":"` + password + `"}}}}}`
				r := a.client().Do(t, "POST", "/v3/auth/tokens", body)
				tok := r.Header.Get("X-Subject-Token")
				if r.Status != 201 || tok == "" {
					t.Fatalf("a Keystone token from A: got %d %s", r.Status, r.Body)
				}
				onA, onB := a.client(), b.client()
				for _, cl := range []*testenv.Client{onA, onB} {
					cl.Header.Set("X-Auth-Token", tok)
					cl.Header.Set("X-Subject-Token", tok)
				}
				want(t, "A's token validated on B", onB.Do(t, "GET", "/v3/auth/tokens", nil), 200, "")
				if r := onB.Do(t, "DELETE", "/v3/auth/tokens", nil); r.Status != 204 {
					t.Fatalf("revoke A's token on B: got %d %s", r.Status, r.Body)
				}
				if r := onA.Do(t, "GET", "/v3/auth/tokens", nil); r.Status != 401 && r.Status != 404 {
					t.Fatalf("the token revoked on B, on A: got %d %s, want it refused", r.Status, r.Body)
				}

				// A key for the DNS API made on B, revoked on A, refused on
				// B at once.
				u := c.enrol(t, b, "dot", 1)
				owner := b.client()
				owner.Token = u.token
				r = owner.Do(t, "POST", "/v1/me/api-keys", map[string]any{"name": "acme",
					"permits": []map[string]any{{"service": "dns", "resource": "example.com/_acme-challenge/TXT", "actions": []string{"read"}}}})
				want(t, "make a DNS key on B", r, 201, "")
				kid := r.JSON["api_key"].(map[string]any)["id"].(string)
				zones := func(n *node) int {
					req, _ := http.NewRequest("GET", n.url+"/dns/v2/zones", nil)
					req.SetBasicAuth(kid, r.String("secret"))
					res, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					io.Copy(io.Discard, res.Body)
					res.Body.Close()
					return res.StatusCode
				}
				if got := zones(b); got != 200 {
					t.Fatalf("the DNS key on B: got %d, want 200", got)
				}
				if got := zones(a); got != 200 {
					t.Fatalf("the DNS key on A: got %d, want 200", got)
				}
				revoker := a.client()
				revoker.Token = u.token
				want(t, "revoke the key on A", revoker.Do(t, "DELETE", "/v1/me/api-keys/"+kid, nil), 204, "")
				if got := zones(b); got != 401 {
					t.Fatalf("the DNS key revoked on A, on B: got %d, want 401", got)
				}
			})

			t.Run("PagesMoveBetweenInstances", func(t *testing.T) {
				u := c.enrol(t, a, "pia", 1)
				p := newPages(t)
				// The sign-in form rendered by A, posted to B; the second
				// step's form rendered by B, posted to A.
				p.get(a, "/login")
				r := p.post(b, "/login", url.Values{"username": {u.name}, "password": {password}})
				if r.url.Path != "/login/verify" {
					t.Fatalf("the sign-in form of A posted to B: at %s, want /login/verify\n%s", r.url, r.body)
				}
				r = p.post(a, "/login/verify", url.Values{"method": {"totp"}, "code": {a.code(t, u.factors[0].secret)}})
				if r.url.Path != "/settings/security" {
					t.Fatalf("the second step of B's sign-in posted to A: at %s\n%s", r.url, r.body)
				}
				// Elevated by the sign-in on A: the form for new recovery
				// codes, which need it, rendered by B and sent to A, makes
				// them; sent again, to B, its one-time token is spent.
				r = p.get(b, "/settings/security/recovery-codes")
				if r.status != 200 {
					t.Fatalf("the recovery codes page on B: %d at %s", r.status, r.url)
				}
				form := fields(t, r.body, "/settings/security/recovery-codes")
				r = p.post(a, "/settings/security/recovery-codes", form)
				if r.status != 200 || strings.Contains(r.body, "sent again") || strings.Contains(r.body, u.codes[0]) {
					t.Fatalf("new recovery codes on A from B's form: %d at %s\n%s", r.status, r.url, r.body)
				}
				if r = p.post(b, "/settings/security/recovery-codes", form); !strings.Contains(r.body, "sent again") {
					t.Fatalf("the same form again, to B: %d at %s, want it told it was sent again\n%s", r.status, r.url, r.body)
				}
				// A texted code on the pages: the sign-in on A, the code
				// asked for on B (its code_secret kept in a cookie), typed
				// on A.
				c.addUser(t, "pat")
				onA := a.client()
				onA.Token = apiLogin(t, a, "pat")
				const number, e164 = "+44 7400 123457", "+447400123457"
				fr := onA.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "sms", "phone": number, "label": "mobile"})
				want(t, "add pat's phone on A", fr, 201, "")
				want(t, "confirm it on A", onA.Do(t, "POST", "/v1/me/factors/"+fr.JSON["factor"].(map[string]any)["id"].(string)+"/confirm", map[string]string{"code": g.LastCode(t, e164)}), 200, "")
				q := newPages(t)
				q.get(b, "/login")
				r = q.post(a, "/login", url.Values{"username": {"pat"}, "password": {password}})
				if r.url.Path != "/login/verify" {
					t.Fatalf("pat's sign-in on A: at %s\n%s", r.url, r.body)
				}
				r = q.post(b, "/login/verify/send", fields(t, r.body, "/login/verify/send"))
				if !strings.Contains(r.body, `id="sent-to"`) {
					t.Fatalf("the code asked for on B: %d at %s\n%s", r.status, r.url, r.body)
				}
				if r = q.post(a, "/login/verify", url.Values{"method": {"sms"}, "code": {g.LastCode(t, e164)}}); r.url.Path != "/settings/security" {
					t.Fatalf("the texted code typed on A: at %s\n%s", r.url, r.body)
				}

				// A password reset on the pages: asked for on B, its link
				// opened on A, the new password set on B.
				c.run(t, password+"\n", append([]string{"user", "add", "rae", "--email", "rae@example.com"}, c.passwords()...)...)
				w := newPages(t)
				w.get(a, "/password-reset")
				w.post(b, "/password-reset", url.Values{"username": {"rae"}})
				token := mb.mailed(t, "rae@example.com", "reset your password", `/password-reset/([a-z2-7]+\.[a-z2-7]+)\b`)
				if r = w.get(a, "/password-reset/"+token); r.url.Path != "/new-password" {
					t.Fatalf("the reset link on A: at %s\n%s", r.url, r.body)
				}
				const fresh = "another brand new passphrase"
				if r = w.post(b, "/new-password", url.Values{"password": {fresh}, "password2": {fresh}}); r.url.Path != "/login" {
					t.Fatalf("the new password set on B: %d at %s\n%s", r.status, r.url, r.body)
				}
				r2 := a.client().Do(t, "POST", "/v1/login", map[string]string{"username": "rae", "password": fresh})
				want(t, "rae's new password on A", r2, 200, "")

				// Sign out on A ends the session on B at once.
				p.post(a, "/logout", url.Values{})
				if r := p.get(b, "/settings/security"); !strings.HasPrefix(r.url.Path, "/login") {
					t.Fatalf("the security page on B after signing out on A: at %s, want /login", r.url)
				}
			})
		})
	}
}

// apiLogin signs name in with the password alone on n and returns the
// session's token.
func apiLogin(t *testing.T, n *node, name string) string {
	t.Helper()
	r := n.client().Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "authenticated" {
		t.Fatalf("login %s on %s: got %d %s, want authenticated", name, n.name, r.Status, r.Body)
	}
	return r.String("token")
}

// verify2 is verify with a body of any JSON values.
func verify2(t *testing.T, n *node, loginID string, body map[string]any) testenv.Response {
	t.Helper()
	return n.client().Do(t, "POST", "/v1/login/"+loginID+"/verify", body)
}

// options returns the "options" member of r as raw JSON.
func options(t *testing.T, r testenv.Response) json.RawMessage {
	t.Helper()
	var body struct {
		Options json.RawMessage `json:"options"`
	}
	if err := json.Unmarshal(r.Body, &body); err != nil || len(body.Options) == 0 {
		t.Fatalf("no options in %d %s", r.Status, r.Body)
	}
	return body.Options
}

// mailbox is the fake SMTP server's mail, with a count per address and
// subject of the mails mailed has returned.
type mailbox struct {
	*testenv.SMTPServer
	seen map[string]int
}

// mailed waits for the next mail to address to whose subject contains
// subject, after those it returned before, and returns what pattern
// matches in its body: its last group, or the whole match.
func (mb *mailbox) mailed(t *testing.T, to, subject, pattern string) string {
	t.Helper()
	re := regexp.MustCompile(pattern)
	key := to + "\x00" + subject
	seen := mb.seen[key]
	for n := 1; ; n++ {
		msgs := mb.Wait(t, n, time.Minute)
		if len(msgs) > n {
			n = len(msgs)
		}
		found := 0
		for _, m := range msgs {
			if len(m.To) == 0 || m.To[0] != to {
				continue
			}
			s, body := mailText(t, m)
			if !strings.Contains(s, subject) {
				continue
			}
			found++
			if found == seen+1 {
				mb.seen[key] = found
				match := re.FindStringSubmatch(body)
				if match == nil {
					t.Fatalf("mail %q to %s has no %s:\n%s", s, to, pattern, body)
				}
				return match[len(match)-1]
			}
		}
	}
}

func mailText(t *testing.T, m testenv.SMTPMessage) (subject, body string) {
	t.Helper()
	msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
	if err != nil {
		t.Fatalf("received message does not parse: %v", err)
	}
	if subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatalf("Subject: %v", err)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		t.Fatalf("body: %v", err)
	}
	return subject, string(b)
}

// pages is one browser without JavaScript: a cookie jar and the CSRF token
// of the last page, sending each request to the instance it is given.
// Cookies do not tell ports apart, so both instances on 127.0.0.1 see the
// same cookies, as behind one balancer.
type pages struct {
	t    *testing.T
	http *http.Client
	csrf string
}

// page is a page as the browser got it, after redirects.
type page struct {
	status int
	body   string
	url    *url.URL
}

func newPages(t *testing.T) *pages {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &pages{t: t, http: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func (p *pages) do(req *http.Request) page {
	p.t.Helper()
	res, err := p.http.Do(req)
	if err != nil {
		p.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		p.t.Fatal(err)
	}
	if m := csrfField.FindStringSubmatch(string(b)); m != nil {
		p.csrf = m[1]
	}
	return page{status: res.StatusCode, body: string(b), url: res.Request.URL}
}

func (p *pages) get(n *node, path string) page {
	p.t.Helper()
	return p.do(testenv.NewRequest(p.t, "GET", n.url+path, nil, nil))
}

// post sends form, with the CSRF token of the last page, to n.
func (p *pages) post(n *node, path string, form url.Values) page {
	p.t.Helper()
	form.Set("csrf", p.csrf)
	return p.do(testenv.NewRequest(p.t, "POST", n.url+path, form.Encode(), http.Header{"Content-Type": {"application/x-www-form-urlencoded"}}))
}

var (
	inputTag  = regexp.MustCompile(`<input ([^>]*)>`)
	nameAttr  = regexp.MustCompile(`\bname="([^"]*)"`)
	valueAttr = regexp.MustCompile(`\bvalue="([^"]*)"`)
)

// fields returns the hidden and filled-in inputs of body's POST form to
// action (the CSRF token is left to pages.post).
func fields(t *testing.T, body, action string) url.Values {
	t.Helper()
	m := regexp.MustCompile(`(?s)<form method="post" action="` + regexp.QuoteMeta(action) + `"[^>]*>(.*?)</form>`).FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("the page has no form that posts to %s:\n%s", action, body)
	}
	f := url.Values{}
	for _, in := range inputTag.FindAllStringSubmatch(m[1], -1) {
		name, value := nameAttr.FindStringSubmatch(in[1]), valueAttr.FindStringSubmatch(in[1])
		if name != nil && value != nil && name[1] != "csrf" {
			f.Add(name[1], value[1])
		}
	}
	return f
}

// TestSetupLinkAcrossInstances starts two servers on a new database with
// no account: the first prints the first-run setup link, the second says
// one was printed and prints none; the link, opened on the second, creates
// the operator with the form sent to the first, and then works nowhere.
func TestSetupLinkAcrossInstances(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := &cluster{dsn: dsn(t), dir: t.TempDir()}
			c.keyFile = filepath.Join(c.dir, "twofold.key")
			a := c.serve(t, "A")
			m := a.waitLine(t, regexp.MustCompile(`first run: create the operator account at \S+/setup/(\S+)`))
			b := c.serve(t, "B")
			b.waitLine(t, regexp.MustCompile(`first run: setup is pending`))
			if strings.Contains(b.stdout.String(), "/setup/") {
				t.Fatalf("B printed a second setup link:\n%s", b.stdout.String())
			}
			p := newPages(t)
			if r := p.get(b, "/setup/"+m[1]); r.url.Path != "/setup" || !strings.Contains(r.body, `name="password2"`) {
				t.Fatalf("A's setup link on B: %d at %s\n%s", r.status, r.url, r.body)
			}
			r := p.post(a, "/setup", url.Values{"username": {"root"}, "email": {"root@example.com"}, "password": {password}, "password2": {password}})
			if r.url.Path != "/settings/security" {
				t.Fatalf("the setup form of B sent to A: %d at %s\n%s", r.status, r.url, r.body)
			}
			want(t, "the operator signs in on B", b.client().Do(t, "POST", "/v1/login", map[string]string{"username": "root", "password": password}), 200, "")
			if r := newPages(t).get(b, "/setup/"+m[1]); r.url.Path == "/setup" && strings.Contains(r.body, `name="password2"`) {
				t.Fatalf("the used setup link on B still offers the form")
			}
		})
	}
}

// waitLine waits, a minute at most, for a line n prints that matches re,
// and returns the match.
func (n *node) waitLine(t *testing.T, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // a bound against a hang on a loaded machine
	for {
		if m := re.FindStringSubmatch(n.stdout.String()); m != nil {
			return m
		}
		select {
		case <-n.exited:
			t.Fatalf("server %s exited without printing %s:\n%s%s", n.name, re, n.stdout.String(), n.stderr.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("server %s did not print %s within a minute:\n%s", n.name, re, n.stdout.String())
		}
	}
}
