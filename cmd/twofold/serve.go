package main

import (
	"context"
	"fmt"

	"github.com/twofold/twofold/internal/server"
)

// serve runs the server until ctx is cancelled (SIGINT/SIGTERM), then shuts
// down gracefully.
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
	m.server = &server.Server{Config: c, Logger: log}
	if err := m.server.Open(ctx); err != nil {
		m.server = nil
		return err
	}
	log.Info("twofold is listening", "url", m.server.URL(), "db", m.server.Store.Dialect())
	fmt.Fprintf(m.Stdout, "twofold listening on %s\n", m.server.URL())
	if a := m.server.DNSAddr(); a != "" {
		fmt.Fprintf(m.Stdout, "answering DNS on %s (UDP and TCP)\n", a)
	}
	if m.server.SetupURL != "" {
		fmt.Fprintf(m.Stdout, "first run: create the operator account at %s\n", m.server.SetupURL)
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-m.server.Done():
		return err
	}
}
