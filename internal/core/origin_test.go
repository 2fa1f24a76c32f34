package core

import (
	"strings"
	"testing"
)

// TestOrigin: a notice names the address and the quoted, shortened client
// of the request that made the change, and an operator's change (the CLI,
// an operator acting on the account) as an operator's, with no address.
func TestOrigin(t *testing.T) {
	for _, tc := range []struct {
		name string
		m    Meta
		want string
	}{
		{"browser", Meta{Source: "203.0.113.5", UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"},
			`This came from 203.0.113.5, with a browser or app that called itself "Firefox on Linux".`},
		{"no user agent", Meta{Source: "2001:db8::1"}, "This came from 2001:db8::1, with an unknown browser or app."},
		{"markup", Meta{Source: "203.0.113.5", UserAgent: "<img src=x>\nX"},
			"This came from 203.0.113.5, with a browser or app that called itself \"‹img src=x›\uFFFDX\"."},
		{"cli", Meta{Source: "cli", UserAgent: "twofold user reset-two-factor"}, "An operator of this server made this change."},
		{"operator", Meta{Source: "198.51.100.7", UserAgent: "curl/8.5.0", actor: "op1"}, "An operator of this server made this change."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := origin(tc.m)
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("%q is more than one line", got)
			}
		})
	}
}
