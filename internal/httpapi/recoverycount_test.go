package httpapi_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/testenv"
)

// TestRecoveryCodeCountAfterElevation: elevating with a recovery code
// answers, as a login's second step does, how many codes are left, and
// from 3 left a warning to make a new set (SPEC §1 story 4); elevating with
// anything else answers neither. On SQLite and PostgreSQL.
func TestRecoveryCodeCountAfterElevation(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "iris")
		c := login(t, s, "iris")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		if len(phone.codes) != 10 {
			t.Fatalf("got %d recovery codes, want 10", len(phone.codes))
		}

		// The second step of a login with a code: the answer elevation must match.
		loginID, _ := startLogin(t, s, "iris")
		r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": phone.codes[0]})
		if r.Status != http.StatusOK || r.JSON["recovery_codes_remaining"] != float64(9) || r.JSON["warning"] != nil {
			t.Fatalf("login with a recovery code: got %d %s, want 9 left and no warning", r.Status, r.Body)
		}
		sess := testenv.NewClient(s.URL())
		sess.Token = r.String("token")

		for i, code := range phone.codes[1:] {
			left := 8 - i
			r := sess.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": code})
			if r.Status != http.StatusOK || r.String("elevated_until") == "" {
				t.Fatalf("elevate with a recovery code: got %d %s", r.Status, r.Body)
			}
			if got := r.JSON["recovery_codes_remaining"]; got != float64(left) {
				t.Errorf("elevate with %d left: recovery_codes_remaining %v, want %d (%s)", left, got, left, r.Body)
			}
			warning, _ := r.JSON["warning"].(string)
			switch {
			case left > 3 && warning != "":
				t.Errorf("elevate with %d left: warning %q, want none", left, warning)
			case left == 0 && !strings.HasPrefix(warning, "no recovery codes left: generate a new set"):
				t.Errorf("elevate with none left: warning %q, want one saying none are left", warning)
			case left == 1 && !strings.HasPrefix(warning, "only 1 recovery code left: generate a new set"):
				t.Errorf("elevate with 1 left: warning %q, want one to make a new set, in the singular", warning)
			case left <= 3 && left > 1 && !strings.HasPrefix(warning, fmt.Sprintf("only %d recovery codes left: generate a new set", left)):
				t.Errorf("elevate with %d left: warning %q, want one to make a new set", left, warning)
			}
		}

		s.Clock.Add(30 * time.Second) // the confirming code is spent
		r = sess.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": testenv.TOTP(t, phone.secret, s.Clock.Now())})
		if r.Status != http.StatusOK || r.JSON["recovery_codes_remaining"] != nil || r.JSON["warning"] != nil {
			t.Errorf("elevate with an app's code: got %d %s, want neither a count nor a warning", r.Status, r.Body)
		}
	})
}

// TestRecoveryCodeMails: each use of a recovery code mails the holder how
// many are left, in words that fit the count: from 3 left a warning to
// make a new set, in the singular at 1, and at none "no recovery codes
// left", never "only 0 left". No mail of the account ever holds one of its
// recovery codes, its paper key or a session token. On SQLite and
// PostgreSQL.
func TestRecoveryCodeMails(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "ines")
		c := login(t, s, "ines")
		phone := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		loginID, _ := startLogin(t, s, "ines")
		r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": phone.codes[0]})
		if r.Status != http.StatusOK {
			t.Fatalf("login with a recovery code: got %d %s", r.Status, r.Body)
		}
		sess := testenv.NewClient(s.URL())
		sess.Token = r.String("token")
		for _, code := range phone.codes[1:] {
			s.Clock.Add(core.NoticeEvery) // each mailed, within the account's bound of notices
			if r := sess.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "recovery_code", "code": code}); r.Status != http.StatusOK {
				t.Fatalf("elevate with a recovery code: got %d %s", r.Status, r.Body)
			}
		}
		var bodies []string
		for n := 1; len(bodies) < len(phone.codes); n++ {
			bodies = bodies[:0]
			for _, m := range mb.Wait(t, n, time.Minute) {
				subject, body := mailText(t, m)
				if strings.Contains(subject, "a recovery code was used") {
					bodies = append(bodies, body)
				}
				for _, secret := range append([]string{phone.paperKey, strings.ReplaceAll(phone.paperKey, "-", ""), sess.Token, c.Token}, phone.codes...) {
					if strings.Contains(body, secret) || strings.Contains(body, strings.ReplaceAll(secret, "-", "")) {
						t.Fatalf("the mail %q holds a secret: %s", subject, body)
					}
				}
			}
		}
		for i, body := range bodies {
			left := 9 - i
			var want string
			switch {
			case left == 0:
				want = "You have no recovery codes left: generate a new set"
			case left == 1:
				want = "Only 1 recovery code is left: generate a new set"
			case left <= 3:
				want = fmt.Sprintf("Only %d recovery codes are left: generate a new set", left)
			default:
				want = fmt.Sprintf("You have %d recovery codes left.", left)
			}
			if flat := strings.Join(strings.Fields(body), " "); !strings.Contains(flat, want) || strings.Contains(flat, "Only 0") {
				t.Errorf("the mail with %d left: %q, want it to say %q", left, flat, want)
			}
		}
	})
}
