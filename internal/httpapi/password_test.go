package httpapi_test

import (
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

const newPassword = "a different long passphrase"

// TestChangePassword walks SPEC §1 story 5 for the password: the current one
// is required and throttled like a login, bad new ones are refused with
// nothing changed, and a change signs the account out everywhere except for
// the new session it hands back, voids a login waiting for its second step,
// and mails the owner.
func TestChangePassword(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			testChangePassword(t, dsn(t))
		})
	}
}

func testChangePassword(t *testing.T, dsn string) {
	{
		mailbox := testenv.NewSMTPServer(t)
		s := testenv.NewServer(t, dsn, mailbox.Option("Twofold <twofold@example.com>"))
		addUser(t, s, "alice")
		c := login(t, s, "alice")
		other := login(t, s, "alice")
		key := makeKey(t, c, "script", nil, "account * read")
		change := func(c *testenv.Client, current, next string) testenv.Response {
			return c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": current, "new_password": next})
		}

		wantProblem(t, change(c, "not the password", newPassword), 403, "forbidden")
		wantProblem(t, change(c, password, "short"), 400, "invalid")
		wantProblem(t, change(c, password, password), 400, "invalid")
		wantProblem(t, change(c, "", newPassword), 400, "invalid")
		wantProblem(t, c.Do(t, "PUT", "/v1/me/password", map[string]string{"new_password": newPassword}), 400, "invalid")
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword}), 401, "unauthorized")
		// None of that changed anything.
		login(t, s, "alice")
		if r := other.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("another session after refused changes: got %d %s", r.Status, r.Body)
		}

		r := change(c, password, newPassword)
		if r.Status != 200 || r.String("status") != "authenticated" || r.String("token") == "" || r.String("expires_at") == "" {
			t.Fatalf("change: got %d %s", r.Status, r.Body)
		}
		if strings.Contains(string(r.Body), password) || strings.Contains(string(r.Body), newPassword) {
			t.Fatal("the answer carries a password")
		}
		for _, old := range []*testenv.Client{c, other} { // the caller's old session, and another
			wantProblem(t, old.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		}
		c.Token = r.String("token")
		if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.String("username") != "alice" {
			t.Fatalf("the new session: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": password}), 401, "invalid-credentials")
		r = testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "alice", "password": newPassword})
		if r.Status != 200 || r.String("status") != "authenticated" {
			t.Fatalf("login with the new password: got %d %s", r.Status, r.Body)
		}

		// Keys are no sessions: they still work, and the mail says so.
		if r := keyClient(s, key.id, key.secret).Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Fatalf("the API key after the change: got %d %s, want 200", r.Status, r.Body)
		}
		body := mailWith(t, mailbox, "your password was changed")
		if !strings.Contains(body, "signed out") {
			t.Errorf("mail: got body %q", body)
		}
		wantKeysStillWork(t, body)
		if strings.Contains(body, password) || strings.Contains(body, newPassword) {
			t.Error("the mail carries a password")
		}
		ev := c.Do(t, "GET", "/v1/me/events?limit=50", nil)
		var types []string
		for _, e := range ev.JSON["events"].([]any) {
			types = append(types, e.(map[string]any)["type"].(string))
		}
		if got := strings.Join(types, " "); !strings.Contains(got, "password.changed") || !strings.Contains(got, "password.change_failed") {
			t.Errorf("events: got %s, want password.changed and password.change_failed", got)
		}
	}
}

// TestChangePasswordWithTwoFactor: with an active factor the session must be
// elevated, the new session keeps the elevation, and a login that passed the
// old password but not yet its second step is voided.
func TestChangePasswordWithTwoFactor(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "bob")
		c := login(t, s, "bob")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		// Once the elevation that confirming the factor gave has lapsed,
		// the session is not elevated.
		lapseElevation(s)
		wantProblem(t, c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword}), 403, "elevation-required")

		pending, _ := startLogin(t, s, "bob")
		s.Clock.Add(30 * time.Second)
		r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		r = c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword})
		if r.Status != 200 {
			t.Fatalf("change: got %d %s", r.Status, r.Body)
		}
		c.Token = r.String("token")
		if r := c.Do(t, "GET", "/v1/me", nil); r.Status != 200 || r.JSON["elevated"] != true {
			t.Fatalf("the new session: got %d %s, want it elevated", r.Status, r.Body)
		}
		s.Clock.Add(30 * time.Second)
		wantProblem(t, verify(t, s, pending, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}), 410, "login-expired")
	})
}

// TestChangePasswordThrottled: guesses of the current password through a
// session count on the same counter as password logins from that address.
func TestChangePasswordThrottled(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "carol")
		c := login(t, s, "carol")
		for range 5 {
			r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": "wrong guess", "new_password": newPassword})
			wantProblem(t, r, 403, "forbidden")
		}
		r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword})
		wantProblem(t, r, 429, "throttled")
		if r.Header.Get("Retry-After") != "1" || r.String("detail") != "too many attempts; try again in 1 second" {
			t.Errorf("429 with Retry-After %q and detail %q, want 1 and 1 second", r.Header.Get("Retry-After"), r.String("detail"))
		}
		wantProblem(t, testenv.NewClient(s.URL()).Do(t, "POST", "/v1/login", map[string]string{"username": "carol", "password": password}), 429, "throttled")
		// The lock passes, and the right password then works.
		s.Clock.Add(2 * time.Second)
		if r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": newPassword}); r.Status != 200 {
			t.Fatalf("change after the lock: got %d %s", r.Status, r.Body)
		}
	})
}

