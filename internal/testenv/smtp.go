package testenv

import (
	"bufio"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/twofold/twofold/internal/config"

	"golang.org/x/net/idna"
)

// SMTPServer is a real SMTP server (RFC 5321) on 127.0.0.1:0 for tests. It
// speaks EHLO/HELO, AUTH PLAIN (RFC 4954) and STARTTLS (RFC 3207) when so
// configured, MAIL, RCPT, DATA (undoing dot-stuffing), RSET, NOOP and QUIT;
// anything else gets 500, a command out of order 503, a bare LF or an
// over-long line 500 or 554 and the end of the session.
// It records every message it accepts, and can be told to refuse the next
// deliveries with 451, as a mail server in trouble does. Without SMTPUTF8
// (RFC 6531) it refuses any byte beyond ASCII in an address (553 5.6.7) or
// in a message's headers (554 5.6.7), as it has not agreed to take them.
type SMTPServer struct {
	// Addr is the host:port it listens on.
	Addr string

	username, password string
	utf8               bool // offers SMTPUTF8
	hangUpAtQuit       bool // answers QUIT by closing the connection
	tls                *tls.Config
	roots              *x509.CertPool

	ln    net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
	done  bool // closed: new connections are hung up at once
	msgs  []SMTPMessage
	fail  int           // deliveries still to refuse
	tries int           // DATA commands completed, refused ones included
	more  chan struct{} // closed and replaced when a message arrives
}

// SMTPMessage is a message the SMTP server accepted.
type SMTPMessage struct {
	Helo string   // the name the client gave in EHLO or HELO
	From string   // the MAIL FROM address
	To   []string // the RCPT TO addresses
	// Data is the message as the client meant it: dot-stuffing undone, CRLF
	// line endings, without the final "." line.
	Data []byte
	User string // the user it authenticated as, or ""
	TLS  bool   // whether it arrived under STARTTLS
	UTF8 bool   // whether MAIL carried the SMTPUTF8 parameter (RFC 6531)
}

// SMTPOption configures an SMTPServer.
type SMTPOption func(tb testing.TB, s *SMTPServer)

// SMTPAuth makes the server offer AUTH PLAIN and require it for MAIL.
func SMTPAuth(username, password string) SMTPOption {
	return func(_ testing.TB, s *SMTPServer) { s.username, s.password = username, password }
}

// SMTPUTF8 makes the server offer SMTPUTF8 (RFC 6531): a MAIL with the
// SMTPUTF8 parameter may then carry UTF-8 in its addresses and headers.
func SMTPUTF8() SMTPOption {
	return func(_ testing.TB, s *SMTPServer) { s.utf8 = true }
}

// SMTPStartTLS makes the server offer STARTTLS with a new self-signed
// certificate for 127.0.0.1 and localhost; RootCAs returns it.
func SMTPStartTLS() SMTPOption {
	return func(tb testing.TB, s *SMTPServer) {
		cert, roots := selfSigned(tb)
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		s.roots = roots
	}
}

// SMTPHangUpAtQuit makes the server close the connection at QUIT without
// answering 221, as some relays and the load balancers before them do: a
// message it accepted before stays accepted.
func SMTPHangUpAtQuit() SMTPOption {
	return func(_ testing.TB, s *SMTPServer) { s.hangUpAtQuit = true }
}

// NewSMTPServer starts an SMTP server and stops it when the test ends.
func NewSMTPServer(tb testing.TB, opts ...SMTPOption) *SMTPServer {
	tb.Helper()
	s := &SMTPServer{conns: map[net.Conn]bool{}, more: make(chan struct{})}
	for _, o := range opts {
		o(tb, s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtp listen: %v", err)
	}
	s.ln, s.Addr = ln, ln.Addr().String()
	s.wg.Add(1)
	go s.accept()
	tb.Cleanup(s.close)
	return s
}

// RootCAs returns the pool holding the server's certificate, for clients'
// tls.Config (nil without SMTPStartTLS).
func (s *SMTPServer) RootCAs() *x509.CertPool { return s.roots }

// Option returns a ServerOption that sends a test server's notifications
// here, from from.
func (s *SMTPServer) Option(from string) ServerOption {
	return func(c *config.Config) {
		c.SMTPAddr, c.SMTPFrom = s.Addr, from
		c.SMTPUsername, c.SMTPPassword = s.username, config.Secret(s.password)
	}
}

// FailNext makes the server answer the next n completed DATA commands with
// 451 (a temporary failure) and keep nothing.
func (s *SMTPServer) FailNext(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = n
}

// Messages returns the messages accepted so far.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

// Deliveries returns how many messages clients finished sending, accepted
// or refused.
func (s *SMTPServer) Deliveries() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tries
}

