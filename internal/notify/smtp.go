package notify

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"strings"
	"time"

	"golang.org/x/net/idna"
)

// DefaultSMTPTimeout bounds one whole SMTP conversation when SMTP.Timeout is 0.
const DefaultSMTPTimeout = time.Minute

// SMTP sends messages to an SMTP server (RFC 5321) with net/smtp, one
// connection per message.
//
// With StartTLS the connection is upgraded when the server offers STARTTLS
// (RFC 3207); with RequireTLS too, a server that does not offer it (or a
// man in the middle that strips the offer) gets no message in the clear;
// with TLS it is TLS from the first byte (port 465). Username
// turns on AUTH PLAIN, which net/smtp performs only over TLS or to localhost,
// so a password never crosses the network in the clear.
type SMTP struct {
	Addr       string // host:port
	From       string // "Twofold <twofold@example.com>" or a bare address
	Username   string
	Password   string
	StartTLS   bool
	RequireTLS bool // with StartTLS: refuse to go on without it
	TLS        bool
	Helo       string        // the name in EHLO; "" is "localhost"
	TLSConfig  *tls.Config   // nil: the system's roots; ServerName defaults to Addr's host
	Timeout    time.Duration // one conversation; 0 is DefaultSMTPTimeout
	Rand       io.Reader     // for Message-IDs; nil is crypto/rand
}

// Send delivers m in one SMTP conversation. It gives up when ctx is done or
// the timeout passes.
func (s *SMTP) Send(ctx context.Context, m Message) error {
	from, err := mail.ParseAddress(s.From)
	if err != nil {
		return fmt.Errorf("smtp: from address %q: %w", s.From, err)
	}
	to, err := mail.ParseAddress(m.To)
	if err != nil {
		return fmt.Errorf("smtp: recipient address: %w", err)
	}
	// Domains go out as IDNA A-labels (punycode), which any server takes;
	// a local part beyond ASCII needs SMTPUTF8 (RFC 6531).
	fromAddr, fromUTF8, err := envelopeAddress(from.Address)
	if err != nil {
		return fmt.Errorf("smtp: from address: %w", err)
	}
	toAddr, toUTF8, err := envelopeAddress(to.Address)
	if err != nil {
		return fmt.Errorf("smtp: recipient address: %w", err)
	}
	from = &mail.Address{Name: from.Name, Address: fromAddr}
	to = &mail.Address{Address: toAddr}
	msg, err := s.compose(from, to, m)
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("smtp: address %q: %w", s.Addr, err)
	}
	timeout := s.Timeout
	if timeout <= 0 {
		timeout = DefaultSMTPTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := s.converse(ctx, host, from.Address, to.Address, msg, fromUTF8 || toUTF8); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp: %w: %w", ctx.Err(), err)
		}
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

// ErrNoSMTPUTF8 is why a message to or from an address whose local part is
// not ASCII is not sent through a server that does not offer SMTPUTF8:
// such a server has not agreed to take those bytes in the envelope or the
// headers, and could mangle or misroute the message (RFC 6531 §3.4). It
// names no address.
var ErrNoSMTPUTF8 = errors.New("the address has characters beyond ASCII before its @, and the mail server does not offer SMTPUTF8 (RFC 6531): not sent")

// converse sends msg from from to to; with utf8 (an address whose local
// part is not ASCII) only to a server that offers SMTPUTF8, whose MAIL
// command then carries the SMTPUTF8 parameter (net/smtp adds it whenever
// the server offers the extension).
func (s *SMTP) converse(ctx context.Context, host, from, to string, msg []byte, utf8 bool) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return err
	}
	// net/smtp knows no contexts: the deadline bounds every read and write,
	// and cancelling ctx ends the conversation at once.
	if dl, ok := ctx.Deadline(); ok {
		conn.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.TLS {
		conn = tls.Client(conn, s.tlsConfig(host))
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	helo := s.Helo
	if helo == "" {
		helo = "localhost"
	}
	if err := c.Hello(helo); err != nil {
		return err
	}
	if s.StartTLS && !s.TLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(s.tlsConfig(host)); err != nil {
				return fmt.Errorf("starttls: %w", err)
			}
		} else if s.RequireTLS {
			return errors.New("the mail server does not offer STARTTLS, and the message would go in the clear (--smtp-starttls=false allows that)")
		}
	}
	if s.Username != "" {
		if ok, _ := c.Extension("AUTH"); !ok {
			return errors.New("the server offers no AUTH, and a username is configured")
		}
		if err := c.Auth(smtp.PlainAuth("", s.Username, s.Password, host)); err != nil {
			return fmt.Errorf("auth: %w", err)
		}
	}
	if ok, _ := c.Extension("SMTPUTF8"); utf8 && !ok {
		return ErrNoSMTPUTF8
	}
	if err := c.Mail(from); err != nil {
		return err
	}
	if err := c.Rcpt(to); err != nil {
		return err
	}
	w, err := c.Data()
	if err != nil {
		return err
	}
	// The DATA writer dot-stuffs lines that start with "." (RFC 5321 §4.5.2).
	if _, err := w.Write(msg); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return err
	}
	// The relay has answered 250 to the message: it is accepted, whatever
	// QUIT then meets (a relay or balancer that hangs up instead of 221, the
	// deadline, a shutdown). Counting that as a failure would send it again.
	c.Quit()
	return nil
}

