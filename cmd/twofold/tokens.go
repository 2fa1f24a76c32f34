package main

import (
	"context"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/otp"
)

const (
	tokensImportUsage = "tokens import FILE [--format pskc|csv] [--pskc-key HEX] [--db DSN] [--key-file PATH]"
	tokensListUsage   = "tokens list [--unclaimed] [--db DSN] [--key-file PATH]"
)

func (m *Main) tokens(ctx context.Context, args []string) error {
	if len(args) > 0 {
		switch args[0] {
		case "import":
			return m.tokensImport(ctx, args[1:])
		case "list":
			return m.tokensList(ctx, args[1:])
		}
	}
	out := m.Stderr
	if helpAsked(args) {
		out = m.Stdout
	}
	fmt.Fprintln(out, "usage: twofold "+tokensImportUsage)
	fmt.Fprintln(out, "       twofold "+tokensListUsage)
	fmt.Fprintln(out, "\nRun \"twofold tokens SUBCOMMAND -h\" for its options.")
	if helpAsked(args) {
		return nil
	}
	return fmt.Errorf("%w: want \"tokens import\" or \"tokens list\"", errUsage)
}

// tokensImport imports the seeds of a vendor's file of hardware tokens
// (SPEC §2 HOTP: PSKC, RFC 6030, or OATH CSV), all or none, for their
// holders to claim. The pre-shared key of an encrypted PSKC file is best
// given as TWOFOLD_PSKC_KEY, which other users of the machine cannot read
// in the process list.
func (m *Main) tokensImport(ctx context.Context, args []string) error {
	fs := m.flags("tokens import", tokensImportUsage)
	format := fs.String("format", "", "pskc or csv (default: from the file's content)")
	key := fs.String("pskc-key", "", "pre-shared key of an encrypted PSKC file, in hex (better: TWOFOLD_PSKC_KEY)")
	path, c, err := m.parseFileArg(fs, args)
	if err != nil {
		return err
	}
	var psk []byte
	if *key != "" {
		if psk, err = hex.DecodeString(strings.TrimSpace(*key)); err != nil || len(psk) == 0 {
			return fmt.Errorf("%w: the PSKC key must be hexadecimal (32 digits for AES-128)", errUsage)
		}
	}
	data, err := readSeedFile(path)
	if err != nil {
		return err
	}
	switch *format {
	case "":
		*format = "csv"
		if t := strings.TrimLeft(string(data[:min(len(data), 512)]), "\ufeff \t\r\n"); strings.HasPrefix(t, "<") {
			*format = "pskc"
		}
	case "pskc", "csv":
	default:
		return fmt.Errorf("%w: --format must be pskc or csv", errUsage)
	}
	var seeds []otp.Seed
	if *format == "pskc" {
		seeds, err = otp.ParsePSKC(data, psk)
	} else {
		if psk != nil {
			return fmt.Errorf("%w: a PSKC key was given for a CSV file", errUsage)
		}
		seeds, err = otp.ParseOATHCSV(data)
	}
	clear(psk)
	if list := (otp.SeedErrors)(nil); errors.As(err, &list) {
		return fmt.Errorf("%s: nothing was imported: %w", filepath.Base(path), badLines{list})
	}
	if err != nil {
		return fmt.Errorf("%s: nothing was imported: %w", filepath.Base(path), err)
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	n, err := d.Service.ImportTokens(ctx, seeds, core.Meta{Source: "cli", UserAgent: "twofold tokens import"})
	for i := range seeds {
		clear(seeds[i].Secret)
	}
	if err != nil && strings.Contains(err.Error(), "nothing was imported") {
		// A conflict says so itself.
		return fmt.Errorf("%s: %w", filepath.Base(path), err)
	} else if err != nil {
		return fmt.Errorf("%s: nothing was imported: %w", filepath.Base(path), err)
	}
	fmt.Fprintf(m.Stdout, "imported %d %s from %s: %d hotp, %d totp\n", n.Total(), plural(n.Total(), "token", "tokens"),
		filepath.Base(path), n.HOTP, n.TOTP)
	return nil
}

// badLines shows every bad line of a seed file on a line of its own.
type badLines struct{ list otp.SeedErrors }

func (b badLines) Error() string {
	var s strings.Builder
	fmt.Fprintf(&s, "%d lines are wrong:", len(b.list)) // several: one is reported alone
	for _, e := range b.list {
		s.WriteString("\n  ")
		s.WriteString(e.Error())
	}
	return s.String()
}

func (b badLines) Unwrap() error { return b.list }

// readSeedFile reads a seed file, refusing one too large to be one.
func readSeedFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, otp.MaxSeedFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > otp.MaxSeedFileSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: not a seed file", filepath.Base(path), otp.MaxSeedFileSize)
	}
	return data, nil
}

// tokensList prints the imported hardware tokens, without secrets.
func (m *Main) tokensList(ctx context.Context, args []string) error {
	fs := m.flags("tokens list", tokensListUsage)
	unclaimed := fs.Bool("unclaimed", false, "only the tokens no one has claimed yet")
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: tokens list takes no arguments", errUsage)
	}
	d, err := m.openDeps(ctx, c)
	if err != nil {
		return err
	}
	defer d.Store.Close()
	ts, err := d.Service.HardwareTokens(ctx, *unclaimed)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(m.Stdout, 0, 8, 2, ' ', 0)
	fmt.Fprintln(w, "SERIAL\tTYPE\tALGORITHM\tDIGITS\tPERIOD/COUNTER\tMANUFACTURER\tIMPORTED\tCLAIMED BY FACTOR")
	for _, t := range ts {
		moving := fmt.Sprintf("%ds", int(t.Period/time.Second))
		if t.Type == "hotp" {
			moving = fmt.Sprintf("counter %d", t.Counter)
		}
		claimed := "-"
		if t.Claimed() {
			claimed = t.ClaimedBy
		}
		manufacturer := t.Manufacturer
		if manufacturer == "" {
			manufacturer = "-"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\n", t.Serial, t.Type, t.Algorithm, t.Digits, moving, manufacturer,
			t.ImportedAt.Format(time.RFC3339), claimed)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(m.Stderr, "%d %s\n", len(ts), plural(len(ts), "token", "tokens"))
	return nil
}

// parseFileArg parses a subcommand's options around its one FILE, which may
// come before the options or right after them.
func (m *Main) parseFileArg(fs *flag.FlagSet, args []string) (string, config.Config, error) {
	var path string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		path, args = args[0], args[1:]
	}
	c, err := m.parseConfig(fs, args, storeSettings()...)
	if err != nil {
		return "", c, err
	}
	switch {
	case path == "" && fs.NArg() == 1:
		path = fs.Arg(0)
	case fs.NArg() > 0:
		return "", c, fmt.Errorf("%w: unexpected argument %q: give options before FILE or right after it", errUsage, fs.Arg(fs.NArg()-1))
	}
	if path == "" {
		fs.Usage()
		return "", c, fmt.Errorf("%w: FILE is required", errUsage)
	}
	return path, c, nil
}
