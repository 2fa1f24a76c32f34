package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/twofold/twofold/internal/config"
	"github.com/twofold/twofold/internal/core"
	"github.com/twofold/twofold/internal/factor/push"
	"github.com/twofold/twofold/internal/pushdevice"
)

const deviceUsage = `usage: twofold device enrol --state FILE URI|-
       twofold device watch --state FILE [--once] [--server URL] [--wait 25s]

Run "twofold device SUBCOMMAND -h" for its options.`

// device is a push-approval device (SPEC §2 "push approval") on the command
// line: `device enrol` registers a new key with the enrolment URI the
// security page or POST /v1/me/factors {"type":"push"} shows, keeping the
// private key in a state file of mode 0600; `device watch` waits for
// sign-in requests, shows what and where they are from, and answers each
// with the number typed from the sign-in screen, or denies it.
func (m *Main) device(ctx context.Context, args []string) error {
	if helpAsked(args) {
		fmt.Fprintln(m.Stdout, deviceUsage)
		return nil
	}
	if len(args) == 0 {
		fmt.Fprintln(m.Stderr, deviceUsage)
		return fmt.Errorf("%w: device enrol|watch", errUsage)
	}
	switch args[0] {
	case "enrol", "enroll":
		return m.deviceEnrol(ctx, args[1:])
	case "watch":
		return m.deviceWatch(ctx, args[1:])
	}
	fmt.Fprintln(m.Stderr, deviceUsage)
	return fmt.Errorf("%w: unknown device command %q (enrol, watch)", errUsage, args[0])
}

func (m *Main) deviceEnrol(ctx context.Context, args []string) error {
	fs := m.flags("device enrol", "device enrol --state FILE URI|-")
	state := fs.String("state", "twofold-device.json", "file to keep the device's key in (created with mode 0600; never overwritten)")
	if err := fs.Parse(config.FlagsFirst(fs, args)); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 1 {
		fs.Usage()
		return fmt.Errorf("%w: want one enrolment URI (twofold-push://enrol?…), or - to read it from standard input", errUsage)
	}
	if *state == "" {
		return fmt.Errorf("%w: --state is empty: name the file to keep the device's key in", errUsage)
	}
	uri := fs.Arg(0)
	if uri == "-" {
		// From standard input: an argument is visible to every user of the
		// machine (ps, /proc), who could enrol with it first.
		line, err := readLine(ctx, m.Stdin, "nothing enrolled, and the enrolment code still works")
		if errors.Is(err, context.Canceled) {
			return err
		}
		uri = strings.TrimSpace(line)
	}
	// The key is saved before the server sees it: a device the server
	// accepted whose key was then lost would be a factor no one holds,
	// with the account's recovery codes shown to no one.
	st, en, err := pushdevice.Prepare(uri)
	if errors.Is(err, push.ErrURI) {
		// What was given is not an enrolment URI: nothing was tried.
		return fmt.Errorf("%w: %w; copy the whole URI shown where the push device was added (the security page, or "+
			"enrolment_uri of POST /v1/me/factors)", errUsage, err)
	}
	if err != nil {
		return fmt.Errorf("enrol: %w", err)
	}
	if err := pushdevice.Save(*state, st); errors.Is(err, os.ErrExist) {
		return fmt.Errorf("%w: %s exists already: a device's key is never overwritten; choose another --state", errUsage, *state)
	} else if err != nil {
		return fmt.Errorf("%w; nothing was enrolled, and the enrolment code still works", err)
	}
	// Tried once, never again by itself, unlike `device watch`: the code
	// is good once, so a second try after an answer that never came could
	// be refused although the first was enrolled.
	e, err := pushdevice.Register(ctx, &http.Client{Timeout: 30 * time.Second}, st, en)
	if pushdevice.Refused(err) {
		if rerr := os.Remove(*state); rerr != nil {
			return fmt.Errorf("enrol: %w (and the unused key in %s could not be removed: %v)", err, *state, rerr)
		}
		var pe *pushdevice.Error
		if errors.As(err, &pe) && pe.Status == http.StatusTooManyRequests {
			when := "shortly"
			if d := pe.Wait(m.Now()); d > 0 {
				when = fmt.Sprintf("in %s (at %s)", d, m.Now().Add(d).Local().Format(time.TimeOnly))
			}
			return fmt.Errorf("enrol: %w; nothing was enrolled, and the enrolment code still works until it expires: try again %s", err, when)
		}
		return fmt.Errorf("enrol: %w", err)
	}
	if err != nil {
		return fmt.Errorf("enrol: %w; the server may have enrolled the device all the same, so its key is kept in %s: "+
			"if `twofold device watch --state %s` is refused, remove the file and enrol with a new code", err, *state, *state)
	}
	var out bytes.Buffer
	fmt.Fprintf(&out, "enrolled %q for %s at %s; the key is in %s\n", st.Label, st.Account, st.Server, *state)
	if len(e.RecoveryCodes) > 0 {
		fmt.Fprintln(&out, "\nThis is your first authenticator. Keep these recovery codes somewhere safe; each works once, and they are not shown again:")
		for _, c := range e.RecoveryCodes {
			fmt.Fprintln(&out, "  "+c)
		}
		fmt.Fprintf(&out, "\nPaper key (a second way in when this device is gone; not shown again):\n  %s\n", e.PaperKey)
	}
	// The codes are shown once: output that did not reach its file (a
	// full disk) is no success, though the device is enrolled.
	if _, err := m.Stdout.Write(out.Bytes()); err != nil {
		if len(e.RecoveryCodes) > 0 {
			return fmt.Errorf("the device is enrolled (its key is in %s), but its recovery codes and paper key could not be written out (%w), and they are not shown again: "+
				"sign in and make new recovery codes (Settings, Security), which voids these", *state, err)
		}
		return fmt.Errorf("the device is enrolled (its key is in %s), but saying so failed: %w", *state, err)
	}
	return nil
}

