// Package email holds the rules of the email code factor that need neither
// SQL nor SMTP (SPEC §2 "email code"): addresses checked and masked.
package email

import (
	"errors"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Parse checks a bare email address ("alice@example.com") and returns it
// with the domain in lower case.
func Parse(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("an email address is required")
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" || len(s) > 254 {
		return "", errors.New("this is not an email address (want a bare address such as alice@example.com)")
	}
	local, domain, _ := strings.Cut(s, "@")
	if !strings.Contains(domain, ".") || strings.ContainsAny(s, "\r\n") {
		return "", errors.New("this is not an email address (want a bare address such as alice@example.com)")
	}
	return local + "@" + strings.ToLower(domain), nil
}

// Mask returns an address for display with all but the first character of
// its local part hidden: "a•••@example.com".
func Mask(addr string) string {
	local, domain, ok := strings.Cut(addr, "@")
	if !ok || local == "" {
		return "•••"
	}
	r, _ := utf8.DecodeRuneInString(local)
	return string(r) + "•••@" + domain
}
