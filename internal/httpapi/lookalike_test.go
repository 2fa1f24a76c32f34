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

// TestCodesInOtherWidthsAndScripts: a code typed with an East Asian input
// method in full width ("１２３４５６"), or with a phone keypad of a locale
// whose digits are not ASCII (Arabic-Indic, Persian), is the code: it signs
// in, elevates, and is spent, and a right code so typed never counts as a
// wrong one towards the locks and the hard cap. Recovery codes and the
// paper key typed in full width likewise; a look-alike of another
// alphabet is not a Latin letter and stays wrong. Over HTTP, on both stores.
func TestCodesInOtherWidthsAndScripts(t *testing.T) {
	wide := func(s string) string {
		return strings.Map(func(r rune) rune {
			if '!' <= r && r <= '~' {
				return r - '!' + '！'
			}
			return r
		}, s)
	}
	script := func(zero rune) func(string) string {
		return func(s string) string {
			return strings.Map(func(r rune) rune {
				if '0' <= r && r <= '9' {
					return r - '0' + zero
				}
				return r
			}, s)
		}
	}
	eachStore(t, func(t *testing.T, s *testenv.Server) {
		addUser(t, s, "kenji")
		c := login(t, s, "kenji")
		e := enrol(t, s, c, map[string]any{"type": "totp", "label": "phone"})
		for name, typed := range map[string]func(string) string{
			"full width":              func(code string) string { return wide(code[:3]) + "\u3000" + wide(code[3:]) },
			"Arabic-Indic":            script('\u0660'),
			"Persian, with RTL marks": func(code string) string { return "\u200f" + script('\u06f0')(code) + "\u200f" },
		} {
			// The second step of a login (the hot path) and an elevation.
			s.Clock.Add(30 * time.Second)
			loginID, _ := startLogin(t, s, "kenji")
			code := testenv.TOTP(t, e.secret, s.Clock.Now())
			if r := verify(t, s, loginID, map[string]string{"method": "totp", "code": typed(code)}); r.Status != 200 {
				t.Fatalf("%s: login with %q: got %d %s", name, typed(code), r.Status, r.Body)
			}
			// Spent, in any form.
			l2, _ := startLogin(t, s, "kenji")
			wantProblem(t, verify(t, s, l2, map[string]string{"method": "totp", "code": code}), 401, "invalid-code")
			s.Clock.Add(30 * time.Second)
			code = testenv.TOTP(t, e.secret, s.Clock.Now())
			if r := c.Do(t, "POST", "/v1/me/elevate", map[string]string{"method": "totp", "code": typed(code)}); r.Status != 200 {
				t.Fatalf("%s: elevate with %q: got %d %s", name, typed(code), r.Status, r.Body)
			}
			s.Clock.Add(time.Minute) // past the replay's short lock
		}

		// Recovery codes and the paper key, typed in full width.
		loginID, _ := startLogin(t, s, "kenji")
		if r := verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": wide(strings.ToUpper(e.codes[0]))}); r.Status != 200 {
			t.Fatalf("full-width recovery code: got %d %s", r.Status, r.Body)
		}
		loginID, _ = startLogin(t, s, "kenji")
		wantProblem(t, verify(t, s, loginID, map[string]string{"method": "recovery_code", "code": e.codes[0]}), 401, "invalid-code")
		s.Clock.Add(time.Minute)
		loginID, _ = startLogin(t, s, "kenji")
		if r := verify(t, s, loginID, map[string]string{"method": "paper_key", "code": wide(e.paperKey)}); r.Status != 200 {
			t.Fatalf("full-width paper key: got %d %s", r.Status, r.Body)
		}
		// A Cyrillic о in place of a Latin o is another key.
		if i := strings.IndexAny(e.paperKey, "aeo"); i >= 0 {
			lookalike := e.paperKey[:i] + map[byte]string{'a': "\u0430", 'e': "\u0435", 'o': "\u043e"}[e.paperKey[i]] + e.paperKey[i+1:]
			loginID, _ = startLogin(t, s, "kenji")
			wantProblem(t, verify(t, s, loginID, map[string]string{"method": "paper_key", "code": lookalike}), 401, "invalid-code")
		}
	})
}
