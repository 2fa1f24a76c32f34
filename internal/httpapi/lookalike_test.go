package httpapi_test

import (
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestRecoveryCodeLookAlikes: recovery codes and the paper key work as
// people type and paste them, over HTTP on both stores: 0 for o and 8 for b
// (base32 has neither digit), upper case, and separators that documents and
// keyboards make (U+00A0 no-break space, U+2009 thin space, en and em dash,
// minus sign). Each code still works once: the typed form is the same code.
// 1 is not read as l or i.
func TestRecoveryCodeLookAlikes(t *testing.T) {
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "alice")
		c := login(t, s, "alice")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		// Pick a code with an o and another with a b; make a new set (the
		// paper key elevates) until there are both.
		codes := e.codes
		withO, withB := -1, -1
		for tries := 0; ; tries++ {
			withO, withB = -1, -1
			for i, code := range codes {
				if withO < 0 && strings.Contains(code, "o") {
					withO = i
				} else if withB < 0 && strings.Contains(code, "b") {
					withB = i
				}
			}
			if withO >= 0 && withB >= 0 {
				break
			}
			if tries == 20 {
				t.Fatal("no set of recovery codes had an o and a b")
			}
			if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "paper_key", "code": e.paperKey}); r.Status != 200 {
				t.Fatalf("elevate: got %d %s", r.Status, r.Body)
			}
			r := c.Do(t, "POST", "/v1/me/recovery-codes", nil)
			if r.Status != 200 {
				t.Fatalf("new recovery codes: got %d %s", r.Status, r.Body)
			}
			codes = nil
			for _, x := range r.JSON["codes"].([]any) {
				codes = append(codes, x.(string))
			}
		}
		other := 0
		for other == withO || other == withB {
			other++
		}

		signIn := func(method, typed string) {
			t.Helper()
			loginID, _ := startLogin(t, s, "alice")
			if r := verify(t, s, loginID, map[string]string{"method": method, "code": typed}); r.Status != 200 || r.String("token") == "" {
				t.Fatalf("%s typed %q: got %d %s", method, typed, r.Status, r.Body)
			}
		}
		refused := func(method, typed string) {
			t.Helper()
			loginID, _ := startLogin(t, s, "alice")
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": method, "code": typed}), 401, "invalid-code")
			s.Clock.Add(time.Minute) // past the failure's delay
		}
		typed := []string{
			// 0 for o, upper case, no-break spaces between the groups.
			strings.ReplaceAll(strings.ToUpper(strings.ReplaceAll(codes[withO], "o", "0")), "-", "\u00a0"),
			// 8 for b, en dashes.
			strings.ReplaceAll(strings.ReplaceAll(codes[withB], "b", "8"), "-", "\u2013"),
			// Thin spaces around a minus sign, as a word processor sets it.
			strings.ReplaceAll(codes[other], "-", "\u2009\u2212\u2009"),
		}
		for _, code := range typed {
			signIn("recovery_code", code)
		}
		// Each was the code itself: spent, in any form.
		for _, i := range []int{withO, withB, other} {
			refused("recovery_code", codes[i])
		}

		// The paper key, pasted with em dashes and no-break spaces, digits
		// for its o and b; again and again, as a paper key works.
		paper := strings.NewReplacer("o", "0", "b", "8", "-", "\u00a0\u2014\u00a0").Replace(e.paperKey)
		signIn("paper_key", paper)
		signIn("paper_key", strings.ToUpper(paper))

		// 1 is l or i: it is not guessed.
		for i, code := range codes {
			if i == withO || i == withB || i == other {
				continue
			}
			if j := strings.IndexAny(code, "li"); j >= 0 {
				refused("recovery_code", code[:j]+"1"+code[j+1:])
				signIn("recovery_code", code)
				break
			}
		}
	})
}
