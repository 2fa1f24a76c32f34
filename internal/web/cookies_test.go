package web

import (
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/twofold/twofold/internal/credhash"
)

// TestCookieLogin: a login cookie gives its login id back only with the
// MAC this server's hash key made for that cookie and that id; anything
// else is no login. Servers sharing the key file read each other's.
func TestCookieLogin(t *testing.T) {
	hasher := func(b byte) *credhash.Hasher {
		h, err := credhash.NewHasher([]byte(strings.Repeat(string(rune(b)), 32)))
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	s, same, other := &Server{hasher: hasher('k')}, &Server{hasher: hasher('k')}, &Server{hasher: hasher('o')}
	const id = "kuq4xhozvjemfseip4vtag65oi"
	good := s.loginCookieValue(loginCookie, id)
	mac := good[len(id)+1:]
	for _, tc := range []struct {
		name   string
		srv    *Server
		cookie cookieName
		value  string
		want   string
	}{
		{"its own", s, loginCookie, good, id},
		{"another instance with the same key file", same, loginCookie, good, id},
		{"a passkey cookie's own", s, passkeyCookie, s.loginCookieValue(passkeyCookie, id), id},
		{"no cookie", s, loginCookie, "", ""},
		{"the id alone", s, loginCookie, id, ""},
		{"an empty MAC", s, loginCookie, id + ".", ""},
		{"an empty id", s, loginCookie, "." + mac, ""},
		{"the MAC with another id", s, loginCookie, "aaaa4xhozvjemfseip4vtag65oi." + mac, ""},
		{"a MAC cut short", s, loginCookie, good[:len(good)-4], ""},
		{"a MAC too long", s, loginCookie, good + "AAAA", ""},
		{"a MAC not base64", s, loginCookie, id + ".*" + mac[1:], ""},
		{"another server's key", other, loginCookie, good, ""},
		{"the login cookie's value as the passkey cookie", s, passkeyCookie, good, ""},
		{"the passkey cookie's value as the login cookie", s, loginCookie, s.loginCookieValue(passkeyCookie, id), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/login/verify", nil)
			if tc.value != "" {
				r.Header.Set("Cookie", string(tc.cookie)+"="+tc.value)
			}
			if got := tc.srv.cookieLogin(r, tc.cookie); got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}
