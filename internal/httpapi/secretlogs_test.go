package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/factor/sshkey"
	"github.com/twofold/twofold/internal/pushdevice"
	"github.com/twofold/twofold/internal/testenv"
)

// secretFields name the JSON fields, of requests and answers alike, whose
// values are secrets or bearer-like, or a person's phone number or address:
// none may reach a log line.
var secretFields = map[string]bool{
	"password": true, "new_password": true, "code": true, "codes": true, "token": true, "access_token": true,
	"secret": true, "otpauth_uri": true, "recovery_codes": true, "paper_key": true, "login_id": true,
	"enrolment_token": true, "enrolment_uri": true, "push_secret": true, "code_secret": true, "qr_png": true,
	"signature": true, "passcode": true, "phone": true, "email": true,
}

// secretRecorder is an http.RoundTripper that keeps every secret a client
// sends or is answered (secretFields, and the credentials of its headers),
// and checks that every answer of the APIs with a body tells caches not to
// store it, and that no refusal echoes a secret its request sent.
type secretRecorder struct {
	tb      testing.TB
	mu      sync.Mutex
	secrets map[string]string // value → where it was seen
}

// add keeps value, seen where, as a secret; values shorter than a code are
// not secrets.
func (sr *secretRecorder) add(value, where string) {
	if len(value) < 6 {
		return
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	if _, ok := sr.secrets[value]; !ok {
		sr.secrets[value] = where
	}
}

// fields returns the values of the secret fields of the JSON text b, by
// field name.
func fields(b []byte) map[string][]string {
	var v any
	if json.Unmarshal(b, &v) != nil {
		return nil
	}
	found := map[string][]string{}
	var walk func(key string, v any)
	walk = func(key string, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(k, e)
			}
		case []any:
			for _, e := range x {
				walk(key, e)
			}
		case string:
			if secretFields[key] {
				found[key] = append(found[key], x)
			}
		}
	}
	walk("", v)
	return found
}

// credentials returns the credentials of the headers h, by header.
func credentials(h http.Header) map[string][]string {
	found := map[string][]string{}
	if v := h.Get("Authorization"); v != "" {
		scheme, cred, _ := strings.Cut(v, " ")
		found["Authorization"] = []string{cred}
		if strings.EqualFold(scheme, "Basic") {
			if b, err := base64.StdEncoding.DecodeString(cred); err == nil {
				_, secret, _ := strings.Cut(string(b), ":")
				found["Basic secret"] = []string{secret}
			}
		}
	}
	for _, name := range []string{"X-Auth-Token", "X-Subject-Token", "Openstack-Auth-Receipt"} {
		if v := h.Get(name); v != "" {
			found[name] = []string{v}
		}
	}
	return found
}

func (sr *secretRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	what := req.Method + " " + req.URL.Path
	sent := credentials(req.Header)
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		for k, vs := range fields(b) {
			sent[k] = append(sent[k], vs...)
		}
		if strings.HasPrefix(req.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
			form, _ := url.ParseQuery(string(b))
			for k, vs := range form {
				if secretFields[k] {
					sent[k] = append(sent[k], vs...)
				}
			}
		}
	}
	res, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(b))
	for k, vs := range sent {
		for _, v := range vs {
			sr.add(v, what+" request "+k)
			if res.StatusCode >= 400 && len(v) >= 6 && bytes.Contains(b, []byte(v)) {
				sr.tb.Errorf("%s: the refusal (%d) echoes the request's %s: %s", what, res.StatusCode, k, b)
			}
		}
	}
	answered := credentials(res.Header)
	for k, vs := range fields(b) {
		answered[k] = append(answered[k], vs...)
	}
	for k, vs := range answered {
		for _, v := range vs {
			sr.add(v, what+" answer "+k)
		}
	}
	if len(b) > 0 && (strings.HasPrefix(req.URL.Path, "/v1/") || strings.HasPrefix(req.URL.Path, "/v3/")) {
		if cc := res.Header.Get("Cache-Control"); cc != "no-store" {
			sr.tb.Errorf("%s: answered %d with Cache-Control %q, want no-store", what, res.StatusCode, cc)
		}
	}
	if req.Method == http.MethodHead && res.Header.Get("X-Subject-Token") != "" && res.Header.Get("Cache-Control") != "no-store" {
		sr.tb.Errorf("%s: answered a token with Cache-Control %q, want no-store", what, res.Header.Get("Cache-Control"))
	}
	return res, nil
}

