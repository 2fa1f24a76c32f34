package httpapi_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// eachStore runs f against a fresh server on SQLite and on PostgreSQL.
func eachStore(t *testing.T, f func(t *testing.T, s *testenv.Server)) {
	eachStoreWith(t, nil, f)
}

// eachStoreWith is eachStore with server options.
func eachStoreWith(t *testing.T, opts []testenv.ServerOption, f func(t *testing.T, s *testenv.Server)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			f(t, testenv.NewServer(t, dsn(t), opts...))
		})
	}
}

// eachStoreWithMail is eachStore with the server's mail going to a mailbox
// of its own, over SMTP.
func eachStoreWithMail(t *testing.T, f func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer)) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			mb := testenv.NewSMTPServer(t)
			f(t, testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>")), mb)
		})
	}
}

const password = "correct horse battery"

func addUser(t testing.TB, s *testenv.Server, name string) {
	t.Helper()
	_, err := s.Service.CreateAccount(context.Background(), core.NewAccount{Username: name, Email: name + "@example.com", Password: password}, core.Meta{})
	if err != nil {
		t.Fatal(err)
	}
}

// accountID is the id of the account named name on s.
func accountID(t testing.TB, s *testenv.Server, name string) string {
	t.Helper()
	a, err := s.Store.AccountByUsername(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a.ID
}

// accountIDs are the ids of the accounts names on s, by name.
func accountIDs(t testing.TB, s *testenv.Server, names ...string) map[string]string {
	t.Helper()
	ids := map[string]string{}
	for _, name := range names {
		ids[name] = accountID(t, s, name)
	}
	return ids
}

func login(t testing.TB, s *testenv.Server, name string) *testenv.Client {
	t.Helper()
	c := testenv.NewClient(s.URL())
	r := c.Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "authenticated" {
		t.Fatalf("login: got %d %s, want 200 authenticated", r.Status, r.Body)
	}
	c.Token = r.String("token")
	return c
}

type enrolled struct {
	id, secret string
	codes      []string
	paperKey   string
}

// startEnrol adds a TOTP factor and returns it, still pending.
func startEnrol(t testing.TB, c *testenv.Client, body map[string]any) enrolled {
	t.Helper()
	r := c.Do(t, "POST", "/v1/me/factors", body)
	if r.Status != 201 {
		t.Fatalf("enrol: got %d %s, want 201", r.Status, r.Body)
	}
	f := r.JSON["factor"].(map[string]any)
	if f["status"] != "pending" {
		t.Fatalf("got status %v, want pending", f["status"])
	}
	return enrolled{id: f["id"].(string), secret: r.String("secret")}
}

// enrol adds and confirms a TOTP factor with oathtool as the app.
func enrol(t testing.TB, s *testenv.Server, c *testenv.Client, body map[string]any, oathArgs ...string) enrolled {
	t.Helper()
	e := startEnrol(t, c, body)
	code := testenv.TOTP(t, e.secret, s.Clock.Now(), oathArgs...)
	r := c.Do(t, "POST", "/v1/me/factors/"+e.id+"/confirm", map[string]string{"code": code})
	if r.Status != 200 {
		t.Fatalf("confirm: got %d %s, want 200", r.Status, r.Body)
	}
	if got := r.JSON["factor"].(map[string]any)["status"]; got != "active" {
		t.Fatalf("got status %v, want active", got)
	}
	if rc, ok := r.JSON["recovery_codes"].([]any); ok {
		for _, x := range rc {
			e.codes = append(e.codes, x.(string))
		}
		e.paperKey = r.String("paper_key")
	}
	return e
}

// lapseElevation moves s's clock past the elevation that confirming a
// factor gave the session that confirmed it (ElevationTTL, 10 minutes),
// for tests of what a session that is not elevated may do.
func lapseElevation(s *testenv.Server) {
	s.Clock.Add(core.DefaultConfig().ElevationTTL + time.Second)
}

func startLogin(t *testing.T, s *testenv.Server, name string) (string, testenv.Response) {
	t.Helper()
	r := testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": name, "password": password})
	if r.Status != 200 || r.String("status") != "second_factor_required" {
		t.Fatalf("login: got %d %s, want second_factor_required", r.Status, r.Body)
	}
	return r.String("login_id"), r
}

func verify(t *testing.T, s *testenv.Server, loginID string, body map[string]string) testenv.Response {
	t.Helper()
	return testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login/"+loginID+"/verify", body)
}

func wantProblem(t *testing.T, r testenv.Response, status int, problem string) {
	t.Helper()
	if r.Status != status || r.Problem() != problem {
		t.Fatalf("got %d %q (%s), want %d %q", r.Status, r.Problem(), r.Body, status, problem)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("got Content-Type %q, want application/problem+json", ct)
	}
	if status == 401 && !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer ") {
		t.Fatalf("a 401 with WWW-Authenticate %q, want a Bearer challenge (RFC 9110 §15.5.2)", r.Header.Get("WWW-Authenticate"))
	}
}

