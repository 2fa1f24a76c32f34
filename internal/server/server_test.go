package server

import (
	"log/slog"
	"testing"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/notify"
)

// TestSenderRequiresTLSOffTheMachine: with --smtp-starttls (the default), a
// mail server elsewhere must offer STARTTLS; one on loopback may not, as a
// local relay often does not; --smtp-starttls=false requires nothing.
func TestSenderRequiresTLSOffTheMachine(t *testing.T) {
	for _, tc := range []struct {
		addr     string
		starttls bool
		want     bool
	}{
		{"mail.example.com:587", true, true},
		{"192.0.2.25:25", true, true},
		{"[2001:db8::25]:25", true, true},
		{"localhost:25", true, false},
		{"127.0.0.1:2525", true, false},
		{"[::1]:25", true, false},
		{"mail.example.com:587", false, false},
	} {
		c := config.Default()
		c.SMTPAddr, c.SMTPFrom, c.SMTPStartTLS = tc.addr, "twofold@example.com", tc.starttls
		s, ok := sender(c, slog.New(slog.DiscardHandler)).(*notify.SMTP)
		if !ok {
			t.Fatalf("%s: not an SMTP sender", tc.addr)
		}
		if s.RequireTLS != tc.want {
			t.Errorf("%s with starttls %v: RequireTLS %v, want %v", tc.addr, tc.starttls, s.RequireTLS, tc.want)
		}
	}
}
