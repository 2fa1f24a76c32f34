package web

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzSafeNext: whatever a form or link sends as where to go next, what
// safeNext lets through is a path that leads to this site alone, as a
// browser resolves a Location: no scheme, no host, no user, nothing a
// browser would drop or read as a slash, and never back to the sign-in.
func FuzzSafeNext(f *testing.F) {
	for _, s := range []string{"/settings/security", "//evil.example/", "/\\evil.example", "/%2F%2Fevil.example", "/./evil", "/admin/users?q=a#x", "/login", "/@evil.example"} {
		f.Add(s)
	}
	base, _ := url.Parse("https://twofold.example/settings")
	f.Fuzz(func(t *testing.T, next string) {
		got := safeNext(next)
		if got == "" {
			return
		}
		if got != next {
			t.Fatalf("safeNext(%q) = %q: changed, not taken or refused", next, got)
		}
		u, err := url.Parse(got)
		if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
			t.Fatalf("safeNext took %q, which is not a path alone (%+v, %v)", next, u, err)
		}
		if to := base.ResolveReference(u); to.Host != base.Host || to.Scheme != base.Scheme {
			t.Fatalf("safeNext took %q, which leads to %s", next, to)
		}
		if strings.ContainsAny(got, "\\\t\r\n ") || strings.HasPrefix(got, "/login") {
			t.Fatalf("safeNext took %q", next)
		}
	})
}