// TestTOTPStory walks SPEC §1 stories 1, 2, 4, 5 and 8 over HTTP, with zbarimg
// reading the QR code and oathtool as the authenticator app.
func TestTOTPStory(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		c := login(t, s, "alice")

		// Enrol: the QR code carries the same otpauth URI as the JSON.
		r := c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "phone"})
		if r.Status != 201 {
			t.Fatalf("enrol: got %d %s", r.Status, r.Body)
		}
		id, secret, uri := r.JSON["factor"].(map[string]any)["id"].(string), r.String("secret"), r.String("otpauth_uri")
		if !strings.HasPrefix(uri, "otpauth://totp/Twofold:alice?secret="+secret) {
			t.Fatalf("got otpauth_uri %q", uri)
		}
		qr := c.Do(t, "GET", r.String("qr_png_url"), nil)
		if qr.Status != 200 || qr.Header.Get("Content-Type") != "image/png" {
			t.Fatalf("qr: got %d %s", qr.Status, qr.Header.Get("Content-Type"))
		}
		if got := zbarimg(t, qr.Body); got != uri {
			t.Fatalf("QR code reads %q, want %q", got, uri)
		}

		// A pending factor gates nothing: login is still password-only.
		login(t, s, "alice")

		// A wrong code does not confirm.
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": "000000"}), 401, "invalid-code")
		code := testenv.TOTP(t, secret, s.Clock.Now())
		r = c.Do(t, "POST", "/v1/me/factors/"+id+"/confirm", map[string]string{"code": code})
		if r.Status != 200 {
			t.Fatalf("confirm: got %d %s", r.Status, r.Body)
		}
		codes := r.JSON["recovery_codes"].([]any)
		if len(codes) != 10 || r.String("paper_key") == "" {
			t.Fatalf("got %d recovery codes and paper key %q, want 10 and a key", len(codes), r.String("paper_key"))
		}
		// Once active, the secret is never shown again.
		wantProblem(t, c.Do(t, "GET", "/v1/me/factors/"+id+"/qr.png", nil), 404, "not-found")

		me := c.Do(t, "GET", "/v1/me", nil)
		tf := me.JSON["two_factor"].(map[string]any)
		if tf["enabled"] != true || tf["required"] != true || tf["recovery_codes_remaining"] != float64(10) {
			t.Fatalf("got two_factor %v, want enabled, required, 10 codes", tf)
		}

		// Login now needs the second step; the code that confirmed enrolment is spent.
		loginID, lr := startLogin(t, s, "alice")
		methods := lr.JSON["methods"].([]any)
		if len(methods) != 3 {
			t.Fatalf("got methods %v, want totp, recovery_code, paper_key", methods)
		}
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": code}), 401, "invalid-code")
		s.Clock.Add(30 * time.Second)
		code = testenv.TOTP(t, secret, s.Clock.Now())
		r = verify(t, s, loginID, map[string]string{"method": "totp", "code": code})
		if r.Status != 200 || r.String("token") == "" {
			t.Fatalf("verify: got %d %s", r.Status, r.Body)
		}
		// The login is used up, and the code is spent on a new login too.
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": code}), 410, "login-expired")
		loginID, _ = startLogin(t, s, "alice")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": code}), 401, "invalid-code")

		// A recovery code works once; the count goes down.
		// It signs the account's other sessions out (README "Signing in
		// after losing a phone"): the rest goes on with its session.
		rc := strings.ToUpper(codes[0].(string))
		r = verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": rc})
		if r.Status != 200 {
			t.Fatalf("recovery code: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		c.Token = r.String("token")
		loginID, _ = startLogin(t, s, "alice")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": rc}), 401, "invalid-code")
		tf = c.Do(t, "GET", "/v1/me", nil).JSON["two_factor"].(map[string]any)
		if tf["recovery_codes_remaining"] != float64(9) {
			t.Fatalf("got %v recovery codes remaining, want 9", tf["recovery_codes_remaining"])
		}

	})
}

func TestPaperKeyAndElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "bob")
		c := login(t, s, "bob")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		lapseElevation(s)
		// Another factor needs an elevated session, as removing one does:
		// else a password-only session could add its own and elevate with it.
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "intruder"}), 403, "elevation-required")
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": phone.paperKey}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		// A second factor of the same kind gets no new recovery codes.
		token := enrol(t, s, c, map[string]any{"type": "totp", "label": "password manager", "secret_size": 32})
		if token.codes != nil {
			t.Fatal("second factor issued recovery codes again")
		}

		// Paper key logs in; it is written in any case and grouping.
		loginID, _ := startLogin(t, s, "bob")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "paper_key", "code": "not-the-key"}), 401, "invalid-code")
		r := verify(t, s, loginID, map[string]string{"method": "paper_key", "code": strings.ToUpper(strings.ReplaceAll(phone.paperKey, "-", " "))})
		if r.Status != 200 {
			t.Fatalf("paper key: got %d %s", r.Status, r.Body)
		}

		// A password-only session... there is none with required two-factor;
		// a second-step session is elevated for 10 minutes.
		c2 := testenv.NewClient(s.URL())
		c2.Token = r.String("token")
		s.Clock.Add(11 * time.Minute)
		wantProblem(t, c2.Do(t, "DELETE", "/v1/me/factors/"+token.id, nil), 403, "elevation-required")
		wantProblem(t, c2.Do(t, "POST", "/v1/me/recovery-codes", nil), 403, "elevation-required")
		wantProblem(t, c2.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": false}), 403, "elevation-required")
		wantProblem(t, c2.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": "123456"}), 401, "invalid-code")
		r = c2.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "factor_id": token.id, "code": testenv.TOTP(t, token.secret, s.Clock.Now())})
		if r.Status != 200 || r.String("elevated_until") == "" {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := c2.Do(t, "DELETE", "/v1/me/factors/"+token.id, nil); r.Status != 204 {
			t.Fatalf("delete: got %d %s", r.Status, r.Body)
		}
		// The other factor still works.
		s.Clock.Add(30 * time.Second)
		loginID, lr := startLogin(t, s, "bob")
		if n := len(lr.JSON["methods"].([]any)); n != 3 {
			t.Fatalf("got %d methods after removing one factor, want 3", n)
		}
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("remaining factor: got %d %s", r.Status, r.Body)
		}

		// Regenerating recovery codes voids the old set.
		r = c2.Do(t, "POST", "/v1/me/recovery-codes", nil)
		if r.Status != 200 || len(r.JSON["codes"].([]any)) != 10 {
			t.Fatalf("regenerate: got %d %s", r.Status, r.Body)
		}
		loginID, _ = startLogin(t, s, "bob")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": phone.codes[1]}), 401, "invalid-code")
		if r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": r.JSON["codes"].([]any)[0].(string)}); r.Status != 200 {
			t.Fatalf("new recovery code: got %d %s", r.Status, r.Body)
		} else {
			// A recovery sign-in ends the account's other sessions: go on
			// with the one it made (elevated by its second step).
			c2.Token = r.String("token")
		}

		// Turning two-factor off (elevated) makes login password-only; on again needs no elevation.
		if r := c2.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": false}); r.Status != 200 {
			t.Fatalf("two-factor off: got %d %s", r.Status, r.Body)
		}
		login(t, s, "bob")
		if r := c2.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": true}); r.Status != 200 {
			t.Fatalf("two-factor on: got %d %s", r.Status, r.Body)
		}
		startLogin(t, s, "bob")

		// A password-only session is never elevated.
		if r := c2.Do(t, "PUT", "/v1/me/two-factor", map[string]any{"required": false}); r.Status != 200 {
			t.Fatal(r.Status)
		}
		c3 := login(t, s, "bob")
		wantProblem(t, c3.Do(t, "DELETE", "/v1/me/factors/"+phone.id, nil), 403, "elevation-required")

		// Events are the caller's own, newest first.
		ev := c3.Do(t, "GET", "/v1/me/events?limit=5", nil)
		list := ev.JSON["events"].([]any)
		if len(list) != 5 || list[0].(map[string]any)["type"] != "login.succeeded" {
			t.Fatalf("got events %v", list)
		}
	})
}