// client returns an API client of s whose requests sr records.
func (sr *secretRecorder) client(s *testenv.Server) *testenv.Client {
	c := testenv.NewClient(s.URL())
	c.HTTP.Transport = sr
	return c
}

// digits matches a value made of digits only: such a value (a code) is
// looked for in the log as a whole word, not inside a longer number.
var digits = regexp.MustCompile(`^[0-9]+$`)

// TestSecretsStayOutOfLogs drives the server, logging at debug level,
// through every flow that hands out or takes a secret, with right and
// wrong values: sign-in and its second step (TOTP, a texted and a mailed
// code, a recovery code, the paper key, an SSH signature, a push),
// enrolments (the TOTP secret, its otpauth URI and QR image, recovery codes
// and paper key, a push enrolment), elevation, API keys and the tokens they
// get, a password reset by its mailed link, a change of address by its
// mailed code, and an Identity API token. It records every secret sent or
// answered (and the codes the gateway and the mailbox got), and wants none
// of them in the server's log, nor in the account's audit log; every answer of the APIs with a body
// Cache-Control: no-store; and no refusal that echoes a secret its request
// sent (a wrong code, password or token).
func TestSecretsStayOutOfLogs(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var logs testenv.Buffer
			log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			g := testenv.NewSMSGateway(t)
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewLoggedServer(t, dsn(t), log, g.Option(), mb.Option("Twofold <twofold@example.com>"))
			sr := &secretRecorder{tb: t, secrets: map[string]string{}}
			driveSecretFlows(t, s, g, mb, sr)

			text := logs.String()
			if !strings.Contains(text, "level=DEBUG") {
				t.Fatalf("the server logged nothing at debug level:\n%s", text)
			}
			var leaked []string
			for secret, where := range sr.secrets {
				found := strings.Contains(text, secret)
				if digits.MatchString(secret) {
					found = regexp.MustCompile(`(^|[^0-9A-Za-z])` + secret + `([^0-9A-Za-z]|$)`).MatchString(text)
				}
				if found {
					leaked = append(leaked, where)
				}
			}
			sort.Strings(leaked)
			for _, where := range leaked {
				t.Errorf("the log holds the secret of %s", where)
			}
			if len(sr.secrets) < 30 {
				t.Errorf("recorded %d secrets, want the flows to hand out and take more", len(sr.secrets))
			}
			if t.Failed() {
				t.Logf("log:\n%s", text)
			}
		})
	}
}