func (s *SMTP) tlsConfig(host string) *tls.Config {
	var c *tls.Config
	if s.TLSConfig != nil {
		c = s.TLSConfig.Clone()
	} else {
		c = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	if c.ServerName == "" {
		c.ServerName = host
	}
	return c
}

// envelopeAddress returns address with its domain as IDNA A-labels
// (punycode, RFC 5891) when it is not ASCII, so that it needs no SMTPUTF8,
// and reports whether its local part is beyond ASCII, which no encoding
// can carry to a server without SMTPUTF8 (RFC 6531): a mailbox's local part
// is the receiving domain's to interpret, byte for byte.
func envelopeAddress(address string) (string, bool, error) {
	at := strings.LastIndexByte(address, '@')
	if at < 0 {
		return "", false, errors.New("no @ in the address")
	}
	local, dom := address[:at], address[at+1:]
	if !isASCII(dom) {
		a, err := idna.Lookup.ToASCII(dom)
		if err != nil {
			return "", false, errors.New("its domain is not a valid internationalised domain name (IDNA)")
		}
		dom = a
	}
	return local + "@" + dom, !isASCII(local), nil
}

// isASCII reports whether s is all ASCII.
func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// compose returns m as an RFC 5322 message with CRLF line endings: a
// Q-encoded subject and display name (RFC 2047), a quoted-printable UTF-8
// body (so that no line is too long and any text survives 7-bit servers)
// and Auto-Submitted (RFC 3834), so that vacation responders stay quiet.
// The addresses are as envelopeAddress makes them: ASCII, but for a local
// part beyond ASCII, which goes only to a server that took SMTPUTF8 and is
// then UTF-8 in the header as RFC 6532 has it.
func (s *SMTP) compose(from, to *mail.Address, m Message) ([]byte, error) {
	id := make([]byte, 16)
	r := s.Rand
	if r == nil {
		r = rand.Reader
	}
	if _, err := io.ReadFull(r, id); err != nil {
		return nil, fmt.Errorf("smtp: message id: %w", err)
	}
	date := m.Date
	if date.IsZero() {
		date = time.Now()
	}
	var b bytes.Buffer
	for _, h := range [][2]string{
		{"From", from.String()},
		{"To", (&mail.Address{Address: to.Address}).String()},
		{"Subject", mime.QEncoding.Encode("utf-8", m.Subject)},
		{"Date", date.Format(time.RFC1123Z)},
		{"Message-ID", "<" + hex.EncodeToString(id) + "@" + domain(from.Address) + ">"},
		{"MIME-Version", "1.0"},
		{"Content-Type", "text/plain; charset=utf-8"},
		{"Content-Transfer-Encoding", "quoted-printable"},
		{"Auto-Submitted", "auto-generated"},
	} {
		b.WriteString(fold(h[0]+": "+h[1], len(h[0])) + "\r\n")
	}
	b.WriteString("\r\n")
	// In text mode the writer ends every line with CRLF.
	qp := quotedprintable.NewWriter(&b)
	body := strings.ReplaceAll(strings.ReplaceAll(m.Body, "\r\n", "\n"), "\r", "\n")
	if !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	if _, err := qp.Write([]byte(body)); err != nil {
		return nil, err
	}
	if err := qp.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// fold folds a header line at spaces after index colon, so that its
// lines stay within 78 characters where the text allows (RFC 5322 §2.2.3).
// Unfolding gives the line back; spaces between encoded words are not text
// (RFC 2047 §6.2).
func fold(line string, colon int) string {
	const max = 78
	var b strings.Builder
	for len(line) > max {
		i := strings.LastIndexByte(line[:max+1], ' ')
		if i <= colon {
			j := strings.IndexByte(line[max+1:], ' ')
			if j < 0 {
				break
			}
			i = max + 1 + j
		}
		if strings.TrimLeft(line[i:], " ") == "" {
			break // a line of blanks alone folds nothing (RFC 5322 §3.2.2)
		}
		b.WriteString(line[:i] + "\r\n")
		line, colon = line[i:], 0 // the space begins the continuation line
	}
	b.WriteString(line)
	return b.String()
}
