package main

import (
	"context"
	"fmt"
	"os"

	"github.com/twofold/twofold/internal/store"
)

const backupUsage = "backup [--db sqlite:PATH] [--key-file PATH] [--config FILE] DEST"

// backup writes a consistent copy of the SQLite database to DEST while
// servers run (SPEC §4 "Operations"). The key file is not in the copy.
func (m *Main) backup(ctx context.Context, args []string) error {
	fs := m.flags("backup", backupUsage)
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return err
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: backup takes one argument, the file to write", errUsage)
	}
	dest := fs.Arg(0)
	if dest == "" {
		fs.Usage()
		return fmt.Errorf("%w: the file to write is empty: name a file that does not exist yet", errUsage)
	}
	size, stale, err := store.Backup(ctx, c.DB, dest)
	for _, name := range stale {
		fmt.Fprintf(m.Stdout, "removed %s, left by an earlier backup that did not finish\n", name)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(m.Stdout, "backed up %s to %s (%d %s, checked)\n", c.DB, dest, size, plural(size, "byte", "bytes"))
	// The key file is not read: named only where there is one.
	if _, err := os.Stat(c.KeyFile); err == nil {
		fmt.Fprintf(m.Stdout, "the master key file %s is not in the copy: without it the secrets in the copy cannot be read, so keep a copy of it apart\n", c.KeyFile)
	} else {
		fmt.Fprintf(m.Stdout, "the master key file the servers use (--key-file; there is none at %s) is not in the copy: without it the secrets in the copy cannot be read, so keep a copy of it apart\n", c.KeyFile)
	}
	return nil
}
