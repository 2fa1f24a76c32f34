package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"golang.org/x/term"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/server"
)

const userUsage = `usage: twofold user add USERNAME [--email E] [--operator] [--create] [--db DSN] [--key-file PATH]
       twofold user reset-two-factor USERNAME [--now | --cancel] [--reset-delay D] [--db DSN] [--key-file PATH]
       twofold user operator USERNAME [--remove] [--db DSN] [--key-file PATH]

Run "twofold user SUBCOMMAND -h" for its options.`

func (m *Main) user(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "add":
			return m.userAdd(ctx, args[1:])
		case "reset-two-factor":
			return m.userResetTwoFactor(ctx, args[1:])
		case "operator":
			return m.userOperator(ctx, args[1:])
		}
	}
	if helpAsked(args) {
		fmt.Fprintln(m.Stdout, userUsage)
		return nil
	}
	fmt.Fprintln(m.Stderr, userUsage)
	return fmt.Errorf("%w: want \"user add\", \"user reset-two-factor\" or \"user operator\"", errUsage)
}

// parseUserArgs parses the options of a user subcommand around its one
// USERNAME, which may come before the options or right after them.
func (m *Main) parseUserArgs(fs *flag.FlagSet, args []string, settings []string) (string, config.Config, error) {
	return m.parseOneArg(fs, args, "USERNAME", settings)
}

// parseOneArg parses the options of a subcommand around its one argument,
// called name (USERNAME, ZONE) in its usage and errors, which may come
// before the options or right after them.
func (m *Main) parseOneArg(fs *flag.FlagSet, args []string, name string, settings []string) (string, config.Config, error) {
	var arg string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		arg, args = args[0], args[1:]
	}
	c, err := m.parseConfig(fs, args, settings...)
	if err != nil {
		return "", c, err
	}
	if arg == "" && fs.NArg() > 0 {
		// Flag parsing stops at the argument, so options after it would be
		// silently ignored (a --db after it would write to the default database).
		arg = fs.Arg(0)
		if fs.NArg() > 1 {
			return "", c, fmt.Errorf("%w: unexpected argument %q: give options before %s or right after it", errUsage, fs.Arg(1), name)
		}
	} else if fs.NArg() > 0 {
		return "", c, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if arg == "" {
		fs.Usage()
		return "", c, fmt.Errorf("%w: %s is required", errUsage, name)
	}
	return arg, c, nil
}

// userAdd creates an account. It works while a server runs on the same database.
func (m *Main) userAdd(ctx context.Context, args []string) error {
	fs := m.flags("user add", "user add USERNAME [--email E] [--operator] [--create] [--db DSN] [--key-file PATH]")
	email := fs.String("email", "", "email address for notifications")
	operator := fs.Bool("operator", false, "make the account an operator")
	create := fs.Bool("create", false, "create the database (and the master key file) when --db names none yet, as serve does at its first start")
	// The password is screened (issuer, blocklist) and hashed (Argon2id) as
	// the servers do.
	username, c, err := m.parseUserArgs(fs, args, storeSettings("issuer", "password-blocklist", "argon2-memory", "argon2-iterations", "argon2-parallelism"))
	if err != nil {
		return err
	}
	// Refused before the password is asked for.
	if !*create {
		if err := needDB(ctx, c.DB, "nothing done", "is --db mistyped? `twofold serve` creates the database at its first start; or give --create to create it now"); err != nil {
			return err
		}
	}
	password, err := m.readPassword(ctx)
	if err != nil {
		return err
	}
	d, err := server.OpenDeps(ctx, c, m.adminLog(), nil, nil)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	a, err := d.Service.CreateAccount(ctx, core.NewAccount{Username: username, Email: *email, Password: password, Operator: *operator},
		core.Meta{Source: "cli", UserAgent: "twofold user add"})
	if err != nil {
		return fmt.Errorf("create %s: %w", username, err)
	}
	fmt.Fprintf(m.Stdout, "created user %s (id %s)\n", a.Username, a.ID)
	if !*operator {
		// The first-run setup link works only while no account exists:
		// an account made before any operator leaves the instance with
		// none and no link to make one.
		if n, err := d.Store.CountOperators(ctx); err != nil {
			fmt.Fprintf(m.Stderr, "warning: cannot tell whether an operator exists: %v\n", err)
		} else if n == 0 {
			fmt.Fprintf(m.Stderr, "warning: no account is an operator yet, and the first-run setup link no longer works (an account exists): make one with `twofold user operator NAME`\n")
		}
	}
	return nil
}

