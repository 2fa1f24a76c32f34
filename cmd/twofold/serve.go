package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/twofold/twofold/internal/server"
)

// serve runs the server until ctx is cancelled (SIGINT/SIGTERM), then shuts
// down gracefully (main: a second signal ends the wait; SIGHUP is ignored).
func (m *Main) serve(ctx context.Context, args []string) error {
	fs := m.flags("serve", "serve [--listen ADDR] [--db DSN] [--key-file PATH] [--config FILE]")
	c, err := m.parseConfig(fs, args)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: serve takes no arguments", errUsage)
	}
	log := m.logger(c)
	m.log.Store(log)
	m.server = &server.Server{Config: c, Logger: log}
	if err := m.server.Open(ctx); err != nil {
		m.server = nil
		return err
	}
	// The address bound, with the public URL beside it: under --base-url
	// (a proxy's name) the server itself is still reached at the former.
	addr := "http://" + m.server.Addr()
	log.Info("twofold is listening", "addr", addr, "url", m.server.URL(), "db", m.server.Store.Dialect())
	if c.BaseURL != "" {
		fmt.Fprintf(m.Stdout, "twofold listening on %s (public URL %s)\n", addr, c.BaseURL)
	} else {
		fmt.Fprintf(m.Stdout, "twofold listening on %s\n", addr)
	}
	if a := m.server.DNSAddr(); a != "" {
		fmt.Fprintf(m.Stdout, "answering DNS on %s (UDP and TCP)\n", a)
	}
	if b := m.server.BrowserURL(); b != m.server.URL() {
		fmt.Fprintf(m.Stdout, "open the pages at %s (security keys work under that name, not under an IP address)\n", b)
	}
	if m.server.SetupURL != "" {
		fmt.Fprintf(m.Stdout, "first run: create the operator account at %s\n", m.server.BrowserURL()+strings.TrimPrefix(m.server.SetupURL, m.server.URL()))
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-m.server.Done():
		return err
	}
}
