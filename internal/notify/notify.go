// Package notify delivers Twofold's security notifications by email (SPEC §1
// story 10, issue 4 item 6).
//
// Queueing and sending are apart, so that a slow or broken mail server never
// delays or fails a login: the Outbox (core.Notifier) writes one row to the
// database's outbox table and returns; a Worker on every server instance claims
// due rows, hands them to a Sender (SMTP, or a log for development), deletes
// what was sent and reschedules what failed with exponential backoff.
package notify

import (
	"context"
	"log/slog"
	"strings"
	"time"
)

// Message is one notification email.
type Message struct {
	To      string // a bare address, alice@example.com
	Subject string
	Body    string // plain text; lines end in \n
	Date    time.Time
}

// Sender delivers a message, or reports why it could not. A Sender must
// return once ctx is done.
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Log is the Sender for development, used when no SMTP server is configured:
// it logs the recipient's domain and the subject, never the address or the
// body, and sends nothing.
type Log struct {
	Logger *slog.Logger
}

// Send logs m's recipient's domain and subject.
func (l Log) Send(ctx context.Context, m Message) error {
	l.Logger.InfoContext(ctx, "notification not sent: no SMTP server configured (--smtp-addr)", "to_domain", domain(m.To), "subject", m.Subject)
	return nil
}

// domain returns the part of address after its last @, which is all of an
// address that goes into the logs.
func domain(address string) string {
	return address[strings.LastIndexByte(address, '@')+1:]
}