// CodeAfter returns the code of the first code mail ("… your code" in
// its subject, a 6-digit code in its body) the server received after its
// first seen messages, waiting up to a minute for it.
func (s *SMTPServer) CodeAfter(tb testing.TB, seen int) string {
	tb.Helper()
	for n := seen + 1; ; n++ {
		for _, m := range s.Wait(tb, n, time.Minute)[seen:] {
			msg, err := mail.ReadMessage(bytes.NewReader(m.Data))
			if err != nil {
				tb.Fatalf("smtp: a message that does not parse: %v", err)
			}
			subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || !strings.Contains(subject, "your code") {
				continue
			}
			body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
			if err != nil {
				tb.Fatalf("smtp: a code mail's body: %v", err)
			}
			if c := sixDigits.FindString(string(body)); c != "" {
				return c
			}
		}
	}
}

// Wait waits up to timeout for the server to hold at least n messages, and
// returns them; it fails the test when they do not come.
func (s *SMTPServer) Wait(tb testing.TB, n int, timeout time.Duration) []SMTPMessage {
	tb.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		msgs, more := append([]SMTPMessage(nil), s.msgs...), s.more
		s.mu.Unlock()
		if len(msgs) >= n {
			return msgs
		}
		select {
		case <-more:
		case <-deadline.C:
			tb.Fatalf("smtp: got %d messages in %s, want %d", len(msgs), timeout, n)
		}
	}
}

func (s *SMTPServer) close() {
	s.ln.Close()
	s.mu.Lock()
	s.done = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *SMTPServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		if s.done {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer func() {
				c.Close()
				s.mu.Lock()
				delete(s.conns, c)
				s.mu.Unlock()
			}()
			(&smtpSession{srv: s}).serve(c)
		}()
	}
}

// smtpSession is one client connection.
type smtpSession struct {
	srv  *SMTPServer
	conn net.Conn
	r    *bufio.Reader
	w    *bufio.Writer

	helo string
	tls  bool
	user string
	from string // "" before MAIL; "<>" for the null sender
	utf8 bool   // MAIL carried SMTPUTF8
	to   []string
}

// maxLine is RFC 5321 §4.5.3.1.6's limit on a text line, CRLF included.
const maxLine = 1000

func (ss *smtpSession) serve(c net.Conn) {
	ss.setConn(c)
	ss.reply("220 twofold-test ESMTP ready")
	for {
		line, err := ss.readLine()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				ss.reply("500 5.5.2 " + err.Error())
			}
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ss.ehlo(arg)
		case "HELO":
			if arg == "" {
				ss.reply("501 5.5.4 HELO needs a domain")
				continue
			}
			ss.helo = arg
			ss.reset()
			ss.reply("250 twofold-test")
		case "STARTTLS":
			if !ss.starttls() {
				return
			}
		case "AUTH":
			ss.auth(arg)
		case "MAIL":
			ss.mail(arg)
		case "RCPT":
			ss.rcpt(arg)
		case "DATA":
			if !ss.data() {
				return
			}
		case "RSET":
			ss.reset()
			ss.reply("250 2.0.0 OK")
		case "NOOP":
			ss.reply("250 2.0.0 OK")
		case "QUIT":
			if !ss.srv.hangUpAtQuit {
				ss.reply("221 2.0.0 bye")
			}
			return
		default:
			ss.reply("500 5.5.2 command not recognised")
		}
	}
}

func (ss *smtpSession) setConn(c net.Conn) {
	ss.conn, ss.r, ss.w = c, bufio.NewReader(c), bufio.NewWriter(c)
}

func (ss *smtpSession) reply(lines ...string) {
	for _, l := range lines {
		ss.w.WriteString(l + "\r\n")
	}
	ss.w.Flush()
}

var errLineTooLong = errors.New("line too long")