// mailText returns the subject and the decoded body of a received message.
func mailText(t testing.TB, m testenv.SMTPMessage) (subject, body string) {
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

// TestLogoutEverywhere: one call ends every session of the account, the
// caller's included, and voids a login waiting for its second step; other
// accounts' sessions are untouched, and the event is recorded.
func TestLogoutEverywhere(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		c, phone := phoneUser(t, s, "lou")
		pending, _ := startLogin(t, s, "lou")
		other := testenv.NewClient(s.URL())
		l, _ := startLogin(t, s, "lou")
		r := verify(t, s, l, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if r.Status != 200 {
			t.Fatalf("second session: got %d %s", r.Status, r.Body)
		}
		other.Token = r.String("token")
		addUser(t, s, "bystander")
		bystander := login(t, s, "bystander")

		if r := c.Do(t, "POST", "/v1/logout/everywhere", nil); r.Status != 204 {
			t.Fatalf("logout everywhere: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		wantProblem(t, other.Do(t, "GET", "/v1/me", nil), 401, "unauthorized")
		if r := bystander.Do(t, "GET", "/v1/me", nil); r.Status != 200 {
			t.Errorf("another account's session: got %d", r.Status)
		}
		s.Clock.Add(30 * time.Second)
		wantProblem(t, verify(t, s, pending, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())}), 410, "login-expired")
		// A new login works, and the events say what happened.
		l, _ = startLogin(t, s, "lou")
		r = verify(t, s, l, map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if r.Status != 200 {
			t.Fatalf("login after: got %d %s", r.Status, r.Body)
		}
		c.Token = r.String("token")
		if !strings.Contains(string(c.Do(t, "GET", "/v1/me/events?limit=5", nil).Body), "session.ended_everywhere") {
			t.Error("no session.ended_everywhere event")
		}
	})
}

// TestPasswordBlocklist: with --password-blocklist, a new password in the
// list is refused with a clear problem, as are common words and patterns
// and the account's own name, with or without a list; a good one passes.
func TestPasswordBlocklist(t *testing.T) {
	var lines []string
	for _, pw := range []string{"Tr0ub4dor&3x", "horse staple battery", "another listed one"} {
		sum := sha1.Sum([]byte(pw))
		lines = append(lines, strings.ToUpper(hex.EncodeToString(sum[:]))+":42")
	}
	slices.Sort(lines)
	path := filepath.Join(t.TempDir(), "pwned-passwords-sha1-ordered-by-hash.txt")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eachStoreWith(t, []testenv.ServerOption{func(c *config.Config) { c.PasswordBlocklist = path }}, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		c := login(t, s, "alice")
		for _, next := range []string{"Tr0ub4dor&3x", "horse staple battery", "Password2024!", "12345678", "alice-rocks-99"} {
			r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": next})
			wantProblem(t, r, 400, "invalid")
			if bytes.Contains(r.Body, []byte(next)) {
				t.Errorf("the problem repeats the password: %s", r.Body)
			}
		}
		login(t, s, "alice") // nothing changed
		if r := c.Do(t, "PUT", "/v1/me/password", map[string]string{"current_password": password, "new_password": "Tr0ub4dor&3y"}); r.Status != 200 {
			t.Fatalf("a password not in the list: got %d %s", r.Status, r.Body)
		}
		// Accounts made by others are screened alike.
		_, err := s.Service.CreateAccount(t.Context(), core.NewAccount{Username: "bob", Password: "another listed one"}, core.Meta{})
		if twofold.ErrorCode(err) != twofold.CodeInvalid {
			t.Errorf("an account made with a listed password: %v", err)
		}
	})
}

// TestListedPasswordIsTold: a holder who signs in with a password that is
// in the list (set before the list held it) is told to change it, once a
// week at most, and the sign-in goes on.
func TestListedPasswordIsTold(t *testing.T) {
	line := func(pw string) []byte {
		sum := sha1.Sum([]byte(pw))
		return []byte(strings.ToUpper(hex.EncodeToString(sum[:])) + ":42\r\n")
	}
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "pwned.txt")
			if err := os.WriteFile(path, line("not anyone's password"), 0o600); err != nil {
				t.Fatal(err)
			}
			mb := testenv.NewSMTPServer(t)
			s := testenv.NewServer(t, dsn(t), mb.Option("Twofold <twofold@example.com>"), func(c *config.Config) { c.PasswordBlocklist = path })
			addUser(t, s, "alice")
			login(t, s, "alice")
			s.Service.Wait()
			// The list is searched on disk: a line of the same length
			// written in place stands for a password listed since.
			if err := os.WriteFile(path, line(password), 0o600); err != nil {
				t.Fatal(err)
			}
			login(t, s, "alice")
			body := mailWith(t, mb, "change your password: it is known to attackers")
			if strings.Contains(body, password) {
				t.Error("the mail holds the password")
			}
			a, err := s.Store.AccountByUsername(t.Context(), "alice")
			if err != nil {
				t.Fatal(err)
			}
			// Once a week at most, however the counters are swept.
			for day := range 8 {
				s.Clock.Add(24 * time.Hour)
				if err := s.Service.Sweep(t.Context()); err != nil {
					t.Fatal(err)
				}
				login(t, s, "alice")
				s.Service.Wait()
				want := 1
				if day >= 6 { // a week after the first
					want = 2
				}
				if n := countEvents(t, s, a.ID, "password.listed"); n != want {
					t.Fatalf("day %d: got %d password.listed events, want %d", day+1, n, want)
				}
			}
		})
	}
}
