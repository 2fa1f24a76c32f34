package main

import (
	"context"
	"fmt"

	"github.com/twofold/twofold/internal/core"
)

const dnsUsage = `usage: twofold dns add-zone ZONE --owner USERNAME [--db DSN] [--key-file PATH]
       twofold dns remove-zone ZONE [--db DSN] [--key-file PATH]
       twofold dns zones [--db DSN] [--key-file PATH]

Run "twofold dns SUBCOMMAND -h" for its options.`

// dns administers the zones of the DNS API (SPEC §3 "DNS API"): operators
// create and remove them; their owners manage the records.
func (m *Main) dns(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add-zone":
			return m.dnsAddZone(ctx, args[1:])
		case "remove-zone":
			return m.dnsRemoveZone(ctx, args[1:])
		case "zones":
			return m.dnsZones(ctx, args[1:])
		}
	}
	if helpAsked(args) {
		fmt.Fprintln(m.Stdout, dnsUsage)
		return nil
	}
	fmt.Fprintln(m.Stderr, dnsUsage)
	return fmt.Errorf("%w: want \"dns add-zone\", \"dns remove-zone\" or \"dns zones\"", errUsage)
}

func (m *Main) dnsAddZone(ctx context.Context, args []string) error {
	fs := m.flags("dns add-zone", "dns add-zone ZONE --owner USERNAME [--db DSN] [--key-file PATH]")
	owner := fs.String("owner", "", "username of the account that manages the zone's records")
	zone, c, err := m.parseOneArg(fs, args, "ZONE", storeSettings())
	if err != nil {
		return err
	}
	if *owner == "" {
		fs.Usage()
		return fmt.Errorf("%w: --owner is required", errUsage)
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	z, err := d.Service.AddZone(ctx, zone, *owner, core.Meta{Source: "cli", UserAgent: "twofold dns add-zone"})
	if err != nil {
		return fmt.Errorf("add zone %s: %w", zone, err)
	}
	fmt.Fprintf(m.Stdout, "added zone %s for %s\n", z.Name, z.Owner) // the owner as stored
	return nil
}

func (m *Main) dnsRemoveZone(ctx context.Context, args []string) error {
	fs := m.flags("dns remove-zone", "dns remove-zone ZONE [--db DSN] [--key-file PATH]")
	zone, c, err := m.parseOneArg(fs, args, "ZONE", storeSettings())
	if err != nil {
		return err
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	if err := d.Service.RemoveZone(ctx, zone, core.Meta{Source: "cli", UserAgent: "twofold dns remove-zone"}); err != nil {
		return fmt.Errorf("remove zone %s: %w", zone, err)
	}
	fmt.Fprintf(m.Stdout, "removed zone %s and its records\n", zone)
	return nil
}

func (m *Main) dnsZones(ctx context.Context, args []string) error {
	fs := m.flags("dns zones", "dns zones [--db DSN] [--key-file PATH]")
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	zs, err := d.Service.AllZones(ctx)
	if err != nil {
		return err
	}
	for _, z := range zs {
		fmt.Fprintf(m.Stdout, "%s\t%s\tserial %d\n", z.Name, z.Owner, z.Serial)
	}
	return nil
}