// userResetTwoFactor resets a user's two-factor (SPEC §1 story 4) for whoever
// holds the database and the master key: after the reset delay, the user
// told and able to cancel it meanwhile, or with --now at once (a reset
// already waiting included); --cancel cancels the one waiting. A serving
// instance carries out a delayed reset when it falls due.
func (m *Main) userResetTwoFactor(ctx context.Context, args []string) error {
	fs := m.flags("user reset-two-factor", "user reset-two-factor USERNAME [--now | --cancel] [--reset-delay D] [--db DSN] [--key-file PATH]")
	now := fs.Bool("now", false, "carry the reset out at once instead of after --reset-delay, also one already waiting")
	cancel := fs.Bool("cancel", false, "cancel the reset waiting for the user")
	// The notice queued to the user names the issuer.
	username, c, err := m.parseUserArgs(fs, args, storeSettings("issuer", "reset-delay"))
	if err != nil {
		return err
	}
	if *now && *cancel {
		return fmt.Errorf("%w: --now and --cancel exclude each other", errUsage)
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	meta := core.Meta{Source: "cli", UserAgent: "twofold user reset-two-factor"}
	// What is printed names the account as stored, which the name typed
	// may differ from in case (ALICE for alice), as user add does.
	if *cancel {
		name, err := d.Service.CancelTwoFactorResetByName(ctx, username, meta)
		if err != nil {
			return fmt.Errorf("cancel the reset of %s: %w", storedOr(name, username), err)
		}
		fmt.Fprintf(m.Stdout, "cancelled the reset of %s's two-factor\n", name)
		return nil
	}
	r, err := d.Service.ResetTwoFactorByName(ctx, username, *now, meta)
	if err != nil {
		return fmt.Errorf("reset two-factor of %s: %w", storedOr(r.Username, username), err)
	}
	username = r.Username
	if !r.EmailReplacedAt.IsZero() {
		fmt.Fprintf(m.Stdout, "note: an operator changed %s's email address at %s; the %d %s emailed about the reset too\n",
			username, r.EmailReplacedAt.UTC().Format(time.RFC3339), r.FormerAddressesTold, plural(r.FormerAddressesTold, "address it replaced is", "addresses it replaced are"))
	}
	if r.ReplacedWithdrawing {
		fmt.Fprintf(m.Stdout, "note: the reset that waited for %s was being withdrawn: one of the account's authenticators, recovery codes, SSH keys or its paper key passed a check after it was asked for, so its holder may not have lost every way in (see the account's events)\n", username)
	}
	if r.Withdrawn {
		return fmt.Errorf("reset two-factor of %s: withdrawn, nothing removed: one of the account's authenticators, recovery codes, SSH keys or its paper key passed a check recorded as after the request (see the account's events; a server's clock ahead of this machine's can do that); ask again once the holder's use of it is explained", username)
	}
	if !r.Due.After(r.RequestedAt) {
		fmt.Fprintf(m.Stdout, "reset two-factor of %s: authenticators, recovery codes, paper key and SSH keys removed, every session ended\n", username)
		return nil
	}
	// The waiting period protects the holder only if they hear of the
	// reset. The notice is queued in the database's outbox, which the
	// serving instances send by their own mail settings, not this
	// command's: what it knows is whether a notice was queued at all.
	queued, why, err := d.Service.ResetNoticeQueued(ctx, r.AccountID)
	if err != nil {
		return fmt.Errorf("reset of %s's two-factor scheduled for %s, but whether the user is told is unknown: %w", username, r.Due.Format(time.RFC3339), err)
	}
	if queued {
		fmt.Fprintf(m.Stdout, "reset of %s's two-factor scheduled for %s; the user can cancel it until then; the notice to them is queued for the servers to send: by email from servers run with --smtp-addr (without it they only log it: then tell the user another way)\n",
			username, r.Due.Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(m.Stdout, "reset of %s's two-factor scheduled for %s; the user can cancel it until then, but was not emailed (%s): tell them another way\n",
		username, r.Due.Format(time.RFC3339), why)
	return nil
}

// userOperator makes an account an operator, or with --remove no longer
// one: from its next request on, the account loses the operator API and
// pages, its API keys with admin permits are revoked, and the webhooks it
// answers for are disabled, each named. It works while a server runs on
// the same database.
func (m *Main) userOperator(ctx context.Context, args []string) error {
	fs := m.flags("user operator", "user operator USERNAME [--remove] [--db DSN] [--key-file PATH]")
	remove := fs.Bool("remove", false, "make the account no longer an operator")
	username, c, err := m.parseUserArgs(fs, args, storeSettings("issuer"))
	if err != nil {
		return err
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	ch, err := d.Service.ChangeOperator(ctx, username, !*remove, core.Meta{Source: "cli", UserAgent: "twofold user operator"})
	if err != nil {
		return fmt.Errorf("operator %s: %w", storedOr(ch.Username, username), err)
	}
	username = ch.Username // as stored, as user reset-two-factor prints it
	switch {
	case !ch.Changed && *remove:
		fmt.Fprintf(m.Stdout, "%s was not an operator\n", username)
	case !ch.Changed:
		fmt.Fprintf(m.Stdout, "%s was an operator already\n", username)
	case *remove:
		revoked := ""
		if len(ch.KeysRevoked) > 0 {
			revoked = ", with the keys they made: " + strings.Join(ch.KeysRevoked, ", ")
		}
		fmt.Fprintf(m.Stdout, "%s is no longer an operator; its API keys with admin permits are revoked%s\n", username, revoked)
		// A webhook hands out the whole audit log: it stops with its
		// operator, and making the account an operator again does not
		// turn it back on.
		for _, w := range ch.WebhooksDisabled {
			fmt.Fprintf(m.Stdout, "disabled %s, which %s answered for: another operator turns it on again (POST /v1/admin/webhooks/{id}/enable), and answers for it\n", w, username)
		}
	default:
		fmt.Fprintf(m.Stdout, "%s is an operator\n", username)
	}
	return nil
}

// storedOr returns stored, an account's username as stored, or typed, the
// name given on the command line, when no account was found to say it.
func storedOr(stored, typed string) string {
	if stored != "" {
		return stored
	}
	return typed
}

// readPassword prompts without echo on a terminal, else reads the first
// line of standard input. An interruption (SIGINT, SIGTERM) while it waits
// ends it at once, with nothing done, rather than only cancelling what would
// follow the password.
func (m *Main) readPassword(ctx context.Context) (string, error) {
	if m.IsTerminal() {
		fmt.Fprint(m.Stderr, "Password: ")
		p1, err := m.ReadPassword(ctx)
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", passwordNotRead(err)
		}
		fmt.Fprint(m.Stderr, "Repeat password: ")
		p2, err := m.ReadPassword(ctx)
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", passwordNotRead(err)
		}
		if p1 != p2 {
			return "", errors.New("passwords do not match")
		}
		return p1, nil
	}
	line, err := readLine(ctx, m.Stdin, "no account created")
	if errors.Is(err, context.Canceled) {
		return "", err
	}
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

// readLine reads the first line of r, as bufio.Reader.ReadString does. An
// interruption (SIGINT, SIGTERM) while it waits ends it at once with an
// interrupted error saying what was left undone: the read itself cannot be
// cancelled, and the process exits soon after.
func readLine(ctx context.Context, r io.Reader, undone string) (string, error) {
	type read struct {
		line string
		err  error
	}
	done := make(chan read, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		done <- read{line, err}
	}()
	select {
	case got := <-done:
		return got.line, got.err
	case <-ctx.Done():
		return "", interrupted(undone)
	}
}

// passwordNotRead turns an interruption at the password prompt into the
// error that says so.
func passwordNotRead(err error) error {
	if errors.Is(err, context.Canceled) {
		return interrupted("no account created")
	}
	return err
}

// interrupted is the error of a command stopped by SIGINT or SIGTERM before
// it finished: it says what was left undone, and is context.Canceled.
type interrupted string

func (e interrupted) Error() string { return "interrupted: " + string(e) }

func (e interrupted) Unwrap() error { return context.Canceled }

func stdinIsTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

// readTerminalPassword reads a password from the terminal without echo. An
// interruption returns at once, the terminal's echo turned back on.
func readTerminalPassword(ctx context.Context) (string, error) {
	fd := int(os.Stdin.Fd())
	state, err := term.GetState(fd)
	if err != nil {
		return "", err
	}
	type read struct {
		b   []byte
		err error
	}
	done := make(chan read, 1)
	go func() {
		b, err := term.ReadPassword(fd)
		done <- read{b, err}
	}()
	select {
	case r := <-done:
		return string(r.b), r.err
	case <-ctx.Done():
		term.Restore(fd, state)
		return "", ctx.Err()
	}
}
