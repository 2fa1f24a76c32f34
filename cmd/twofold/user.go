package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/server"
)

func (m *Main) user(ctx context.Context, args []string) error {
	if len(args) == 0 || args[0] != "add" {
		fmt.Fprintln(m.Stderr, "usage: twofold user add USERNAME [--email E] [--operator] [--db DSN] [--key-file PATH]")
		return fmt.Errorf("%w: want \"user add\"", errUsage)
	}
	return m.userAdd(ctx, args[1:])
}

// userAdd creates an account. It works while a server runs on the same database.
func (m *Main) userAdd(ctx context.Context, args []string) error {
	fs := m.flags("user add", "user add USERNAME [--email E] [--operator] [--db DSN] [--key-file PATH]")
	email := fs.String("email", "", "email address for notifications")
	operator := fs.Bool("operator", false, "make the account an operator")
	// Let the username come before or after the options.
	var username string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		username, args = args[0], args[1:]
	}
	c, err := m.parseConfig(fs, args)
	if err != nil {
		return err
	}
	if username == "" && fs.NArg() > 0 {
		// Flag parsing stops at the username, so options after it would be
		// silently ignored (a --db after it would write to the default database).
		username = fs.Arg(0)
		if fs.NArg() > 1 {
			return fmt.Errorf("%w: unexpected argument %q: give options before USERNAME or right after it", errUsage, fs.Arg(1))
		}
	} else if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if username == "" {
		fs.Usage()
		return fmt.Errorf("%w: USERNAME is required", errUsage)
	}
	password, err := m.readPassword()
	if err != nil {
		return err
	}
	d, err := server.OpenDeps(ctx, c, slog.New(slog.DiscardHandler), nil, nil)
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
	return nil
}

// readPassword prompts without echo on a terminal, else reads the first line of standard input.
func (m *Main) readPassword() (string, error) {
	if m.IsTerminal() {
		fmt.Fprint(m.Stderr, "Password: ")
		p1, err := m.ReadPassword()
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		fmt.Fprint(m.Stderr, "Repeat password: ")
		p2, err := m.ReadPassword()
		fmt.Fprintln(m.Stderr)
		if err != nil {
			return "", err
		}
		if p1 != p2 {
			return "", errors.New("passwords do not match")
		}
		return p1, nil
	}
	line, err := bufio.NewReader(m.Stdin).ReadString('\n')
	if err != nil && line == "" {
		return "", errors.New("no password on standard input")
	}
	return strings.TrimRight(line, "\r\n"), nil
}

func stdinIsTerminal() bool { return term.IsTerminal(int(os.Stdin.Fd())) }

func readTerminalPassword() (string, error) {
	b, err := term.ReadPassword(int(os.Stdin.Fd()))
	return string(b), err
}
