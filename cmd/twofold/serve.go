package main

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

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
	// The address bound, with the URL to open beside it, the same in the
	// log and on stdout: under --base-url (a proxy's name) the server
	// itself is still reached at the former; on loopback or on every
	// address (--listen :8080) the pages are opened as localhost, where
	// security keys work (server.BrowserURL).
	addr, open := "http://"+m.server.Addr(), m.server.BrowserURL()
	log.Info("twofold is listening", "addr", addr, "url", open, "db", m.server.Store.Dialect())
	if c.BaseURL != "" {
		fmt.Fprintf(m.Stdout, "twofold listening on %s (public URL %s)\n", addr, c.BaseURL)
	} else {
		fmt.Fprintf(m.Stdout, "twofold listening on %s\n", addr)
	}
	if a := m.server.MetricsAddr(); a != "" {
		fmt.Fprintf(m.Stdout, "serving /metrics on http://%s\n", a)
	}
	if a := m.server.DNSAddr(); a != "" {
		fmt.Fprintf(m.Stdout, "answering DNS on %s (UDP and TCP)\n", a)
	}
	if open != m.server.URL() {
		fmt.Fprintf(m.Stdout, "open the pages at %s (security keys work under that name, not under an IP address)\n", open)
		if resolved, ok := localhostReaches(ctx, m.server.Addr()); !ok {
			msg := fmt.Sprintf("localhost does not lead to this server on this machine (it resolves to %s, the server listens on %s): open %s instead, where security keys do not work, or listen on 127.0.0.1 or localhost (or map localhost to ::1 in /etc/hosts)",
				resolved, m.server.Addr(), addr)
			log.Warn(msg)
			fmt.Fprintln(m.Stdout, msg)
		}
	}
	if m.server.SetupURL != "" {
		fmt.Fprintf(m.Stdout, "first run: create the operator account at %s\n", m.server.BrowserURL()+strings.TrimPrefix(m.server.SetupURL, m.server.URL()))
	}
	if u := m.server.SetupPendingUntil; !u.IsZero() {
		fmt.Fprintf(m.Stdout, "first run: setup is pending: the link to create the operator account was printed by the instance that made it (it works until %s); without it, create the operator with `twofold user add NAME --operator`\n", u.UTC().Format(time.RFC3339))
	}
	select {
	case <-ctx.Done():
		log.Info("shutting down")
		return nil
	case err := <-m.server.Done():
		return err
	}
}

// localhostReaches reports whether the name localhost, as this machine
// resolves it, leads to a listener bound to bound (host:port), with what it
// resolves to: a listener on [::1] alone is not reached where /etc/hosts
// maps localhost to 127.0.0.1 only. A name that cannot be resolved is let
// be (reported as reaching).
func localhostReaches(ctx context.Context, bound string) (string, bool) {
	host, _, err := net.SplitHostPort(bound)
	if err != nil {
		return "", true
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return "", true
	}
	ips, err := net.DefaultResolver.LookupNetIP(ctx, "ip", "localhost")
	if err != nil || len(ips) == 0 {
		return "", true
	}
	names := make([]string, len(ips))
	for i, ip := range ips {
		ip = ip.Unmap()
		names[i] = ip.String()
		switch {
		case a.IsUnspecified() && (a.Is6() || ip.Is4()), ip == a.Unmap():
			// [::] takes IPv4 too (dual stack); 0.0.0.0 IPv4 alone.
			return "", true
		}
	}
	return strings.Join(names, ", "), false
}
