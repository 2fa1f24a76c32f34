package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

const restoreUsage = "restore [--db sqlite:PATH] [--key-file PATH] [--config FILE] BACKUP\n       twofold restore --db postgres://… (after pg_restore: the fix-ups alone)"

// restore puts a backup made by `twofold backup` in place of the SQLite
// database, the database it replaces moved aside and kept, or, on
// PostgreSQL, where pg_restore (or psql) restores a dump, mends the
// restored database (README "Backup and restore"). Either way ids of audit
// events go on above every id handed out before, webhook cursors fit, and
// every session ends, every two-factor reset waiting is cancelled, on
// the record, mail in the outbox and webhooks failing at the backup are
// due at once (store.AfterRestore). Every server
// on the database must be stopped first; one that is not is seen (by its
// heartbeat, store.Instance, whether or not it holds a connection at that
// moment; also on PostgreSQL by its connections' application_name, on
// SQLite by the file lock), and nothing is changed. On PostgreSQL a database without Twofold's tables (pg_restore
// not run, or run into another database) is refused, not given new ones.
// A backup of a database a newer release migrated is refused too
// (store.SchemaError), nothing changed: rolling back an upgrade restores a
// backup taken before it (README "Upgrading").
func (m *Main) restore(ctx context.Context, args []string) error {
	fs := m.flags("restore", restoreUsage)
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return err
	}
	// A backup that never sealed a secret needs no key file yet; one
	// there is warned about, as every command that opens it does.
	if _, err := os.Stat(c.KeyFile); err == nil {
		keyring.WarnExposed(m.adminLog(), c.KeyFile)
	}
	e := twofold.AuditEvent{Type: "database.restored", At: m.Now(), Source: "cli", UserAgent: "twofold restore"}
	if store.IsPostgres(c.DB) {
		if fs.NArg() != 0 {
			fs.Usage()
			return fmt.Errorf("%w: on PostgreSQL restore the dump with pg_restore (or psql) first, then run restore with --db alone", errUsage)
		}
		st, err := store.OpenRestored(ctx, c.DB, keyFileFits(c.KeyFile, "the restored database"))
		switch {
		case errors.Is(err, keyring.ErrKeyFileMismatch):
			return fmt.Errorf("restore: %w; nothing changed", err)
		case errors.Is(err, store.ErrNotRestored):
			return fmt.Errorf("%w, so nothing changed: run pg_restore (or psql) into it first, or give --db the database it restored into", err)
		case errors.Is(err, store.ErrInUse):
			return fmt.Errorf("%w; nothing changed", err)
		case errors.As(err, new(*store.SchemaError)):
			return fmt.Errorf("restore: the restored database: %w; nothing changed", err)
		case err != nil:
			return err
		}
		defer st.Close()
		e.Detail = "fix-ups after a restore of the PostgreSQL database"
		r, err := st.AfterRestore(ctx, 0, e)
		if err != nil {
			return fmt.Errorf("restore: %w; %s", err, afterRestoreFailed(st.Migrated()))
		}
		m.restored(r)
		return nil
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: restore takes one argument, the backup to restore", errUsage)
	}
	src := fs.Arg(0)
	if src == "" {
		fs.Usage()
		return fmt.Errorf("%w: the backup to restore is empty: name the file `twofold backup` wrote", errUsage)
	}
	e.Detail = "restored from the backup " + src
	r, err := store.RestoreSQLite(ctx, c.DB, src, e, m.Now(), keyFileFits(c.KeyFile, "the backup"))
	if errors.Is(err, keyring.ErrKeyFileMismatch) {
		return fmt.Errorf("restore: %w; nothing changed", err)
	}
	if errors.Is(err, store.ErrInUse) || errors.As(err, new(*store.SchemaError)) {
		return fmt.Errorf("%w; nothing changed", err)
	}
	if err != nil {
		return err
	}
	for _, name := range r.StaleRemoved {
		fmt.Fprintf(m.Stdout, "removed %s, the copy left by an earlier restore that did not finish\n", name)
	}
	fmt.Fprintf(m.Stdout, "restored %s to %s (checked)\n", src, c.DB)
	if len(r.Moved) > 0 {
		fmt.Fprintf(m.Stdout, "kept aside, from before the restore: %s\n", strings.Join(r.Moved, ", "))
	}
	m.restored(r)
	fmt.Fprintf(m.Stdout, "start the servers with the key file %s as it was when the backup was made\n", c.KeyFile)
	return nil
}

// keyFileFits returns the check restore makes of the data keys of what before
// anything is changed: the key file at path must open every one of them
// (keyring.CheckFile), or the servers would refuse to start on the
// restored database (another installation's key file) or fail the secrets
// sealed under the keys it lacks.
func keyFileFits(path, what string) func([]keyring.WrappedKey) error {
	return func(keys []keyring.WrappedKey) error {
		if err := keyring.CheckFile(path, keys); err != nil {
			return fmt.Errorf("the key file %s does not match %s: %w; give --key-file the key file as it was when the backup was made", path, what, err)
		}
		return nil
	}
}

// restored reports what the fix-ups did, and what they cannot.
func (m *Main) restored(r store.RestoreResult) {
	fmt.Fprintf(m.Stdout, "%d %s ended (everyone signs in again); audit event ids go on from %d; webhooks resume from their last delivered events\n",
		r.SessionsEnded, plural(r.SessionsEnded, "session", "sessions"), r.EventID)
	if r.ResetsCancelled > 0 {
		fmt.Fprintf(m.Stdout, "%d two-factor %s waiting cancelled (two_factor.reset_cancelled; it may have been cancelled after the backup): an operator asks again for any still wanted\n",
			r.ResetsCancelled, plural(r.ResetsCancelled, "reset", "resets"))
	}
	if r.CodeMailsDropped > 0 {
		fmt.Fprintf(m.Stdout, "%d %s with a code or a link (sign-in codes, password-reset and email-change links) dropped from the outbox: the restore voided what they carry\n",
			r.CodeMailsDropped, plural(r.CodeMailsDropped, "mail", "mails"))
	}
	if r.MailsWaiting > 0 {
		fmt.Fprintf(m.Stdout, "%d %s waiting in the outbox, all due at once: the first server to start sends them (those sent after the backup go again)\n",
			r.MailsWaiting, plural(r.MailsWaiting, "mail", "mails"))
	}
	if r.WebhooksFailing > 0 {
		fmt.Fprintf(m.Stdout, "%d webhook %s failing at the backup tried again at once, the three days before one is disabled counted from its next failure\n",
			r.WebhooksFailing, plural(r.WebhooksFailing, "endpoint", "endpoints"))
	}
	fmt.Fprintln(m.Stdout, `redo by hand what was done after the backup: API keys revoked, recovery codes used, hardware tokens (HOTP) used, passwords changed, factors removed, accounts closed, webhooks deleted (README "Backup and restore")`)
}

// afterRestoreFailed says what a PostgreSQL restore whose fix-ups
// (store.AfterRestore) failed leaves: the fix-ups are rolled back, the
// migrations that opening the restored database applied stay, and restore
// is to be run again before any server starts on it.
func afterRestoreFailed(migrated int) string {
	const again = "run restore again before starting a server on the database: until then its sessions and links are those of the dump"
	switch migrated {
	case 0:
		return "the fix-ups after the restore were not made (" + again + ")"
	case 1:
		return "the fix-ups after the restore were not made; the one migration that brought the database to this release's schema stays (" + again + ")"
	}
	return fmt.Sprintf("the fix-ups after the restore were not made; the %d migrations that brought the database to this release's schema stay (%s)", migrated, again)
}
