package server_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestLocalRelayWithUnsignedCertificate: a mail server on 127.0.0.1 that
// offers STARTTLS with a certificate no authority signed (as a
// distribution's default one does) and asks for AUTH gets the mail, in
// the clear on loopback and authenticated: the upgrade would fail its
// verification and refuse every message.
func TestLocalRelayWithUnsignedCertificate(t *testing.T) {
	mb := testenv.NewSMTPServer(t, testenv.SMTPStartTLS(), testenv.SMTPAuth("twofold", "s3cret"))
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", testenv.SQLiteDSN(t), filepath.Join(t.TempDir(), "t.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	mb.Option("Twofold <twofold@example.com>")(&c)
	if !c.SMTPStartTLS {
		t.Fatal("fixture: STARTTLS is off by default")
	}
	s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery staple"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Service.RequestPasswordReset(ctx, "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	m := mb.Wait(t, 1, 20*time.Second)[0]
	if m.TLS || m.User != "twofold" {
		t.Errorf("mail to the local relay: got TLS %v, user %q; want no TLS, user twofold", m.TLS, m.User)
	}
}
