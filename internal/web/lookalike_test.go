package web_test

import (
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/testenv"
)

// TestSignInRecoveryCodeLookAlikes: on the sign-in page, a recovery code
// typed with 0 for o, in upper case, with no-break spaces and en dashes
// between its groups signs in, and the paper key pasted with em dashes and
// 8 for b does too; the code so typed was the code itself, spent. On SQLite
// and PostgreSQL.
func TestSignInRecoveryCodeLookAlikes(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			// An account with a recovery code holding an o (most have one).
			var user, code string
			var k keys
			for i := 0; code == ""; i++ {
				if i == 20 {
					t.Fatal("no account's recovery codes had an o")
				}
				user = fmt.Sprintf("nina%d", i)
				k = accountWithKeys(t, ts, user)
				for _, c := range k.codes {
					if strings.Contains(c, "o") {
						code = c
						break
					}
				}
			}
			typed := strings.NewReplacer("o", "0", "-", "\u00a0\u2013\u00a0").Replace(strings.ToUpper(code))
			typed = strings.ReplaceAll(typed, "O", "0")
			c := newClient(t, ts.URL())
			c.signIn(user)
			if r := c.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {typed}}); r.url.Path != "/settings/security" {
				t.Fatalf("recovery code typed %q: at %s (%d): %s", typed, r.url, r.status, pageError(r.body))
			}
			c2 := newClient(t, ts.URL())
			c2.signIn(user)
			if r := c2.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {code}}); r.url.Path == "/settings/security" {
				t.Fatal("the recovery code worked again as shown: the typed form was not the same code")
			}
			ts.Clock.Add(time.Minute) // past the failure's delay
			paper := strings.NewReplacer("b", "8", "o", "0", "-", "\u2014").Replace(k.paperKey)
			c3 := newClient(t, ts.URL())
			c3.signIn(user)
			if r := c3.post("/login/verify", url.Values{"method": {"paper_key"}, "code": {paper}}); r.url.Path != "/settings/security" {
				t.Fatalf("paper key typed %q: at %s (%d): %s", paper, r.url, r.status, pageError(r.body))
			}
		})
	}
}
