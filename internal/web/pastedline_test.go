package web_test

import (
	"net/url"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/testenv"
)

// TestSignInWithALineOfTheCodesFile: a whole line of the recovery codes'
// .txt file, copied with its number (" 3. abcd-…", as a triple click in an
// editor selects it), signs in at the second step, and that code is spent.
// Before, the number made it a wrong code, counted as a failed attempt. On
// SQLite and PostgreSQL.
func TestSignInWithALineOfTheCodesFile(t *testing.T) {
	for name, dsn := range testenv.DSNs(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ts := testenv.NewServer(t, dsn(t))
			k := accountWithKeys(t, ts, "lou")
			c := newClient(t, ts.URL())
			c.signInWithCode(ts, "lou", k.secret)
			file := c.post("/settings/security/recovery-codes.txt", url.Values{"code": k.codes})
			if file.status != 200 {
				t.Fatalf("download: status %d", file.status)
			}
			var lines []string
			for _, l := range strings.Split(file.body, "\r\n") {
				if strings.Contains(l, k.codes[2]) || strings.Contains(l, k.codes[9]) {
					lines = append(lines, l+"\r\n")
				}
			}
			if len(lines) != 2 {
				t.Fatalf("the file's lines of the third and tenth codes: %q", lines)
			}
			for i, line := range lines {
				p := newClient(t, ts.URL())
				p.signIn("lou")
				if r := p.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {line}}); r.url.Path != "/settings/security" {
					t.Fatalf("recovery code pasted as the file's line %q: at %s (%d): %s", line, r.url, r.status, pageError(r.body))
				}
				again := newClient(t, ts.URL())
				again.signIn("lou")
				code := []string{k.codes[2], k.codes[9]}[i]
				if r := again.post("/login/verify", url.Values{"method": {"recovery_code"}, "code": {code}}); r.url.Path == "/settings/security" {
					t.Fatalf("the code of line %q worked again: the line was not read as that code", line)
				}
			}
		})
	}
}