func TestStrongParamsDriftAndResync(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "carol")
		c := login(t, s, "carol")
		oath := []string{"--totp=sha256", "-d", "8", "-s", "60s"}
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "token", "algorithm": "SHA256", "digits": 8, "period": 60}, oath...)

		// The device runs 60 s (one step) slow: accepted within ±1, and the drift is learnt.
		s.Clock.Add(2 * time.Minute)
		loginID, _ := startLogin(t, s, "carol")
		slow := testenv.TOTP(t, f.secret, s.Clock.Now().Add(-60*time.Second), oath...)
		if len(slow) != 8 {
			t.Fatalf("got code %q, want 8 digits", slow)
		}
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": slow}); r.Status != 200 {
			t.Fatalf("drifted code: got %d %s", r.Status, r.Body)
		}
		// Two steps slow: only accepted because the window is now centred on the learnt drift.
		s.Clock.Add(5 * time.Minute)
		loginID, _ = startLogin(t, s, "carol")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now().Add(-120*time.Second), oath...)}); r.Status != 200 {
			t.Fatalf("code two steps slow after learning: got %d %s", r.Status, r.Body)
		}

		// Far out of sync (10 minutes fast): refused, then resynchronised with two consecutive codes.
		s.Clock.Add(5 * time.Minute)
		ahead := s.Clock.Now().Add(10 * time.Minute)
		loginID, _ = startLogin(t, s, "carol")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, ahead, oath...)}), 401, "invalid-code")
		rc := c.Do(t, "POST", "/v1/me/factors/"+f.id+"/resync", map[string]string{
			"code": testenv.TOTP(t, f.secret, ahead, oath...), "next_code": testenv.TOTP(t, f.secret, ahead.Add(60*time.Second), oath...)})
		if rc.Status != 200 {
			t.Fatalf("resync: got %d %s", rc.Status, rc.Body)
		}
		s.Clock.Add(2 * time.Minute)
		loginID, _ = startLogin(t, s, "carol")
		if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now().Add(10*time.Minute), oath...)}); r.Status != 200 {
			t.Fatalf("after resync: got %d %s", r.Status, r.Body)
		}
	})
}

func TestBadInput(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "dave")
		c := login(t, s, "dave")
		anon := testenv.NewClient(s.URL())
		for _, tc := range []struct {
			name, method, path string
			body               any
			client             *testenv.Client
			status             int
			problem            string
		}{
			{"not json", "POST", "/v1/login", "{", anon, 400, "invalid"},
			{"array body", "POST", "/v1/login", "[]", anon, 400, "invalid"},
			{"wrong type", "POST", "/v1/login", `{"username":1}`, anon, 400, "invalid"},
			{"unknown user", "POST", "/v1/login", map[string]string{"username": "nobody", "password": password}, anon, 401, "invalid-credentials"},
			{"wrong password", "POST", "/v1/login", map[string]string{"username": "dave", "password": "wrong password"}, anon, 401, "invalid-credentials"},
			{"no token", "GET", "/v1/me", nil, anon, 401, "unauthorized"},
			{"unknown login", "POST", "/v1/login/nope/verify", map[string]string{"method": "totp", "code": "123456"}, anon, 410, "login-expired"},
			{"bad factor type", "POST", "/v1/me/factors", map[string]any{"type": "sms", "label": "x"}, c, 400, "invalid"},
			{"no label", "POST", "/v1/me/factors", map[string]any{"type": "totp"}, c, 400, "invalid"},
			{"bad digits", "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "digits": 9}, c, 400, "invalid"},
			{"bad period", "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "period": 45}, c, 400, "invalid"},
			{"bad algorithm", "POST", "/v1/me/factors", map[string]any{"type": "totp", "label": "x", "algorithm": "MD5"}, c, 400, "invalid"},
			{"unknown factor", "DELETE", "/v1/me/factors/nope", nil, c, 404, "not-found"},
			{"require without factor", "PUT", "/v1/me/two-factor", map[string]any{"required": true}, c, 400, "invalid"},
			{"required missing", "PUT", "/v1/me/two-factor", map[string]any{}, c, 400, "invalid"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				wantProblem(t, tc.client.Do(t, tc.method, tc.path, tc.body), tc.status, tc.problem)
			})
		}
		// Nothing half-written: the failed enrolments left no factor.
		if fs := c.Do(t, "GET", "/v1/me/factors", nil).JSON["factors"].([]any); len(fs) != 0 {
			t.Fatalf("got %d factors after failed enrolments, want 0", len(fs))
		}
		// A login expires after 5 minutes.
		f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		loginID, _ := startLogin(t, s, "dave")
		s.Clock.Add(6 * time.Minute)
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "totp", "code": testenv.TOTP(t, f.secret, s.Clock.Now())}), 410, "login-expired")
	})
}

