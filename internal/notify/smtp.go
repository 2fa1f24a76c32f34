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
	if err := s.converse(ctx, host, from.Address, to.Address, msg); err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("smtp: %w: %w", ctx.Err(), err)
		}
		return fmt.Errorf("smtp: %w", err)
	}
	return nil
}

func (s *SMTP) converse(ctx context.Context, host, from, to string, msg []byte) error {
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
	return c.Quit()
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

// compose returns m as an RFC 5322 message with CRLF line endings: a
// Q-encoded subject (RFC 2047), a quoted-printable UTF-8 body (so that no line
// is too long and any text survives 7-bit servers) and Auto-Submitted (RFC
// 3834), so that vacation responders stay quiet.
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
		b.WriteString(line[:i] + "\r\n")
		line, colon = line[i:], 0 // the space begins the continuation line
	}
	b.WriteString(line)
	return b.String()
}