// Retrying after a failed request of `device watch`: exponential backoff
// from watchRetryBase to watchRetryMax, and a Retry-After taken up to
// watchRetryAfterMax (a longer one is taken as that much).
const (
	watchRetryBase     = time.Second
	watchRetryMax      = time.Minute
	watchRetryAfterMax = 10 * time.Minute
)

// retryDelay returns how long `device watch` waits after the failures-th
// failed request in a row (1 for the first): watchRetryBase doubled at each
// failure up to watchRetryMax, of which half is fixed and half random
// ("equal jitter"), so that the devices a restart cut off together do not
// all come back at once; and never less than the server's Retry-After
// (retryAfter, 0 for none), plus up to a quarter of it at random.
// jitter(n) returns a duration from 0 to n.
func retryDelay(failures int, retryAfter time.Duration, jitter func(time.Duration) time.Duration) time.Duration {
	d := watchRetryMax
	if failures <= 1 {
		d = watchRetryBase
	} else if failures < 20 {
		d = min(watchRetryBase<<(failures-1), watchRetryMax)
	}
	d = d/2 + jitter(d/2)
	if retryAfter > 0 {
		retryAfter = min(retryAfter, watchRetryAfterMax)
		d = max(d, retryAfter+jitter(retryAfter/4))
	}
	return d
}

// jitter returns a random duration from 0 to n.
func jitter(n time.Duration) time.Duration {
	if n <= 0 {
		return 0
	}
	return rand.N(n + 1)
}

// errInputEnded is standard input ending at `device watch`'s prompt, with
// no answer typed.
var errInputEnded = errors.New("standard input ended at the prompt with no answer")

// deviceRefused reports whether err is the server's 401 unauthorized to a
// device's signed request: the device was removed, or its key or clock is
// not accepted. Trying again does not help. Another 401, such as a proxy's
// page for a sign-in of its own, is a failure tried again. A 401
// replayed-request is not one either:
// the key was good, and the request went twice on the way (a proxy or
// transport sent it again after a connection broke), so watch signs the
// next try afresh after its backoff.
func deviceRefused(err error) bool {
	var pe *pushdevice.Error
	return errors.As(err, &pe) && pe.Status == http.StatusUnauthorized && pe.Problem() == "unauthorized"
}

