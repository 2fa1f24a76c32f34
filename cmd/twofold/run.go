package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/server"
	"github.com/twofold/twofold/internal/store"
)

// Main is the program: its input and output, environment and clock, so that
// tests can run it whole.
type Main struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// LookupEnv reads the environment (os.LookupEnv): a variable set but
	// empty is a value, not an absent one.
	LookupEnv func(string) (string, bool)
	// Environ lists the environment's variables, NAME=value (os.Environ),
	// so that a TWOFOLD_ variable naming no setting is refused; nil checks
	// none.
	Environ func() []string
	Now     func() time.Time
	// IsTerminal reports whether Stdin is a terminal (for password prompts).
	IsTerminal func() bool
	// ReadPassword reads a password from the terminal without echo; a
	// cancelled context ends the wait.
	ReadPassword func(context.Context) (string, error)

	// Sleep waits (tests replace it so that they never sleep).
	Sleep func(time.Duration) <-chan time.Time

	server *server.Server

	log     atomic.Pointer[slog.Logger] // the server's, once serve has made it (Notice)
	help    func()                      // prints the help of the command run (flags)
	usageOf string                      // the command whose flags were mistaken, "" if none
}

// NewMain returns a Main wired to the process's standard streams.
func NewMain() *Main {
	return &Main{
		Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, LookupEnv: os.LookupEnv, Environ: os.Environ, Now: time.Now,
		IsTerminal: stdinIsTerminal, ReadPassword: readTerminalPassword,
	}
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

// signalled is the cause main gives the command's context when SIGINT or
// SIGTERM stops it. A command that the signal kept from doing what it was
// asked (`device watch` at its prompt) returns it, and exits 128 plus the
// signal's number, as the shell reports a process the signal killed: 130
// for SIGINT (Ctrl-C), 143 for SIGTERM.
type signalled struct {
	sig os.Signal
}

func (e signalled) Error() string { return "stopped by " + signalName(e.sig) }

// exitCode is the exit status of a command that failed with err: 2 for a
// command-line mistake, 128 plus the signal's number for a signalled, else 1.
func exitCode(err error) int {
	var sig signalled
	switch {
	case errors.Is(err, errUsage):
		return 2
	case errors.As(err, &sig):
		if n, ok := sig.sig.(syscall.Signal); ok {
			return 128 + int(n)
		}
	}
	return 1
}

const usage = `usage: twofold COMMAND [options]

commands:
  serve               run the server (default: 127.0.0.1:8080, sqlite:twofold.db, twofold.key)
  user add USERNAME   create an account; the password is read from standard input
  user reset-two-factor USERNAME
                      remove a user's authenticators, recovery codes, paper key and SSH keys
                      after --reset-delay (default 72h; the user can cancel), or --now
  user operator USERNAME [--remove]
                      make a user an operator, or (--remove) no longer one: their admin keys are revoked
  dns add-zone ZONE --owner USERNAME | dns remove-zone ZONE | dns zones
                      create, remove and list the zones of the DNS API
  code SECRET|URI     print the current TOTP code (like oathtool --totp)
  device enrol --state FILE URI
                      be a push-approval device: register a new key with an enrolment URI
  device watch --state FILE [--once]
                      wait for sign-in requests and approve (type the number shown) or deny them;
                      goes on through server restarts and errors, stops when the device is refused (401)
  tokens import FILE  import hardware token seeds (PSKC or OATH CSV) for their holders to claim;
                      the key of an encrypted PSKC file in TWOFOLD_PSKC_KEY or --pskc-key
  tokens list         list the imported hardware tokens (--unclaimed: only those not yet claimed)
  keys rotate         add a new master key, re-encrypt every secret under it, retire the old one
  backup DEST         write a consistent copy of the SQLite database while servers run
  restore BACKUP      put a backup in place of the stopped SQLite database (the old one kept
                      aside); with --db postgres://… alone, mend a database pg_restore restored
  bench               provision bench accounts and measure the API under load (loopback only);
                      its own database and key file by default: sqlite:bench.db, bench.key

Run "twofold COMMAND -h" for a command's options.`

// Run runs the command named by args[0]. A command asked for help (-h,
// --help) prints it to Stdout and succeeds.
func (m *Main) Run(ctx context.Context, args []string) error {
	err := m.run(ctx, args)
	switch {
	case errors.Is(err, flag.ErrHelp) && m.help != nil:
		m.help()
		return nil
	case err != nil && m.usageOf != "":
		return fmt.Errorf("%w (\"twofold %s -h\" lists its options)", err, m.usageOf)
	}
	return err
}

func (m *Main) run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, usage)
		return fmt.Errorf("%w: no command", errUsage)
	}
	switch args[0] {
	case "serve":
		return m.serve(ctx, args[1:])
	case "user":
		return m.user(ctx, args[1:])
	case "dns":
		return m.dns(ctx, args[1:])
	case "code":
		return m.code(ctx, args[1:])
	case "device":
		return m.device(ctx, args[1:])
	case "bench":
		return m.bench(ctx, args[1:])
	case "keys":
		return m.keys(ctx, args[1:])
	case "tokens":
		return m.tokens(ctx, args[1:])
	case "backup":
		return m.backup(ctx, args[1:])
	case "restore":
		return m.restore(ctx, args[1:])
	case "help", "-h", "--help":
		if len(args) > 1 && args[0] == "help" {
			// "twofold help serve" is "twofold serve -h".
			return m.run(ctx, append(slices.Clone(args[1:]), "-h"))
		}
		fmt.Fprintln(m.Stdout, usage)
		return nil
	default:
		fmt.Fprintln(m.Stderr, usage)
		return fmt.Errorf("%w: unknown command %q", errUsage, args[0])
	}
}