func TestTimeAndHealth(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	c := testenv.NewClient(s.URL())
	r := c.Do(t, "GET", "/v1/time", nil)
	if r.String("time") != "2026-11-23T12:00:10Z" || r.JSON["unix"] != float64(s.Clock.Now().Unix()) {
		t.Fatalf("got %s", r.Body)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := c.Do(t, "GET", p, nil); r.Status != 200 {
			t.Fatalf("%s: got %d", p, r.Status)
		}
	}
	// Every API's answers, errors too, tell browsers not to guess a type.
	for _, p := range []string{"/v1/time", "/v1/me", "/v1/nothing", "/v3/auth/tokens", "/dns/v2/zones", "/v1/time?x=%00", "/readyz"} {
		if r := c.Do(t, "GET", p, nil); r.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("%s: %d with X-Content-Type-Options %q, want nosniff", p, r.Status, r.Header.Get("X-Content-Type-Options"))
		}
	}
}

// TestSecretsNotInDatabaseFile searches the SQLite file (and its WAL) for the
// TOTP secret, recovery codes, paper key and session token.
func TestSecretsNotInDatabaseFile(t *testing.T) {
	s := testenv.NewServer(t, testenv.SQLiteDSN(t))
	addUser(t, s, "erin")
	c := login(t, s, "erin")
	f := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
	raw, err := base32Decode(f.secret)
	if err != nil {
		t.Fatal(err)
	}
	var db []byte
	for _, suffix := range []string{"", "-wal"} {
		b, err := os.ReadFile(s.DBPath + suffix)
		if err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
		db = append(db, b...)
	}
	needles := map[string][]byte{"raw secret": raw, "base32 secret": []byte(f.secret), "paper key": []byte(f.paperKey),
		"paper key ungrouped": []byte(strings.ReplaceAll(f.paperKey, "-", "")), "session token": []byte(c.Token)}
	for i, code := range f.codes {
		needles["recovery code "+string(rune('0'+i))] = []byte(strings.ReplaceAll(code, "-", ""))
	}
	for name, n := range needles {
		if bytes.Contains(db, n) {
			t.Errorf("database file contains the %s", name)
		}
	}
}

func zbarimg(t *testing.T, png []byte) string {
	t.Helper()
	cmd := exec.Command("zbarimg", "--quiet", "--raw", "-")
	cmd.Stdin = bytes.NewReader(png)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("zbarimg: %v (install it: apt-get install zbar-tools)", err)
	}
	return strings.TrimSpace(string(out))
}

func base32Decode(s string) ([]byte, error) {
	return base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(s)
}

// TestSessionTokens: a token is its session's ID, a dot and a secret. Only
// the whole token opens the session: a changed secret, another session's ID,
// a token of the form issued before IDs were part of it, and a token of an
// ended session are all refused alike.
func TestSessionTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		addUser(t, s, "bob")
		a, b := login(t, s, "alice"), login(t, s, "bob")
		id, secret, ok := strings.Cut(a.Token, ".")
		if !ok || len(id) != 26 || len(secret) != 52 {
			t.Fatalf("token %d characters: want a 26-character ID, a dot and a 52-character secret", len(a.Token))
		}
		if r := a.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.String("username") != "alice" {
			t.Fatalf("GET /v1/me: got %d %s", r.Status, r.Body)
		}
		bID, bSecret, _ := strings.Cut(b.Token, ".")
		flip := func(s string) string {
			last := s[len(s)-1]
			if last == 'a' {
				return s[:len(s)-1] + "b"
			}
			return s[:len(s)-1] + "a"
		}
		refused := map[string]string{
			"changed secret":      id + "." + flip(secret),
			"short secret":        id + "." + secret[:51],
			"other session's ID":  bID + "." + secret,
			"other secret":        id + "." + bSecret,
			"no ID (older form)":  secret,
			"upper-case ID":       strings.ToUpper(id) + "." + secret,
			"empty secret":        id + ".",
			"ID and dot twice":    id + "." + id + "." + secret,
			"other ID, same time": flip(id) + "." + secret,
		}
		for name, token := range refused {
			t.Run(name, func(t *testing.T) {
				c := testenv.NewClient(s.URL())
				c.Token = token
				wantProblem(t, c.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
			})
		}
		if r := b.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.String("username") != "bob" {
			t.Fatalf("bob after the refused tokens: got %d %s", r.Status, r.Body)
		}
		if r := a.Do(t, "POST", "/v1/logout", nil); r.Status != 204 && r.Status != 200 {
			t.Fatalf("logout: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, a.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
	})
}
