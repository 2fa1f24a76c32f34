package httpapi_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// mailTo waits until the mailbox holds n messages, and more until one is
// to address, and returns the subject and body of the newest one to it.
func mailTo(t *testing.T, mb *testenv.SMTPServer, n int, address string) (subject, body string) {
	t.Helper()
	for ; ; n++ {
		msgs := mb.Wait(t, n, time.Minute)
		for i := len(msgs) - 1; i >= 0; i-- {
			if slices.Contains(msgs[i].To, address) {
				return mailText(t, msgs[i])
			}
		}
	}
}

// TestEmailChange: a new address replaces the account's only once the code
// mailed to it comes back, after a fresh second factor; the old address is
// told both when the change is asked for and when it is made; a change takes
// at most five codes.
func TestEmailChange(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "frank")
		c := login(t, s, "frank")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		lapseElevation(s)
		n := len(mb.Wait(t, 1, time.Minute))

		const next = "frank@new.example"
		wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next, "password": password}), 403, "elevation-required")
		s.Clock.Add(30 * time.Second)
		if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		for _, bad := range []string{"", "not an address", "Frank <frank@new.example>", "FRANK@example.com"} {
			wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": bad, "password": password}), 400, "invalid")
		}
		// A stolen session, even elevated, does not move the address
		// that password-reset links go to.
		wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next}), 400, "invalid")
		wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next, "password": "not the password"}), 403, "forbidden")
		r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next, "password": password})
		if r.Status != 202 || r.String("sent_to") != "f•••@new.example" {
			t.Fatalf("change: got %d %s, want 202 sent to f•••@new.example", r.Status, r.Body)
		}
		_, body := mailTo(t, mb, n+2, next)
		code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)
		// The new address is not proven yet: it is not told whose account
		// asks for it.
		if strings.Contains(strings.ToLower(body), "frank") {
			t.Errorf("the code mail to the unproven address names the account:\n%s", body)
		}
		if subject, body := mailTo(t, mb, n+2, "frank@example.com"); !strings.Contains(subject, "change of your email address") || !strings.Contains(body, "f•••@new.example") {
			t.Errorf("the old address was told %q:\n%s", subject, body)
		}
		if r := c.Do(t, "GET", "/v1/me", nil); r.String("email") != "frank@example.com" {
			t.Fatalf("before the code, the address is %q", r.String("email"))
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": otherCode(code)}), 401, "invalid-code")
		if r := c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}); r.Status != 200 || r.String("email") != next {
			t.Fatalf("confirm: got %d %s, want 200 with the new address", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}), 404, "not-found")
		if r := c.Do(t, "GET", "/v1/me", nil); r.String("email") != next {
			t.Fatalf("after the code, the address is %q", r.String("email"))
		}
		if subject, _ := mailTo(t, mb, n+4, "frank@example.com"); !strings.Contains(subject, "your email address was changed") {
			t.Errorf("the old address was last told %q, want that its address was changed", subject)
		}
		if subject, _ := mailTo(t, mb, n+4, next); !strings.Contains(subject, "now your account's email address") {
			t.Errorf("the new address was last told %q", subject)
		}

		// Five wrong codes use a change up: the right one then finds none.
		if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "frank@third.example", "password": password}); r.Status != 202 {
			t.Fatalf("second change: got %d %s", r.Status, r.Body)
		}
		_, body = mailTo(t, mb, n+6, "frank@third.example")
		code = regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)
		for range 5 {
			wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": otherCode(code)}), 401, "invalid-code")
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}), 404, "not-found")
		// Three changes, then one every ten minutes.
		if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "frank@fourth.example", "password": password}); r.Status != 202 {
			t.Fatalf("third change: got %d %s", r.Status, r.Body)
		}
		wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "frank@fifth.example", "password": password}), 429, "throttled")
	})
}

// TestEmailChangeWithoutMail: a server that sends no mail cannot confirm
// an address, and says so.
func TestEmailChangeWithoutMail(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "gina")
		c := login(t, s, "gina")
		wantProblem(t, c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": "gina@new.example", "password": password}), 503, "unavailable")
	})
}

// TestEmailChangeAskedBeforeTwoFactor: a change of address asked for while
// the account had no factor is not finished, once it has one, by a session
// that only knew the password: the code needs a fresh second factor then,
// as every other sensitive change does.
func TestEmailChangeAskedBeforeTwoFactor(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "gina")
		stolen := login(t, s, "gina") // the password alone: no factor yet
		const next = "mallory@evil.example"
		if r := stolen.Do(t, "PUT", "/v1/me/email", map[string]string{"email": next, "password": password}); r.Status != 202 {
			t.Fatalf("change before any factor: got %d %s, want 202", r.Status, r.Body)
		}
		_, body := mailTo(t, mb, 1, next)
		code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)

		// The owner turns two-factor on in a session of their own.
		e := enrol(t, s, login(t, s, "gina"), map[string]any{"type": "totp", "label": "phone"})

		wantProblem(t, stolen.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}), 403, "elevation-required")
		if r := stolen.Do(t, "GET", "/v1/me", nil); r.String("email") != "gina@example.com" {
			t.Fatalf("after a refused confirmation the address is %q", r.String("email"))
		}
		// Whoever holds the factor may still finish it.
		s.Clock.Add(30 * time.Second)
		if r := stolen.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, e.secret, s.Clock.Now())}); r.Status != 200 {
			t.Fatalf("elevate: got %d %s", r.Status, r.Body)
		}
		if r := stolen.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": code}); r.Status != 200 || r.String("email") != next {
			t.Fatalf("confirm once elevated: got %d %s, want 200", r.Status, r.Body)
		}
	})
}