// Notice logs msg as a warning in the server's log, or, before serve has
// one, writes it to Stderr; it is safe to call while Run runs (main calls
// it on signals).
func (m *Main) Notice(msg string) {
	if log := m.log.Load(); log != nil {
		log.Warn(msg)
		return
	}
	fmt.Fprintln(m.Stderr, "twofold:", msg)
}

// Close releases what Run left open. After a server's graceful shutdown
// it logs a last line, that the database is closed: what an operator
// waiting to copy or restore it looks for.
func (m *Main) Close() error {
	if m.server == nil {
		return nil
	}
	err := m.server.Close()
	if log := m.log.Load(); log != nil && err == nil {
		log.Info("stopped: requests finished and the database closed")
	}
	return err
}

// flags returns a flag set for a subcommand. It prints nothing itself:
// asked for help (-h, --help), the command prints its synopsis and options
// to m.Stdout and succeeds; on a mistake in its flags, the error alone is
// printed (by main), with a pointer to the help rather than all of it
// (Run).
func (m *Main) flags(name, synopsis string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() { m.usageOf = name }
	m.help = func() {
		fmt.Fprintf(m.Stdout, "usage: twofold %s\n\noptions:\n", synopsis)
		fs.SetOutput(m.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(io.Discard)
	}
	return fs
}

// parseConfig parses the server settings named for a subcommand, those it
// reads: its help lists them alone (and --config), and its command line
// refuses the others. No name is every setting (serve).
func (m *Main) parseConfig(fs *flag.FlagSet, args []string, names ...string) (config.Config, error) {
	return m.parseConfigFrom(fs, args, config.Default(), names...)
}

// keyFileUsage returns the help of --key-file for the administration
// command named: only serve (and user add --create, and bench) make the
// file when it is missing.
func keyFileUsage(command string) string {
	switch command {
	case "user add":
		return "master key file (with --create, made with mode 0600 when missing)"
	case "keys rotate":
		return "master key file the database's secrets are sealed under: the new master key is added to it (it must exist)"
	case "backup":
		return "master key file the database's secrets are sealed under (not read: the copy does not hold it, keep a copy of it apart)"
	case "restore":
		return "master key file the servers are to start with: the one from when the backup was made, checked to open every data key of the backup before anything is changed"
	}
	return "master key file the database's secrets are sealed under (it must exist)"
}

// helpAsked reports whether args asks a command with subcommands (user,
// dns, …) for its help rather than naming a subcommand.
func helpAsked(args []string) bool {
	return len(args) > 0 && (args[0] == "-h" || args[0] == "--help" || args[0] == "-help" || args[0] == "help")
}

// storeSettings are the settings of every administration command: where
// the database and the master key are.
func storeSettings(more ...string) []string { return append([]string{"db", "key-file"}, more...) }

// parseConfigFrom parses the server settings named for a subcommand (no
// name: every one) whose defaults are c.
func (m *Main) parseConfigFrom(fs *flag.FlagSet, args []string, c config.Config, names ...string) (config.Config, error) {
	c, _, err := m.parseConfigSources(fs, args, c, names...)
	return c, err
}

// parseConfigSources is parseConfigFrom that also says where each setting
// given came from (config.Sources).
func (m *Main) parseConfigSources(fs *flag.FlagSet, args []string, c config.Config, names ...string) (config.Config, config.Sources, error) {
	if len(names) == 0 {
		c.Register(fs)
	} else {
		c.RegisterOnly(fs, names...)
		if f := fs.Lookup("key-file"); f != nil {
			f.Usage = keyFileUsage(fs.Name())
		}
	}
	// Every stage runs, whatever the one before found, so that one run
	// names every problem: values that do not parse (flags, environment,
	// file), variables that name no setting, then settings Validate
	// refuses, each naming where it came from.
	from, err := config.ParseSources(fs, args, m.LookupEnv)
	if errors.Is(err, flag.ErrHelp) {
		return c, from, err
	}
	errs := []error{err}
	if m.Environ != nil {
		var names []string
		for _, kv := range m.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			names = append(names, name)
		}
		errs = append(errs, config.CheckEnv(fs, names))
	}
	errs = append(errs, c.ValidateFrom(from))
	if err := joinOnce(errs...); err != nil {
		return c, from, fmt.Errorf("%w: %v", errUsage, err)
	}
	return c, from, nil
}

