package httpapi_test

import (
	"context"
	"fmt"
	"regexp"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestEmailChangeCodeAsTyped: the code that confirms a new address is read
// as every mailed code is, with the spaces or dashes people type inside
// it; spaces and dashes alone are no attempt (400) and spend none of the
// change's five checks.
func TestEmailChangeCodeAsTyped(t *testing.T) {
	eachStoreWithMail(t, func(t *testing.T, s *testenv.Server, mb *testenv.SMTPServer) {
		addUser(t, s, "hana")
		c := login(t, s, "hana")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		n := len(mb.Wait(t, 1, time.Minute))
		elevateWith(t, c, e.codes[0])
		for i, tc := range []struct{ email, typed string }{
			{"hana@new.example", "%s %s"},
			{"hana@third.example", "%s-%s"},
		} {
			if r := c.Do(t, "PUT", "/v1/me/email", map[string]string{"email": tc.email, "password": password}); r.Status != 202 {
				t.Fatalf("change to %s: got %d %s", tc.email, r.Status, r.Body)
			}
			_, body := mailTo(t, mb, n+2+2*i, tc.email)
			code := regexp.MustCompile(`\b[0-9]{6}\b`).FindString(body)
			// Four wrong codes leave one check; what is no attempt spends none.
			for range 4 {
				wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": otherCode(code)}), 401, "invalid-code")
			}
			for _, blank := range []string{"", "   ", "- -", "---", " \u00a0\u2013 "} {
				wantProblem(t, c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": blank}), 400, "invalid")
			}
			typed := fmt.Sprintf(tc.typed, code[:3], code[3:])
			if r := c.Do(t, "POST", "/v1/me/email/confirm", map[string]string{"code": typed}); r.Status != 200 || r.String("email") != tc.email {
				t.Fatalf("confirm with %q: got %d %s, want 200 with the new address", typed, r.Status, r.Body)
			}
		}
	})
}

// TestBlankCodesSpendNothing: a code of spaces and dashes alone, which the
// check would read as nothing, is refused as no attempt (400) wherever a
// code is typed, and takes no throttle slot.
func TestBlankCodesSpendNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		ctx := context.Background()
		addUser(t, s, "ivan")
		c := login(t, s, "ivan")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		a, err := s.Store.AccountByUsername(ctx, "ivan")
		if err != nil {
			t.Fatal(err)
		}
		for _, blank := range []string{"- -", "---", "\u2013 \u2013"} {
			id, _ := startLogin(t, s, "ivan")
			for _, method := range []string{"totp", "recovery_code", "paper_key"} {
				wantProblem(t, verify(t, s, id, map[string]string{"method": method, "code": blank}), 400, "invalid")
			}
			wantProblem(t, c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": blank}), 400, "invalid")
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.id+"/resync", map[string]string{"code": blank, "next_code": "123456"}), 400, "invalid")
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.id+"/resync", map[string]string{"code": "123456", "next_code": blank}), 400, "invalid")
		}
		wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+e.id+"/resync", map[string]string{}), 400, "invalid")
		wantNoFailures(t, s, a.ID)
		// Before a success clears any: a pending factor's confirmation.
		elevateWith(t, c, e.codes[0])
		p := startEnrol(t, c, map[string]any{"type": "totp", "label": "tablet"})
		for range 3 {
			wantProblem(t, c.Do(t, "POST", "/v1/me/factors/"+p.id+"/confirm", map[string]string{"code": "- -"}), 400, "invalid")
		}
		wantNoFailures(t, s, a.ID)
	})
}

// wantNoFailures fails the test when any second-factor counter of the
// account counts a failure.
func wantNoFailures(t *testing.T, s *testenv.Server, accountID string) {
	t.Helper()
	cs, err := s.Store.Counters(context.Background(), "2fa:"+accountID+":")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Failures != 0 {
			t.Errorf("counter %s: got %d failures, want none", c.Key, c.Failures)
		}
	}
}

// TestCodeWithLineBreak: a code read from a file or a terminal, with its
// line break (or a tab), signs in, and costs no failure on the way.
func TestCodeWithLineBreak(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "jun")
		c := login(t, s, "jun")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		a, err := s.Store.AccountByUsername(context.Background(), "jun")
		if err != nil {
			t.Fatal(err)
		}
		for i, typed := range []string{"%s\n", "\t%s\r\n"} {
			s.Clock.Add(time.Minute) // a step of its own
			id, _ := startLogin(t, s, "jun")
			code := fmt.Sprintf(typed, testenv.TOTP(t, e.secret, s.Clock.Now()))
			if r := verify(t, s, id, map[string]string{"method": "totp", "code": code}); r.Status != 200 {
				t.Fatalf("sign-in %d with %q: got %d %s, want 200", i, code, r.Status, r.Body)
			}
		}
		wantNoFailures(t, s, a.ID)
	})
}
