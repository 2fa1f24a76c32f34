package server_test

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/testenv"
)

// TestMailedLinksUseTheBrowserName: without --base-url, a server on
// loopback mails its links under the name it tells the operator to open
// (http://localhost:PORT, as the setup link), to which cookies and
// security keys are bound, not under its IP address.
func TestMailedLinksUseTheBrowserName(t *testing.T) {
	mb := testenv.NewSMTPServer(t)
	c := config.Default()
	c.Listen, c.DB, c.KeyFile = "127.0.0.1:0", testenv.SQLiteDSN(t), filepath.Join(t.TempDir(), "t.key")
	c.Argon2Memory, c.Argon2Time = 8*1024, 1
	mb.Option("Twofold <twofold@example.com>")(&c)
	s := &server.Server{Config: c, Now: time.Now, WebhookEvery: -1}
	if err := s.Open(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	_, port, _ := net.SplitHostPort(s.Addr())
	want := "http://localhost:" + port
	if got := s.BrowserURL(); got != want {
		t.Fatalf("BrowserURL: %q, want %q", got, want)
	}
	if s.SetupURL != "" && !strings.HasPrefix(s.BrowserURL()+strings.TrimPrefix(s.SetupURL, s.URL()), want+"/setup/") {
		t.Errorf("setup link %q not under %s", s.SetupURL, want)
	}
	ctx := context.Background()
	if _, err := s.Service.CreateAccount(ctx, core.NewAccount{Username: "alice", Email: "alice@example.com", Password: "correct horse battery staple"}, core.Meta{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Service.RequestPasswordReset(ctx, "alice", core.Meta{}); err != nil {
		t.Fatal(err)
	}
	var body string
	for _, m := range mb.Wait(t, 1, time.Minute) {
		if strings.Contains(strings.ToLower(string(m.Data)), "password") {
			body = strings.ReplaceAll(string(m.Data), "=\r\n", "")
		}
	}
	if !strings.Contains(body, want+"/") || strings.Contains(body, "127.0.0.1") {
		t.Errorf("the password-reset mail does not link under %s:\n%s", want, body)
	}
}