// joinOnce joins errs (errors.Join), each message once, in their order,
// the errors errors.Join made taken apart.
func joinOnce(errs ...error) error {
	var out []error
	seen := map[string]bool{}
	var add func(err error)
	add = func(err error) {
		if err == nil {
			return
		}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			for _, e := range j.Unwrap() {
				add(e)
			}
			return
		}
		if !seen[err.Error()] {
			seen[err.Error()] = true
			out = append(out, err)
		}
	}
	for _, err := range errs {
		add(err)
	}
	return errors.Join(out...)
}

func (m *Main) logger(c config.Config) *slog.Logger {
	var level slog.Level
	level.UnmarshalText([]byte(strings.ToUpper(c.LogLevel)))
	opts := &slog.HandlerOptions{Level: level}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(m.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(m.Stderr, opts))
}

// openDeps opens the database and key file of c for an administration
// command. A database that is not there (a SQLite file, or a PostgreSQL
// database without Twofold's tables) is an error, not made: a
// mistyped --db would otherwise get a new, empty database (and a new master
// key file) and the command would report success against it. `serve` makes
// the database at its first start; so does `user add --create`.
func (m *Main) openDeps(ctx context.Context, c config.Config) (server.Deps, error) {
	if err := needDB(ctx, c.DB, "nothing done", "is --db mistyped? `twofold serve` creates the database at its first start"); err != nil {
		return server.Deps{}, err
	}
	return server.OpenDeps(ctx, c, m.adminLog(), nil, nil)
}

// adminLog is the log of an administration command: its warnings only (a
// key file others may read, data keys it cannot unwrap), on standard
// error, as `serve` logs them; what `serve` only notes stays unsaid.
func (m *Main) adminLog() *slog.Logger {
	dropTime := func(groups []string, a slog.Attr) slog.Attr {
		if len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // a command's output, not a log kept
		}
		return a
	}
	return slog.New(slog.NewTextHandler(m.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn, ReplaceAttr: dropTime}))
}

// needDB returns an error saying done and hint when dsn names no Twofold
// database (store.Missing): no SQLite file, or a PostgreSQL database
// without Twofold's tables.
func needDB(ctx context.Context, dsn, done, hint string) error {
	missing, err := store.Missing(ctx, dsn)
	if err != nil {
		return fmt.Errorf("%s: %s: %w", store.Redacted(dsn), done, err)
	}
	if !missing {
		return nil
	}
	what := "no database at " + dsn
	if store.IsPostgres(dsn) {
		what = "no Twofold database at " + store.Redacted(dsn) + " (it holds none of Twofold's tables)"
	}
	return fmt.Errorf("%s: %s (%s)", what, done, hint)
}

// plural returns one when n is 1, else many (0 and more than one), so that
// what the commands print counts right: "1 secret resealed", "2 secrets
// resealed", "0 secrets resealed".
func plural[N ~int | ~int64 | ~uint64](n N, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
