package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/twofold/twofold"
	"github.com/twofold/twofold/internal/keyring"
	"github.com/twofold/twofold/internal/store"
)

const keysUsage = "keys rotate [--db DSN] [--key-file PATH] [--grace DURATION] [--config FILE]"

func (m *Main) keys(ctx context.Context, args []string) error {
	if helpAsked(args) {
		fmt.Fprintln(m.Stdout, "usage: twofold "+keysUsage+"\n\nRun \"twofold keys rotate -h\" for its options.")
		return nil
	}
	if len(args) == 0 || args[0] != "rotate" {
		fmt.Fprintln(m.Stderr, "usage: twofold "+keysUsage)
		return fmt.Errorf("%w: want \"keys rotate\"", errUsage)
	}
	return m.keysRotate(ctx, args[1:])
}

// keysRotate adds a new master key, re-encrypts every stored secret under it
// and retires the old one (SPEC §4 "Secrets at rest"). Servers on the same
// database and key file keep running and pick up the new key; an interrupted
// run is finished by running it again.
func (m *Main) keysRotate(ctx context.Context, args []string) error {
	fs := m.flags("keys rotate", keysUsage)
	grace := fs.Duration("grace", 10*time.Second, "how long running servers get to store enrolments begun under the old key before it is deleted")
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: keys rotate takes no arguments", errUsage)
	}
	if *grace < 0 {
		return fmt.Errorf("%w: --grace must not be negative", errUsage)
	}
	// Nothing has started yet: say so, rather than "run it again to
	// finish", and make no empty database at a mistyped path.
	if err := needDB(ctx, c.DB, "nothing rotated", "is --db mistyped?"); err != nil {
		return err
	}
	if _, err := os.Stat(c.KeyFile); err != nil {
		return fmt.Errorf("key file %s: %w: nothing rotated", c.KeyFile, err)
	}
	if err := keyring.CheckExisting(c.KeyFile); err != nil { // before the database is migrated
		return fmt.Errorf("rotate keys: nothing rotated: %w", err)
	}
	keyring.WarnExposed(m.adminLog(), c.KeyFile)
	st, err := store.Open(ctx, c.DB)
	if err != nil {
		return err
	}
	defer st.Close()
	res, err := keyring.Rotate(ctx, c.KeyFile, st, keyring.RotateOptions{Now: m.Now, Grace: *grace, Sleep: m.Sleep})
	switch {
	case err != nil && ctx.Err() != nil && !res.Changed:
		return interrupted("nothing rotated")
	case err != nil && ctx.Err() != nil:
		return interrupted("the rotation is not finished, and every secret stays readable: run the command again to finish it")
	case errors.Is(err, keyring.ErrUndecryptable):
		// A damaged value: no key opens it, so running the command again
		// meets it again, whatever was done before it.
		done := "every other secret stays readable, under the keys in the key file"
		if !res.Changed {
			done = "nothing rotated"
		}
		return fmt.Errorf("rotate keys: a stored secret does not open with its key: it is damaged (changed on disk, or by a faulty restore) and no key will open it, so the rotation cannot finish (%s): %w. "+
			"Remove what holds it first (an authenticator: its owner removes it, confirming with another way, or an operator resets the account's two-factor; a webhook: delete it), then run the command again", done, err)
	case err != nil && !res.Changed:
		// Refused before any change: running it again cannot finish
		// anything, and fails the same way until the cause is mended.
		return fmt.Errorf("rotate keys: nothing rotated: %w", err)
	case err != nil:
		return fmt.Errorf("rotate keys (run the command again to finish): %w", err)
	}
	how := "added"
	if !res.AddedMaster {
		how = "finished the interrupted rotation to"
	}
	detail := fmt.Sprintf("%s master key %s; data key %s; %d %s resealed; %d old data %s deleted; %d old master %s retired",
		how, res.Master, res.DataKey, res.Resealed, plural(res.Resealed, "secret", "secrets"),
		res.DataKeysDeleted, plural(res.DataKeysDeleted, "key", "keys"), res.MastersRetired, plural(res.MastersRetired, "key", "keys"))
	// What did not follow the rotation fails the command (exit status 1)
	// once the rest is done, so that a script does not take it for a
	// clean one; the keys are rotated all the same.
	var after []string
	if err := st.AddEvent(ctx, twofold.AuditEvent{Type: "keys.rotated", At: m.Now(), Source: "cli", UserAgent: "twofold keys rotate", Detail: detail}); err != nil {
		after = append(after, fmt.Sprintf("its audit event was not stored (%v)", err))
	}
	fmt.Fprintf(m.Stdout, "keys rotated: %s\n", detail)
	// Old data keys and ciphertexts must not linger in SQLite's free pages or log.
	if done, err := st.Purge(ctx); err != nil {
		after = append(after, fmt.Sprintf("the replaced (encrypted) data is still in the database file, which could not be vacuumed (%v): run the command again at a quieter time, a new rotation that vacuums at its end", err))
	} else if !done {
		fmt.Fprintln(m.Stderr, "twofold: the database log still holds replaced (encrypted) data until its next checkpoint")
	}
	if len(after) > 0 {
		return fmt.Errorf("keys rotated, but %s", strings.Join(after, "; and "))
	}
	return nil
}