const deviceRefusedHelp = "the server no longer accepts this device: it was removed from the account, " +
	"the state file is not the one it was enrolled with, or this machine's clock is more than a minute off; " +
	"enrol it again with a new code"

// errPollEnded is a long poll the server ended at once with no request:
// only a newer poll of the device (an instance holds one a device) or a
// server shutting down does that.
var errPollEnded = errors.New("the server ended the poll at once with no request: another `twofold device watch` " +
	"with this device's key (a copy of its state file) polls the same server, or the server is stopping")

// clockError is a device's signed request refused because the device's
// clock is off from the server's by more than the server takes.
type clockError struct {
	off time.Duration // the device's clock minus the server's
}

func (e clockError) Error() string {
	way, off := "ahead of", e.off
	if off < 0 {
		way, off = "behind", -off
	}
	return fmt.Sprintf("the server refuses this device's requests because this machine's clock is %s %s the server's "+
		"(it takes at most %s): set the clock right, for example by turning on network time", off.Round(time.Second), way, core.PushClockSkew)
}

// clockOff tells why the server refused a signed request (401
// unauthorized, err): a clockError when the device's clock (now) is more
// than half of core.PushClockSkew off from the server's, else err. Unlike a
// removed device, a clock off (a machine without a battery-backed clock
// before it reaches network time) is put right without enrolling again.
func clockOff(ctx context.Context, c *pushdevice.Client, now func() time.Time, err error) error {
	server, terr := c.ServerTime(ctx)
	if terr != nil {
		return err
	}
	if off := now().Sub(server); off > core.PushClockSkew/2 || off < -core.PushClockSkew/2 {
		return clockError{off: off}
	}
	return err
}

// failureKind names the kind of a failed request's error, to tell one
// failure from the one before: the server's answer by its status and
// problem type, else the network.
func failureKind(err error) string {
	var pe *pushdevice.Error
	switch {
	case errors.As(err, &pe):
		return fmt.Sprintf("%d %s", pe.Status, pe.Type)
	case errors.As(err, new(clockError)):
		return "clock"
	}
	return "network"
}