// readRaw reads one line with its CRLF; a line without CR before its LF is an
// error, as is one longer than RFC 5321 allows.
func (ss *smtpSession) readRaw() ([]byte, error) {
	l, err := ss.r.ReadSlice('\n')
	switch {
	case errors.Is(err, bufio.ErrBufferFull):
		return nil, errLineTooLong
	case err != nil:
		return nil, err
	case !bytes.HasSuffix(l, []byte("\r\n")):
		return nil, errors.New("bare LF: lines must end in CRLF")
	case len(l) > maxLine:
		return nil, errLineTooLong
	}
	return l, nil
}

// readLine reads one command line and returns it without the CRLF.
func (ss *smtpSession) readLine() (string, error) {
	l, err := ss.readRaw()
	if err != nil {
		return "", err
	}
	return string(l[:len(l)-2]), nil
}

func (ss *smtpSession) reset() { ss.from, ss.to, ss.utf8 = "", nil, false }

func (ss *smtpSession) ehlo(arg string) {
	if arg == "" {
		ss.reply("501 5.5.4 EHLO needs a domain")
		return
	}
	ss.helo = arg
	ss.reset()
	lines := []string{"twofold-test greets " + arg}
	if ss.srv.tls != nil && !ss.tls {
		lines = append(lines, "STARTTLS")
	}
	if ss.srv.username != "" {
		lines = append(lines, "AUTH PLAIN")
	}
	if ss.srv.utf8 {
		lines = append(lines, "SMTPUTF8")
	}
	lines = append(lines, "HELP")
	for i, l := range lines {
		sep := "-"
		if i == len(lines)-1 {
			sep = " "
		}
		lines[i] = "250" + sep + l
	}
	ss.reply(lines...)
}

// starttls upgrades the connection; false means the session is over.
func (ss *smtpSession) starttls() bool {
	switch {
	case ss.srv.tls == nil:
		ss.reply("502 5.5.1 STARTTLS not offered")
		return true
	case ss.tls:
		ss.reply("503 5.5.1 TLS already active")
		return true
	case ss.r.Buffered() > 0:
		ss.reply("501 5.5.2 data after STARTTLS") // command injection (CVE-2011-0411)
		return false
	}
	ss.reply("220 2.0.0 ready to start TLS")
	tc := tls.Server(ss.conn, ss.srv.tls)
	ss.conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := tc.Handshake(); err != nil {
		return false
	}
	ss.conn.SetDeadline(time.Time{})
	ss.srv.mu.Lock()
	delete(ss.srv.conns, ss.conn)
	ss.srv.conns[tc] = true
	ss.srv.mu.Unlock()
	ss.setConn(tc)
	// RFC 3207 §4.2: the client starts again with EHLO.
	ss.tls, ss.helo, ss.user = true, "", ""
	ss.reset()
	return true
}

func (ss *smtpSession) auth(arg string) {
	mech, initial, _ := strings.Cut(arg, " ")
	switch {
	case ss.srv.username == "":
		ss.reply("502 5.5.1 AUTH not offered")
		return
	case ss.helo == "":
		ss.reply("503 5.5.1 EHLO first")
		return
	case ss.user != "":
		ss.reply("503 5.5.1 already authenticated")
		return
	case ss.from != "":
		ss.reply("503 5.5.1 AUTH not allowed during a mail transaction")
		return
	case !strings.EqualFold(mech, "PLAIN"):
		ss.reply("504 5.5.4 mechanism not supported")
		return
	}
	if initial == "" {
		ss.reply("334 ")
		l, err := ss.readLine()
		if err != nil {
			return
		}
		initial = l
	}
	if initial == "*" {
		ss.reply("501 5.7.0 authentication cancelled")
		return
	}
	raw, err := base64.StdEncoding.DecodeString(initial)
	parts := strings.Split(string(raw), "\x00")
	if err != nil || len(parts) != 3 {
		ss.reply("501 5.5.2 cannot decode AUTH PLAIN response")
		return
	}
	if parts[1] != ss.srv.username || parts[2] != ss.srv.password || (parts[0] != "" && parts[0] != parts[1]) {
		ss.reply("535 5.7.8 authentication credentials invalid")
		return
	}
	ss.user = parts[1]
	ss.reply("235 2.7.0 authentication successful")
}

// path parses "<address>" after prefix (case-insensitive) in arg, and the
// parameters after it, separated by spaces.
func path(arg, prefix string) (string, []string, bool) {
	if len(arg) < len(prefix) || !strings.EqualFold(arg[:len(prefix)], prefix) {
		return "", nil, false
	}
	p, params, _ := strings.Cut(strings.TrimSpace(arg[len(prefix):]), " ")
	if !strings.HasPrefix(p, "<") || !strings.HasSuffix(p, ">") || strings.ContainsAny(p, "\t") {
		return "", nil, false
	}
	return p[1 : len(p)-1], strings.Fields(params), true
}