// driveSecretFlows walks the flows of TestSecretsStayOutOfLogs through
// clients of sr.
func driveSecretFlows(t *testing.T, s *testenv.Server, g *testenv.SMSGateway, mb *testenv.SMTPServer, sr *secretRecorder) {
	ctx := context.Background()
	anon := sr.client(s)
	mailed := 0
	// nextMail waits for a mail to address whose subject holds about,
	// after those looked at so far, and returns its body.
	nextMail := func(address, about string) string {
		t.Helper()
		for {
			mailed++
			m := mb.Wait(t, mailed, time.Minute)[mailed-1]
			if subject, body := mailText(t, m); len(m.To) == 1 && m.To[0] == address && strings.Contains(subject, about) {
				return body
			}
		}
	}
	codeIn := regexp.MustCompile(`\b[0-9]{6}\b`)

	// Sign-in with a password, right and wrong, and a TOTP enrolment.
	addUser(t, s, "ivy")
	wantProblem(t, anon.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": "wrong horse battery"}), 401, "invalid-credentials")
	c := sr.client(s)
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password})
	c.Token = r.String("token")
	pending := startEnrol(t, c, map[string]any{"type": "totp", "label": "phone"})
	if r := c.Do(t, "GET", "/v1/me/factors/"+pending.id+"/qr.png", nil); r.Status != 200 || r.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("QR image: got %d, Cache-Control %q, want 200 no-store", r.Status, r.Header.Get("Cache-Control"))
	}
	wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+pending.id+"/confirm", map[string]string{"code": "000000"}), 401, "invalid-code")
	r = c.Do(t, "POST", "/v1/me/factors/"+pending.id+"/confirm", map[string]string{"code": testenv.TOTP(t, pending.secret, s.Clock.Now())})
	if r.Status != 200 {
		t.Fatalf("confirm: got %d %s", r.Status, r.Body)
	}
	app := pending
	app.paperKey = r.String("paper_key")
	for _, x := range r.JSON["recovery_codes"].([]any) {
		app.codes = append(app.codes, x.(string))
	}
	sr.add(strings.ReplaceAll(app.paperKey, "-", ""), "paper key ungrouped")
	for _, code := range app.codes {
		sr.add(strings.ReplaceAll(code, "-", ""), "recovery code ungrouped")
	}

	// The second step: wrong and right codes of each kind.
	loginAs := func() string {
		t.Helper()
		r := anon.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": password})
		if r.String("status") != "second_factor_required" {
			t.Fatalf("login: got %d %s, want second_factor_required", r.Status, r.Body)
		}
		return r.String("login_id")
	}
	// signedIn takes the session a second step made: one passed by a way
	// back in (a recovery code, the paper key, a texted code, an SSH key)
	// ends the account's other sessions.
	signedIn := func(r testenv.Response, what string) {
		t.Helper()
		if r.Status != 200 || r.String("token") == "" {
			t.Fatalf("%s: got %d %s", what, r.Status, r.Body)
		}
		c.Token = r.String("token")
	}
	s.Clock.Add(30 * time.Second)
	id := loginAs()
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "totp", "code": "123456"}), 401, "invalid-code")
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "recovery_code", "code": "abcd-efgh-ijkl-mnop"}), 401, "invalid-code")
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "paper_key", "code": strings.Repeat("wrongpaperkey", 3)}), 401, "invalid-code")
	signedIn(anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}), "verify totp")
	signedIn(anon.Do(t, "POST", "/v1/login/"+loginAs()+"/verify", map[string]string{"method": "recovery_code", "code": app.codes[0]}), "verify recovery code")
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+loginAs()+"/verify", map[string]string{"method": "recovery_code", "code": app.codes[0]}), 401, "invalid-code")
	signedIn(anon.Do(t, "POST", "/v1/login/"+loginAs()+"/verify", map[string]string{"method": "paper_key", "code": app.paperKey}), "verify paper key")
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "totp", "code": "123456"}), 410, "login-expired")

	// Elevation, new recovery codes, a texted code's factor and an SSH key.
	s.Clock.Add(30 * time.Second)
	wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": "654321"}), 401, "invalid-code")
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	if r := c.Do(t, "POST", "/v1/me/recovery-codes", nil); r.Status != 200 {
		t.Fatalf("new recovery codes: got %d %s", r.Status, r.Body)
	}
	phoneID, _ := enrolPhone(t, c, g, phone, phoneE164, "mobile")
	kp := testenv.SSHKeygen(t, "ed25519", 0)
	registerSSHKey(t, c, kp)
	id = loginAs()
	if r := anon.Do(t, "POST", "/v1/login/"+id+"/challenge", map[string]string{"method": "sms", "factor_id": phoneID}); r.Status != 202 {
		t.Fatalf("sms challenge: got %d %s", r.Status, r.Body)
	}
	texted := g.LastCode(t, phoneE164)
	sr.add(texted, "texted code")
	wantProblem(t, anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "sms", "factor_id": phoneID, "code": "111111"}), 401, "invalid-code")
	signedIn(anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "sms", "factor_id": phoneID, "code": texted}), "verify sms")
	id = loginAs()
	r = anon.Do(t, "POST", "/v1/login/"+id+"/challenge", map[string]string{"method": "ssh_key"})
	if r.Status != 200 {
		t.Fatalf("ssh challenge: got %d %s", r.Status, r.Body)
	}
	sig := testenv.SSHSign(t, kp.File, sshkey.Namespace, r.String("challenge"))
	signedIn(anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "ssh_key", "signature": sig}), "verify ssh")

	// A mailed code's factor, signed in with.
	if r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "email"}); r.Status != 201 {
		t.Fatalf("enrol email: got %d %s", r.Status, r.Body)
	} else {
		code := codeIn.FindString(nextMail("ivy@example.com", "your code"))
		sr.add(code, "mailed code")
		f := r.JSON["factor"].(map[string]any)["id"].(string)
		if r := c.Do(t, "POST", "/v1/me/factors/"+f+"/confirm", map[string]string{"code": code}); r.Status != 200 {
			t.Fatalf("confirm email: got %d %s", r.Status, r.Body)
		}
		id = loginAs()
		if r := anon.Do(t, "POST", "/v1/login/"+id+"/challenge", map[string]string{"method": "email", "factor_id": f}); r.Status != 202 {
			t.Fatalf("email challenge: got %d %s", r.Status, r.Body)
		}
		code = codeIn.FindString(nextMail("ivy@example.com", "your code"))
		sr.add(code, "mailed sign-in code")
		signedIn(anon.Do(t, "POST", "/v1/login/"+id+"/verify", map[string]string{"method": "email", "factor_id": f, "code": code}), "verify email")
	}

	// A push device enrolled and approving a sign-in.
	s.Clock.Add(30 * time.Second)
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	st, _, err := pushdevice.Enrol(ctx, c.HTTP, startPush(t, c, "tablet").String("enrolment_uri"))
	if err != nil {
		t.Fatalf("device enrol: %v", err)
	}
	d := &pushdevice.Client{State: st, HTTP: c.HTTP, Now: s.Clock.Now}
	id = loginAs()
	ch := wantPushSent(t, anon.Do(t, "POST", "/v1/login/"+id+"/challenge", map[string]string{"method": "push"}))
	if got, err := d.Approve(ctx, waiting(t, d).ID, ch.String("number")); err != nil || got != "approved" {
		t.Fatalf("approve: %q, %v", got, err)
	}
	signedIn(anon.Do(t, "POST", "/v1/login/"+id+"/verify", pushProof(ch)), "verify push")

	// API keys, as Basic and Bearer, and the tokens they get.
	key := makeKey(t, c, "deploy", nil, "account * read")
	bad := keyClient(s, key.id, otherSecret(key.secret))
	bad.HTTP.Transport = sr
	wantProblem(t, bad.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
	kc := keyClient(s, key.id, key.secret)
	kc.HTTP.Transport = sr
	if r := kc.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
		t.Fatalf("key as Basic: got %d %s", r.Status, r.Body)
	}
	kc.Header = mergeHeader(kc.Header, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
	if r := kc.Do(t, "POST", "/v1/token", url.Values{"grant_type": {"client_credentials"}}.Encode()); r.Status != 200 {
		t.Fatalf("key token: got %d %s", r.Status, r.Body)
	}

	// A change of address by its mailed code, wrong then right.
	s.Clock.Add(30 * time.Second)
	if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 {
		t.Fatalf("elevate: got %d %s", r.Status, r.Body)
	}
	if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "ivy@new.example", "password": password}); r.Status != 202 && r.Status != 200 {
		t.Fatalf("change address: got %d %s", r.Status, r.Body)
	}
	code := codeIn.FindString(nextMail("ivy@new.example", ""))
	sr.add(code, "address change code")
	wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": "999999"}), 401, "invalid-code")
	if r := c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}); r.Status != 200 {
		t.Fatalf("confirm address: got %d %s", r.Status, r.Body)
	}

	// An Identity API token, with a wrong passcode first.
	s.Clock.Add(30 * time.Second)
	signIn := func(passcode string) testenv.Response {
		return anon.Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["password","totp"],`+
			`"password":{"user":{"name":"ivy","domain":{"id":"default"},"password":"`+password+`"}},`+
			`"totp":{"user":{"name":"ivy","domain":{"id":"default"},"passcode":"`+passcode+`"}}}}}`)
	}
	sr.add(testenv.TOTP(t, app.secret, s.Clock.Now()), "identity passcode")
	if r := signIn("222222"); r.Status != 401 {
		t.Fatalf("identity sign-in with a wrong passcode: got %d %s", r.Status, r.Body)
	}
	r = signIn(testenv.TOTP(t, app.secret, s.Clock.Now()))
	subject := r.Header.Get("X-Subject-Token")
	if r.Status != 201 || subject == "" {
		t.Fatalf("identity sign-in: got %d %s", r.Status, r.Body)
	}
	// The password first: the receipt it is answered, then the passcode
	// with it.
	s.Clock.Add(30 * time.Second)
	r = anon.Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["password"],`+
		`"password":{"user":{"name":"ivy","domain":{"id":"default"},"password":"`+password+`"}}}}}`)
	receipt := r.Header.Get("Openstack-Auth-Receipt")
	if r.Status != 401 || receipt == "" {
		t.Fatalf("identity sign-in with the password alone: got %d %s, want 401 with a receipt", r.Status, r.Body)
	}
	rc := sr.client(s)
	rc.Header = http.Header{"Openstack-Auth-Receipt": {receipt}}
	r = rc.Do(t, "POST", "/v3/auth/tokens", `{"auth":{"identity":{"methods":["totp"],`+
		`"totp":{"user":{"name":"ivy","domain":{"id":"default"},"passcode":"`+testenv.TOTP(t, app.secret, s.Clock.Now())+`"}}}}}`)
	if r.Status != 201 || r.Header.Get("X-Subject-Token") == "" {
		t.Fatalf("identity sign-in with the receipt: got %d %s", r.Status, r.Body)
	}
	ks := sr.client(s)
	ks.Header = http.Header{"X-Auth-Token": {subject}, "X-Subject-Token": {subject}}
	for _, method := range []string{"GET", "HEAD"} {
		if r := ks.Do(t, method, "/v3/auth/tokens", nil); r.Status != 200 {
			t.Fatalf("%s token: got %d %s", method, r.Status, r.Body)
		}
	}

	// A forgotten password: the mailed link, checked, a wrong and a right
	// second factor.
	if r := anon.Do(t, "POST", "/v1/password-reset", map[string]string{"username": "ivy"}); r.Status != 202 && r.Status != 200 {
		t.Fatalf("ask reset: got %d %s", r.Status, r.Body)
	}
	link := regexp.MustCompile(`/password-reset/([a-z2-7]+\.[a-z2-7]+)\b`)
	m := link.FindStringSubmatch(nextMail("ivy@new.example", "reset your password"))
	if m == nil {
		t.Fatal("a password-reset mail without its link")
	}
	tok := m[1]
	sr.add(tok, "reset link token")
	if r := anon.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": tok}); r.Status != 200 {
		t.Fatalf("check reset: got %d %s", r.Status, r.Body)
	}
	wantProblem(t, anon.Do(t, "POST", "/v1/password-reset/check", map[string]string{"token": tok + "x"}), 410, "login-expired")
	s.Clock.Add(30 * time.Second)
	wantProblem(t, anon.Do(t, "POST", "/v1/password-reset/complete", map[string]string{"token": tok, "password": "a new long passphrase", "method": "totp", "code": "333333"}), 401, "invalid-code")
	if r := anon.Do(t, "POST", "/v1/password-reset/complete", map[string]string{"token": tok, "password": "a new long passphrase", "method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}); r.Status != 200 && r.Status != 204 {
		t.Fatalf("complete reset: got %d %s", r.Status, r.Body)
	}

	// The account's own audit log, read whole by a new session, names
	// none of the secrets either (an address may be named there).
	s.Clock.Add(30 * time.Second)
	r = anon.Do(t, "POST", "/v1/login", map[string]string{"username": "ivy", "password": "a new long passphrase"})
	signedIn(anon.Do(t, "POST", "/v1/login/"+r.String("login_id")+"/verify", map[string]string{"method": "totp", "code": testenv.TOTP(t, app.secret, s.Clock.Now())}), "sign in after the reset")
	var events []byte
	for after := "0"; ; {
		r := c.Do(t, "GET", "/v1/me/events?after="+after, nil)
		list, _ := r.JSON["events"].([]any)
		if r.Status != 200 || len(list) == 0 {
			break
		}
		events = append(events, r.Body...)
		after = strconv.FormatFloat(r.JSON["next_after"].(float64), 'f', -1, 64)
	}
	if !bytes.Contains(events, []byte("password.reset")) {
		t.Fatalf("the audit log read holds no password.reset event: %s", events)
	}
	sr.mu.Lock()
	defer sr.mu.Unlock()
	for secret, where := range sr.secrets {
		if !strings.HasSuffix(where, " email") && !strings.HasSuffix(where, " phone") && bytes.Contains(events, []byte(secret)) {
			t.Errorf("the audit log holds the secret of %s", where)
		}
	}
}