// deviceWatch polls for sign-in requests until a signal, --once's answer,
// the end of standard input, or the server's refusal of the device (401,
// deviceRefused). A signal while no request is shown ends it with nil; at
// the prompt, a signal or the end of input ends it with an error, the
// request left unanswered. A failed request (a restart or deploy of the server, the
// network, a 429 or 5xx, a 401 replayed-request) is said on standard error and tried again after retryDelay: a
// device that stopped for good would leave later sign-ins unanswered with
// nothing telling its owner.
func (m *Main) deviceWatch(ctx context.Context, args []string) error {
	fs := m.flags("device watch", "device watch --state FILE [--once] [--server URL] [--wait 25s]")
	state := fs.String("state", "twofold-device.json", "the device's state file, from device enrol")
	once := fs.Bool("once", false, "stop after answering one request")
	server := fs.String("server", "", "server URL to use instead of the one enrolled with (another instance on the same database)")
	wait := fs.Duration("wait", 25*time.Second, "how long each poll waits for a request (at most "+core.MaxPushWait.String()+")")
	if err := fs.Parse(config.FlagsFirst(fs, args)); err != nil {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	if fs.NArg() != 0 {
		return fmt.Errorf("%w: device watch takes no arguments", errUsage)
	}
	if *state == "" {
		return fmt.Errorf("%w: --state is empty: name the device's state file, from device enrol", errUsage)
	}
	if *wait <= 0 || *wait > core.MaxPushWait {
		return fmt.Errorf("%w: --wait must be more than 0s and at most %s", errUsage, core.MaxPushWait)
	}
	// Refused at once: a poll to such a URL could only fail, and be tried
	// again for ever. Not quoted: it may hold a user and password.
	if u, err := url.Parse(*server); *server != "" && (err != nil || u.Scheme != "http" && u.Scheme != "https" || u.Host == "" || u.RawQuery != "" || u.Fragment != "") {
		return fmt.Errorf("%w: --server must be an http:// or https:// URL with a host, such as https://login.example.com", errUsage)
	}
	st, err := pushdevice.Load(*state)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: enrol the device first: twofold device enrol --state %s URI", err, *state)
	}
	if err != nil {
		return err
	}
	unlock, err := pushdevice.Lock(*state)
	if errors.Is(err, pushdevice.ErrLocked) {
		return fmt.Errorf("%s is in use by another `twofold device watch`: one watch at a time may use a device's key "+
			"(each would end the other's poll, and both would show the same request); stop the other first", *state)
	}
	if err != nil {
		return err
	}
	defer unlock()
	c := &pushdevice.Client{State: st, HTTP: &http.Client{Timeout: *wait + 30*time.Second}, Now: m.Now, Server: *server}
	where := c.State.Server
	if *server != "" {
		// Said on every start and after outages, to logs too: without
		// a password it may hold.
		u, _ := url.Parse(*server)
		where = u.Redacted()
	}
	in := bufio.NewReader(m.Stdin)
	fmt.Fprintf(m.Stdout, "waiting for sign-in requests to %q (%s at %s)\n", st.Label, st.Account, where)
	failures := 0
	said := "" // the kind of failure last said, in this run of failures
	// pause says on standard error what failed and when the next try is,
	// and waits until then; it reports false when ctx ended meanwhile. A
	// failure like the one before it (the server still unreachable, the
	// clock still off) is not said again: a device left watching through
	// a long outage does not fill its log, one line a minute.
	pause := func(what string, err error) bool {
		failures++
		now := m.Now()
		var ra time.Duration
		var pe *pushdevice.Error
		if errors.As(err, &pe) {
			ra = pe.Wait(now)
		}
		d := retryDelay(failures, ra, jitter)
		shownD := d.Round(100 * time.Millisecond)
		if d >= 10*time.Second {
			shownD = d.Round(time.Second)
		}
		if kind := what + " " + failureKind(err); kind != said {
			said = kind
			fmt.Fprintf(m.Stderr, "%s: %s; trying again in %s (at %s), and on until it works, without saying so again\n",
				what, shown(err.Error()), shownD, now.Add(d).Local().Format(time.TimeOnly))
		}
		select {
		case <-m.after(d):
			return true
		case <-ctx.Done():
			return false
		}
	}
	ended := 0 // polls in a row the server ended at once with no request
	for {
		polled := time.Now() // real time, as the server's wait
		cs, err := c.Challenges(ctx, *wait)
		if err != nil || len(cs) > 0 || time.Since(polled) >= *wait/2 {
			ended = 0
		} else {
			// Once is a server shutting down (it has stopped listening:
			// the next poll says so) or another poll that went away.
			// Twice in a row is not a failure of the request, but polling
			// again at once would be a busy loop, each poll ending the
			// other's.
			if ended++; ended >= 2 {
				err = errPollEnded
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if deviceRefused(err) {
				if err = clockOff(ctx, c, m.Now, err); !errors.As(err, new(clockError)) {
					return fmt.Errorf("poll: %w: %s", err, deviceRefusedHelp)
				}
			}
			if !pause("poll failed", err) {
				return nil
			}
			continue
		}
		if failures > 0 {
			fmt.Fprintf(m.Stderr, "polling %s again\n", where)
			failures, said = 0, ""
		}
	requests:
		for _, ch := range cs {
			// The user agent is the requester's, a thief's too: quoted and
			// cut short, as the mail of a new sign-in shows it.
			fmt.Fprintf(m.Stdout, "\n%s: a request to %s as %s\n  from %s, with %s\n  at %s, until %s\n", shown(ch.Issuer), shown(ch.What), shown(ch.Account),
				shown(ch.Source), shown(core.ClientCalled(ch.UserAgent)), ch.CreatedAt.Local().Format(time.DateTime), ch.ExpiresAt.Local().Format(time.TimeOnly))
			fmt.Fprint(m.Stdout, "Type the number shown on the sign-in screen to approve, or d to deny: ")
			deny, number, ok := m.pushAnswer(ctx, in)
			if !ok {
				// Neither approved nor denied: a denial would end push
				// for that sign-in, for its owner too, who may be the
				// one stopping watch. It can be answered elsewhere, or
				// it expires. Not a success: a script or service
				// manager reading the exit status learns that a
				// request went unanswered (130 for Ctrl-C, 1 for the
				// end of input; see exitCode).
				fmt.Fprintln(m.Stdout) // ends the prompt's line
				left := fmt.Sprintf("the request was left unanswered (it expires at %s)", ch.ExpiresAt.Local().Format(time.TimeOnly))
				if ctx.Err() != nil {
					return fmt.Errorf("%w at the prompt; %s", context.Cause(ctx), left)
				}
				return fmt.Errorf("%w; %s", errInputEnded, left)
			}
			var status string
			if deny {
				status, err = c.Deny(ctx, ch.ID)
			} else {
				status, err = c.Approve(ctx, ch.ID, number)
			}
			var pe *pushdevice.Error
			if errors.As(err, &pe) && (pe.Status == http.StatusConflict || pe.Status == http.StatusNotFound) {
				fmt.Fprintln(m.Stdout, "too late: the request was answered, replaced or has expired")
				continue
			}
			if err != nil {
				// Stopped with an answer typed that may not have arrived,
				// or that did not: no success either (see the prompt's).
				expires := ch.ExpiresAt.Local().Format(time.TimeOnly)
				if ctx.Err() != nil {
					return fmt.Errorf("%w while the answer was being sent; it may not have arrived, and the request may still wait (it expires at %s)", context.Cause(ctx), expires)
				}
				if deviceRefused(err) {
					if err = clockOff(ctx, c, m.Now, err); !errors.As(err, new(clockError)) {
						return fmt.Errorf("answer: %w: %s", err, deviceRefusedHelp)
					}
				}
				// Not sent again by itself: the request is polled
				// again, and shown again while it still waits.
				fmt.Fprintln(m.Stdout, "the answer could not be sent")
				if !pause("answer not sent (the request is shown again if it still waits)", err) {
					return fmt.Errorf("%w after the answer could not be sent; the request was left unanswered (it expires at %s)", context.Cause(ctx), expires)
				}
				break requests
			}
			switch status {
			case "approved":
				fmt.Fprintln(m.Stdout, "approved")
			default:
				fmt.Fprintln(m.Stdout, "denied")
			}
			if *once {
				return nil
			}
		}
	}
}

// pushAnswer reads the answer to the request shown: deny (d, deny, n or
// no), or the two-digit number to approve with. Anything else (an empty
// line, "y", a number of another length) is asked again rather than sent:
// the server records a wrong number as a denial, which ends push for that
// sign-in, and a key pressed by mistake must not do that. ok is false when
// no answer came: the end of standard input, or ctx ended (SIGINT,
// SIGTERM) while it waited, which returns at once.
func (m *Main) pushAnswer(ctx context.Context, in *bufio.Reader) (deny bool, number string, ok bool) {
	type read struct {
		line string
		err  error
	}
	for {
		done := make(chan read, 1)
		go func() {
			line, err := in.ReadString('\n')
			done <- read{line, err}
		}()
		var got read
		select {
		case got = <-done:
		case <-ctx.Done():
			return false, "", false
		}
		answer := strings.TrimSpace(got.line)
		switch {
		case slices.ContainsFunc([]string{"d", "deny", "n", "no"}, func(w string) bool { return strings.EqualFold(answer, w) }):
			return true, "", true
		case len(answer) == 2 && answer[0] >= '1' && answer[0] <= '9' && answer[1] >= '0' && answer[1] <= '9':
			return false, answer, true
		case got.err != nil:
			return false, "", false
		}
		fmt.Fprint(m.Stdout, "That is not the number: type the two digits shown on the sign-in screen to approve, or d to deny: ")
	}
}

// shown makes text from the server fit to print on a terminal: the user
// agent of a sign-in is whatever its client sent, so control characters
// (terminal escapes) and invisible or text-direction characters, which
// could make a request look like another, are shown as "?".
func shown(s string) string {
	return strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Bidi_Control) || r == unicode.ReplacementChar {
			return '?'
		}
		return r
	}, s)
}