// ascii reports whether s is all ASCII.
func ascii(s []byte) bool {
	for _, c := range s {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

func (ss *smtpSession) mail(arg string) {
	switch {
	case ss.helo == "":
		ss.reply("503 5.5.1 EHLO first")
		return
	case ss.srv.username != "" && ss.user == "":
		ss.reply("530 5.7.0 authentication required")
		return
	case ss.from != "":
		ss.reply("503 5.5.1 nested MAIL")
		return
	}
	addr, params, ok := path(arg, "FROM:")
	if !ok {
		ss.reply("501 5.5.4 want MAIL FROM:<address>")
		return
	}
	utf8 := false
	for _, p := range params {
		if !ss.srv.utf8 || !strings.EqualFold(p, "SMTPUTF8") {
			ss.reply("555 5.5.4 parameter not recognised: " + p)
			return
		}
		utf8 = true
	}
	if !utf8 && !ascii([]byte(addr)) {
		ss.reply("553 5.6.7 non-ASCII address without SMTPUTF8")
		return
	}
	ss.utf8 = utf8
	if addr == "" {
		addr = "<>"
	}
	ss.from = addr
	ss.reply("250 2.1.0 OK")
}

func (ss *smtpSession) rcpt(arg string) {
	if ss.from == "" {
		ss.reply("503 5.5.1 MAIL first")
		return
	}
	addr, params, ok := path(arg, "TO:")
	if !ok || !strings.Contains(addr, "@") || len(params) > 0 {
		ss.reply("501 5.5.4 want RCPT TO:<address>")
		return
	}
	if !ss.utf8 && !ascii([]byte(addr)) {
		ss.reply("553 5.6.7 non-ASCII address without SMTPUTF8")
		return
	}
	ss.to = append(ss.to, addr)
	ss.reply("250 2.1.5 OK")
}

// data reads the message; false means the session is over.
func (ss *smtpSession) data() bool {
	if len(ss.to) == 0 {
		ss.reply("503 5.5.1 RCPT first")
		return true
	}
	ss.reply("354 end data with <CR><LF>.<CR><LF>")
	var body bytes.Buffer
	for {
		l, err := ss.readRaw()
		if err != nil {
			// A bad line ends the session: where the message ends is unknown.
			ss.reply("554 5.6.0 " + err.Error())
			return false
		}
		if string(l) == ".\r\n" {
			break
		}
		if l[0] == '.' {
			l = l[1:] // RFC 5321 §4.5.2
		}
		body.Write(l)
	}
	from, to, utf8 := ss.from, ss.to, ss.utf8
	ss.reset()
	s := ss.srv
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tries++
	head, _, _ := bytes.Cut(body.Bytes(), []byte("\r\n\r\n"))
	switch {
	case !utf8 && !ascii(head):
		ss.reply("554 5.6.7 non-ASCII header without SMTPUTF8")
	case s.fail > 0:
		s.fail--
		ss.reply("451 4.3.0 temporary failure, try again later")
	default:
		s.msgs = append(s.msgs, SMTPMessage{Helo: ss.helo, From: from, To: to, Data: body.Bytes(), User: ss.user, TLS: ss.tls, UTF8: utf8})
		close(s.more)
		s.more = make(chan struct{})
		ss.reply(fmt.Sprintf("250 2.0.0 OK queued as %d", len(s.msgs)))
	}
	return true
}

// selfSigned returns a certificate for 127.0.0.1 and localhost, valid for a
// day, and a pool that trusts it.
func selfSigned(tb testing.TB) (tls.Certificate, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "twofold-test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, roots
}

// Envelope is the address a server's mail to address goes to: a domain
// beyond ASCII as its A-labels (punycode, RFC 5891), so that it needs no
// SMTPUTF8; any other as it is written. A domain that has no A-labels is
// left as it is.
func Envelope(address string) string {
	at := strings.LastIndexByte(address, '@')
	if at < 0 || !strings.ContainsFunc(address[at:], func(r rune) bool { return r > unicode.MaxASCII }) {
		return address
	}
	domain, err := idna.Lookup.ToASCII(address[at+1:])
	if err != nil {
		return address
	}
	return address[:at+1] + domain
}
