// Command twofold is the Twofold two-factor authentication server and its
// administration tool.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"unicode"
	"unicode/utf8"
)

// main runs the command named by the arguments. The first SIGINT or
// SIGTERM cancels it, with the signal as the context's cause (the server
// shuts down gracefully; `device watch` at its prompt exits 130 or 143, see
// exitCode); a second one while
// it stops exits at once. `twofold serve` ignores SIGHUP, with a log line:
// it keeps no file open that a log rotation would want reopened (its log
// goes to standard error), and a HUP meant for that must not stop it.
func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	m := NewMain()
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		signal.Notify(sigs, syscall.SIGHUP)
	}
	go func() {
		stopping := false
		for s := range sigs {
			switch {
			case s == syscall.SIGHUP:
				m.Notice("SIGHUP ignored: twofold serve has no log file to reopen (it logs to standard error) and no configuration to reload; restart it to apply new settings")
			case !stopping:
				stopping = true
				cancel(signalled{s})
			default:
				m.Notice(fmt.Sprintf("second %s while shutting down: exiting at once, requests in flight cut off", signalName(s)))
				os.Exit(1)
			}
		}
	}()
	err := m.Run(ctx, os.Args[1:])
	if cerr := m.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, errorLine(err))
		os.Exit(exitCode(err))
	}
}

// errorLine is the line a failed command ends with on standard error. Its
// message may quote what was typed or read (a username, a file's line), so
// control and format characters other than newline and tab are shown
// escaped (\x1b, \u202e), as are bytes that are not UTF-8: what a command
// echoes cannot move the cursor, retitle the terminal or reorder the text
// around it.
func errorLine(err error) string {
	msg := err.Error()
	var b strings.Builder
	b.WriteString("twofold: ")
	for i := 0; i < len(msg); {
		r, n := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, "\\x%02x", msg[i])
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			q := strconv.QuoteRuneToASCII(r) // '\x1b', '\u202e'
			b.WriteString(q[1 : len(q)-1])
		default:
			b.WriteString(msg[i : i+n])
		}
		i += n
	}
	return b.String()
}

// signalName returns the usual name of s: SIGINT, SIGTERM.
func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	}
	return s.String()
}
